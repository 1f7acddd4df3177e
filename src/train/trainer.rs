//! [`Trainer`]: the training API. It steps a model on the engine's GPU (one submit per step,
//! `gpu::GpuStepper`) or, on an engine without one, with the f64 CPU reference.

use super::model::{Batch, TrainModel};
use super::optim::OptimizerState;
use super::reference::{CarriedState, StepStats, TrainConfig, reference_step, reference_step_from};
use crate::engine::Engine;
use crate::error::Result;
use crate::gpu::GpuStepper;
use std::collections::VecDeque;

/// How many steps run with [`Trainer::step_unread`] a trainer keeps the statistics of for
/// [`Trainer::unread_stats`]; older ones are dropped.
pub const STATS_WINDOW: usize = 1024;

/// What a step of the CPU reference gave: its statistics, or the step and tensor that failed.
type CpuStats = std::result::Result<StepStats, (u64, String)>;

/// Trains an Embedding -> stack -> Linear model (optionally behind an encoder whose final state
/// starts the stack: [`TrainModel::seq2seq`]) with a loss, an optimizer and clipping.
///
/// ```no_run
/// use wgpu_rnn::train::{Batch, BatchInputs, Targets, TrainConfig, Trainer};
/// # fn demo(engine: &wgpu_rnn::Engine, model: wgpu_rnn::train::TrainModel, cfg: TrainConfig, batch: Batch)
/// #     -> wgpu_rnn::Result<()> {
/// let mut trainer = Trainer::new(engine, model, cfg)?;
/// let stats = trainer.step(&batch)?;
/// println!("loss {:.4}, gradient norm {:.4}", stats.loss, stats.grad_norm);
/// let trained = trainer.model()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Trainer {
    inner: Inner,
}

#[derive(Debug)]
#[expect(clippy::large_enum_variant, reason = "one trainer per model; boxing buys nothing")]
enum Inner {
    Gpu(GpuStepper),
    Cpu {
        model: TrainModel,
        state: OptimizerState,
        cfg: TrainConfig,
        /// Truncated BPTT on, with the state carried from the step before (None: zeros).
        carry: Option<Option<CarriedState>>,
        /// The last unread step's result (for `last_stats`): its stats, or its failure.
        last: Option<CpuStats>,
        /// The unread steps' numbers and results not yet taken by `unread_stats`, oldest first.
        unread: VecDeque<(u64, CpuStats)>,
    },
}

impl Trainer {
    /// Validates the model and the configuration and, on a GPU engine, uploads the model.
    pub fn new(engine: &Engine, model: TrainModel, cfg: TrainConfig) -> Result<Trainer> {
        let inner = match engine.context() {
            Some(ctx) => Inner::Gpu(GpuStepper::new(ctx.clone(), model, cfg)?),
            None => {
                model.validate()?;
                cfg.validate()?;
                let state = OptimizerState::new(&model.parameter_sizes());
                Inner::Cpu { model, state, cfg, carry: None, last: None, unread: VecDeque::new() }
            }
        };
        Ok(Trainer { inner })
    }

    /// One optimizer step: forward, loss, backward, clipping, update. Returns the loss and the
    /// gradient norm before clipping. After an error ([`crate::Error::NonFinite`] for a NaN or
    /// infinity, or a batch that does not fit) the model is as it was.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn step(&mut self, batch: &Batch) -> Result<StepStats> {
        match &mut self.inner {
            Inner::Gpu(g) => g.step(batch),
            Inner::Cpu { .. } => self.step_cpu(batch),
        }
    }

    /// [`Trainer::step`] for async code, and the only form in a browser.
    pub async fn step_async(&mut self, batch: &Batch) -> Result<StepStats> {
        match &mut self.inner {
            Inner::Gpu(g) => g.step_async(batch).await,
            Inner::Cpu { .. } => self.step_cpu(batch),
        }
    }

    /// A step of the CPU reference.
    fn step_cpu(&mut self, batch: &Batch) -> Result<StepStats> {
        match &mut self.inner {
            Inner::Gpu(_) => unreachable!("step_cpu on a GPU trainer"),
            Inner::Cpu { model, state, cfg, carry: None, .. } => reference_step(model, state, cfg, batch),
            Inner::Cpu { model, carry: Some(_), .. } if model.encoder.is_some() => Err(crate::Error::invalid(
                "carry_state",
                "a model with an encoder starts its stack from the encoder's state, not a carried one",
            )),
            Inner::Cpu { model, state, cfg, carry: Some(last), .. } => {
                let per_row = model.stack.layers.len() * model.stack.directions() * model.stack.output_size();
                if let Some(carried) = last.as_ref().map(|l| l.h.len() / per_row.max(1)).filter(|&cb| cb != batch.batch)
                {
                    return Err(crate::Error::invalid(
                        "batch",
                        format!(
                            "the state carried from the step before is for batch {carried}, this batch has {} (reset_state first)",
                            batch.batch
                        ),
                    ));
                }
                let (stats, end) = reference_step_from(model, state, cfg, batch, last.as_ref())?;
                *last = Some(end);
                Ok(stats)
            }
        }
    }

    /// [`Trainer::step`] without waiting or reading anything back (on the GPU: one submit; on
    /// the CPU reference it is `step`). A failed step changes nothing (the parameters, the
    /// optimizer's moments and a carried state stay) but counts as a step: the step count, and
    /// with it Adam's bias corrections and the dropout masks, moves on, as it does not after a
    /// failed [`Trainer::step`]. [`Trainer::last_stats`] reads what the last step measured,
    /// [`Trainer::unread_stats`] what each step did.
    pub fn step_unread(&mut self, batch: &Batch) -> Result<()> {
        match &mut self.inner {
            Inner::Gpu(g) => g.step_unread(batch),
            Inner::Cpu { .. } => {
                let result = match self.step_cpu(batch) {
                    Ok(stats) => Ok(stats),
                    Err(crate::Error::NonFinite { step, tensor }) => Err((step, tensor)),
                    Err(other) => return Err(other),
                };
                if let Inner::Cpu { last, unread, state, .. } = &mut self.inner {
                    if result.is_err() {
                        // it counts as a step, as on the GPU, which cannot know it failed: the
                        // optimizer's step count (Adam's bias corrections) and the dropout
                        // masks' step move on; the parameters, moments and carried state do not
                        state.step += 1;
                    }
                    let step = state.step;
                    unread.push_back((step, result.clone()));
                    if unread.len() > STATS_WINDOW {
                        unread.pop_front();
                    }
                    *last = Some(result);
                }
                Ok(())
            }
        }
    }

    /// The statistics of each step run with [`Trainer::step_unread`] since the last call, oldest
    /// first: the step's number (the first step is 1) and its loss and gradient norm,
    /// or the error it gave (a failed step changed nothing). One readback for all of them (it
    /// blocks until they are done), so a loop that steps with `step_unread` and calls this
    /// every N steps waits for the GPU once per N steps, not once per step, and still sees
    /// every step's loss. It keeps the last [`STATS_WINDOW`] steps; a gap in the numbers shows
    /// where older ones were dropped. Steps run with [`Trainer::step`] are not among them.
    ///
    /// ```no_run
    /// # fn demo(trainer: &mut wgpu_rnn::train::Trainer, batches: &[wgpu_rnn::train::Batch])
    /// #     -> wgpu_rnn::Result<()> {
    /// for (i, batch) in batches.iter().enumerate() {
    ///     trainer.step_unread(batch)?;
    ///     if i % 32 == 31 || i + 1 == batches.len() {
    ///         for (step, stats) in trainer.unread_stats()? {
    ///             match stats {
    ///                 Ok(s) => println!("step {step}: loss {:.4}", s.loss),
    ///                 Err(e) => println!("step {step} changed nothing: {e}"),
    ///             }
    ///         }
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn unread_stats(&mut self) -> Result<Vec<(u64, Result<StepStats>)>> {
        match &mut self.inner {
            Inner::Gpu(g) => g.unread_stats(),
            Inner::Cpu { unread, .. } => Ok(cpu_unread_stats(unread)),
        }
    }

    /// [`Trainer::unread_stats`] for async code, and the only form in a browser.
    pub async fn unread_stats_async(&mut self) -> Result<Vec<(u64, Result<StepStats>)>> {
        match &mut self.inner {
            Inner::Gpu(g) => g.unread_stats_async().await,
            Inner::Cpu { unread, .. } => Ok(cpu_unread_stats(unread)),
        }
    }

    /// The loss and gradient norm of the last step, or the error it gave (blocks).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn last_stats(&self) -> Result<StepStats> {
        match &self.inner {
            Inner::Gpu(g) => g.last_stats(),
            Inner::Cpu { last, .. } => cpu_last_stats(last),
        }
    }

    /// [`Trainer::last_stats`] for async code, and the only form in a browser.
    pub async fn last_stats_async(&self) -> Result<StepStats> {
        match &self.inner {
            Inner::Gpu(g) => g.last_stats_async().await,
            Inner::Cpu { last, .. } => cpu_last_stats(last),
        }
    }

    /// The loss of `batch` in evaluation mode: no dropout, no update, zero initial state
    /// (blocks).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn evaluate(&mut self, batch: &Batch) -> Result<f64> {
        match &mut self.inner {
            Inner::Gpu(g) => g.evaluate(batch),
            Inner::Cpu { model, cfg, .. } => {
                super::reference::loss_and_gradients_from(model, cfg.loss, batch, None, None).map(|r| r.0)
            }
        }
    }

    /// [`Trainer::evaluate`] for async code, and the only form in a browser.
    pub async fn evaluate_async(&mut self, batch: &Batch) -> Result<f64> {
        match &mut self.inner {
            Inner::Gpu(g) => g.evaluate_async(batch).await,
            Inner::Cpu { model, cfg, .. } => {
                super::reference::loss_and_gradients_from(model, cfg.loss, batch, None, None).map(|r| r.0)
            }
        }
    }

    /// The model with its current parameters (read back from the GPU).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn model(&self) -> Result<TrainModel> {
        match &self.inner {
            Inner::Gpu(g) => g.model(),
            Inner::Cpu { model, .. } => Ok(model.clone()),
        }
    }

    /// [`Trainer::model`] for async code, and the only form in a browser.
    pub async fn model_async(&self) -> Result<TrainModel> {
        match &self.inner {
            Inner::Gpu(g) => g.model_async().await,
            Inner::Cpu { model, .. } => Ok(model.clone()),
        }
    }

    /// Forces how a GPU trainer's layers walk through time (`None`: the device's default,
    /// [`super::Walk::Small`] on GPUs and per-step kernels on CPU drivers). The results are
    /// the same either way; the CPU reference ignores it.
    pub fn set_walk(&mut self, walk: Option<super::Walk>) {
        if let Inner::Gpu(g) = &mut self.inner {
            g.set_walk(walk);
        }
    }

    /// The plan of a GPU step over `t` steps and batch `b` (dispatches, buffer sizes); `None`
    /// on the CPU reference.
    pub fn plan(&self, t: usize, b: usize) -> Option<crate::plan::train::TrainPlan> {
        match &self.inner {
            Inner::Gpu(g) => Some(g.plan(t, b)),
            Inner::Cpu { .. } => None,
        }
    }

    /// Times one training step of `batch` (it counts as a step, as [`Trainer::step_unread`]
    /// does): wall milliseconds until the GPU is done and, where the adapter has timestamps,
    /// GPU milliseconds between timestamps around the step (`bench --train`). The CPU
    /// reference has no GPU to time: [`crate::Error::NoAdapter`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn time_step(&mut self, batch: &Batch) -> Result<crate::gpu::Timing> {
        match &mut self.inner {
            Inner::Gpu(g) => g.time_step(batch),
            Inner::Cpu { .. } => {
                Err(crate::Error::NoAdapter("the trainer runs on the CPU reference: no GPU to time".into()))
            }
        }
    }

    /// Times the dispatches of `batch`'s step whose entry point `keep` selects, alone, after
    /// one whole step (a benchmark's tool:
    /// it trains). The CPU reference has no kernels: [`crate::Error::NoAdapter`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn time_kernels(&mut self, batch: &Batch, keep: impl Fn(&str) -> bool) -> Result<crate::gpu::Timing> {
        match &mut self.inner {
            Inner::Gpu(g) => g.time_kernels(batch, keep),
            Inner::Cpu { .. } => {
                Err(crate::Error::NoAdapter("the trainer runs on the CPU reference: no kernels to time".into()))
            }
        }
    }

    /// The optimizer state (moments read back from the GPU).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn optimizer_state(&self) -> Result<OptimizerState> {
        match &self.inner {
            Inner::Gpu(g) => g.optimizer_state(),
            Inner::Cpu { state, .. } => Ok(state.clone()),
        }
    }

    /// Saves the model and the optimizer state as safetensors under PyTorch's names
    /// ([`TrainModel::save`]).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        self.model()?.save(path, Some(&self.optimizer_state()?))
    }

    /// A trainer that goes on from a file [`Trainer::save`] wrote: the model, and the optimizer
    /// state when the file has one (else a fresh one).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(engine: &Engine, path: &std::path::Path, cfg: TrainConfig) -> Result<Trainer> {
        let (model, state) = TrainModel::load(path)?;
        let mut trainer = Trainer::new(engine, model, cfg)?;
        if let Some(state) = state {
            trainer.set_optimizer_state(state)?;
        }
        Ok(trainer)
    }

    /// Replaces the optimizer state (the moments and the step count).
    pub fn set_optimizer_state(&mut self, state: OptimizerState) -> Result<()> {
        match &mut self.inner {
            Inner::Gpu(g) => g.set_optimizer_state(&state),
            Inner::Cpu { model, state: s, .. } => {
                state.check(model)?;
                *s = state;
                Ok(())
            }
        }
    }

    /// Truncated backpropagation through time: with `on`, each step starts from the stack's
    /// final state of the step before, detached (no gradient crosses from one chunk into the
    /// one before); the first step after this call or [`Trainer::reset_state`] starts from
    /// zeros; after a failed step the next starts from the state the failed one started from.
    /// Off (the default): every step starts from zeros. Chunks must keep the batch size.
    /// A model with an encoder starts from the encoder's state: its steps refuse to carry.
    pub fn carry_state(&mut self, on: bool) {
        match &mut self.inner {
            Inner::Gpu(g) => g.carry_state(on),
            Inner::Cpu { carry, .. } => *carry = on.then_some(None),
        }
    }

    /// Zeroes the carried state: the next chunks belong to new sequences.
    pub fn reset_state(&mut self) {
        match &mut self.inner {
            Inner::Gpu(g) => g.reset_state(),
            Inner::Cpu { carry, .. } => {
                if let Some(last) = carry {
                    *last = None;
                }
            }
        }
    }

    /// The configuration it trains with (the learning rate as [`Trainer::set_learning_rate`]
    /// last set it).
    pub fn config(&self) -> &TrainConfig {
        match &self.inner {
            Inner::Gpu(g) => g.config(),
            Inner::Cpu { cfg, .. } => cfg,
        }
    }

    /// Sets the learning rate of the steps from now on, for a schedule (decay, warm-up, cosine
    /// annealing), as assigning `lr` in a `torch.optim` parameter group does: the optimizer's
    /// state (moments, momentum buffers, the step count behind Adam's bias corrections) is kept,
    /// and AdamW's decoupled weight decay scales with the new rate. A rate that is not a finite
    /// number >= 0 is an [`crate::Error::Invalid`] and changes nothing. Steps already submitted
    /// with [`Trainer::step_unread`] keep the rate they were recorded with.
    pub fn set_learning_rate(&mut self, lr: f32) -> Result<()> {
        match &mut self.inner {
            Inner::Gpu(g) => g.set_learning_rate(lr),
            Inner::Cpu { cfg, .. } => cfg.set_learning_rate(lr),
        }
    }

    /// Whether the steps run on a GPU.
    pub fn is_gpu(&self) -> bool {
        matches!(self.inner, Inner::Gpu(_))
    }

    /// Optimizer steps taken.
    pub fn steps(&self) -> u64 {
        match &self.inner {
            Inner::Gpu(g) => g.steps(),
            Inner::Cpu { state, .. } => state.step,
        }
    }
}

/// The CPU reference's unread steps, taken.
fn cpu_unread_stats(unread: &mut VecDeque<(u64, CpuStats)>) -> Vec<(u64, Result<StepStats>)> {
    unread.drain(..).map(|(step, r)| (step, cpu_result(r))).collect()
}

/// What the CPU reference's last step gave.
fn cpu_last_stats(last: &Option<CpuStats>) -> Result<StepStats> {
    last.clone().map_or_else(|| Err(crate::Error::invalid("last_stats", "no step has run")), cpu_result)
}

/// A CPU step's result as the API gives it: a failure is [`crate::Error::NonFinite`].
fn cpu_result(r: CpuStats) -> Result<StepStats> {
    r.map_err(|(step, tensor)| crate::Error::NonFinite { step, tensor })
}
