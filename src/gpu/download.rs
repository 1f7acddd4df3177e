//! Reading GPU memory: everything maps through [`PendingRead`]; [`read_back`] is its blocking
//! form (native only), [`PendingRead::settle`] the async one (every target; in a browser the
//! only one).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

#[cfg(not(target_arch = "wasm32"))]
use crate::error::GpuFault;
use crate::error::{Error, Result};

/// Copies `size` bytes of `src` after the given encoder's work, submits, waits for the GPU, and
/// returns the bytes as f32. Blocks the calling thread (see [`PendingRead`] for the
/// non-blocking form).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_back(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    encoder: wgpu::CommandEncoder,
    src: &wgpu::Buffer,
    size: u64,
) -> Result<Vec<f32>> {
    PendingRead::start(device, queue, encoder, src, size).wait()
}

/// Several buffers read with one mapping: each `(buffer, floats)` is copied, in order, into one
/// buffer after the encoder's work, which is submitted; each comes back as its own vector.
#[derive(Debug)]
pub struct PendingReads {
    read: PendingRead,
    sizes: Vec<usize>,
}

impl PendingReads {
    /// Copies the parts into one buffer after the encoder's work, submits, and starts mapping.
    pub fn start(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        mut encoder: wgpu::CommandEncoder,
        parts: &[(&wgpu::Buffer, usize)],
    ) -> PendingReads {
        let total: usize = parts.iter().map(|p| p.1).sum();
        let gather = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgpu-rnn.gather"),
            size: (total.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut offset = 0u64;
        for &(buf, n) in parts.iter().filter(|p| p.1 > 0) {
            encoder.copy_buffer_to_buffer(buf, 0, &gather, offset, n as u64 * 4);
            offset += n as u64 * 4;
        }
        let read = PendingRead::start(device, queue, encoder, &gather, (total.max(1) * 4) as u64);
        PendingReads { read, sizes: parts.iter().map(|p| p.1).collect() }
    }

    /// Blocks until the data is there.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait(self) -> Result<Vec<Vec<f32>>> {
        Ok(split(&self.sizes, self.read.wait()?))
    }

    /// Waits for the data without blocking a browser: see [`PendingRead::settle`].
    pub async fn settle(self) -> Result<Vec<Vec<f32>>> {
        Ok(split(&self.sizes, self.read.settle().await?))
    }
}

/// `data` cut into consecutive parts of `sizes` floats.
fn split(sizes: &[usize], data: Vec<f32>) -> Vec<Vec<f32>> {
    let mut rest = &data[..];
    sizes
        .iter()
        .map(|&n| {
            let (part, tail) = rest.split_at(n.min(rest.len()));
            rest = tail;
            part.to_vec()
        })
        .collect()
}

/// How long `PendingRead::wait` waits for a mapping before giving up.
#[cfg(not(target_arch = "wasm32"))]
const WAIT_SECONDS: u64 = 600;

#[derive(Default)]
struct MapState {
    result: Option<std::result::Result<(), wgpu::BufferAsyncError>>,
    waker: Option<Waker>,
}

/// A readback in flight: the copy is submitted and the staging buffer is being mapped. Nothing
/// blocks: the mapping completes during a later `Device::poll` or `Queue::submit` of the host's
/// loop. Take the data with [`PendingRead::try_take`] (frame loops), `.await` it (async code),
/// or [`PendingRead::wait`] (tools).
pub struct PendingRead {
    staging: wgpu::Buffer,
    device: wgpu::Device,
    state: Arc<Mutex<MapState>>,
}

impl std::fmt::Debug for PendingRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRead").field("bytes", &self.staging.size()).finish_non_exhaustive()
    }
}

impl PendingRead {
    /// Copies `size` bytes of `src` after the encoder's work, submits, and starts mapping.
    pub fn start(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        mut encoder: wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        size: u64,
    ) -> PendingRead {
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgpu-rnn.pending_read"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(src, 0, &staging, 0, size);
        queue.submit([encoder.finish()]);
        let state = Arc::new(Mutex::new(MapState::default()));
        let shared = state.clone();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            if let Ok(mut s) = shared.lock() {
                s.result = Some(r);
                if let Some(w) = s.waker.take() {
                    w.wake();
                }
            }
        });
        PendingRead { staging, device: device.clone(), state }
    }

    fn take_mapped(&self) -> Option<Result<Vec<f32>>> {
        let result = self.state.lock().ok()?.result.take()?;
        Some(result.map_err(|e| Error::gpu("mapping a buffer for reading", e)).and_then(|()| {
            let data = {
                let view = self.staging.get_mapped_range(..).map_err(|e| Error::gpu("reading a mapped buffer", e))?;
                bytemuck::cast_slice::<u8, f32>(&view).to_vec()
            };
            self.staging.unmap();
            Ok(data)
        }))
    }

    /// The data if the GPU is done; never blocks (it polls the device without waiting).
    pub fn try_take(&self) -> Option<Result<Vec<f32>>> {
        let _ = self.device.poll(wgpu::PollType::Poll);
        self.take_mapped()
    }

    /// Blocks until the data is there. Another thread polling the same device may be the one
    /// that runs the mapping callback, so this waits for the callback itself, not for the poll.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait(self) -> Result<Vec<f32>> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(WAIT_SECONDS);
        loop {
            self.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| Error::gpu("waiting for a readback", e))?;
            if let Some(r) = self.take_mapped() {
                return r;
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::gpu("waiting for a readback", GpuFault::MapTimeout { seconds: WAIT_SECONDS }));
            }
            std::thread::yield_now();
        }
    }
}

impl PendingRead {
    /// The data, for async code on every target. In a browser the page's event loop completes
    /// the mapping, so this awaits it; a native device makes progress only when polled, so there
    /// this waits for the GPU as [`PendingRead::wait`] does (the async forms exist natively so
    /// that the same code runs, and is tested, on both).
    pub async fn settle(self) -> Result<Vec<f32>> {
        #[cfg(target_arch = "wasm32")]
        return self.await;
        #[cfg(not(target_arch = "wasm32"))]
        self.wait()
    }
}

impl Future for PendingRead {
    type Output = Result<Vec<f32>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Ok(mut s) = self.state.lock() {
            if s.result.is_none() {
                s.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
        match self.take_mapped() {
            Some(r) => Poll::Ready(r),
            // the callback ran, but another call took its result: a second await of one read
            None => Poll::Ready(Err(Error::invalid("readback", "its data was already taken"))),
        }
    }
}
