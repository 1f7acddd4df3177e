// input_projection: the input half of every gate, for all time steps and directions at once,
// any K and N.
//   out[d][m][n] = sum_k a[m][k] * w[d][k][n] + bias[d][n]
//   a:    [M, K]  (M = T*B rows of the layer input, time-major), read as F32x4s
//   w:    [D, ceil(K/4), ceil(N/4), 16] in k-quads: a column quad's weights of four inputs,
//         16 floats as an F32x8 pair; N = H*G gate-interleaved columns n = j*G + g; transposed,
//         blocked by UNIT_BLOCK column quads (shared/blocked.wgsl), zeros past K and N
//   bias: [D, N]  (input biases and the recurrent biases that commute: see pack.rs)
//   out:  [D, M, N]
// Invocation (q, block, d): column quad q (columns 4q .. 4q+4) of rows block*ROWS .., direction d.
// Versions (kernels.rs KERNELS has when each runs):
//   input_projection        this file: a ROWS x 4 register block (ROWS = 8, 16, 32 rows: 32 on
//                           CPU drivers from 256 rows); per four inputs, one vec4 of a per row
//                           and an F32x8 pair of weights feed 16 * ROWS multiply-adds.
//   input_projection_lanes  CPU drivers: the rows of a shared across subgroup lanes, two column
//                           quads per invocation.
// Rows that do not start on a vec4 (K % 4 != 0) are read as two vec4s (pipeline constant
// INPUT_ALIGNED where they all do); a last, partial quad's inputs past K are zeroed.
// No loops or dynamic indices inside the loops over the rows: one of them made lavapipe keep
// acc in memory.
// uses: shared/blocked shared/loads shared/vec4_reads

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

// Pipeline constant: every row of a starts on a vec4 (K % 4 == 0), so a_vec4 is one load.
override INPUT_ALIGNED: bool = false;

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<F32x4>;
@group(0) @binding(2) var<storage, read> w: array<F32x8>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn input_projection(@builtin(global_invocation_id) gid: vec3<u32>) {
    let q = gid.x;
    let row0 = gid.y * ROWS;
    let d = gid.z;
    let n4 = (p.n + 3u) / 4u;
    if (row0 >= p.m || q >= n4) {
        return;
    }
    let r = block_rows(row0);
    var acc: array<vec4<f32>, ROWS>;
    var wi = input_quad(d, p.k, n4, q) * 2u; // in F32x8s; a quad is two
    for (var kk = 0u; kk < (p.k + 3u) / 4u; kk++) {
        add_block(&acc, wi, quads_at(r, kk));
        wi += 2u * UNIT_BLOCK;
    }
    store_block(acc, d, row0, q);
}

// Where each of the block's rows starts in a; rows past M read the last row (their results are
// not written).
fn block_rows(row0: u32) -> array<u32, ROWS> {
    var r: array<u32, ROWS>;
    for (var i = 0u; i < ROWS; i++) {
        r[i] = min(row0 + i, p.m - 1u) * p.k;
    }
    return r;
}

// a[i .. i+4]. Past a row's last whole quad it reaches into the next row, or past the end of
// a for the last row (an access that robust buffer access or wgpu's bounds checks keep in the
// buffer); the caller zeroes those inputs.
fn a_vec4(i: u32) -> vec4<f32> {
    let lo = f32x4(a[i / 4u]);
    let o = i % 4u;
    if (INPUT_ALIGNED || o == 0u) {
        return lo;
    }
    return joined_vec4(lo, f32x4(a[i / 4u + 1u]), o);
}

// Inputs 4kk .. 4kk+4 of each of the block's rows (row i starts at r[i]), zeros past K.
fn quads_at(r: array<u32, ROWS>, kk: u32) -> array<vec4<f32>, ROWS> {
    let inside = vec4<u32>(4u * kk) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.k);
    var av: array<vec4<f32>, ROWS>;
    for (var i = 0u; i < ROWS; i++) {
        av[i] = select(vec4<f32>(0.0), a_vec4(r[i] + 4u * kk), inside);
    }
    return av;
}

// out = acc + bias for column quad c4 of the block's rows inside M and columns inside N.
fn store_block(acc: array<vec4<f32>, ROWS>, d: u32, row0: u32, c4: u32) {
    if (c4 >= (p.n + 3u) / 4u) {
        return;
    }
    // (no loops inside the loop over the rows below: lavapipe would then not unroll it, and
    // indexing acc with a variable puts it in memory)
    let col = 4u * c4;
    let cols = min(4u, p.n - col); // columns of the quad inside N
    let last = d * p.n + col + cols - 1u;
    let bi = d * p.n + col;
    let bv = vec4<f32>(bias[bi], bias[min(bi + 1u, last)], bias[min(bi + 2u, last)],
                       bias[min(bi + 3u, last)]); // the columns past N are not written
    for (var i = 0u; i < ROWS; i++) {
        if (row0 + i < p.m) {
            let o = (d * p.m + row0 + i) * p.n + col;
            let v = acc[i] + bv;
            out[o] = v.x;
            if (cols > 1u) {
                out[o + 1u] = v.y;
            }
            if (cols > 2u) {
                out[o + 2u] = v.z;
            }
            if (cols > 3u) {
                out[o + 3u] = v.w;
            }
        }
    }
}

// acc[i] += row i's inputs 4kk .. 4kk+4 (av[i]) times their four vec4s of weights (the k-quad
// whose first F32x8 is wi).
fn add_block(acc: ptr<function, array<vec4<f32>, ROWS>>, wi: u32, av: array<vec4<f32>, ROWS>) {
    let p01 = w[wi];
    let p23 = w[wi + 1u];
    let w0 = f32x8_lo(p01);
    let w1 = f32x8_hi(p01);
    let w2 = f32x8_lo(p23);
    let w3 = f32x8_hi(p23);
    for (var i = 0u; i < ROWS; i++) {
        let v = av[i];
        (*acc)[i] += v.x * w0 + v.y * w1 + v.z * w2 + v.w * w3;
    }
}
