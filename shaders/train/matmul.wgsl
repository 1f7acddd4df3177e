// matmul: C = A·B (+ C) (+ bias), every operand addressed by offset and strides, so one kernel
// serves every product of training: the input projection x·Wᵀ + Wb, the head, and after the
// backward walk dW = dGᵀ·X, dR = dGᵀ·H_prev, dX = dG·W, dW_hr = dHᵀ·M, and column sums
// (B = ones, strides 0). With FLAG_MM_COPY it copies instead, C[m, n] = A[m, n] at
// a_off + m*a_m + n*a_k: a transpose when the strides say so. FLAG_MM_QUADS stores C's rows
// four to a vec4 (c_index).
//   a: A [M, K] at a_off + m*a_m + k*a_k       b: B [K, N] at b_off + k*b_k + n*b_n
//   c: C [M, N] at c_off + m*c_m + n*c_n       bias [N] in b at bias_off (FLAG_MM_BIAS)
// Invocation (x, y): the MM_ROWS x MM_BLOCK (8 x 4) block of C at rows y*MM_ROWS, columns
// x*MM_BLOCK, kept in registers: each k loads 8 values of A and 4 of B for 32 products.
// Loads past an edge read the last row or column (clamped) and are not stored.
// Versions:
//   4 x 4 blocks in local arrays: 16 products per 8 loads.
//   matmul (this file): 8 x 4 blocks in eight vec4 accumulators, no arrays, no workgroup memory
//   or barriers.
//   matmul_kk, matmul_kn, matmul_mn (train/matmul_vec4.wgsl): the same blocks from vec4 loads
//   along each operand's contiguous dimension, where offsets and strides allow.
//   (square tiles through workgroup memory ran the training products several times slower on
//   CPU drivers, whose workgroup barriers are expensive.)
// uses: train/matmul_params

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

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
                    c[c_index(m0 + r, n0 + q)] = a[mp.a_off + (m0 + r) * mp.a_m + (n0 + q) * mp.a_k];
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
    store_block(m0, n0, mat4x4<f32>(acc0, acc1, acc2, acc3), mat4x4<f32>(acc4, acc5, acc6, acc7), bias_at(n0));
}

// The bias of columns n0..n0+3 (clamped to the last), zero without FLAG_MM_BIAS.
fn bias_at(n0: u32) -> vec4<f32> {
    if ((mp.flags & FLAG_MM_BIAS) == 0u) {
        return vec4<f32>(0.0);
    }
    let i = mp.bias_off + min(n0 + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(mp.n - 1u));
    return vec4<f32>(b[i.x], b[i.y], b[i.z], b[i.w]);
}
