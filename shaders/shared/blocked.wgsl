// The blocked weight layout (pack.rs; keep UNIT_BLOCK in sync with pack::UNIT_BLOCK): a matrix
// [K, units] whose units are `width` floats wide (a hidden unit's gates, or a vec4 of matmul
// columns) is stored per direction as ceil(units / UNIT_BLOCK) blocks of [K, UNIT_BLOCK, width].
// Neighbouring invocations read neighbouring units, and UNIT_BLOCK invocations (a SIMD row on a
// CPU driver) walk their block sequentially as k grows.
const UNIT_BLOCK: u32 = 8u;

// Where unit u's weights for input k = 0 start, counted in units (multiply by the width for a
// float index); input k adds k * UNIT_BLOCK.
fn blocked_unit(d: u32, k_count: u32, units: u32, u: u32) -> u32 {
    let blocks = (units + UNIT_BLOCK - 1u) / UNIT_BLOCK;
    return ((d * blocks + u / UNIT_BLOCK) * k_count) * UNIT_BLOCK + u % UNIT_BLOCK;
}
