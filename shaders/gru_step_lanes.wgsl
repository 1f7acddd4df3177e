// gru_step_lanes, gru_gates_lanes, gru_candidate_lanes: gru_step.wgsl's kernels for CPU drivers
// whose subgroups are LANES wide (kernels.rs KernelBuild::Lanes, LanesWide): the same bindings
// and ends, with the recurrent products read as shared/lanes.wgsl describes: the lanes share h
// (r ⊙ h for gru_candidate) in chunks of 4 * LANES inputs, and each invocation computes two
// units, j0 and j0 + UNIT_BLOCK, that every shared chunk feeds. Invocations past H run on as
// unit H-1 (every lane must reach the shuffles) and write nothing.
// uses: gru_step shared/state_lanes

// Whether the invocation's batch tile and direction exist (its units may lie past H).
fn runs_lanes(gid: vec3<u32>) -> bool {
    return gid.y * ROWS < lp.batch && gid.z < lp.dirs;
}

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn gru_step_lanes(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!runs_lanes(gid)) {
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
    if (j0 + UNIT_BLOCK < lp.hidden) {
        gru_finish_inputs(d, j0 + UNIT_BLOCK, gid.y * ROWS, acc1, x1);
    }
}

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn gru_gates_lanes(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!runs_lanes(gid)) {
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
    if (j0 + UNIT_BLOCK < lp.hidden) {
        gates_finish(d, j0 + UNIT_BLOCK, gid.y * ROWS, acc1, x1);
    }
}

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn gru_candidate_lanes(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!runs_lanes(gid)) {
        return;
    }
    let H = lp.hidden;
    let j0 = paired_unit(gid.x);
    let j1 = j0 + UNIT_BLOCK;
    let b0 = gid.y * ROWS;
    let d = gid.z;
    let lane = share_lane();
    var acc: array<f32, ROWS>;
    var acc1: array<f32, ROWS>; // j1's
    let srow = reset_rows(d, b0);
    // wh: the h gate's weights alone here (plan Buf::Wn), one F32x4 per unit and four inputs
    var wi = input_quad(d, H, H, min(j0, H - 1u));
    var wi1 = input_quad(d, H, H, min(j1, H - 1u));
    let ks = shared_inputs(H);
    for (var k0 = 0u; k0 < ks; k0 += 4u * LANES) {
        let rc = reset_quads(srow, k0 + 4u * lane); // lane l: inputs k0 + 4l .. k0 + 4l + 4
        for (var i = 0u; i < LANES; i++) {
            let rq = lane_quads(rc, i);
            add_candidate(&acc, wi, rq);
            wi += UNIT_BLOCK;
            add_candidate(&acc1, wi1, rq);
            wi1 += UNIT_BLOCK;
        }
    }
    let k4 = H & ~3u;
    for (var k = ks; k < k4; k += 4u) {
        let rq = reset_quads(srow, k);
        add_candidate(&acc, wi, rq);
        wi += UNIT_BLOCK;
        add_candidate(&acc1, wi1, rq);
        wi1 += UNIT_BLOCK;
    }
    if (k4 < H) { // the last, partial quad
        add_partial_candidate(&acc, wi, srow, k4);
        add_partial_candidate(&acc1, wi1, srow, k4);
    }
    if (j0 < H) {
        candidate_finish(d, j0, b0, acc);
    }
    if (j1 < H) {
        candidate_finish(d, j1, b0, acc1);
    }
}

// The recurrent products of the invocation's units j0 = paired_unit(gid.x) (returned) and
// j0 + UNIT_BLOCK (into acc1); units past H run on as unit H-1.
fn pair_triples(gid: vec3<u32>, acc1: ptr<function, array<vec3<f32>, ROWS>>) -> array<vec3<f32>, ROWS> {
    return unit_triples(gid, tile_state_rows(gid.z, gid.y * ROWS), gid.z, acc1);
}

// In a wavefront stack's layer d >= 1, the products of its input (layer d-1's h) for the units
// of pair_triples, the second into x1; zeros elsewhere. Call from uniform control flow.
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
    return recurrent_triples_lanes(hrow, wd, min(j0, last), min(j0 + UNIT_BLOCK, last), acc1);
}

// recurrent_triples of units j (returned) and j1 (into acc1), h shared across lanes. Call from
// uniform control flow.
fn recurrent_triples_lanes(hrow: array<u32, ROWS>, wd: u32, j: u32, j1: u32,
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
            add_triples(acc1, wi1, hq);
            wi1 += 3u * UNIT_BLOCK;
        }
    }
    let k4 = H & ~3u;
    for (var k = ks; k < k4; k += 4u) {
        let hq = h_quads(hrow, k);
        add_triples(&acc, wi, hq);
        wi += 3u * UNIT_BLOCK;
        add_triples(acc1, wi1, hq);
        wi1 += 3u * UNIT_BLOCK;
    }
    if (k4 < H) { // the last, partial quad
        add_partial_triples(&acc, wi, hrow, k4);
        add_partial_triples(acc1, wi1, hrow, k4);
    }
    return acc;
}
