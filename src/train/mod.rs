//! Training: an optional embedding, a recurrent stack and a linear head, trained with
//! cross-entropy or mean squared error, SGD, Adam or AdamW, and gradient clipping.
//!
//! [`reference_step`] is the CPU reference in f64, checked against PyTorch by the training
//! cases in `tests/data/train` (FORMAT.md, "train"); the GPU trainer is checked against it.

pub(crate) mod dropout;
mod loss;
mod model;
mod optim;
mod reference;
mod save;
mod trainer;

pub use crate::plan::train::Walk;
pub use dropout::Dropout;
pub use loss::{LossKind, Targets, loss_and_grad};
pub(crate) use model::ENCODER_SEED;
pub use model::{Batch, BatchInputs, Embedding, Encoder, HeadMode, Linear, Source, TrainModel};
pub use optim::{Optimizer, OptimizerState, clip, global_norm, update};
pub(crate) use reference::check_batch;
pub use reference::{CarriedState, StepStats, TrainConfig, loss_and_gradients, reference_step};
pub use save::{MODEL_FORMAT, torch_config};
pub use trainer::{STATS_WINDOW, Trainer};
