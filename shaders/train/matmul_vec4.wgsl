// matmul_kk, matmul_kn, matmul_mn: `matmul` (train/matmul.wgsl), C = A·B (+ C) (+ bias), with A
// and B read as vec4s along the dimension in which each is contiguous. The plan picks one where
// that dimension's stride is 1 and the offset, the other stride and the dimension's length are
// multiples of 4 (`plan::train::Matmul::kernel`), so every vec4 lies inside the operand; the
// scalar `matmul` elsewhere. Invocation (x, y) keeps the MM_ROWS x MM_WIDE (8 x 8) block of C
// at rows y*MM_ROWS, columns x*MM_WIDE in sixteen vec4 accumulators, twice `matmul`'s block:
// each load of A serves eight columns; rows and columns past C's edge are computed from clamped
// loads and not stored.
//   a: A [M, K] at a_off + m*a_m + k*a_k       b: B [K, N] at b_off + k*b_k + n*b_n
// Versions, by the operands' layouts:
//   matmul_kk: A rows and B columns along k (x·Wᵀ, the head's logits).
//   matmul_kn: A rows along k, B rows along n (dX = dG·W, the head's dfeat).
//   matmul_mn: A columns along m, B rows along n (dW = dGᵀ·X, dR, dW_hr, the head's dW).
//   8 x 4 blocks (as `matmul`): 8 + 4 vec4 loads for 128 products per four k (kk, kn), 2 + 1 for
//   32 products per k (mn).
//   8 x 8 blocks (this file): 8 + 8 vec4 loads for 256 products per four k (kk, kn), 2 + 2 for
//   64 products per k (mn).
// uses: train/matmul_params

@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;

// The bias of columns n0..n0+3 (clamped to the last), zero without FLAG_MM_BIAS.
fn bias_at(n0: u32) -> vec4<f32> {
    if ((mp.flags & FLAG_MM_BIAS) == 0u) {
        return vec4<f32>(0.0);
    }
    let i = mp.bias_off + min(n0 + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(mp.n - 1u));
    return vec4<f32>(b[i.x / 4u][i.x % 4u], b[i.y / 4u][i.y % 4u], b[i.z / 4u][i.z % 4u], b[i.w / 4u][i.w % 4u]);
}

// vec4 indices of the block's eight rows of A at k = 0 (a_k = 1), clamped to the last row.
fn a_rows(m0: u32) -> array<vec4<u32>, 2> {
    let quad = vec4<u32>(0u, 1u, 2u, 3u);
    let last = vec4<u32>(mp.m - 1u);
    return array<vec4<u32>, 2>(
        (mp.a_off + min(m0 + quad, last) * mp.a_m) / 4u,
        (mp.a_off + min(m0 + 4u + quad, last) * mp.a_m) / 4u,
    );
}

@compute @workgroup_size(MM_GROUP, MM_GROUP, 1)
fn matmul_kk(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m0 = gid.y * MM_ROWS;
    let n0 = gid.x * MM_WIDE;
    if (m0 >= mp.m || n0 >= mp.n) {
        return;
    }
    let rows = a_rows(m0);
    let ia0 = rows[0];
    let ia1 = rows[1];
    // vec4 indices of the block's eight columns of B at k = 0 (b_k = 1), clamped to the last
    let last = vec4<u32>(mp.n - 1u);
    let quad = vec4<u32>(0u, 1u, 2u, 3u);
    let il = (mp.b_off + min(n0 + quad, last) * mp.b_n) / 4u;
    let ih = (mp.b_off + min(n0 + 4u + quad, last) * mp.b_n) / 4u;
    // acc_r_l: row r, columns n0..n0+3; acc_r_h: columns n0+4..n0+7
    var acc0_l = vec4<f32>(0.0);
    var acc1_l = vec4<f32>(0.0);
    var acc2_l = vec4<f32>(0.0);
    var acc3_l = vec4<f32>(0.0);
    var acc4_l = vec4<f32>(0.0);
    var acc5_l = vec4<f32>(0.0);
    var acc6_l = vec4<f32>(0.0);
    var acc7_l = vec4<f32>(0.0);
    var acc0_h = vec4<f32>(0.0);
    var acc1_h = vec4<f32>(0.0);
    var acc2_h = vec4<f32>(0.0);
    var acc3_h = vec4<f32>(0.0);
    var acc4_h = vec4<f32>(0.0);
    var acc5_h = vec4<f32>(0.0);
    var acc6_h = vec4<f32>(0.0);
    var acc7_h = vec4<f32>(0.0);
    for (var k = 0u; k < mp.k / 4u; k++) {
        // column q: B[4k..4k+3, n0 + q]; a row's vec4 times it gives that row's four outputs
        let bl = mat4x4<f32>(b[il.x + k], b[il.y + k], b[il.z + k], b[il.w + k]);
        let bh = mat4x4<f32>(b[ih.x + k], b[ih.y + k], b[ih.z + k], b[ih.w + k]);
        let a0 = a[ia0.x + k];
        let a1 = a[ia0.y + k];
        let a2 = a[ia0.z + k];
        let a3 = a[ia0.w + k];
        let a4 = a[ia1.x + k];
        let a5 = a[ia1.y + k];
        let a6 = a[ia1.z + k];
        let a7 = a[ia1.w + k];
        acc0_l += a0 * bl;
        acc1_l += a1 * bl;
        acc2_l += a2 * bl;
        acc3_l += a3 * bl;
        acc4_l += a4 * bl;
        acc5_l += a5 * bl;
        acc6_l += a6 * bl;
        acc7_l += a7 * bl;
        acc0_h += a0 * bh;
        acc1_h += a1 * bh;
        acc2_h += a2 * bh;
        acc3_h += a3 * bh;
        acc4_h += a4 * bh;
        acc5_h += a5 * bh;
        acc6_h += a6 * bh;
        acc7_h += a7 * bh;
    }
    store_block(m0, n0, mat4x4<f32>(acc0_l, acc1_l, acc2_l, acc3_l), mat4x4<f32>(acc4_l, acc5_l, acc6_l, acc7_l), bias_at(n0));
    if (n0 + 4u < mp.n) {
        store_block(m0, n0 + 4u, mat4x4<f32>(acc0_h, acc1_h, acc2_h, acc3_h), mat4x4<f32>(acc4_h, acc5_h, acc6_h, acc7_h), bias_at(n0 + 4u));
    }
}

@compute @workgroup_size(MM_GROUP, MM_GROUP, 1)
fn matmul_kn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m0 = gid.y * MM_ROWS;
    let n0 = gid.x * MM_WIDE;
    if (m0 >= mp.m || n0 >= mp.n) {
        return;
    }
    let rows = a_rows(m0);
    let ia0 = rows[0];
    let ia1 = rows[1];
    // B[k, n0..n0+3] and B[k, n0+4..n0+7] (b_n = 1) at vec4s ib + k * row and that + right (the
    // first again where columns 4-7 are past C's edge)
    let row = mp.b_k / 4u;
    let right = select(1u, 0u, n0 + 4u >= mp.n);
    var ib = (mp.b_off + n0) / 4u;
    // acc_r_l: row r, columns n0..n0+3; acc_r_h: columns n0+4..n0+7
    var acc0_l = vec4<f32>(0.0);
    var acc1_l = vec4<f32>(0.0);
    var acc2_l = vec4<f32>(0.0);
    var acc3_l = vec4<f32>(0.0);
    var acc4_l = vec4<f32>(0.0);
    var acc5_l = vec4<f32>(0.0);
    var acc6_l = vec4<f32>(0.0);
    var acc7_l = vec4<f32>(0.0);
    var acc0_h = vec4<f32>(0.0);
    var acc1_h = vec4<f32>(0.0);
    var acc2_h = vec4<f32>(0.0);
    var acc3_h = vec4<f32>(0.0);
    var acc4_h = vec4<f32>(0.0);
    var acc5_h = vec4<f32>(0.0);
    var acc6_h = vec4<f32>(0.0);
    var acc7_h = vec4<f32>(0.0);
    for (var k = 0u; k < mp.k / 4u; k++) {
        // column j: B[4k + j, n0..n0+3] (bl) and B[4k + j, n0+4..n0+7] (bh); each times a row's
        // vec4 gives that row's four outputs
        let bl = mat4x4<f32>(b[ib], b[ib + row], b[ib + 2u * row], b[ib + 3u * row]);
        let jh = ib + right;
        let bh = mat4x4<f32>(b[jh], b[jh + row], b[jh + 2u * row], b[jh + 3u * row]);
        let a0 = a[ia0.x + k];
        let a1 = a[ia0.y + k];
        let a2 = a[ia0.z + k];
        let a3 = a[ia0.w + k];
        let a4 = a[ia1.x + k];
        let a5 = a[ia1.y + k];
        let a6 = a[ia1.z + k];
        let a7 = a[ia1.w + k];
        acc0_l += bl * a0;
        acc1_l += bl * a1;
        acc2_l += bl * a2;
        acc3_l += bl * a3;
        acc4_l += bl * a4;
        acc5_l += bl * a5;
        acc6_l += bl * a6;
        acc7_l += bl * a7;
        acc0_h += bh * a0;
        acc1_h += bh * a1;
        acc2_h += bh * a2;
        acc3_h += bh * a3;
        acc4_h += bh * a4;
        acc5_h += bh * a5;
        acc6_h += bh * a6;
        acc7_h += bh * a7;
        ib += 4u * row;
    }
    store_block(m0, n0, mat4x4<f32>(acc0_l, acc1_l, acc2_l, acc3_l), mat4x4<f32>(acc4_l, acc5_l, acc6_l, acc7_l), bias_at(n0));
    if (n0 + 4u < mp.n) {
        store_block(m0, n0 + 4u, mat4x4<f32>(acc0_h, acc1_h, acc2_h, acc3_h), mat4x4<f32>(acc4_h, acc5_h, acc6_h, acc7_h), bias_at(n0 + 4u));
    }
}

@compute @workgroup_size(MM_GROUP, MM_GROUP, 1)
fn matmul_mn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m0 = gid.y * MM_ROWS;
    let n0 = gid.x * MM_WIDE;
    if (m0 >= mp.m || n0 >= mp.n) {
        return;
    }
    // A[m0..m0+3, k] and A[m0+4..m0+7, k] (a_m = 1) at vec4s ia and ia + hi (the first again
    // where rows 4-7 are past C's edge); B[k, n0..n0+3] and B[k, n0+4..n0+7] (b_n = 1) at ib and
    // ib + right (the first again where columns 4-7 are)
    let a_row = mp.a_k / 4u;
    let b_row = mp.b_k / 4u;
    let hi = select(1u, 0u, m0 + 4u >= mp.m);
    let right = select(1u, 0u, n0 + 4u >= mp.n);
    var ia = (mp.a_off + m0) / 4u;
    var ib = (mp.b_off + n0) / 4u;
    // acc_r_l: row r, columns n0..n0+3; acc_r_h: columns n0+4..n0+7
    var acc0_l = vec4<f32>(0.0);
    var acc1_l = vec4<f32>(0.0);
    var acc2_l = vec4<f32>(0.0);
    var acc3_l = vec4<f32>(0.0);
    var acc4_l = vec4<f32>(0.0);
    var acc5_l = vec4<f32>(0.0);
    var acc6_l = vec4<f32>(0.0);
    var acc7_l = vec4<f32>(0.0);
    var acc0_h = vec4<f32>(0.0);
    var acc1_h = vec4<f32>(0.0);
    var acc2_h = vec4<f32>(0.0);
    var acc3_h = vec4<f32>(0.0);
    var acc4_h = vec4<f32>(0.0);
    var acc5_h = vec4<f32>(0.0);
    var acc6_h = vec4<f32>(0.0);
    var acc7_h = vec4<f32>(0.0);
    for (var k = 0u; k < mp.k; k++) {
        let lo = a[ia];
        let up = a[ia + hi];
        let bl = b[ib];
        let bh = b[ib + right];
        acc0_l += lo.x * bl;
        acc1_l += lo.y * bl;
        acc2_l += lo.z * bl;
        acc3_l += lo.w * bl;
        acc4_l += up.x * bl;
        acc5_l += up.y * bl;
        acc6_l += up.z * bl;
        acc7_l += up.w * bl;
        acc0_h += lo.x * bh;
        acc1_h += lo.y * bh;
        acc2_h += lo.z * bh;
        acc3_h += lo.w * bh;
        acc4_h += up.x * bh;
        acc5_h += up.y * bh;
        acc6_h += up.z * bh;
        acc7_h += up.w * bh;
        ia += a_row;
        ib += b_row;
    }
    store_block(m0, n0, mat4x4<f32>(acc0_l, acc1_l, acc2_l, acc3_l), mat4x4<f32>(acc4_l, acc5_l, acc6_l, acc7_l), bias_at(n0));
    if (n0 + 4u < mp.n) {
        store_block(m0, n0 + 4u, mat4x4<f32>(acc0_h, acc1_h, acc2_h, acc3_h), mat4x4<f32>(acc4_h, acc5_h, acc6_h, acc7_h), bias_at(n0 + 4u));
    }
}
