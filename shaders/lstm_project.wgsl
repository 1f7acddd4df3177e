// lstm_project: the projection that finishes an LSTM step with proj_size P (PyTorch):
//   h = W_hr · m,  m = o ⊙ h(c) from lstm_step
//   m:  [D, B, H]
//   wr: W_hr transposed in input quads (four inputs of an output per F32x4), blocked by
//       UNIT_BLOCK outputs (shared/blocked.wgsl)
//   h_cur, h_next: [D, B, P] each, the halves of h the step reads and writes (plan Buf::H)
//   y:  [T, B, D, P]
// Invocation (p, tile, d): output p of batch rows tile*ROWS .. tile*ROWS + ROWS, direction d.
// Versions: lstm_project, ROWS = 1, 4, 8 or 16 rows per invocation, each weight load feeding
// ROWS rows (one vec4 of weights per four inputs). In a wavefront stack (FLAG_WAVE,
// shared/rows.wgsl) the slots d are the layers, each with its own W_hr; only the last writes y.
// uses: shared/blocked shared/loads shared/rows

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> sp: StepParams;
@group(0) @binding(2) var<storage, read> m: array<f32>;
@group(0) @binding(3) var<storage, read> wr: array<F32x4>;
@group(0) @binding(4) var<storage, read> lens: array<u32>;
@group(0) @binding(5) var<storage, read_write> h_cur: array<f32>; // the half of h this step reads
@group(0) @binding(6) var<storage, read_write> h_next: array<f32>; // the half it writes
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn lstm_project(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = gid.x;
    let b0 = gid.y * ROWS;
    let d = gid.z;
    let P = lp.hidden_in;
    if (p >= P || b0 >= lp.batch || d >= lp.dirs) {
        return;
    }
    let H = lp.hidden;
    let B = lp.batch;
    var acc: array<f32, ROWS>;
    var mrow: array<u32, ROWS>; // each row's m offset, computed once
    for (var r = 0u; r < ROWS; r++) {
        mrow[r] = (d * B + tile_row(b0, r)) * H;
    }
    var wi = input_quad(d, H, P, p);
    let k4 = H & ~3u;
    for (var k = 0u; k < k4; k += 4u) {
        let w = f32x4(wr[wi]); // inputs k .. k+4
        wi += UNIT_BLOCK;
        for (var r = 0u; r < ROWS; r++) {
            let mk = mrow[r] + k;
            acc[r] += dot(vec4<f32>(m[mk], m[mk + 1u], m[mk + 2u], m[mk + 3u]), w);
        }
    }
    for (var k = k4; k < H; k++) {
        let w = f32x4(wr[wi])[k - k4];
        for (var r = 0u; r < ROWS; r++) {
            acc[r] += m[mrow[r] + k] * w;
        }
    }
    for (var r = 0u; r < ROWS; r++) {
        let b = b0 + r;
        if (b >= B) {
            break;
        }
        let rs = row_step(d, b);
        if (!rs.running) {
            h_next[rs.row + p] = h_cur[rs.row + p];
            continue;
        }
        let t = rs.t;
        h_next[rs.row + p] = acc[r];
        if (writes_y(d)) {
            y[y_row(d, t, b) + p] = acc[r];
        }
    }
}
