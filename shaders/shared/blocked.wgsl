// The blocked weight layout (pack.rs; UNIT_BLOCK is pack::UNIT_BLOCK, from the prelude): a
// matrix [K, units] whose units are `width` floats wide (a hidden unit's gates, or a vec4 of
// matmul columns) is stored per direction as ceil(units / UNIT_BLOCK) blocks of
// [K, UNIT_BLOCK, width].
// Neighbouring invocations read neighbouring units, and UNIT_BLOCK invocations (a SIMD row on a
// CPU driver) walk their block sequentially as k grows.

// Where unit u's weights for input k = 0 start, counted in units (multiply by the width for a
// float index); input k adds k * UNIT_BLOCK.
fn blocked_unit(d: u32, k_count: u32, units: u32, u: u32) -> u32 {
    let blocks = (units + UNIT_BLOCK - 1u) / UNIT_BLOCK;
    return ((d * blocks + u / UNIT_BLOCK) * k_count) * UNIT_BLOCK + u % UNIT_BLOCK;
}

// Input quads (RNN and GRU recurrent weights): inputs taken four at a time, a unit's G gate
// weights for inputs 4q .. 4q+4 are 4G floats (G vec4s) in a row, and a block holds ceil(K/4)
// such rows. input_quad: where unit u's row for q = 0 starts, in units of 4G floats (q adds
// q * UNIT_BLOCK).
fn input_quad(d: u32, k_count: u32, units: u32, u: u32) -> u32 {
    return blocked_unit(d, (k_count + 3u) / 4u, units, u);
}

// Float index of the first gate's weight of input k for unit u (the other gates follow).
fn quad_weight(d: u32, k_count: u32, units: u32, u: u32, k: u32, gates: u32) -> u32 {
    return (input_quad(d, k_count, units, u) + (k / 4u) * UNIT_BLOCK) * 4u * gates + (k % 4u) * gates;
}

// The h gate's weights of the quad's four inputs (GRU).
fn quad_h_gate(a: vec4<f32>, b: vec4<f32>, c: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(a.z, b.y, c.x, c.w);
}

// The (z, r, h) weights of the quad's four inputs out of its three vec4s.
fn quad_triples(a: vec4<f32>, b: vec4<f32>, c: vec4<f32>) -> array<vec3<f32>, 4> {
    return array<vec3<f32>, 4>(a.xyz, vec3<f32>(a.w, b.xy), vec3<f32>(b.zw, c.x), c.yzw);
}

// The (z, r, h) weights of input 4q + i (i < 4) out of the quad's three vec4s.
fn quad_triple(a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, i: u32) -> vec3<f32> {
    switch i {
        case 0u: { return a.xyz; }
        case 1u: { return vec3<f32>(a.w, b.xy); }
        case 2u: { return vec3<f32>(b.zw, c.x); }
        default: { return c.yzw; }
    }
}
