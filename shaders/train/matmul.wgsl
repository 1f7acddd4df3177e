// matmul: C = A·B (+ C) (+ bias), every operand addressed by offset and strides, so one kernel
// serves every product of training: the input projection x·Wᵀ + Wb, the head, and after the
// backward walk dW = dGᵀ·X, dR = dGᵀ·H_prev, dX = dG·W, dW_hr = dHᵀ·M, and column sums
// (B = ones, strides 0). With FLAG_MM_COPY it copies instead, C[m, n] = A[m, n] at
// a_off + m*a_m + n*a_k: a transpose when the strides say so.
//   a: A [M, K] at a_off + m*a_m + k*a_k       b: B [K, N] at b_off + k*b_k + n*b_n
//   c: C [M, N] at c_off + m*c_m + n*c_n       bias [N] in b at bias_off (FLAG_MM_BIAS)
// Invocation (x, y): the MM_ROWS x MM_BLOCK (8 x 4) block of C at rows y*MM_ROWS, columns
// x*MM_BLOCK, kept in registers: each k loads 8 values of A and 4 of B for 32 products.
// Loads past an edge read the last row or column (clamped) and are not stored.
// Versions:
//   4 x 4 blocks in local arrays: 16 products per 8 loads.
//   matmul (this file): 8 x 4 blocks in eight vec4 accumulators, no arrays, no workgroup memory
//   or barriers.
//   (square tiles through workgroup memory ran the training products several times slower on
//   CPU drivers, whose workgroup barriers are expensive.)

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
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(MM_GROUP, MM_GROUP, 1)
fn matmul(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m0 = gid.y * MM_ROWS;
    let n0 = gid.x * MM_BLOCK;
    if (m0 >= mp.m || n0 >= mp.n) {
        return;
    }
    if ((mp.flags & FLAG_MM_COPY) != 0u) {
        for (var r = 0u; r < MM_ROWS; r++) {
            for (var q = 0u; q < MM_BLOCK; q++) {
                if (m0 + r < mp.m && n0 + q < mp.n) {
                    c[mp.c_off + (m0 + r) * mp.c_m + (n0 + q) * mp.c_n] = a[mp.a_off + (m0 + r) * mp.a_m + (n0 + q) * mp.a_k];
                }
            }
        }
        return;
    }
    // the block's rows of A and columns of B, clamped to the last at the edges; one vec4 of
    // accumulators per row of the block, no arrays: an array indexed in the loop can be kept in
    // memory instead of registers
    let last_m = vec4<u32>(mp.m - 1u);
    let last_n = vec4<u32>(mp.n - 1u);
    let quad = vec4<u32>(0u, 1u, 2u, 3u);
    var ia0 = mp.a_off + min(m0 + quad, last_m) * mp.a_m;
    var ia1 = mp.a_off + min(m0 + 4u + quad, last_m) * mp.a_m;
    var ib = mp.b_off + min(n0 + quad, last_n) * mp.b_n;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    for (var k = 0u; k < mp.k; k++) {
        let bv = vec4<f32>(b[ib.x], b[ib.y], b[ib.z], b[ib.w]);
        acc0 += a[ia0.x] * bv;
        acc1 += a[ia0.y] * bv;
        acc2 += a[ia0.z] * bv;
        acc3 += a[ia0.w] * bv;
        acc4 += a[ia1.x] * bv;
        acc5 += a[ia1.y] * bv;
        acc6 += a[ia1.z] * bv;
        acc7 += a[ia1.w] * bv;
        ia0 += mp.a_k;
        ia1 += mp.a_k;
        ib += mp.b_k;
    }
    var top = mat4x4<f32>(acc0, acc1, acc2, acc3); // [row][column]
    var bottom = mat4x4<f32>(acc4, acc5, acc6, acc7);
    for (var r = 0u; r < MM_ROWS; r++) {
        for (var q = 0u; q < MM_BLOCK; q++) {
            let row = m0 + r;
            let col = n0 + q;
            if (row < mp.m && col < mp.n) {
                var v = select(bottom[r - 4u][q], top[r][q], r < 4u);
                if ((mp.flags & FLAG_MM_BIAS) != 0u) {
                    v += b[mp.bias_off + col];
                }
                let ci = mp.c_off + row * mp.c_m + col * mp.c_n;
                if ((mp.flags & FLAG_MM_ACCUMULATE) != 0u) {
                    v += c[ci];
                }
                c[ci] = v;
            }
        }
    }
}
