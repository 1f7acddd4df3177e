// lstm_step: one time step of an LSTM layer (ONNX gates i, o, f, c), both directions in one
// dispatch: recurrent product, gate inputs, peepholes, clip, activations, c and h updates.
//   xp:   [D, T, B, H] of vec4 (i, o, f, c)   x·Wᵀ + Wb + Rb
//   wh:   R pre-transposed, gate-interleaved, in input quads (four inputs' vec4s (i, o, f, c)
//         per unit: two Wide8), blocked (shared/blocked.wgsl, input_quad)
//   peep: [D, H, 3]    (i, o, f)
//   h_cur, h_next: [D, B, H_in] each, the halves of h the step reads (as Wide4s) and writes
//   (plan.rs Buf::H)    c: [D, B, H] (each invocation owns its elements)
//   out:  y [T, B, D, H] or, with a projection (FLAG_PROJ), m = o ⊙ h(c) [D, B, H]
// Versions (module constant ROWS):
//   ROWS = 1: one invocation per hidden unit and batch row computes all four gates with one
//             vec4 weight load per input.
//   ROWS = 4, 8, 16: each vec4 weight load feeds that many batch rows (16: CPU drivers, LSTM
//   H1024 B16 T100 steps 550 -> 420 ms on lavapipe); where lanes are shared, two units per
//   invocation (LSTM_PAIRED).
//   (All: row offsets computed once per invocation, k unrolled by 4; weights blocked so that
//   eight neighbouring units read one contiguous run; h read as vec4s where H_in % 4 == 0,
//   pipeline constant STATE_ALIGNED; on devices that share lanes, shared/lanes.wgsl, h read
//   once per subgroup: LSTM H1024 B16 T100 steps 993 -> 550 ms on lavapipe; weights in input
//   quads read as two Wide8, shared/wide_loads.wgsl, on CPU drivers.)
//   Wavefront stacks (FLAG_WAVE, shared/rows.wgsl): the slots d are a stack's layers, and
//   layers above the first add their input product, slot d-1's h times W_dᵀ, with a second
//   pass of the same loops (add_gate_products).
//   (With a projection, lstm_project.wgsl finishes the step; layer_persistent.wgsl runs whole
//   layers of small H in one dispatch.)

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> sp: StepParams;
@group(0) @binding(2) var<storage, read> xp: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wh: array<Wide8>;
@group(0) @binding(4) var<storage, read> peep: array<f32>;
@group(0) @binding(5) var<storage, read> lens: array<u32>;
@group(0) @binding(6) var<storage, read_write> h_cur: array<Wide4>; // see shared/state_vec4.wgsl
@group(0) @binding(7) var<storage, read_write> h_next: array<f32>;
@group(0) @binding(8) var<storage, read_write> c: array<f32>;
@group(0) @binding(9) var<storage, read_write> out: array<f32>;

// Two units per invocation (PAIRED, shared/lanes.wgsl) for tiles of more than one row: LSTM
// H1024 T50 steps on lavapipe B16 169 -> 146-149 ms, B4 77-97 -> 72-73 ms; at B1 52 -> 78 ms,
// so one row keeps one unit (kernels.rs `Kernel::pairs_units`).
const LSTM_PAIRED: bool = PAIRED && ROWS > 1u;

@compute @workgroup_size(64, 1, 1)
fn lstm_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b0 = gid.y * ROWS;
    let d = gid.z;
    let H = lp.hidden;
    if (b0 >= lp.batch || d >= lp.dirs || (gid.x >= H && !SHARE_LANES)) {
        return;
    }
    // this invocation's unit, and with LSTM_PAIRED the one UNIT_BLOCK after it; units past H
    // run on as unit H-1 for lane sharing and write nothing
    let j0 = select(gid.x, paired_unit(gid.x), LSTM_PAIRED);
    let j1 = j0 + UNIT_BLOCK;
    var acc: array<vec4<f32>, ROWS>;
    var acc1: array<vec4<f32>, ROWS>; // j1's (LSTM_PAIRED only)
    add_gate_products(&acc, &acc1, tile_state_rows(d, b0), d, j0, j1);
    if (stacked_input(d)) { // a wavefront stack's layer d: its input is layer d-1's h
        add_gate_products(&acc, &acc1, tile_state_rows(d - 1u, b0), input_weights(d), j0, j1);
    }
    if (j0 < H) {
        lstm_finish(d, j0, b0, acc);
    }
    if (LSTM_PAIRED && j1 < H) {
        lstm_finish(d, j1, b0, acc1);
    }
}

// acc[r] (and with LSTM_PAIRED acc1[r]) += the h of the tile's rows (state rows `hrow`) times
// the gate weights of direction wd of units j0 (and j1). Call from uniform control flow.
fn add_gate_products(acc: ptr<function, array<vec4<f32>, ROWS>>, acc1: ptr<function, array<vec4<f32>, ROWS>>,
                     hrow: array<u32, ROWS>, wd: u32, j0: u32, j1: u32) {
    let H = lp.hidden;
    let HI = lp.hidden_in;
    let lane = share_lane();
    var wi = input_quad(wd, HI, H, min(j0, H - 1u)) * 2u; // in Wide8s, two per quad
    var wi1 = input_quad(wd, HI, H, min(j1, H - 1u)) * 2u;
    let ks = shared_inputs(HI);
    for (var k0 = 0u; k0 < ks; k0 += 4u * LANES) {
        let hc = h_chunk(hrow, k0, lane);
        for (var i = 0u; i < LANES; i++) {
            let hq = lane_quads(hc, i);
            add_quad(acc, wi, hq);
            wi += 2u * UNIT_BLOCK;
            if (LSTM_PAIRED) {
                add_quad(acc1, wi1, hq);
                wi1 += 2u * UNIT_BLOCK;
            }
        }
    }
    let k4 = HI & ~3u;
    for (var k = ks; k < k4; k += 4u) {
        let hq = h_quads(hrow, k);
        add_quad(acc, wi, hq);
        wi += 2u * UNIT_BLOCK;
        if (LSTM_PAIRED) {
            add_quad(acc1, wi1, hq);
            wi1 += 2u * UNIT_BLOCK;
        }
    }
    if (k4 < HI) { // the last, partial quad (its weights past HI are zero)
        add_partial_quad(acc, wi, hrow, k4);
        if (LSTM_PAIRED) {
            add_partial_quad(acc1, wi1, hrow, k4);
        }
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

// The gate weights (i, o, f, c) of a quad's four inputs, from its first Wide8 wi.
fn quad_weights(wi: u32) -> array<vec4<f32>, 4> {
    let p01 = wh[wi];
    let p23 = wh[wi + 1u];
    return array<vec4<f32>, 4>(wide8_lo(p01), wide8_hi(p01), wide8_lo(p23), wide8_hi(p23));
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

// Finishes hidden unit j of the tile's rows from their recurrent products `acc` (also the end
// of lstm_step_split).
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
