// layer_persistent: up to PERSISTENT_STEPS time steps of a recurrent layer in one dispatch, from
// step sp.step on, for H and H_out up to PERSISTENT_UNITS (kernels::PERSISTENT_*, in the
// prelude; the plan dispatches it once per PERSISTENT_STEPS steps, which keeps an invocation's
// loops within what every driver runs). Workgroup (b, d) owns batch row b of direction d and
// loops over those steps of its sequence; the state lives in workgroup memory and steps are
// separated by workgroupBarrier only.
// Serves every cell (flags select RNN, GRU with either reset placement, LSTM with peepholes,
// input_forget and projection), with the semantics of rnn_step, gru_step/gru_gates/
// gru_candidate, lstm_step and lstm_project.
//   xp:  [D, T, B, H*G]  gate-interleaved (see input_projection.wgsl)
//   wh:  [D, H_out, H*G] R pre-transposed, gate-interleaved, blocked (RNN, GRU: input quads)
//   aux: LSTM peepholes [D, H, 3] / GRU Rbh [D, H]
//   h:   [2, D, B, H_out]: reads h from half 0 (h0, or where the dispatch before left it) and
//        leaves it there
//   c:   [D, B, H], read and left the same way   y: [T, B, D, H_out]
//   wr:  [D, H, P] (LSTM projection, input quads, blocked)
// Versions: layer_persistent, vec4 weight loads from global memory (one per input for LSTM, G
// per four inputs for RNN's and GRU's input quads; the weights are small and stay in cache).
// uses: shared/activations shared/blocked shared/layer_params shared/lstm_cell

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<storage, read> xp: array<f32>;
@group(0) @binding(2) var<storage, read> wh: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read> lens: array<u32>;
@group(0) @binding(5) var<storage, read_write> h: array<f32>;
@group(0) @binding(6) var<storage, read_write> c: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
@group(0) @binding(8) var<storage, read> wr: array<f32>;
@group(0) @binding(9) var<uniform> sp: StepParams;

var<workgroup> h_wg: array<f32, PERSISTENT_UNITS>;   // h_{t-1}
var<workgroup> mid_wg: array<f32, PERSISTENT_UNITS>; // GRU r ⊙ h, or LSTM m = o ⊙ h(c) before projection
var<workgroup> len_wg: u32;

@compute @workgroup_size(PERSISTENT_UNITS, 1, 1)
fn layer_persistent(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let j = lid.x;
    let b = wid.y;
    let d = wid.z;
    let H = lp.hidden;
    let HI = lp.hidden_in;
    let B = lp.batch;
    let lstm = (lp.flags & FLAG_LSTM) != 0u;
    let gru = (lp.flags & FLAG_GRU) != 0u;
    let reset_before = gru && (lp.flags & FLAG_LINEAR_BEFORE_RESET) == 0u;
    let proj = (lp.flags & FLAG_PROJ) != 0u;
    let G = select(select(1u, 3u, gru), 4u, lstm);
    let row = (d * B + b) * HI;
    if (j < HI) {
        h_wg[j] = h[row + j];
    }
    if (j == 0u) {
        len_wg = lens[b];
    }
    let len = workgroupUniformLoad(&len_wg);
    let ci = (d * B + b) * H + j;
    var c_reg = 0.0;
    var pv = vec3<f32>(0.0);
    if (lstm && j < H) {
        c_reg = c[ci];
        if ((lp.flags & FLAG_PEEPHOLE) != 0u) {
            pv = vec3<f32>(aux[(d * H + j) * 3u], aux[(d * H + j) * 3u + 1u], aux[(d * H + j) * 3u + 2u]);
        }
    }
    let f_act = lp.acts[d * 3u];
    let g_act = lp.acts[d * 3u + 1u];
    for (var s = sp.step; s < min(len, sp.step + PERSISTENT_STEPS); s++) {
        let t = time_index(lp, d, s, len);
        let xb = ((d * lp.steps + t) * B + b) * H * G + j * G;
        var new_h = 0.0;
        var z = 0.0;
        if (j < H) {
            var acc = vec4<f32>(0.0);
            // input quads: G vec4s per four inputs (h_wg and the weights are zero past HI)
            var wi = input_quad(d, HI, H, j) * G;
            if (lstm) {
                // four vec4s (i, o, f, c), one per input (a loop of its own: one loop for
                // every cell was slower)
                for (var k = 0u; k < HI; k += 4u) {
                    acc += h_wg[k] * wh[wi] + h_wg[k + 1u] * wh[wi + 1u] + h_wg[k + 2u] * wh[wi + 2u] + h_wg[k + 3u] * wh[wi + 3u];
                    wi += 4u * UNIT_BLOCK;
                }
            } else {
                for (var k = 0u; k < HI; k += 4u) {
                    let hv = vec4<f32>(h_wg[k], h_wg[k + 1u], h_wg[k + 2u], h_wg[k + 3u]);
                    if (gru) {
                        let w = quad_triples(wh[wi], wh[wi + 1u], wh[wi + 2u]);
                        acc += vec4<f32>(hv.x * w[0] + hv.y * w[1] + hv.z * w[2] + hv.w * w[3], 0.0);
                    } else {
                        acc.x += dot(hv, wh[wi]);
                    }
                    wi += G * UNIT_BLOCK;
                }
            }
            if (lstm) {
                let a = acc + vec4<f32>(xp[xb], xp[xb + 1u], xp[xb + 2u], xp[xb + 3u]);
                let cell = lstm_cell(d, a, pv, c_reg);
                c_reg = cell.c;
                new_h = cell.h;
                mid_wg[j] = new_h;
            } else if (gru) {
                z = activate(f_act, clip_gate(lp, xp[xb] + acc.x));
                let r = activate(f_act, clip_gate(lp, xp[xb + 1u] + acc.y));
                if (reset_before) {
                    mid_wg[j] = r * h_wg[j];
                } else {
                    let n = activate(g_act, clip_gate(lp, xp[xb + 2u] + r * (acc.z + aux[d * H + j])));
                    new_h = (1.0 - z) * n + z * h_wg[j];
                }
            } else {
                new_h = activate(f_act, clip_gate(lp, xp[xb] + acc.x));
            }
        }
        workgroupBarrier();
        if (reset_before && j < H) {
            var acc = 0.0;
            var wi = input_quad(d, H, H, j) * 3u;
            for (var k = 0u; k < H; k += 4u) {
                let qa = wh[wi];
                let qb = wh[wi + 1u];
                let qc = wh[wi + 2u];
                wi += 3u * UNIT_BLOCK;
                let mv = vec4<f32>(mid_wg[k], mid_wg[k + 1u], mid_wg[k + 2u], mid_wg[k + 3u]);
                acc += dot(mv, quad_h_gate(qa, qb, qc));
            }
            let n = activate(g_act, clip_gate(lp, xp[xb + 2u] + acc));
            new_h = (1.0 - z) * n + z * h_wg[j];
        }
        if (proj && j < HI) {
            var acc = 0.0;
            for (var k = 0u; k < H; k++) {
                acc += mid_wg[k] * wr[quad_weight(d, H, HI, j, k, 1u)];
            }
            new_h = acc;
        }
        workgroupBarrier();
        if (j < HI) {
            h_wg[j] = new_h;
            y[((t * B + b) * lp.dirs + d) * HI + j] = new_h;
        }
        workgroupBarrier();
    }
    if (j < HI) {
        h[row + j] = h_wg[j];
    }
    if (lstm && j < H) {
        c[ci] = c_reg;
    }
}
