// matmul: C = A·B (+ C) (+ bias), every operand addressed by offset and strides, so one kernel
// serves every product of training: the input projection x·Wᵀ + Wb, the head, and after the
// backward walk dW = dGᵀ·X, dR = dGᵀ·H_prev, dX = dG·W, dW_hr = dHᵀ·M, and column sums
// (B = ones, strides 0). With FLAG_MM_COPY it copies instead, C[m, n] = A[m, n] at
// a_off + m*a_m + n*a_k: a transpose when the strides say so.
//   a: A [M, K] at a_off + m*a_m + k*a_k       b: B [K, N] at b_off + k*b_k + n*b_n
//   c: C [M, N] at c_off + m*c_m + n*c_n       bias [N] in b at bias_off (FLAG_MM_BIAS)
// Invocation (x, y): the MM_BLOCK x MM_BLOCK block of C at rows y*MM_BLOCK, columns
// x*MM_BLOCK, kept in registers: each k loads MM_BLOCK values of A and of B for MM_BLOCK²
// products. Loads past an edge read the last row or column (clamped) and are not stored.
// Versions:
//   matmul (this file): register blocks, no workgroup memory or barriers.
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
    let m0 = gid.y * MM_BLOCK;
    let n0 = gid.x * MM_BLOCK;
    if (m0 >= mp.m || n0 >= mp.n) {
        return;
    }
    if ((mp.flags & FLAG_MM_COPY) != 0u) {
        for (var r = 0u; r < MM_BLOCK; r++) {
            for (var q = 0u; q < MM_BLOCK; q++) {
                if (m0 + r < mp.m && n0 + q < mp.n) {
                    c[mp.c_off + (m0 + r) * mp.c_m + (n0 + q) * mp.c_n] = a[mp.a_off + (m0 + r) * mp.a_m + (n0 + q) * mp.a_k];
                }
            }
        }
        return;
    }
    // the block's rows of A and columns of B, clamped to the last at the edges
    var ai: array<u32, MM_BLOCK>;
    var bi: array<u32, MM_BLOCK>;
    for (var r = 0u; r < MM_BLOCK; r++) {
        ai[r] = mp.a_off + min(m0 + r, mp.m - 1u) * mp.a_m;
        bi[r] = mp.b_off + min(n0 + r, mp.n - 1u) * mp.b_n;
    }
    var acc: array<array<f32, MM_BLOCK>, MM_BLOCK>; // [row][column]
    for (var k = 0u; k < mp.k; k++) {
        var av: array<f32, MM_BLOCK>;
        var bv: array<f32, MM_BLOCK>;
        for (var r = 0u; r < MM_BLOCK; r++) {
            av[r] = a[ai[r] + k * mp.a_k];
            bv[r] = b[bi[r] + k * mp.b_k];
        }
        for (var r = 0u; r < MM_BLOCK; r++) {
            for (var q = 0u; q < MM_BLOCK; q++) {
                acc[r][q] += av[r] * bv[q];
            }
        }
    }
    for (var r = 0u; r < MM_BLOCK; r++) {
        for (var q = 0u; q < MM_BLOCK; q++) {
            let row = m0 + r;
            let col = n0 + q;
            if (row < mp.m && col < mp.n) {
                var v = acc[r][q];
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
