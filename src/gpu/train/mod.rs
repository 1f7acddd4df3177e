//! Training on the GPU: a forward that keeps a tape, and backpropagation through time, recorded
//! from a [`TrainPlan`](crate::plan::train::TrainPlan) into one command encoder and one submit.
//!
//! - [`GpuTrainer`]: a network's weights in ONNX layout (one buffer per layer, the same layout
//!   for their gradients) and a workspace per (T, B);
//! - `params`: the Rust mirrors of the training kernels' uniforms;
//! - [`TrainPipelines`]: the training kernels, compiled the first time a device trains.

mod params;
mod stepper;
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
use super::pipelines::{KernelPipeline, layout_entries};
use crate::error::Result;
use crate::kernels::TrainKernel;
use crate::network::{Gradients, Inputs, LayerWeights, Network, Outputs, Upstream};
use crate::plan::train::{TBuf, TrainLayer};
use crate::spec::Cell;

/// The training kernels' layouts and pipelines of one device.
pub struct TrainPipelines {
    by_kernel: HashMap<TrainKernel, KernelPipeline>,
}

impl TrainPipelines {
    /// Compiles every training kernel. Call inside an error scope.
    pub fn new(device: &wgpu::Device, checks: wgpu::ShaderRuntimeChecks) -> TrainPipelines {
        // kernels of one file share their bindings and one bind group layout
        let mut layouts: HashMap<&'static str, (wgpu::BindGroupLayout, wgpu::PipelineLayout, wgpu::ShaderModule)> =
            HashMap::new();
        let mut by_kernel = HashMap::new();
        for kernel in TrainKernel::ALL {
            let (layout, pipeline_layout, module) = layouts.entry(kernel.file()).or_insert_with(|| {
                let label = format!("wgpu-rnn.{}", kernel.file());
                let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(&label),
                    entries: &layout_entries(kernel.binding_kinds()),
                });
                let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some(&label),
                    bind_group_layouts: &[Some(&layout)],
                    immediate_size: 0,
                });
                let desc = wgpu::ShaderModuleDescriptor {
                    label: Some(&label),
                    source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
                };
                // SAFETY: the checks dropped are those the step kernels drop (see
                // `pipelines::shader_checks`): the training kernels' loops are bounded by layer
                // sizes the host validates, and their workgroup arrays are indexed below their
                // sizes by construction.
                let module = unsafe { device.create_shader_module_trusted(desc, checks) };
                (layout, pipeline_layout, module)
            });
            let label = kernel.label();
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: Some(pipeline_layout),
                module,
                entry_point: Some(kernel.entry_point()),
                compilation_options: Default::default(),
                cache: None,
            });
            by_kernel.insert(kernel, KernelPipeline { layout: layout.clone(), pipeline });
        }
        TrainPipelines { by_kernel }
    }

    fn get(&self, kernel: TrainKernel) -> &KernelPipeline {
        &self.by_kernel[&kernel]
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
            let make = |label: &str, data: &[f32]| {
                use wgpu::util::DeviceExt;
                ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytemuck::cast_slice(data),
                    usage: workspace::STORAGE,
                })
            };
            let weights: Vec<wgpu::Buffer> =
                net.layers.iter().map(|l| make("wgpu-rnn.train.weights", &flat_weights(&l.weights))).collect();
            let grads = layers.iter().map(|l| make("wgpu-rnn.train.grads", &vec![0.0; l.weights_len()])).collect();
            (weights, grads)
        })?;
        Ok(GpuTrainer { ctx, net, layers, weights, grads, workspace: Mutex::new(None) })
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

    /// The network (its weights as uploaded).
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// A training forward and its backward on the GPU in one submit: the outputs, and the
    /// gradients of `sum(outputs ⊙ upstream)` with respect to the inputs and every weight
    /// (as [`crate::cpu::backward`] computes them in f64).
    pub fn forward_backward(&self, inp: &Inputs, up: &Upstream) -> Result<(Outputs, Gradients)> {
        self.net.validate_upstream(inp, up)?;
        let lengths = self.net.validate_inputs(inp)?;
        let mut guard =
            self.workspace.lock().map_err(|_| crate::Error::invalid("trainer", "a previous call panicked"))?;
        if guard.as_ref().is_none_or(|ws| !ws.fits(inp.steps, inp.batch)) {
            *guard = None;
            let plan = crate::plan::train::TrainPlan::new(&self.net, inp.steps, inp.batch);
            *guard = Some(TrainWorkspace::new(&self.ctx, &self.net, &self.external(), plan)?);
        }
        let ws = guard.as_ref().expect("workspace made");
        let device = &self.ctx.device;
        let mut encoder =
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("wgpu-rnn.train") });
        self.ctx.scoped("recording a training pass", || {
            ws.upload(&self.ctx.queue, inp, &lengths, up);
            ws.record(&self.ctx, &mut encoder)
        })??;
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
        let data = self.ctx.scoped("reading gradients back", || {
            super::download::read_back_many(device, &self.ctx.queue, encoder, &parts)
        })??;
        let mut it = data.into_iter();
        let mut next = || it.next().unwrap_or_default();
        let (y, h_n, c_n, dx, dh0, dc0) = (next(), next(), next(), next(), next(), next());
        let layers = self.layers.iter().map(|l| split_weights(l, &next())).collect();
        let outputs = Outputs { y, h_n, c_n: lstm.then_some(c_n), dispatches: plan.dispatches() };
        Ok((outputs, Gradients { x: dx, h0: dh0, c0: lstm.then_some(dc0), layers }))
    }
}
