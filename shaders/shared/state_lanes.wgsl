// The recurrent state shared across lanes (shared/lanes.wgsl), for the *_lanes step kernels:
// inputs below shared_inputs(k) are read in chunks of 4 * LANES, lane l loading the vec4 of
// inputs k0 + 4l .. k0 + 4l + 4 of each row (h_chunk), and lane_quads handing lane i's out;
// the inputs after them are read one vec4 at a time (h_quads). Rows that do not start on a vec4
// are shared too, each lane's vec4 read as two (h_vec4).
// uses: shared/lanes shared/state_vec4

// Where the shared chunks end.
fn shared_inputs(k_count: u32) -> u32 {
    return k_count - k_count % (4u * LANES);
}

// The tile's rows' h for inputs k0 .. k0 + 4 * LANES (k0 below shared_inputs): lane l holds
// inputs k0 + 4l .. k0 + 4l + 4 of each row.
fn h_chunk(hrow: array<u32, ROWS>, k0: u32, lane: u32) -> array<vec4<f32>, ROWS> {
    var hc: array<vec4<f32>, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        hc[r] = h_vec4(hrow[r] + k0 + 4u * lane);
    }
    return hc;
}

// Inputs k0 + 4i .. k0 + 4i + 4 of the tile's rows, out of their chunk.
fn lane_quads(hc: array<vec4<f32>, ROWS>, i: u32) -> array<vec4<f32>, ROWS> {
    var hq: array<vec4<f32>, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        hq[r] = lane_vec4(hc[r], i);
    }
    return hq;
}
