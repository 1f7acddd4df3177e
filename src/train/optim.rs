//! Optimizers and gradient clipping, numerically as `torch.optim` and
//! `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_` define them (the reference the GPU's
//! update kernel is checked against).

use crate::error::{Error, Result};

/// An optimizer and its settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// `torch.optim.SGD`: `g += wd·p`; with momentum `buf = μ·buf + g` (`buf = g` at the first
    /// step), `g = buf`; `p -= lr·g`.
    Sgd { lr: f32, momentum: f32, weight_decay: f32 },
    /// `torch.optim.Adam`: L2 weight decay added to the gradient, bias-corrected moments.
    Adam { lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32 },
    /// `torch.optim.AdamW`: decoupled weight decay `p *= 1 - lr·wd`, then Adam's update.
    AdamW { lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32 },
}

impl Optimizer {
    /// SGD without momentum or weight decay.
    pub fn sgd(lr: f32) -> Self {
        Optimizer::Sgd { lr, momentum: 0.0, weight_decay: 0.0 }
    }
    /// Adam with PyTorch's defaults (betas 0.9, 0.999, eps 1e-8, no weight decay).
    pub fn adam(lr: f32) -> Self {
        Optimizer::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
    /// AdamW with PyTorch's defaults (betas 0.9, 0.999, eps 1e-8, weight decay 0.01).
    pub fn adamw(lr: f32) -> Self {
        Optimizer::AdamW { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } | Optimizer::AdamW { lr, .. } => lr,
        }
    }
    /// The same optimizer with learning rate `lr`.
    pub fn with_lr(mut self, lr: f32) -> Self {
        match &mut self {
            Optimizer::Sgd { lr: l, .. } | Optimizer::Adam { lr: l, .. } | Optimizer::AdamW { lr: l, .. } => *l = lr,
        }
        self
    }
    /// Checks the settings: a finite, non-negative learning rate and weight decay, momentum and
    /// betas in `[0, 1)`, a positive eps.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |what: &str, v: f32, why: &str| Err(Error::invalid(format!("optimizer {what}"), format!("{v} {why}")));
        let (lr, wd) = match *self {
            Optimizer::Sgd { lr, weight_decay, .. }
            | Optimizer::Adam { lr, weight_decay, .. }
            | Optimizer::AdamW { lr, weight_decay, .. } => (lr, weight_decay),
        };
        if !(lr.is_finite() && lr >= 0.0) {
            return bad("learning rate", lr, "is not a finite number >= 0");
        }
        if !(wd.is_finite() && wd >= 0.0) {
            return bad("weight decay", wd, "is not a finite number >= 0");
        }
        match *self {
            Optimizer::Sgd { momentum, .. } if !(0.0..1.0).contains(&momentum) => {
                bad("momentum", momentum, "is outside [0, 1)")
            }
            Optimizer::Adam { beta1, beta2, eps, .. } | Optimizer::AdamW { beta1, beta2, eps, .. } => {
                if !(0.0..1.0).contains(&beta1) {
                    bad("beta1", beta1, "is outside [0, 1)")
                } else if !(0.0..1.0).contains(&beta2) {
                    bad("beta2", beta2, "is outside [0, 1)")
                } else if !(eps.is_finite() && eps > 0.0) {
                    bad("eps", eps, "is not a finite number > 0")
                } else {
                    Ok(())
                }
            }
            Optimizer::Sgd { .. } => Ok(()),
        }
    }
}

/// What an optimizer keeps between steps, one buffer per parameter tensor: SGD's momentum
/// buffer in `m`, Adam's first and second moments in `m` and `v`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OptimizerState {
    /// Updates done so far.
    pub step: u64,
    pub m: Vec<Vec<f64>>,
    pub v: Vec<Vec<f64>>,
}

impl OptimizerState {
    /// Zeroed state for parameter tensors of these sizes.
    pub fn new(sizes: &[usize]) -> Self {
        OptimizerState {
            step: 0,
            m: sizes.iter().map(|&n| vec![0.0; n]).collect(),
            v: sizes.iter().map(|&n| vec![0.0; n]).collect(),
        }
    }

    /// Checks the state against `model`'s parameters: a first and a second moment of each
    /// tensor's size, every moment finite and no second moment negative (Adam divides by its
    /// square root). Errors name the tensor and the value.
    pub fn check(&self, model: &super::TrainModel) -> Result<()> {
        let sizes = model.parameter_sizes();
        let fits = |v: &[Vec<f64>]| v.len() == sizes.len() && v.iter().zip(&sizes).all(|(t, &n)| t.len() == n);
        if !fits(&self.m) || !fits(&self.v) {
            return Err(Error::invalid("optimizer state", "made for a model with other parameters"));
        }
        let names = model.parameter_names();
        for (which, moments, least) in [("m", &self.m, f64::NEG_INFINITY), ("v", &self.v, 0.0)] {
            for (name, t) in names.iter().zip(moments) {
                if let Some(i) = t.iter().position(|&x| !(x.is_finite() && x >= least)) {
                    let why = if which == "v" { "a finite number >= 0" } else { "a finite number" };
                    return Err(Error::invalid(
                        "optimizer state",
                        format!("{which} of {name} at index {i} is {}, not {why}", t[i]),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The global L2 norm of all gradients, as `clip_grad_norm_` measures it.
pub fn global_norm(grads: &[Vec<f64>]) -> f64 {
    grads.iter().flatten().map(|g| g * g).sum::<f64>().sqrt()
}

/// Clips in place: each element to `[-value, value]` first, then the whole set to a global
/// norm of at most `norm` (scaled by `norm / (‖g‖ + 1e-6)` when that is below 1, as PyTorch does).
pub fn clip(grads: &mut [Vec<f64>], norm: Option<f32>, value: Option<f32>) {
    if let Some(v) = value {
        let v = v as f64;
        grads.iter_mut().flatten().for_each(|g| *g = g.clamp(-v, v));
    }
    if let Some(n) = norm {
        let coef = n as f64 / (global_norm(grads) + 1e-6);
        if coef < 1.0 {
            grads.iter_mut().flatten().for_each(|g| *g *= coef);
        }
    }
}

/// One optimizer step over `params` (each tensor with its gradient, in the same order as
/// `state` was made for). Parameters are f32; the arithmetic is f64.
pub fn update(opt: &Optimizer, state: &mut OptimizerState, params: &mut [&mut [f32]], grads: &[Vec<f64>]) {
    state.step += 1;
    let t = state.step as i32;
    for (k, (p, g)) in params.iter_mut().zip(grads).enumerate() {
        let (m, v) = (&mut state.m[k], &mut state.v[k]);
        match *opt {
            Optimizer::Sgd { lr, momentum, weight_decay } => {
                for i in 0..p.len() {
                    let mut d = g[i] + weight_decay as f64 * p[i] as f64;
                    if momentum > 0.0 {
                        m[i] = if t == 1 { d } else { momentum as f64 * m[i] + d };
                        d = m[i];
                    }
                    p[i] = (p[i] as f64 - lr as f64 * d) as f32;
                }
            }
            Optimizer::Adam { lr, beta1, beta2, eps, weight_decay }
            | Optimizer::AdamW { lr, beta1, beta2, eps, weight_decay } => {
                let decoupled = matches!(opt, Optimizer::AdamW { .. });
                let (b1, b2) = (beta1 as f64, beta2 as f64);
                let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
                for i in 0..p.len() {
                    let mut w = p[i] as f64;
                    let mut d = g[i];
                    if decoupled {
                        w *= 1.0 - lr as f64 * weight_decay as f64;
                    } else {
                        d += weight_decay as f64 * w;
                    }
                    m[i] = b1 * m[i] + (1.0 - b1) * d;
                    v[i] = b2 * v[i] + (1.0 - b2) * d * d;
                    let denom = (v[i] / c2).sqrt() + eps as f64;
                    p[i] = (w - lr as f64 / c1 * m[i] / denom) as f32;
                }
            }
        }
    }
}
