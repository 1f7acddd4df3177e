// gru_step_tiled: gru_step (same bindings, same end; linear_before_reset = 1) for large batches
// on GPUs. A workgroup owns a tile of TILE_UNITS hidden units x TILE_BATCH batch rows
// (shared/tiles.wgsl): per chunk of inputs it copies the chunk's weights (the three gates of its
// units) and h (its rows) into workgroup memory, then each invocation accumulates its unit's
// three gates for ROWS rows from there, as lstm_step_tiled does for LSTM.
// Versions (module constant ROWS): 1 (16x16 invocations, one row each; the default) or 4
// (16x4, four rows each). BENCHMARKS.md "Kernel versions on the H200" has their times.
// uses: gru_step shared/tiles

const QUAD_VEC4S: u32 = 3u;

fn tile_weight(v: u32) -> vec4<f32> {
    return f32x4(wh[v]);
}

fn tile_quad(q: u32, u: u32) -> array<vec3<f32>, 4> {
    return quad_triples(tile_w(q, 0u, u), tile_w(q, 1u, u), tile_w(q, 2u, u));
}

@compute @workgroup_size(TILE_UNITS, TILE_Y, 1)
fn gru_step_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    tile_finish(wid, lid, tile_products(wid, lid, li));
}
