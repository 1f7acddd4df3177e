// Workgroup tiles of the tiled step kernels (lstm_step_tiled, gru_step_tiled): a workgroup owns
// TILE_UNITS hidden units x TILE_BATCH batch rows and walks the recurrent product over k in
// chunks of CHUNK_QUADS input quads, copying each chunk's weights and h into workgroup memory.
// The kernel file defines QUAD_VEC4S (the vec4s of one unit's quad of weights: 4 for LSTM's
// (i, o, f, c) x 4 inputs, 3 for GRU's (z, r, h) x 4) and tile_weight (the v-th vec4 of the
// recurrent weights, shared/blocked.wgsl's input quads).
//   w_tile: [CHUNK_QUADS, QUAD_VEC4S, TILE_UNITS] of vec4
//   h_tile: [TILE_BATCH, CHUNK_QUADS] of vec4 (four inputs of a row)

const TILE_UNITS: u32 = 16u; // keep in sync with kernels::TILED_UNITS
const TILE_BATCH: u32 = 16u; // keep in sync with kernels::TILED_BATCH
const TILE_Y: u32 = TILE_BATCH / ROWS; // invocations along the batch, ROWS rows each
const TILE_THREADS: u32 = TILE_UNITS * TILE_Y;
const CHUNK_QUADS: u32 = 8u;
const W_TILE: u32 = CHUNK_QUADS * QUAD_VEC4S * TILE_UNITS;
const H_TILE: u32 = TILE_BATCH * CHUNK_QUADS;

var<workgroup> w_tile: array<vec4<f32>, W_TILE>;
var<workgroup> h_tile: array<vec4<f32>, H_TILE>;

// Copies chunk qc (its first quad) of the tile at units u0 and rows bt into workgroup memory:
// the weights of quads past HI and of units past the last block as zeros, h of rows past the
// batch clamped, of inputs past HI as zeros. Every invocation of the workgroup calls it.
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
    let half = sp.step & 1u;
    for (var v = li; v < H_TILE; v += TILE_THREADS) {
        let row = state_row(half, d, tile_row(bt, v / CHUNK_QUADS));
        let k = (qc + v % CHUNK_QUADS) * 4u;
        var hv = vec4<f32>(0.0);
        if (k + 4u <= HI) {
            hv = h_vec4(row + k);
        } else {
            for (var e = 0u; e < 4u; e++) {
                if (k + e < HI) {
                    hv[e] = h_load(row + k + e);
                }
            }
        }
        h_tile[v] = hv;
    }
}

// Vec4 i of quad q of this invocation's unit (lid.x) in the chunk in workgroup memory.
fn tile_w(q: u32, i: u32, unit: u32) -> vec4<f32> {
    return w_tile[(q * QUAD_VEC4S + i) * TILE_UNITS + unit];
}
