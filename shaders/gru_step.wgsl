// gru_step: one time step of a GRU layer (ONNX gates z, r, h), both directions in one dispatch.
//   xp:      [D, T, B, H, 3]  x·Wᵀ + Wb (+ Rb of z, r; + Rbh when linear_before_reset = 0)
//   wh:      R transposed, four inputs' (z, r, h) per unit in three F32x4, blocked by
//            UNIT_BLOCK units (shared/blocked.wgsl, input_quad)
//   bh:      [D, H]  Rbh, read by linear_before_reset = 1 only
//   h_cur, h_next: [D, B, H] each, the halves of h the step reads and writes (plan Buf::H)
//   y:       [T, B, D, H]
//   scratch: [D, B, H, 2]  (z, r ⊙ h) handed from gru_gates to gru_candidate; in a wavefront
//            stack then [L, B, H]: x·W_hᵀ of the layers above the first (stack_input_at)
// Invocation (j, tile, d): hidden unit j of batch rows tile*ROWS .. tile*ROWS + ROWS, direction d.
// Kernels in this file:
//   gru_step       linear_before_reset = 1 (PyTorch's GRU), fully fused: n = g(xh + r ⊙ (h·Rhᵀ + Rbh)).
//   gru_gates      linear_before_reset = 0, phase 1: z and r ⊙ h of every unit.
//   gru_candidate  linear_before_reset = 0, phase 2: n = g(xh + (r ⊙ h)·Rhᵀ), then h'. Its `wh` is
//                  Rh alone (plan Buf::Wn: one F32x4 per four inputs, as rnn_step's).
//   (Phase 2 needs r of every unit, and WGSL has no barrier across workgroups: two dispatches
//   per step unless layer_persistent runs the layer.)
// Versions of each (kernels.rs KERNELS has when each runs): this file's, with ROWS = 1, 4, 8
// or 16 rows per invocation, each weight load feeding ROWS rows; gru_step_lanes.wgsl for CPU
// drivers (h shared across subgroup lanes, two units per invocation); gru_step_split,
// gru_step_sliced and gru_step_tiled for GPUs (their files).
// Wavefront stacks (FLAG_WAVE, shared/rows.wgsl): a layer above the first adds the products of
// its input (slot d-1's h) times W_dᵀ, the candidate's kept apart from h·Rᵀ because r multiplies
// only the recurrent part (gru_finish_inputs; gru_gates hands it to gru_candidate in scratch).
// uses: shared/activations shared/blocked shared/rows shared/state_vec4

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> sp: StepParams;
@group(0) @binding(2) var<storage, read> xp: array<f32>;
@group(0) @binding(3) var<storage, read> wh: array<F32x4>;
@group(0) @binding(4) var<storage, read> bh: array<f32>;
@group(0) @binding(5) var<storage, read> lens: array<u32>;
@group(0) @binding(6) var<storage, read_write> h_cur: array<F32x4>; // see shared/state_vec4.wgsl
@group(0) @binding(7) var<storage, read_write> h_next: array<f32>;
@group(0) @binding(8) var<storage, read_write> y: array<f32>;
@group(0) @binding(9) var<storage, read_write> scratch: array<f32>;

// Whether the invocation's unit, batch tile and direction exist.
fn runs(gid: vec3<u32>) -> bool {
    return gid.x < lp.hidden && gid.y * ROWS < lp.batch && gid.z < lp.dirs;
}

fn xp_at(d: u32, t: u32, b: u32, j: u32) -> u32 {
    return (xp_row(d, t, b) * lp.hidden + j) * 3u;
}

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn gru_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!runs(gid)) {
        return;
    }
    let j = gid.x;
    let b0 = gid.y * ROWS;
    let d = gid.z;
    let acc = recurrent_triples(tile_state_rows(d, b0), d, j);
    gru_finish_inputs(d, j, b0, acc, input_triples(d, b0, j));
}

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn gru_gates(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!runs(gid)) {
        return;
    }
    let j = gid.x;
    let b0 = gid.y * ROWS;
    let d = gid.z;
    let acc = recurrent_triples(tile_state_rows(d, b0), d, j); // (the h gate's products unused here)
    gates_finish(d, j, b0, acc, input_triples(d, b0, j));
}

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn gru_candidate(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!runs(gid)) {
        return;
    }
    let j = gid.x;
    let b0 = gid.y * ROWS;
    let d = gid.z;
    let H = lp.hidden;
    var acc: array<f32, ROWS>;
    let srow = reset_rows(d, b0);
    var wi = input_quad(d, H, H, j); // wh: the h gate's weights alone here (plan Buf::Wn)
    let k4 = H & ~3u;
    for (var k = 0u; k < k4; k += 4u) {
        add_candidate(&acc, wi, reset_quads(srow, k));
        wi += UNIT_BLOCK;
    }
    if (k4 < H) { // the last, partial quad
        add_partial_candidate(&acc, wi, srow, k4);
    }
    candidate_finish(d, j, b0, acc);
}

// The products h·R of the three gates for unit j and the tile's rows (state rows `hrow`, weights
// of direction wd: the recurrent ones, or a wavefront stack's input weights): per four inputs,
// three F32x4 of weights and one vec4 of h per row.
fn recurrent_triples(hrow: array<u32, ROWS>, wd: u32, j: u32) -> array<vec3<f32>, ROWS> {
    let H = lp.hidden;
    var acc: array<vec3<f32>, ROWS>;
    var wi = input_quad(wd, H, H, j) * 3u;
    let k4 = H & ~3u;
    for (var k = 0u; k < k4; k += 4u) {
        add_triples(&acc, wi, h_quads(hrow, k));
        wi += 3u * UNIT_BLOCK;
    }
    if (k4 < H) { // the last, partial quad
        add_partial_triples(&acc, wi, hrow, k4);
    }
    return acc;
}

// In a wavefront stack's layer d >= 1, the products of its input (layer d-1's h) for unit j and
// the tile at b0; zeros elsewhere.
fn input_triples(d: u32, b0: u32, j: u32) -> array<vec3<f32>, ROWS> {
    var x: array<vec3<f32>, ROWS>;
    if (stacked_input(d)) {
        x = recurrent_triples(tile_state_rows(d - 1u, b0), input_weights(d), j);
    }
    return x;
}

// acc[r] += inputs k4 .. H of row r times their (z, r, h) weights (the partial quad at wi).
fn add_partial_triples(acc: ptr<function, array<vec3<f32>, ROWS>>, wi: u32, hrow: array<u32, ROWS>,
                       k4: u32) {
    let qa = f32x4(wh[wi]);
    let qb = f32x4(wh[wi + 1u]);
    let qc = f32x4(wh[wi + 2u]);
    for (var k = k4; k < lp.hidden; k++) {
        let w = quad_triple(qa, qb, qc, k - k4);
        for (var r = 0u; r < ROWS; r++) {
            (*acc)[r] += h_load(hrow[r] + k) * w;
        }
    }
}

// acc[r] += inputs k .. k+4 of row r (hq[r]) times their (z, r, h) weights (the quad at wi).
fn add_triples(acc: ptr<function, array<vec3<f32>, ROWS>>, wi: u32, hq: array<vec4<f32>, ROWS>) {
    let w = quad_triples(f32x4(wh[wi]), f32x4(wh[wi + 1u]), f32x4(wh[wi + 2u]));
    for (var r = 0u; r < ROWS; r++) {
        let hv = hq[r];
        (*acc)[r] += hv.x * w[0] + hv.y * w[1] + hv.z * w[2] + hv.w * w[3];
    }
}

// The update and reset gates (z, r) of the row whose gate inputs start at xb, from the
// recurrent products `a` (x: z, y: r).
fn update_reset(d: u32, xb: u32, a: vec3<f32>) -> vec2<f32> {
    let f = lp.acts[act_index(lp.flags, d, 0u)];
    return vec2<f32>(activate(f, clip_gate(lp, xp[xb] + a.x)), activate(f, clip_gate(lp, xp[xb + 1u] + a.y)));
}

// Writes h' = (1 - z) n + z h for row b.
fn finish(d: u32, b: u32, j: u32, t: u32, z: f32, n: f32) {
    let row = state_row(d, b);
    let hv = (1.0 - z) * n + z * h_load(row + j);
    h_store(row + j, hv);
    if (writes_y(d)) {
        y[y_row(d, t, b) + j] = hv;
    }
}

// Copies the state of a row whose sequence has ended.
fn hold(d: u32, b: u32, j: u32) {
    let row = state_row(d, b);
    h_store(row + j, h_load(row + j));
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
// products `acc`: the end of gru_step_split.
fn gru_fused_finish(d: u32, j: u32, b0: u32, acc: array<vec3<f32>, ROWS>) {
    var no_inputs: array<vec3<f32>, ROWS>;
    gru_finish_inputs(d, j, b0, acc, no_inputs);
}

// gru_fused_finish with a wavefront stack's input products `x` (x·W of the z, r, h gates; zeros
// outside a stack): z and r add them to the recurrent products, the candidate outside r ⊙ (...).
fn gru_finish_inputs(d: u32, j: u32, b0: u32, acc: array<vec3<f32>, ROWS>, x: array<vec3<f32>, ROWS>) {
    let rbh = bh[d * lp.hidden + j]; // one load for all rows
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

// Each tile row's first r ⊙ h in scratch (rows past the batch clamped).
fn reset_rows(d: u32, b0: u32) -> array<u32, ROWS> {
    var srow: array<u32, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        srow[r] = (d * lp.batch + tile_row(b0, r)) * lp.hidden * 2u + 1u;
    }
    return srow;
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
    let n = f32x4(wh[wi]);
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
    let n = f32x4(wh[wi]);
    for (var r = 0u; r < ROWS; r++) {
        (*acc)[r] += dot(rq[r], n);
    }
}
