//! What a recurrent layer computes: cell, direction, activations and options, independent of
//! weights and of any GPU. Semantics follow ONNX opset 22 (`RNN`, `GRU`, `LSTM`).

use crate::error::{Error, Result};

/// The recurrent cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cell {
    /// Vanilla RNN: `h = f(x·Wᵀ + h·Rᵀ + b)`, one gate.
    Rnn,
    /// GRU with gates in ONNX order `z, r, h`.
    Gru,
    /// LSTM with gates in ONNX order `i, o, f, c`.
    Lstm,
}

impl Cell {
    /// Number of gates G (rows of W are `G * hidden`).
    pub fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru => 3,
            Cell::Lstm => 4,
        }
    }
    /// Rows G·H of W and R for `hidden` units; None where G·H, or the 2·G·H biases beside
    /// them, pass `usize` (a size from a caller or a file can be anything).
    pub fn gate_rows(self, hidden: usize) -> Option<usize> {
        self.gates().checked_mul(hidden).filter(|gh| gh.checked_mul(2).is_some())
    }
    /// Number of activation functions per direction (ONNX `f`, `g`, `h`).
    pub fn activation_count(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru => 2,
            Cell::Lstm => 3,
        }
    }
    /// ONNX default activations for one direction.
    pub fn default_activations(self) -> Vec<Activation> {
        use ActivationKind::*;
        let kinds: &[ActivationKind] = match self {
            Cell::Rnn => &[Tanh],
            Cell::Gru => &[Sigmoid, Tanh],
            Cell::Lstm => &[Sigmoid, Tanh, Tanh],
        };
        kinds.iter().map(|&k| Activation::with_defaults(k)).collect()
    }
    /// Parses `RNN`, `GRU`, `LSTM` (case-insensitive).
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "RNN" => Ok(Cell::Rnn),
            "GRU" => Ok(Cell::Gru),
            "LSTM" => Ok(Cell::Lstm),
            _ => Err(Error::invalid("op", format!("unknown op `{s}` (expected RNN, GRU or LSTM)"))),
        }
    }
    /// Lower-case name, as used in shader and CLI names.
    pub fn name(self) -> &'static str {
        match self {
            Cell::Rnn => "rnn",
            Cell::Gru => "gru",
            Cell::Lstm => "lstm",
        }
    }
}

/// Which way(s) a layer scans time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Forward,
    Reverse,
    Bidirectional,
}

impl Direction {
    /// Number of directions D (2 for bidirectional).
    pub fn count(self) -> usize {
        if self == Direction::Bidirectional { 2 } else { 1 }
    }
    /// Whether direction slot `d` scans time backwards.
    pub fn is_reverse(self, d: usize) -> bool {
        matches!((self, d), (Direction::Reverse, 0) | (Direction::Bidirectional, 1))
    }
    /// Parses ONNX's `forward`, `reverse`, `bidirectional`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "forward" | "" => Ok(Direction::Forward),
            "reverse" => Ok(Direction::Reverse),
            "bidirectional" => Ok(Direction::Bidirectional),
            _ => Err(Error::invalid("direction", format!("unknown direction `{s}`"))),
        }
    }
}

/// How a bidirectional layer's two outputs are combined into what the next layer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MergeMode {
    /// `[fwd, rev]` side by side: width `2 * H_out` (PyTorch's behaviour).
    #[default]
    Concat,
    /// `fwd + rev`.
    Sum,
    /// `(fwd + rev) * 0.5`.
    Average,
    /// `fwd * rev`.
    Mul,
}

impl MergeMode {
    /// Every mode, in the order of their shader codes.
    pub const ALL: [MergeMode; 4] = [MergeMode::Concat, MergeMode::Sum, MergeMode::Average, MergeMode::Mul];

    /// Parses `concat`, `sum`, `average`, `mul`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "concat" | "" => Ok(MergeMode::Concat),
            "sum" => Ok(MergeMode::Sum),
            "average" | "ave" | "avg" => Ok(MergeMode::Average),
            "mul" => Ok(MergeMode::Mul),
            _ => Err(Error::invalid("merge_mode", format!("unknown merge mode `{s}` (concat, sum, average, mul)"))),
        }
    }
    /// Code used by `merge_directions.wgsl` (its `MERGE_*` constants, written from these by
    /// `kernels::prelude`).
    pub(crate) fn code(self) -> u32 {
        Self::ALL.iter().position(|&m| m == self).expect("mode is in ALL") as u32
    }
}

/// The eleven ONNX activation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivationKind {
    Relu,
    Tanh,
    Sigmoid,
    Affine,
    LeakyRelu,
    ThresholdedRelu,
    ScaledTanh,
    HardSigmoid,
    Elu,
    Softsign,
    Softplus,
}

impl ActivationKind {
    /// All kinds, in the order of their shader codes.
    pub const ALL: [ActivationKind; 11] = [
        ActivationKind::Relu,
        ActivationKind::Tanh,
        ActivationKind::Sigmoid,
        ActivationKind::Affine,
        ActivationKind::LeakyRelu,
        ActivationKind::ThresholdedRelu,
        ActivationKind::ScaledTanh,
        ActivationKind::HardSigmoid,
        ActivationKind::Elu,
        ActivationKind::Softsign,
        ActivationKind::Softplus,
    ];

    /// Shader code: the `ACT_*` constants of `shaders/shared/activations.wgsl`, written from these
    /// by `kernels::prelude`.
    pub(crate) fn code(self) -> u32 {
        Self::ALL.iter().position(|&k| k == self).expect("kind is in ALL") as u32
    }

    /// Parses an ONNX activation name, case-insensitively.
    pub fn parse(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        Self::ALL
            .iter()
            .copied()
            .find(|k| format!("{k:?}").to_ascii_lowercase() == lower)
            .ok_or_else(|| Error::invalid("activation", format!("unknown activation `{s}`")))
    }

    /// Whether the function reads `alpha` / `beta` (consumed in order from ONNX's lists).
    pub fn uses(self) -> (bool, bool) {
        use ActivationKind::*;
        match self {
            Affine | ScaledTanh | HardSigmoid => (true, true),
            LeakyRelu | ThresholdedRelu | Elu => (true, false),
            Relu | Tanh | Sigmoid | Softsign | Softplus => (false, false),
        }
    }

    /// Default `(alpha, beta)` when the lists run out, as ONNX Runtime uses them:
    /// LeakyRelu α=0.01, HardSigmoid α=0.2 β=0.5, Elu α=1; every other parameter 0.
    pub fn defaults(self) -> (f32, f32) {
        match self {
            ActivationKind::LeakyRelu => (0.01, 0.0),
            ActivationKind::HardSigmoid => (0.2, 0.5),
            ActivationKind::Elu => (1.0, 0.0),
            _ => (0.0, 0.0),
        }
    }
}

/// One activation function with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activation {
    pub kind: ActivationKind,
    pub alpha: f32,
    pub beta: f32,
}

impl Activation {
    /// The function with ONNX Runtime's default parameters.
    pub fn with_defaults(kind: ActivationKind) -> Self {
        let (alpha, beta) = kind.defaults();
        Activation { kind, alpha, beta }
    }

    /// Applies the function in f64 (the CPU reference).
    pub fn apply(&self, x: f64) -> f64 {
        let (a, b) = (self.alpha as f64, self.beta as f64);
        match self.kind {
            ActivationKind::Relu => x.max(0.0),
            ActivationKind::Tanh => x.tanh(),
            ActivationKind::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            ActivationKind::Affine => a * x + b,
            ActivationKind::LeakyRelu => {
                if x >= 0.0 {
                    x
                } else {
                    a * x
                }
            }
            ActivationKind::ThresholdedRelu => {
                if x >= a {
                    x
                } else {
                    0.0
                }
            }
            ActivationKind::ScaledTanh => a * (b * x).tanh(),
            ActivationKind::HardSigmoid => (a * x + b).clamp(0.0, 1.0),
            ActivationKind::Elu => {
                if x >= 0.0 {
                    x
                } else {
                    a * (x.exp() - 1.0)
                }
            }
            ActivationKind::Softsign => x / (1.0 + x.abs()),
            ActivationKind::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
        }
    }

    /// The derivative `f'(x)` in f64 (the CPU reference's backward). At a kink it takes the
    /// value torch autograd takes: 0 for `Relu` at 0, the right-hand slope for `LeakyRelu` and
    /// `Elu` at 0, 1 for `ThresholdedRelu` at `alpha`, 0 where `HardSigmoid` is saturated.
    pub fn derivative(&self, x: f64) -> f64 {
        let (a, b) = (self.alpha as f64, self.beta as f64);
        match self.kind {
            ActivationKind::Relu => f64::from(x > 0.0),
            ActivationKind::Tanh => 1.0 - x.tanh().powi(2),
            ActivationKind::Sigmoid => {
                let s = 1.0 / (1.0 + (-x).exp());
                s * (1.0 - s)
            }
            ActivationKind::Affine => a,
            ActivationKind::LeakyRelu => {
                if x > 0.0 {
                    1.0
                } else {
                    a
                }
            }
            ActivationKind::ThresholdedRelu => f64::from(x >= a),
            ActivationKind::ScaledTanh => a * b * (1.0 - (b * x).tanh().powi(2)),
            ActivationKind::HardSigmoid => {
                let y = a * x + b;
                if y > 0.0 && y < 1.0 { a } else { 0.0 }
            }
            ActivationKind::Elu => {
                if x > 0.0 {
                    1.0
                } else {
                    a * x.exp()
                }
            }
            ActivationKind::Softsign => 1.0 / (1.0 + x.abs()).powi(2),
            ActivationKind::Softplus => 1.0 / (1.0 + (-x).exp()),
        }
    }
}

/// Resolves ONNX's `activations`, `activation_alpha`, `activation_beta` attributes into one list
/// per direction. An empty name list gives the cell's defaults. The list holds either one entry
/// per function per direction (ONNX's form) or one direction's worth, used for both.
pub fn resolve_activations(
    cell: Cell,
    directions: usize,
    names: &[String],
    alphas: &[f32],
    betas: &[f32],
) -> Result<Vec<Vec<Activation>>> {
    let n = cell.activation_count();
    if names.is_empty() {
        if !alphas.is_empty() || !betas.is_empty() {
            // Defaults take no parameters, so any given would be silently ignored: refuse.
            return Err(Error::invalid("activation_alpha/beta", "given without `activations`"));
        }
        return Ok(vec![cell.default_activations(); directions]);
    }
    if names.len() != n && names.len() != n * directions {
        return Err(Error::invalid(
            "activations",
            format!(
                "{} needs {} activation(s) per direction ({} directions), got {}",
                cell.name(),
                n,
                directions,
                names.len()
            ),
        ));
    }
    let (mut ai, mut bi) = (alphas.iter(), betas.iter());
    let mut all = Vec::with_capacity(names.len());
    for name in names {
        let kind = ActivationKind::parse(name)?;
        let (ua, ub) = kind.uses();
        let (da, db) = kind.defaults();
        let alpha = if ua { ai.next().copied().unwrap_or(da) } else { da };
        let beta = if ub { bi.next().copied().unwrap_or(db) } else { db };
        all.push(Activation { kind, alpha, beta });
    }
    if ai.next().is_some() || bi.next().is_some() {
        return Err(Error::invalid("activation_alpha/beta", "more values than the activations consume"));
    }
    let per_dir: Vec<Vec<Activation>> = all.chunks(n).map(|c| c.to_vec()).collect();
    Ok((0..directions).map(|d| per_dir[d.min(per_dir.len() - 1)].clone()).collect())
}

/// One recurrent layer's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    pub cell: Cell,
    pub direction: Direction,
    /// Width of the layer's input (I).
    pub input_size: usize,
    /// Hidden size H (cell width).
    pub hidden_size: usize,
    /// LSTM projection size P (`h = W_hr (o ⊙ tanh c)`), PyTorch's `proj_size`, below
    /// `hidden_size`; 0 for none.
    pub proj_size: usize,
    /// Activations per direction: `activations[d]` has `cell.activation_count()` entries.
    pub activations: Vec<Vec<Activation>>,
    /// Bound on the inputs of the activations (`clip` attribute), if any.
    pub clip: Option<f32>,
    /// LSTM: couple the input and forget gates (`f = 1 - i`).
    pub input_forget: bool,
    /// GRU: apply the reset gate after the recurrent product (PyTorch's GRU).
    pub linear_before_reset: bool,
}

impl LayerSpec {
    /// A layer with ONNX defaults for everything but the sizes.
    pub fn new(cell: Cell, direction: Direction, input_size: usize, hidden_size: usize) -> Self {
        LayerSpec {
            cell,
            direction,
            input_size,
            hidden_size,
            proj_size: 0,
            activations: vec![cell.default_activations(); direction.count()],
            clip: None,
            input_forget: false,
            linear_before_reset: false,
        }
    }
    /// Number of directions D.
    pub fn directions(&self) -> usize {
        self.direction.count()
    }
    /// Width of `h` (H_out): the projection size when there is one, else H.
    pub fn output_size(&self) -> usize {
        if self.proj_size > 0 { self.proj_size } else { self.hidden_size }
    }
    /// Checks the configuration on its own (sizes, activation lists, options).
    pub fn validate(&self) -> Result<()> {
        if self.input_size == 0 || self.hidden_size == 0 {
            return Err(Error::invalid("layer", "input_size and hidden_size must be at least 1"));
        }
        if self.proj_size > 0 && self.cell != Cell::Lstm {
            return Err(Error::invalid("proj_size", "only LSTM layers have a projection"));
        }
        // as torch.nn.LSTM, the only source of projections (ONNX has none): a model trained
        // with a wider one could be saved but not loaded into PyTorch, nor back here
        if self.proj_size > 0 && self.proj_size >= self.hidden_size {
            return Err(Error::invalid(
                "proj_size",
                format!(
                    "{} must be below hidden_size {} (as torch.nn.LSTM requires)",
                    self.proj_size, self.hidden_size
                ),
            ));
        }
        if self.activations.len() != self.directions()
            || self.activations.iter().any(|a| a.len() != self.cell.activation_count())
        {
            return Err(Error::invalid("activations", "one list per direction with one entry per function"));
        }
        if let Some(c) = self.clip {
            if c.is_nan() || c <= 0.0 || !c.is_finite() {
                return Err(Error::invalid("clip", format!("must be a positive finite number, got {c}")));
            }
        }
        if self.input_forget && self.cell != Cell::Lstm {
            return Err(Error::invalid("input_forget", "only LSTM has input_forget"));
        }
        if self.linear_before_reset && self.cell != Cell::Gru {
            return Err(Error::invalid("linear_before_reset", "only GRU has linear_before_reset"));
        }
        Ok(())
    }
}
