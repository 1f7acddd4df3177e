//! Training on the GPU: a forward that keeps a tape, and backpropagation through time, recorded
//! from a [`TrainPlan`](crate::plan::train::TrainPlan) into one command encoder and one submit.
//!
//! - [`GpuTrainer`]: a network's weights in ONNX layout (one buffer per layer, the same layout
//!   for their gradients) and a workspace per (T, B);
//! - `params`: the Rust mirrors of the training kernels' uniforms;
//! - [`TrainPipelines`]: the training kernels, each compiled the first time a plan needs it.

mod params;
mod stepper;
mod unread;
mod workspace;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use params::{
    DROPOUT_PARAMS_SIZE, DropoutParams, LOSS_PARAMS_SIZE, LossParams, MATMUL_PARAMS_SIZE, MatmulParams,
    OPTIMIZER_PARAMS_SIZE, OptimizerParams, TRAIN_PARAMS_SIZE, TrainParams,
};
pub use stepper::GpuStepper;
use workspace::TrainWorkspace;

use super::context::GpuContext;
use super::download::PendingReads;
use super::pipeline_cache::CacheFile;
use super::pipelines::{KernelPipeline, compute_pipeline, kernel_layouts};
use crate::error::Result;
use crate::kernels::TrainKernel;
use crate::network::{Gradients, Inputs, LayerWeights, Network, Outputs, Upstream};
use crate::plan::train::{TBuf, TrainLayer, Walk};
use crate::spec::Cell;

/// The training kernels' layouts and pipelines of one device, each compiled the first time a
/// training plan needs it.
pub struct TrainPipelines {
    device: wgpu::Device,
    checks: wgpu::ShaderRuntimeChecks,
    cache: Option<Arc<CacheFile>>,
    /// Kernels of one file share their bindings, one bind group layout and one module.
    files: Mutex<HashMap<&'static str, (wgpu::BindGroupLayout, wgpu::PipelineLayout, wgpu::ShaderModule)>>,
    by_kernel: Mutex<HashMap<TrainKernel, KernelPipeline>>,
}

impl TrainPipelines {
    /// The training kernels of `device` with the runtime checks `checks`; compiles nothing yet.
    pub fn new(
        device: &wgpu::Device,
        checks: wgpu::ShaderRuntimeChecks,
        cache: Option<Arc<CacheFile>>,
    ) -> TrainPipelines {
        TrainPipelines {
            device: device.clone(),
            checks,
            cache,
            files: Mutex::new(HashMap::new()),
            by_kernel: Mutex::new(HashMap::new()),
        }
    }

    /// `kernel`'s layout and pipeline, compiled now on its first use, in an error scope: a
    /// kernel the device cannot compile is an error naming it (and nothing is kept).
    fn get(&self, kernel: TrainKernel) -> Result<KernelPipeline> {
        let mut by_kernel = self.by_kernel.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = by_kernel.get(&kernel) {
            return Ok(p.clone());
        }
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let label = kernel.label();
        let made = super::context::scoped(&self.device, &format!("compiling the kernel {label}"), || {
            let (layout, pipeline_layout, module) = files.get(kernel.file()).cloned().unwrap_or_else(|| {
                let file_label = format!("wgpu-rnn.{}", kernel.file());
                let (layout, pipeline_layout) = kernel_layouts(&self.device, &file_label, kernel.binding_kinds());
                let desc = wgpu::ShaderModuleDescriptor {
                    label: Some(&file_label),
                    source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
                };
                // SAFETY: the checks dropped are those the step kernels drop (see
                // `pipelines::shader_checks`): the training kernels' loops are bounded by layer
                // sizes the host validates, and their workgroup arrays are indexed below their
                // sizes by construction.
                let module = unsafe { self.device.create_shader_module_trusted(desc, self.checks) };
                (layout, pipeline_layout, module)
            });
            let pipeline = compute_pipeline(
                &self.device,
                self.cache.as_deref(),
                &label,
                &pipeline_layout,
                &module,
                kernel.entry_point(),
                &[],
            );
            (layout, pipeline_layout, module, pipeline)
        })?;
        let (layout, pipeline_layout, module, pipeline) = made;
        files.insert(kernel.file(), (layout.clone(), pipeline_layout, module));
        let made = KernelPipeline { layout, pipeline };
        by_kernel.insert(kernel, made.clone());
        Ok(made)
    }

    /// How many training pipelines the device has compiled so far.
    pub fn compiled(&self) -> usize {
        self.by_kernel.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// A network on the GPU for training: its weights (one buffer per layer, ONNX layout), their
/// gradients in the same layout, and a workspace reused while (T, B) stays the same.
pub struct GpuTrainer {
    ctx: Arc<GpuContext>,
    net: Network,
    layers: Vec<TrainLayer>,
    weights: Vec<wgpu::Buffer>,
    grads: Vec<wgpu::Buffer>,
    /// How the layers walk through time (`GpuContext::training_walk` unless set).
    walk: Walk,
    workspace: Mutex<Option<TrainWorkspace>>,
}

impl std::fmt::Debug for GpuTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuTrainer").field("layers", &self.layers).finish_non_exhaustive()
    }
}

/// A layer's weights as one buffer in the order `TrainLayer` addresses them: W, R, B, P, W_hr.
fn flat_weights(w: &LayerWeights) -> Vec<f32> {
    let mut v = Vec::with_capacity(w.w.len() + w.r.len() + w.b.len());
    for part in [Some(&w.w), Some(&w.r), Some(&w.b), w.p.as_ref(), w.proj.as_ref()].into_iter().flatten() {
        v.extend_from_slice(part);
    }
    v
}

/// The inverse of [`flat_weights`] for a layer's gradients.
fn split_weights(ly: &TrainLayer, v: &[f32]) -> LayerWeights {
    LayerWeights {
        w: v[..ly.r_off()].to_vec(),
        r: v[ly.r_off()..ly.b_off()].to_vec(),
        b: v[ly.b_off()..ly.p_off()].to_vec(),
        p: ly.peephole.then(|| v[ly.p_off()..ly.proj_off()].to_vec()),
        proj: ly.proj.then(|| v[ly.proj_off()..ly.weights_len()].to_vec()),
    }
}

impl GpuTrainer {
    /// Validates `net` and uploads its weights.
    pub fn new(ctx: Arc<GpuContext>, net: Network) -> Result<GpuTrainer> {
        net.validate()?;
        ctx.train_pipelines()?;
        let layers = TrainLayer::of(&net);
        let (weights, grads) = ctx.scoped("uploading the weights for training", || {
            let weights: Vec<wgpu::Buffer> = net
                .layers
                .iter()
                .map(|l| workspace::storage_init(&ctx.device, "wgpu-rnn.train.weights", &flat_weights(&l.weights)))
                .collect();
            // zeroed, as wgpu makes every new buffer
            let grads = layers
                .iter()
                .map(|l| workspace::storage(&ctx.device, "wgpu-rnn.train.grads", l.weights_len()))
                .collect();
            (weights, grads)
        })?;
        let walk = ctx.training_walk();
        Ok(GpuTrainer { ctx, net, layers, weights, grads, walk, workspace: Mutex::new(None) })
    }

    /// The trainer's own buffers by the plan's names.
    fn external(&self) -> HashMap<TBuf, wgpu::Buffer> {
        let mut m = HashMap::new();
        for (l, (w, g)) in self.weights.iter().zip(&self.grads).enumerate() {
            m.insert(TBuf::Wts(l), w.clone());
            m.insert(TBuf::Grads(l), g.clone());
        }
        m
    }

    /// Forces how the layers walk through time (`None`: the device's default); the next call
    /// makes a new workspace.
    pub fn set_walk(&mut self, walk: Option<Walk>) {
        self.walk = walk.unwrap_or_else(|| self.ctx.training_walk());
        *self.workspace.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The network (its weights as uploaded).
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// A training forward and its backward on the GPU in one submit: the outputs, and the
    /// gradients of `sum(outputs ⊙ upstream)` with respect to the inputs and every weight
    /// (as [`crate::cpu::backward`] computes them in f64). Blocks (native targets only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward_backward(&self, inp: &Inputs, up: &Upstream) -> Result<(Outputs, Gradients)> {
        let (read, dispatches) = self.ctx.scoped("running a training pass", || self.start(inp, up))??;
        Ok(self.finish(self.ctx.scoped("reading gradients back", || read.wait())??, dispatches))
    }

    /// [`Self::forward_backward`] for async code, and the only form in a browser.
    pub async fn forward_backward_async(&self, inp: &Inputs, up: &Upstream) -> Result<(Outputs, Gradients)> {
        let (read, dispatches) = self.ctx.scoped_async("running a training pass", || self.start(inp, up)).await?;
        Ok(self.finish(self.ctx.settled("reading gradients back", read.settle().await)?, dispatches))
    }

    /// Uploads, records and submits a training pass and starts reading back its outputs and
    /// gradients; returns the readback and the pass's dispatch count.
    fn start(&self, inp: &Inputs, up: &Upstream) -> Result<(PendingReads, usize)> {
        self.net.validate_upstream(inp, up)?;
        let lengths = self.net.validate_inputs(inp)?;
        let mut guard =
            self.workspace.lock().map_err(|_| crate::Error::invalid("trainer", "a previous call panicked"))?;
        if guard.as_ref().is_none_or(|ws| !ws.fits(inp.steps, inp.batch)) {
            *guard = None;
            let plan = crate::plan::train::TrainPlan::with_walk(&self.net, inp.steps, inp.batch, self.walk);
            *guard = Some(TrainWorkspace::new(&self.ctx, &self.net, &self.external(), plan)?);
        }
        let ws = guard.as_ref().expect("workspace made");
        let device = &self.ctx.device;
        let mut encoder =
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("wgpu-rnn.train") });
        ws.upload(&self.ctx.queue, inp, &lengths, up);
        ws.record(&self.ctx, &mut encoder)?;
        let lstm = self.net.cell() == Cell::Lstm;
        let plan = &ws.plan;
        let mut parts: Vec<(&wgpu::Buffer, usize)> = vec![
            (ws.buffer(plan.output()), plan.size(plan.output())),
            (ws.buffer(TBuf::HN), plan.size(TBuf::HN)),
            (ws.buffer(TBuf::CN), if lstm { plan.size(TBuf::CN) } else { 0 }),
            (ws.buffer(TBuf::DIn(0)), plan.size(TBuf::DIn(0))),
            (ws.buffer(TBuf::Dh0), plan.size(TBuf::Dh0)),
            (ws.buffer(TBuf::Dc0), if lstm { plan.size(TBuf::Dc0) } else { 0 }),
        ];
        parts.extend(self.grads.iter().zip(&self.layers).map(|(g, l)| (g, l.weights_len())));
        Ok((PendingReads::start(device, &self.ctx.queue, encoder, &parts), plan.dispatches()))
    }

    /// The outputs and gradients from what [`Self::start`] read back.
    fn finish(&self, data: Vec<Vec<f32>>, dispatches: usize) -> (Outputs, Gradients) {
        let lstm = self.net.cell() == Cell::Lstm;
        let mut it = data.into_iter();
        let mut next = || it.next().unwrap_or_default();
        let (y, h_n, c_n, dx, dh0, dc0) = (next(), next(), next(), next(), next(), next());
        let layers = self.layers.iter().map(|l| split_weights(l, &next())).collect();
        let outputs = Outputs { y, h_n, c_n: lstm.then_some(c_n), dispatches };
        (outputs, Gradients { x: dx, h0: dh0, c0: lstm.then_some(dc0), layers })
    }
}
