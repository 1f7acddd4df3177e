// rnn_step: one time step of a vanilla RNN layer, both directions in one dispatch.
//   h' = f(clip(xp + h·Rᵀ))      (both biases are folded into xp)
//   xp:   [D, T, B, H]
//   wh:   R transposed in input quads (four inputs of a unit per F32x4), blocked by UNIT_BLOCK
//         units (shared/blocked.wgsl)
//   h_cur, h_next: [D, B, H_in] each, the halves of h the step reads and writes (plan Buf::H)
//   y:    [T, B, D, H_in]
// Invocation (j, tile, d): hidden unit j of batch rows tile*ROWS .. tile*ROWS + ROWS, direction d.
// Versions (kernels.rs KERNELS has when each runs):
//   rnn_step         this file: one invocation per unit and ROWS rows (1, 4, 8, 16), a dot
//                    product over H_in, each weight load feeding ROWS rows.
//   rnn_step_lanes   CPU drivers: h shared across subgroup lanes, two units per invocation.
//   rnn_step_split   GPUs, small batches: a workgroup per unit splits k (subgroups).
//   (layer_persistent runs RNN layers up to H 128 many steps per dispatch.)
// Wavefront stacks (FLAG_WAVE, shared/rows.wgsl): the slots d are a stack's layers; a layer above
// the first adds its input product, slot d-1's h times W_dᵀ, with a second pass of the same loop.
// uses: shared/activations shared/blocked shared/rows shared/state_vec4

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> sp: StepParams;
@group(0) @binding(2) var<storage, read> xp: array<f32>;
@group(0) @binding(3) var<storage, read> wh: array<F32x4>;
@group(0) @binding(4) var<storage, read> lens: array<u32>;
@group(0) @binding(5) var<storage, read_write> h_cur: array<F32x4>; // see shared/state_vec4.wgsl
@group(0) @binding(6) var<storage, read_write> h_next: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn rnn_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let b0 = gid.y * ROWS;
    let d = gid.z;
    if (j >= lp.hidden || b0 >= lp.batch || d >= lp.dirs) {
        return;
    }
    var acc: array<f32, ROWS>;
    add_products(&acc, tile_state_rows(d, b0), d, j);
    if (stacked_input(d)) { // a wavefront stack's layer d: its input is layer d-1's h
        add_products(&acc, tile_state_rows(d - 1u, b0), input_weights(d), j);
    }
    rnn_finish(d, j, b0, acc);
}

// acc[r] += the h of the tile's rows (state rows `hrow`) times the weights of direction wd of
// unit j: one vec4 of h and one of weights per four inputs.
fn add_products(acc: ptr<function, array<f32, ROWS>>, hrow: array<u32, ROWS>, wd: u32, j: u32) {
    let HI = lp.hidden_in;
    var wi = input_quad(wd, HI, lp.hidden, j);
    let k4 = HI & ~3u;
    for (var k = 0u; k < k4; k += 4u) {
        add_dots(acc, f32x4(wh[wi]), h_quads(hrow, k)); // inputs k .. k+4
        wi += UNIT_BLOCK;
    }
    if (k4 < HI) { // the last, partial quad
        add_partial_dots(acc, f32x4(wh[wi]), hrow, k4);
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

// Finishes hidden unit j of the tile's rows from their recurrent products `acc`: the end of
// every RNN step kernel.
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
