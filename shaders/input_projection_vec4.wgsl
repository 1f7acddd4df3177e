// input_projection_vec4: input_projection.wgsl for K % 4 == 0 and N % 4 == 0, the common case
// (its own file because its buffers are read as vec4 arrays).
//   out[d][m][n] = sum_k a[m][k] * w[d][k][n] + bias[d][n]
//   a: [M, K/4] vec4   w: [D, K, N/4] vec4, blocked (shared/blocked.wgsl)   bias: [D, N/4] vec4
//   out: [D, M, N/4] vec4
// Versions:
//   4x4 register block per invocation; per 4 k, 4 vec4 loads of a and 4 of w feed 64
//   multiply-adds (about 11 GFLOP/s on lavapipe).
//   input_projection_vec4: an 8x4 block; per 4 k, 8 vec4 loads of a and 4 of w feed 128
//   multiply-adds (about 14.6 GFLOP/s on lavapipe; 16 rows spill and lose at K = 1024).

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(8, 8, 1)
fn input_projection_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c4 = gid.x;
    let row0 = gid.y * 8u;
    let d = gid.z;
    let n4 = p.n / 4u;
    let k4 = p.k / 4u;
    if (c4 >= n4 || row0 >= p.m) {
        return;
    }
    // rows past M read the last row (their results are not written)
    var r: array<u32, 8>;
    for (var i = 0u; i < 8u; i++) {
        r[i] = min(row0 + i, p.m - 1u) * k4;
    }
    var acc: array<vec4<f32>, 8>;
    var wi = blocked_unit(d, p.k, n4, c4);
    for (var kk = 0u; kk < k4; kk++) {
        let w0 = w[wi];
        let w1 = w[wi + UNIT_BLOCK];
        let w2 = w[wi + 2u * UNIT_BLOCK];
        let w3 = w[wi + 3u * UNIT_BLOCK];
        wi += 4u * UNIT_BLOCK;
        for (var i = 0u; i < 8u; i++) {
            let av = a[r[i] + kk];
            acc[i] += av.x * w0 + av.y * w1 + av.z * w2 + av.w * w3;
        }
    }
    let bv = bias[d * n4 + c4];
    let o = (d * p.m + row0) * n4 + c4;
    for (var i = 0u; i < 8u; i++) {
        if (row0 + i < p.m) {
            out[o + i * n4] = acc[i] + bv;
        }
    }
}
