// How kernels read floats from the storage buffers they only read: F32x4 holds four floats,
// F32x8 eight that belong together (a quad of LSTM gate weights, two column quads of the input
// projection). Here they are plain vec4s. On CPU drivers with 64-bit integers (kernels.rs
// KernelBuild::LanesWide) shared/loads_wide.wgsl takes this file's place: same bytes, stored as
// u64 pairs. A kernel that binds an array<F32x4> reads it with f32x4, an array<F32x8> with
// f32x8_lo and f32x8_hi.
alias F32x4 = vec4<f32>;
alias F32x8 = array<vec4<f32>, 2>;

fn f32x4(v: F32x4) -> vec4<f32> {
    return v;
}

// Floats 0..4 and 4..8.
fn f32x8_lo(v: F32x8) -> vec4<f32> {
    return v[0];
}

fn f32x8_hi(v: F32x8) -> vec4<f32> {
    return v[1];
}
