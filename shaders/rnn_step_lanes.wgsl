// rnn_step_lanes: rnn_step for CPU drivers whose subgroups are LANES wide (kernels.rs
// KernelBuild::Lanes, LanesWide): the same bindings and end (rnn_finish), with the recurrent
// product read as shared/lanes.wgsl describes: the lanes share h in chunks of 4 * LANES inputs
// (shared/state_lanes.wgsl), and each invocation computes two units, j0 and j0 + UNIT_BLOCK,
// that every shared chunk feeds. Invocations past H run on as unit H-1 (every lane must reach
// the shuffles) and write nothing.
// uses: rnn_step shared/state_lanes

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn rnn_step_lanes(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b0 = gid.y * ROWS;
    let d = gid.z;
    let H = lp.hidden;
    if (b0 >= lp.batch || d >= lp.dirs) {
        return;
    }
    let j0 = paired_unit(gid.x);
    let j1 = j0 + UNIT_BLOCK;
    var acc: array<f32, ROWS>;
    var acc1: array<f32, ROWS>; // j1's
    add_products_lanes(&acc, &acc1, tile_state_rows(d, b0), d, j0, j1);
    if (stacked_input(d)) { // a wavefront stack's layer d: its input is layer d-1's h
        add_products_lanes(&acc, &acc1, tile_state_rows(d - 1u, b0), input_weights(d), j0, j1);
    }
    if (j0 < H) {
        rnn_finish(d, j0, b0, acc);
    }
    if (j1 < H) {
        rnn_finish(d, j1, b0, acc1);
    }
}

// add_products of units j0 (into acc) and j1 (into acc1), h shared across lanes. Call from
// uniform control flow.
fn add_products_lanes(acc: ptr<function, array<f32, ROWS>>, acc1: ptr<function, array<f32, ROWS>>,
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
            add_dots(acc, f32x4(wh[wi]), hq);
            wi += UNIT_BLOCK;
            add_dots(acc1, f32x4(wh[wi1]), hq);
            wi1 += UNIT_BLOCK;
        }
    }
    let k4 = HI & ~3u;
    for (var k = ks; k < k4; k += 4u) {
        let hq = h_quads(hrow, k); // inputs k .. k+4
        add_dots(acc, f32x4(wh[wi]), hq);
        wi += UNIT_BLOCK;
        add_dots(acc1, f32x4(wh[wi1]), hq);
        wi1 += UNIT_BLOCK;
    }
    if (k4 < HI) { // the last, partial quad
        add_partial_dots(acc, f32x4(wh[wi]), hrow, k4);
        add_partial_dots(acc1, f32x4(wh[wi1]), hrow, k4);
    }
}
