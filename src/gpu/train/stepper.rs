//! [`GpuStepper`]: optimizer steps of Embedding -> stack -> Linear on the GPU, one encoder and
//! one submit each, reading back only the loss and the sums of squares (a few floats).

use std::collections::HashMap;
use std::sync::Arc;

use super::params::{DropoutParams, LossParams, OptimizerParams};
use super::unread::UnreadSteps;
use super::workspace::{TrainWorkspace, storage, storage_init};
use crate::error::{Error, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::download::PendingReads;
use crate::plan::train::{TBuf, TrainLayer, TrainPlan, Walk};
use crate::plan::train_step::{self as ts, Initial, StepShape};
use crate::train::{
    Batch, BatchInputs, Dropout, Optimizer, OptimizerState, STATS_WINDOW, Source, StepStats, Targets, TrainConfig,
    TrainModel,
};

/// A model's parameters, gradients and optimizer state on the GPU, stepped by one submit per
/// batch. The model on the host is read back by [`GpuStepper::model`].
pub struct GpuStepper {
    ctx: Arc<GpuContext>,
    /// The model as it was made (its shapes; its values are the GPU's after [`Self::model`]).
    model: TrainModel,
    cfg: TrainConfig,
    shape: StepShape,
    /// Parameter groups `(parameters, gradients, floats)`, as `TrainPlan::groups`.
    groups: Vec<(TBuf, TBuf, usize)>,
    buffers: HashMap<TBuf, wgpu::Buffer>,
    step: u64,
    workspace: Option<TrainWorkspace>,
    /// The workspace of evaluations (forward and loss only).
    eval_workspace: Option<TrainWorkspace>,
    /// A sequence-to-sequence model's encoder: its parameter groups as its plan
    /// names them (the stepper's `EncParam(g)`, `EncGrad(g)`), and its workspaces for steps
    /// and evaluations.
    encoder: Option<EncoderSide>,
    /// Truncated BPTT: each step starts from the previous step's final state.
    carry: bool,
    /// The batch size of the state carried (None: zero state).
    carried_batch: Option<usize>,
    /// Steps run with [`Self::step_unread`] whose statistics [`Self::unread_stats`] has not
    /// read yet, and their slots in `window`.
    unread: UnreadSteps,
    /// [`STATS_WINDOW`] slots of a step's `Stats` (made with the first unread step).
    window: Option<wgpu::Buffer>,
}

/// The encoder of a sequence-to-sequence model on the GPU.
struct EncoderSide {
    net: crate::network::Network,
    embedding: Option<(usize, usize)>,
    groups: Vec<(TBuf, TBuf, usize)>,
    workspace: Option<TrainWorkspace>,
    eval_workspace: Option<TrainWorkspace>,
}

impl EncoderSide {
    /// The encoder's parameters by its plan's names, from the stepper's buffers.
    fn parameters(&self, buffers: &HashMap<TBuf, wgpu::Buffer>) -> HashMap<TBuf, wgpu::Buffer> {
        let mut m = HashMap::new();
        for (g, &(p, grad, _)) in self.groups.iter().enumerate() {
            m.insert(p, buffers[&TBuf::EncParam(g)].clone());
            m.insert(grad, buffers[&TBuf::EncGrad(g)].clone());
        }
        m
    }

    /// Its parameter groups' sizes.
    fn sizes(&self) -> Vec<usize> {
        self.groups.iter().map(|g| g.2).collect()
    }
}

impl std::fmt::Debug for GpuStepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuStepper").field("shape", &self.shape).field("step", &self.step).finish_non_exhaustive()
    }
}

/// The GPU's parameter groups of `model`, in order: each group's name (in messages) and how
/// many of `TrainModel::parameters_mut`'s tensors it holds, one after another: an embedding's
/// weight, a layer's W, R, B (P, W_hr), the head's weight and bias; the encoder's first.
fn group_layout(model: &TrainModel) -> Vec<(String, usize)> {
    let mut v = Vec::new();
    let mut stack = |prefix: &str, embedding: bool, net: &crate::network::Network| {
        if embedding {
            v.push((format!("{prefix}embedding.weight"), 1));
        }
        for (k, l) in net.layers.iter().enumerate() {
            let tensors = 3 + usize::from(l.weights.p.is_some()) + usize::from(l.weights.proj.is_some());
            v.push((format!("{prefix}rnn.l{k}"), tensors));
        }
    };
    if let Some(enc) = &model.encoder {
        stack("encoder.", enc.embedding.is_some(), &enc.stack);
    }
    stack("", model.embedding.is_some(), &model.stack);
    v.push(("head".to_string(), 2));
    v
}

/// Each group's parameters as one buffer holds them: its tensors (`group_layout`) joined.
fn group_values(model: &TrainModel) -> Vec<Vec<f32>> {
    let layout = group_layout(model);
    let mut model = model.clone();
    let mut tensors = model.parameters_mut().into_iter();
    layout.iter().map(|&(_, n)| tensors.by_ref().take(n).flat_map(|t| t.iter().copied()).collect()).collect()
}

impl GpuStepper {
    /// Validates the model and the configuration, and uploads the parameters with zeroed
    /// optimizer state.
    pub fn new(ctx: Arc<GpuContext>, model: TrainModel, cfg: TrainConfig) -> Result<GpuStepper> {
        model.validate()?;
        cfg.validate()?;
        ctx.train_pipelines()?;
        let walk = ctx.training_walk();
        let shape = StepShape { walk, ..StepShape::of(&model, &cfg) };
        let layers = TrainLayer::of(&model.stack);
        let encoder = model.encoder.as_ref().map(|enc| {
            let layers = TrainLayer::of(&enc.stack);
            let embedding = enc.embedding.as_ref().map(|e| (e.vocab, e.dim));
            let groups = ts::encoder_groups(&layers, embedding);
            EncoderSide { net: enc.stack.clone(), embedding, groups, workspace: None, eval_workspace: None }
        });
        let mut groups: Vec<(TBuf, TBuf, usize)> = encoder.as_ref().map_or(vec![], |e| {
            e.groups.iter().enumerate().map(|(g, grp)| (TBuf::EncParam(g), TBuf::EncGrad(g), grp.2)).collect()
        });
        groups.extend(ts::parameter_groups(&layers, shape));
        let values = group_values(&model);
        let buffers = ctx.scoped("uploading a model for training", || {
            let label = |buf: TBuf| format!("wgpu-rnn.train.{buf:?}");
            let mut m = HashMap::new();
            for (g, (&(p, grad, len), value)) in groups.iter().zip(&values).enumerate() {
                m.insert(p, storage_init(&ctx.device, &label(p), value));
                // gradients, moments and the update's backups start at zero (wgpu zeroes new buffers)
                let zeroed = [grad, TBuf::OptM(g), TBuf::OptV(g), TBuf::BackP(g), TBuf::BackM(g), TBuf::BackV(g)];
                m.extend(zeroed.map(|b| (b, storage(&ctx.device, &label(b), len))));
            }
            m
        })?;
        Ok(GpuStepper {
            ctx,
            model,
            cfg,
            shape,
            groups,
            buffers,
            step: 0,
            workspace: None,
            eval_workspace: None,
            encoder,
            carry: false,
            carried_batch: None,
            unread: UnreadSteps::default(),
            window: None,
        })
    }

    /// Truncated backpropagation through time: with `on`, each step starts from the stack's
    /// final state of the step before (detached: no gradient crosses), and the first step after
    /// this call or [`Self::reset_state`] from zeros; a failed step, read or unread, hands on
    /// the state it started from. Off: every step starts from zeros.
    pub fn carry_state(&mut self, on: bool) {
        self.carry = on;
        self.carried_batch = None;
        if self.encoder.is_none() {
            // the next step's plan copies the state in and restores it after a failure
            self.shape.initial = if on { Initial::Carried } else { Initial::Zero };
        }
    }

    /// Zeroes the carried state (the next chunks belong to new sequences).
    pub fn reset_state(&mut self) {
        self.carried_batch = None;
    }

    /// Optimizer steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The configuration it trains with.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// The learning rate of the steps recorded from now on
    /// ([`crate::train::Trainer::set_learning_rate`]).
    pub fn set_learning_rate(&mut self, lr: f32) -> Result<()> {
        self.cfg.set_learning_rate(lr)
    }

    /// One optimizer step on `batch`: forward, loss, backward, clipping and the update, one
    /// submit. Errors: a batch that does not fit the model ([`Error::Invalid`], [`Error::Shape`]),
    /// and [`Error::NonFinite`] naming the step and the tensor when the loss, a gradient or an
    /// updated weight is not finite; after any error the parameters and the optimizer state are
    /// as they were before the call.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn step(&mut self, batch: &Batch) -> Result<StepStats> {
        let stats = match self.submit(batch, true)? {
            Some(read) => first(self.ctx.scoped("reading a step's statistics", || read.wait())??),
            None => Vec::new(),
        };
        self.judge(&stats, self.step + 1)
    }

    /// [`Self::step`] for async code, and the only form in a browser.
    pub async fn step_async(&mut self, batch: &Batch) -> Result<StepStats> {
        let ctx = self.ctx.clone();
        let stats = match ctx.scoped_async("running a training step", || self.submit(batch, true)).await? {
            Some(read) => first(ctx.settled("reading a step's statistics", read.settle().await)?),
            None => Vec::new(),
        };
        self.judge(&stats, self.step + 1)
    }

    /// [`Self::step`] without reading anything back: one submit, no wait. A step whose loss
    /// or gradient norm is not finite leaves the model as it was on the GPU, and so does one
    /// whose update gives a non-finite weight (the kernels restore it); it counts as a step
    /// all the same. [`Self::last_stats`] reads what the last step measured,
    /// [`Self::unread_stats`] what each unread step did.
    pub fn step_unread(&mut self, batch: &Batch) -> Result<()> {
        self.submit(batch, false)?;
        self.step += 1;
        self.unread.push(self.step);
        if self.carry {
            self.carried_batch = Some(batch.batch);
        }
        Ok(())
    }

    /// The loss and gradient norm of the last step (one readback), or the error that step
    /// would have returned.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn last_stats(&self) -> Result<StepStats> {
        let ws = self.workspace.as_ref().ok_or_else(|| Error::invalid("last_stats", "no step has run"))?;
        let parts = [(ws.buffer(TBuf::Stats), ws.plan.stats_read())];
        let stats = first(self.read("reading the last step's statistics", &parts)?);
        self.stats_of(&stats, self.step)
    }

    /// [`Self::last_stats`] for async code, and the only form in a browser.
    pub async fn last_stats_async(&self) -> Result<StepStats> {
        let ws = self.workspace.as_ref().ok_or_else(|| Error::invalid("last_stats", "no step has run"))?;
        let parts = [(ws.buffer(TBuf::Stats), ws.plan.stats_read())];
        let read = self.ctx.scoped_async("reading the last step's statistics", || Ok(self.start_read(&parts))).await?;
        self.stats_of(&first(self.ctx.settled("reading the last step's statistics", read.settle().await)?), self.step)
    }

    /// The statistics of each step run with [`Self::step_unread`] since the last call, oldest
    /// first (the last [`STATS_WINDOW`] of them): its number and its loss and gradient norm,
    /// or the error it gave. One readback for all of them.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn unread_stats(&mut self) -> Result<Vec<(u64, Result<StepStats>)>> {
        let Some(parts) = self.window_read() else { return Ok(Vec::new()) };
        let window = first(self.read("reading the unread steps' statistics", &[parts])?);
        Ok(self.take_unread(&window))
    }

    /// [`Self::unread_stats`] for async code, and the only form in a browser.
    pub async fn unread_stats_async(&mut self) -> Result<Vec<(u64, Result<StepStats>)>> {
        let Some(parts) = self.window_read() else { return Ok(Vec::new()) };
        let during = "reading the unread steps' statistics";
        let read = self.ctx.scoped_async(during, || Ok(self.start_read(&[parts]))).await?;
        let window = first(self.ctx.settled(during, read.settle().await)?);
        Ok(self.take_unread(&window))
    }

    /// The window and the floats to read from its start (the slots the unread steps wrote),
    /// where there are unread steps.
    fn window_read(&self) -> Option<(&wgpu::Buffer, usize)> {
        let window = self.window.as_ref()?;
        let slots = self.unread.slots_to_read();
        (slots > 0).then(|| (window, slots * self.window_floats()))
    }

    /// The floats of one slot of the window: a step's `Stats`.
    fn window_floats(&self) -> usize {
        self.window.as_ref().map_or(0, |w| w.size() as usize / 4 / STATS_WINDOW)
    }

    /// Each unread step's statistics from the window's `data`; none are unread after.
    fn take_unread(&mut self, data: &[f32]) -> Vec<(u64, Result<StepStats>)> {
        let n = self.window_floats();
        self.unread.take().into_iter().map(|(s, slot)| (s, self.stats_of(&data[slot * n..][..n], s))).collect()
    }

    /// Records the copy of the step's `Stats` (the workspace's, the floats `last_stats` reads)
    /// into the step's slot of the window ([`UnreadSteps`]), making the window first.
    fn keep_in_window(&mut self, encoder: &mut wgpu::CommandEncoder, step: u64) {
        let slot = self.unread.slot_for(step);
        let ws = self.workspace.as_ref().expect("the step made its workspace");
        let n = ws.plan.stats_read();
        let at = 4 * (slot * n) as u64;
        let window = self.window.get_or_insert_with(|| {
            self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("wgpu-rnn.train.StatsWindow"),
                size: (4 * STATS_WINDOW * n) as u64,
                usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            })
        });
        encoder.copy_buffer_to_buffer(ws.buffer(TBuf::Stats), 0, window, at, 4 * n as u64);
    }

    /// The statistics step `step` wrote, or the error they say it had.
    fn stats_of(&self, stats: &[f32], step: u64) -> Result<StepStats> {
        let (loss, grad_norm, failure) = self.read_stats(stats);
        match failure {
            Some(tensor) => Err(Error::NonFinite { step, tensor }),
            None => Ok(StepStats { loss, grad_norm }),
        }
    }

    /// Records and submits one step; starts reading `Stats` back when `read`.
    fn submit(&mut self, batch: &Batch, read: bool) -> Result<Option<PendingReads>> {
        let device = &self.ctx.device.clone();
        let mut encoder =
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("wgpu-rnn.train_step") });
        self.record_step(batch, &mut encoder)?;
        if !read {
            self.keep_in_window(&mut encoder, self.step + 1);
        }
        let ws = self.workspace.as_ref().expect("the step made its workspace");
        let queue = &self.ctx.queue;
        self.ctx.scoped("running a training step", || {
            if !read {
                queue.submit([encoder.finish()]);
                return None;
            }
            let n = ws.plan.stats_read();
            Some(PendingReads::start(device, queue, encoder, &[(ws.buffer(TBuf::Stats), n)]))
        })
    }

    /// Times one step of `batch` as [`Self::step_unread`] runs it (it counts as a step), between
    /// GPU timestamps where the adapter has them: wall time until the GPU is done, and GPU time
    /// (`bench --train`). Nothing is read back but the timestamps.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn time_step(&mut self, batch: &Batch) -> Result<crate::gpu::Timing> {
        let ctx = self.ctx.clone();
        let start = std::time::Instant::now();
        let gpu_ms = ctx.run_timed("wgpu-rnn.train_step", |encoder| self.record_step(batch, encoder))?;
        let wall_ms = start.elapsed().as_secs_f64() * 1e3;
        self.step += 1;
        if self.carry {
            self.carried_batch = Some(batch.batch);
        }
        let dispatches = self.recorded_dispatches();
        Ok(crate::gpu::Timing { wall_ms, gpu_ms, dispatches })
    }

    /// Records one step of `batch` into `encoder` (its inputs written to the queue) without
    /// submitting: the CPU cost of recording a training step (criterion `record/train`). It
    /// does not count as a step; an encoder submitted after it runs one that the stepper did
    /// not count, so this is for timing only. Returns the dispatches recorded.
    pub fn record_only(&mut self, batch: &Batch, encoder: &mut wgpu::CommandEncoder) -> Result<usize> {
        self.record_step(batch, encoder)?;
        Ok(self.recorded_dispatches())
    }

    /// The dispatches of the last step recorded: its workspace's plan, and the encoder's of a
    /// sequence-to-sequence model.
    fn recorded_dispatches(&self) -> usize {
        [self.workspace.as_ref(), self.encoder.as_ref().and_then(|e| e.workspace.as_ref())]
            .into_iter()
            .flatten()
            .map(|ws| ws.plan.dispatches())
            .sum()
    }

    /// Records one step of `batch` into `encoder`, after writing its inputs: the workspace
    /// (made or remade for its T and B), then forward, loss, backward, clipping and update.
    fn record_step(&mut self, batch: &Batch, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        let (lengths, kept) = crate::train::check_batch(&self.model, self.cfg.loss, batch)?;
        if self.encoder.is_some() {
            return self.record_seq2seq(batch, &lengths, kept, encoder);
        }
        let (t, b) = (batch.steps, batch.batch);
        if let Some(cb) = self.carried_batch.filter(|&cb| cb != b) {
            return Err(Error::invalid(
                "batch",
                format!(
                    "the state carried from the step before is for batch {cb}, this batch has {b} (reset_state first)"
                ),
            ));
        }
        let same_initial = |ws: &TrainWorkspace| ws.plan.head.map(|h| h.initial) == Some(self.shape.initial);
        if self.workspace.as_ref().is_none_or(|ws| !ws.fits(t, b) || !same_initial(ws)) {
            let plan = TrainPlan::training_step(&self.model.stack, self.shape, t, b);
            let new = TrainWorkspace::new(&self.ctx, &self.model.stack, &self.buffers, plan)?;
            if let (Some(old), Some(_)) = (&self.workspace, self.carried_batch) {
                // the carried state moves to the new workspace (same batch, other T)
                for buf in [TBuf::HN, TBuf::CN] {
                    encoder.copy_buffer_to_buffer(
                        old.buffer(buf),
                        0,
                        new.buffer(buf),
                        0,
                        4 * new.plan.size(buf) as u64,
                    );
                }
            }
            self.workspace = Some(new);
        }
        let ws = self.workspace.as_ref().expect("workspace made");
        if self.carried_batch.is_none() {
            encoder.clear_buffer(ws.buffer(TBuf::HN), 0, None);
            encoder.clear_buffer(ws.buffer(TBuf::CN), 0, None);
        }
        let step = self.step + 1;
        self.ctx.scoped("recording a training step", || -> Result<()> {
            self.upload(ws, batch, &lengths, kept, step, &self.cfg.dropout);
            ws.record(&self.ctx, encoder)
        })?
    }

    /// [`Self::record_step`] for a sequence-to-sequence model: the encoder's forward, the
    /// decoder's forward, loss and backward, the encoder's backward from the decoder's `dh0`,
    /// `dc0`, then clipping and updates of both.
    fn record_seq2seq(
        &mut self,
        batch: &Batch,
        lengths: &[usize],
        kept: usize,
        encoder: &mut wgpu::CommandEncoder,
    ) -> Result<()> {
        if self.carry {
            return Err(Error::invalid(
                "carry_state",
                "a model with an encoder starts its stack from the encoder's state, not a carried one",
            ));
        }
        let src = batch.source.as_ref().ok_or_else(|| Error::invalid("source", "missing"))?;
        let (s, t, b) = (src.steps, batch.steps, batch.batch);
        let enc = self.encoder.as_ref().expect("a seq2seq stepper");
        let fits = |ws: &Option<TrainWorkspace>, t| ws.as_ref().is_some_and(|w| w.fits(t, b));
        if !fits(&enc.workspace, s) || !fits(&self.workspace, t) {
            let (enc_plan, dec_plan) =
                TrainPlan::seq2seq_step(&enc.net, enc.embedding, &self.model.stack, self.shape, (s, t, b));
            let (enc_ws, dec_ws) = self.seq2seq_workspaces(enc_plan, dec_plan)?;
            self.workspace = Some(dec_ws);
            self.encoder.as_mut().expect("a seq2seq stepper").workspace = Some(enc_ws);
        }
        let enc = self.encoder.as_ref().expect("a seq2seq stepper");
        let (enc_ws, dec_ws) = (enc.workspace.as_ref().expect("made"), self.workspace.as_ref().expect("made"));
        let step = self.step + 1;
        self.ctx.scoped("recording a training step", || -> Result<()> {
            self.upload(dec_ws, batch, lengths, kept, step, &self.cfg.dropout);
            self.upload_source(enc_ws, src, b, step, &self.cfg.dropout)?;
            let (e, d) = (enc_ws.plan.backward_at, dec_ws.plan.backward_at);
            enc_ws.record_range(&self.ctx, encoder, 0..e)?;
            dec_ws.record_range(&self.ctx, encoder, 0..d)?;
            enc_ws.record_range(&self.ctx, encoder, e..enc_ws.plan.commands.len())?;
            dec_ws.record_range(&self.ctx, encoder, d..dec_ws.plan.commands.len())
        })?
    }

    /// The encoder's and the decoder's workspaces of a sequence-to-sequence step or
    /// evaluation, bound together: the decoder's `H0`, `C0` are the encoder's `HN`, `CN`; the
    /// encoder's `DhN`, `DcN` the decoder's `Dh0`, `Dc0`.
    fn seq2seq_workspaces(&self, enc_plan: TrainPlan, dec_plan: TrainPlan) -> Result<(TrainWorkspace, TrainWorkspace)> {
        let enc = self.encoder.as_ref().expect("a seq2seq stepper");
        let mut enc_ext = enc.parameters(&self.buffers);
        let bridge =
            |buf: TBuf| storage(&self.ctx.device, &format!("wgpu-rnn.train.seq2seq.{buf:?}"), enc_plan.size(buf));
        let (dh, dc) = self.ctx.scoped("making a seq2seq step's buffers", || (bridge(TBuf::DhN), bridge(TBuf::DcN)))?;
        enc_ext.extend([(TBuf::DhN, dh.clone()), (TBuf::DcN, dc.clone())]);
        let enc_ws = TrainWorkspace::new(&self.ctx, &enc.net, &enc_ext, enc_plan)?;
        let mut dec_ext = self.buffers.clone();
        dec_ext.extend([
            (TBuf::H0, enc_ws.buffer(TBuf::HN).clone()),
            (TBuf::C0, enc_ws.buffer(TBuf::CN).clone()),
            (TBuf::Dh0, dh),
            (TBuf::Dc0, dc),
        ]);
        let dec_ws = TrainWorkspace::new(&self.ctx, &self.model.stack, &dec_ext, dec_plan)?;
        Ok((enc_ws, dec_ws))
    }

    /// Writes the encoder's inputs, lengths (full when the source gives none) and `dropout`
    /// (seeded apart from the decoder's).
    fn upload_source(&self, ws: &TrainWorkspace, src: &Source, b: usize, step: u64, dropout: &Dropout) -> Result<()> {
        let lengths = crate::network::Network::validate_lengths(src.steps, b, src.lengths.as_deref())?;
        write_inputs(&self.ctx.queue, ws, &src.inputs, &lengths);
        let d = Dropout { seed: dropout.seed ^ crate::train::ENCODER_SEED, ..*dropout };
        self.ctx.queue.write_buffer(&ws.dropout_params, 0, bytemuck::bytes_of(&dropout_params(&d, step)));
        Ok(())
    }

    /// Loss, gradient norm, and what failed (the tensor's name), from `Stats`. Keep in sync
    /// with `step_failed` (shaders/train/stats.wgsl), which decides on the GPU.
    fn read_stats(&self, stats: &[f32]) -> (f64, f64, Option<String>) {
        let loss = stats.first().copied().unwrap_or(f32::NAN) as f64;
        let sums: Vec<f64> =
            (0..self.groups.len()).map(|g| stats.get(2 + 2 * g).copied().unwrap_or(f32::NAN) as f64).collect();
        let grad_norm = sums.iter().sum::<f64>().sqrt();
        let failure = if !loss.is_finite() {
            Some("loss".to_string())
        } else if let Some(g) = sums.iter().position(|s| !s.is_finite()) {
            Some(format!("gradient of {}", group_layout(&self.model).swap_remove(g).0))
        } else if stats.get(1).copied().unwrap_or(0.0) != 0.0 {
            Some("a parameter after the update".to_string())
        } else {
            None
        };
        (loss, grad_norm, failure)
    }

    /// A read step's result: on a failure, the error naming the tensor (the GPU already kept
    /// or restored the parameters and the carried state).
    fn judge(&mut self, stats: &[f32], step: u64) -> Result<StepStats> {
        let stats = self.stats_of(stats, step)?;
        self.step = step;
        if self.carry {
            self.carried_batch = self.workspace.as_ref().map(|ws| ws.plan.batch);
        }
        Ok(stats)
    }

    /// The loss of `batch` in evaluation mode: no dropout, no gradient, no update, zero initial
    /// state. One submit; reads back one float.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn evaluate(&mut self, batch: &Batch) -> Result<f64> {
        let read = self.start_evaluate(batch)?;
        let stats = self.ctx.scoped("evaluating", || read.wait())??;
        Ok(first(stats).first().copied().unwrap_or(f32::NAN) as f64)
    }

    /// [`Self::evaluate`] for async code, and the only form in a browser.
    pub async fn evaluate_async(&mut self, batch: &Batch) -> Result<f64> {
        let ctx = self.ctx.clone();
        let read = ctx.scoped_async("evaluating", || self.start_evaluate(batch)).await?;
        let stats = ctx.settled("evaluating", read.settle().await)?;
        Ok(first(stats).first().copied().unwrap_or(f32::NAN) as f64)
    }

    /// Records and submits an evaluation and starts reading its loss back.
    fn start_evaluate(&mut self, batch: &Batch) -> Result<PendingReads> {
        let (lengths, kept) = crate::train::check_batch(&self.model, self.cfg.loss, batch)?;
        let (t, b) = (batch.steps, batch.batch);
        let src = batch.source.as_ref();
        let fits = |ws: &Option<TrainWorkspace>, t| ws.as_ref().is_some_and(|w| w.fits(t, b));
        match (&self.encoder, src) {
            (Some(enc), Some(src)) if !fits(&enc.eval_workspace, src.steps) || !fits(&self.eval_workspace, t) => {
                let mut enc_plan =
                    TrainPlan::encoder_pass(&enc.net, enc.embedding, (false, false), self.shape.walk, src.steps, b);
                enc_plan.commands.truncate(enc_plan.backward_at);
                let dec_plan = TrainPlan::evaluation(&self.model.stack, self.shape, t, b, &enc.sizes());
                let (enc_ws, dec_ws) = self.seq2seq_workspaces(enc_plan, dec_plan)?;
                self.eval_workspace = Some(dec_ws);
                self.encoder.as_mut().expect("a seq2seq stepper").eval_workspace = Some(enc_ws);
            }
            (None, _) if !fits(&self.eval_workspace, t) => {
                self.eval_workspace = None;
                let plan = TrainPlan::evaluation(&self.model.stack, self.shape, t, b, &[]);
                self.eval_workspace = Some(TrainWorkspace::new(&self.ctx, &self.model.stack, &self.buffers, plan)?);
            }
            _ => {}
        }
        let ws = self.eval_workspace.as_ref().expect("workspace made");
        let enc_ws = self.encoder.as_ref().and_then(|e| e.eval_workspace.as_ref());
        let device = &self.ctx.device;
        let mut encoder =
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("wgpu-rnn.evaluate") });
        self.ctx.scoped("evaluating", || -> Result<PendingReads> {
            // no dropout in evaluation: neither between layers nor on h
            let off = Dropout::default();
            self.upload(ws, batch, &lengths, kept, self.step.max(1), &off);
            if let (Some(enc_ws), Some(src)) = (enc_ws, src) {
                self.upload_source(enc_ws, src, b, self.step.max(1), &off)?;
                enc_ws.record(&self.ctx, &mut encoder)?;
            }
            ws.record(&self.ctx, &mut encoder)?;
            Ok(PendingReads::start(device, &self.ctx.queue, encoder, &[(ws.buffer(TBuf::Stats), 1)]))
        })?
    }

    /// Writes a step's inputs, targets and per-step uniforms.
    fn upload(&self, ws: &TrainWorkspace, batch: &Batch, lengths: &[usize], kept: usize, step: u64, dropout: &Dropout) {
        let queue = &self.ctx.queue;
        let write = |buf: TBuf, bytes: &[u8]| queue.write_buffer(ws.buffer(buf), 0, bytes);
        write_inputs(queue, ws, &batch.inputs, lengths);
        let classes = self.shape.classes;
        let (kind, scale) = match &batch.targets {
            Targets::Classes(ids) => {
                write(TBuf::Targets, bytemuck::cast_slice(&u32s(ids)));
                (ts::LOSS_CROSS_ENTROPY, 1.0 / kept as f64)
            }
            Targets::Values(v) => {
                write(TBuf::Targets, bytemuck::cast_slice(v));
                (ts::LOSS_MSE, 1.0 / (kept * classes) as f64)
            }
        };
        let lp = LossParams {
            rows: ws.plan.head_rows() as u32,
            classes: classes as u32,
            kind,
            batch: batch.batch as u32,
            steps: u32::from(self.shape.head_mode == crate::train::HeadMode::Steps),
            scale: scale as f32,
            _pad0: 0,
            _pad1: 0,
        };
        queue.write_buffer(&ws.loss_params, 0, bytemuck::bytes_of(&lp));
        queue.write_buffer(&ws.opt_params, 0, bytemuck::bytes_of(&optimizer_params(&self.cfg, step)));
        queue.write_buffer(&ws.dropout_params, 0, bytemuck::bytes_of(&dropout_params(dropout, step)));
    }

    /// The model with the GPU's current parameters.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn model(&self) -> Result<TrainModel> {
        let values = self.read("reading the parameters back", &self.parameter_parts())?;
        Ok(self.model_from(values))
    }

    /// [`Self::model`] for async code, and the only form in a browser.
    pub async fn model_async(&self) -> Result<TrainModel> {
        let parts = self.parameter_parts();
        let read = self.ctx.scoped_async("reading the parameters back", || Ok(self.start_read(&parts))).await?;
        Ok(self.model_from(self.ctx.settled("reading the parameters back", read.settle().await)?))
    }

    /// Every parameter group's buffer and length, in `groups` order.
    fn parameter_parts(&self) -> Vec<(&wgpu::Buffer, usize)> {
        self.groups.iter().map(|&(p, _, len)| (&self.buffers[&p], len)).collect()
    }

    /// The model with the parameter groups' values as read back (`group_values` inverted).
    fn model_from(&self, values: Vec<Vec<f32>>) -> TrainModel {
        let mut model = self.model.clone();
        let layout = group_layout(&model);
        let mut tensors = model.parameters_mut().into_iter();
        for (&(_, n), value) in layout.iter().zip(&values) {
            let mut rest = &value[..];
            for t in tensors.by_ref().take(n) {
                let len = t.len().min(rest.len());
                t[..len].copy_from_slice(&rest[..len]);
                rest = &rest[len..];
            }
        }
        model
    }

    /// Reads `parts` (buffer, floats) back in one mapping, after the work already submitted.
    #[cfg(not(target_arch = "wasm32"))]
    fn read(&self, during: &str, parts: &[(&wgpu::Buffer, usize)]) -> Result<Vec<Vec<f32>>> {
        let read = self.ctx.scoped(during, || self.start_read(parts))?;
        self.ctx.scoped(during, || read.wait())?
    }

    /// Starts reading `parts` back after the work already submitted.
    fn start_read(&self, parts: &[(&wgpu::Buffer, usize)]) -> PendingReads {
        let encoder =
            self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("wgpu-rnn.read") });
        PendingReads::start(&self.ctx.device, &self.ctx.queue, encoder, parts)
    }

    /// The optimizer state (moments in f64, as the CPU reference keeps them).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn optimizer_state(&self) -> Result<OptimizerState> {
        let mut parts = Vec::new();
        for g in 0..self.groups.len() {
            parts.push((&self.buffers[&TBuf::OptM(g)], self.groups[g].2));
            parts.push((&self.buffers[&TBuf::OptV(g)], self.groups[g].2));
        }
        let data = self.read("reading the optimizer state back", &parts)?;
        // groups hold several of the model's tensors: split them as parameters_mut lists them
        let sizes = self.model.parameter_sizes();
        let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        let (mut m, mut v) = (Vec::new(), Vec::new());
        let (mut mi, mut vi) =
            (data.iter().step_by(2).flat_map(|x| x.iter()), data.iter().skip(1).step_by(2).flat_map(|x| x.iter()));
        for &n in &sizes {
            m.push(f64s(&mi.by_ref().take(n).copied().collect::<Vec<f32>>()));
            v.push(f64s(&vi.by_ref().take(n).copied().collect::<Vec<f32>>()));
        }
        Ok(OptimizerState { step: self.step, m, v })
    }

    /// Replaces the optimizer's moments and step count.
    pub fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<()> {
        state.check(&self.model)?;
        // the model's tensors in order, joined into the parameter groups
        let layout = group_layout(&self.model);
        for (which, moments) in [(0, &state.m), (1, &state.v)] {
            let mut it = moments.iter();
            for (g, &(_, count)) in layout.iter().enumerate() {
                let data: Vec<f32> = it.by_ref().take(count).flatten().map(|&x| x as f32).collect();
                let buf = if which == 0 { TBuf::OptM(g) } else { TBuf::OptV(g) };
                self.ctx.queue.write_buffer(&self.buffers[&buf], 0, bytemuck::cast_slice(&data));
            }
        }
        self.step = state.step;
        Ok(())
    }

    /// Forces how the layers walk through time (`None`: the device's default, persistent for
    /// small layers on GPUs and per-step kernels on CPU drivers). The next step makes new
    /// workspaces.
    pub fn set_walk(&mut self, walk: Option<Walk>) {
        self.shape.walk = walk.unwrap_or_else(|| self.ctx.training_walk());
        self.workspace = None;
        self.eval_workspace = None;
        if let Some(enc) = &mut self.encoder {
            enc.workspace = None;
            enc.eval_workspace = None;
        }
    }

    /// The commands of a step over `t` steps and batch `b` (dispatch counts for benchmarks).
    pub fn plan(&self, t: usize, b: usize) -> TrainPlan {
        TrainPlan::training_step(&self.model.stack, self.shape, t, b)
    }

    /// Times only the dispatches of `batch`'s training step whose entry point `keep` selects
    /// (one kernel in isolation, `bench --train --breakdown`), on the buffers of a whole step
    /// that runs first, untimed (it counts as a step). What the kept dispatches compute is not
    /// used, but an optimizer update among them changes the parameters: a benchmark's tool.
    /// For a stack's steps; a model with an encoder is refused.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn time_kernels(&mut self, batch: &Batch, keep: impl Fn(&str) -> bool) -> Result<crate::gpu::Timing> {
        if self.encoder.is_some() {
            return Err(Error::invalid("time_kernels", "times a stack's step, not a model with an encoder"));
        }
        self.step_unread(batch)?;
        let ws = self.workspace.as_ref().expect("the step made its workspace");
        let start = std::time::Instant::now();
        let mut dispatches = 0;
        let gpu_ms = self.ctx.run_timed("wgpu-rnn.train.kernels", |encoder| {
            dispatches = self.ctx.scoped("recording kernels", || ws.record_kernels(&self.ctx, encoder, &keep))??;
            Ok(())
        })?;
        Ok(crate::gpu::Timing { wall_ms: start.elapsed().as_secs_f64() * 1e3, gpu_ms, dispatches })
    }

    /// Compute dispatches of one step over `t` steps and batch `b`.
    pub fn dispatches(&self, t: usize, b: usize) -> usize {
        self.plan(t, b).commands.iter().filter(|c| c.is_dispatch()).count()
    }
}

/// The first of the parts read back (`Stats`).
fn first(parts: Vec<Vec<f32>>) -> Vec<f32> {
    parts.into_iter().next().unwrap_or_default()
}

/// `v` as the u32s the kernels read (ids, lengths, classes).
fn u32s(v: &[usize]) -> Vec<u32> {
    v.iter().map(|&x| x as u32).collect()
}

/// Writes a stack's inputs (token ids or features) and its sequence lengths into `ws`.
fn write_inputs(queue: &wgpu::Queue, ws: &TrainWorkspace, inputs: &BatchInputs, lengths: &[usize]) {
    match inputs {
        BatchInputs::Tokens(ids) => queue.write_buffer(ws.buffer(TBuf::Ids), 0, bytemuck::cast_slice(&u32s(ids))),
        BatchInputs::Features(x) => queue.write_buffer(ws.buffer(TBuf::X), 0, bytemuck::cast_slice(x)),
    }
    queue.write_buffer(ws.buffer(TBuf::Lens), 0, bytemuck::cast_slice(&u32s(lengths)));
}

/// The dropout's uniforms for optimizer step `step`.
fn dropout_params(d: &Dropout, step: u64) -> DropoutParams {
    DropoutParams {
        seed_lo: d.seed as u32,
        seed_hi: (d.seed >> 32) as u32,
        step: step as u32,
        threshold: d.threshold(),
        scale: d.scale(),
        rec_threshold: Dropout { p: d.recurrent, ..*d }.threshold(),
        rec_scale: Dropout { p: d.recurrent, ..*d }.scale(),
        flags: if d.recurrent > 0.0 { crate::plan::train_step::FLAG_DROP_RECURRENT } else { 0 },
    }
}

/// The optimizer's uniforms for step `step` (1-based): bias corrections, the first step's flag.
fn optimizer_params(cfg: &TrainConfig, step: u64) -> OptimizerParams {
    let mut flags = 0;
    if cfg.clip_value.is_some() {
        flags |= ts::FLAG_OPT_CLIP_VALUE;
    }
    if cfg.clip_norm.is_some() {
        flags |= ts::FLAG_OPT_CLIP_NORM;
    }
    if step == 1 {
        flags |= ts::FLAG_OPT_FIRST_STEP;
    }
    let t = step.min(i32::MAX as u64) as i32;
    let (kind, lr, momentum, beta1, beta2, eps, weight_decay) = match cfg.optimizer {
        Optimizer::Sgd { lr, momentum, weight_decay } => (ts::OPT_SGD, lr, momentum, 0.0, 0.0, 0.0, weight_decay),
        Optimizer::Adam { lr, beta1, beta2, eps, weight_decay } => {
            (ts::OPT_ADAM, lr, 0.0, beta1, beta2, eps, weight_decay)
        }
        Optimizer::AdamW { lr, beta1, beta2, eps, weight_decay } => {
            (ts::OPT_ADAMW, lr, 0.0, beta1, beta2, eps, weight_decay)
        }
    };
    OptimizerParams {
        kind,
        flags,
        lr,
        momentum,
        beta1,
        beta2,
        eps,
        weight_decay,
        bias1: (1.0 - (beta1 as f64).powi(t)) as f32,
        bias2: (1.0 - (beta2 as f64).powi(t)) as f32,
        clip_norm: cfg.clip_norm.unwrap_or(0.0),
        clip_value: cfg.clip_value.unwrap_or(0.0),
    }
}
