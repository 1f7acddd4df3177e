// shared/loads.wgsl for CPU drivers with 64-bit integers (kernels.rs KernelBuild::LanesWide):
// the same bytes read as u64 pairs. A storage load there is a loop over the SIMD row's lanes
// that fetches each component on its own, so floats read two to a u64 cost about half as much
// per float (BENCHMARKS.md "Kernel versions (lavapipe)"). Little-endian: the low half of each
// u64 is the first of its two floats.
alias F32x4 = vec2<u64>;
alias F32x8 = vec4<u64>;

fn f32x4(v: F32x4) -> vec4<f32> {
    return bitcast<vec4<f32>>(vec4<u32>(u32(v.x), u32(v.x >> 32u), u32(v.y), u32(v.y >> 32u)));
}

// Floats 0..4 and 4..8.
fn f32x8_lo(v: F32x8) -> vec4<f32> {
    return f32x4(v.xy);
}

fn f32x8_hi(v: F32x8) -> vec4<f32> {
    return f32x4(v.zw);
}
