// matmul_kk, matmul_kn, matmul_mn: `matmul` (train/matmul.wgsl), C = A·B (+ C) (+ bias), with A
// and B read as vec4s along the dimension in which each is contiguous. The plan picks one where
// that dimension's stride is 1 and the offset, the other stride and the dimension's length are
// multiples of 4 (`plan::train::Matmul::kernel`), so every vec4 lies inside the operand; the
// scalar `matmul` elsewhere. Invocation (x, y) keeps the MM_ROWS x MM_WIDE (8 x 8) block of C
// at rows y*MM_ROWS, columns x*MM_WIDE in four mat4x4 accumulators (`Block`), twice `matmul`'s:
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

// An invocation's 8 x 8 block of C, in quarters: rows 0-3 (top) and 4-7 (bottom) of columns
// n0..n0+3 (left) and n0+4..n0+7 (right); column vector r of a quarter is its row r.
struct Block {
    top_left: mat4x4<f32>,
    bottom_left: mat4x4<f32>,
    top_right: mat4x4<f32>,
    bottom_right: mat4x4<f32>,
}

// Adds the products of four k to the block: top[r] = A[m0 + r, k..k+3] and bottom[r] =
// A[m0 + 4 + r, k..k+3]; left[j] = B[k + j, n0..n0+3] and right[j] = B[k + j, n0+4..n0+7]
// (column r of left·top is Σ_j left[j]·top[r][j], row r's four outputs).
fn add_products(acc: ptr<function, Block>, top: mat4x4<f32>, bottom: mat4x4<f32>, left: mat4x4<f32>, right: mat4x4<f32>) {
    (*acc).top_left += left * top;
    (*acc).bottom_left += left * bottom;
    (*acc).top_right += right * top;
    (*acc).bottom_right += right * bottom;
}

// The outer product of a column of four rows of C's block and a row of four of its columns:
// column r is `columns * rows[r]`.
fn outer(columns: vec4<f32>, rows: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(columns * rows.x, columns * rows.y, columns * rows.z, columns * rows.w);
}

// Stores the block at rows m0.., columns n0.. (the right half where it is inside C).
fn store_wide(m0: u32, n0: u32, acc: Block) {
    store_block(m0, n0, acc.top_left, acc.bottom_left, bias_at(n0));
    if (n0 + 4u < mp.n) {
        store_block(m0, n0 + 4u, acc.top_right, acc.bottom_right, bias_at(n0 + 4u));
    }
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

// The block's rows of A at k-quad k (a_k = 1): top and bottom for `add_products`.
fn a_quads(rows: array<vec4<u32>, 2>, k: u32) -> array<mat4x4<f32>, 2> {
    let t = rows[0] + k;
    let b = rows[1] + k;
    return array<mat4x4<f32>, 2>(
        mat4x4<f32>(a[t.x], a[t.y], a[t.z], a[t.w]),
        mat4x4<f32>(a[b.x], a[b.y], a[b.z], a[b.w]),
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
    // vec4 indices of the block's eight columns of B at k = 0 (b_k = 1), clamped to the last
    let last = vec4<u32>(mp.n - 1u);
    let quad = vec4<u32>(0u, 1u, 2u, 3u);
    let il = (mp.b_off + min(n0 + quad, last) * mp.b_n) / 4u;
    let ih = (mp.b_off + min(n0 + 4u + quad, last) * mp.b_n) / 4u;
    var acc = Block();
    for (var k = 0u; k < mp.k / 4u; k++) {
        // B's columns n0 + q at k-quad k are its rows there, transposed
        let left = transpose(mat4x4<f32>(b[il.x + k], b[il.y + k], b[il.z + k], b[il.w + k]));
        let right = transpose(mat4x4<f32>(b[ih.x + k], b[ih.y + k], b[ih.z + k], b[ih.w + k]));
        let q = a_quads(rows, k);
        add_products(&acc, q[0], q[1], left, right);
    }
    store_wide(m0, n0, acc);
}

@compute @workgroup_size(MM_GROUP, MM_GROUP, 1)
fn matmul_kn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m0 = gid.y * MM_ROWS;
    let n0 = gid.x * MM_WIDE;
    if (m0 >= mp.m || n0 >= mp.n) {
        return;
    }
    let rows = a_rows(m0);
    // B[k, n0..n0+3] and B[k, n0+4..n0+7] (b_n = 1) at vec4s ib + k * row and that + right (the
    // first again where columns 4-7 are past C's edge)
    let row = mp.b_k / 4u;
    let right = select(1u, 0u, n0 + 4u >= mp.n);
    var ib = (mp.b_off + n0) / 4u;
    var acc = Block();
    for (var k = 0u; k < mp.k / 4u; k++) {
        let l = mat4x4<f32>(b[ib], b[ib + row], b[ib + 2u * row], b[ib + 3u * row]);
        let jh = ib + right;
        let h = mat4x4<f32>(b[jh], b[jh + row], b[jh + 2u * row], b[jh + 3u * row]);
        let q = a_quads(rows, k);
        add_products(&acc, q[0], q[1], l, h);
        ib += 4u * row;
    }
    store_wide(m0, n0, acc);
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
    var acc = Block();
    for (var k = 0u; k < mp.k; k++) {
        // one k: each quarter gains the outer product of its four columns and four rows
        let top = a[ia];
        let bottom = a[ia + hi];
        let left = b[ib];
        let right_cols = b[ib + right];
        acc.top_left += outer(left, top);
        acc.bottom_left += outer(left, bottom);
        acc.top_right += outer(right_cols, top);
        acc.bottom_right += outer(right_cols, bottom);
        ia += a_row;
        ib += b_row;
    }
    store_wide(m0, n0, acc);
}
