// input_projection_vec4: input_projection.wgsl for K % 4 == 0 and N % 4 == 0, the common case
// (its own file because its buffers are read as vec4 arrays).
//   out[d][m][n] = sum_k a[m][k] * w[d][k][n] + bias[d][n]
//   a: [M, K/4] vec4, read as Wide4   w: [D, K/4, N/4, 16] in k-quads (a column quad's weights
//   of four inputs, 16 floats: two Wide8), blocked (shared/blocked.wgsl)   bias: [D, N/4] vec4
//   out: [D, M, N/4] vec4
// Versions:
//   4x4 register block per invocation; per 4 k, 4 vec4 loads of a and 4 of w feed 64
//   multiply-adds (about 11 GFLOP/s on lavapipe).
//   input_projection_vec4: an 8x4 block; per 4 k, 8 vec4 loads of a and 4 of w feed 128
//   multiply-adds (about 14.6 GFLOP/s on lavapipe; 16 rows, without lane sharing, spilled and
//   lost at K = 1024).
//   On devices that share lanes (shared/lanes.wgsl), a of the block's rows loaded once per
//   subgroup, chunks of 4 * LANES inputs (workgroups of 64 columns: one row block each); then
//   a 16x4 block (module constant ROWS = 16, for many rows): each weight load feeds 16 rows
//   (LSTM H1024 B16 T100 on lavapipe: 8x4 unshared 907 ms, shared 507 ms, 16x4 about 370 ms).
//   Wide loads (shared/wide_loads.wgsl, CPU drivers): weights in k-quads, two loads of four
//   u64 per four inputs where there were four loads of four floats (LSTM H1024 B16 T100
//   projection on lavapipe 365 -> 310 ms). Reading a as pairs too (chunks of 8 * LANES inputs)
//   was slower, 310 -> 384 ms: the chunk's 16 rows of eight floats spill.
//   A 32x4 block on CPU drivers from 256 rows, once the arrays were sized by ROWS and the
//   weights read wide (LSTM H1024 B16 T100 projection 310 -> 290 ms on lavapipe).

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

// Rows per invocation: ROWS, a constant of each pipeline's module (kernels.rs `Kernel::source`;
// kernels::WIDE_ROWS or WIDEST_ROWS).

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<Wide4>;
@group(0) @binding(2) var<storage, read> w: array<Wide8>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(64, 1, 1)
fn input_projection_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * ROWS;
    let d = gid.z;
    let n4 = p.n / 4u;
    let k4 = p.k / 4u;
    if (row0 >= p.m || (gid.x >= n4 && !SHARE_LANES)) {
        return;
    }
    let c4 = min(gid.x, n4 - 1u); // invocations past N stay for lane sharing and write nothing
    let lane = share_lane();
    // rows past M read the last row (their results are not written)
    var r: array<u32, ROWS>;
    for (var i = 0u; i < ROWS; i++) {
        r[i] = min(row0 + i, p.m - 1u) * k4;
    }
    var acc: array<vec4<f32>, ROWS>;
    var wi = input_quad(d, p.k, n4, c4) * 2u; // in Wide8s; a quad is two
    var ks = 0u; // vec4s of k read in chunks shared across lanes (shared/lanes.wgsl)
    if (SHARE_LANES) {
        ks = k4 - k4 % LANES;
    }
    var av: array<vec4<f32>, ROWS>;
    for (var kk0 = 0u; kk0 < ks; kk0 += LANES) {
        var ac: array<vec4<f32>, ROWS>; // lane l holds vec4 kk0 + l of each row
        for (var i = 0u; i < ROWS; i++) {
            ac[i] = wide4(a[r[i] + kk0 + lane]);
        }
        for (var q = 0u; q < LANES; q++) {
            for (var i = 0u; i < ROWS; i++) {
                av[i] = lane_vec4(ac[i], q);
            }
            add_block(&acc, wi, av);
            wi += 2u * UNIT_BLOCK;
        }
    }
    for (var kk = ks; kk < k4; kk++) {
        for (var i = 0u; i < ROWS; i++) {
            av[i] = wide4(a[r[i] + kk]);
        }
        add_block(&acc, wi, av);
        wi += 2u * UNIT_BLOCK;
    }
    if (gid.x >= n4) {
        return;
    }
    let bv = bias[d * n4 + c4];
    let o = (d * p.m + row0) * n4 + c4;
    for (var i = 0u; i < ROWS; i++) {
        if (row0 + i < p.m) {
            out[o + i * n4] = acc[i] + bv;
        }
    }
}

// acc[i] += row i's inputs 4kk .. 4kk+4 (av[i]) times their four vec4s of weights (the k-quad
// whose first Wide8 is wi).
fn add_block(acc: ptr<function, array<vec4<f32>, ROWS>>, wi: u32, av: array<vec4<f32>, ROWS>) {
    let p01 = w[wi];
    let p23 = w[wi + 1u];
    let w0 = wide8_lo(p01);
    let w1 = wide8_hi(p01);
    let w2 = wide8_lo(p23);
    let w3 = wide8_hi(p23);
    for (var i = 0u; i < ROWS; i++) {
        let v = av[i];
        (*acc)[i] += v.x * w0 + v.y * w1 + v.z * w2 + v.w * w3;
    }
}
