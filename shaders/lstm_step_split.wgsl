// lstm_step_split: lstm_step (same bindings, same end) for small batches on adapters with
// subgroups. A workgroup of SPLIT invocations owns one hidden unit j and ROWS batch rows (1 or
// 4): its invocations split the recurrent dot products over k, one input quad at a time (its
// four inputs' weights are an F32x8 pair), reduce them with subgroupAdd, combine the subgroups'
// sums through workgroup memory (shared/split.wgsl), and invocation 0 applies the gates. A GPU
// then runs H * SPLIT invocations per step instead of H, which is what small batches need.
// On GPUs lstm_step_sliced reads the blocked weights in whole cache lines and replaced it as the
// default; it stays selectable (bench --variant split1, split4).
// uses: lstm_step shared/split

@compute @workgroup_size(SPLIT, 1, 1)
fn lstm_step_split(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let j = wid.x;
    let b0 = wid.y * ROWS;
    let d = wid.z;
    let H = lp.hidden;
    if (j >= H || b0 >= lp.batch || d >= lp.dirs) {
        return; // the whole workgroup leaves together
    }
    let HI = lp.hidden_in;
    var hrow = tile_state_rows(d, b0); // each row's h offset, computed once
    var acc: array<vec4<f32>, ROWS>;
    let quads = (HI + 3u) / 4u;
    let w0 = input_quad(d, HI, H, j) * 2u;
    for (var q0 = 0u; q0 < quads; q0 += SPLIT) {
        let q = q0 + li;
        if (q < quads) {
            let ws = quad_weights(w0 + q * 2u * UNIT_BLOCK);
            for (var i = 0u; i < 4u; i++) {
                let k = 4u * q + i;
                if (k < HI) {
                    for (var r = 0u; r < ROWS; r++) {
                        acc[r] += h_load(hrow[r] + k) * ws[i];
                    }
                }
            }
        }
    }
    let total = split_reduce(acc, li, lane);
    if (li != 0u) {
        return;
    }
    lstm_finish(d, j, b0, total);
}
