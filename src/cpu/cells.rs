//! CPU twins of the step kernels `rnn_step.wgsl`, `gru_step.wgsl`, `lstm_step.wgsl` and
//! `lstm_project.wgsl`: one time step of one direction for one batch row.

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
}

impl GateInputs<'_> {
    /// `R[row] · v + Rb[row]`
    fn recurrent(&self, row: usize, v: &[f64]) -> f64 {
        let r = &self.r[row * v.len()..(row + 1) * v.len()];
        r.iter().zip(v).map(|(&w, &x)| w as f64 * x).sum::<f64>() + self.rb[row] as f64
    }
    /// Activation `slot` of this direction applied after `clip`.
    fn act(&self, slot: usize, x: f64) -> f64 {
        let x = match self.spec.clip {
            Some(c) => x.clamp(-(c as f64), c as f64),
            None => x,
        };
        self.spec.activations[self.dir][slot].apply(x)
    }
}

/// `h = f(x + R h + Rb)`
pub fn rnn_step(g: &GateInputs, h: &[f64]) -> Vec<f64> {
    (0..g.spec.hidden_size).map(|j| g.act(0, g.x[j] + g.recurrent(j, h))).collect()
}

/// ONNX GRU, gates `z, r, h`:
/// `z = f(xz + Rz h)`, `r = f(xr + Rr h)`,
/// `n = g(xh + Rh (r ⊙ h) + Rbh)` (linear_before_reset 0) or `g(xh + r ⊙ (Rh h + Rbh))` (1),
/// `h' = (1 - z) ⊙ n + z ⊙ h`.
pub fn gru_step(g: &GateInputs, h: &[f64]) -> Vec<f64> {
    let hs = g.spec.hidden_size;
    let z: Vec<f64> = (0..hs).map(|j| g.act(0, g.x[j] + g.recurrent(j, h))).collect();
    let r: Vec<f64> = (0..hs).map(|j| g.act(0, g.x[hs + j] + g.recurrent(hs + j, h))).collect();
    let rh: Vec<f64> = r.iter().zip(h).map(|(a, b)| a * b).collect();
    (0..hs)
        .map(|j| {
            let pre = if g.spec.linear_before_reset {
                g.x[2 * hs + j] + r[j] * g.recurrent(2 * hs + j, h)
            } else {
                g.x[2 * hs + j] + g.recurrent(2 * hs + j, &rh)
            };
            let n = g.act(1, pre);
            (1.0 - z[j]) * n + z[j] * h[j]
        })
        .collect()
}

/// ONNX LSTM, gates `i, o, f, c`, peepholes `P [3H]` in order `i, o, f`:
/// `i = f(xi + Ri h + Pi ⊙ c)`, `f = f(xf + Rf h + Pf ⊙ c)` (or `1 - i` with input_forget),
/// `c' = f ⊙ c + i ⊙ g(xc + Rc h)`, `o = f(xo + Ro h + Po ⊙ c')`.
/// Returns `(o ⊙ h(c'), c')`; the first is `h` unless the layer has a projection.
pub fn lstm_step(g: &GateInputs, p: Option<&[f32]>, h: &[f64], c: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let hs = g.spec.hidden_size;
    let peep = |k: usize, j: usize| p.map_or(0.0, |p| p[k * hs + j] as f64);
    let mut out = vec![0.0; hs];
    let mut c_new = vec![0.0; hs];
    for j in 0..hs {
        let i = g.act(0, g.x[j] + g.recurrent(j, h) + peep(0, j) * c[j]);
        let f = if g.spec.input_forget {
            1.0 - i
        } else {
            g.act(0, g.x[2 * hs + j] + g.recurrent(2 * hs + j, h) + peep(2, j) * c[j])
        };
        let cand = g.act(1, g.x[3 * hs + j] + g.recurrent(3 * hs + j, h));
        c_new[j] = f * c[j] + i * cand;
        let o = g.act(0, g.x[hs + j] + g.recurrent(hs + j, h) + peep(1, j) * c_new[j]);
        // h() is not clipped: clip bounds the gate pre-activations only
        out[j] = o * g.spec.activations[g.dir][2].apply(c_new[j]);
    }
    (out, c_new)
}

/// LSTM projection `h = W_hr m` with `W_hr [P, H]`.
pub fn lstm_project(w_hr: &[f32], m: &[f64]) -> Vec<f64> {
    w_hr.chunks_exact(m.len()).map(|row| row.iter().zip(m).map(|(&w, &x)| w as f64 * x).sum()).collect()
}
