//! wgpu-rnn: fused RNN, GRU and LSTM kernels in WGSL on wgpu, matching ONNX Runtime and PyTorch.
//!
//! ```no_run
//! use wgpu_rnn::{Engine, Inputs, import::OnnxAttributes};
//! # fn main() -> wgpu_rnn::Result<()> {
//! let engine = Engine::new()?; // best GPU adapter, or the CPU reference with a warning
//! let case = wgpu_rnn::case::Case::load("tests/data/conformance/lstm_forward_s1.safetensors".as_ref())?;
//! let model = engine.load(case.network.clone())?;
//! let out = model.forward(&case.inputs)?;
//! println!("{} outputs, {} dispatches", out.y.len(), out.dispatches);
//! # Ok(()) }
//! ```
//!
//! Layers (see `ARCHITECTURE.md`): [`spec`] and [`import`] describe networks, [`cpu`] is the
//! reference, [`plan`] says what the GPU runs, [`gpu`] runs it, [`engine`] is the front door.
//!
//! In a browser (`wasm32-unknown-unknown`, WebGPU) the calls that wait for the GPU exist only in
//! their async forms (`Engine::gpu_async`, `Model::forward_async`, `Stream::push_async`,
//! `Trainer::step_async`, ...); natively both forms exist and give the same results. `web/`
//! runs the conformance suite and a demo in a page.

#![cfg_attr(
    target_arch = "wasm32",
    expect(
        clippy::arc_with_non_send_sync,
        reason = "wgpu's WebGPU objects are neither Send nor Sync; a page runs on one thread, and the Arcs stay for native targets"
    )
)]

#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod case;
pub mod cpu;
pub mod engine;
pub mod error;
pub mod gpu;
pub mod import;
pub mod kernels;
#[cfg(not(target_arch = "wasm32"))]
pub mod lessons;
pub mod network;
pub mod onnx;
pub mod pack;
pub mod plan;
pub mod random;
pub mod spec;
pub mod tensor;
pub mod train;

pub use engine::{Engine, EngineOptions, Model};
pub use error::{Error, Result};
pub use network::{Gradients, Inputs, Layer, LayerWeights, Network, Outputs, Upstream};
pub use spec::{Activation, ActivationKind, Cell, Direction, LayerSpec, MergeMode};

/// The README's example compiles (`cargo test --doc`).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
