//! wgpu-rnn: fused RNN, GRU and LSTM kernels in WGSL on wgpu, matching ONNX Runtime and PyTorch.
//!
//! See `ARCHITECTURE.md` for the layers: spec and importers, the CPU reference, the plan, and the
//! wgpu executor.

pub mod case;
pub mod cpu;
pub mod error;
pub mod import;
pub mod network;
pub mod spec;
pub mod tensor;

pub use error::{Error, Result};
pub use network::{Inputs, Layer, LayerWeights, Network, Outputs};
pub use spec::{Activation, ActivationKind, Cell, Direction, LayerSpec, MergeMode};
