// train_step: one time step of a layer for training, both directions in one dispatch, keeping
// the tape its backward (train_step_backward) reads. CPU twin: cpu::forward::run with its tape.
//   xp:    [D, T, B, G*H]  x·Wᵀ + Wb (matmul), ONNX gate order: RNN h; GRU z, r, h; LSTM i, o, f, c
//   wts:   the layer's weights in ONNX layout, one buffer (TrainParams offsets)
//   state: h [D, B, H_out] then c [D, B, H]: the running state, h0 and c0 copied in first
//   tape:  [D, T, B, record]: gate pre-activations before clip [G*H], h_prev [H_out], ext [H]
//          (LSTM c', GRU Rh h + Rbh or r ⊙ h_prev), m [H] (LSTM with a projection)
//   y:     [T, B, D, H_out], zero past each length
// Workgroup (b, d) computes batch row b of direction d, its invocations striding over units.
// The step runs in phases separated by storage barriers: the row's state, tape and output are
// read and written by this workgroup alone. Steps past a row's length leave everything as is.
// Versions: train_step (this file): one workgroup per row and direction.
// uses: train/train_params shared/activations

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> tp: TrainParams;
@group(0) @binding(2) var<uniform> sp: StepParams;
@group(0) @binding(3) var<storage, read> xp: array<f32>;
@group(0) @binding(4) var<storage, read> wts: array<f32>;
@group(0) @binding(5) var<storage, read> lens: array<u32>;
@group(0) @binding(6) var<storage, read_write> state: array<f32>;
@group(0) @binding(7) var<storage, read_write> tape: array<f32>;
@group(0) @binding(8) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn train_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let b = wg.x;
    let d = wg.y;
    let len = lens[b];
    let running = sp.step < len;
    let t = select(0u, time_index(lp, d, sp.step, len), running);
    let rec = record_row(lp, d, t, b) * tp.record;
    let h_row = (d * lp.batch + b) * lp.hidden_in;
    let c_row = tp.state_c + (d * lp.batch + b) * lp.hidden;
    // 1. h_prev into the tape: the phases below read it there while the state is overwritten
    if (running) {
        for (var k = li; k < lp.hidden_in; k += TRAIN_WORKGROUP) {
            tape[rec + tp.hprev_off + k] = state[h_row + k];
        }
    }
    storageBarrier();
    // 2. the gates that read h_prev
    if (running) {
        for (var j = li; j < lp.hidden; j += TRAIN_WORKGROUP) {
            if ((lp.flags & FLAG_LSTM) != 0u) {
                lstm_unit(d, t, b, j, rec, h_row, c_row);
            } else if ((lp.flags & FLAG_GRU) != 0u) {
                gru_gates_unit(d, t, b, j, rec);
            } else {
                let pre = preact(d, t, b, j, rec);
                tape[rec + j] = pre;
                finish(d, t, b, j, h_row, activate(lp.acts[d * 3u], clip_gate(lp, pre)));
            }
        }
    }
    storageBarrier();
    // 3. what needs every unit of phase 2: GRU's candidate, LSTM's projection
    if (running) {
        if ((lp.flags & FLAG_GRU) != 0u) {
            for (var j = li; j < lp.hidden; j += TRAIN_WORKGROUP) {
                gru_candidate_unit(d, t, b, j, rec, h_row);
            }
        } else if ((lp.flags & FLAG_PROJ) != 0u) {
            for (var k = li; k < lp.hidden_in; k += TRAIN_WORKGROUP) {
                var acc = 0.0;
                let w = tp.proj_off + (d * lp.hidden_in + k) * lp.hidden;
                for (var j = 0u; j < lp.hidden; j++) {
                    acc += wts[w + j] * tape[rec + tp.m_off + j];
                }
                finish(d, t, b, k, h_row, acc);
            }
        }
    }
}

// xp + R[row]·h_prev + Rb[row] of gate row `row` (G*H rows, gate-major).
fn preact(d: u32, t: u32, b: u32, row: u32, rec: u32) -> f32 {
    return xp[record_row(lp, d, t, b) * lp.hidden * gates(lp) + row] + recurrent(d, row, rec);
}

// R[row]·h_prev + Rb[row].
fn recurrent(d: u32, row: u32, rec: u32) -> f32 {
    let gh = lp.hidden * gates(lp);
    var acc = wts[tp.b_off + d * 2u * gh + gh + row];
    let w = r_row(tp, lp, d, row);
    for (var k = 0u; k < lp.hidden_in; k++) {
        acc += wts[w + k] * tape[rec + tp.hprev_off + k];
    }
    return acc;
}

// The new h of unit k: into the state and the output.
fn finish(d: u32, t: u32, b: u32, k: u32, h_row: u32, h: f32) {
    state[h_row + k] = h;
    y[((t * lp.batch + b) * lp.dirs + d) * lp.hidden_in + k] = h;
}

// GRU z and r of unit j, and the candidate's recurrent operand: Rh h + Rbh (linear_before_reset)
// or r ⊙ h_prev.
fn gru_gates_unit(d: u32, t: u32, b: u32, j: u32, rec: u32) {
    let H = lp.hidden;
    let f = lp.acts[d * 3u];
    let pz = preact(d, t, b, j, rec);
    let pr = preact(d, t, b, H + j, rec);
    tape[rec + j] = pz;
    tape[rec + H + j] = pr;
    let r = activate(f, clip_gate(lp, pr));
    if ((lp.flags & FLAG_LINEAR_BEFORE_RESET) != 0u) {
        tape[rec + tp.ext_off + j] = recurrent(d, 2u * H + j, rec);
    } else {
        tape[rec + tp.ext_off + j] = r * tape[rec + tp.hprev_off + j];
    }
}

// GRU candidate n and new h of unit j: h' = (1 - z) ⊙ n + z ⊙ h_prev.
fn gru_candidate_unit(d: u32, t: u32, b: u32, j: u32, rec: u32, h_row: u32) {
    let H = lp.hidden;
    let gh = 3u * H;
    let f = lp.acts[d * 3u];
    let z = activate(f, clip_gate(lp, tape[rec + j]));
    let r = activate(f, clip_gate(lp, tape[rec + H + j]));
    var pn = xp[record_row(lp, d, t, b) * gh + 2u * H + j];
    if ((lp.flags & FLAG_LINEAR_BEFORE_RESET) != 0u) {
        pn += r * tape[rec + tp.ext_off + j];
    } else {
        let row = 2u * H + j;
        var acc = wts[tp.b_off + d * 2u * gh + gh + row];
        let w = r_row(tp, lp, d, row);
        for (var k = 0u; k < H; k++) {
            acc += wts[w + k] * tape[rec + tp.ext_off + k];
        }
        pn += acc;
    }
    tape[rec + 2u * H + j] = pn;
    let n = activate(lp.acts[d * 3u + 1u], clip_gate(lp, pn));
    finish(d, t, b, j, h_row, (1.0 - z) * n + z * tape[rec + tp.hprev_off + j]);
}

// LSTM unit j: gates i, o, f, c with peepholes and input_forget; c' into the state and the tape;
// o ⊙ h(c') is the new h, or the projection's input (phase 3).
fn lstm_unit(d: u32, t: u32, b: u32, j: u32, rec: u32, h_row: u32, c_row: u32) {
    let H = lp.hidden;
    let fa = lp.acts[d * 3u];
    let peep = (lp.flags & FLAG_PEEPHOLE) != 0u;
    let p = tp.p_off + d * 3u * H + j;
    let c = state[c_row + j];
    var pi = preact(d, t, b, j, rec);
    if (peep) {
        pi += wts[p] * c;
    }
    tape[rec + j] = pi;
    let i = activate(fa, clip_gate(lp, pi));
    var f = 1.0 - i;
    if ((lp.flags & FLAG_INPUT_FORGET) == 0u) {
        var pf = preact(d, t, b, 2u * H + j, rec);
        if (peep) {
            pf += wts[p + 2u * H] * c;
        }
        tape[rec + 2u * H + j] = pf;
        f = activate(fa, clip_gate(lp, pf));
    }
    let pc = preact(d, t, b, 3u * H + j, rec);
    tape[rec + 3u * H + j] = pc;
    let c_new = f * c + i * activate(lp.acts[d * 3u + 1u], clip_gate(lp, pc));
    var po = preact(d, t, b, H + j, rec);
    if (peep) {
        po += wts[p + H] * c_new;
    }
    tape[rec + H + j] = po;
    let m = activate(fa, clip_gate(lp, po)) * activate(lp.acts[d * 3u + 2u], c_new);
    state[c_row + j] = c_new;
    tape[rec + tp.ext_off + j] = c_new;
    if ((lp.flags & FLAG_PROJ) != 0u) {
        tape[rec + tp.m_off + j] = m;
    } else {
        finish(d, t, b, j, h_row, m);
    }
}
