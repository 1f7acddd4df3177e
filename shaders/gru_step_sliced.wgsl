// gru_step_sliced: gru_step (same bindings, same end; linear_before_reset = 1) for small batches
// on GPUs, a unit block per workgroup with k sliced over its invocations (shared/slices.wgsl),
// as lstm_step_sliced does for LSTM.
// Versions (module constant ROWS): 1 or 4 batch rows per workgroup. NVIDIA H200, GRU H2816 B1
// T1500 (DeepBench), GPU ms: gru_step_split 108.6, sliced 52.1 (cuDNN FP32: 58.7).

// Bindings, gru_fused_finish and the state access come from gru_step.wgsl (kernels.rs puts that
// file first in this module).

@compute @workgroup_size(UNIT_BLOCK, SLICES, 1)
fn gru_step_sliced(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // Every invocation stays to the end: the workgroup barrier needs them all.
    let d = min(wid.z, lp.dirs - 1u);
    let b0 = wid.y * ROWS;
    let u = lid.x;
    let s = lid.y;
    let quads = (lp.hidden_in + 3u) / 4u;
    let base = sliced_base(d, wid.x, u);
    var hrow = tile_state_rows(d, b0); // each row's h offset, computed once
    var acc: array<vec3<f32>, ROWS>;
    for (var q = s; q < quads; q += SLICES) {
        let wi = (base + q * UNIT_BLOCK) * 3u;
        let qa = wide4(wh[wi]);
        let qb = wide4(wh[wi + 1u]);
        let qc = wide4(wh[wi + 2u]);
        let w0 = qa.xyz;
        let w1 = vec3<f32>(qa.w, qb.xy);
        let w2 = vec3<f32>(qb.zw, qc.x);
        let w3 = qc.yzw;
        for (var r = 0u; r < ROWS; r++) {
            let hv = h_quad_at(hrow[r], 4u * q);
            acc[r] += hv.x * w0 + hv.y * w1 + hv.z * w2 + hv.w * w3;
        }
    }
    for (var r = 0u; r < ROWS; r++) {
        put_partial(u, s, r, vec4<f32>(acc[r], 0.0));
    }
    workgroupBarrier();
    let j = wid.x * UNIT_BLOCK + u;
    if (s == 0u && j < lp.hidden && b0 < lp.batch && wid.z < lp.dirs) {
        var total: array<vec3<f32>, ROWS>;
        for (var r = 0u; r < ROWS; r++) {
            total[r] = sliced_total(u, r).xyz;
        }
        gru_fused_finish(d, j, b0, total);
    }
}
