// gru_step_tiled: gru_step (same bindings, same end; linear_before_reset = 1) for large batches
// on GPUs. A workgroup owns a tile of hidden units x batch rows (shared/tiles.wgsl): per chunk
// of inputs it copies the chunk's weights (the three gates of its units) and h (its rows) into
// workgroup memory, then each invocation accumulates its unit's three gates for ROWS rows from
// there, as lstm_step_tiled does for LSTM.
// Versions (module constant ROWS): 1 (16x16 invocations, one row each; the default) or 4
// (16x4, four rows each). NVIDIA H200, GRU H1024 B64, GPU ms of a forward call: gru_step with
// 8 rows per invocation (the default before) 16.6 at T100; at T50 gru_step with 1 row 4.4,
// tiled ROWS = 4 4.0, ROWS = 1 3.5.

// Bindings, gru_fused_finish and the state access come from gru_step.wgsl (kernels.rs puts that
// file first in this module).

const QUAD_VEC4S: u32 = 3u; // (z, r, h) of four inputs in three vec4s

fn tile_weight(v: u32) -> vec4<f32> {
    return wide4(wh[v]);
}

@compute @workgroup_size(TILE_UNITS, TILE_Y, 1)
fn gru_step_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    // Every invocation stays to the end: the workgroup barriers need them all.
    let u0 = wid.x * TILE_UNITS;
    let bt = wid.y * TILE_BATCH;
    let d = min(wid.z, lp.dirs - 1u);
    let quads = (lp.hidden_in + 3u) / 4u;
    var acc: array<vec3<f32>, ROWS>;
    for (var qc = 0u; qc < quads; qc += CHUNK_QUADS) {
        load_tiles(d, u0, bt, qc, li);
        workgroupBarrier();
        for (var q = 0u; q < CHUNK_QUADS; q++) {
            let qa = tile_w(q, 0u, lid.x);
            let qb = tile_w(q, 1u, lid.x);
            let qc4 = tile_w(q, 2u, lid.x);
            let w0 = qa.xyz;
            let w1 = vec3<f32>(qa.w, qb.xy);
            let w2 = vec3<f32>(qb.zw, qc4.x);
            let w3 = qc4.yzw;
            for (var r = 0u; r < ROWS; r++) {
                let hv = h_tile[(lid.y * ROWS + r) * CHUNK_QUADS + q];
                acc[r] += hv.x * w0 + hv.y * w1 + hv.z * w2 + hv.w * w3;
            }
        }
        workgroupBarrier();
    }
    let j = u0 + lid.x;
    let b0 = bt + lid.y * ROWS;
    if (j < lp.hidden && b0 < lp.batch && wid.z < lp.dirs) {
        gru_fused_finish(d, j, b0, acc);
    }
}
