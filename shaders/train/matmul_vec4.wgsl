// matmul_kk, matmul_kn, matmul_mn: `matmul` (train/matmul.wgsl), C = A·B (+ C) (+ bias), with A
// and B read as vec4s along the dimension in which each is contiguous. The plan picks one where
// that dimension's stride is 1 and the offset, the other stride and the dimension's length are
// multiples of 4 (`plan::train::Matmul::kernel`), so every vec4 lies inside the operand; the
// scalar `matmul` elsewhere. Same blocks as `matmul`: invocation (x, y) keeps the MM_ROWS x
// MM_BLOCK (8 x 4) block of C at rows y*MM_ROWS, columns x*MM_BLOCK in eight vec4 accumulators;
// rows and columns past C's edge are computed from clamped loads and not stored.
//   a: A [M, K] at a_off + m*a_m + k*a_k       b: B [K, N] at b_off + k*b_k + n*b_n
// Versions, by the operands' layouts:
//   matmul_kk: A rows and B columns along k (x·Wᵀ, the head's logits): 8 + 4 vec4 loads for
//   128 products per four k.
//   matmul_kn: A rows along k, B rows along n (dX = dG·W, the head's dfeat): 8 + 4 vec4 loads
//   for 128 products per four k.
//   matmul_mn: A columns along m, B rows along n (dW = dGᵀ·X, dR, dW_hr, the head's dW): 2 + 1
//   vec4 loads for 32 products per k.
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
    let n0 = gid.x * MM_BLOCK;
    if (m0 >= mp.m || n0 >= mp.n) {
        return;
    }
    let rows = a_rows(m0);
    let ia0 = rows[0];
    let ia1 = rows[1];
    // vec4 indices of the block's four columns of B at k = 0 (b_k = 1), clamped to the last
    let ib = (mp.b_off + min(n0 + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(mp.n - 1u)) * mp.b_n) / 4u;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    for (var k = 0u; k < mp.k / 4u; k++) {
        // column q: B[4k..4k+3, n0 + q]; a row's vec4 times it gives that row's four outputs
        let bm = mat4x4<f32>(b[ib.x + k], b[ib.y + k], b[ib.z + k], b[ib.w + k]);
        acc0 += a[ia0.x + k] * bm;
        acc1 += a[ia0.y + k] * bm;
        acc2 += a[ia0.z + k] * bm;
        acc3 += a[ia0.w + k] * bm;
        acc4 += a[ia1.x + k] * bm;
        acc5 += a[ia1.y + k] * bm;
        acc6 += a[ia1.z + k] * bm;
        acc7 += a[ia1.w + k] * bm;
    }
    store_block(m0, n0, mat4x4<f32>(acc0, acc1, acc2, acc3), mat4x4<f32>(acc4, acc5, acc6, acc7), bias_at(n0));
}

@compute @workgroup_size(MM_GROUP, MM_GROUP, 1)
fn matmul_kn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m0 = gid.y * MM_ROWS;
    let n0 = gid.x * MM_BLOCK;
    if (m0 >= mp.m || n0 >= mp.n) {
        return;
    }
    let rows = a_rows(m0);
    let ia0 = rows[0];
    let ia1 = rows[1];
    // B[k, n0..n0+3] (b_n = 1) at vec4 ib + k * row
    let row = mp.b_k / 4u;
    var ib = (mp.b_off + n0) / 4u;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    for (var k = 0u; k < mp.k / 4u; k++) {
        // column j: B[4k + j, n0..n0+3]; it times a row's vec4 gives that row's four outputs
        let bm = mat4x4<f32>(b[ib], b[ib + row], b[ib + 2u * row], b[ib + 3u * row]);
        acc0 += bm * a[ia0.x + k];
        acc1 += bm * a[ia0.y + k];
        acc2 += bm * a[ia0.z + k];
        acc3 += bm * a[ia0.w + k];
        acc4 += bm * a[ia1.x + k];
        acc5 += bm * a[ia1.y + k];
        acc6 += bm * a[ia1.z + k];
        acc7 += bm * a[ia1.w + k];
        ib += 4u * row;
    }
    store_block(m0, n0, mat4x4<f32>(acc0, acc1, acc2, acc3), mat4x4<f32>(acc4, acc5, acc6, acc7), bias_at(n0));
}

@compute @workgroup_size(MM_GROUP, MM_GROUP, 1)
fn matmul_mn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m0 = gid.y * MM_ROWS;
    let n0 = gid.x * MM_BLOCK;
    if (m0 >= mp.m || n0 >= mp.n) {
        return;
    }
    // A[m0..m0+3, k] and A[m0+4..m0+7, k] (a_m = 1) at vec4s ia and ia + hi (the first again
    // where rows 4-7 are past C's edge); B[k, n0..n0+3] (b_n = 1) at ib
    let a_row = mp.a_k / 4u;
    let b_row = mp.b_k / 4u;
    let hi = select(1u, 0u, m0 + 4u >= mp.m);
    var ia = (mp.a_off + m0) / 4u;
    var ib = (mp.b_off + n0) / 4u;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    for (var k = 0u; k < mp.k; k++) {
        let lo = a[ia];
        let up = a[ia + hi];
        let bv = b[ib];
        acc0 += lo.x * bv;
        acc1 += lo.y * bv;
        acc2 += lo.z * bv;
        acc3 += lo.w * bv;
        acc4 += up.x * bv;
        acc5 += up.y * bv;
        acc6 += up.z * bv;
        acc7 += up.w * bv;
        ia += a_row;
        ib += b_row;
    }
    store_block(m0, n0, mat4x4<f32>(acc0, acc1, acc2, acc3), mat4x4<f32>(acc4, acc5, acc6, acc7), bias_at(n0));
}
