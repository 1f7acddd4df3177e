// lstm_step: one time step of an LSTM layer (ONNX gates i, o, f, c), both directions in one
// dispatch: recurrent product, gate inputs, peepholes, clip, activations, c and h updates.
//   xp:    [D, T, B, H] of vec4 (i, o, f, c)  x·Wᵀ + Wb + Rb (input_projection)
//   wh:    R transposed, gate-interleaved, in input quads: per unit, the (i, o, f, c) vec4s of
//          four inputs as one F32x8 pair, blocked by UNIT_BLOCK units (shared/blocked.wgsl)
//   peep:  [D, H, 3]  (i, o, f)
//   h_cur, h_next: [D, B, H_in] each, the halves of h the step reads and writes (plan Buf::H)
//   c:     [D, B, H]  (each invocation owns its elements)
//   out:   y [T, B, D, H] or, with a projection (FLAG_PROJ), m = o ⊙ h(c) [D, B, H]
// Invocation (j, tile, d): hidden unit j of batch rows tile*ROWS .. tile*ROWS + ROWS, direction d.
// Versions (kernels.rs KERNELS has when each runs):
//   lstm_step         this file: one invocation per unit and ROWS rows (1, 4, 8, 16), each vec4
//                     weight load feeding ROWS rows; every adapter that does not share lanes.
//   lstm_step_lanes   CPU drivers: h shared across subgroup lanes, two units per invocation.
//   lstm_step_split   GPUs, small batches: a workgroup per unit splits k (subgroups).
//   lstm_step_sliced  GPUs, small batches: a workgroup per unit block, k sliced over it.
//   lstm_step_tiled   GPUs, large batches: units x rows tiles through workgroup memory.
//   (lstm_project finishes a step that has a projection; layer_persistent runs layers of small H
//   many steps per dispatch.)
// Wavefront stacks (FLAG_WAVE, shared/rows.wgsl): the slots d are a stack's layers; a layer above
// the first adds its input product, slot d-1's h times W_dᵀ, with a second pass of the same loop.
// uses: shared/blocked shared/rows shared/state_vec4 shared/lstm_cell

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> sp: StepParams;
@group(0) @binding(2) var<storage, read> xp: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wh: array<F32x8>;
@group(0) @binding(4) var<storage, read> peep: array<f32>;
@group(0) @binding(5) var<storage, read> lens: array<u32>;
@group(0) @binding(6) var<storage, read_write> h_cur: array<F32x4>; // see shared/state_vec4.wgsl
@group(0) @binding(7) var<storage, read_write> h_next: array<f32>;
@group(0) @binding(8) var<storage, read_write> c: array<f32>;
@group(0) @binding(9) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn lstm_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let b0 = gid.y * ROWS;
    let d = gid.z;
    if (j >= lp.hidden || b0 >= lp.batch || d >= lp.dirs) {
        return;
    }
    var acc: array<vec4<f32>, ROWS>; // the four gates' recurrent products of each row
    add_gate_products(&acc, tile_state_rows(d, b0), d, j);
    if (stacked_input(d)) { // a wavefront stack's layer d: its input is layer d-1's h
        add_gate_products(&acc, tile_state_rows(d - 1u, b0), input_weights(d), j);
    }
    lstm_finish(d, j, b0, acc);
}

// acc[r] += the h of the tile's rows (state rows `hrow`) times the gate weights of direction wd
// of unit j: one vec4 of h and one F32x8 pair of weights per four inputs.
fn add_gate_products(acc: ptr<function, array<vec4<f32>, ROWS>>, hrow: array<u32, ROWS>, wd: u32, j: u32) {
    let HI = lp.hidden_in;
    var wi = input_quad(wd, HI, lp.hidden, j) * 2u; // in F32x8s, two per quad
    let k4 = HI & ~3u;
    for (var k = 0u; k < k4; k += 4u) {
        add_quad(acc, wi, h_quads(hrow, k));
        wi += 2u * UNIT_BLOCK;
    }
    if (k4 < HI) { // the last, partial quad (its weights past HI are zero)
        add_partial_quad(acc, wi, hrow, k4);
    }
}

// acc[r] += inputs k4 .. H_in of row r times their gate weights (the partial quad at wi).
fn add_partial_quad(acc: ptr<function, array<vec4<f32>, ROWS>>, wi: u32, hrow: array<u32, ROWS>, k4: u32) {
    let ws = quad_weights(wi);
    for (var k = k4; k < lp.hidden_in; k++) {
        for (var r = 0u; r < ROWS; r++) {
            (*acc)[r] += h_load(hrow[r] + k) * ws[k - k4];
        }
    }
}

// The gate weights (i, o, f, c) of a quad's four inputs, from its first F32x8 wi.
fn quad_weights(wi: u32) -> array<vec4<f32>, 4> {
    let p01 = wh[wi];
    let p23 = wh[wi + 1u];
    return array<vec4<f32>, 4>(f32x8_lo(p01), f32x8_hi(p01), f32x8_lo(p23), f32x8_hi(p23));
}

// acc[r] += inputs k .. k+4 of row r (hq[r]) times their gate weights (the quad at wi).
fn add_quad(acc: ptr<function, array<vec4<f32>, ROWS>>, wi: u32, hq: array<vec4<f32>, ROWS>) {
    let ws = quad_weights(wi);
    let w0 = ws[0];
    let w1 = ws[1];
    let w2 = ws[2];
    let w3 = ws[3];
    for (var r = 0u; r < ROWS; r++) {
        let hv = hq[r];
        (*acc)[r] += hv.x * w0 + hv.y * w1 + hv.z * w2 + hv.w * w3;
    }
}

// A unit's gate products as the workgroup-memory kernels name them (shared/tiles.wgsl,
// shared/slices.wgsl), and their end.
alias Gates = vec4<f32>; // i, o, f, c

fn finish_gates(d: u32, j: u32, b0: u32, products: array<Gates, ROWS>) {
    var acc: array<vec4<f32>, ROWS>; // naga types an array of the alias apart: copy per row
    for (var r = 0u; r < ROWS; r++) {
        acc[r] = products[r];
    }
    lstm_finish(d, j, b0, acc);
}

// Finishes hidden unit j of the tile's rows from their recurrent products `acc`: the end of
// every LSTM step kernel.
fn lstm_finish(d: u32, j: u32, b0: u32, acc: array<vec4<f32>, ROWS>) {
    let H = lp.hidden;
    let B = lp.batch;
    let proj = (lp.flags & FLAG_PROJ) != 0u;
    var pv = vec3<f32>(0.0);
    if ((lp.flags & FLAG_PEEPHOLE) != 0u) {
        let pb = (d * H + j) * 3u;
        pv = vec3<f32>(peep[pb], peep[pb + 1u], peep[pb + 2u]);
    }
    for (var r = 0u; r < ROWS; r++) {
        let b = b0 + r;
        if (b >= B) {
            break;
        }
        let rs = row_step(d, b);
        if (!rs.running) {
            if (!proj) {
                h_store(rs.row + j, h_load(rs.row + j));
            }
            continue;
        }
        let t = rs.t;
        let a = acc[r] + xp[xp_row(d, t, b) * H + j];
        let ci = (d * B + b) * H + j;
        let cell = lstm_cell(d, a, pv, c[ci]);
        let hv = cell.h;
        c[ci] = cell.c;
        if (proj) {
            out[ci] = hv;
        } else {
            h_store(rs.row + j, hv);
            if (writes_y(d)) {
                out[y_row(d, t, b) + j] = hv;
            }
        }
    }
}
