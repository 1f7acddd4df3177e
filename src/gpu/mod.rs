//! Everything that touches wgpu: device and adapter selection (`context`), pipelines created
//! once (`pipelines`), models with their weights uploaded once (`model`), the executor that
//! records plans on workspaces reused per shape (`executor`), streams, and the one place that
//! maps buffers (`download`).

mod context;
pub(crate) mod download;
mod executor;
#[cfg(not(target_arch = "wasm32"))] // for the benchmark, which is native only
pub(crate) use executor::check_size;
mod model;
pub(crate) mod params;
mod pipeline_cache;
mod pipelines;
mod stream;
pub mod train;

pub use context::{AdapterSummary, GpuContext, GpuOptions};
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use download::read_back;
pub use download::{PendingRead, PendingReads};
pub use model::{GpuModel, ResidentOutputs, Timing};
pub use pipeline_cache::CacheSetting;
pub use stream::{ChunkInput, ChunkOutput, SlotState, Stream};
pub use train::{
    DROPOUT_PARAMS_SIZE, GpuStepper, GpuTrainer, LOSS_PARAMS_SIZE, MATMUL_PARAMS_SIZE, OPTIMIZER_PARAMS_SIZE,
    TRAIN_PARAMS_SIZE,
};
