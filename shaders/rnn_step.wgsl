// rnn_step: one time step of a vanilla RNN layer, both directions in one dispatch.
//   h' = f(clip(xp + h·Rᵀ))      (both biases are folded into xp)
//   xp: [D, T, B, H]   wh: vec4s, R pre-transposed in input quads (four inputs of a unit per
//   vec4), blocked (shared/blocked.wgsl)   h_cur, h_next: [D, B, H_in] each, the halves of h the
//   step reads and writes (plan.rs Buf::H)
//   y:  [T, B, D, H_in]
// Invocation (j, tile, d): hidden unit j of batch rows tile*ROWS.., direction d.
// Versions (module constant ROWS):
//   ROWS = 1: one invocation per output, a dot product over H_in reading coalesced rows of wh.
//   ROWS = 4, 8, 16: each weight load feeds that many batch rows.
//   (All: row offsets computed once per invocation, k unrolled by 4, h read as vec4s where
//   H_in % 4 == 0, pipeline constant STATE_ALIGNED; on devices that share lanes,
//   shared/lanes.wgsl, h read once per subgroup, and two units per invocation, PAIRED.)
//   Wavefront stacks (FLAG_WAVE, shared/rows.wgsl): the slots d are a stack's layers, and
//   layers above the first add their input product, slot d-1's h times W_dᵀ, with a second
//   pass of the same loops (add_products); one dispatch per step for the whole stack.

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> sp: StepParams;
@group(0) @binding(2) var<storage, read> xp: array<f32>;
@group(0) @binding(3) var<storage, read> wh: array<Wide4>;
@group(0) @binding(4) var<storage, read> lens: array<u32>;
@group(0) @binding(5) var<storage, read_write> h_cur: array<Wide4>; // see shared/state_vec4.wgsl
@group(0) @binding(6) var<storage, read_write> h_next: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn rnn_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b0 = gid.y * ROWS;
    let d = gid.z;
    let H = lp.hidden;
    if (b0 >= lp.batch || d >= lp.dirs || (gid.x >= H && !SHARE_LANES)) {
        return;
    }
    // this invocation's unit, and with PAIRED the one UNIT_BLOCK after it (shared/lanes.wgsl);
    // units past H run on as unit H-1 for lane sharing and write nothing
    let j0 = paired_unit(gid.x);
    let j1 = j0 + UNIT_BLOCK;
    var acc: array<f32, ROWS>;
    var acc1: array<f32, ROWS>; // j1's (PAIRED only)
    add_products(&acc, &acc1, tile_state_rows(d, b0), d, j0, j1);
    if (stacked_input(d)) { // a wavefront stack's layer d: its input is layer d-1's h
        add_products(&acc, &acc1, tile_state_rows(d - 1u, b0), input_weights(d), j0, j1);
    }
    if (j0 < H) {
        rnn_finish(d, j0, b0, acc);
    }
    if (PAIRED && j1 < H) {
        rnn_finish(d, j1, b0, acc1);
    }
}

// acc[r] (and with PAIRED acc1[r]) += the h of the tile's rows (state rows `hrow`) times the
// weights of direction wd of units j0 (and j1). Call from uniform control flow.
fn add_products(acc: ptr<function, array<f32, ROWS>>, acc1: ptr<function, array<f32, ROWS>>,
                hrow: array<u32, ROWS>, wd: u32, j0: u32, j1: u32) {
    let H = lp.hidden;
    let HI = lp.hidden_in;
    let lane = share_lane();
    var wi = input_quad(wd, HI, H, min(j0, H - 1u));
    var wi1 = input_quad(wd, HI, H, min(j1, H - 1u));
    let ks = shared_inputs(HI);
    for (var k0 = 0u; k0 < ks; k0 += 4u * LANES) {
        let hc = h_chunk(hrow, k0, lane);
        for (var i = 0u; i < LANES; i++) {
            let hq = lane_quads(hc, i);
            add_dots(acc, wide4(wh[wi]), hq);
            wi += UNIT_BLOCK;
            if (PAIRED) {
                add_dots(acc1, wide4(wh[wi1]), hq);
                wi1 += UNIT_BLOCK;
            }
        }
    }
    let k4 = HI & ~3u;
    for (var k = ks; k < k4; k += 4u) {
        let hq = h_quads(hrow, k); // inputs k .. k+4
        add_dots(acc, wide4(wh[wi]), hq);
        wi += UNIT_BLOCK;
        if (PAIRED) {
            add_dots(acc1, wide4(wh[wi1]), hq);
            wi1 += UNIT_BLOCK;
        }
    }
    if (k4 < HI) { // the last, partial quad
        add_partial_dots(acc, wide4(wh[wi]), hrow, k4);
        if (PAIRED) {
            add_partial_dots(acc1, wide4(wh[wi1]), hrow, k4);
        }
    }
}

// acc[r] += inputs k4 .. H_in of row r times their weights (w: the partial quad's).
fn add_partial_dots(acc: ptr<function, array<f32, ROWS>>, w: vec4<f32>, hrow: array<u32, ROWS>, k4: u32) {
    for (var k = k4; k < lp.hidden_in; k++) {
        for (var r = 0u; r < ROWS; r++) {
            (*acc)[r] += h_load(hrow[r] + k) * w[k - k4];
        }
    }
}

// acc[r] += inputs k .. k+4 of row r (hq[r]) times their weights w.
fn add_dots(acc: ptr<function, array<f32, ROWS>>, w: vec4<f32>, hq: array<vec4<f32>, ROWS>) {
    for (var r = 0u; r < ROWS; r++) {
        (*acc)[r] += dot(hq[r], w);
    }
}

// Finishes hidden unit j of the tile's rows from their recurrent products `acc` (also the end
// of rnn_step_split).
fn rnn_finish(d: u32, j: u32, b0: u32, acc: array<f32, ROWS>) {
    let B = lp.batch;
    for (var r = 0u; r < ROWS; r++) {
        let b = b0 + r;
        if (b >= B) {
            break;
        }
        let rs = row_step(d, b);
        if (!rs.running) {
            h_store(rs.row + j, h_load(rs.row + j));
            continue;
        }
        let t = rs.t;
        let hv = activate(lp.acts[act_index(lp.flags, d, 0u)], clip_gate(lp, acc[r] + xp[xp_row(d, t, b) * lp.hidden + j]));
        h_store(rs.row + j, hv);
        if (writes_y(d)) {
            y[y_row(d, t, b) + j] = hv;
        }
    }
}
