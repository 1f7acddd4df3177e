// lstm_step_lanes: lstm_step for CPU drivers whose subgroups are LANES wide (kernels.rs
// KernelBuild::Lanes, LanesWide): the same bindings and end (lstm_finish), with the recurrent
// product read as shared/lanes.wgsl describes:
//   - the lanes share h: each lane loads one vec4 of a chunk of 4 * LANES inputs of each row and
//     the lanes hand them round (shared/state_lanes.wgsl); the inputs after the last whole chunk
//     are read as in lstm_step;
//   - from two rows per invocation on (PAIR_UNITS), an invocation computes two units, j0 and
//     j0 + UNIT_BLOCK, and every shared chunk feeds both. With one row, pairing was slower
//     (BENCHMARKS.md "Kernel versions (lavapipe)"), so ROWS = 1 keeps one unit.
// Invocations past H run on as unit H-1 (every lane must reach the shuffles) and write nothing.
// uses: lstm_step shared/state_lanes

const PAIR_UNITS: bool = ROWS > 1u; // keep in sync with Kernel::pairs_units

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn lstm_step_lanes(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b0 = gid.y * ROWS;
    let d = gid.z;
    let H = lp.hidden;
    if (b0 >= lp.batch || d >= lp.dirs) {
        return;
    }
    let j0 = select(gid.x, paired_unit(gid.x), PAIR_UNITS);
    let j1 = j0 + UNIT_BLOCK;
    var acc: array<vec4<f32>, ROWS>;
    var acc1: array<vec4<f32>, ROWS>; // j1's (PAIR_UNITS only)
    add_gate_products_lanes(&acc, &acc1, tile_state_rows(d, b0), d, j0, j1);
    if (stacked_input(d)) { // a wavefront stack's layer d: its input is layer d-1's h
        add_gate_products_lanes(&acc, &acc1, tile_state_rows(d - 1u, b0), input_weights(d), j0, j1);
    }
    if (j0 < H) {
        lstm_finish(d, j0, b0, acc);
    }
    if (PAIR_UNITS && j1 < H) {
        lstm_finish(d, j1, b0, acc1);
    }
}

// add_gate_products of units j0 (into acc) and, with PAIR_UNITS, j1 (into acc1), h shared
// across lanes. Call from uniform control flow.
fn add_gate_products_lanes(acc: ptr<function, array<vec4<f32>, ROWS>>, acc1: ptr<function, array<vec4<f32>, ROWS>>,
                           hrow: array<u32, ROWS>, wd: u32, j0: u32, j1: u32) {
    let H = lp.hidden;
    let HI = lp.hidden_in;
    let lane = share_lane();
    var wi = input_quad(wd, HI, H, min(j0, H - 1u)) * 2u; // in F32x8s, two per quad
    var wi1 = input_quad(wd, HI, H, min(j1, H - 1u)) * 2u;
    let ks = shared_inputs(HI);
    for (var k0 = 0u; k0 < ks; k0 += 4u * LANES) {
        let hc = h_chunk(hrow, k0, lane);
        for (var i = 0u; i < LANES; i++) {
            let hq = lane_quads(hc, i);
            add_quad(acc, wi, hq);
            wi += 2u * UNIT_BLOCK;
            if (PAIR_UNITS) {
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
        if (PAIR_UNITS) {
            add_quad(acc1, wi1, hq);
            wi1 += 2u * UNIT_BLOCK;
        }
    }
    if (k4 < HI) { // the last, partial quad (its weights past HI are zero)
        add_partial_quad(acc, wi, hrow, k4);
        if (PAIR_UNITS) {
            add_partial_quad(acc1, wi1, hrow, k4);
        }
    }
}
