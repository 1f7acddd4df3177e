// gru_step_sliced: gru_step (same bindings, same end; linear_before_reset = 1) for small batches
// on GPUs, a unit block per workgroup with k sliced over its invocations (shared/slices.wgsl),
// as lstm_step_sliced does for LSTM.
// Versions (module constant ROWS): 1 or 4 batch rows per workgroup. BENCHMARKS.md "Kernel
// versions on the H200" has their times.
// uses: gru_step shared/slices

fn slice_quad(qi: u32) -> array<vec3<f32>, 4> {
    let wi = qi * 3u;
    return quad_triples(f32x4(wh[wi]), f32x4(wh[wi + 1u]), f32x4(wh[wi + 2u]));
}

@compute @workgroup_size(UNIT_BLOCK, SLICES, 1)
fn gru_step_sliced(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    sliced_finish(wid, lid, sliced_products(wid, lid));
}
