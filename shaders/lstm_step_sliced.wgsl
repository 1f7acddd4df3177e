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

// Bindings, quad_weights, finish_gates and the state access come from lstm_step.wgsl (kernels.rs
// puts that file first in this module).

fn slice_quad(qi: u32) -> array<vec4<f32>, 4> {
    return quad_weights(qi * 2u);
}

@compute @workgroup_size(UNIT_BLOCK, SLICES, 1)
fn lstm_step_sliced(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    sliced_finish(wid, lid, sliced_products(wid, lid));
}
