// Sliced step kernels (lstm_step_sliced, gru_step_sliced): a workgroup owns one unit block
// (shared/blocked.wgsl: UNIT_BLOCK units whose weights for an input quad lie side by side) and
// ROWS batch rows, and slices the recurrent product over k: invocation (u, s) takes quads s,
// s + SLICES, ... of unit u. Neighbouring invocations then read neighbouring memory, and the
// workgroup streams its block's weights front to back, once for all its rows; the SLICES partial
// sums meet in workgroup memory. No subgroups needed.
//   partial: [SLICES, UNIT_BLOCK, ROWS] of vec4 (a unit's gates, padded to a vec4)

const SLICES: u32 = 16u;

var<workgroup> partial: array<vec4<f32>, SLICES * UNIT_BLOCK * ROWS>;

// Where unit u of block `block` has its quad 0 (in quads; quad q adds q * UNIT_BLOCK).
fn sliced_base(d: u32, block: u32, u: u32) -> u32 {
    let quads = (lp.hidden_in + 3u) / 4u;
    let blocks = (lp.hidden + UNIT_BLOCK - 1u) / UNIT_BLOCK;
    return ((d * blocks + block) * quads) * UNIT_BLOCK + u;
}

// h[k .. k+4] of a row starting at `row`, zeros past HI.
fn h_quad_at(row: u32, k: u32) -> vec4<f32> {
    if (k + 4u <= lp.hidden_in) {
        return h_vec4(row + k);
    }
    var hv = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if (k + e < lp.hidden_in) {
            hv[e] = h_load(row + k + e);
        }
    }
    return hv;
}

// Hands this invocation's partial sums to the workgroup; after the barrier that follows,
// `sliced_total` adds unit u's.
fn put_partial(u: u32, s: u32, r: u32, v: vec4<f32>) {
    partial[(s * UNIT_BLOCK + u) * ROWS + r] = v;
}

fn sliced_total(u: u32, r: u32) -> vec4<f32> {
    var t = vec4<f32>(0.0);
    for (var s = 0u; s < SLICES; s++) {
        t += partial[(s * UNIT_BLOCK + u) * ROWS + r];
    }
    return t;
}
