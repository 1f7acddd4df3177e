//! The plan of GPU work for one forward call: which kernels run, in which order, on which
//! buffers. No wgpu types: a plan can be built, printed, counted and tested without a device.
//! `gpu::executor` records it into a command encoder.
//!
//! - [`types`]: the plan itself ([`Buf`], [`Command`], [`Dispatch`], [`Plan`] and its builders);
//! - [`shape`]: [`NetShape`], the sizes read off a network, buffer sizes and kernel bindings;
//! - [`policy`]: which kernel version runs where ([`StepVariant`], [`DeviceFit`], thresholds).

pub mod policy;
pub mod shape;
pub mod train;
pub mod train_step;
pub mod types;

pub use policy::{
    DeviceFit, SLICED_BATCH, SLICED_HIDDEN, SLICED_WORKGROUPS, SMALL_HIDDEN, SPLIT_BATCH, STACKED_HIDDEN,
    STACKED_HIDDEN_MANY_DISPATCHES, StepVariant, projection_rows,
};
pub use shape::NetShape;
pub use types::{Buf, Command, Dispatch, Plan, STATE_HALF_ALIGN, linear_workgroups, unit_workgroups};
