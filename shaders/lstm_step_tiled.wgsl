// lstm_step_tiled: lstm_step (same bindings, same end) for large batches on GPUs. A workgroup
// owns a tile of TILE_UNITS hidden units x TILE_BATCH batch rows (shared/tiles.wgsl): per chunk
// of inputs it copies the chunk's weights (every gate of its units) and h (its rows) into
// workgroup memory, then each invocation accumulates its unit's four gates for ROWS rows from
// there. Every weight read from memory serves TILE_BATCH rows and every h read TILE_UNITS units;
// lstm_step reads both once per invocation and leans on the cache.
// Versions (module constant ROWS): 1 (16x16 invocations, one row each; the default: more
// invocations hide more latency) or 4 (16x4, each weight read from workgroup memory feeding four
// rows). BENCHMARKS.md "Kernel versions on the H200" has their times.
// uses: lstm_step shared/tiles

const QUAD_VEC4S: u32 = 4u;

fn tile_weight(v: u32) -> vec4<f32> {
    let pair = wh[v / 2u];
    return select(f32x8_hi(pair), f32x8_lo(pair), v % 2u == 0u);
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
