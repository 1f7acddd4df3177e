// rnn_step_split: rnn_step (same bindings, same end) for small batches on adapters with
// subgroups: a workgroup of SPLIT invocations owns hidden unit j and ROWS batch rows (1 or 4),
// splits the recurrent dot product over k (shared/split.wgsl), and invocation 0 finishes.
// uses: rnn_step shared/split

@compute @workgroup_size(SPLIT, 1, 1)
fn rnn_step_split(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let j = wid.x;
    let b0 = wid.y * ROWS;
    let d = wid.z;
    let H = lp.hidden;
    let HI = lp.hidden_in;
    if (j >= H || b0 >= lp.batch || d >= lp.dirs) {
        return; // the whole workgroup leaves together
    }
    var hrow = tile_state_rows(d, b0); // each row's h offset, computed once
    var acc: array<vec4<f32>, ROWS>;
    for (var k0 = 0u; k0 < HI; k0 += SPLIT) {
        let k = k0 + li;
        if (k < HI) {
            let i = quad_weight(d, HI, H, j, k, 1u);
            let w = f32x4(wh[i / 4u])[i % 4u];
            for (var r = 0u; r < ROWS; r++) {
                acc[r].x += h_load(hrow[r] + k) * w;
            }
        }
    }
    let total = split_reduce(acc, li, lane);
    if (li != 0u) {
        return;
    }
    var sums: array<f32, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        sums[r] = total[r].x;
    }
    rnn_finish(d, j, b0, sums);
}
