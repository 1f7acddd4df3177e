//! The wgpu executor: device and adapter selection, pipelines created once, weights uploaded
//! once, workspaces reused per shape, one function that owns buffer mapping.

mod context;
mod download;
mod model;
mod params;
mod pipelines;

pub use context::{AdapterSummary, GpuContext, GpuOptions};
pub(crate) use download::read_back;
pub use model::{GpuModel, ResidentOutputs};
