// Wide loads, for CPU drivers (gpu/context.rs `GpuContext::wide_loads`: devices that share lanes
// and have 64-bit integers). A storage load there is a loop over the SIMD row's lanes that
// fetches each component on its own, so floats read in 64-bit pairs cost about half as much per
// float (a microbenchmark on lavapipe: sixteen floats as four vec4<f32> 89 ms, as four
// vec2<u64> 69 ms, as two vec4<u64> 62 ms). Kernels bind read-only arrays with these types:
//   Wide4: four floats (read with wide4), the drop-in for vec4<f32>;
//   Wide8: eight floats in a row that belong together (wide8_lo, wide8_hi).
// Same bytes, same layout (little-endian: the low half of each u64 is the first float of its
// two). Devices without them get shared/wide_loads_off.wgsl (kernels.rs `Kernel::source`).
alias Wide4 = vec2<u64>;
alias Wide8 = vec4<u64>;

fn wide4(v: Wide4) -> vec4<f32> {
    return bitcast<vec4<f32>>(vec4<u32>(u32(v.x), u32(v.x >> 32u), u32(v.y), u32(v.y >> 32u)));
}

// Floats 0..4 and 4..8.
fn wide8_lo(v: Wide8) -> vec4<f32> {
    return wide4(v.xy);
}

fn wide8_hi(v: Wide8) -> vec4<f32> {
    return wide4(v.zw);
}
