// rnn_step_split: rnn_step (same bindings, same end) for small batches on adapters with
// subgroups: a workgroup of 64 owns hidden unit j and ROWS batch rows, splits the recurrent dot
// product over k (split_reduce), and invocation 0 finishes.
// Versions (module constant ROWS): 1 or 4 batch rows per workgroup.

// Bindings, rnn_finish and the state access come from rnn_step.wgsl (kernels.rs puts that file
// first in this module).

@compute @workgroup_size(64, 1, 1)
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
            let w = wide4(wh[i / 4u])[i % 4u];
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
