// The recurrent state as vec4s: step kernels that include this bind h as `h4` (layout
// [2, D, B, H_in] of f32, the buffer padded to whole vec4s; plan.rs `Buf::H`). Reading four
// inputs with one vec4 load instead of four scalar loads is what a SIMD CPU driver needs, and
// costs a GPU nothing.

// Pipeline constant: every state row starts on a vec4 (H_in % 4 == 0; plan.rs
// `NetShape::state_aligned`), so h_vec4 is one load. A constant, not a branch per load: lavapipe
// pays for a run-time test inside the inner loop.
override STATE_ALIGNED: bool = false;

fn h_load(i: u32) -> f32 {
    return h4[i / 4u][i % 4u];
}

fn h_store(i: u32, v: f32) {
    h4[i / 4u][i % 4u] = v;
}

// h[i .. i+4] for i at a multiple of 4 from the start of a state row.
fn h_vec4(i: u32) -> vec4<f32> {
    if (STATE_ALIGNED) {
        return h4[i / 4u];
    }
    return vec4<f32>(h_load(i), h_load(i + 1u), h_load(i + 2u), h_load(i + 3u));
}

// Where lane sharing (shared/lanes.wgsl) stops: inputs below it are read in chunks of
// 4 * LANES, the rest one vec4 (h_quads) at a time. Sharing needs h read as vec4s.
fn shared_inputs(k_count: u32) -> u32 {
    if (SHARE_LANES && STATE_ALIGNED) {
        return k_count - k_count % (4u * LANES);
    }
    return 0u;
}

// The tile's rows' h for inputs k0 .. k0 + 4 * LANES (k0 below shared_inputs): lane l loads
// inputs k0 + 4l .. k0 + 4l + 4 of each row; lane_quads hands them out.
fn h_chunk(hrow: array<u32, ROWS>, k0: u32, lane: u32) -> array<vec4<f32>, ROWS> {
    var hc: array<vec4<f32>, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        hc[r] = h4[(hrow[r] + k0) / 4u + lane];
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
