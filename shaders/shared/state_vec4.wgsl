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
