// The uniform, the output and the epilogue that `matmul` (train/matmul.wgsl) and its vec4
// versions (train/matmul_vec4.wgsl) share. Each file binds A (1) and B (2) in its own element
// type and defines `bias_at`.
//   c: C [M, N] at c_off + m*c_m + n*c_n       bias [N] in b at bias_off (FLAG_MM_BIAS)

// Keep in sync with `gpu::train::params::MatmulParams` (Rust; a test compares the layouts).
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    flags: u32, // FLAG_MM_*
    a_off: u32,
    a_m: u32,
    a_k: u32,
    bias_off: u32,
    b_off: u32,
    b_k: u32,
    b_n: u32,
    _pad0: u32,
    c_off: u32,
    c_m: u32,
    c_n: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> mp: MatmulParams;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// Stores one row of an invocation's block: v at columns n0..n0+3 of row `row` of C, those
// inside C, plus the bias and what C held where the flags say.
fn store_row(row: u32, n0: u32, v: vec4<f32>, bias: vec4<f32>) {
    if (row >= mp.m) {
        return;
    }
    for (var q = 0u; q < MM_BLOCK; q++) {
        let col = n0 + q;
        if (col < mp.n) {
            var x = v[q] + bias[q];
            let ci = c_index(row, col);
            if ((mp.flags & FLAG_MM_ACCUMULATE) != 0u) {
                x += c[ci];
            }
            c[ci] = x;
        }
    }
}

// Where element (m, n) of C lies: row m at m*c_m, or with FLAG_MM_QUADS four rows per c_m, as
// the lanes of a vec4 (plan::train::Matmul::c_at).
fn c_index(m: u32, n: u32) -> u32 {
    if ((mp.flags & FLAG_MM_QUADS) != 0u) {
        return mp.c_off + (n / UNIT_BLOCK) * ((mp.m + 3u) / 4u) * mp.c_m + (m / 4u) * mp.c_m + (n % UNIT_BLOCK) * mp.c_n + m % 4u;
    }
    return mp.c_off + m * mp.c_m + n * mp.c_n;
}

// Stores an invocation's MM_ROWS x MM_BLOCK block at rows m0.., columns n0..: `top` holds rows
// 0-3 and `bottom` rows 4-7, one row per column vector.
fn store_block(m0: u32, n0: u32, top: mat4x4<f32>, bottom: mat4x4<f32>, bias: vec4<f32>) {
    for (var r = 0u; r < 4u; r++) {
        store_row(m0 + r, n0, top[r], bias);
        store_row(m0 + 4u + r, n0, bottom[r], bias);
    }
}
