//! A network on the GPU: packed weights uploaded once, the plan of each call, its inputs
//! uploaded and its outputs read back. `gpu::executor` records the plans.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::network::{Inputs, Network, Outputs};
use crate::pack::{pack_layer, pack_stack};
#[cfg(not(target_arch = "wasm32"))]
use crate::plan::Command;
use crate::plan::{Buf, NetShape, Plan, StepVariant};
use crate::spec::Cell;

use super::context::GpuContext;
use super::executor::{Workspace, check_size, weight_buffer};

/// What [`GpuModel::time_forward`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Recording, submission and GPU execution, until the GPU is done.
    pub wall_ms: f64,
    /// GPU time between timestamps at the start and end of the command encoder.
    pub gpu_ms: Option<f64>,
    pub dispatches: usize,
}

/// Output buffers left on the GPU by [`GpuModel::forward_resident`]. Layouts as in [`Outputs`].
/// They belong to the model's workspace: valid until the next call of the same shape.
#[derive(Debug, Clone)]
pub struct ResidentOutputs {
    /// `y [T, B, W]` f32
    pub y: wgpu::Buffer,
    /// `h_n [L*D, B, H_out]` f32
    pub h_n: wgpu::Buffer,
    /// `c_n [L*D, B, H]` f32 (LSTM)
    pub c_n: Option<wgpu::Buffer>,
    /// Compute dispatches recorded.
    pub dispatches: usize,
}

/// A network prepared for one GPU.
pub struct GpuModel {
    pub(super) ctx: Arc<GpuContext>,
    pub(super) net: Network,
    pub(super) shape: NetShape,
    pub(super) weights: HashMap<Buf, wgpu::Buffer>,
    pub(super) workspace: Mutex<Option<Workspace>>,
    pub(super) variant: Option<StepVariant>,
    /// Forces the wavefront stack on or off (`None`: `NetShape::default_stacked`).
    pub(super) stacked: Option<bool>,
    /// The training kernels' copy of the weights, made by the first `backward`.
    pub(super) trainer: std::sync::OnceLock<super::GpuTrainer>,
}

impl std::fmt::Debug for GpuModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuModel").field("shape", &self.shape).finish_non_exhaustive()
    }
}

pub(super) const STORAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_DST).union(wgpu::BufferUsages::COPY_SRC);

impl GpuModel {
    /// Validates the network, packs its weights and uploads them.
    pub fn new(ctx: Arc<GpuContext>, net: Network) -> Result<GpuModel> {
        net.validate()?;
        let shape = NetShape::of(&net);
        let limits = ctx.limits();
        let device = &ctx.device;
        let weights = ctx.scoped("uploading the weights", || -> Result<HashMap<Buf, wgpu::Buffer>> {
            let mut weights = HashMap::new();
            for (l, layer) in net.layers.iter().enumerate() {
                let packed = pack_layer(layer);
                // (a placeholder of one vec4 where there is no projection, no `wn`)
                let wr = packed.wr.unwrap_or_else(|| vec![0.0; 4]);
                let wn = packed.wn.unwrap_or_else(|| vec![0.0; 4]);
                let aux = if packed.aux.is_empty() { vec![0.0] } else { packed.aux };
                for (buf, data) in [
                    (Buf::Wx(l), packed.wx),
                    (Buf::Bx(l), packed.bx),
                    (Buf::Wh(l), packed.wh),
                    (Buf::Aux(l), aux),
                    (Buf::Wr(l), wr),
                    (Buf::Wn(l), wn),
                ] {
                    check_size(&limits, buf, data.len() as u64 * 4)?;
                    weights.insert(buf, weight_buffer(device, buf, &data));
                }
            }
            Ok(weights)
        })??;
        let mut model = GpuModel {
            ctx,
            net,
            shape,
            weights,
            workspace: Mutex::new(None),
            variant: None,
            stacked: None,
            trainer: std::sync::OnceLock::new(),
        };
        // the stack's weights repeat the layers': uploaded where the default can stack
        // (CPU drivers run per-step kernels at every batch), or once a stack is forced
        if model.shape.default_stacked(StepVariant::PerStep { rows: 1 }, model.ctx.fit()) {
            model.upload_stack_weights()?;
        }
        Ok(model)
    }

    /// Packs and uploads the wavefront stack's weights (`pack::pack_stack`) unless they are there.
    fn upload_stack_weights(&mut self) -> Result<()> {
        if self.weights.contains_key(&Buf::StackWh) {
            return Ok(());
        }
        let packed = pack_stack(&self.net.layers);
        // (placeholders where the cell has no such weights)
        let aux = if packed.aux.is_empty() { vec![0.0] } else { packed.aux };
        let wr = packed.wr.unwrap_or_else(|| vec![0.0; 4]);
        let wn = packed.wn.unwrap_or_else(|| vec![0.0; 4]);
        let limits = self.ctx.limits();
        let device = &self.ctx.device;
        let made = self.ctx.scoped("uploading the stack's weights", || -> Result<Vec<(Buf, wgpu::Buffer)>> {
            [(Buf::StackWh, packed.wh), (Buf::StackAux, aux), (Buf::StackWr, wr), (Buf::StackWn, wn)]
                .into_iter()
                .map(|(buf, data)| {
                    check_size(&limits, buf, data.len() as u64 * 4)?;
                    Ok((buf, weight_buffer(device, buf, &data)))
                })
                .collect()
        })??;
        self.weights.extend(made);
        Ok(())
    }

    /// Forces the wavefront stack (`Plan::stacked`) on (`Some(true)`: an error where the
    /// network is not `NetShape::stackable`) or off; `None` restores the automatic choice.
    pub fn set_stacked(&mut self, stacked: Option<bool>) -> Result<()> {
        if stacked == Some(true) && !self.shape.stackable() {
            return Err(Error::invalid(
                "stacked",
                "a wavefront stack needs two or more layers of one direction with equal specs".to_string(),
            ));
        }
        if stacked == Some(true) && !self.weights.contains_key(&Buf::StackWh) {
            self.upload_stack_weights()?;
            // the workspace's bind groups were made without the stack's
            *self.workspace.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
            self.workspace.clear_poison();
        }
        self.stacked = stacked;
        Ok(())
    }

    /// Whether a call with batch `b` runs the layers as one wavefront stack.
    pub fn stacked(&self, b: usize) -> bool {
        let variant = self.variant(b);
        self.has_stack() && self.stacked.unwrap_or_else(|| self.shape.default_stacked(variant, self.ctx.fit()))
    }

    /// Whether the stack's weights are on the GPU (`NetShape::stackable`, and stacked by
    /// default on this device or forced).
    pub(super) fn has_stack(&self) -> bool {
        self.weights.contains_key(&Buf::StackWh)
    }

    /// Forces a step variant (for tests and benchmarks); `None` restores the automatic choice.
    pub fn set_variant(&mut self, variant: Option<StepVariant>) -> Result<()> {
        if let Some(v) = variant {
            if !self.supports(v) {
                return Err(Error::invalid(
                    "variant",
                    format!("{v:?} cannot run this network on this device ({})", v.requirement()),
                ));
            }
        }
        self.variant = variant;
        Ok(())
    }

    /// Whether `variant` can run this network on this device.
    pub fn supports(&self, variant: StepVariant) -> bool {
        self.shape.supports(variant) && (self.ctx.has_split_kernels() || !matches!(variant, StepVariant::Split { .. }))
    }

    /// The step variant a call with batch `b` uses.
    pub fn variant(&self, b: usize) -> StepVariant {
        self.variant.unwrap_or_else(|| self.shape.default_variant(b, self.ctx.fit()))
    }

    /// The device context.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// The network this model runs.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The plan a call with these inputs would run (no GPU work).
    pub fn plan(&self, inp: &Inputs) -> Result<Plan> {
        let lengths = self.net.validate_inputs(inp)?;
        Ok(self.plan_for(inp, &lengths))
    }

    fn plan_for(&self, inp: &Inputs, lengths: &[usize]) -> Plan {
        let max_len = lengths.iter().copied().max().unwrap_or(0);
        let ragged = lengths.iter().any(|&l| l < inp.steps);
        let (t, b, fit, variant) = (inp.steps, inp.batch, self.ctx.fit(), self.variant(inp.batch));
        if self.stacked(b) {
            // a stack runs per-step kernels; on GPUs, whose variants are others, one row each
            let rows = if let StepVariant::PerStep { rows } = variant { rows } else { 1 };
            Plan::stacked(&self.shape, t, b, max_len, ragged, rows, fit)
        } else {
            Plan::forward(&self.shape, t, b, max_len, ragged, variant, fit)
        }
    }

    /// A training forward and its backward on the GPU: the gradients of
    /// `sum(outputs ⊙ upstream)` (see [`super::GpuTrainer::forward_backward`]). The first call
    /// uploads the weights in the training kernels' layout. Blocks (native targets only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn backward(&self, inp: &Inputs, up: &crate::network::Upstream) -> Result<crate::network::Gradients> {
        Ok(self.trainer()?.forward_backward(inp, up)?.1)
    }

    /// [`Self::backward`] for async code, and the only form in a browser.
    pub async fn backward_async(
        &self,
        inp: &Inputs,
        up: &crate::network::Upstream,
    ) -> Result<crate::network::Gradients> {
        Ok(self.trainer()?.forward_backward_async(inp, up).await?.1)
    }

    /// The training kernels' copy of the network, made by the first backward.
    fn trainer(&self) -> Result<&super::GpuTrainer> {
        Ok(match self.trainer.get() {
            Some(t) => t,
            None => {
                let made = super::GpuTrainer::new(self.ctx.clone(), self.net.clone())?;
                self.trainer.get_or_init(|| made)
            }
        })
    }

    /// Runs the network and reads the outputs back (one submit, one readback; blocks).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward(&self, inp: &Inputs) -> Result<Outputs> {
        let (read, finish) = self.ctx.scoped("running a forward call", || self.start_forward(inp))??;
        Ok(finish.outputs(self.ctx.scoped("reading the outputs back", || read.wait())??))
    }

    /// [`Self::forward`] for async code, and the only form in a browser.
    pub async fn forward_async(&self, inp: &Inputs) -> Result<Outputs> {
        let (read, finish) = self.ctx.scoped_async("running a forward call", || self.start_forward(inp)).await?;
        Ok(finish.outputs(self.ctx.settled("reading the outputs back", read.settle().await)?))
    }

    /// Uploads the inputs, records the forward call, submits it and starts reading `Y`, `Y_h`
    /// (and `Y_c`) back.
    fn start_forward(&self, inp: &Inputs) -> Result<(super::download::PendingReads, FinishForward)> {
        let lengths = self.net.validate_inputs(inp)?;
        let (t, b) = (inp.steps, inp.batch);
        let device = &self.ctx.device;
        let lstm = self.shape.cell == Cell::Lstm;
        let sizes = [
            self.shape.elements(self.shape.output(), t, b),
            self.shape.elements(Buf::Hn, t, b),
            if lstm { self.shape.elements(Buf::Cn, t, b) } else { 0 },
        ];
        let ws = self.workspace(t, b)?;
        let ws = ws.as_ref().expect("workspace made");
        let mut encoder =
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("wgpu-rnn.forward") });
        let plan = self.encode_with(&mut encoder, inp, &lengths, ws)?;
        let parts = [
            (&ws.buffers[&self.shape.output()], sizes[0]),
            (&ws.buffers[&Buf::Hn], sizes[1]),
            (&ws.buffers[&Buf::Cn], sizes[2]),
        ];
        let read = super::download::PendingReads::start(device, &self.ctx.queue, encoder, &parts);
        Ok((read, FinishForward { lstm, dispatches: plan.dispatches() }))
    }

    /// Runs the network and leaves the outputs on the GPU (no readback, no wait).
    pub fn forward_resident(&self, inp: &Inputs) -> Result<ResidentOutputs> {
        let mut encoder =
            self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("wgpu-rnn.forward") });
        let (plan, out) = self.encode_resident(&mut encoder, inp)?;
        self.ctx.scoped("submitting a forward call", || {
            self.ctx.queue.submit([encoder.finish()]);
        })?;
        Ok(ResidentOutputs { dispatches: plan.dispatches(), ..out })
    }

    /// Uploads the inputs (with `Queue::write_buffer`) and records the forward call into the
    /// caller's encoder; nothing is submitted. The outputs are in the returned buffers once the
    /// caller submits the encoder.
    pub fn encode_resident(&self, encoder: &mut wgpu::CommandEncoder, inp: &Inputs) -> Result<(Plan, ResidentOutputs)> {
        let lengths = self.net.validate_inputs(inp)?;
        let ws = self.workspace(inp.steps, inp.batch)?;
        let ws = ws.as_ref().expect("workspace made");
        let plan = self.encode_with(encoder, inp, &lengths, ws)?;
        let out = ResidentOutputs {
            y: ws.buffers[&self.shape.output()].clone(),
            h_n: ws.buffers[&Buf::Hn].clone(),
            c_n: (self.shape.cell == Cell::Lstm).then(|| ws.buffers[&Buf::Cn].clone()),
            dispatches: plan.dispatches(),
        };
        Ok((plan, out))
    }

    /// Times one forward call without reading outputs back: wall time from recording to the
    /// GPU finishing, and GPU time from timestamps when the device has
    /// `TIMESTAMP_QUERY_INSIDE_ENCODERS`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn time_forward(&self, inp: &Inputs) -> Result<Timing> {
        let start = std::time::Instant::now();
        let lengths = self.net.validate_inputs(inp)?;
        let ws = self.workspace(inp.steps, inp.batch)?;
        let ws = ws.as_ref().expect("workspace made");
        let mut plan = None;
        let gpu_ms = self.ctx.run_timed("wgpu-rnn.timed", |encoder| {
            plan = Some(self.encode_with(encoder, inp, &lengths, ws)?);
            Ok(())
        })?;
        let dispatches = plan.map_or(0, |p| p.dispatches());
        Ok(Timing { wall_ms: start.elapsed().as_secs_f64() * 1e3, gpu_ms, dispatches })
    }

    /// Times only the dispatches of the plan that `keep` selects (one kernel in isolation), on
    /// the buffers of a real forward call with these inputs (uploaded first, outside the timed
    /// region): wall time until the GPU is done, and GPU time where the adapter has timestamps.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn time_kernels(&self, inp: &Inputs, keep: impl Fn(crate::kernels::Kernel) -> bool) -> Result<Timing> {
        let lengths = self.net.validate_inputs(inp)?;
        let mut plan = self.plan_for(inp, &lengths);
        plan.commands.retain(|c| matches!(c, Command::Dispatch(d) if keep(d.kernel)));
        let ws = self.workspace(inp.steps, inp.batch)?;
        let ws = ws.as_ref().expect("workspace made");
        let start = std::time::Instant::now();
        let gpu_ms = self.ctx.run_timed("wgpu-rnn.kernels", |encoder| {
            self.ctx.scoped("recording kernels", || self.encode(encoder, &plan, ws))?
        })?;
        Ok(Timing { wall_ms: start.elapsed().as_secs_f64() * 1e3, gpu_ms, dispatches: plan.dispatches() })
    }

    /// Records a forward call into `encoder` without uploading inputs or submitting: the CPU
    /// cost of recording alone (the inputs must have the workspace's shape). Returns the plan.
    pub fn record_only(&self, encoder: &mut wgpu::CommandEncoder, inp: &Inputs) -> Result<Plan> {
        let lengths = self.net.validate_inputs(inp)?;
        let plan = self.plan_for(inp, &lengths);
        let ws = self.workspace(inp.steps, inp.batch)?;
        self.encode(encoder, &plan, ws.as_ref().expect("workspace made"))?;
        Ok(plan)
    }

    /// The workspace for `(t, b)`, made (and the previous one freed) when the shape changes.
    /// A panic while the lock was held (recording, say) leaves the workspace in doubt: it is
    /// dropped and made again.
    fn workspace(&self, t: usize, b: usize) -> Result<MutexGuard<'_, Option<Workspace>>> {
        let mut guard = self.workspace.lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            *guard = None;
            guard
        });
        self.workspace.clear_poison();
        if !matches!(&*guard, Some(ws) if ws.steps == t && ws.batch == b) {
            *guard = None; // free the old shape's buffers before allocating the new
            *guard = Some(self.workspace_for(t, b, None)?);
        }
        Ok(guard)
    }

    /// Uploads the inputs (validated: `lengths` from `validate_inputs`) and records the plan
    /// into `encoder`.
    fn encode_with(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        inp: &Inputs,
        lengths: &[usize],
        ws: &Workspace,
    ) -> Result<Plan> {
        let plan = self.plan_for(inp, lengths);
        self.ctx.scoped("recording a forward call", || {
            self.upload(inp, lengths, ws, self.stacked(inp.batch));
            self.encode(encoder, &plan, ws)
        })??;
        Ok(plan)
    }

    /// Writes `x`, the lengths and the initial states into the workspace (`Queue::write_buffer`:
    /// they land before the next submission); `stacked`: the states of a wavefront stack.
    fn upload(&self, inp: &Inputs, lengths: &[usize], ws: &Workspace, stacked: bool) {
        let queue = &self.ctx.queue;
        let b = inp.batch;
        queue.write_buffer(&ws.buffers[&Buf::Input], 0, bytemuck::cast_slice(&inp.x));
        let lens: Vec<u32> = lengths.iter().map(|&l| l as u32).collect();
        queue.write_buffer(&ws.buffers[&Buf::Lens], 0, bytemuck::cast_slice(&lens));
        let (d, o, h) = (self.shape.dirs, self.shape.out, self.shape.hidden);
        if stacked {
            // [L, B, H_out] and [L, B, H]: h_0 and c_0 as they come (one direction)
            let l_count = self.shape.layers();
            let write = |buf: Buf, given: &Option<Vec<f32>>, n: usize| match given {
                Some(v) => queue.write_buffer(&ws.buffers[&buf], 0, bytemuck::cast_slice(v)),
                None => queue.write_buffer(&ws.buffers[&buf], 0, bytemuck::cast_slice(&vec![0.0f32; n])),
            };
            write(Buf::StackH, &inp.h0, l_count * b * o);
            if self.shape.cell == Cell::Lstm {
                write(Buf::StackC, &inp.c0, l_count * b * h);
            }
            return;
        }
        for l in 0..self.shape.layers() {
            let hs = d * b * o;
            let h0 = inp.h0.as_ref().map_or_else(|| vec![0.0; hs], |v| v[l * hs..(l + 1) * hs].to_vec());
            queue.write_buffer(&ws.buffers[&Buf::H(l)], 0, bytemuck::cast_slice(&h0));
            if self.shape.cell == Cell::Lstm {
                let cs = d * b * h;
                let c0 = inp.c0.as_ref().map_or_else(|| vec![0.0; cs], |v| v[l * cs..(l + 1) * cs].to_vec());
                queue.write_buffer(&ws.buffers[&Buf::C(l)], 0, bytemuck::cast_slice(&c0));
            }
        }
    }
}

/// What a forward call needs after its readback to make its [`Outputs`].
struct FinishForward {
    lstm: bool,
    dispatches: usize,
}

impl FinishForward {
    /// `data` = `[Y, Y_h, Y_c]` as read back.
    fn outputs(self, data: Vec<Vec<f32>>) -> Outputs {
        let mut data = data.into_iter();
        let (y, h_n, c_n) =
            (data.next().unwrap_or_default(), data.next().unwrap_or_default(), data.next().unwrap_or_default());
        Outputs { y, h_n, c_n: self.lstm.then_some(c_n), dispatches: self.dispatches }
    }
}
