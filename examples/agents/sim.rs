//! The agents simulation, shared by `examples/agents/main.rs` and `tests/agents.rs`.
//!
//! Every frame, all on the GPU and recorded into one host command encoder, with no readback:
//! 1. `observe`: each agent's observation `[x, y, sin φ, cos φ]` goes into the stream's input;
//! 2. the agents' LSTM controllers (one stream slot per agent) advance one step;
//! 3. `act`: each agent moves by `SPEED * (h[0], h[1])`, clamped to the arena `[-1, 1]²`;
//! 4. a render pass draws each agent as a quad colored by `h[2..5]`.
//!
//! `cpu_reference` runs the same loop on the CPU reference for checking.

#![allow(dead_code, reason = "the example and the test each use part of this module")]

use wgpu::util::DeviceExt;
use wgpu_rnn::gpu::{ChunkInput, Stream};
use wgpu_rnn::random::{self, RandomConfig, Rng};
use wgpu_rnn::{Cell, Inputs, Model, Network};

/// Observation width: position and a per-agent clock.
pub const OBS: usize = 4;
/// Arena units an agent moves per frame at full output.
pub const SPEED: f32 = 0.02;

/// The simulation's sizes.
#[derive(Debug, Clone, Copy)]
pub struct AgentsConfig {
    pub agents: usize,
    pub hidden: usize,
    pub seed: u64,
}

/// The controller every agent runs: an LSTM `OBS -> hidden`.
pub fn controller(cfg: &AgentsConfig) -> Network {
    random::network(&RandomConfig::simple(Cell::Lstm, OBS, cfg.hidden), cfg.seed, |s| s)
}

/// Starting positions, uniform in the arena.
pub fn initial_positions(cfg: &AgentsConfig) -> Vec<[f32; 2]> {
    let mut rng = Rng::new(cfg.seed ^ 0xA9E7);
    (0..cfg.agents).map(|_| [rng.uniform(0.9), rng.uniform(0.9)]).collect()
}

fn phase(frame: u32, agent: usize) -> f32 {
    frame as f32 * 0.1 + agent as f32 * 0.37
}

const SHADER: &str = r#"
// keep in sync with `Params` in sim.rs
struct Params { agents: u32, hidden: u32, frame: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> pos: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> obs: array<f32>;
@group(0) @binding(3) var<storage, read> lstm_out: array<f32>;

const SPEED: f32 = 0.02;

@compute @workgroup_size(64)
fn observe(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= params.agents) { return; }
    let phase = f32(params.frame) * 0.1 + f32(i) * 0.37;
    obs[i * 4u] = pos[i].x;
    obs[i * 4u + 1u] = pos[i].y;
    obs[i * 4u + 2u] = sin(phase);
    obs[i * 4u + 3u] = cos(phase);
}

@compute @workgroup_size(64)
fn act(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= params.agents) { return; }
    let h = i * params.hidden;
    let v = vec2<f32>(lstm_out[h], lstm_out[h + 1u]) * SPEED;
    pos[i] = clamp(pos[i] + v, vec2<f32>(-1.0), vec2<f32>(1.0));
}

@group(0) @binding(0) var<storage, read> draw_pos: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read> draw_out: array<f32>;
@group(0) @binding(2) var<uniform> draw_params: Params;

struct VsOut { @builtin(position) clip: vec4<f32>, @location(0) color: vec3<f32> }

@vertex
fn vs(@builtin(vertex_index) v: u32, @builtin(instance_index) i: u32) -> VsOut {
    var corners = array<vec2<f32>, 6>(vec2(-1.0, -1.0), vec2(1.0, -1.0), vec2(1.0, 1.0),
                                      vec2(-1.0, -1.0), vec2(1.0, 1.0), vec2(-1.0, 1.0));
    let h = i * draw_params.hidden;
    var out: VsOut;
    out.clip = vec4<f32>(draw_pos[i] * 0.95 + corners[v] * 0.008, 0.0, 1.0);
    out.color = clamp(vec3<f32>(0.5) + 4.0 * vec3<f32>(draw_out[h + 2u], draw_out[h + 3u], draw_out[h + 4u]), vec3<f32>(0.0), vec3<f32>(1.0));
    return out;
}

@fragment
fn fs(in: VsOut) -> @location(0) vec4<f32> {
    return vec4<f32>(in.color, 1.0);
}
"#;

/// Keep in sync with `Params` in `SHADER`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    agents: u32,
    hidden: u32,
    frame: u32,
    _pad: u32,
}

/// The simulation on the host's device: its buffers, pipelines and the agents' stream.
pub struct GpuAgents {
    pub cfg: AgentsConfig,
    stream: Stream,
    params: wgpu::Buffer,
    pub positions: wgpu::Buffer,
    obs: wgpu::Buffer,
    /// The controllers' outputs `[agents, hidden]`, written by the stream each frame.
    pub lstm_out: wgpu::Buffer,
    observe: wgpu::ComputePipeline,
    act: wgpu::ComputePipeline,
    sim_group: wgpu::BindGroup,
    draw: wgpu::RenderPipeline,
    draw_group: wgpu::BindGroup,
    frame: u32,
}

fn storage(device: &wgpu::Device, label: &str, bytes: &[u8]) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
    })
}

impl GpuAgents {
    /// Sets up the simulation for `model` (the controller, loaded on the host's device) drawing
    /// into targets of `format`.
    pub fn new(
        device: &wgpu::Device,
        model: &Model,
        cfg: AgentsConfig,
        format: wgpu::TextureFormat,
    ) -> wgpu_rnn::Result<Self> {
        let stream = model.stream(cfg.agents)?;
        let n = cfg.agents;
        let pos: Vec<f32> = initial_positions(&cfg).into_iter().flatten().collect();
        let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("agents.params"),
            contents: bytemuck::bytes_of(&Params { agents: n as u32, hidden: cfg.hidden as u32, frame: 0, _pad: 0 }),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let positions = storage(device, "agents.positions", bytemuck::cast_slice(&pos));
        let obs = storage(device, "agents.obs", &vec![0u8; n * OBS * 4]);
        let lstm_out = storage(device, "agents.lstm_out", &vec![0u8; n * cfg.hidden * 4]);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("agents"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let entry = |binding, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE | wgpu::ShaderStages::VERTEX,
            ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
            count: None,
        };
        let ro = wgpu::BufferBindingType::Storage { read_only: true };
        let rw = wgpu::BufferBindingType::Storage { read_only: false };
        let sim_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("agents.sim"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ..entry(0, wgpu::BufferBindingType::Uniform)
                },
                wgpu::BindGroupLayoutEntry { visibility: wgpu::ShaderStages::COMPUTE, ..entry(1, rw) },
                wgpu::BindGroupLayoutEntry { visibility: wgpu::ShaderStages::COMPUTE, ..entry(2, rw) },
                wgpu::BindGroupLayoutEntry { visibility: wgpu::ShaderStages::COMPUTE, ..entry(3, ro) },
            ],
        });
        let sim_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("agents.sim"),
            layout: &sim_layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: positions.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: obs.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 3, resource: lstm_out.as_entire_binding() },
            ],
        });
        let sim_pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("agents.sim"),
            bind_group_layouts: &[Some(&sim_layout)],
            immediate_size: 0,
        });
        let compute = |name: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&sim_pl),
                module: &module,
                entry_point: Some(name),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let (observe, act) = (compute("observe"), compute("act"));
        let draw_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("agents.draw"),
            entries: &[
                wgpu::BindGroupLayoutEntry { visibility: wgpu::ShaderStages::VERTEX, ..entry(0, ro) },
                wgpu::BindGroupLayoutEntry { visibility: wgpu::ShaderStages::VERTEX, ..entry(1, ro) },
                wgpu::BindGroupLayoutEntry {
                    visibility: wgpu::ShaderStages::VERTEX,
                    ..entry(2, wgpu::BufferBindingType::Uniform)
                },
            ],
        });
        let draw_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("agents.draw"),
            layout: &draw_layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: positions.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: lstm_out.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: params.as_entire_binding() },
            ],
        });
        let draw_pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("agents.draw"),
            bind_group_layouts: &[Some(&draw_layout)],
            immediate_size: 0,
        });
        let draw = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("agents.draw"),
            layout: Some(&draw_pl),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState { format, blend: None, write_mask: wgpu::ColorWrites::ALL })],
            }),
            multiview_mask: None,
            cache: None,
        });
        Ok(GpuAgents {
            cfg,
            stream,
            params,
            positions,
            obs,
            lstm_out,
            observe,
            act,
            sim_group,
            draw,
            draw_group,
            frame: 0,
        })
    }

    /// Records one simulation frame (observe, LSTM step, act) into the host's encoder.
    pub fn encode_frame(&mut self, queue: &wgpu::Queue, encoder: &mut wgpu::CommandEncoder) -> wgpu_rnn::Result<()> {
        let groups = self.cfg.agents.div_ceil(64) as u32;
        // the frame counter is the only per-frame upload: 16 bytes
        let p = Params { agents: self.cfg.agents as u32, hidden: self.cfg.hidden as u32, frame: self.frame, _pad: 0 };
        queue.write_buffer(&self.params, 0, bytemuck::bytes_of(&p));
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("agents.observe"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.observe);
            pass.set_bind_group(0, &self.sim_group, &[]);
            pass.dispatch_workgroups(groups, 1, 1);
        }
        self.stream.encode_chunk(
            encoder,
            ChunkInput::Buffer { buffer: &self.obs, offset: 0 },
            1,
            None,
            Some((&self.lstm_out, 0)),
        )?;
        {
            let mut pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("agents.act"), timestamp_writes: None });
            pass.set_pipeline(&self.act);
            pass.set_bind_group(0, &self.sim_group, &[]);
            pass.dispatch_workgroups(groups, 1, 1);
        }
        self.frame += 1;
        Ok(())
    }

    /// Records drawing the agents into `view` (cleared first).
    pub fn encode_draw(&self, encoder: &mut wgpu::CommandEncoder, view: &wgpu::TextureView) {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("agents.draw"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color { r: 0.02, g: 0.02, b: 0.05, a: 1.0 }),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_pipeline(&self.draw);
        pass.set_bind_group(0, &self.draw_group, &[]);
        pass.draw(0..6, 0..self.cfg.agents as u32);
    }

    /// An offscreen render target for `encode_draw` that can be copied out.
    pub fn target(device: &wgpu::Device, size: u32, format: wgpu::TextureFormat) -> wgpu::Texture {
        device.create_texture(&wgpu::TextureDescriptor {
            label: Some("agents.target"),
            size: wgpu::Extent3d { width: size, height: size, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        })
    }

    /// Frames simulated so far.
    pub fn frame(&self) -> u32 {
        self.frame
    }

    /// Reads the positions back (blocking; for checks, not for the frame loop).
    pub fn read_positions(&self, device: &wgpu::Device, queue: &wgpu::Queue) -> wgpu_rnn::Result<Vec<[f32; 2]>> {
        let encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("agents.read") });
        let flat =
            wgpu_rnn::gpu::PendingRead::start(device, queue, encoder, &self.positions, self.positions.size()).wait()?;
        Ok(flat.chunks_exact(2).map(|p| [p[0], p[1]]).collect())
    }
}

/// The same simulation on the CPU reference (f64 inside each step).
pub fn cpu_reference(cfg: &AgentsConfig, frames: u32) -> Vec<[f32; 2]> {
    let net = controller(cfg);
    let n = cfg.agents;
    let mut pos = initial_positions(cfg);
    let (mut h, mut c) = (vec![0.0f32; n * cfg.hidden], vec![0.0f32; n * cfg.hidden]);
    for frame in 0..frames {
        let x: Vec<f32> = pos
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                let ph = phase(frame, i);
                [p[0], p[1], ph.sin(), ph.cos()]
            })
            .collect();
        let inputs = Inputs { x, steps: 1, batch: n, lengths: None, h0: Some(h.clone()), c0: Some(c.clone()) };
        let out = wgpu_rnn::cpu::forward(&net, &inputs).expect("valid");
        for (i, p) in pos.iter_mut().enumerate() {
            let o = &out.y[i * cfg.hidden..];
            p[0] = (p[0] + o[0] * SPEED).clamp(-1.0, 1.0);
            p[1] = (p[1] + o[1] * SPEED).clamp(-1.0, 1.0);
        }
        h = out.h_n;
        c = out.c_n.expect("lstm");
    }
    pos
}
