//! The buffers, uniforms and bind groups of training passes over one (T, B), and the recording
//! of a [`TrainPlan`] into an encoder.

use std::collections::HashMap;

use wgpu::util::DeviceExt;

use super::params::{MATMUL_PARAMS_SIZE, MatmulParams, TrainParams};
use crate::error::Result;
use crate::gpu::context::GpuContext;
use crate::gpu::executor::{check_size, check_workgroups};
use crate::gpu::params::{LayerParams, SmallParams};
use crate::kernels::{Kernel, SMALL_PARAMS_SIZE, TrainKernel};
use crate::network::{Inputs, Network, Upstream};
use crate::plan::linear_workgroups;
use crate::plan::train::{MAX_WORKGROUPS, TBuf, TCommand, TrainPlan};

const STORAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_DST).union(wgpu::BufferUsages::COPY_SRC);

/// One (T, B)'s buffers and bind groups. The weights and their gradients belong to the trainer;
/// the workspace binds them.
pub(super) struct TrainWorkspace {
    pub plan: TrainPlan,
    buffers: HashMap<TBuf, wgpu::Buffer>,
    /// Per command index: its bind group and dynamic offset.
    bound: Vec<Option<(wgpu::BindGroup, Option<u32>)>>,
    /// The per-step uniforms of a training step, written before each submit.
    pub loss_params: wgpu::Buffer,
    pub opt_params: wgpu::Buffer,
    pub dropout_params: wgpu::Buffer,
    /// Keeps the uniform buffers the bind groups read alive.
    _uniforms: Vec<wgpu::Buffer>,
}

impl TrainWorkspace {
    /// Whether the workspace serves calls of `t` steps and batch `b`.
    pub fn fits(&self, t: usize, b: usize) -> bool {
        self.plan.steps == t && self.plan.batch == b
    }

    pub fn buffer(&self, buf: TBuf) -> &wgpu::Buffer {
        &self.buffers[&buf]
    }

    /// Makes the buffers of `plan` that `external` (the trainer's parameters, gradients and
    /// optimizer state) does not hold, its uniforms and bind groups.
    pub fn new(
        ctx: &GpuContext,
        net: &Network,
        external: &HashMap<TBuf, wgpu::Buffer>,
        plan: TrainPlan,
    ) -> Result<TrainWorkspace> {
        let (t, b) = (plan.steps, plan.batch);
        let limits = ctx.limits();
        // the dispatches must fit the device: B workgroups per step, T*B/MM_TILE_ROWS per matmul
        let most_rows = plan
            .commands
            .iter()
            .filter_map(|c| match c {
                TCommand::Matmul { p, .. } => p.workgroups().into_iter().max(),
                _ => None,
            })
            .chain([b])
            .max()
            .unwrap_or(0);
        let mut dispatch = limits.clone();
        dispatch.max_compute_workgroups_per_dimension =
            limits.max_compute_workgroups_per_dimension.min(MAX_WORKGROUPS as u32);
        check_workgroups(&dispatch, &format!("training with T={t}, B={b}"), most_rows as u64)?;
        for buf in plan.buffers() {
            check_size(&limits, buf, 4 * plan.size(buf) as u64)?;
        }
        if let Some(limit) = ctx.loop_limit() {
            if let Some((what, why)) = plan.longest_loop_beyond(limit) {
                let adapter = &ctx.adapter.name;
                let stops = format!("{adapter} ends an invocation's loops after {limit} iterations, silently");
                return Err(crate::Error::invalid(what, format!("{why}: {stops}")));
            }
        }
        ctx.scoped("making a training workspace", || Self::make(ctx, net, plan, external, &limits))?
    }

    fn make(
        ctx: &GpuContext,
        net: &Network,
        plan: TrainPlan,
        external: &HashMap<TBuf, wgpu::Buffer>,
        limits: &wgpu::Limits,
    ) -> Result<TrainWorkspace> {
        let (t, b) = (plan.steps, plan.batch);
        let device = &ctx.device;
        let mut buffers = HashMap::new();
        for buf in plan.buffers() {
            let made = match buf {
                _ if external.contains_key(&buf) => external[&buf].clone(),
                TBuf::Ones => storage_init(device, "wgpu-rnn.train.Ones", &[1.0]),
                _ => storage(device, &format!("wgpu-rnn.train.{buf:?}"), plan.size(buf)),
            };
            buffers.insert(buf, made);
        }
        let stride = (limits.min_uniform_buffer_offset_alignment as u64).max(MATMUL_PARAMS_SIZE);
        let uniform = |label: &str, bytes: &[u8]| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytes,
                usage: wgpu::BufferUsages::UNIFORM,
            })
        };
        // dynamic-offset entries: one per step, one per matmul
        let entries = |items: Vec<Vec<u8>>| {
            let mut bytes = vec![0u8; stride as usize * items.len().max(1)];
            for (i, item) in items.iter().enumerate() {
                bytes[i * stride as usize..][..item.len()].copy_from_slice(item);
            }
            bytes
        };
        let steps = uniform(
            "wgpu-rnn.train.StepParams",
            &entries(
                (0..t)
                    .map(|s| s as u32)
                    .chain([crate::plan::train::STEP_INITIAL])
                    .map(|s| bytemuck::bytes_of(&SmallParams([s, 0, 0, 0])).to_vec())
                    .collect(),
            ),
        );
        let matmuls: Vec<MatmulParams> = plan
            .commands
            .iter()
            .filter_map(|c| match c {
                TCommand::Matmul { p, .. } => Some(MatmulParams::from(p)),
                _ => None,
            })
            .collect();
        let mm = uniform(
            "wgpu-rnn.train.MatmulParams",
            &entries(matmuls.iter().map(|p| bytemuck::bytes_of(p).to_vec()).collect()),
        );
        let layer_uniforms: Vec<(wgpu::Buffer, wgpu::Buffer)> = plan
            .layers
            .iter()
            .enumerate()
            .map(|(l, ly)| {
                let layer = LayerParams::new(&net.layers[l].spec, ly.peephole, t, b);
                (
                    uniform("wgpu-rnn.train.LayerParams", bytemuck::bytes_of(&layer)),
                    uniform("wgpu-rnn.train.TrainParams", bytemuck::bytes_of(&TrainParams::new(&plan, l))),
                )
            })
            .collect();
        let merge = uniform(
            "wgpu-rnn.train.MergeParams",
            bytemuck::bytes_of(&SmallParams([(t * b) as u32, plan.layers[0].out as u32, plan.merge.code(), 0])),
        );
        let head = plan.head;
        // one entry per EMBED_ROWS positions, the first of them in the last word (the forward
        // reads entry 0)
        let embed = uniform(
            "wgpu-rnn.train.EmbedParams",
            &entries(
                (0..(t * b).max(1))
                    .step_by(crate::plan::train::EMBED_ROWS)
                    .map(|first| {
                        let vocab = head.and_then(|h| h.embedding).map_or(0, |e| e.0 as u32);
                        let p = SmallParams([(t * b) as u32, plan.layers[0].input as u32, vocab, first as u32]);
                        bytemuck::bytes_of(&p).to_vec()
                    })
                    .collect(),
            ),
        );
        let writable = |label: &str, size: u64| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let loss_params = writable("wgpu-rnn.train.LossParams", super::params::LOSS_PARAMS_SIZE);
        let dropout_params = writable("wgpu-rnn.train.DropoutParams", super::params::DROPOUT_PARAMS_SIZE);
        // one entry per layer: the length and site of the dropout after it
        let sites = uniform(
            "wgpu-rnn.train.DropoutSite",
            &entries(
                (0..plan.layers.len())
                    .map(|l| {
                        let len =
                            if plan.dropout && l + 1 < plan.layers.len() { plan.size(TBuf::Dropped(l)) } else { 0 };
                        bytemuck::bytes_of(&SmallParams([len as u32, l as u32, 0, 0])).to_vec()
                    })
                    .collect(),
            ),
        );
        let opt_params = writable("wgpu-rnn.train.OptimizerParams", super::params::OPTIMIZER_PARAMS_SIZE);
        let group_params = uniform(
            "wgpu-rnn.train.GroupParams",
            &entries(
                plan.groups
                    .iter()
                    .enumerate()
                    .map(|(g, grp)| {
                        bytemuck::bytes_of(&SmallParams([grp.2 as u32, g as u32, plan.groups.len() as u32, 0])).to_vec()
                    })
                    .collect(),
            ),
        );
        // state_restore's lengths and the groups whose sums it checks (shaders/train/state_restore.wgsl)
        let (hn, cn) = (plan.size(TBuf::HN), plan.size(TBuf::CN));
        let state_params = uniform(
            "wgpu-rnn.train.StateParams",
            bytemuck::bytes_of(&SmallParams([hn as u32, cn as u32, plan.groups.len() as u32, 0])),
        );
        let pipelines = ctx.train_pipelines()?;
        let group = |layout: &wgpu::BindGroupLayout, label: &str, resources: Vec<wgpu::BindingResource>| {
            let entries: Vec<wgpu::BindGroupEntry> = resources
                .into_iter()
                .enumerate()
                .map(|(i, resource)| wgpu::BindGroupEntry { binding: i as u32, resource })
                .collect();
            device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(label), layout, entries: &entries })
        };
        let buf = |b: TBuf| &buffers[&b];
        let mut bound = Vec::new();
        let mut matmul_index = 0u64;
        let mut cache: HashMap<(TBuf, TBuf, TBuf), wgpu::BindGroup> = HashMap::new();
        let mut step_groups: HashMap<(usize, bool), wgpu::BindGroup> = HashMap::new();
        for cmd in &plan.commands {
            bound.push(match *cmd {
                TCommand::Matmul { p, a, b: bb, c } => {
                    // the versions of matmul share their bindings: one group serves each
                    let layout = &pipelines.get(p.kernel())?.layout;
                    let g = cache
                        .entry((a, bb, c))
                        .or_insert_with(|| {
                            group(
                                layout,
                                "wgpu-rnn.matmul",
                                vec![sized(&mm, MATMUL_PARAMS_SIZE), whole(buf(a)), whole(buf(bb)), whole(buf(c))],
                            )
                        })
                        .clone();
                    let offset = (matmul_index * stride) as u32;
                    matmul_index += 1;
                    Some((g, Some(offset)))
                }
                TCommand::Step { layer, .. }
                | TCommand::StepFinish { layer, .. }
                | TCommand::StepBackward { layer, .. }
                | TCommand::StepBackwardFinish { layer, .. }
                | TCommand::StepInitial { layer }
                | TCommand::Persistent { layer, .. }
                | TCommand::PersistentBackward { layer, .. } => {
                    // the initial-state dispatch reads the entry after the last step's; a
                    // persistent walk the entry of its first step
                    let step = if let TCommand::StepInitial { .. } = cmd { t } else { step_of(cmd) };
                    let backward = !matches!(
                        cmd,
                        TCommand::Step { .. } | TCommand::StepFinish { .. } | TCommand::Persistent { .. }
                    );
                    let (lp, tp) = &layer_uniforms[layer];
                    let step_kernel = if backward { TrainKernel::TrainStepBackward } else { TrainKernel::TrainStep };
                    let step_layout = pipelines.get(step_kernel)?.layout;
                    let g = step_groups
                        .entry((layer, backward))
                        .or_insert_with(|| {
                            let head = vec![whole(lp), whole(tp), sized(&steps, SMALL_PARAMS_SIZE)];
                            let (kernel, rest) = if backward {
                                (
                                    TrainKernel::TrainStepBackward,
                                    vec![
                                        TBuf::Wts(layer),
                                        TBuf::Lens,
                                        TBuf::Tape(layer),
                                        plan.upstream_of(layer),
                                        TBuf::Y(layer),
                                        TBuf::Carry(layer),
                                        TBuf::DGates(layer),
                                        TBuf::Extras(layer),
                                    ],
                                )
                            } else {
                                (
                                    TrainKernel::TrainStep,
                                    vec![
                                        TBuf::Xp(layer),
                                        TBuf::Wts(layer),
                                        TBuf::RT(layer),
                                        TBuf::Lens,
                                        TBuf::State(layer),
                                        TBuf::Tape(layer),
                                        TBuf::Y(layer),
                                    ],
                                )
                            };
                            let mut res = head;
                            res.extend(rest.into_iter().map(|x| whole(buf(x))));
                            res.push(whole(&dropout_params));
                            group(&step_layout, &kernel.label(), res)
                        })
                        .clone();
                    Some((g, Some((step as u64 * stride) as u32)))
                }
                TCommand::Merge { layer } => Some((
                    group(
                        &ctx.pipelines.layout(Kernel::MergeDirections)?,
                        "wgpu-rnn.merge_directions",
                        vec![whole(&merge), whole(buf(TBuf::Y(layer))), whole(buf(TBuf::Merged(layer)))],
                    ),
                    None,
                )),
                TCommand::Embed | TCommand::EmbedBackward { .. } => {
                    let (kernel, src, dst, first) = match *cmd {
                        TCommand::EmbedBackward { first } => {
                            (TrainKernel::EmbedBackward, TBuf::DIn(0), TBuf::EmbGrad, first)
                        }
                        _ => (TrainKernel::Embed, TBuf::EmbW, TBuf::X, 0),
                    };
                    let params = sized(&embed, SMALL_PARAMS_SIZE);
                    let res = vec![params, whole(buf(TBuf::Ids)), whole(buf(src)), whole(buf(dst))];
                    let offset = (first / crate::plan::train::EMBED_ROWS) as u64 * stride;
                    Some((group(&pipelines.get(kernel)?.layout, &kernel.label(), res), Some(offset as u32)))
                }
                TCommand::Loss { .. } => {
                    let res =
                        [TBuf::Logits, TBuf::Targets, TBuf::Lens, TBuf::DLogits, TBuf::RowLoss].map(|x| whole(buf(x)));
                    let mut all = vec![whole(&loss_params)];
                    all.extend(res);
                    let kernel = cmd.kernel().expect("a training kernel");
                    Some((group(&pipelines.get(kernel)?.layout, &kernel.label(), all), None))
                }
                TCommand::SumSquares { .. }
                | TCommand::Update { .. }
                | TCommand::Restore { .. }
                | TCommand::SumSquaresFinish => {
                    let g = match *cmd {
                        TCommand::SumSquares { group } | TCommand::Update { group } | TCommand::Restore { group } => {
                            group
                        }
                        _ => 0, // the finish reads Stats and the group count, which group 0's binding has too
                    };
                    let (p, gr, _) = plan.groups[g];
                    let res = vec![
                        sized(&group_params, SMALL_PARAMS_SIZE),
                        whole(&opt_params),
                        whole(buf(TBuf::Stats)),
                        whole(buf(p)),
                        whole(buf(gr)),
                        whole(buf(TBuf::OptM(g))),
                        whole(buf(TBuf::OptV(g))),
                        whole(buf(TBuf::BackP(g))),
                        whole(buf(TBuf::BackM(g))),
                        whole(buf(TBuf::BackV(g))),
                    ];
                    let layout = &pipelines.get(TrainKernel::OptimizerUpdate)?.layout;
                    Some((group(layout, "wgpu-rnn.optimizer", res), Some((g as u64 * stride) as u32)))
                }
                TCommand::Dropout { layer } | TCommand::DropoutBackward { layer } => {
                    let (kernel, src, dst) = match cmd {
                        TCommand::Dropout { .. } => (TrainKernel::Dropout, plan.output_of(layer), TBuf::Dropped(layer)),
                        _ => (TrainKernel::DropoutBackward, TBuf::Ones, TBuf::DIn(layer + 1)),
                    };
                    let res = vec![
                        sized(&sites, SMALL_PARAMS_SIZE),
                        whole(&dropout_params),
                        whole(buf(src)),
                        whole(buf(dst)),
                    ];
                    Some((
                        group(&pipelines.get(kernel)?.layout, &kernel.label(), res),
                        Some((layer as u64 * stride) as u32),
                    ))
                }
                TCommand::StateRestore => {
                    let mut res = vec![whole(&state_params)];
                    res.extend([TBuf::Stats, TBuf::H0, TBuf::HN, TBuf::C0, TBuf::CN].map(|x| whole(buf(x))));
                    let kernel = TrainKernel::StateRestore;
                    Some((group(&pipelines.get(kernel)?.layout, &kernel.label(), res), None))
                }
                TCommand::Clear(_) | TCommand::Copy { .. } => None,
            });
        }
        let mut uniforms = vec![steps, mm, merge, embed, group_params, sites, state_params];
        for (a, b) in layer_uniforms {
            uniforms.extend([a, b]);
        }
        Ok(TrainWorkspace { plan, buffers, bound, loss_params, opt_params, dropout_params, _uniforms: uniforms })
    }

    /// Writes a call's inputs and upstream gradients (zeros for absent states).
    pub fn upload(&self, queue: &wgpu::Queue, inp: &Inputs, lengths: &[usize], up: &Upstream) {
        let write = |buf: TBuf, data: Option<&[f32]>| {
            let zeros;
            let data = match data {
                Some(d) => d,
                None => {
                    zeros = vec![0.0f32; self.plan.size(buf)];
                    &zeros
                }
            };
            if !data.is_empty() {
                queue.write_buffer(&self.buffers[&buf], 0, bytemuck::cast_slice(data));
            }
        };
        write(TBuf::X, Some(&inp.x));
        write(TBuf::H0, inp.h0.as_deref());
        write(TBuf::C0, inp.c0.as_deref());
        write(TBuf::Dy, Some(&up.y));
        write(TBuf::DhN, up.h_n.as_deref());
        write(TBuf::DcN, up.c_n.as_deref());
        let lens: Vec<u32> = lengths.iter().map(|&l| l as u32).collect();
        queue.write_buffer(&self.buffers[&TBuf::Lens], 0, bytemuck::cast_slice(&lens));
    }

    /// Records the plan: copies and clears between compute passes, each run of dispatches in
    /// one pass.
    pub fn record(&self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        self.record_range(ctx, encoder, 0..self.plan.commands.len())
    }

    /// Records the plan's commands in `range` (a sequence-to-sequence step interleaves two
    /// plans at their `backward_at`).
    pub fn record_range(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        range: std::ops::Range<usize>,
    ) -> Result<()> {
        self.record_where(ctx, encoder, range, |_| true).map(|_| ())
    }

    /// Records only the dispatches whose entry point `keep` selects, no copies or clears: one
    /// kernel in isolation, for timing (`bench --train --breakdown`). What it computes is
    /// meaningless (the kernels before it did not run), and an optimizer update among the
    /// kept ones changes the parameters. Returns the dispatches recorded.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn record_kernels(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        keep: impl Fn(&str) -> bool,
    ) -> Result<usize> {
        self.record_where(ctx, encoder, 0..self.plan.commands.len(), |c| c.entry_point().is_some_and(&keep))
    }

    /// Records the commands in `range` that `keep` selects; returns the dispatches among them.
    fn record_where(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        range: std::ops::Range<usize>,
        keep: impl Fn(&TCommand) -> bool,
    ) -> Result<usize> {
        let cmds = &self.plan.commands[..range.end];
        let mut dispatches = 0;
        let mut i = range.start;
        while i < cmds.len() {
            if !keep(&cmds[i]) {
                i += 1;
                continue;
            }
            match cmds[i] {
                TCommand::Clear(buf) => encoder.clear_buffer(&self.buffers[&buf], 0, None),
                TCommand::Copy { src, src_off, dst, dst_off, len } => encoder.copy_buffer_to_buffer(
                    &self.buffers[&src],
                    4 * src_off as u64,
                    &self.buffers[&dst],
                    4 * dst_off as u64,
                    4 * len as u64,
                ),
                _ => {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("wgpu-rnn.train"),
                        timestamp_writes: None,
                    });
                    while i < cmds.len() && cmds[i].is_dispatch() {
                        if keep(&cmds[i]) {
                            let (group, offset) = self.bound[i].as_ref().expect("dispatches are bound");
                            let pipeline = match cmds[i].kernel() {
                                Some(kernel) => ctx.train_pipelines()?.get(kernel)?.pipeline,
                                None => ctx.pipelines.get(Kernel::MergeDirections, 1, false)?.pipeline,
                            };
                            let [x, y, z] = self.workgroups(&cmds[i]);
                            pass.set_pipeline(&pipeline);
                            pass.set_bind_group(0, group, offset.as_slice());
                            pass.dispatch_workgroups(x, y, z);
                            dispatches += 1;
                        }
                        i += 1;
                    }
                    continue;
                }
            }
            i += 1;
        }
        Ok(dispatches)
    }

    /// The workgroups a dispatch takes.
    fn workgroups(&self, cmd: &TCommand) -> [u32; 3] {
        use crate::plan::train::{TRAIN_ROWS, TRAIN_WORKGROUP};
        use crate::plan::train_step::{UPDATE_WORKGROUPS, group_quads, norm_parts};
        let (t, b) = (self.plan.steps, self.plan.batch);
        let linear = |n: usize| linear_workgroups(n, TRAIN_WORKGROUP, MAX_WORKGROUPS as u32);
        let quads = b.div_ceil(TRAIN_ROWS as usize);
        // the step kernels: one invocation per unit (one workgroup for all units in the
        // persistent walks), per quad of rows and per direction
        let step = |layer: usize, rows: usize, walk: bool| {
            let ly = &self.plan.layers[layer];
            let units = if walk { 1 } else { ly.hidden.div_ceil(TRAIN_WORKGROUP as usize) };
            [units as u32, rows as u32, ly.dirs as u32]
        };
        match *cmd {
            TCommand::Matmul { p, .. } => {
                let [cols, rows] = p.workgroups();
                [cols as u32, rows as u32, 1]
            }
            TCommand::Step { layer, .. }
            | TCommand::StepBackward { layer, .. }
            | TCommand::StepInitial { layer }
            | TCommand::StepFinish { layer, .. }
            | TCommand::StepBackwardFinish { layer, .. } => step(layer, quads, false),
            TCommand::Persistent { layer, .. } | TCommand::PersistentBackward { layer, .. } => step(layer, quads, true),
            TCommand::Dropout { layer } | TCommand::DropoutBackward { layer } => {
                linear(self.plan.size(TBuf::Dropped(layer)))
            }
            TCommand::Embed => linear(t * b * self.plan.layers[0].input),
            TCommand::EmbedBackward { .. } => linear(self.plan.layers[0].input),
            TCommand::Loss { wide: false } => linear(self.plan.head_rows()),
            TCommand::Loss { wide: true } => linear_workgroups(self.plan.head_rows(), 1, MAX_WORKGROUPS as u32),
            TCommand::SumSquares { group } => [norm_parts(self.plan.groups[group].2), 1, 1],
            TCommand::SumSquaresFinish => [1, 1, 1],
            TCommand::Update { group } | TCommand::Restore { group } => [
                group_quads(self.plan.groups[group].2)
                    .div_ceil(TRAIN_WORKGROUP as usize)
                    .clamp(1, UPDATE_WORKGROUPS as usize) as u32,
                1,
                1,
            ],
            TCommand::StateRestore => linear(self.plan.size(TBuf::HN).max(self.plan.size(TBuf::CN))),
            TCommand::Merge { .. } => linear_workgroups(
                t * b * self.plan.layers[0].out,
                crate::kernels::STEP_WORKGROUP,
                MAX_WORKGROUPS as u32,
            ),
            TCommand::Clear(_) | TCommand::Copy { .. } => unreachable!("copies are not dispatches"),
        }
    }
}

/// Floats a training buffer has room for when it holds `len`: whole vec4s, at least one. The
/// vec4 versions of `matmul` bind buffers as `array<vec4<f32>>`, which WebGPU's robust access
/// sizes as bytes / 16 rounded down: the floats of a last, partial vec4 (a head's bias at the
/// end of its buffer) would read as clamped, wrong values.
pub(super) fn padded_len(len: usize) -> usize {
    len.max(1).next_multiple_of(4)
}

/// A zeroed storage buffer for `len` floats ([`padded_len`]).
pub(super) fn storage(device: &wgpu::Device, label: &str, len: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: 4 * padded_len(len) as u64,
        usage: STORAGE,
        mapped_at_creation: false,
    })
}

/// A storage buffer holding `data`, then zeros up to [`padded_len`].
pub(super) fn storage_init(device: &wgpu::Device, label: &str, data: &[f32]) -> wgpu::Buffer {
    let mut padded = data.to_vec();
    padded.resize(padded_len(data.len()), 0.0);
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytemuck::cast_slice(&padded),
        usage: STORAGE,
    })
}

/// A whole buffer as a binding.
fn whole(buf: &wgpu::Buffer) -> wgpu::BindingResource<'_> {
    buf.as_entire_binding()
}

/// The first `size` bytes of a buffer as a binding (a dynamic-offset uniform's window).
fn sized(buf: &wgpu::Buffer, size: u64) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: buf, offset: 0, size: wgpu::BufferSize::new(size) })
}

/// The step a per-step command runs.
fn step_of(cmd: &TCommand) -> usize {
    match *cmd {
        TCommand::Step { step, .. }
        | TCommand::StepFinish { step, .. }
        | TCommand::StepBackward { step, .. }
        | TCommand::StepBackwardFinish { step, .. }
        | TCommand::Persistent { step, .. }
        | TCommand::PersistentBackward { step, .. } => step,
        _ => 0,
    }
}
