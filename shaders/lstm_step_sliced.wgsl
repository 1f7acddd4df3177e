// lstm_step_sliced: lstm_step (same bindings, same end) for small batches on GPUs, a unit block
// per workgroup with k sliced over its invocations (shared/slices.wgsl). lstm_step_split gives a
// workgroup one unit, whose quads are UNIT_BLOCK quads apart: each invocation's 32 bytes of a
// quad sit in a different cache line, shared with other workgroups' units; here a workgroup reads
// whole lines, and reads them once for all its ROWS rows.
// Versions, NVIDIA H200 (BENCHMARKS.md), GPU ms of the whole forward call:
//   lstm_step_split, 4 rows per workgroup (before), LSTM H1024 B4 T25:  1.65
//   lstm_step_split, 1 row per workgroup:                              1.17
//   sliced, ROWS = 4 (one workgroup per block for B <= 4):              0.73
//   sliced, ROWS = 1 (more workgroups; the default up to 1024 of them): versions table, T50:
//     0.91 against 1.25 for ROWS = 4 at H1024 B4, 2.47 against 1.57 at H1024 B16

// Bindings, quad_weights, lstm_finish and the state access come from lstm_step.wgsl (kernels.rs
// puts that file first in this module).

@compute @workgroup_size(UNIT_BLOCK, SLICES, 1)
fn lstm_step_sliced(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // Every invocation stays to the end: the workgroup barrier needs them all.
    let d = min(wid.z, lp.dirs - 1u);
    let b0 = wid.y * ROWS;
    let u = lid.x;
    let s = lid.y;
    let quads = (lp.hidden_in + 3u) / 4u;
    let base = sliced_base(d, wid.x, u);
    var hrow = tile_state_rows(d, b0); // each row's h offset, computed once
    var acc: array<vec4<f32>, ROWS>;
    for (var q = s; q < quads; q += SLICES) {
        let ws = quad_weights((base + q * UNIT_BLOCK) * 2u);
        for (var r = 0u; r < ROWS; r++) {
            let hv = h_quad_at(hrow[r], 4u * q);
            acc[r] += hv.x * ws[0] + hv.y * ws[1] + hv.z * ws[2] + hv.w * ws[3];
        }
    }
    for (var r = 0u; r < ROWS; r++) {
        put_partial(u, s, r, acc[r]);
    }
    workgroupBarrier();
    let j = wid.x * UNIT_BLOCK + u;
    if (s == 0u && j < lp.hidden && b0 < lp.batch && wid.z < lp.dirs) {
        var total: array<vec4<f32>, ROWS>;
        for (var r = 0u; r < ROWS; r++) {
            total[r] = sliced_total(u, r);
        }
        lstm_finish(d, j, b0, total);
    }
}
