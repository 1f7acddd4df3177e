// train_step_backward: the backward of one train_step, both directions in one dispatch; the host
// dispatches the steps in reverse. CPU twin: cpu::backward::backward64 (cells_backward.rs).
//   tape:   train_step's records [D, T, B, record] (train_params.wgsl)
//   dy:     gradient of the layer's merged output [T, B, width]; y: its output [T, B, D, H_out]
//           (merge mul reads the other direction)
//   carry:  per row of each direction: dh [H_out] and dc [H] arriving from the step after, dh
//           with dy added, GRU's direct share of dh_prev, and the layer's c0 (TrainParams)
//   dgates: dGx [D, T, B, G*H], the gradient of x·Wᵀ + Wb, then for GRU dGr, the gradient of the
//           recurrent products (they differ in the candidate gate)
//   extras: dh per step [D, T, B, H_out] (LSTM projection), peephole partials [D, B, 3H]
// Workgroup (b, d) walks row b of direction d; invocations stride over units, phases separated
// by storage barriers. A step past a row's length leaves the carry as it is: nothing flows back
// from outputs past the length, and dh_n reaches the row's last real step. The weights'
// gradients come after the walk from matmuls over dgates and the tape.
// Versions: train_step_backward (this file): one workgroup per row and direction.
// uses: train/train_params shared/activations

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> tp: TrainParams;
@group(0) @binding(2) var<uniform> sp: StepParams;
@group(0) @binding(3) var<storage, read> wts: array<f32>;
@group(0) @binding(4) var<storage, read> lens: array<u32>;
@group(0) @binding(5) var<storage, read> tape: array<f32>;
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read> y: array<f32>;
@group(0) @binding(8) var<storage, read_write> carry: array<f32>;
@group(0) @binding(9) var<storage, read_write> dgates: array<f32>;
@group(0) @binding(10) var<storage, read_write> extras: array<f32>;

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn train_step_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let b = wg.x;
    let d = wg.y;
    let len = lens[b];
    let running = sp.step < len;
    let t = select(0u, time_index(lp, d, sp.step, len), running);
    let rr = record_row(lp, d, t, b);
    let rec = rr * tp.record;
    let gh = lp.hidden * gates(lp);
    let h_row = (d * lp.batch + b) * lp.hidden_in;
    let u_row = (d * lp.batch + b) * lp.hidden;
    // A. dh = carry + dy
    if (running) {
        for (var k = li; k < lp.hidden_in; k += TRAIN_WORKGROUP) {
            let dh = carry[h_row + k] + dy_of(d, t, b, k);
            carry[tp.carry_tot + h_row + k] = dh;
            if ((lp.flags & FLAG_PROJ) != 0u) {
                extras[rr * lp.hidden_in + k] = dh;
            }
        }
    }
    storageBarrier();
    // B. the gates' gradients of each unit
    if (running) {
        for (var j = li; j < lp.hidden; j += TRAIN_WORKGROUP) {
            var dm = 0.0;
            if ((lp.flags & FLAG_PROJ) != 0u) {
                for (var k = 0u; k < lp.hidden_in; k++) {
                    dm += wts[tp.proj_off + (d * lp.hidden_in + k) * lp.hidden + j] * carry[tp.carry_tot + h_row + k];
                }
            } else {
                dm = carry[tp.carry_tot + h_row + j];
            }
            if ((lp.flags & FLAG_LSTM) != 0u) {
                lstm_unit_backward(d, b, j, rec, rr * gh, u_row, dm);
            } else if ((lp.flags & FLAG_GRU) != 0u) {
                gru_unit_backward(d, j, rec, rr * gh, h_row, dm);
            } else {
                dgates[rr * gh + j] = dm * activate_grad(lp, lp.acts[d * 3u], tape[rec + j]);
            }
        }
    }
    storageBarrier();
    // C. GRU (linear_before_reset 0): the reset gate, through r ⊙ h_prev, needs every unit's dn
    if (running && (lp.flags & (FLAG_GRU | FLAG_LINEAR_BEFORE_RESET)) == FLAG_GRU) {
        for (var k = li; k < lp.hidden; k += TRAIN_WORKGROUP) {
            gru_reset_backward(d, k, rec, rr * gh, h_row);
        }
    }
    storageBarrier();
    // D. dh_prev = direct share + Rᵀ·dGr (GRU linear_before_reset 0: the z and r rows; the
    //    candidate's reached h_prev through r in C)
    if (running) {
        var rows = gh;
        if ((lp.flags & (FLAG_GRU | FLAG_LINEAR_BEFORE_RESET)) == FLAG_GRU) {
            rows = 2u * lp.hidden;
        }
        let g0 = tp.dgr_off + rr * gh;
        for (var k = li; k < lp.hidden_in; k += TRAIN_WORKGROUP) {
            var acc = 0.0;
            if ((lp.flags & FLAG_GRU) != 0u) {
                acc = carry[tp.carry_direct + h_row + k];
            }
            for (var row = 0u; row < rows; row++) {
                acc += wts[r_row(tp, lp, d, row) + k] * dgates[g0 + row];
            }
            carry[h_row + k] = acc;
        }
    }
}

// The gradient that arrives at direction d's output h_t[k] through the merge.
fn dy_of(d: u32, t: u32, b: u32, k: u32) -> f32 {
    let row = t * lp.batch + b;
    switch tp.merge {
        case MERGE_CONCAT: { return dy[row * tp.width + d * lp.hidden_in + k]; }
        case MERGE_SUM: { return dy[row * tp.width + k]; }
        case MERGE_AVERAGE: { return 0.5 * dy[row * tp.width + k]; }
        default: { return dy[row * tp.width + k] * y[(row * lp.dirs + 1u - d) * lp.hidden_in + k]; } // MERGE_MUL
    }
}

// GRU unit j: h' = (1 - z) ⊙ n + z ⊙ h_prev with dm arriving at h'.
fn gru_unit_backward(d: u32, j: u32, rec: u32, g0: u32, h_row: u32, dm: f32) {
    let H = lp.hidden;
    let f = lp.acts[d * 3u];
    let g = lp.acts[d * 3u + 1u];
    let pz = tape[rec + j];
    let pr = tape[rec + H + j];
    let pn = tape[rec + 2u * H + j];
    let z = activate(f, clip_gate(lp, pz));
    let n = activate(g, clip_gate(lp, pn));
    let dn = dm * (1.0 - z) * activate_grad(lp, g, pn);
    let dz = dm * (tape[rec + tp.hprev_off + j] - n) * activate_grad(lp, f, pz);
    carry[tp.carry_direct + h_row + j] = dm * z;
    dgates[g0 + j] = dz;
    dgates[tp.dgr_off + g0 + j] = dz;
    dgates[g0 + 2u * H + j] = dn;
    if ((lp.flags & FLAG_LINEAR_BEFORE_RESET) != 0u) {
        // n = g(xn + r ⊙ q), q = Rn h + Rbn in ext
        let r = activate(f, clip_gate(lp, pr));
        let dr = dn * tape[rec + tp.ext_off + j] * activate_grad(lp, f, pr);
        dgates[g0 + H + j] = dr;
        dgates[tp.dgr_off + g0 + H + j] = dr;
        dgates[tp.dgr_off + g0 + 2u * H + j] = dn * r;
    } else {
        dgates[tp.dgr_off + g0 + 2u * H + j] = dn;
    }
}

// GRU (linear_before_reset 0) unit k's reset gate: n = g(xn + Rn (r ⊙ h_prev) + Rbn), so
// d(r ⊙ h_prev)[k] = Σ_j Rn[j, k] dn[j].
fn gru_reset_backward(d: u32, k: u32, rec: u32, g0: u32, h_row: u32) {
    let H = lp.hidden;
    let f = lp.acts[d * 3u];
    var drh = 0.0;
    for (var j = 0u; j < H; j++) {
        drh += wts[r_row(tp, lp, d, 2u * H + j) + k] * dgates[g0 + 2u * H + j];
    }
    let pr = tape[rec + H + k];
    let dr = drh * tape[rec + tp.hprev_off + k] * activate_grad(lp, f, pr);
    dgates[g0 + H + k] = dr;
    dgates[tp.dgr_off + g0 + H + k] = dr;
    carry[tp.carry_direct + h_row + k] += drh * activate(f, clip_gate(lp, pr));
}

// LSTM unit j with dm arriving at o ⊙ h(c') and dc (carry) at c'.
fn lstm_unit_backward(d: u32, b: u32, j: u32, rec: u32, g0: u32, u_row: u32, dm: f32) {
    let H = lp.hidden;
    let fa = lp.acts[d * 3u];
    let ga = lp.acts[d * 3u + 1u];
    let ha = lp.acts[d * 3u + 2u];
    let peep = (lp.flags & FLAG_PEEPHOLE) != 0u;
    let p = tp.p_off + d * 3u * H + j;
    let c_new = tape[rec + tp.ext_off + j];
    let c = c_prev(d, b, j);
    let pi = tape[rec + j];
    let po = tape[rec + H + j];
    let pf = tape[rec + 2u * H + j];
    let pc = tape[rec + 3u * H + j];
    let i = activate(fa, clip_gate(lp, pi));
    let o = activate(fa, clip_gate(lp, po));
    let cand = activate(ga, clip_gate(lp, pc));
    let input_forget = (lp.flags & FLAG_INPUT_FORGET) != 0u;
    let f = select(activate(fa, clip_gate(lp, pf)), 1.0 - i, input_forget);
    let dgo = dm * activate(ha, c_new) * activate_grad(lp, fa, po);
    var dcn = carry[tp.carry_c + u_row + j] + dm * o * act_derivative(ha, c_new);
    if (peep) {
        dcn += dgo * wts[p + H];
    }
    var di = dcn * cand;
    let df = dcn * c;
    var dgf = 0.0;
    if (input_forget) {
        di -= df; // f = 1 - i
    } else {
        dgf = df * activate_grad(lp, fa, pf);
    }
    let dgi = di * activate_grad(lp, fa, pi);
    let dgc = dcn * i * activate_grad(lp, ga, pc);
    var dc_prev = dcn * f;
    if (peep) {
        dc_prev += dgi * wts[p] + dgf * wts[p + 2u * H];
        let q = tp.dp_off + u_row * 3u + j;
        extras[q] += dgi * c;
        extras[q + H] += dgo * c_new;
        extras[q + 2u * H] += dgf * c;
    }
    carry[tp.carry_c + u_row + j] = dc_prev;
    dgates[g0 + j] = dgi;
    dgates[g0 + H + j] = dgo;
    dgates[g0 + 2u * H + j] = dgf;
    dgates[g0 + 3u * H + j] = dgc;
}

// The cell state before the step of row b at step sp.step: the previous step's c' (its tape
// record), or the layer's c0 at the first step.
fn c_prev(d: u32, b: u32, j: u32) -> f32 {
    if (sp.step == 0u) {
        return carry[tp.carry_c0 + (d * lp.batch + b) * lp.hidden + j];
    }
    let tq = time_index(lp, d, sp.step - 1u, lens[b]);
    return tape[record_row(lp, d, tq, b) * tp.record + tp.ext_off + j];
}
