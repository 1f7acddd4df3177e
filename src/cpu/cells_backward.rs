//! Backward twins of `cells.rs`: one step of one direction for one batch row, walked in reverse
//! time. Each reads the forward's [`StepTape`], takes the gradient that arrives at the step's
//! output (and, for LSTM, at its new cell state), adds the step's share of the recurrent weights'
//! gradients, and returns what flows on: to the input projection and to the previous state.

use super::cells::{GateInputs, StepTape};

/// Gradients of one direction's recurrent weights, accumulated over its steps.
pub struct RecurrentGrads<'a> {
    /// `dR [G*H, H_out]`
    pub r: &'a mut [f64],
    /// `dRb [G*H]`
    pub rb: &'a mut [f64],
    /// `dP [3*H]` peepholes in order `i, o, f` (LSTM with peepholes; else empty).
    pub p: &'a mut [f64],
}

/// What flows out of one step's backward.
#[derive(Debug, Clone)]
pub struct StepGrads {
    /// Gradient of the step's input projection `x·Wᵀ + Wb`, `[G*H]`: the gate pre-activation
    /// gradients `dG` that the weight gradients are built from.
    pub x: Vec<f64>,
    /// Gradient of the previous state `h [H_out]`.
    pub h: Vec<f64>,
    /// Gradient of the previous cell state `c [H]` (LSTM; else empty).
    pub c: Vec<f64>,
}

impl RecurrentGrads<'_> {
    /// Backward of `R[row] · (v ⊙ mask) + Rb[row]` with gradient `d`: `dR[row] += d (v ⊙ mask)`,
    /// `dRb[row] += d`, `dv += d (R[row] ⊙ mask)`.
    fn back(&mut self, g: &GateInputs, row: usize, d: f64, v: &[f64], dv: &mut [f64]) {
        let n = v.len();
        let r = &g.r[row * n..(row + 1) * n];
        for k in 0..n {
            let m = g.mask_at(k);
            self.r[row * n + k] += d * v[k] * m;
            dv[k] += d * r[k] as f64 * m;
        }
        self.rb[row] += d;
    }

    /// [`back`](Self::back) for rows `0..d.len()` at once, adding into `dv`.
    fn back_rows(&mut self, g: &GateInputs, d: &[f64], v: &[f64], dv: &mut [f64]) {
        for (row, &dr) in d.iter().enumerate() {
            self.back(g, row, dr, v, dv);
        }
    }
}

/// Backward of [`rnn_step`](super::rnn_step): `dm` arrives at the new `h`.
pub fn rnn_step_backward(
    g: &GateInputs,
    tape: &StepTape,
    h: &[f64],
    dm: &[f64],
    acc: &mut RecurrentGrads,
) -> StepGrads {
    let dx: Vec<f64> = (0..g.spec.hidden_size).map(|j| dm[j] * g.act_grad(0, tape.pre[j])).collect();
    let mut dh = vec![0.0; h.len()];
    acc.back_rows(g, &dx, h, &mut dh);
    StepGrads { x: dx, h: dh, c: vec![] }
}

/// Backward of [`gru_step`](super::gru_step): `dm` arrives at the new `h`.
pub fn gru_step_backward(
    g: &GateInputs,
    tape: &StepTape,
    h: &[f64],
    dm: &[f64],
    acc: &mut RecurrentGrads,
) -> StepGrads {
    let hs = g.spec.hidden_size;
    let (z, r, n) = (&tape.act[..hs], &tape.act[hs..2 * hs], &tape.act[2 * hs..]);
    let mut dx = vec![0.0; 3 * hs]; // dz, dr, dn pre-activations
    let mut dh: Vec<f64> = (0..hs).map(|j| dm[j] * z[j]).collect();
    let mut dr = vec![0.0; hs];
    for j in 0..hs {
        dx[2 * hs + j] = dm[j] * (1.0 - z[j]) * g.act_grad(1, tape.pre[2 * hs + j]);
    }
    if g.spec.linear_before_reset {
        // n = g(xh + r ⊙ q), q = Rh h + Rbh
        for j in 0..hs {
            let dn = dx[2 * hs + j];
            dr[j] = dn * tape.rec_n[j];
            acc.back(g, 2 * hs + j, dn * r[j], h, &mut dh);
        }
    } else {
        // n = g(xh + Rh (r ⊙ h) + Rbh)
        let rh: Vec<f64> = r.iter().zip(h).map(|(a, b)| a * b).collect();
        let mut drh = vec![0.0; hs];
        for j in 0..hs {
            acc.back(g, 2 * hs + j, dx[2 * hs + j], &rh, &mut drh);
        }
        for k in 0..hs {
            dr[k] = drh[k] * h[k];
            dh[k] += drh[k] * r[k];
        }
    }
    for j in 0..hs {
        dx[j] = dm[j] * (h[j] - n[j]) * g.act_grad(0, tape.pre[j]);
        dx[hs + j] = dr[j] * g.act_grad(0, tape.pre[hs + j]);
    }
    acc.back_rows(g, &dx[..2 * hs], h, &mut dh);
    StepGrads { x: dx, h: dh, c: vec![] }
}

/// Backward of [`lstm_step`](super::lstm_step): `dm` arrives at `o ⊙ h(c')` (after the
/// projection's backward, if any) and `dc` at the new cell state `c'`.
#[allow(clippy::too_many_arguments, reason = "the step's inputs, its tape and both incoming gradients")]
pub fn lstm_step_backward(
    g: &GateInputs,
    p: Option<&[f32]>,
    tape: &StepTape,
    h: &[f64],
    c: &[f64],
    dm: &[f64],
    dc: &[f64],
    acc: &mut RecurrentGrads,
) -> StepGrads {
    let hs = g.spec.hidden_size;
    let peep = |k: usize, j: usize| p.map_or(0.0, |p| p[k * hs + j] as f64);
    let cell_act = g.spec.activations[g.dir][2];
    let mut dx = vec![0.0; 4 * hs];
    let mut dc_prev = vec![0.0; hs];
    for j in 0..hs {
        let (i, o, f, cand) = (j, hs + j, 2 * hs + j, 3 * hs + j);
        let c_new = tape.c[j];
        let a = &tape.act;
        dx[o] = dm[j] * cell_act.apply(c_new) * g.act_grad(0, tape.pre[o]);
        let dcn = dc[j] + dm[j] * a[o] * cell_act.derivative(c_new) + dx[o] * peep(1, j);
        let mut di = dcn * a[cand];
        let df = dcn * c[j];
        dc_prev[j] = dcn * a[f];
        if g.spec.input_forget {
            di -= df; // f = 1 - i
        } else {
            dx[f] = df * g.act_grad(0, tape.pre[f]);
        }
        dx[i] = di * g.act_grad(0, tape.pre[i]);
        dx[cand] = dcn * a[i] * g.act_grad(1, tape.pre[cand]);
        dc_prev[j] += dx[i] * peep(0, j) + dx[f] * peep(2, j);
        if p.is_some() {
            acc.p[j] += dx[i] * c[j];
            acc.p[hs + j] += dx[o] * c_new;
            acc.p[2 * hs + j] += dx[f] * c[j];
        }
    }
    let mut dh = vec![0.0; h.len()];
    acc.back_rows(g, &dx, h, &mut dh);
    StepGrads { x: dx, h: dh, c: dc_prev }
}

/// Backward of [`lstm_project`](super::lstm_project): `dh` arrives at `W_hr m`; adds
/// `dW_hr += dh mᵀ` and returns `dm = W_hrᵀ dh`.
pub fn lstm_project_backward(w_hr: &[f32], m: &[f64], dh: &[f64], dw_hr: &mut [f64]) -> Vec<f64> {
    let mut dm = vec![0.0; m.len()];
    for (row, &d) in dh.iter().enumerate() {
        let w = &w_hr[row * m.len()..(row + 1) * m.len()];
        for k in 0..m.len() {
            dw_hr[row * m.len() + k] += d * m[k];
            dm[k] += d * w[k] as f64;
        }
    }
    dm
}
