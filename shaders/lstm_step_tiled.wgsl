// lstm_step_tiled: lstm_step (same bindings, same end) for large batches on GPUs. A workgroup
// owns a tile of hidden units x batch rows (shared/tiles.wgsl): per chunk of inputs it copies
// the chunk's weights (every gate of its units) and h (its rows) into workgroup memory, then
// each invocation accumulates its unit's four gates for ROWS rows from there. Every weight read
// from memory serves TILE_BATCH rows and every h read TILE_UNITS units; lstm_step reads both
// once per invocation and leans on the cache.
// Versions (module constant ROWS), NVIDIA H200, LSTM H1024 B64, GPU ms of a forward call:
//   lstm_step, 8 rows per invocation (the default before), T100:     42.4
//   lstm_step, 1 row per invocation, T50:                             9.1
//   ROWS = 4: 16x4 invocations, four rows each (each weight vec4
//             read from workgroup memory feeds four rows), T50:       6.6
//   ROWS = 1: 16x16 invocations, one row each (more invocations to
//             hide latency; the default), T50:                        4.4
//   (At B16 and below, and at H128 and below, lstm_step_sliced is faster.)

// Bindings, finish_gates and the state access come from lstm_step.wgsl (kernels.rs puts that file
// first in this module).

const QUAD_VEC4S: u32 = 4u;

fn tile_weight(v: u32) -> vec4<f32> {
    let pair = wh[v / 2u];
    return select(wide8_hi(pair), wide8_lo(pair), v % 2u == 0u);
}

fn tile_quad(q: u32, u: u32) -> array<vec4<f32>, 4> {
    return array<vec4<f32>, 4>(tile_w(q, 0u, u), tile_w(q, 1u, u), tile_w(q, 2u, u), tile_w(q, 3u, u));
}

@compute @workgroup_size(TILE_UNITS, TILE_Y, 1)
fn lstm_step_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    tile_finish(wid, lid, tile_products(wid, lid, li));
}
