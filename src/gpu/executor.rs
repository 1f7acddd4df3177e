//! The executor: a [`Plan`] recorded into a command encoder on a workspace's buffers. A
//! workspace holds the buffers and bind groups of one `(T, B)` shape, made once and reused by
//! every call of that shape; recording then creates nothing (steps select their parameters and
//! the halves of the state at dynamic offsets).

use std::collections::HashMap;

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::kernels::{BindingKind, Kernel, SMALL_PARAMS_SIZE};
use crate::plan::{Buf, Command, Dispatch, Plan, StepVariant};

use super::model::{GpuModel, STORAGE};
use super::params::{FLAG_WAVE, LayerParams, SmallParams, has_peepholes, matmul_params, merge_params};

/// Buffers and bind groups for one `(T, B)` shape, reused by every call of that shape.
pub(crate) struct Workspace {
    pub(super) steps: usize,
    pub(super) batch: usize,
    pub(super) buffers: HashMap<Buf, wgpu::Buffer>,
    bind_groups: HashMap<(Kernel, usize), wgpu::BindGroup>,
    step_stride: u64,
    /// Bytes from one half of `Buf::H` to the other (`NetShape::state_half`).
    state_half: u64,
    /// Bytes from one half of `Buf::StackH` to the other (`NetShape::stack_half`), and the
    /// `layer` of a stack's dispatches (`NetShape::stack`).
    stack_half: u64,
    stack: usize,
}

impl Workspace {
    /// The dynamic offsets of dispatch `d`, in binding order: a step kernel's `StepParams`, then
    /// the half of h it reads (`s & 1`) and the half it writes; the persistent kernel's
    /// `StepParams` (its first step); none for other kernels.
    fn dynamic_offsets(&self, d: &Dispatch) -> ([u32; 3], usize) {
        if let (Kernel::LayerPersistent, Some(s)) = (d.kernel, d.step) {
            return ([s * self.step_stride as u32, 0, 0], 1);
        }
        let Some(s) = d.step.filter(|_| d.kernel.is_step()) else { return ([0; 3], 0) };
        let half_size = if d.layer == self.stack { self.stack_half } else { self.state_half };
        let half = |parity: u32| (parity & 1) * half_size as u32;
        ([s * self.step_stride as u32, half(s), half(s + 1)], 3)
    }
}

impl GpuModel {
    /// Records every command; consecutive dispatches share one compute pass. A kernel's first
    /// use on the device compiles it (an error if the device cannot).
    pub(super) fn encode(&self, encoder: &mut wgpu::CommandEncoder, plan: &Plan, ws: &Workspace) -> Result<()> {
        let buffer = |buf: &Buf| ws.buffers.get(buf).or_else(|| self.weights.get(buf)).expect("plan buffers exist");
        let mut i = 0;
        while i < plan.commands.len() {
            match plan.commands[i] {
                Command::Clear(buf) => encoder.clear_buffer(buffer(&buf), 0, None),
                Command::Copy { src, src_offset, dst, dst_offset, size } => {
                    encoder.copy_buffer_to_buffer(buffer(&src), src_offset, buffer(&dst), dst_offset, size)
                }
                Command::Dispatch(_) => {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("wgpu-rnn.layer"),
                        timestamp_writes: None,
                    });
                    let mut current = None;
                    while let Some(Command::Dispatch(d)) = plan.commands.get(i) {
                        let aligned = self.shape.aligned(d.kernel, d.layer);
                        if current != Some((d.kernel, d.rows, aligned)) {
                            pass.set_pipeline(&self.ctx.pipelines.get(d.kernel, d.rows, aligned)?.pipeline);
                            current = Some((d.kernel, d.rows, aligned));
                        }
                        let (offsets, n) = ws.dynamic_offsets(d);
                        pass.set_bind_group(0, &ws.bind_groups[&(d.kernel, d.layer)], &offsets[..n]);
                        pass.dispatch_workgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
                        i += 1;
                    }
                    continue;
                }
            }
            i += 1;
        }
        Ok(())
    }

    /// Allocates the buffers and bind groups of one `(T, B)` shape.
    pub(super) fn workspace_for(
        &self,
        t: usize,
        b: usize,
        state: Option<&HashMap<Buf, wgpu::Buffer>>,
    ) -> Result<Workspace> {
        let device = &self.ctx.device;
        let limits = self.ctx.limits();
        let shape = &self.shape;
        // one workgroup per sequence in a step; one per 32 rows of the input projection
        check_workgroups(&limits, &format!("batch {b}"), b as u64)?;
        check_workgroups(
            &limits,
            &format!("T*B = {} rows of the input projection", t * b),
            (t * b).div_ceil(32) as u64,
        )?;
        let step_stride = (limits.min_uniform_buffer_offset_alignment as u64).max(SMALL_PARAMS_SIZE);
        let state_half = shape.state_half(b) as u64 * 4;
        let stack_half = shape.stack_half(b) as u64 * 4;
        // a wavefront stack's steps run L - 1 past the last time step
        let step_count = t + shape.layers() - 1;
        self.ctx.scoped("allocating a workspace", || -> Result<Workspace> {
            let mut buffers = HashMap::new();
            let storage = |buf: Buf| -> Result<wgpu::Buffer> {
                // whole vec4s: kernels read the layer inputs as arrays of vec4 (input_projection)
                let size = shape.elements(buf, t, b).max(1).next_multiple_of(4) as u64 * 4;
                check_size(&limits, buf, size)?;
                let label = format!("wgpu-rnn.{buf:?}");
                Ok(device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&label),
                    size,
                    usage: STORAGE,
                    mapped_at_creation: false,
                }))
            };
            let mut wanted = vec![Buf::Input, Buf::Lens, Buf::Xp, Buf::Scratch, Buf::Hn, Buf::Cn];
            for l in 0..shape.layers() {
                wanted.extend([Buf::LayerOut(l), Buf::H(l), Buf::C(l)]);
                if shape.merges() {
                    wanted.push(Buf::Merged(l));
                }
            }
            if self.has_stack() {
                wanted.extend([Buf::StackH, Buf::StackC]);
            }
            for buf in wanted {
                // a stream keeps its state buffers across chunk shapes
                let made = match state.and_then(|s| s.get(&buf)) {
                    Some(kept) => kept.clone(),
                    None => storage(buf)?,
                };
                buffers.insert(buf, made);
            }
            let uniform = |label: String, bytes: &[u8]| {
                device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(&label),
                    contents: bytes,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                })
            };
            let mut steps = vec![0u8; step_count * step_stride as usize];
            for s in 0..step_count {
                let p = SmallParams([s as u32, 0, 0, 0]);
                steps[s * step_stride as usize..][..16].copy_from_slice(bytemuck::bytes_of(&p));
            }
            buffers.insert(Buf::Steps, uniform("wgpu-rnn.Steps".into(), &steps));
            buffers.insert(
                Buf::MergeParams,
                uniform("wgpu-rnn.MergeParams".into(), bytemuck::bytes_of(&merge_params(shape, t, b))),
            );
            for (l, layer) in self.net.layers.iter().enumerate() {
                let lp = LayerParams::new(&layer.spec, has_peepholes(layer.spec.cell, layer.weights.p.as_ref()), t, b);
                buffers.insert(
                    Buf::LayerParams(l),
                    uniform(format!("wgpu-rnn.LayerParams({l})"), bytemuck::bytes_of(&lp)),
                );
                buffers.insert(
                    Buf::MatmulParams(l),
                    uniform(format!("wgpu-rnn.MatmulParams({l})"), bytemuck::bytes_of(&matmul_params(shape, l, t, b))),
                );
            }
            if self.has_stack() {
                let layers = &self.net.layers;
                let peepholes = layers.iter().any(|l| has_peepholes(l.spec.cell, l.weights.p.as_ref()));
                let mut lp = LayerParams::new(&layers[0].spec, peepholes, t, b);
                lp.dirs = layers.len() as u32;
                lp.flags |= FLAG_WAVE;
                buffers.insert(Buf::StackParams, uniform("wgpu-rnn.StackParams".into(), bytemuck::bytes_of(&lp)));
            }
            // one bind group per (kernel, layer) the plan can dispatch; step kernels select their
            // step with a dynamic offset, so nothing is created per step
            let mut bind_groups = HashMap::new();
            let mut sets: Vec<(Kernel, usize)> = StepVariant::ALL
                .into_iter()
                .filter(|&v| self.supports(v))
                .flat_map(|v| Plan::forward(shape, t, b, t.min(2), true, v, self.ctx.fit()).bind_sets())
                .collect();
            if self.has_stack() {
                sets.extend(Plan::stacked(shape, t, b, t.min(2), true, 1, self.ctx.fit()).bind_sets());
            }
            sets.sort();
            sets.dedup();
            for (kernel, l) in sets {
                let kinds = kernel.binding_kinds();
                let entries: Vec<wgpu::BindGroupEntry> = shape
                    .bindings(kernel, l)
                    .iter()
                    .enumerate()
                    .map(|(i, buf)| {
                        let buffer =
                            buffers.get(buf).or_else(|| self.weights.get(buf)).expect("every bound buffer exists");
                        let size = match (buf, kinds[i]) {
                            (Buf::Steps, _) => wgpu::BufferSize::new(SMALL_PARAMS_SIZE),
                            (Buf::StackH, BindingKind::StateHalf) => wgpu::BufferSize::new(stack_half),
                            (_, BindingKind::StateHalf) => wgpu::BufferSize::new(state_half),
                            _ => None,
                        };
                        wgpu::BindGroupEntry {
                            binding: i as u32,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer, offset: 0, size }),
                        }
                    })
                    .collect();
                let label = kernel.label();
                let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(&label),
                    layout: &self.ctx.pipelines.layout(kernel)?,
                    entries: &entries,
                });
                bind_groups.insert((kernel, l), group);
            }
            Ok(Workspace {
                steps: t,
                batch: b,
                buffers,
                bind_groups,
                step_stride,
                state_half,
                stack_half,
                stack: shape.stack(),
            })
        })?
    }
}

/// A weight buffer holding `data` (copied from: `Plan::stacked` copies biases into `Xp`).
pub(super) fn weight_buffer(device: &wgpu::Device, buf: Buf, data: &[f32]) -> wgpu::Buffer {
    let label = format!("wgpu-rnn.{buf:?}");
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(&label),
        contents: bytemuck::cast_slice(data),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
    })
}

/// `Error::TooLarge` unless a buffer of `bytes` fits one storage binding on the device; the
/// message names the limit (as wgpu and WebGPU spell it) and by how much the buffer is over.
pub(crate) fn check_size(limits: &wgpu::Limits, buf: impl std::fmt::Debug, bytes: u64) -> Result<()> {
    let (max, name, web) = if limits.max_storage_buffer_binding_size <= limits.max_buffer_size {
        (limits.max_storage_buffer_binding_size, "max_storage_buffer_binding_size", "maxStorageBufferBindingSize")
    } else {
        (limits.max_buffer_size, "max_buffer_size", "maxBufferSize")
    };
    over_limit(&format!("buffer {buf:?}"), "bytes", bytes, max, name, web)
}

/// `Error::TooLarge` unless `count` workgroups fit along one dimension of a dispatch.
pub(super) fn check_workgroups(limits: &wgpu::Limits, what: &str, count: u64) -> Result<()> {
    let max = limits.max_compute_workgroups_per_dimension as u64;
    over_limit(
        what,
        "workgroups",
        count,
        max,
        "max_compute_workgroups_per_dimension",
        "maxComputeWorkgroupsPerDimension",
    )
}

/// `need` is `u64::MAX` where the caller's count overflowed `u64`.
fn over_limit(what: &str, unit: &str, need: u64, max: u64, name: &str, web: &str) -> Result<()> {
    if need <= max {
        return Ok(());
    }
    if need == u64::MAX {
        return Err(Error::TooLarge(format!(
            "{what} needs more {unit} than a 64-bit count holds; the device's {name} is {max} ({web} in WebGPU)"
        )));
    }
    Err(Error::TooLarge(format!(
        "{what} needs {need} {unit}, {} over the device's {name} of {max} ({web} in WebGPU)",
        need - max
    )))
}
