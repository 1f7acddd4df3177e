// matmul: C = A·B (+ C) (+ bias), every operand addressed by offset and strides, so one kernel
// serves every product of training: the input projection x·Wᵀ + Wb, and after the backward walk
// dW = dGᵀ·X, dR = dGᵀ·H_prev, dX = dG·W, dW_hr = dHᵀ·M, and column sums (B = ones, strides 0).
//   a: A [M, K] at a_off + m*a_m + k*a_k       b: B [K, N] at b_off + k*b_k + n*b_n
//   c: C [M, N] at c_off + m*c_m + n*c_n       bias [N] in b at bias_off (FLAG_MM_BIAS)
// Workgroup: a MM_TILE x MM_TILE tile of C; A and B pass through workgroup memory in K tiles.
// Versions: matmul (this file): one output per invocation, square tiles.

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

var<workgroup> a_tile: array<array<f32, MM_TILE>, MM_TILE>; // [m][k]
var<workgroup> b_tile: array<array<f32, MM_TILE>, MM_TILE>; // [k][n]

@compute @workgroup_size(MM_TILE, MM_TILE, 1)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) li: vec3<u32>) {
    let row = wg.y * MM_TILE + li.y;
    let col = wg.x * MM_TILE + li.x;
    var acc = 0.0;
    for (var k0 = 0u; k0 < mp.k; k0 += MM_TILE) {
        // invocation (x, y) loads A[row, k0 + x] and B[k0 + y, col]
        let ka = k0 + li.x;
        var av = 0.0;
        if (row < mp.m && ka < mp.k) {
            av = a[mp.a_off + row * mp.a_m + ka * mp.a_k];
        }
        a_tile[li.y][li.x] = av;
        let kb = k0 + li.y;
        var bv = 0.0;
        if (col < mp.n && kb < mp.k) {
            bv = b[mp.b_off + kb * mp.b_k + col * mp.b_n];
        }
        b_tile[li.y][li.x] = bv;
        workgroupBarrier();
        for (var kk = 0u; kk < MM_TILE; kk++) {
            acc += a_tile[li.y][kk] * b_tile[kk][li.x];
        }
        workgroupBarrier();
    }
    if (row >= mp.m || col >= mp.n) {
        return;
    }
    if ((mp.flags & FLAG_MM_BIAS) != 0u) {
        acc += b[mp.bias_off + col];
    }
    let ci = mp.c_off + row * mp.c_m + col * mp.c_n;
    if ((mp.flags & FLAG_MM_ACCUMULATE) != 0u) {
        acc += c[ci];
    }
    c[ci] = acc;
}
