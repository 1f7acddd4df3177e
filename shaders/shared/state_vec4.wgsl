// The recurrent state as vec4s. Step kernels that include this bind the half of h the step
// reads as `h_cur` (array<Wide4>, read as vec4s) and the half it writes as `h_next`
// (array<f32>), each [D, B, H_in] (plan.rs `Buf::H`: two halves, each bound at a dynamic
// offset). Reading four inputs with one vec4 load instead of four scalar loads is what a SIMD
// CPU driver needs, and costs a GPU nothing; on CPU drivers with wide loads
// (shared/wide_loads.wgsl) a Wide4 is two u64 (GRU H1024 B16 T50 steps 170 -> 152 ms, LSTM
// 183 -> 174 ms on lavapipe, against h read as vec4<f32> from one binding of both halves).

// Pipeline constant: every state row starts on a vec4 (H_in % 4 == 0; plan.rs
// `NetShape::state_aligned`), so h_vec4 is one load. A constant, not a branch per load: lavapipe
// pays for a run-time test inside the inner loop.
override STATE_ALIGNED: bool = false;

fn h_load(i: u32) -> f32 {
    return wide4(h_cur[i / 4u])[i % 4u];
}

fn h_store(i: u32, v: f32) {
    h_next[i] = v;
}

// h[i .. i+4] for i at a multiple of 4 from the start of a state row (i + 3 in the row).
fn h_vec4(i: u32) -> vec4<f32> {
    let a = wide4(h_cur[i / 4u]);
    let o = i % 4u;
    if (STATE_ALIGNED || o == 0u) {
        return a;
    }
    return joined_vec4(a, wide4(h_cur[i / 4u + 1u]), o); // that vec4 holds h[i + 3], in the row
}

// Where lane sharing (shared/lanes.wgsl) stops: inputs below it are read in chunks of
// 4 * LANES, the rest one vec4 (h_quads) at a time. Rows that do not start on a vec4
// (H_in % 4 != 0) are shared too, each lane's vec4 out of two (h_vec4): before, they were not
// (steps at H1023 B16 T50 on lavapipe: LSTM 553-598 -> 206-230 ms, GRU 504-561 -> 178-181 ms).
fn shared_inputs(k_count: u32) -> u32 {
    if (SHARE_LANES) {
        return k_count - k_count % (4u * LANES);
    }
    return 0u;
}

// The tile's rows' h for inputs k0 .. k0 + 4 * LANES (k0 below shared_inputs): lane l loads
// inputs k0 + 4l .. k0 + 4l + 4 of each row; lane_quads hands them out.
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

// Inputs k .. k+4 of the tile's rows, read from h.
fn h_quads(hrow: array<u32, ROWS>, k: u32) -> array<vec4<f32>, ROWS> {
    var hq: array<vec4<f32>, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        hq[r] = h_vec4(hrow[r] + k);
    }
    return hq;
}

// h[k .. k+4] of the state row starting at `row` (k a multiple of 4), zeros past H_in.
fn h_quad_at(row: u32, k: u32) -> vec4<f32> {
    if (k + 4u <= lp.hidden_in) {
        return h_vec4(row + k);
    }
    var hv = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if (k + e < lp.hidden_in) {
            hv[e] = h_load(row + k + e);
        }
    }
    return hv;
}
