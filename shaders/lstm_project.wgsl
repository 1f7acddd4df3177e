// lstm_project: the projection that finishes an LSTM step with proj_size P (PyTorch):
//   h = W_hr · m,  m = o ⊙ tanh(c) from lstm_step
//   m: [D, B, H]   wr: [D, H, P] (W_hr pre-transposed)   h: [2, D, B, P]   y: [T, B, D, P]
// Versions:
//   lstm_project: one invocation per output element, dot product over H.

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> sp: StepParams;
@group(0) @binding(2) var<storage, read> m: array<f32>;
@group(0) @binding(3) var<storage, read> wr: array<f32>;
@group(0) @binding(4) var<storage, read> lens: array<u32>;
@group(0) @binding(5) var<storage, read_write> h: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn lstm_project(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = gid.x;
    let b = gid.y;
    let d = gid.z;
    let P = lp.hidden_in;
    if (p >= P || b >= lp.batch || d >= lp.dirs) {
        return;
    }
    let H = lp.hidden;
    let B = lp.batch;
    let s = sp.step;
    let len = lens[b];
    let h_cur = (((s & 1u) * lp.dirs + d) * B + b) * P;
    let h_nxt = ((((s + 1u) & 1u) * lp.dirs + d) * B + b) * P;
    if (s >= len) {
        h[h_nxt + p] = h[h_cur + p];
        return;
    }
    let t = time_index(lp, d, s, len);
    let mb = (d * B + b) * H;
    var acc = 0.0;
    for (var k = 0u; k < H; k++) {
        acc += m[mb + k] * wr[(d * H + k) * P + p];
    }
    h[h_nxt + p] = acc;
    y[((t * B + b) * lp.dirs + d) * P + p] = acc;
}
