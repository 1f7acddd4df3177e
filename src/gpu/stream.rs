//! Streams: recurrent state kept on the GPU for N independent sequences (slots), advanced by
//! chunks of k >= 1 steps, recorded into the caller's command encoder.
//!
//! Buffer layouts (f32, row-major), for hosts that bind them in their own shaders:
//! - chunk input `x [k, N, I]` (time-major: step, slot, feature);
//! - chunk output `y [k, N, H_out]` of the last layer; zero for slots that sat the chunk out;
//! - state of layer l: `h [2, N, H_out]`, the current state in the first half (row `slot`),
//!   and for LSTM `c [N, H]`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::plan::{Buf, Plan, StepVariant};
use crate::spec::Cell;
use crate::tensor::all_finite;

use super::download::PendingRead;
use super::executor::Workspace;
#[cfg(not(target_arch = "wasm32"))]
use super::model::Timing;
use super::model::{GpuModel, STORAGE};

/// Where a chunk's input comes from.
#[derive(Debug, Clone, Copy)]
pub enum ChunkInput<'a> {
    /// Host memory `[k, N, I]`, uploaded in order with the encoder's other commands.
    Host(&'a [f32]),
    /// A GPU buffer the host filled (for example with its own compute shader), `[k, N, I]` at
    /// `offset` bytes; copied on the GPU, never through the CPU. Needs `COPY_SRC` usage.
    Buffer { buffer: &'a wgpu::Buffer, offset: u64 },
}

/// What a recorded chunk produced.
#[derive(Debug, Clone)]
pub struct ChunkOutput {
    /// `y [k, N, H_out]`, valid once the encoder is submitted, until the next chunk of the
    /// same size runs.
    pub y: wgpu::Buffer,
    pub steps: usize,
    pub dispatches: usize,
}

/// One slot's recurrent state: `h [L, H_out]` and, for LSTM, `c [L, H]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotState {
    pub h: Vec<f32>,
    pub c: Option<Vec<f32>>,
}

/// Recurrent state for `slots` sequences on the GPU. Several streams and models can share a
/// device; everything a stream allocated is freed when it is dropped.
pub struct Stream {
    model: GpuModel,
    slots: usize,
    state: HashMap<Buf, wgpu::Buffer>,
    chunk: Mutex<Option<Workspace>>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("slots", &self.slots).finish_non_exhaustive()
    }
}

impl GpuModel {
    /// A stream of `slots` sequences sharing this model's weights, all states zero.
    pub fn stream(&self, slots: usize) -> Result<Stream> {
        if self.shape.dirs != 1 {
            return Err(Error::invalid(
                "stream",
                "a bidirectional layer needs the whole sequence; it cannot be streamed",
            ));
        }
        let max = self.ctx.limits().max_compute_workgroups_per_dimension as usize;
        if slots == 0 || slots > max {
            return Err(Error::invalid("slots", format!("{slots} (must be 1..={max})")));
        }
        let device = &self.ctx.device;
        let state = self.ctx.scoped("allocating a stream's state", || {
            let mut state = HashMap::new();
            for l in 0..self.shape.layers() {
                for buf in [Buf::H(l), Buf::C(l)] {
                    let size = self.shape.elements(buf, 1, slots) as u64 * 4;
                    let b = device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some(&format!("wgpu-rnn.stream.{buf:?}")),
                        size,
                        usage: STORAGE,
                        mapped_at_creation: false, // zero-initialized by wgpu
                    });
                    state.insert(buf, b);
                }
            }
            state
        })?;
        Ok(Stream { model: self.sibling(), slots, state, chunk: Mutex::new(None) })
    }
}

impl Stream {
    /// Number of slots N.
    pub fn slots(&self) -> usize {
        self.slots
    }
    /// Width of one step's input for one slot (I).
    pub fn input_width(&self) -> usize {
        self.model.shape.inputs[0]
    }
    /// Width of one step's output for one slot (H_out).
    pub fn output_width(&self) -> usize {
        self.model.shape.out
    }
    /// The step variant chunks use.
    pub fn variant(&self) -> StepVariant {
        self.model.variant(self.slots)
    }

    /// State buffers of layer `l`: `h [2, N, H_out]` (current state in the first half; the
    /// buffer may end with up to 3 floats of padding, to a whole vec4) and, for LSTM, `c [N, H]`.
    pub fn state_buffers(&self, l: usize) -> Option<(&wgpu::Buffer, Option<&wgpu::Buffer>)> {
        let h = self.state.get(&Buf::H(l))?;
        Some((h, (self.model.shape.cell == Cell::Lstm).then(|| &self.state[&Buf::C(l)])))
    }

    fn check_slot(&self, slot: usize) -> Result<()> {
        if slot >= self.slots {
            return Err(Error::invalid("slot", format!("{slot} is outside 0..{}", self.slots)));
        }
        Ok(())
    }

    /// Records `steps` steps for the slots marked in `active` (all when `None`; the others keep
    /// their state and output zeros) into `encoder`. With `output`, the chunk's `y` is also
    /// copied into the host's buffer at that byte offset (needs `COPY_DST`).
    pub fn encode_chunk(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        input: ChunkInput<'_>,
        steps: usize,
        active: Option<&[bool]>,
        output: Option<(&wgpu::Buffer, u64)>,
    ) -> Result<ChunkOutput> {
        let n = self.slots;
        let shape = &self.model.shape;
        if steps == 0 {
            return Err(Error::invalid("steps", "a chunk has at least one step"));
        }
        // bytes of `width` floats per step and slot; past usize, no x or buffer holds them
        let bytes = |width: usize| {
            steps
                .checked_mul(n)
                .and_then(|v| v.checked_mul(4 * width))
                .map(|v| v as u64)
                .ok_or_else(|| Error::TooLarge(format!("a chunk of {steps} steps of {n} slots of {width} floats")))
        };
        let in_bytes = bytes(self.input_width())?;
        let values = (in_bytes / 4) as usize;
        match input {
            ChunkInput::Host(x) => {
                if x.len() != values {
                    return Err(Error::shape(
                        "x",
                        format!("[k={steps}, N={n}, I={}]", self.input_width()),
                        format!("{} values", x.len()),
                    ));
                }
                all_finite("x", x)?;
            }
            ChunkInput::Buffer { buffer, offset } => {
                if offset % 4 != 0 || offset.checked_add(in_bytes).is_none_or(|end| end > buffer.size()) {
                    return Err(Error::shape(
                        "input buffer",
                        format!("{in_bytes} bytes at a 4-aligned offset"),
                        format!("{} bytes, offset {offset}", buffer.size()),
                    ));
                }
            }
        }
        if let Some(a) = active {
            if a.len() != n {
                return Err(Error::shape("active", format!("[{n}]"), format!("[{}]", a.len())));
            }
        }
        let out_bytes = bytes(shape.out)?;
        if let Some((b, off)) = output {
            if off % 4 != 0 || off.checked_add(out_bytes).is_none_or(|end| end > b.size()) {
                return Err(Error::shape(
                    "output buffer",
                    format!("{out_bytes} bytes at a 4-aligned offset"),
                    format!("{} bytes, offset {off}", b.size()),
                ));
            }
        }
        // a panic while the lock was held leaves the chunk workspace in doubt: make it again
        let mut guard = self.chunk.lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            *guard = None;
            guard
        });
        self.chunk.clear_poison();
        if !matches!(&*guard, Some(ws) if ws.steps == steps) {
            *guard = None;
            *guard = Some(self.model.workspace_for(steps, n, Some(&self.state))?);
        }
        let ws = guard.as_ref().expect("made");
        let ragged = active.is_some_and(|a| a.iter().any(|&on| !on));
        let plan = Plan::chunk(shape, steps, n, ragged, self.variant(), self.model.ctx.fit());
        let device = &self.model.ctx.device;
        self.model.ctx.scoped("recording a stream chunk", || {
            // uploads go through the encoder, so chunks recorded back to back stay in order
            let upload = |label: &str, bytes: &[u8], dst: &wgpu::Buffer, enc: &mut wgpu::CommandEncoder| {
                let staging = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytes,
                    usage: wgpu::BufferUsages::COPY_SRC,
                });
                enc.copy_buffer_to_buffer(&staging, 0, dst, 0, bytes.len() as u64);
            };
            let lens: Vec<u32> = (0..n).map(|s| if active.is_none_or(|a| a[s]) { steps as u32 } else { 0 }).collect();
            upload("wgpu-rnn.stream.lens", bytemuck::cast_slice(&lens), &ws.buffers[&Buf::Lens], encoder);
            match input {
                ChunkInput::Host(x) => {
                    upload("wgpu-rnn.stream.x", bytemuck::cast_slice(x), &ws.buffers[&Buf::Input], encoder)
                }
                ChunkInput::Buffer { buffer, offset } => {
                    encoder.copy_buffer_to_buffer(buffer, offset, &ws.buffers[&Buf::Input], 0, in_bytes)
                }
            }
            self.model.encode(encoder, &plan, ws)?;
            if let Some((b, off)) = output {
                encoder.copy_buffer_to_buffer(&ws.buffers[&shape.output()], 0, b, off, out_bytes);
            }
            Ok(())
        })??;
        Ok(ChunkOutput { y: ws.buffers[&shape.output()].clone(), steps, dispatches: plan.dispatches() })
    }

    /// Times one chunk of `steps` steps for every slot whose input `x [k, N, I]` is already in
    /// `input` on the GPU (as an embedding application runs it): wall time from recording to the
    /// GPU finishing, and GPU time from timestamps where the device has them. No readback.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn time_chunk(&self, input: &wgpu::Buffer, steps: usize) -> Result<Timing> {
        let start = std::time::Instant::now();
        let mut dispatches = 0;
        let gpu_ms = self.model.ctx.run_timed("wgpu-rnn.stream.timed", |encoder| {
            let out = self.encode_chunk(encoder, ChunkInput::Buffer { buffer: input, offset: 0 }, steps, None, None)?;
            dispatches = out.dispatches;
            Ok(())
        })?;
        Ok(Timing { wall_ms: start.elapsed().as_secs_f64() * 1e3, gpu_ms, dispatches })
    }

    /// Runs a chunk from host memory and starts reading its output back without blocking.
    pub fn push_pending(&self, x: &[f32], steps: usize, active: Option<&[bool]>) -> Result<PendingRead> {
        let ctx = &self.model.ctx;
        let mut encoder =
            ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("wgpu-rnn.stream") });
        let out = self.encode_chunk(&mut encoder, ChunkInput::Host(x), steps, active, None)?;
        let bytes = (steps * self.slots * self.output_width() * 4) as u64;
        ctx.scoped("reading a chunk back", || PendingRead::start(&ctx.device, &ctx.queue, encoder, &out.y, bytes))
    }

    /// Runs a chunk from host memory and returns `y [k, N, H_out]` (blocks until the GPU is done).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn push(&self, x: &[f32], steps: usize, active: Option<&[bool]>) -> Result<Vec<f32>> {
        let read = self.push_pending(x, steps, active)?;
        self.model.ctx.scoped("reading a chunk back", || read.wait())?
    }

    /// [`Self::push`] for async code, and the only form in a browser.
    pub async fn push_async(&self, x: &[f32], steps: usize, active: Option<&[bool]>) -> Result<Vec<f32>> {
        let ctx = &self.model.ctx;
        let read = ctx.scoped_async("running a chunk", || self.push_pending(x, steps, active)).await?;
        ctx.settled("reading a chunk back", read.settle().await)
    }

    /// Records zeroing the state of `slots` into `encoder`.
    pub fn encode_reset(&self, encoder: &mut wgpu::CommandEncoder, slots: &[usize]) -> Result<()> {
        for &s in slots {
            self.check_slot(s)?;
        }
        let (o, h) = (self.model.shape.out as u64 * 4, self.model.shape.hidden as u64 * 4);
        for l in 0..self.model.shape.layers() {
            for &s in slots {
                encoder.clear_buffer(&self.state[&Buf::H(l)], s as u64 * o, Some(o));
                if self.model.shape.cell == Cell::Lstm {
                    encoder.clear_buffer(&self.state[&Buf::C(l)], s as u64 * h, Some(h));
                }
            }
        }
        Ok(())
    }

    /// Zeroes the state of `slots` (submitted at once, ordered before later chunks).
    pub fn reset(&self, slots: &[usize]) -> Result<()> {
        let ctx = &self.model.ctx;
        let mut encoder =
            ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("wgpu-rnn.stream.reset") });
        self.encode_reset(&mut encoder, slots)?;
        ctx.scoped("resetting stream slots", || {
            ctx.queue.submit([encoder.finish()]);
        })
    }

    /// Reads one slot's state (blocks until the GPU is done).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_state(&self, slot: usize) -> Result<SlotState> {
        self.check_slot(slot)?;
        let ctx = &self.model.ctx;
        let shape = &self.model.shape;
        let (o, h, layers) = (shape.out, shape.hidden, shape.layers());
        let lstm = shape.cell == Cell::Lstm;
        let per = layers * (o + if lstm { h } else { 0 });
        let gather = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgpu-rnn.stream.state"),
            size: (per * 4) as u64,
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("wgpu-rnn.stream.read_state") });
        for l in 0..layers {
            encoder.copy_buffer_to_buffer(
                &self.state[&Buf::H(l)],
                (slot * o * 4) as u64,
                &gather,
                (l * o * 4) as u64,
                (o * 4) as u64,
            );
            if lstm {
                encoder.copy_buffer_to_buffer(
                    &self.state[&Buf::C(l)],
                    (slot * h * 4) as u64,
                    &gather,
                    ((layers * o + l * h) * 4) as u64,
                    (h * 4) as u64,
                );
            }
        }
        let data = ctx.scoped("reading a slot's state", || {
            super::read_back(&ctx.device, &ctx.queue, encoder, &gather, (per * 4) as u64)
        })??;
        let (hs, cs) = data.split_at(layers * o);
        Ok(SlotState { h: hs.to_vec(), c: lstm.then(|| cs.to_vec()) })
    }

    /// Overwrites one slot's state (ordered before later chunks). A state of the wrong shape, or
    /// with a NaN or infinity, is an error and leaves the slot as it was.
    pub fn write_state(&self, slot: usize, state: &SlotState) -> Result<()> {
        self.check_slot(slot)?;
        let shape = &self.model.shape;
        let (o, h, layers) = (shape.out, shape.hidden, shape.layers());
        if state.h.len() != layers * o {
            return Err(Error::shape("h", format!("[L={layers}, H_out={o}]"), format!("{} values", state.h.len())));
        }
        let lstm = shape.cell == Cell::Lstm;
        match (&state.c, lstm) {
            (Some(c), true) if c.len() == layers * h => {}
            (None, false) => {}
            (c, _) => {
                return Err(Error::shape(
                    "c",
                    if lstm { format!("[L={layers}, H={h}]") } else { "none (not an LSTM)".into() },
                    format!("{:?} values", c.as_ref().map(Vec::len)),
                ));
            }
        }
        all_finite("h", &state.h)?;
        if let Some(c) = &state.c {
            all_finite("c", c)?;
        }
        let queue = &self.model.ctx.queue;
        self.model.ctx.scoped("writing a slot's state", || {
            for l in 0..layers {
                queue.write_buffer(
                    &self.state[&Buf::H(l)],
                    (slot * o * 4) as u64,
                    bytemuck::cast_slice(&state.h[l * o..(l + 1) * o]),
                );
                if let Some(c) = &state.c {
                    queue.write_buffer(
                        &self.state[&Buf::C(l)],
                        (slot * h * 4) as u64,
                        bytemuck::cast_slice(&c[l * h..(l + 1) * h]),
                    );
                }
            }
        })
    }
}

/// Shares the weights; keeps nothing else.
impl GpuModel {
    pub(super) fn sibling(&self) -> GpuModel {
        GpuModel {
            ctx: Arc::clone(&self.ctx),
            net: self.net.clone(),
            shape: self.shape.clone(),
            weights: self.weights.clone(),
            workspace: Mutex::new(None),
            variant: self.variant,
            stacked: self.stacked,
            trainer: std::sync::OnceLock::new(),
        }
    }
}
