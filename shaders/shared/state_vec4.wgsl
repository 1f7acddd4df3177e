// The recurrent state read as vec4s. Step kernels that use this bind the half of h the step
// reads as `h_cur` (array<F32x4>) and the half it writes as `h_next` (array<f32>), each
// [D, B, H_in] (plan Buf::H: two halves, each bound at a dynamic offset), and have `lp`.
// One vec4 load for four inputs instead of four scalar loads is what a SIMD CPU driver needs,
// and costs a GPU nothing.
// uses: shared/loads shared/vec4_reads

// Pipeline constant: every state row starts on a vec4 (H_in % 4 == 0; plan NetShape::aligned),
// so h_vec4 is one load. A constant, not a branch per load: lavapipe pays for a run-time test
// inside the inner loop.
override STATE_ALIGNED: bool = false;

fn h_load(i: u32) -> f32 {
    return f32x4(h_cur[i / 4u])[i % 4u];
}

fn h_store(i: u32, v: f32) {
    h_next[i] = v;
}

// h[i .. i+4] for i at a multiple of 4 from the start of a state row (i + 3 in the row).
fn h_vec4(i: u32) -> vec4<f32> {
    let a = f32x4(h_cur[i / 4u]);
    let o = i % 4u;
    if (STATE_ALIGNED || o == 0u) {
        return a;
    }
    return joined_vec4(a, f32x4(h_cur[i / 4u + 1u]), o); // that vec4 holds h[i + 3], in the row
}

// Inputs k .. k+4 of the tile's rows (state rows `hrow`).
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
