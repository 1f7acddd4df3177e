//! The public entry point: an [`Engine`] owns (or borrows) a GPU device, or falls back to the
//! CPU reference when no adapter exists; [`Model`]s run networks on it.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::{AdapterSummary, GpuContext, GpuModel, GpuOptions, ResidentOutputs};
use crate::network::{Inputs, Network, Outputs};
use crate::plan::Plan;

/// How an [`Engine`] is created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineOptions {
    /// Adapter selection (defaults from `WGPU_RNN_BACKEND` / `WGPU_RNN_ADAPTER`).
    pub gpu: GpuOptions,
    /// Fail with [`Error::NoAdapter`] instead of falling back to the CPU reference.
    /// Also set by the environment variable `WGPU_RNN_REQUIRE_GPU=1`.
    pub require_gpu: bool,
}

impl EngineOptions {
    /// Options from the environment (an error names a variable whose value means nothing).
    pub fn from_env() -> Result<Self> {
        Ok(EngineOptions {
            gpu: GpuOptions::from_env()?,
            require_gpu: std::env::var("WGPU_RNN_REQUIRE_GPU")
                .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
        })
    }
}

/// Where an engine runs its models.
#[derive(Debug, Clone)]
pub enum Backend {
    Gpu(Arc<GpuContext>),
    /// The CPU reference (no adapter was found).
    Cpu,
}

/// The engine: a device plus its compiled pipelines, shared by every model made from it.
#[derive(Debug, Clone)]
pub struct Engine {
    backend: Backend,
}

impl Engine {
    /// An engine on the best adapter, with options from the environment. Without any adapter it
    /// warns once on stderr and uses the CPU reference, unless a GPU is required. Blocks while
    /// the device is made: [`Engine::new_async`] is the form for async code and browsers.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new() -> Result<Engine> {
        Self::with_options(&EngineOptions::from_env()?)
    }

    /// An engine that must run on a GPU adapter (blocking; see [`Engine::gpu_async`]).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn gpu() -> Result<Engine> {
        Self::with_options(&EngineOptions { require_gpu: true, ..EngineOptions::from_env()? })
    }

    /// An engine with explicit options (blocking; see [`Engine::with_options_async`]).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn with_options(opts: &EngineOptions) -> Result<Engine> {
        pollster::block_on(Self::with_options_async(opts))
    }

    /// [`Engine::new`] for async code. In a browser (wasm32) the async constructors are the
    /// only ones, and the environment is empty: options come from the defaults.
    pub async fn new_async() -> Result<Engine> {
        Self::with_options_async(&EngineOptions::from_env()?).await
    }

    /// [`Engine::gpu`] for async code: in a browser, an engine on its WebGPU adapter or
    /// [`Error::NoAdapter`] saying what would give one.
    pub async fn gpu_async() -> Result<Engine> {
        Self::with_options_async(&EngineOptions { require_gpu: true, ..EngineOptions::from_env()? }).await
    }

    /// [`Engine::with_options`] for async code.
    pub async fn with_options_async(opts: &EngineOptions) -> Result<Engine> {
        match GpuContext::new_async(&opts.gpu).await {
            Ok(ctx) => Ok(Engine { backend: Backend::Gpu(Arc::new(ctx)) }),
            Err(Error::NoAdapter(why))
                if !opts.require_gpu && opts.gpu.backend.is_none() && opts.gpu.adapter.is_none() =>
            {
                #[cfg(not(target_arch = "wasm32"))]
                eprintln!("wgpu-rnn: warning: no GPU adapter ({why}); using the CPU reference");
                #[cfg(target_arch = "wasm32")]
                let _ = why;
                Ok(Engine { backend: Backend::Cpu })
            }
            Err(e) => Err(e),
        }
    }

    /// An engine on the host application's device and queue.
    pub fn from_wgpu(device: wgpu::Device, queue: wgpu::Queue) -> Result<Engine> {
        Ok(Engine { backend: Backend::Gpu(Arc::new(GpuContext::from_device(device, queue)?)) })
    }

    /// An engine that always uses the CPU reference.
    pub fn cpu() -> Engine {
        Engine { backend: Backend::Cpu }
    }

    /// Whether models run on a GPU.
    pub fn is_gpu(&self) -> bool {
        matches!(self.backend, Backend::Gpu(_))
    }

    /// The GPU context, if any.
    pub fn context(&self) -> Option<&Arc<GpuContext>> {
        match &self.backend {
            Backend::Gpu(ctx) => Some(ctx),
            Backend::Cpu => None,
        }
    }

    /// The adapter, if any.
    pub fn adapter(&self) -> Option<&AdapterSummary> {
        self.context().map(|c| &c.adapter)
    }

    /// Validates a network and prepares it (on a GPU: packs and uploads its weights).
    pub fn load(&self, net: Network) -> Result<Model> {
        net.validate()?;
        Ok(match &self.backend {
            Backend::Gpu(ctx) => Model::Gpu(GpuModel::new(ctx.clone(), net)?),
            Backend::Cpu => Model::Cpu(net),
        })
    }
}

/// A network ready to run.
#[derive(Debug)]
#[expect(clippy::large_enum_variant, reason = "one Model per network; boxing buys nothing")]
pub enum Model {
    Gpu(GpuModel),
    Cpu(Network),
}

impl Model {
    /// Runs a forward call and returns the outputs on the host (blocks until the GPU is done;
    /// see [`Model::forward_async`]).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward(&self, inp: &Inputs) -> Result<Outputs> {
        match self {
            Model::Gpu(m) => m.forward(inp),
            Model::Cpu(net) => crate::cpu::forward(net, inp),
        }
    }

    /// [`Model::forward`] for async code, and the only form in a browser: the page's event
    /// loop goes on while the GPU works.
    pub async fn forward_async(&self, inp: &Inputs) -> Result<Outputs> {
        match self {
            Model::Gpu(m) => m.forward_async(inp).await,
            Model::Cpu(net) => crate::cpu::forward(net, inp),
        }
    }

    /// The gradients of `sum(outputs ⊙ upstream)` with respect to the inputs (x, h0, c0) and
    /// every weight, in the layouts they came in: backpropagation through time on the GPU, or
    /// the f64 CPU reference ([`crate::cpu::backward`]) for CPU models. For users who bring
    /// their own loss: `upstream` is its gradient with respect to the outputs. Blocks (native
    /// targets only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn backward(&self, inp: &Inputs, upstream: &crate::network::Upstream) -> Result<crate::network::Gradients> {
        match self {
            Model::Gpu(m) => m.backward(inp, upstream),
            Model::Cpu(net) => crate::cpu::backward(net, inp, upstream),
        }
    }

    /// [`Model::backward`] for async code, and the only form in a browser.
    pub async fn backward_async(
        &self,
        inp: &Inputs,
        upstream: &crate::network::Upstream,
    ) -> Result<crate::network::Gradients> {
        match self {
            Model::Gpu(m) => m.backward_async(inp, upstream).await,
            Model::Cpu(net) => crate::cpu::backward(net, inp, upstream),
        }
    }

    /// Runs a forward call and leaves its outputs on the GPU ([`Error::NoAdapter`] on the CPU).
    pub fn forward_resident(&self, inp: &Inputs) -> Result<ResidentOutputs> {
        match self {
            Model::Gpu(m) => m.forward_resident(inp),
            Model::Cpu(_) => Err(Error::NoAdapter("this model runs on the CPU reference".into())),
        }
    }

    /// The plan a forward call would run (GPU models only).
    pub fn plan(&self, inp: &Inputs) -> Option<Result<Plan>> {
        match self {
            Model::Gpu(m) => Some(m.plan(inp)),
            Model::Cpu(_) => None,
        }
    }

    /// The network.
    pub fn network(&self) -> &Network {
        match self {
            Model::Gpu(m) => m.network(),
            Model::Cpu(n) => n,
        }
    }

    /// Forces a step variant on a GPU model (`None`: automatic); an error where it cannot run
    /// this network. CPU models ignore it.
    pub fn set_variant(&mut self, variant: Option<crate::plan::StepVariant>) -> Result<()> {
        match self {
            Model::Gpu(m) => m.set_variant(variant),
            Model::Cpu(_) => Ok(()),
        }
    }

    /// Forces a GPU model's wavefront stack on or off (`None`: automatic; see
    /// `GpuModel::set_stacked`); an error where it cannot run this network. CPU models ignore it.
    pub fn set_stacked(&mut self, stacked: Option<bool>) -> Result<()> {
        match self {
            Model::Gpu(m) => m.set_stacked(stacked),
            Model::Cpu(_) => Ok(()),
        }
    }

    /// A stream of `slots` sequences whose state stays on the GPU (GPU models, one direction).
    pub fn stream(&self, slots: usize) -> Result<crate::gpu::Stream> {
        match self {
            Model::Gpu(m) => m.stream(slots),
            Model::Cpu(_) => Err(Error::NoAdapter("streams keep their state on a GPU".into())),
        }
    }

    /// Whether a step variant can run this model (always false on the CPU reference).
    pub fn supports_variant(&self, variant: crate::plan::StepVariant) -> bool {
        match self {
            Model::Gpu(m) => m.supports(variant),
            Model::Cpu(_) => false,
        }
    }

    /// Whether this model runs on a GPU.
    pub fn is_gpu(&self) -> bool {
        matches!(self, Model::Gpu(_))
    }
}
