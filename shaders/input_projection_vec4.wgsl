// input_projection_vec4: input_projection.wgsl for K % 4 == 0 and N % 4 == 0, the common case
// (its own file because its buffers are read as vec4 arrays).
//   out[d][m][n] = sum_k a[m][k] * w[d][k][n] + bias[d][n]
//   a: [M, K/4] vec4   w: [D, K, N/4] vec4, blocked (shared/blocked.wgsl)   bias: [D, N/4] vec4
//   out: [D, M, N/4] vec4
// Versions:
//   input_projection_vec4: each invocation a 4x4 register block; per 4 k, 4 vec4 loads of a and
//   4 of w feed 64 multiply-adds.

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
    let row0 = gid.y * 4u;
    let d = gid.z;
    let n4 = p.n / 4u;
    let k4 = p.k / 4u;
    if (c4 >= n4 || row0 >= p.m) {
        return;
    }
    // rows past M read the last row (their results are not written)
    let r0 = row0 * k4;
    let r1 = min(row0 + 1u, p.m - 1u) * k4;
    let r2 = min(row0 + 2u, p.m - 1u) * k4;
    let r3 = min(row0 + 3u, p.m - 1u) * k4;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var wi = blocked_unit(d, p.k, n4, c4);
    for (var kk = 0u; kk < k4; kk++) {
        let w0 = w[wi];
        let w1 = w[wi + UNIT_BLOCK];
        let w2 = w[wi + 2u * UNIT_BLOCK];
        let w3 = w[wi + 3u * UNIT_BLOCK];
        wi += 4u * UNIT_BLOCK;
        let a0 = a[r0 + kk];
        let a1 = a[r1 + kk];
        let a2 = a[r2 + kk];
        let a3 = a[r3 + kk];
        acc0 += a0.x * w0 + a0.y * w1 + a0.z * w2 + a0.w * w3;
        acc1 += a1.x * w0 + a1.y * w1 + a1.z * w2 + a1.w * w3;
        acc2 += a2.x * w0 + a2.y * w1 + a2.z * w2 + a2.w * w3;
        acc3 += a3.x * w0 + a3.y * w1 + a3.z * w2 + a3.w * w3;
    }
    let bv = bias[d * n4 + c4];
    let o = (d * p.m + row0) * n4 + c4;
    out[o] = acc0 + bv;
    if (row0 + 1u < p.m) {
        out[o + n4] = acc1 + bv;
    }
    if (row0 + 2u < p.m) {
        out[o + 2u * n4] = acc2 + bv;
    }
    if (row0 + 3u < p.m) {
        out[o + 3u * n4] = acc3 + bv;
    }
}
