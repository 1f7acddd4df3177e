//! What trains: an optional `Embedding`, a recurrent stack, and a `Linear` head, with their
//! parameters, optionally behind an [`Encoder`] whose final state starts the stack
//! (sequence to sequence); and one batch of training data.

use crate::error::{Error, Result};
use crate::import::torch_state_dict;
use crate::network::Network;
use crate::tensor::{Tensor, all_finite, elements};
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

impl Embedding {
    /// The rows of `ids`, one after another (`[ids.len(), dim]`): the lookup on the host, for
    /// the few tokens a sampler feeds. Panics on an id past the vocabulary.
    pub fn rows(&self, ids: &[usize]) -> Vec<f32> {
        ids.iter().flat_map(|&id| self.weight[id * self.dim..][..self.dim].iter().copied()).collect()
    }
}

impl Linear {
    /// The outputs for one input row `x` (`inputs` values): `torch.nn.Linear` on the host, for
    /// the few rows a caller reads back (sampling, predictions).
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        (0..self.outputs)
            .map(|k| {
                self.bias[k]
                    + self.weight[k * self.inputs..][..self.inputs].iter().zip(x).map(|(w, v)| w * v).sum::<f32>()
            })
            .collect()
    }
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

/// The encoder of a sequence-to-sequence model: an optional `Embedding` and a recurrent stack
/// that reads the source. Its final states `h_n` (and `c_n`) are the decoder stack's initial
/// states, so the decoder's gradients of `h0` and `c0` flow back into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoder {
    /// Present when the source is token ids.
    pub embedding: Option<Embedding>,
    pub stack: Network,
}

/// Embedding -> stack -> Linear, optionally behind an encoder (sequence to sequence: the
/// encoder reads [`Batch::source`], its final state starts the stack, which reads the batch's
/// inputs, typically the targets shifted by one: teacher forcing).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainModel {
    /// Present when the inputs are token ids.
    pub embedding: Option<Embedding>,
    pub stack: Network,
    pub head: Linear,
    pub head_mode: HeadMode,
    /// Present for a sequence-to-sequence model.
    pub encoder: Option<Encoder>,
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
/// [`HeadMode::Last`]. A model with an [`Encoder`] also needs the `source` it encodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub inputs: BatchInputs,
    pub steps: usize,
    pub batch: usize,
    pub lengths: Option<Vec<usize>>,
    pub targets: Targets,
    /// What the encoder reads (sequence-to-sequence models only).
    pub source: Option<Source>,
}

/// The encoder's input of a batch: `[S, B]` token ids or `[S, B, I]` features, time-major,
/// with optional lengths (the encoder's final state is each sequence's state at its length).
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub inputs: BatchInputs,
    pub steps: usize,
    pub lengths: Option<Vec<usize>>,
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
        let embedding = match vocab {
            Some(v) => Some(Embedding { vocab: v, dim, weight: rng.vec(floats("embedding", v, dim)?, 1.0) }),
            None => None,
        };
        let mut model = TrainModel {
            embedding,
            stack,
            head: Linear { inputs: 0, outputs: classes, weight: vec![], bias: vec![] },
            head_mode,
            encoder: None,
        };
        let w = model.head_width();
        let scale = 1.0 / (w.max(1) as f32).sqrt();
        let weight = rng.vec(floats("head", classes, w)?, scale);
        model.head = Linear { inputs: w, outputs: classes, weight, bias: rng.vec(classes, scale) };
        model.validate()?;
        Ok(model)
    }

    /// A sequence-to-sequence model: `encoder` (with an `Embedding(vocab, I)` when
    /// `encoder_vocab` is given, drawn as [`TrainModel::new`] draws one) in front of the model
    /// [`TrainModel::new`] makes of the other arguments. The two stacks must have the same
    /// cell, layers, directions and sizes of h and c, so the encoder's final states fit the
    /// decoder's initial ones.
    pub fn seq2seq(
        encoder: Network,
        encoder_vocab: Option<usize>,
        decoder: Network,
        vocab: Option<usize>,
        classes: usize,
        head_mode: HeadMode,
        seed: u64,
    ) -> Result<TrainModel> {
        encoder.validate()?;
        let mut rng = crate::random::Rng::new(seed ^ ENCODER_SEED);
        let dim = encoder.input_size();
        let embedding = match encoder_vocab {
            Some(v) => Some(Embedding { vocab: v, dim, weight: rng.vec(floats("encoder.embedding", v, dim)?, 1.0) }),
            None => None,
        };
        let mut model = TrainModel::new(decoder, vocab, classes, head_mode, seed)?;
        model.encoder = Some(Encoder { embedding, stack: encoder });
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
        check_embedding("embedding", self.embedding.as_ref(), &self.stack)?;
        if let Some(enc) = &self.encoder {
            enc.stack.validate()?;
            check_embedding("encoder.embedding", enc.embedding.as_ref(), &enc.stack)?;
            let shape = |n: &Network| {
                let s = &n.layers[0].spec;
                (n.cell(), n.layers.len(), n.directions(), s.hidden_size, n.output_size())
            };
            let (e, d) = (shape(&enc.stack), shape(&self.stack));
            if e != d {
                return Err(Error::invalid(
                    "encoder",
                    format!(
                        "its final state must fit the decoder's initial one: encoder {:?} x{} layers, {} direction(s), \
                         hidden {}, output {}; decoder {:?} x{}, {}, hidden {}, output {}",
                        e.0, e.1, e.2, e.3, e.4, d.0, d.1, d.2, d.3, d.4
                    ),
                ));
            }
        }
        let h = &self.head;
        if h.inputs != self.head_width() || h.outputs == 0 {
            return Err(Error::invalid(
                "head",
                format!("Linear({}, {}) but the stack gives width {}", h.inputs, h.outputs, self.head_width()),
            ));
        }
        finite("head.weight", &h.weight, elements(&[h.outputs, h.inputs]))?;
        finite("head.bias", &h.bias, Some(h.outputs))
    }

    /// Every parameter tensor in a fixed order (the optimizer state's): the encoder's
    /// embedding and layers when there is an encoder, then the embedding, each layer's `W`,
    /// `R`, `B`, `P`, `W_hr` (ONNX layout), head weight and bias.
    pub fn parameters_mut(&mut self) -> Vec<&mut [f32]> {
        let mut v: Vec<&mut [f32]> = Vec::new();
        if let Some(enc) = &mut self.encoder {
            stack_parameters(enc.embedding.as_mut(), &mut enc.stack, &mut v);
        }
        stack_parameters(self.embedding.as_mut(), &mut self.stack, &mut v);
        v.push(&mut self.head.weight);
        v.push(&mut self.head.bias);
        v
    }

    /// Names of [`Self::parameters_mut`]'s tensors, in its order: `encoder.embedding.weight`,
    /// `encoder.rnn.l{k}.W`, ... with an encoder, then `embedding.weight`, `rnn.l{k}.W`, `.R`,
    /// `.B`, `.P`, `.W_hr` (ONNX layout), `head.weight`, `head.bias`.
    pub fn parameter_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(enc) = &self.encoder {
            stack_names("encoder.", enc.embedding.is_some(), &enc.stack, &mut v);
        }
        stack_names("", self.embedding.is_some(), &self.stack, &mut v);
        v.extend(["head.weight".to_string(), "head.bias".to_string()]);
        v
    }

    /// The parameters under PyTorch's `state_dict` names for `Embedding -> RNN/GRU/LSTM ->
    /// Linear` children called `embedding`, `rnn` and `head`: `embedding.weight`,
    /// `rnn.weight_ih_l0`, ..., `head.weight`, `head.bias`; an encoder's under
    /// `encoder.embedding.weight`, `encoder.rnn.*`. (Peepholes have no PyTorch name and are
    /// left out.)
    pub fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        if let Some(enc) = &self.encoder {
            if let Some(e) = &enc.embedding {
                let t = Tensor { shape: vec![e.vocab, e.dim], data: e.weight.clone() };
                v.push(("encoder.embedding.weight".to_string(), t));
            }
            let weights: Vec<_> = enc.stack.layers.iter().map(|l| l.weights.clone()).collect();
            v.extend(torch_state_dict(&enc.stack, &weights).into_iter().map(|(n, t)| (format!("encoder.rnn.{n}"), t)));
        }
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

/// Seeds the encoder's draws (and its dropout masks) apart from the decoder's.
pub(crate) const ENCODER_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// An embedding's and a stack's parameters, in `parameters_mut`'s order, onto `v`.
fn stack_parameters<'a>(embedding: Option<&'a mut Embedding>, stack: &'a mut Network, v: &mut Vec<&'a mut [f32]>) {
    if let Some(e) = embedding {
        v.push(&mut e.weight);
    }
    for l in &mut stack.layers {
        let w = &mut l.weights;
        v.extend([&mut w.w[..], &mut w.r[..], &mut w.b[..]]);
        if let Some(p) = &mut w.p {
            v.push(p);
        }
        if let Some(p) = &mut w.proj {
            v.push(p);
        }
    }
}

/// Their names, with `prefix`.
fn stack_names(prefix: &str, embedding: bool, stack: &Network, v: &mut Vec<String>) {
    if embedding {
        v.push(format!("{prefix}embedding.weight"));
    }
    for (k, l) in stack.layers.iter().enumerate() {
        v.extend(["W", "R", "B"].map(|n| format!("{prefix}rnn.l{k}.{n}")));
        if l.weights.p.is_some() {
            v.push(format!("{prefix}rnn.l{k}.P"));
        }
        if l.weights.proj.is_some() {
            v.push(format!("{prefix}rnn.l{k}.W_hr"));
        }
    }
}

/// An embedding that fits the stack it feeds.
fn check_embedding(name: &str, e: Option<&Embedding>, stack: &Network) -> Result<()> {
    let Some(e) = e else { return Ok(()) };
    if e.vocab == 0 || e.dim == 0 {
        return Err(Error::invalid(name, "vocab and dim must be at least 1"));
    }
    if e.dim != stack.input_size() {
        return Err(Error::invalid(
            name,
            format!("width {} but the stack's input size is {}", e.dim, stack.input_size()),
        ));
    }
    finite(&format!("{name}.weight"), &e.weight, elements(&[e.vocab, e.dim]))
}

/// An embedding's and a stack's gradients, in `parameters_mut`'s order, onto `v`.
pub(crate) fn push_stack_grads(
    embedding: Option<Vec<f64>>,
    stack: Vec<crate::cpu::LayerGrads64>,
    v: &mut Vec<Vec<f64>>,
) {
    v.extend(embedding);
    for l in stack {
        v.extend([l.w, l.r, l.b]);
        v.extend(l.p);
        v.extend(l.proj);
    }
}

/// `rows · cols` floats of a tensor `what` to draw, or [`Error::TooLarge`] where that passes
/// usize (no memory holds it).
fn floats(what: &str, rows: usize, cols: usize) -> Result<usize> {
    elements(&[rows, cols])
        .ok_or_else(|| Error::TooLarge(format!("{what}: {rows} x {cols} floats overflow a tensor's size")))
}

/// Checks `v` has `len` values (None: more than a usize counts) and that they are finite.
fn finite(name: &str, v: &[f32], len: Option<usize>) -> Result<()> {
    if Some(v.len()) != len {
        let want = len.map_or("more values than a usize counts".to_string(), |n| format!("{n} values"));
        return Err(Error::shape(name, want, format!("{} values", v.len())));
    }
    all_finite(name, v)
}

#[cfg(test)]
mod host_tests {
    use super::{Embedding, Linear};

    #[test]
    fn embedding_rows_and_linear_apply_on_the_host() {
        let e = Embedding { vocab: 3, dim: 2, weight: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0] };
        assert_eq!(e.rows(&[2, 0]), [4.0, 5.0, 0.0, 1.0]);
        let l =
            Linear { inputs: 2, outputs: 3, weight: vec![1.0, 0.0, 0.0, 1.0, 1.0, -1.0], bias: vec![0.5, 0.0, 1.0] };
        assert_eq!(l.apply(&[2.0, 3.0]), [2.5, 3.0, 0.0]);
    }
}
