// gru_step_split: gru_step (linear_before_reset = 1, same bindings, same end) for small
// batches on adapters with subgroups: a workgroup of SPLIT invocations owns hidden unit j and
// ROWS batch rows (1 or 4), splits the three recurrent dot products over k (shared/split.wgsl),
// and invocation 0 finishes. On GPUs gru_step_sliced replaced it as the default.
// uses: gru_step shared/split

// Float i of the recurrent weights (gru_step binds them as F32x4s).
fn wh_at(i: u32) -> f32 {
    return f32x4(wh[i / 4u])[i % 4u];
}

@compute @workgroup_size(SPLIT, 1, 1)
fn gru_step_split(
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
    var hrow = tile_state_rows(d, b0); // each row's h offset, computed once
    var acc: array<vec4<f32>, ROWS>;
    for (var k0 = 0u; k0 < H; k0 += SPLIT) {
        let k = k0 + li;
        if (k < H) {
            let i = quad_weight(d, H, H, j, k, 3u);
            let w = vec4<f32>(wh_at(i), wh_at(i + 1u), wh_at(i + 2u), 0.0);
            for (var r = 0u; r < ROWS; r++) {
                acc[r] += h_load(hrow[r] + k) * w;
            }
        }
    }
    let total = split_reduce(acc, li, lane);
    if (li != 0u) {
        return;
    }
    var sums: array<vec3<f32>, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        sums[r] = total[r].xyz;
    }
    gru_fused_finish(d, j, b0, sums);
}
