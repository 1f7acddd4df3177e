// Workgroup tiles of the tiled step kernels (lstm_step_tiled, gru_step_tiled): a workgroup owns
// TILE_UNITS hidden units x TILE_BATCH batch rows and walks the recurrent product over k in
// chunks of CHUNK_QUADS input quads, copying each chunk's weights and h into workgroup memory.
// The per-step twin's file defines `alias Gates` (a unit's gate products: vec4 for LSTM's
// i, o, f, c; vec3 for GRU's z, r, h) and finish_gates; the kernel file defines:
//   QUAD_VEC4S         the vec4s of one unit's quad of weights (4 for LSTM, 3 for GRU)
//   tile_weight(v)     the v-th vec4 of the recurrent weights (shared/blocked.wgsl, input quads)
//   tile_quad(q, u)    the Gates weights of the four inputs of quad q of tile unit u, out of w_tile
//   w_tile: [CHUNK_QUADS, QUAD_VEC4S, TILE_UNITS] of vec4
//   h_tile: [TILE_BATCH, CHUNK_QUADS] of vec4 (four inputs of a row)
// TILE_UNITS and TILE_BATCH come from Rust (kernels::TILED_UNITS, TILED_BATCH: the plan sizes
// the dispatch by them), in the prelude.
// uses: shared/rows shared/state_vec4

const TILE_Y: u32 = TILE_BATCH / ROWS; // invocations along the batch, ROWS rows each
const TILE_THREADS: u32 = TILE_UNITS * TILE_Y;
const CHUNK_QUADS: u32 = 8u;
const W_TILE: u32 = CHUNK_QUADS * QUAD_VEC4S * TILE_UNITS;
const H_TILE: u32 = TILE_BATCH * CHUNK_QUADS;

var<workgroup> w_tile: array<vec4<f32>, W_TILE>;
var<workgroup> h_tile: array<vec4<f32>, H_TILE>;

// The recurrent products of this invocation's unit (lid.x) for its ROWS rows. Every invocation
// of the workgroup calls it (it has barriers); those past the layer get products they drop.
fn tile_products(wid: vec3<u32>, lid: vec3<u32>, li: u32) -> array<Gates, ROWS> {
    let u0 = wid.x * TILE_UNITS;
    let bt = wid.y * TILE_BATCH;
    let d = min(wid.z, lp.dirs - 1u);
    let quads = (lp.hidden_in + 3u) / 4u;
    var acc: array<Gates, ROWS>;
    for (var qc = 0u; qc < quads; qc += CHUNK_QUADS) {
        load_tiles(d, u0, bt, qc, li);
        workgroupBarrier();
        for (var q = 0u; q < CHUNK_QUADS; q++) {
            let w = tile_quad(q, lid.x);
            for (var r = 0u; r < ROWS; r++) {
                let hv = h_tile[(lid.y * ROWS + r) * CHUNK_QUADS + q];
                acc[r] += hv.x * w[0] + hv.y * w[1] + hv.z * w[2] + hv.w * w[3];
            }
        }
        workgroupBarrier();
    }
    return acc;
}

// Finishes this invocation's unit and rows from `products`, where they are in the layer.
fn tile_finish(wid: vec3<u32>, lid: vec3<u32>, products: array<Gates, ROWS>) {
    let j = wid.x * TILE_UNITS + lid.x;
    let b0 = wid.y * TILE_BATCH + lid.y * ROWS;
    if (j < lp.hidden && b0 < lp.batch && wid.z < lp.dirs) {
        finish_gates(wid.z, j, b0, products);
    }
}

// Copies chunk qc (its first quad) of the tile at units u0 and rows bt into workgroup memory:
// the weights of quads past HI and of units past the last block as zeros, h of rows past the
// batch clamped, of inputs past HI as zeros.
fn load_tiles(d: u32, u0: u32, bt: u32, qc: u32, li: u32) {
    let HI = lp.hidden_in;
    let quads = (HI + 3u) / 4u;
    let blocks = (lp.hidden + UNIT_BLOCK - 1u) / UNIT_BLOCK;
    // Weights: v = ((ub * CHUNK_QUADS + q) * UNIT_BLOCK + uib) * QUAD_VEC4S + i, so that
    // neighbouring invocations read neighbouring memory (a unit block's row of quads).
    for (var v = li; v < W_TILE; v += TILE_THREADS) {
        let i = v % QUAD_VEC4S;
        let uib = (v / QUAD_VEC4S) % UNIT_BLOCK;
        let q = (v / (QUAD_VEC4S * UNIT_BLOCK)) % CHUNK_QUADS;
        let ub = v / (QUAD_VEC4S * UNIT_BLOCK * CHUNK_QUADS);
        let block = u0 / UNIT_BLOCK + ub;
        var w = vec4<f32>(0.0);
        if (block < blocks && qc + q < quads) {
            w = tile_weight((((d * blocks + block) * quads + qc + q) * UNIT_BLOCK + uib) * QUAD_VEC4S + i);
        }
        w_tile[(q * QUAD_VEC4S + i) * TILE_UNITS + ub * UNIT_BLOCK + uib] = w;
    }
    for (var v = li; v < H_TILE; v += TILE_THREADS) {
        let row = state_row(d, tile_row(bt, v / CHUNK_QUADS));
        h_tile[v] = h_quad_at(row, (qc + v % CHUNK_QUADS) * 4u);
    }
}

// Vec4 i of quad q of tile unit u in the chunk in workgroup memory.
fn tile_w(q: u32, i: u32, u: u32) -> vec4<f32> {
    return w_tile[(q * QUAD_VEC4S + i) * TILE_UNITS + u];
}
