//! One training step on the CPU in f64: forward with the tape, head, loss, backward through
//! the head, the stack and the embedding, clipping and the optimizer. The GPU trainer is
//! checked against it; the training cases (`tests/data/train`) check it against PyTorch.

use super::dropout::Dropout;
use super::loss::{LossKind, loss_and_grad};
use super::model::{
    Batch, BatchInputs, ENCODER_SEED, Embedding, Encoder, HeadMode, Source, TrainModel, push_stack_grads,
};
use super::optim::{Optimizer, OptimizerState, clip, global_norm, update};
use crate::cpu::{Masks, backward64, run_with};
use crate::error::{Error, Result};
use crate::network::{Inputs, Network};
use crate::tensor::{all_finite, elements};

/// How a model trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    pub loss: LossKind,
    pub optimizer: Optimizer,
    /// Clip the gradients to this global L2 norm (`clip_grad_norm_`) before each update.
    pub clip_norm: Option<f32>,
    /// Clip each gradient element to `[-v, v]` (`clip_grad_value_`), before any norm clipping.
    pub clip_value: Option<f32>,
    /// Dropout between the stack's layers while training (p = 0: none).
    pub dropout: Dropout,
}

impl TrainConfig {
    /// Sets the optimizer's learning rate, where `lr` is a finite number >= 0; else an error
    /// and nothing changes.
    pub fn set_learning_rate(&mut self, lr: f32) -> Result<()> {
        let optimizer = self.optimizer.with_lr(lr);
        optimizer.validate()?;
        self.optimizer = optimizer;
        Ok(())
    }

    /// Checks the optimizer and the clipping bounds.
    pub fn validate(&self) -> Result<()> {
        self.optimizer.validate()?;
        self.dropout.validate()?;
        for (what, v) in [("clip_norm", self.clip_norm), ("clip_value", self.clip_value)] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    return Err(Error::invalid(what, format!("{v} is not a finite number > 0")));
                }
            }
        }
        Ok(())
    }
}

/// What one training step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// The loss before the update.
    pub loss: f64,
    /// The global L2 norm of all gradients, before clipping.
    pub grad_norm: f64,
}

/// A stack's inputs `[T, B, I]` from token ids (through `embedding`) or features.
fn embed_inputs(
    embedding: Option<&Embedding>,
    stack: &Network,
    inputs: &BatchInputs,
    (t, b): (usize, usize),
    lengths: Option<Vec<usize>>,
) -> Result<Inputs> {
    let x = match (inputs, embedding) {
        (BatchInputs::Tokens(ids), Some(e)) => {
            if Some(ids.len()) != elements(&[t, b]) {
                return Err(Error::shape("tokens", format!("[T={t}, B={b}]"), format!("{} ids", ids.len())));
            }
            let mut x = Vec::with_capacity(ids.len() * e.dim);
            for (i, &id) in ids.iter().enumerate() {
                if id >= e.vocab {
                    return Err(Error::invalid(
                        "tokens",
                        format!("id {id} at position {i} is not below vocab {}", e.vocab),
                    ));
                }
                x.extend_from_slice(&e.weight[id * e.dim..(id + 1) * e.dim]);
            }
            x
        }
        (BatchInputs::Features(x), None) => x.clone(),
        (BatchInputs::Tokens(_), None) => {
            return Err(Error::invalid("inputs", "token ids, but the model has no embedding"));
        }
        (BatchInputs::Features(_), Some(_)) => {
            return Err(Error::invalid("inputs", "features, but the model embeds token ids"));
        }
    };
    let inp = Inputs { x, steps: t, batch: b, lengths, h0: None, c0: None };
    stack.validate_inputs(&inp)?;
    Ok(inp)
}

/// The gradient of an embedding's table from the gradient of the rows it gave (`dx [T*B, E]`).
fn embedding_grad(embedding: Option<&Embedding>, inputs: &BatchInputs, dx: &[f64]) -> Option<Vec<f64>> {
    match (embedding, inputs) {
        (Some(e), BatchInputs::Tokens(ids)) => {
            let mut de = vec![0.0; e.vocab * e.dim];
            for (i, &id) in ids.iter().enumerate() {
                for j in 0..e.dim {
                    de[id * e.dim + j] += dx[i * e.dim + j];
                }
            }
            Some(de)
        }
        _ => None,
    }
}

/// Which of the head's rows the loss counts: for a head at every step, row `t*B + b` when
/// `t < lengths[b]`; for a head on the final states, every sequence.
pub(crate) fn kept_rows(mode: HeadMode, t: usize, lengths: &[usize]) -> Vec<bool> {
    let b = lengths.len();
    match mode {
        HeadMode::Steps => (0..t * b).map(|r| r / b < lengths[r % b]).collect(),
        HeadMode::Last => vec![true; b],
    }
}

/// Checks a batch against a model and a loss without running anything: token ids below the
/// vocabulary (or features of the right size), lengths, targets. Returns the lengths and the
/// rows the loss counts.
pub(crate) fn check_batch(model: &TrainModel, loss: LossKind, batch: &Batch) -> Result<(Vec<usize>, usize)> {
    let (t, b) = (batch.steps, batch.batch);
    if t == 0 || b == 0 {
        return Err(Error::invalid("batch", format!("steps and batch must be at least 1 (got T={t}, B={b})")));
    }
    match (&batch.inputs, &model.embedding) {
        (BatchInputs::Tokens(ids), Some(e)) => {
            if Some(ids.len()) != elements(&[t, b]) {
                return Err(Error::shape("tokens", format!("[T={t}, B={b}]"), format!("{} ids", ids.len())));
            }
            if let Some((i, id)) = ids.iter().enumerate().find(|(_, id)| **id >= e.vocab) {
                return Err(Error::invalid(
                    "tokens",
                    format!("id {id} at position {i} is not below vocab {}", e.vocab),
                ));
            }
        }
        (BatchInputs::Features(x), None) => {
            let i = model.stack.input_size();
            if Some(x.len()) != elements(&[t, b, i]) {
                return Err(Error::shape("x", format!("[T={t}, B={b}, I={i}]"), format!("{} values", x.len())));
            }
            all_finite("x", x)?;
        }
        (BatchInputs::Tokens(_), None) => {
            return Err(Error::invalid("inputs", "token ids, but the model has no embedding"));
        }
        (BatchInputs::Features(_), Some(_)) => {
            return Err(Error::invalid("inputs", "features, but the model embeds token ids"));
        }
    }
    check_source(model, batch)?;
    let lengths = crate::network::Network::validate_lengths(t, b, batch.lengths.as_deref())?;
    let keep = kept_rows(model.head_mode, t, &lengths);
    let kept = super::loss::check_targets(loss, &batch.targets, model.head.outputs, &keep)?;
    Ok((lengths, kept))
}

/// A batch's source against the model's encoder: present exactly when there is one, token ids
/// below its vocabulary or features of its width, lengths within the source's steps.
fn check_source(model: &TrainModel, batch: &Batch) -> Result<()> {
    match (&model.encoder, &batch.source) {
        (None, None) => Ok(()),
        (Some(_), None) | (None, Some(_)) => Err(source_mismatch(model.encoder.is_some())),
        (Some(enc), Some(src)) => source_inputs(enc, src, batch.batch).map(|_| ()),
    }
}

/// A batch whose source does not match the model: one without an encoder, or a model with one.
fn source_mismatch(encoder: bool) -> Error {
    if encoder {
        Error::invalid("source", "the model has an encoder, but the batch has no source")
    } else {
        Error::invalid("source", "the batch has a source, but the model has no encoder")
    }
}

/// The encoder's inputs `[S, B, I]`; errors name the source.
fn source_inputs(enc: &Encoder, src: &Source, b: usize) -> Result<Inputs> {
    if src.steps == 0 {
        return Err(Error::invalid("source", "steps must be at least 1"));
    }
    embed_inputs(enc.embedding.as_ref(), &enc.stack, &src.inputs, (src.steps, b), src.lengths.clone())
        .map_err(|e| Error::invalid("source", e.to_string()))
}

/// The loss of `batch` and the gradient of every parameter, in
/// [`TrainModel::parameters_mut`]'s order.
pub fn loss_and_gradients(model: &TrainModel, kind: LossKind, batch: &Batch) -> Result<(f64, Vec<Vec<f64>>)> {
    loss_and_gradients_from(model, kind, batch, None, None).map(|(loss, grads, _)| (loss, grads))
}

/// The stack's state between the chunks of truncated backpropagation through time:
/// `h [L*D, B, H_out]`, `c [L*D, B, H]` (LSTM).
#[derive(Debug, Clone, PartialEq)]
pub struct CarriedState {
    pub h: Vec<f32>,
    pub c: Option<Vec<f32>>,
}

/// [`loss_and_gradients`] starting from `initial` (zeros when `None`; no gradient flows into
/// it), also returning the stack's final state.
pub(crate) fn loss_and_gradients_from(
    model: &TrainModel,
    kind: LossKind,
    batch: &Batch,
    initial: Option<&CarriedState>,
    dropout: Option<(&Dropout, u64)>,
) -> Result<(f64, Vec<Vec<f64>>, CarriedState)> {
    model.validate()?;
    let (t, b) = (batch.steps, batch.batch);
    let mut inp = embed_inputs(model.embedding.as_ref(), &model.stack, &batch.inputs, (t, b), batch.lengths.clone())?;
    // a sequence-to-sequence model: the encoder's final state starts the stack
    let encoded = match (&model.encoder, &batch.source) {
        (Some(_), _) if initial.is_some() => {
            return Err(Error::invalid("initial state", "a model with an encoder starts from the encoder's state"));
        }
        (Some(enc), Some(src)) => {
            let enc_inp = source_inputs(enc, src, b)?;
            let enc_dropout = dropout.map(|(d, step)| (Dropout { seed: d.seed ^ ENCODER_SEED, ..*d }, step));
            Some((enc, src, enc_inp, enc_dropout))
        }
        (Some(_), None) | (None, Some(_)) => return Err(source_mismatch(model.encoder.is_some())),
        (None, None) => None,
    };
    let enc_masks =
        encoded.as_ref().map(|(enc, _, _, d)| masks_of(d.as_ref().map(|(d, s)| (d, *s)), enc.stack.output_size()));
    let enc_run = match (&encoded, &enc_masks) {
        (Some((enc, _, enc_inp, _)), Some(m)) => Some(run_with(&enc.stack, enc_inp, true, &m.masks())?),
        _ => None,
    };
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let lstm = model.stack.cell() == crate::spec::Cell::Lstm;
    if let Some(r) = &enc_run {
        inp.h0 = Some(f32s(&r.h_n));
        inp.c0 = lstm.then(|| f32s(&r.c_n));
    }
    if let Some(s) = initial {
        inp.h0 = Some(s.h.clone());
        inp.c0 = s.c.clone();
        model.stack.validate_inputs(&inp)?;
    }
    let net = &model.stack;
    let (d, o, ld) = (net.directions(), net.output_size(), net.layers.len() * net.directions());
    let stack_masks = masks_of(dropout, net.output_size());
    let masks = stack_masks.masks();
    let fwd = run_with(net, &inp, true, &masks)?;
    // feat: [rows, Win], rows = T*B (time-major) or B
    let (rows, win) = (if model.head_mode == HeadMode::Steps { t * b } else { b }, model.head.inputs);
    let feat: Vec<f64> = match model.head_mode {
        HeadMode::Steps => fwd.y.clone(),
        HeadMode::Last => (0..b)
            .flat_map(|bi| (0..d).flat_map(move |di| ((ld - d + di) * b + bi) * o..((ld - d + di) * b + bi + 1) * o))
            .map(|i| fwd.h_n[i])
            .collect(),
    };
    let (c, hw, hb) = (model.head.outputs, &model.head.weight, &model.head.bias);
    let mut logits = vec![0.0; rows * c];
    for r in 0..rows {
        for k in 0..c {
            let dot: f64 = (0..win).map(|i| feat[r * win + i] * hw[k * win + i] as f64).sum();
            logits[r * c + k] = dot + hb[k] as f64;
        }
    }
    let lengths = inp.lengths.clone().unwrap_or_else(|| vec![t; b]);
    let keep = kept_rows(model.head_mode, t, &lengths);
    let (loss, dlogits) = loss_and_grad(kind, &logits, c, &batch.targets, &keep)?;
    // head backward: dW = dlogitsᵀ·feat, db = Σ dlogits, dfeat = dlogits·W
    let (mut dhw, mut dhb, mut dfeat) = (vec![0.0; c * win], vec![0.0; c], vec![0.0; rows * win]);
    for r in 0..rows {
        for k in 0..c {
            let g = dlogits[r * c + k];
            dhb[k] += g;
            for i in 0..win {
                dhw[k * win + i] += g * feat[r * win + i];
                dfeat[r * win + i] += g * hw[k * win + i] as f64;
            }
        }
    }
    let mut dy = vec![0.0; t * b * net.merged_width()];
    let mut dh_n = vec![0.0; ld * b * o];
    match model.head_mode {
        HeadMode::Steps => dy = dfeat,
        HeadMode::Last => {
            for bi in 0..b {
                for di in 0..d {
                    let src = &dfeat[bi * win + di * o..][..o];
                    dh_n[((ld - d + di) * b + bi) * o..][..o].copy_from_slice(src);
                }
            }
        }
    }
    let dc_n = vec![0.0; ld * b * net.layers[0].spec.hidden_size];
    let g = backward64(net, &inp, &dy, &dh_n, &dc_n, &fwd, &masks);
    let mut grads = Vec::new();
    if let (Some((enc, src, enc_inp, _)), Some(r), Some(m)) = (&encoded, &enc_run, &enc_masks) {
        // the encoder's backward: nothing arrives at its outputs, the decoder's dh0 and dc0 at
        // its final states
        let dy = vec![0.0; src.steps * b * enc.stack.merged_width()];
        let eg = backward64(&enc.stack, enc_inp, &dy, &g.h0, &g.c0, r, &m.masks());
        push_stack_grads(embedding_grad(enc.embedding.as_ref(), &src.inputs, &eg.x), eg.layers, &mut grads);
    }
    push_stack_grads(embedding_grad(model.embedding.as_ref(), &batch.inputs, &g.x), g.layers, &mut grads);
    grads.extend([dhw, dhb]);
    let last = CarriedState { h: f32s(&fwd.h_n), c: lstm.then(|| f32s(&fwd.c_n)) };
    Ok((loss, grads, last))
}

/// The dropout of one stack at one optimizer step: between layers (layer k's output is site
/// k) and the recurrent masks of h (`width` = H_out).
struct StackMasks<'a> {
    between: Box<Between<'a>>,
    recurrent: Box<Recurrent<'a>>,
}

/// `Masks::between`, `Masks::recurrent`, owned.
type Between<'a> = dyn Fn(usize, &mut [f64]) + 'a;
type Recurrent<'a> = dyn Fn(usize, usize, usize) -> Option<Vec<f64>> + 'a;

fn masks_of(dropout: Option<(&Dropout, u64)>, width: usize) -> StackMasks<'_> {
    StackMasks {
        between: Box::new(move |k, v| {
            if let Some((d, step)) = dropout {
                d.apply(step, k as u32, v);
            }
        }),
        recurrent: Box::new(move |k, dir, b| dropout.and_then(|(d, step)| d.recurrent_mask(step, k, dir, b, width))),
    }
}

impl StackMasks<'_> {
    fn masks(&self) -> Masks<'_> {
        Masks { between: &*self.between, recurrent: &*self.recurrent }
    }
}
/// One training step: loss and gradients, clipping, optimizer update. On a NaN or infinity in
/// the loss, a gradient or an updated weight it returns [`Error::NonFinite`] and changes
/// nothing.
pub fn reference_step(
    model: &mut TrainModel,
    state: &mut OptimizerState,
    cfg: &TrainConfig,
    batch: &Batch,
) -> Result<StepStats> {
    reference_step_from(model, state, cfg, batch, None).map(|(stats, _)| stats)
}

/// [`reference_step`] starting the stack from `initial` (truncated backpropagation through
/// time: the state carried from the chunk before, detached); also returns the final state.
pub(crate) fn reference_step_from(
    model: &mut TrainModel,
    state: &mut OptimizerState,
    cfg: &TrainConfig,
    batch: &Batch,
    initial: Option<&CarriedState>,
) -> Result<(StepStats, CarriedState)> {
    cfg.validate()?;
    state.check(model)?;
    let step = state.step + 1;
    let (loss, mut grads, last) = loss_and_gradients_from(model, cfg.loss, batch, initial, Some((&cfg.dropout, step)))?;
    if !loss.is_finite() {
        return Err(Error::NonFinite { step, tensor: "loss".into() });
    }
    if let Some(k) = grads.iter().position(|g| g.iter().any(|v| !v.is_finite())) {
        return Err(Error::NonFinite { step, tensor: format!("gradient of {}", model.parameter_names()[k]) });
    }
    let grad_norm = global_norm(&grads);
    clip(&mut grads, cfg.clip_norm, cfg.clip_value);
    // Update copies, and keep them only if every weight stayed finite in f32.
    let (mut new_model, mut new_state) = (model.clone(), state.clone());
    update(&cfg.optimizer, &mut new_state, &mut new_model.parameters_mut(), &grads);
    if let Some(k) = new_model.parameters_mut().iter().position(|p| p.iter().any(|v| !v.is_finite())) {
        return Err(Error::NonFinite { step, tensor: format!("{} after the update", model.parameter_names()[k]) });
    }
    (*model, *state) = (new_model, new_state);
    Ok((StepStats { loss, grad_norm }, last))
}
