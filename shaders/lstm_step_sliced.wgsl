// lstm_step_sliced: lstm_step (same bindings, same end) for small batches on GPUs, a unit block
// per workgroup with k sliced over its invocations (shared/slices.wgsl). lstm_step_split gives a
// workgroup one unit, whose quads are UNIT_BLOCK quads apart: each invocation's 32 bytes of a
// quad sit in a different cache line, shared with other workgroups' units; here a workgroup reads
// whole lines, and reads them once for all its ROWS rows.
// Versions (module constant ROWS): 1 (more workgroups; the default up to SLICED_WORKGROUPS of
// them, plan/policy.rs) or 4 rows per workgroup. BENCHMARKS.md "Kernel versions on the H200".
// uses: lstm_step shared/slices

fn slice_quad(qi: u32) -> array<vec4<f32>, 4> {
    return quad_weights(qi * 2u);
}

@compute @workgroup_size(UNIT_BLOCK, SLICES, 1)
fn lstm_step_sliced(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    sliced_finish(wid, lid, sliced_products(wid, lid));
}
