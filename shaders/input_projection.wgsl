// input_projection: the input half of every gate, for all time steps and directions at once,
// any K and N.
//   out[d][m][n] = sum_k a[m][k] * w[d][k][n] + bias[d][n]
//   a: [M, K] (M = T*B rows of the layer input, time-major), read as Wide4s
//   w: [D, ceil(K/4), ceil(N/4), 16] in k-quads (a column quad's weights of four inputs, 16
//      floats: two Wide8; N = H*G gate-interleaved columns n = j*G + g, pre-transposed),
//      blocked (shared/blocked.wgsl), zeros past K and N
//   bias: [D, N] (input biases and the recurrent biases that commute: see pack.rs)
//   out: [D, M, N]
// Versions:
//   8x4 register block of scalar loads, any K and N (kept until 2026-11-27 for K or N not a
//   multiple of 4, where it ran 17x slower than the vec4 kernel on lavapipe).
//   4x4 register block of vec4 loads, K and N multiples of 4; per 4 k, 4 vec4 loads of a and 4
//   of w feed 64 multiply-adds (about 11 GFLOP/s on lavapipe).
//   An 8x4 block; per 4 k, 8 vec4 loads of a and 4 of w feed 128 multiply-adds (about 14.6
//   GFLOP/s on lavapipe; 16 rows, without lane sharing, spilled and lost at K = 1024).
//   On devices that share lanes (shared/lanes.wgsl), a of the block's rows loaded once per
//   subgroup, chunks of 4 * LANES inputs (workgroups of 64 columns: one row block each); then
//   a 16x4 block (module constant ROWS = 16, for many rows): each weight load feeds 16 rows
//   (LSTM H1024 B16 T100 on lavapipe: 8x4 unshared 907 ms, shared 507 ms, 16x4 about 370 ms).
//   Wide loads (shared/wide_loads.wgsl, CPU drivers): weights in k-quads, two loads of four
//   u64 per four inputs where there were four loads of four floats (LSTM H1024 B16 T100
//   projection on lavapipe 365 -> 310 ms).
//   A 32x4 block on CPU drivers from 256 rows, once the arrays were sized by ROWS and the
//   weights read wide (LSTM H1024 B16 T100 projection 310 -> 290 ms on lavapipe).
//   a read as Wide4s too (two u64 per vec4, chunks of 4 * LANES inputs; as Wide8s, chunks of
//   8 * LANES, the chunk's 16 rows of eight floats spilled: 310 -> 384 ms): LSTM H1024 B16 T50
//   projection 147 -> 124 ms, GRU 110 -> 92 ms on lavapipe.
//   Any K and N (one kernel for every layer): rows of a that do not start on a vec4 read as
//   two vec4s (pipeline constant INPUT_ALIGNED where K % 4 == 0), the inputs of a last,
//   partial quad past K zeroed, out and bias written and read as floats (at H1023 B16 T50 on
//   lavapipe the projection took 2100 ms with the scalar kernel, 187 ms with this one; H1024
//   unchanged, 122-127 -> 127-132 ms). No loops or dynamic indices in the loops over the rows:
//   one of them made lavapipe keep acc in memory, the whole kernel 3x slower.
//   Two column quads per invocation where lanes are shared (PAIRED, shared/lanes.wgsl): each
//   shared chunk of a feeds twice the columns (GRU H1024 B16 T100 projection 189 -> 168 ms on
//   lavapipe; a as Wide8s, or the weights or a through textures, gained nothing).

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

// Rows per invocation: ROWS, a constant of each pipeline's module (kernels.rs `Kernel::source`;
// kernels::WIDE_ROWS, WIDEST_ROWS or PROJECTION_ROWS).

// Pipeline constant: every row of a starts on a vec4 (K % 4 == 0), so a_vec4 is one load.
override INPUT_ALIGNED: bool = false;

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<Wide4>;
@group(0) @binding(2) var<storage, read> w: array<Wide8>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// a[i .. i+4]. Past a row's last whole quad it reaches into the next row, or past the end of
// a for the last row (an access that robust buffer access or wgpu's bounds checks keep in the
// buffer); the caller zeroes those inputs.
fn a_vec4(i: u32) -> vec4<f32> {
    let lo = wide4(a[i / 4u]);
    let o = i % 4u;
    if (INPUT_ALIGNED || o == 0u) {
        return lo;
    }
    return joined_vec4(lo, wide4(a[i / 4u + 1u]), o);
}

@compute @workgroup_size(64, 1, 1)
fn input_projection(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * ROWS;
    let d = gid.z;
    let n4 = (p.n + 3u) / 4u;
    let full = p.k / 4u; // whole k-quads; a last partial one holds p.k % 4 inputs
    if (row0 >= p.m || (gid.x >= n4 && !SHARE_LANES)) {
        return;
    }
    // this invocation's column quad, and with PAIRED the one UNIT_BLOCK after it
    // (shared/lanes.wgsl); quads past N stay for lane sharing and write nothing
    let q0 = paired_unit(gid.x);
    let q1 = q0 + UNIT_BLOCK;
    let lane = share_lane();
    // rows past M read the last row (their results are not written)
    var r: array<u32, ROWS>;
    for (var i = 0u; i < ROWS; i++) {
        r[i] = min(row0 + i, p.m - 1u) * p.k;
    }
    var acc: array<vec4<f32>, ROWS>;
    var acc1: array<vec4<f32>, ROWS>; // q1's (PAIRED only)
    var wi = input_quad(d, p.k, n4, min(q0, n4 - 1u)) * 2u; // in Wide8s; a quad is two
    var wi1 = input_quad(d, p.k, n4, min(q1, n4 - 1u)) * 2u;
    var ks = 0u; // quads of k read in chunks shared across lanes (shared/lanes.wgsl)
    if (SHARE_LANES) {
        ks = full - full % LANES;
    }
    var av: array<vec4<f32>, ROWS>;
    for (var kk0 = 0u; kk0 < ks; kk0 += LANES) {
        var ac: array<vec4<f32>, ROWS>; // lane l holds quad kk0 + l of each row
        for (var i = 0u; i < ROWS; i++) {
            ac[i] = a_vec4(r[i] + 4u * (kk0 + lane));
        }
        for (var q = 0u; q < LANES; q++) {
            for (var i = 0u; i < ROWS; i++) {
                av[i] = lane_vec4(ac[i], q);
            }
            add_block(&acc, wi, av);
            wi += 2u * UNIT_BLOCK;
            if (PAIRED) {
                add_block(&acc1, wi1, av);
                wi1 += 2u * UNIT_BLOCK;
            }
        }
    }
    // the rest, a last, partial quad included: its vec4s reach into the next row (or the
    // buffer's zero padding), and those inputs are zeroed
    for (var kk = ks; kk < (p.k + 3u) / 4u; kk++) {
        let inside = vec4<u32>(4u * kk) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.k);
        for (var i = 0u; i < ROWS; i++) {
            av[i] = select(vec4<f32>(0.0), a_vec4(r[i] + 4u * kk), inside);
        }
        add_block(&acc, wi, av);
        wi += 2u * UNIT_BLOCK;
        if (PAIRED) {
            add_block(&acc1, wi1, av);
            wi1 += 2u * UNIT_BLOCK;
        }
    }
    store_block(acc, d, row0, q0);
    if (PAIRED) {
        store_block(acc1, d, row0, q1);
    }
}

// out = acc + bias for column quad c4 of the block's rows inside M and columns inside N.
fn store_block(acc: array<vec4<f32>, ROWS>, d: u32, row0: u32, c4: u32) {
    if (c4 >= (p.n + 3u) / 4u) {
        return;
    }
    // (no loops inside the loop over the rows below: lavapipe would then not unroll it, and
    // indexing acc with a variable puts it in memory, the whole kernel 3x slower)
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
