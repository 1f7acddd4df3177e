//! The wgpu executor: device and adapter selection, pipelines created once, weights uploaded
//! once, workspaces reused per shape, one function that owns buffer mapping.

mod context;
mod download;
mod model;
mod params;
mod pipelines;
mod stream;

pub use context::{AdapterSummary, GpuContext, GpuOptions};
pub use download::PendingRead;
pub(crate) use download::read_back;
pub use model::{GpuModel, ResidentOutputs, Timing};
pub use stream::{ChunkInput, ChunkOutput, SlotState, Stream};
