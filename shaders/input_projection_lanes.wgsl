// input_projection_lanes: input_projection for CPU drivers whose subgroups are LANES wide
// (kernels.rs KernelBuild::Lanes, LanesWide): the same bindings and result, with a read as
// shared/lanes.wgsl describes: a workgroup's invocations all take the same rows, so each lane
// loads one vec4 of a chunk of LANES input quads of every row and the lanes hand them round;
// and each invocation computes two column quads, q0 and q0 + UNIT_BLOCK, that every shared
// chunk feeds. Quads after the last whole chunk are read as in input_projection. Invocations
// past N run on (every lane must reach the shuffles) and write nothing.
// uses: input_projection shared/lanes

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn input_projection_lanes(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * ROWS;
    let d = gid.z;
    let n4 = (p.n + 3u) / 4u;
    let full = p.k / 4u; // whole k-quads; a last partial one holds p.k % 4 inputs
    if (row0 >= p.m) {
        return;
    }
    let q0 = paired_unit(gid.x);
    let q1 = q0 + UNIT_BLOCK;
    let lane = share_lane();
    let r = block_rows(row0);
    var acc: array<vec4<f32>, ROWS>;
    var acc1: array<vec4<f32>, ROWS>; // q1's
    var wi = input_quad(d, p.k, n4, min(q0, n4 - 1u)) * 2u; // in F32x8s; a quad is two
    var wi1 = input_quad(d, p.k, n4, min(q1, n4 - 1u)) * 2u;
    let ks = full - full % LANES; // quads of k read in chunks shared across lanes
    var av: array<vec4<f32>, ROWS>;
    for (var kk0 = 0u; kk0 < ks; kk0 += LANES) {
        var ac: array<vec4<f32>, ROWS>; // lane l holds quad kk0 + l of each row
        for (var i = 0u; i < ROWS; i++) {
            ac[i] = a_vec4(r[i] + 4u * (kk0 + lane));
        }
        for (var q = 0u; q < LANES; q++) {
            for (var i = 0u; i < ROWS; i++) {
                av[i] = lane_vec4(ac[i], q);
            }
            add_block(&acc, wi, av);
            wi += 2u * UNIT_BLOCK;
            add_block(&acc1, wi1, av);
            wi1 += 2u * UNIT_BLOCK;
        }
    }
    // the rest, a last, partial quad included: its vec4s reach into the next row (or the
    // buffer's zero padding), and those inputs are zeroed
    for (var kk = ks; kk < (p.k + 3u) / 4u; kk++) {
        let aq = quads_at(r, kk);
        add_block(&acc, wi, aq);
        wi += 2u * UNIT_BLOCK;
        add_block(&acc1, wi1, aq);
        wi1 += 2u * UNIT_BLOCK;
    }
    store_block(acc, d, row0, q0);
    store_block(acc1, d, row0, q1);
}
