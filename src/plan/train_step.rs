//! The plan of one optimizer step of Embedding -> stack -> Linear: the training pass of
//! [`TrainPlan`] with the embedding before it, the head and the loss between its forward and
//! its backward, and gradient norms, clipping and the optimizer after it. One encoder, one
//! submit; what comes back is `Stats` (the loss, the sums of squares, a failure flag).

use super::train::{FLAG_MM_ACCUMULATE, FLAG_MM_BIAS, Matmul, TBuf, TCommand, TrainLayer, TrainPlan, Walk};
use crate::network::Network;
use crate::train::{HeadMode, LossKind, TrainConfig, TrainModel};

/// Invocations per workgroup of `sum_squares` (WGSL `OPT_WORKGROUP`, a power of two).
pub const OPT_WORKGROUP: u32 = 256;
/// Most workgroups of `sum_squares` per parameter group, each summing a strided share into its
/// partial sums in `Stats` (WGSL `NORM_PARTS`); `sum_squares_finish` adds them up.
pub const NORM_PARTS: u32 = 128;
/// Fewest quads of gradients per `sum_squares` invocation before a group takes another
/// workgroup ([`norm_parts`]): a workgroup's reduction costs more than a few loads.
pub const NORM_SHARE: usize = 16;

/// The kernels of the norm and the update read and write a group four floats at a time: the
/// quads of a group of `len` floats.
pub fn group_quads(len: usize) -> usize {
    len.div_ceil(4)
}

/// The workgroups `sum_squares` takes for a group of `len` gradients: one per
/// `OPT_WORKGROUP * NORM_SHARE` quads of them, at most [`NORM_PARTS`].
pub fn norm_parts(len: usize) -> u32 {
    group_quads(len).div_ceil(OPT_WORKGROUP as usize * NORM_SHARE).clamp(1, NORM_PARTS as usize) as u32
}

/// Most workgroups of an `optimizer_update` or `optimizer_restore`, which stride over the
/// group's quads of parameters: an invocation computes the clip coefficient once for all of its
/// share, and a group of fewer quads than these invocations wakes one per quad. 4096 of
/// `TRAIN_WORKGROUP` invocations keep enough loads in flight for a GPU's memory.
pub const UPDATE_WORKGROUPS: u32 = 4096;
const _: () = assert!(UPDATE_WORKGROUPS as usize * super::train::TRAIN_WORKGROUP as usize >= 1 << 18);
/// Heads of more outputs than this take `loss_wide` (a workgroup per row) rather than `loss`
/// (an invocation per row, serial over the outputs).
pub const LOSS_WIDE_CLASSES: usize = 1024;
/// Invocations per workgroup of `loss_wide` (WGSL `LOSS_WORKGROUP`, a power of two).
pub const LOSS_WORKGROUP: u32 = 64;
/// `LossParams::kind` (WGSL `LOSS_*`).
pub const LOSS_CROSS_ENTROPY: u32 = 0;
pub const LOSS_MSE: u32 = 1;
/// `OptimizerParams::kind` (WGSL `OPT_*`).
pub const OPT_SGD: u32 = 0;
pub const OPT_ADAM: u32 = 1;
pub const OPT_ADAMW: u32 = 2;
/// `OptimizerParams::flags` (WGSL `FLAG_OPT_*`).
pub const FLAG_OPT_CLIP_VALUE: u32 = 1;
pub const FLAG_OPT_CLIP_NORM: u32 = 2;
pub const FLAG_OPT_FIRST_STEP: u32 = 4;
/// `DropoutParams::flags`: recurrent dropout on (WGSL `FLAG_DROP_RECURRENT`).
pub const FLAG_DROP_RECURRENT: u32 = 1;

/// Where a training step's initial state comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initial {
    /// The previous step's final state (`HN`, `CN`; zeroed by the stepper when new sequences
    /// start), detached: truncated BPTT, a trainer that carries the state. A failed step puts
    /// back the state it started from (`state_restore`).
    Carried,
    /// Zeros.
    Zero,
    /// `H0` and `C0` are another plan's buffers (a sequence-to-sequence step binds the
    /// encoder's `HN`, `CN` there); the gradients flow back through `Dh0`, `Dc0`.
    Bound,
}

/// What surrounds the stack in a training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepShape {
    /// `(vocab, E)` when the inputs are token ids.
    pub embedding: Option<(usize, usize)>,
    /// The head's width in (W) and out (C).
    pub head_in: usize,
    pub classes: usize,
    pub head_mode: HeadMode,
    pub loss: LossKind,
    /// Dropout between layers (`TrainConfig::dropout` with p > 0).
    pub dropout: bool,
    /// Recurrent dropout (`Dropout::recurrent` > 0): projected LSTMs do not fold
    /// (`TrainLayer::folded`).
    pub recurrent_dropout: bool,
    pub initial: Initial,
    /// How the layers walk through time (the device's choice: `StepShape::of` says
    /// `Walk::PerStep`, the GPU stepper sets it).
    pub walk: Walk,
}

impl StepShape {
    /// Read off a model and its training configuration.
    pub fn of(model: &TrainModel, cfg: &TrainConfig) -> StepShape {
        StepShape {
            embedding: model.embedding.as_ref().map(|e| (e.vocab, e.dim)),
            head_in: model.head.inputs,
            classes: model.head.outputs,
            head_mode: model.head_mode,
            loss: cfg.loss,
            dropout: cfg.dropout.p > 0.0 && model.stack.layers.len() > 1,
            recurrent_dropout: cfg.dropout.recurrent > 0.0,
            // the GPU stepper sets Carried while it carries the state
            initial: if model.encoder.is_some() { Initial::Bound } else { Initial::Zero },
            walk: Walk::PerStep,
        }
    }
}

/// A training step's parameter groups `(parameters, gradients, floats)`, in
/// `TrainModel::parameters_mut`'s order: the embedding, each layer's weights (one buffer), the
/// head's weight and bias (one buffer).
pub fn parameter_groups(layers: &[TrainLayer], shape: StepShape) -> Vec<(TBuf, TBuf, usize)> {
    let mut groups = Vec::new();
    if let Some((vocab, dim)) = shape.embedding {
        groups.push((TBuf::EmbW, TBuf::EmbGrad, vocab * dim));
    }
    groups.extend(layers.iter().enumerate().map(|(l, ly)| (TBuf::Wts(l), TBuf::Grads(l), ly.weights_len())));
    groups.push((TBuf::HeadW, TBuf::HeadGradW, shape.classes * (shape.head_in + 1)));
    groups
}

/// A sequence-to-sequence model's encoder's parameter groups, as its own plan names them: the
/// embedding, each layer's weights.
pub fn encoder_groups(layers: &[TrainLayer], embedding: Option<(usize, usize)>) -> Vec<(TBuf, TBuf, usize)> {
    let mut groups: Vec<_> =
        embedding.map(|(vocab, dim)| (TBuf::EmbW, TBuf::EmbGrad, vocab * dim)).into_iter().collect();
    groups.extend(layers.iter().enumerate().map(|(l, ly)| (TBuf::Wts(l), TBuf::Grads(l), ly.weights_len())));
    groups
}

impl TrainPlan {
    /// The plan of an evaluation: the forward, the head and the loss of a training step,
    /// without dropout, backward or update (from zero states, or from the encoder's when
    /// `shape.initial` is `Bound`). `Stats[0]` is the loss. `linked`: the encoder's parameter groups' sizes, as in [`Self::seq2seq_step`].
    pub fn evaluation(net: &Network, shape: StepShape, t: usize, b: usize, linked: &[usize]) -> TrainPlan {
        let initial = if shape.initial == Initial::Carried { Initial::Zero } else { shape.initial };
        let shape = StepShape { dropout: false, recurrent_dropout: false, initial, ..shape };
        let mut plan = TrainPlan::step_with(net, shape, t, b, linked);
        // the loss sum: one product into Stats, or several over its rows' chunks
        let into_stats = |c: &TCommand| matches!(c, TCommand::Matmul { c: TBuf::Stats, .. });
        let loss_sum = plan.commands.iter().position(into_stats).expect("a step sums the loss");
        let chunks = plan.commands[loss_sum..].iter().take_while(|c| into_stats(c)).count();
        plan.commands.truncate(loss_sum + chunks);
        plan
    }

    /// The plan of one optimizer step of `model`'s shape over `t` steps, batch `b`.
    pub fn training_step(net: &Network, shape: StepShape, t: usize, b: usize) -> TrainPlan {
        TrainPlan::step_with(net, shape, t, b, &[])
    }

    /// The two plans of one optimizer step of a sequence-to-sequence model: the encoder's pass
    /// over `s` source steps ([`Self::encoder_pass`]) and the decoder's step over `t` steps,
    /// whose `H0`, `C0` are the encoder's `HN`, `CN` and whose `Dh0`, `Dc0` are the encoder's
    /// `DhN`, `DcN` (the stepper binds them so), and which clips and updates the encoder's
    /// parameter groups (`EncParam(g)`, `EncGrad(g)`) with its own. Recorded interleaved: the
    /// encoder's forward, the decoder's up to `backward_at`, the encoder's backward, the rest of
    /// the decoder's.
    pub fn seq2seq_step(
        encoder: &Network,
        encoder_embedding: Option<(usize, usize)>,
        decoder: &Network,
        shape: StepShape,
        (s, t, b): (usize, usize, usize),
    ) -> (TrainPlan, TrainPlan) {
        let dropout = shape.dropout && encoder.layers.len() > 1;
        let enc =
            TrainPlan::encoder_pass(encoder, encoder_embedding, (dropout, shape.recurrent_dropout), shape.walk, s, b);
        let linked: Vec<usize> = enc.groups.iter().map(|g| g.2).collect();
        let dec = TrainPlan::step_with(decoder, StepShape { initial: Initial::Bound, ..shape }, t, b, &linked);
        (enc, dec)
    }

    /// A sequence-to-sequence model's encoder over `s` steps, batch `b`: from zero states,
    /// the embedding (when the source is token ids) and the forward with its tape; then, from
    /// `backward_at`, the backward from the gradients of its final states (`DhN`, `DcN`; none
    /// at its outputs) down to the embedding's. Its `groups` are its parameters (the embedding,
    /// each layer) for the decoder's plan to update; it has no head (`classes` 0). The pair says
    /// whether it has dropout between layers and recurrent dropout; `walk` is the decoder's.
    pub fn encoder_pass(
        net: &Network,
        embedding: Option<(usize, usize)>,
        (dropout, recurrent_dropout): (bool, bool),
        walk: Walk,
        s: usize,
        b: usize,
    ) -> TrainPlan {
        let mut plan = TrainPlan::new_empty(net, s, b, recurrent_dropout, walk);
        let shape = StepShape {
            embedding,
            head_in: 0,
            classes: 0,
            head_mode: HeadMode::Steps,
            loss: LossKind::CrossEntropy,
            dropout,
            recurrent_dropout,
            initial: Initial::Zero,
            walk,
        };
        plan.head = Some(shape);
        plan.dropout = dropout;
        plan.groups = encoder_groups(&plan.layers, embedding);
        plan.commands.extend([TCommand::Clear(TBuf::H0), TCommand::Clear(TBuf::C0)]);
        plan.forward_with_dropout();
        plan.backward_at = plan.commands.len();
        plan.commands.push(TCommand::Clear(TBuf::Dy));
        plan.backward_with_dropout();
        plan.split_long_products();
        plan
    }

    /// Embedding, then every layer's forward with dropout after all but the last.
    fn forward_with_dropout(&mut self) {
        if self.head.is_some_and(|h| h.embedding.is_some()) {
            self.commands.push(TCommand::Embed);
        }
        let layers = self.layers.len();
        for l in 0..layers {
            self.forward_layer(l);
            if self.dropout && l + 1 < layers {
                self.commands.push(TCommand::Dropout { layer: l });
            }
        }
    }

    /// Every layer's backward from the last (dropout's backward before each but the last),
    /// then the embedding's.
    fn backward_with_dropout(&mut self) {
        let layers = self.layers.len();
        for l in (0..layers).rev() {
            if self.dropout && l + 1 < layers {
                self.commands.push(TCommand::DropoutBackward { layer: l });
            }
            self.backward_layer(l);
        }
        if self.head.is_some_and(|h| h.embedding.is_some()) {
            self.commands.push(TCommand::Clear(TBuf::EmbGrad));
            let positions = self.steps * self.batch;
            let chunks = (0..positions).step_by(super::train::EMBED_ROWS);
            self.commands.extend(chunks.map(|first| TCommand::EmbedBackward { first }));
        }
    }

    /// A training step; `linked` are the sizes of parameter groups another plan computes the
    /// gradients of (a sequence-to-sequence step's encoder), clipped and updated first.
    fn step_with(net: &Network, shape: StepShape, t: usize, b: usize, linked: &[usize]) -> TrainPlan {
        let mut plan = TrainPlan::new_empty(net, t, b, shape.recurrent_dropout, shape.walk);
        plan.head = Some(shape);
        plan.dropout = shape.dropout;
        plan.groups = linked.iter().enumerate().map(|(g, &len)| (TBuf::EncParam(g), TBuf::EncGrad(g), len)).collect();
        plan.groups.extend(parameter_groups(&plan.layers, shape));
        plan.commands.push(TCommand::Clear(TBuf::Stats));
        let (hn, cn) = (plan.size(TBuf::HN), plan.size(TBuf::CN));
        match shape.initial {
            // the previous step's final state (truncated BPTT; the stepper zeroes HN and CN
            // when it does not carry), detached: no gradient flows into it
            Initial::Carried => plan.commands.extend([
                TCommand::Copy { src: TBuf::HN, src_off: 0, dst: TBuf::H0, dst_off: 0, len: hn },
                TCommand::Copy { src: TBuf::CN, src_off: 0, dst: TBuf::C0, dst_off: 0, len: cn },
            ]),
            Initial::Zero => plan.commands.extend([TCommand::Clear(TBuf::H0), TCommand::Clear(TBuf::C0)]),
            Initial::Bound => {}
        }
        plan.forward_with_dropout();
        plan.head_and_loss(shape);
        plan.backward_with_dropout();
        plan.backward_at = plan.commands.len();
        let groups = plan.groups.len();
        plan.commands.extend((0..groups).map(|group| TCommand::SumSquares { group }));
        plan.commands.push(TCommand::SumSquaresFinish);
        plan.commands.extend((0..groups).map(|group| TCommand::Update { group }));
        plan.commands.extend((0..groups).map(|group| TCommand::Restore { group }));
        if shape.initial == Initial::Carried {
            // a failed step hands on the state it started from, not its own
            plan.commands.push(TCommand::StateRestore);
        }
        plan.split_long_products();
        plan
    }

    /// Rows the head reads: every step's (`T*B`) or every sequence's final state (`B`).
    pub fn head_rows(&self) -> usize {
        match self.head.map(|h| h.head_mode) {
            Some(HeadMode::Last) => self.batch,
            _ => self.steps * self.batch,
        }
    }

    /// The head's forward, the loss, and the head's backward into the stack's upstream
    /// gradients (`Dy` for a head at every step, the last layer's `DhN` for one on the final
    /// states).
    fn head_and_loss(&mut self, shape: StepShape) {
        let (rows, c, win) = (self.head_rows(), shape.classes, shape.head_in);
        let last = self.layers.len() - 1;
        let (d, o, b) = (self.layers[last].dirs, self.layers[last].out, self.batch);
        // feature inputs: (buffer, offset, row stride, width, column offset in the head) per part
        let parts: Vec<(TBuf, usize, usize, usize, usize)> = match shape.head_mode {
            HeadMode::Steps => vec![(self.output(), 0, win, win, 0)],
            HeadMode::Last => (0..d).map(|dir| (TBuf::HN, (last * d + dir) * b * o, o, o, dir * o)).collect(),
        };
        let mut cmds = vec![TCommand::Clear(TBuf::DhN), TCommand::Clear(TBuf::DcN)];
        if shape.head_mode == HeadMode::Last {
            cmds.push(TCommand::Clear(TBuf::Dy));
        }
        // logits [rows, C] = Σ_parts feat · W[:, part]ᵀ + bias
        for (i, &(buf, off, stride, width, col)) in parts.iter().enumerate() {
            let p = Matmul {
                m: rows,
                n: c,
                k: width,
                flags: if i == 0 { FLAG_MM_BIAS } else { FLAG_MM_ACCUMULATE },
                bias_off: c * win,
                a_off: off,
                a_m: stride,
                a_k: 1,
                b_off: col,
                b_k: 1,
                b_n: win,
                c_m: c,
                c_n: 1,
                ..Matmul::default()
            };
            cmds.push(TCommand::Matmul { p, a: buf, b: TBuf::HeadW, c: TBuf::Logits });
        }
        cmds.push(TCommand::Loss { wide: c > LOSS_WIDE_CLASSES });
        let colsum = |m: usize, a: TBuf, a_k: usize, k: usize, c: TBuf, c_off: usize| TCommand::Matmul {
            p: Matmul { m, n: 1, k, a_m: 1, a_k, c_off, c_m: 1, ..Matmul::default() },
            a,
            b: TBuf::Ones,
            c,
        };
        cmds.push(colsum(1, TBuf::RowLoss, 1, rows, TBuf::Stats, 0));
        cmds.push(colsum(c, TBuf::DLogits, c, rows, TBuf::HeadGradW, c * win));
        for &(buf, off, stride, width, col) in &parts {
            // dW[:, part] [C, width] = dlogitsᵀ · feat
            let p = Matmul {
                m: c,
                n: width,
                k: rows,
                a_m: 1,
                a_k: c,
                b_off: off,
                b_k: stride,
                b_n: 1,
                c_off: col,
                c_m: win,
                c_n: 1,
                ..Matmul::default()
            };
            cmds.push(TCommand::Matmul { p, a: TBuf::DLogits, b: buf, c: TBuf::HeadGradW });
            // dfeat [rows, width] = dlogits · W[:, part], into the stack's upstream
            let (dst, c_off, c_m) = match shape.head_mode {
                HeadMode::Steps => (TBuf::Dy, 0, win),
                HeadMode::Last => (TBuf::DhN, off, o),
            };
            let p = Matmul {
                m: rows,
                n: width,
                k: c,
                a_m: c,
                a_k: 1,
                b_off: col,
                b_k: win,
                b_n: 1,
                c_off,
                c_m,
                c_n: 1,
                ..Matmul::default()
            };
            cmds.push(TCommand::Matmul { p, a: TBuf::DLogits, b: TBuf::HeadW, c: dst });
        }
        self.commands.extend(cmds);
    }

    /// Sizes of a training step's own buffers (floats; u32 for ids and class targets).
    pub(super) fn step_size(&self, buf: TBuf) -> usize {
        let head = self.head.expect("a training step's buffer");
        let (rows, c) = (self.head_rows(), head.classes);
        let group_len = |g: usize| self.groups[g].2;
        match buf {
            TBuf::Ids => self.steps * self.batch,
            TBuf::Targets => match head.loss {
                LossKind::CrossEntropy => rows,
                LossKind::Mse => rows * c,
            },
            TBuf::EmbW | TBuf::EmbGrad => head.embedding.map_or(0, |(v, e)| v * e),
            TBuf::HeadW | TBuf::HeadGradW => c * (head.head_in + 1),
            TBuf::Logits | TBuf::DLogits => rows * c,
            TBuf::RowLoss => rows,
            TBuf::Stats => self.stats_read() + 2 * self.groups.len() * NORM_PARTS as usize,
            TBuf::OptM(g) | TBuf::OptV(g) | TBuf::BackP(g) | TBuf::BackM(g) | TBuf::BackV(g) => group_len(g),
            other => unreachable!("{other:?} is sized by TrainPlan::size"),
        }
    }
}
