//! CPU twins of the step kernels `rnn_step.wgsl`, `gru_step.wgsl`, `lstm_step.wgsl` and
//! `lstm_project.wgsl`: one time step of one direction for one batch row. Each step returns a
//! [`StepTape`], what it computed on the way, which the backward twins in `cells_backward.rs`
//! read instead of recomputing the equations.

use crate::spec::LayerSpec;

/// What a step reads besides the state.
pub struct GateInputs<'a> {
    pub spec: &'a LayerSpec,
    /// Direction slot (selects the activation list).
    pub dir: usize,
    /// `x·Wᵀ + Wb` for this time step and row: `[G*H]`, ONNX gate order.
    pub x: &'a [f64],
    /// Recurrent biases `Rb [G*H]`.
    pub rb: &'a [f32],
    /// `R [G*H, H_out]`.
    pub r: &'a [f32],
    /// Recurrent dropout: the mask `[H_out]` the recurrent products apply to their input
    /// (`R·(v ⊙ mask)`, Keras' `recurrent_dropout`); `None`: no mask.
    pub mask: Option<&'a [f64]>,
}

impl GateInputs<'_> {
    /// `R[row] · (v ⊙ mask) + Rb[row]`
    pub(super) fn recurrent(&self, row: usize, v: &[f64]) -> f64 {
        let r = &self.r[row * v.len()..(row + 1) * v.len()];
        let dot: f64 = match self.mask {
            Some(m) => r.iter().zip(v).zip(m).map(|((&w, &x), &mk)| w as f64 * x * mk).sum(),
            None => r.iter().zip(v).map(|(&w, &x)| w as f64 * x).sum(),
        };
        dot + self.rb[row] as f64
    }
    /// The recurrent dropout mask of input k (1 without one).
    pub(super) fn mask_at(&self, k: usize) -> f64 {
        self.mask.map_or(1.0, |m| m[k])
    }
    /// `x` bounded by the layer's `clip`, if it has one.
    fn clip(&self, x: f64) -> f64 {
        match self.spec.clip {
            Some(c) => x.clamp(-(c as f64), c as f64),
            None => x,
        }
    }
    /// Activation `slot` of this direction applied after `clip`.
    fn act(&self, slot: usize, x: f64) -> f64 {
        self.spec.activations[self.dir][slot].apply(self.clip(x))
    }
    /// The derivative of [`Self::act`] at `x`: zero where `clip` bound the input.
    pub(super) fn act_grad(&self, slot: usize, x: f64) -> f64 {
        let inside = self.spec.clip.is_none_or(|c| x.abs() <= c as f64);
        if inside { self.spec.activations[self.dir][slot].derivative(x) } else { 0.0 }
    }
}

/// What one step computed, kept for its backward.
#[derive(Debug, Clone, Default)]
pub struct StepTape {
    /// Gate pre-activations before `clip`, `[G*H]` in ONNX gate order (LSTM with input_forget:
    /// the `f` block is 0, unused).
    pub pre: Vec<f64>,
    /// Gate values, `[G*H]`: `z, r, n` for GRU, `i, o, f, g` for LSTM (`f = 1 - i` with
    /// input_forget), `h` for RNN.
    pub act: Vec<f64>,
    /// GRU with linear_before_reset: `Rh h + Rbh [H]`, which the reset gate scales. Else empty.
    pub rec_n: Vec<f64>,
    /// LSTM: the new cell state `c' [H]`. Else empty.
    pub c: Vec<f64>,
    /// The step's output before any projection: the new `h` (RNN, GRU) or `o ⊙ h(c')` (LSTM).
    pub m: Vec<f64>,
}

/// `h = f(x + R h + Rb)`
pub fn rnn_step(g: &GateInputs, h: &[f64]) -> StepTape {
    let pre: Vec<f64> = (0..g.spec.hidden_size).map(|j| g.x[j] + g.recurrent(j, h)).collect();
    let act: Vec<f64> = pre.iter().map(|&p| g.act(0, p)).collect();
    StepTape { m: act.clone(), pre, act, ..Default::default() }
}

/// ONNX GRU, gates `z, r, h`:
/// `z = f(xz + Rz h)`, `r = f(xr + Rr h)`,
/// `n = g(xh + Rh (r ⊙ h) + Rbh)` (linear_before_reset 0) or `g(xh + r ⊙ (Rh h + Rbh))` (1),
/// `h' = (1 - z) ⊙ n + z ⊙ h`.
pub fn gru_step(g: &GateInputs, h: &[f64]) -> StepTape {
    let hs = g.spec.hidden_size;
    let mut pre = vec![0.0; 3 * hs];
    let mut act = vec![0.0; 3 * hs];
    for j in 0..2 * hs {
        pre[j] = g.x[j] + g.recurrent(j, h);
        act[j] = g.act(0, pre[j]);
    }
    let r = act[hs..2 * hs].to_vec();
    let rh: Vec<f64> = r.iter().zip(h).map(|(a, b)| a * b).collect();
    let rec_n: Vec<f64> =
        if g.spec.linear_before_reset { (0..hs).map(|j| g.recurrent(2 * hs + j, h)).collect() } else { vec![] };
    for j in 0..hs {
        pre[2 * hs + j] = if g.spec.linear_before_reset {
            g.x[2 * hs + j] + r[j] * rec_n[j]
        } else {
            g.x[2 * hs + j] + g.recurrent(2 * hs + j, &rh)
        };
        act[2 * hs + j] = g.act(1, pre[2 * hs + j]);
    }
    let m = (0..hs).map(|j| (1.0 - act[j]) * act[2 * hs + j] + act[j] * h[j]).collect();
    StepTape { pre, act, rec_n, c: vec![], m }
}

/// ONNX LSTM, gates `i, o, f, c`, peepholes `P [3H]` in order `i, o, f`:
/// `i = f(xi + Ri h + Pi ⊙ c)`, `f = f(xf + Rf h + Pf ⊙ c)` (or `1 - i` with input_forget),
/// `c' = f ⊙ c + i ⊙ g(xc + Rc h)`, `o = f(xo + Ro h + Po ⊙ c')`.
/// The tape's `m` is `o ⊙ h(c')`: the new `h` unless the layer has a projection.
pub fn lstm_step(g: &GateInputs, p: Option<&[f32]>, h: &[f64], c: &[f64]) -> StepTape {
    let hs = g.spec.hidden_size;
    let peep = |k: usize, j: usize| p.map_or(0.0, |p| p[k * hs + j] as f64);
    let mut pre = vec![0.0; 4 * hs];
    let mut act = vec![0.0; 4 * hs];
    let mut c_new = vec![0.0; hs];
    let mut m = vec![0.0; hs];
    for j in 0..hs {
        let (i, o, f, cand) = (j, hs + j, 2 * hs + j, 3 * hs + j);
        pre[i] = g.x[i] + g.recurrent(i, h) + peep(0, j) * c[j];
        act[i] = g.act(0, pre[i]);
        if g.spec.input_forget {
            act[f] = 1.0 - act[i];
        } else {
            pre[f] = g.x[f] + g.recurrent(f, h) + peep(2, j) * c[j];
            act[f] = g.act(0, pre[f]);
        }
        pre[cand] = g.x[cand] + g.recurrent(cand, h);
        act[cand] = g.act(1, pre[cand]);
        c_new[j] = act[f] * c[j] + act[i] * act[cand];
        pre[o] = g.x[o] + g.recurrent(o, h) + peep(1, j) * c_new[j];
        act[o] = g.act(0, pre[o]);
        // h() is not clipped: clip bounds the gate pre-activations only
        m[j] = act[o] * g.spec.activations[g.dir][2].apply(c_new[j]);
    }
    StepTape { pre, act, rec_n: vec![], c: c_new, m }
}

/// LSTM projection `h = W_hr m` with `W_hr [P, H]`.
pub fn lstm_project(w_hr: &[f32], m: &[f64]) -> Vec<f64> {
    w_hr.chunks_exact(m.len()).map(|row| row.iter().zip(m).map(|(&w, &x)| w as f64 * x).sum()).collect()
}
