// gru_step: one time step of a GRU layer (ONNX gates z, r, h), both directions in one dispatch.
//   xp:      [D, T, B, H, 3]  x·Wᵀ + Wb (+ Rb of z, r; + Rbh when linear_before_reset = 0)
//   wh:      vec4s            R pre-transposed, four inputs' (z, r, h) per unit in three vec4s,
//                             blocked (shared/blocked.wgsl, input_quad)
//   bh:      [D, H]           Rbh, used by linear_before_reset = 1 only
//   h_cur:   [D, B, H]        the half of h this step reads (plan.rs Buf::H), as Wide4s
//   h_next:  [D, B, H]        the half it writes
//   scratch: [D, B, H, 2]     (z, r ⊙ h) handed from gru_gates to gru_candidate; in a wavefront
//                             stack then [L, B, H]: x·W_hᵀ of the layers above the first
//                             (stack_input_at)
//   y:       [T, B, D, H]
// Versions:
//   gru_step:      linear_before_reset = 1, fully fused: n = g(xh + r ⊙ (h·Rhᵀ + Rbh)).
//   gru_gates:     linear_before_reset = 0, phase 1: z and r ⊙ h for every unit.
//   gru_candidate: linear_before_reset = 0, phase 2: n = g(xh + (r ⊙ h)·Rhᵀ), then h'. Its `wh` is
//                  Rh alone (plan.rs Buf::Wn: one vec4 per four inputs, as rnn_step's).
//   (Phase 2 needs r of every unit, so reset-before GRU costs two dispatches per step unless
//   layer_persistent.wgsl runs the layer.)
//   All three run wavefront stacks (FLAG_WAVE, shared/rows.wgsl): a layer above the first adds
//   the products of its input (slot d-1's h) times W_dᵀ, the candidate's kept apart from h·Rᵀ
//   (gru_finish_inputs; gru_gates hands it to gru_candidate in scratch, stack_input_at).
//   Each with module constant ROWS = 1 (one batch row per invocation), 4, 8 or 16 (each
//   weight load feeds that many rows), and STATE_ALIGNED (h read as vec4s where H % 4 == 0).
//   On devices that share lanes (shared/lanes.wgsl), h read once per subgroup: GRU H1024 B16
//   T100 steps 863 -> 436 ms on lavapipe (16 rows: 355 ms); there gru_step computes two units
//   per invocation (PAIRED), each shared chunk of h feeding both (291-297 -> 238-256 ms); so does
//   gru_gates. gru_candidate read every r ⊙ h per lane with one scalar load per input until
//   2026-11-27; now the lanes share them too, a quad per lane (H1024 B16 T50: 708 -> 170 ms),
//   and it pairs units as well.
//   Weights: first three scalar loads per input (gates padded to a vec4: one load, a third more
//   bytes), now input quads: three vec4 loads per four inputs (GRU H1024 B1 265 -> 208 ms on
//   lavapipe), as Wide4 (shared/wide_loads.wgsl: 64-bit pairs on CPU drivers; GRU H512 B16
//   T100 steps 101 -> 95 ms on lavapipe; padding the quad to two Wide8 would read more).

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> sp: StepParams;
@group(0) @binding(2) var<storage, read> xp: array<f32>;
@group(0) @binding(3) var<storage, read> wh: array<Wide4>;
@group(0) @binding(4) var<storage, read> bh: array<f32>;
@group(0) @binding(5) var<storage, read> lens: array<u32>;
@group(0) @binding(6) var<storage, read_write> h_cur: array<Wide4>; // see shared/state_vec4.wgsl
@group(0) @binding(7) var<storage, read_write> h_next: array<f32>;
@group(0) @binding(8) var<storage, read_write> y: array<f32>;
@group(0) @binding(9) var<storage, read_write> scratch: array<f32>;

// Whether the invocation runs: its batch tile and direction exist, and its unit does too except
// where lanes are shared (shared/lanes.wgsl): there invocations past the hidden size run on as
// unit H-1 and write nothing.
fn runs(gid: vec3<u32>) -> bool {
    return gid.y * ROWS < lp.batch && gid.z < lp.dirs && (gid.x < lp.hidden || SHARE_LANES);
}

fn xp_at(d: u32, t: u32, b: u32, j: u32) -> u32 {
    return (xp_row(d, t, b) * lp.hidden + j) * 3u;
}

// The update and reset gates (z, r) of the row whose gate inputs start at xb, from the
// recurrent products `a` (x: z, y: r).
fn update_reset(d: u32, xb: u32, a: vec3<f32>) -> vec2<f32> {
    let f = lp.acts[act_index(lp.flags, d, 0u)];
    return vec2<f32>(activate(f, clip_gate(lp, xp[xb] + a.x)), activate(f, clip_gate(lp, xp[xb + 1u] + a.y)));
}

// Writes h' = (1 - z) n + z h for row b and copies the state of finished rows.
fn finish(d: u32, b: u32, j: u32, t: u32, z: f32, n: f32) {
    let row = state_row(d, b);
    let hv = (1.0 - z) * n + z * h_load(row + j);
    h_store(row + j, hv);
    if (writes_y(d)) {
        y[y_row(d, t, b) + j] = hv;
    }
}

fn hold(d: u32, b: u32, j: u32) {
    let row = state_row(d, b);
    h_store(row + j, h_load(row + j));
}

// The products h·R of the three gates for unit j and the tile's rows (state rows `hrow`, weights
// of direction wd: the recurrent ones, or a wavefront stack's input weights), and with `pair`
// those of unit j1 too, into acc1 (the second unit of PAIRED, shared/lanes.wgsl): per four
// inputs, three vec4 loads of weights (shared/blocked.wgsl, input_quad) per unit and one of h
// per row (per subgroup where lanes are shared, shared/lanes.wgsl). Call from uniform control
// flow.
fn recurrent_triples(hrow: array<u32, ROWS>, wd: u32, j: u32, pair: bool, j1: u32,
                     acc1: ptr<function, array<vec3<f32>, ROWS>>) -> array<vec3<f32>, ROWS> {
    let H = lp.hidden;
    let lane = share_lane();
    var acc: array<vec3<f32>, ROWS>;
    var wi = input_quad(wd, H, H, j) * 3u;
    var wi1 = input_quad(wd, H, H, j1) * 3u;
    let ks = shared_inputs(H);
    for (var k0 = 0u; k0 < ks; k0 += 4u * LANES) {
        let hc = h_chunk(hrow, k0, lane);
        for (var i = 0u; i < LANES; i++) {
            let hq = lane_quads(hc, i);
            add_triples(&acc, wi, hq);
            wi += 3u * UNIT_BLOCK;
            if (pair) {
                add_triples(acc1, wi1, hq);
                wi1 += 3u * UNIT_BLOCK;
            }
        }
    }
    let k4 = H & ~3u;
    for (var k = ks; k < k4; k += 4u) {
        let hq = h_quads(hrow, k);
        add_triples(&acc, wi, hq);
        wi += 3u * UNIT_BLOCK;
        if (pair) {
            add_triples(acc1, wi1, hq);
            wi1 += 3u * UNIT_BLOCK;
        }
    }
    if (k4 < H) { // the last, partial quad
        add_partial_triples(&acc, wi, hrow, k4);
        if (pair) {
            add_partial_triples(acc1, wi1, hrow, k4);
        }
    }
    return acc;
}

// acc[r] += inputs k4 .. H of row r times their (z, r, h) weights (the partial quad at wi).
fn add_partial_triples(acc: ptr<function, array<vec3<f32>, ROWS>>, wi: u32, hrow: array<u32, ROWS>,
                       k4: u32) {
    let qa = wide4(wh[wi]);
    let qb = wide4(wh[wi + 1u]);
    let qc = wide4(wh[wi + 2u]);
    for (var k = k4; k < lp.hidden; k++) {
        let w = quad_triple(qa, qb, qc, k - k4);
        for (var r = 0u; r < ROWS; r++) {
            (*acc)[r] += h_load(hrow[r] + k) * w;
        }
    }
}

// acc[r] += inputs k .. k+4 of row r (hq[r]) times their (z, r, h) weights (the quad at wi).
fn add_triples(acc: ptr<function, array<vec3<f32>, ROWS>>, wi: u32, hq: array<vec4<f32>, ROWS>) {
    let w = quad_triples(wide4(wh[wi]), wide4(wh[wi + 1u]), wide4(wh[wi + 2u]));
    for (var r = 0u; r < ROWS; r++) {
        let hv = hq[r];
        (*acc)[r] += hv.x * w[0] + hv.y * w[1] + hv.z * w[2] + hv.w * w[3];
    }
}

@compute @workgroup_size(64, 1, 1)
fn gru_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!runs(gid)) {
        return;
    }
    let d = gid.z;
    var acc1: array<vec3<f32>, ROWS>;
    let acc = pair_triples(gid, &acc1);
    var x1: array<vec3<f32>, ROWS>;
    let x0 = pair_input_triples(gid, &x1);
    let j0 = paired_unit(gid.x);
    if (j0 < lp.hidden) {
        gru_finish_inputs(d, j0, gid.y * ROWS, acc, x0);
    }
    if (PAIRED && j0 + UNIT_BLOCK < lp.hidden) {
        gru_finish_inputs(d, j0 + UNIT_BLOCK, gid.y * ROWS, acc1, x1);
    }
}

// The recurrent products of the invocation's unit paired_unit(gid.x) and, with PAIRED
// (shared/lanes.wgsl), of the unit UNIT_BLOCK after it, into acc1 (gru_step, gru_gates). Units
// past H run on as unit H-1 for lane sharing; the caller writes nothing for them.
fn pair_triples(gid: vec3<u32>, acc1: ptr<function, array<vec3<f32>, ROWS>>) -> array<vec3<f32>, ROWS> {
    return unit_triples(gid, tile_state_rows(gid.z, gid.y * ROWS), gid.z, acc1);
}

// In a wavefront stack's layer d >= 1, the products of its input (layer d-1's h) for the units
// of pair_triples, the second into x1; zeros elsewhere (gru_step, gru_gates). Call from uniform
// control flow.
fn pair_input_triples(gid: vec3<u32>, x1: ptr<function, array<vec3<f32>, ROWS>>) -> array<vec3<f32>, ROWS> {
    let d = gid.z;
    var x0: array<vec3<f32>, ROWS>;
    if (stacked_input(d)) {
        x0 = unit_triples(gid, tile_state_rows(d - 1u, gid.y * ROWS), input_weights(d), x1);
    }
    return x0;
}

// pair_triples of the tile's rows `hrow` with the weights of direction wd.
fn unit_triples(gid: vec3<u32>, hrow: array<u32, ROWS>, wd: u32,
                acc1: ptr<function, array<vec3<f32>, ROWS>>) -> array<vec3<f32>, ROWS> {
    let j0 = paired_unit(gid.x);
    let last = lp.hidden - 1u;
    return recurrent_triples(hrow, wd, min(j0, last), PAIRED, min(j0 + UNIT_BLOCK, last), acc1);
}

// A unit's gate products as the workgroup-memory kernels name them (shared/tiles.wgsl,
// shared/slices.wgsl), and their end (linear_before_reset = 1).
alias Gates = vec3<f32>; // z, r, h

fn finish_gates(d: u32, j: u32, b0: u32, products: array<Gates, ROWS>) {
    var acc: array<vec3<f32>, ROWS>; // naga types an array of the alias apart: copy per row
    for (var r = 0u; r < ROWS; r++) {
        acc[r] = products[r];
    }
    gru_fused_finish(d, j, b0, acc);
}

// Finishes hidden unit j of the tile's rows (linear_before_reset = 1) from their recurrent
// products `acc` (also the end of gru_step_split).
fn gru_fused_finish(d: u32, j: u32, b0: u32, acc: array<vec3<f32>, ROWS>) {
    var no_inputs: array<vec3<f32>, ROWS>;
    gru_finish_inputs(d, j, b0, acc, no_inputs);
}

// gru_fused_finish with a wavefront stack's input products `x` (x·W of the z, r, h gates; zeros
// outside a stack): z and r add them to the recurrent products, the candidate outside r ⊙ (...).
fn gru_finish_inputs(d: u32, j: u32, b0: u32, acc: array<vec3<f32>, ROWS>, x: array<vec3<f32>, ROWS>) {
    let rbh = bh[d * lp.hidden + j]; // one load for all rows (a loop of loads on CPU drivers)
    for (var r = 0u; r < ROWS; r++) {
        let b = b0 + r;
        if (b >= lp.batch) {
            break;
        }
        let rs = row_step(d, b);
        if (!rs.running) {
            hold(d, b, j);
            continue;
        }
        let a = acc[r];
        let xb = xp_at(d, rs.t, b, j);
        let zr = update_reset(d, xb, a + vec3<f32>(x[r].xy, 0.0));
        let n = activate(lp.acts[act_index(lp.flags, d, 1u)], clip_gate(lp, xp[xb + 2u] + x[r].z + zr.y * (a.z + rbh)));
        finish(d, b, j, rs.t, zr.x, n);
    }
}

@compute @workgroup_size(64, 1, 1)
fn gru_gates(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!runs(gid)) {
        return;
    }
    let d = gid.z;
    var acc1: array<vec3<f32>, ROWS>;
    let acc = pair_triples(gid, &acc1); // (the h gate's products are not used here)
    var x1: array<vec3<f32>, ROWS>;
    let x0 = pair_input_triples(gid, &x1);
    let j0 = paired_unit(gid.x);
    if (j0 < lp.hidden) {
        gates_finish(d, j0, gid.y * ROWS, acc, x0);
    }
    if (PAIRED && j0 + UNIT_BLOCK < lp.hidden) {
        gates_finish(d, j0 + UNIT_BLOCK, gid.y * ROWS, acc1, x1);
    }
}

// Where a wavefront stack's gru_gates leaves x·W_hᵀ of row b, unit j for gru_candidate: after
// the (z, r ⊙ h) pairs of every slot.
fn stack_input_at(d: u32, b: u32, j: u32) -> u32 {
    return (lp.dirs * lp.batch * lp.hidden) * 2u + (d * lp.batch + b) * lp.hidden + j;
}

// Hands z and r ⊙ h of unit j and the tile's rows to gru_candidate (scratch), and in a stack
// the h gate's input product x.z (x: the stack's input products, zeros elsewhere).
fn gates_finish(d: u32, j: u32, b0: u32, acc: array<vec3<f32>, ROWS>, x: array<vec3<f32>, ROWS>) {
    let H = lp.hidden;
    for (var r = 0u; r < ROWS; r++) {
        let b = b0 + r;
        if (b >= lp.batch) {
            break;
        }
        let rs = row_step(d, b);
        if (!rs.running) {
            continue;
        }
        let zr = update_reset(d, xp_at(d, rs.t, b, j), acc[r] + vec3<f32>(x[r].xy, 0.0));
        let sb = ((d * lp.batch + b) * H + j) * 2u;
        scratch[sb] = zr.x;
        scratch[sb + 1u] = zr.y * h_load(rs.row + j);
        if (stacked_input(d)) {
            scratch[stack_input_at(d, b, j)] = x[r].z;
        }
    }
}

@compute @workgroup_size(64, 1, 1)
fn gru_candidate(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!runs(gid)) {
        return;
    }
    let H = lp.hidden;
    let j0 = paired_unit(gid.x); // as in gru_step
    let j1 = j0 + UNIT_BLOCK;
    let b0 = gid.y * ROWS;
    let d = gid.z;
    let lane = share_lane();
    var acc: array<f32, ROWS>;
    var acc1: array<f32, ROWS>; // j1's (PAIRED only)
    var srow: array<u32, ROWS>; // each row's first r ⊙ h in scratch, computed once
    for (var r = 0u; r < ROWS; r++) {
        srow[r] = (d * lp.batch + tile_row(b0, r)) * H * 2u + 1u;
    }
    // wh: the h gate's weights alone here (plan.rs Buf::Wn), one vec4 per unit and four inputs
    var wi = input_quad(d, H, H, min(j0, H - 1u));
    var wi1 = input_quad(d, H, H, min(j1, H - 1u));
    let ks = shared_inputs(H);
    for (var k0 = 0u; k0 < ks; k0 += 4u * LANES) {
        let rc = reset_quads(srow, k0 + 4u * lane); // lane l: inputs k0 + 4l .. k0 + 4l + 4
        for (var i = 0u; i < LANES; i++) {
            let rq = lane_quads(rc, i);
            add_candidate(&acc, wi, rq);
            wi += UNIT_BLOCK;
            if (PAIRED) {
                add_candidate(&acc1, wi1, rq);
                wi1 += UNIT_BLOCK;
            }
        }
    }
    let k4 = H & ~3u;
    for (var k = ks; k < k4; k += 4u) {
        let rq = reset_quads(srow, k);
        add_candidate(&acc, wi, rq);
        wi += UNIT_BLOCK;
        if (PAIRED) {
            add_candidate(&acc1, wi1, rq);
            wi1 += UNIT_BLOCK;
        }
    }
    if (k4 < H) { // the last, partial quad
        add_partial_candidate(&acc, wi, srow, k4);
        if (PAIRED) {
            add_partial_candidate(&acc1, wi1, srow, k4);
        }
    }
    if (j0 < H) {
        candidate_finish(d, j0, b0, acc);
    }
    if (PAIRED && j1 < H) {
        candidate_finish(d, j1, b0, acc1);
    }
}

// n = g(xh + (r ⊙ h)·Rhᵀ) of unit j and the tile's rows from their products acc, then h'.
fn candidate_finish(d: u32, j: u32, b0: u32, acc: array<f32, ROWS>) {
    let H = lp.hidden;
    for (var r = 0u; r < ROWS; r++) {
        let b = b0 + r;
        if (b >= lp.batch) {
            break;
        }
        let rs = row_step(d, b);
        if (!rs.running) {
            hold(d, b, j);
            continue;
        }
        var a = xp[xp_at(d, rs.t, b, j) + 2u] + acc[r];
        if (stacked_input(d)) {
            a += scratch[stack_input_at(d, b, j)];
        }
        let n = activate(lp.acts[act_index(lp.flags, d, 1u)], clip_gate(lp, a));
        finish(d, b, j, rs.t, scratch[((d * lp.batch + b) * H + j) * 2u], n);
    }
}

// acc[r] += inputs k4 .. H of row r's r ⊙ h times their h-gate weights (the partial quad at wi).
fn add_partial_candidate(acc: ptr<function, array<f32, ROWS>>, wi: u32, srow: array<u32, ROWS>, k4: u32) {
    let n = wide4(wh[wi]);
    for (var k = k4; k < lp.hidden; k++) {
        for (var r = 0u; r < ROWS; r++) {
            (*acc)[r] += scratch[srow[r] + 2u * k] * n[k - k4];
        }
    }
}

// r ⊙ h of inputs k .. k+4 (all inside H) of the tile's rows, from scratch (srow: each row's
// first r ⊙ h; they sit two floats apart).
fn reset_quads(srow: array<u32, ROWS>, k: u32) -> array<vec4<f32>, ROWS> {
    var q: array<vec4<f32>, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        let i = srow[r] + 2u * k;
        q[r] = vec4<f32>(scratch[i], scratch[i + 2u], scratch[i + 4u], scratch[i + 6u]);
    }
    return q;
}

// acc[r] += inputs k .. k+4 of row r's r ⊙ h (rq[r]) times their h-gate weights (the quad at wi).
fn add_candidate(acc: ptr<function, array<f32, ROWS>>, wi: u32, rq: array<vec4<f32>, ROWS>) {
    let n = wide4(wh[wi]);
    for (var r = 0u; r < ROWS; r++) {
        (*acc)[r] += dot(rq[r], n);
    }
}
