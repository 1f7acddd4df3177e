// Sliced step kernels (lstm_step_sliced, gru_step_sliced): a workgroup owns one unit block
// (shared/blocked.wgsl: UNIT_BLOCK units whose weights for an input quad lie side by side) and
// ROWS batch rows, and slices the recurrent product over k: invocation (u, s) takes quads s,
// s + SLICES, ... of unit u. Neighbouring invocations then read neighbouring memory, and the
// workgroup streams its block's weights front to back, once for all its rows; the SLICES partial
// sums meet in workgroup memory. No subgroups needed.
// The per-step twin's file defines `alias Gates` (a unit's gate products: vec4 for LSTM's
// i, o, f, c; vec3 for GRU's z, r, h) and finish_gates; the kernel file defines:
//   slice_quad(qi)    the Gates weights of the four inputs of quad qi (in quads, blocked layout)
//   partial: [SLICES, UNIT_BLOCK, ROWS] of Gates
// SLICES comes from Rust (kernels::SLICES, in the prelude): the workgroup is UNIT_BLOCK x SLICES.
// uses: shared/rows shared/state_vec4

var<workgroup> partial: array<Gates, SLICES * UNIT_BLOCK * ROWS>;

// The recurrent products of unit lid.x of block wid.x for the workgroup's ROWS rows, complete
// in the invocations with lid.y = 0 (the others return their slice's part). Every invocation of
// the workgroup calls it (it has a barrier).
fn sliced_products(wid: vec3<u32>, lid: vec3<u32>) -> array<Gates, ROWS> {
    let d = min(wid.z, lp.dirs - 1u);
    let u = lid.x;
    let s = lid.y;
    let quads = (lp.hidden_in + 3u) / 4u;
    let blocks = (lp.hidden + UNIT_BLOCK - 1u) / UNIT_BLOCK;
    let base = ((d * blocks + wid.x) * quads) * UNIT_BLOCK + u; // unit u's quad 0
    var hrow = tile_state_rows(d, wid.y * ROWS); // each row's h offset, computed once
    var acc: array<Gates, ROWS>;
    for (var q = s; q < quads; q += SLICES) {
        let w = slice_quad(base + q * UNIT_BLOCK);
        for (var r = 0u; r < ROWS; r++) {
            let hv = h_quad_at(hrow[r], 4u * q);
            acc[r] += hv.x * w[0] + hv.y * w[1] + hv.z * w[2] + hv.w * w[3];
        }
    }
    for (var r = 0u; r < ROWS; r++) {
        partial[(s * UNIT_BLOCK + u) * ROWS + r] = acc[r];
    }
    workgroupBarrier();
    if (s == 0u) {
        for (var r = 0u; r < ROWS; r++) {
            for (var t = 1u; t < SLICES; t++) {
                acc[r] += partial[(t * UNIT_BLOCK + u) * ROWS + r];
            }
        }
    }
    return acc;
}

// Finishes unit lid.x of the block for the workgroup's rows from `products` (in the invocation
// that holds their sums), where the unit and rows are in the layer.
fn sliced_finish(wid: vec3<u32>, lid: vec3<u32>, products: array<Gates, ROWS>) {
    let j = wid.x * UNIT_BLOCK + lid.x;
    let b0 = wid.y * ROWS;
    if (lid.y == 0u && j < lp.hidden && b0 < lp.batch && wid.z < lp.dirs) {
        finish_gates(wid.z, j, b0, products);
    }
}
