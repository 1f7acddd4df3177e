// input_projection: the input half of every gate, for all time steps and directions at once.
//   out[d][m][n] = sum_k a[m][k] * w[d][k][n] + bias[d][n]
//   a:    [M, K]     M = T*B rows of the layer input (time-major)
//   w:    [D, K, N]  N = H*G, gate-interleaved columns n = j*G + g, pre-transposed, blocked by
//                    4 columns (shared/blocked.wgsl; padding columns hold zeros)
//   bias: [D, N]     input biases (and the recurrent biases that commute: see pack.rs)
//   out:  [D, M, N]
// Versions:
//   input_projection: each invocation computes an 8x4 register block (8 rows, 4 columns), scalar
//   loads, bounds checked.

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn input_projection(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col0 = gid.x * 4u;
    let row0 = gid.y * 8u;
    let d = gid.z;
    if (col0 >= p.n || row0 >= p.m) {
        return;
    }
    let ncols = min(4u, p.n - col0);
    let nrows = min(8u, p.m - row0);
    var acc: array<vec4<f32>, 8>;
    var wi = blocked_unit(d, p.k, (p.n + 3u) / 4u, gid.x) * 4u;
    for (var k = 0u; k < p.k; k++) {
        let wv = vec4<f32>(w[wi], w[wi + 1u], w[wi + 2u], w[wi + 3u]);
        wi += 4u * UNIT_BLOCK;
        for (var r = 0u; r < nrows; r++) {
            acc[r] += a[(row0 + r) * p.k + k] * wv;
        }
    }
    for (var r = 0u; r < nrows; r++) {
        let o = (d * p.m + row0 + r) * p.n + col0;
        for (var c = 0u; c < ncols; c++) {
            out[o + c] = acc[r][c] + bias[d * p.n + col0 + c];
        }
    }
}
