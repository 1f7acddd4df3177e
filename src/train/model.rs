//! What trains: an optional `Embedding`, a recurrent stack, and a `Linear` head, with their
//! parameters; and one batch of training data.

use crate::error::{Error, Result};
use crate::import::torch_state_dict;
use crate::network::Network;
use crate::tensor::Tensor;
use crate::train::loss::Targets;

/// `torch.nn.Embedding(vocab, dim)`: token id `k` reads row `k` of `weight [vocab, dim]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    pub vocab: usize,
    pub dim: usize,
    /// `[vocab, dim]`
    pub weight: Vec<f32>,
}

/// `torch.nn.Linear(inputs, outputs)`: `y = x·weightᵀ + bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    pub inputs: usize,
    pub outputs: usize,
    /// `[outputs, inputs]`
    pub weight: Vec<f32>,
    /// `[outputs]`
    pub bias: Vec<f32>,
}

/// Which of the stack's outputs the head reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadMode {
    /// Every step's merged output `y [T, B, W]`: outputs `[T, B, C]` (tagging, language models).
    Steps,
    /// The last layer's final states, directions side by side (forward, then reverse):
    /// `[B, D*H_out]` in, `[B, C]` out (classification).
    Last,
}

impl HeadMode {
    /// Parses `steps` or `last`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim() {
            "steps" => Ok(HeadMode::Steps),
            "last" => Ok(HeadMode::Last),
            other => Err(Error::invalid("head", format!("unknown head mode `{other}` (steps or last)"))),
        }
    }
}

/// Embedding -> stack -> Linear.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainModel {
    /// Present when the inputs are token ids.
    pub embedding: Option<Embedding>,
    pub stack: Network,
    pub head: Linear,
    pub head_mode: HeadMode,
}

/// The inputs of one batch, time-major.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchInputs {
    /// Token ids `[T, B]` (the model has an embedding).
    Tokens(Vec<usize>),
    /// Features `[T, B, I]`.
    Features(Vec<f32>),
}

/// One batch: inputs, optional lengths (packed sequences) and targets, time-major. Targets
/// are `[T, B]` classes or `[T, B, C]` values for [`HeadMode::Steps`], `[B]` or `[B, C]` for
/// [`HeadMode::Last`].
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub inputs: BatchInputs,
    pub steps: usize,
    pub batch: usize,
    pub lengths: Option<Vec<usize>>,
    pub targets: Targets,
}

impl TrainModel {
    /// A model around `stack`: an `Embedding(vocab, I)` in front when `vocab` is given (weights
    /// uniform in [-1, 1)), and a `Linear(W, classes)` head reading `head_mode`'s width (uniform
    /// in ±1/√W, as `torch.nn.Linear` draws them). `seed` makes the draw repeatable.
    pub fn new(
        stack: Network,
        vocab: Option<usize>,
        classes: usize,
        head_mode: HeadMode,
        seed: u64,
    ) -> Result<TrainModel> {
        stack.validate()?;
        let mut rng = crate::random::Rng::new(seed);
        let dim = stack.input_size();
        let embedding = vocab.map(|v| Embedding { vocab: v, dim, weight: rng.vec(v * dim, 1.0) });
        let mut model = TrainModel {
            embedding,
            stack,
            head: Linear { inputs: 0, outputs: classes, weight: vec![], bias: vec![] },
            head_mode,
        };
        let w = model.head_width();
        let scale = 1.0 / (w.max(1) as f32).sqrt();
        model.head =
            Linear { inputs: w, outputs: classes, weight: rng.vec(classes * w, scale), bias: rng.vec(classes, scale) };
        model.validate()?;
        Ok(model)
    }

    /// Width the head reads: the merged output's for `Steps`, `D*H_out` for `Last`.
    pub fn head_width(&self) -> usize {
        match self.head_mode {
            HeadMode::Steps => self.stack.merged_width(),
            HeadMode::Last => self.stack.directions() * self.stack.output_size(),
        }
    }

    /// Checks the parts fit together: the embedding's width is the stack's input, the head
    /// reads what the stack gives, every size and weight count is right and finite.
    pub fn validate(&self) -> Result<()> {
        self.stack.validate()?;
        if let Some(e) = &self.embedding {
            if e.vocab == 0 || e.dim == 0 {
                return Err(Error::invalid("embedding", "vocab and dim must be at least 1"));
            }
            if e.dim != self.stack.input_size() {
                return Err(Error::invalid(
                    "embedding",
                    format!("width {} but the stack's input size is {}", e.dim, self.stack.input_size()),
                ));
            }
            finite("embedding.weight", &e.weight, e.vocab * e.dim)?;
        }
        let h = &self.head;
        if h.inputs != self.head_width() || h.outputs == 0 {
            return Err(Error::invalid(
                "head",
                format!("Linear({}, {}) but the stack gives width {}", h.inputs, h.outputs, self.head_width()),
            ));
        }
        finite("head.weight", &h.weight, h.outputs * h.inputs)?;
        finite("head.bias", &h.bias, h.outputs)
    }

    /// Every parameter tensor in a fixed order (the optimizer state's): embedding, each
    /// layer's `W`, `R`, `B`, `P`, `W_hr` (ONNX layout), head weight and bias.
    pub fn parameters_mut(&mut self) -> Vec<&mut [f32]> {
        let mut v: Vec<&mut [f32]> = Vec::new();
        if let Some(e) = &mut self.embedding {
            v.push(&mut e.weight);
        }
        for l in &mut self.stack.layers {
            let w = &mut l.weights;
            v.extend([&mut w.w[..], &mut w.r[..], &mut w.b[..]]);
            if let Some(p) = &mut w.p {
                v.push(p);
            }
            if let Some(p) = &mut w.proj {
                v.push(p);
            }
        }
        v.push(&mut self.head.weight);
        v.push(&mut self.head.bias);
        v
    }

    /// Names of [`Self::parameters_mut`]'s tensors, in its order: `embedding.weight`,
    /// `rnn.l{k}.W`, `.R`, `.B`, `.P`, `.W_hr` (ONNX layout), `head.weight`, `head.bias`.
    pub fn parameter_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.embedding.is_some() {
            v.push("embedding.weight".to_string());
        }
        for (k, l) in self.stack.layers.iter().enumerate() {
            v.extend(["W", "R", "B"].map(|n| format!("rnn.l{k}.{n}")));
            if l.weights.p.is_some() {
                v.push(format!("rnn.l{k}.P"));
            }
            if l.weights.proj.is_some() {
                v.push(format!("rnn.l{k}.W_hr"));
            }
        }
        v.extend(["head.weight".to_string(), "head.bias".to_string()]);
        v
    }

    /// The parameters under PyTorch's `state_dict` names for `Embedding -> RNN/GRU/LSTM ->
    /// Linear` children called `embedding`, `rnn` and `head`: `embedding.weight`,
    /// `rnn.weight_ih_l0`, ..., `head.weight`, `head.bias`. (Peepholes have no PyTorch name
    /// and are left out.)
    pub fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        if let Some(e) = &self.embedding {
            v.push(("embedding.weight".to_string(), Tensor { shape: vec![e.vocab, e.dim], data: e.weight.clone() }));
        }
        let weights: Vec<_> = self.stack.layers.iter().map(|l| l.weights.clone()).collect();
        v.extend(torch_state_dict(&self.stack, &weights).into_iter().map(|(n, t)| (format!("rnn.{n}"), t)));
        let h = &self.head;
        v.push(("head.weight".to_string(), Tensor { shape: vec![h.outputs, h.inputs], data: h.weight.clone() }));
        v.push(("head.bias".to_string(), Tensor { shape: vec![h.outputs], data: h.bias.clone() }));
        v
    }

    /// The sizes of [`Self::parameters_mut`]'s tensors, in its order.
    pub fn parameter_sizes(&self) -> Vec<usize> {
        self.clone().parameters_mut().iter().map(|p| p.len()).collect()
    }
}

/// Gradients of every parameter, in [`TrainModel::parameters_mut`]'s order, f64.
pub(crate) fn flatten_grads(
    embedding: Option<Vec<f64>>,
    stack: Vec<crate::cpu::LayerGrads64>,
    head_w: Vec<f64>,
    head_b: Vec<f64>,
) -> Vec<Vec<f64>> {
    let mut v = Vec::new();
    v.extend(embedding);
    for l in stack {
        v.extend([l.w, l.r, l.b]);
        v.extend(l.p);
        v.extend(l.proj);
    }
    v.push(head_w);
    v.push(head_b);
    v
}

fn finite(name: &str, v: &[f32], len: usize) -> Result<()> {
    if v.len() != len {
        return Err(Error::shape(name, format!("{len} values"), format!("{} values", v.len())));
    }
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(Error::invalid(name, format!("non-finite value at index {i}"))),
        None => Ok(()),
    }
}
