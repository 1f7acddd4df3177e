//! The device, queue and pipelines: made once, shared by every model on the device.

use std::sync::{Arc, Mutex};

use crate::error::{Error, GpuFault, Result};
use crate::kernels::{KernelBuild, LANES};

use super::pipeline_cache::{CacheFile, CacheSetting};
use super::pipelines::{Pipelines, shader_checks};

/// Which adapter to use. Defaults come from the environment: `WGPU_RNN_BACKEND`
/// (`vulkan`, `metal`, `dx12`, `gl`) and `WGPU_RNN_ADAPTER` (a substring of the adapter name).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuOptions {
    pub backend: Option<String>,
    pub adapter: Option<String>,
    /// Keep all of wgpu's runtime checks in the kernels (slower; see
    /// `pipelines::shader_checks` for what is dropped otherwise). Env `WGPU_RNN_CHECKED_SHADERS=1`.
    pub checked_shaders: bool,
    /// The kernels' build (`GpuContext::build`): `None` decides by adapter; a build the device
    /// cannot make is an error. Env `WGPU_RNN_BUILD=portable|lanes|lanes-wide` (`auto` or
    /// empty: by adapter).
    pub build: Option<KernelBuild>,
    /// Where compiled pipelines are kept between runs (`pipeline_cache`). Env
    /// `WGPU_RNN_PIPELINE_CACHE=off|DIR` (unset: the platform's cache directory).
    pub pipeline_cache: CacheSetting,
    /// How training passes walk through time (`GpuContext::walk`): `None` decides by adapter
    /// (persistent for small layers on GPUs, per-step kernels on CPU drivers). Env
    /// `WGPU_RNN_WALK=per-step|persistent|small` (`auto` or empty: by adapter).
    pub walk: Option<crate::plan::train::Walk>,
}

impl GpuOptions {
    /// Options read from `WGPU_RNN_BACKEND`, `WGPU_RNN_ADAPTER`, `WGPU_RNN_CHECKED_SHADERS`,
    /// `WGPU_RNN_BUILD`, `WGPU_RNN_PIPELINE_CACHE` and `WGPU_RNN_WALK`.
    pub fn from_env() -> Result<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|s| !s.trim().is_empty());
        Ok(GpuOptions {
            backend: var("WGPU_RNN_BACKEND"),
            adapter: var("WGPU_RNN_ADAPTER"),
            checked_shaders: var("WGPU_RNN_CHECKED_SHADERS").is_some_and(|v| truthy(&v)),
            build: match var("WGPU_RNN_BUILD") {
                None => None,
                Some(v) if v.trim().eq_ignore_ascii_case("auto") => None,
                Some(v) => Some(KernelBuild::parse(&v)?),
            },
            pipeline_cache: var("WGPU_RNN_PIPELINE_CACHE").map_or(CacheSetting::Default, |v| CacheSetting::parse(&v)),
            walk: match var("WGPU_RNN_WALK") {
                None => None,
                Some(v) => crate::plan::train::Walk::parse(&v)?,
            },
        })
    }

    /// The build a device makes: by default `LanesWide` (or `Lanes` without 64-bit integers)
    /// on CPU adapters whose subgroups are exactly `LANES` wide, where loads are loops over the
    /// SIMD row's lanes (on GPUs neighbouring invocations reading one address cost one load
    /// already), else `Portable`. A forced build the device cannot make is an error.
    fn build(&self, info: &wgpu::AdapterInfo, features: wgpu::Features) -> Result<KernelBuild> {
        let lanes = features.contains(wgpu::Features::SUBGROUP)
            && info.subgroup_min_size == LANES
            && info.subgroup_max_size == LANES;
        let wide = features.contains(wgpu::Features::SHADER_INT64);
        match self.build {
            None if lanes && info.device_type == wgpu::DeviceType::Cpu => {
                Ok(if wide { KernelBuild::LanesWide } else { KernelBuild::Lanes })
            }
            None | Some(KernelBuild::Portable) => Ok(KernelBuild::Portable),
            Some(b) if !lanes => Err(Error::invalid(
                "build",
                format!(
                    "`{b}` needs subgroups exactly {LANES} lanes wide; {} has {} (subgroups {}..={})",
                    info.name,
                    if features.contains(wgpu::Features::SUBGROUP) { "subgroups" } else { "none" },
                    info.subgroup_min_size,
                    info.subgroup_max_size
                ),
            )),
            Some(b) if !features.contains(b.features()) => {
                Err(Error::invalid("build", format!("`{b}` needs SHADER_INT64, which {} lacks", info.name)))
            }
            Some(b) => Ok(b),
        }
    }

    fn backends(&self) -> Result<wgpu::Backends> {
        Ok(match self.backend.as_deref().map(|s| s.trim().to_ascii_lowercase()) {
            None => wgpu::Backends::all(),
            Some(b) => match b.as_str() {
                "vulkan" | "vk" => wgpu::Backends::VULKAN,
                "metal" => wgpu::Backends::METAL,
                "dx12" | "d3d12" => wgpu::Backends::DX12,
                "gl" | "opengl" | "gles" => wgpu::Backends::GL,
                "all" => wgpu::Backends::all(),
                other => {
                    return Err(Error::invalid(
                        "backend",
                        format!("unknown backend `{other}` (vulkan, metal, dx12, gl)"),
                    ));
                }
            },
        })
    }
}

fn truthy(v: &str) -> bool {
    v == "1" || v.eq_ignore_ascii_case("true")
}

/// What the engine reports about its adapter.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
}

impl AdapterSummary {
    fn of(info: &wgpu::AdapterInfo) -> Self {
        AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
        }
    }
}

/// A device with its queue and the engine's pipelines.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    /// Features the adapter offers (the engine's device may enable fewer).
    pub adapter_features: wgpu::Features,
    /// Whether the kernels keep all of wgpu's runtime checks (`GpuOptions::checked_shaders`).
    pub checked_shaders: bool,
    /// How the kernels are built (`GpuOptions::build`): on a CPU adapter with 8-wide subgroups
    /// the `*_lanes` kernels, whose lanes load the h (or input rows) they all need once per
    /// subgroup, and there also floats read as 64-bit pairs where the device has
    /// `SHADER_INT64`; elsewhere the portable kernels.
    pub build: KernelBuild,
    /// How training passes walk through time unless a trainer sets its own
    /// (`GpuOptions::walk`; `None`: by adapter, [`GpuContext::training_walk`]).
    pub walk: Option<crate::plan::train::Walk>,
    backend: wgpu::Backend,
    /// The forward kernels, each compiled the first time a plan needs it.
    pub(crate) pipelines: Pipelines,
    /// The training kernels, likewise.
    train: crate::gpu::train::TrainPipelines,
    /// Compiled pipelines kept on disk between runs (where the backend offers a cache).
    pipeline_cache: Option<Arc<CacheFile>>,
    /// Why the device was lost, once it is (its lost callback, or `note_device_lost`).
    lost: Arc<Mutex<Option<String>>>,
    /// The first wgpu error that no scope caught (an engine's own device only).
    uncaptured: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext").field("adapter", &self.adapter).finish_non_exhaustive()
    }
}

/// Why there is no adapter at all, and what would give one.
#[cfg(not(target_arch = "wasm32"))]
const NO_ADAPTER: &str = "no adapter found (install a Vulkan, Metal or DX12 driver; on Linux without a GPU, mesa-vulkan-drivers provides lavapipe)";
#[cfg(target_arch = "wasm32")]
const NO_ADAPTER: &str = "this browser offers no WebGPU adapter (WebGPU runs in Chrome and Edge 113 or later, Safari 26, Firefox 141 or later on Windows; on Linux start Chrome with --enable-unsafe-webgpu, and without a GPU also --enable-unsafe-swiftshader)";

/// Rank of an adapter: real GPUs before CPU rasterizers, native APIs before GL.
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let ty = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    (ty, u8::from(info.backend == wgpu::Backend::Gl))
}

impl GpuContext {
    /// Opens the best adapter the options allow and creates a headless device with the
    /// adapter's own limits (blocking; [`GpuContext::new_async`] is the form for browsers).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(opts: &GpuOptions) -> Result<GpuContext> {
        pollster::block_on(Self::new_async(opts))
    }

    /// [`GpuContext::new`] for async code, and the only form on wasm32 (WebGPU in a browser).
    pub async fn new_async(opts: &GpuOptions) -> Result<GpuContext> {
        let backends = opts.backends()?;
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let mut adapters = instance.enumerate_adapters(backends).await;
        let all: Vec<String> =
            adapters.iter().map(|a| format!("{} ({:?})", a.get_info().name, a.get_info().backend)).collect();
        if let Some(want) = &opts.adapter {
            let want = want.to_ascii_lowercase();
            adapters.retain(|a| a.get_info().name.to_ascii_lowercase().contains(&want));
        }
        adapters.sort_by_key(|a| rank(&a.get_info()));
        let Some(adapter) = adapters.into_iter().next() else {
            return Err(Error::NoAdapter(if all.is_empty() {
                NO_ADAPTER.into()
            } else {
                format!("no adapter matches {opts:?}; available: {}", all.join(", "))
            }));
        };
        let info = adapter.get_info();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("wgpu-rnn.device"),
                // timestamps let `bench` report GPU time beside wall time
                // subgroups for the split-K step kernel; 64-bit integers for wide weight loads;
                // a pipeline cache to start warm
                required_features: adapter.features()
                    & (wgpu::Features::TIMESTAMP_QUERY
                        | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
                        | wgpu::Features::SUBGROUP
                        | wgpu::Features::SHADER_INT64
                        | wgpu::Features::PIPELINE_CACHE),
                required_limits: adapter.limits(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::gpu(format!("requesting a device on {}", info.name), e))?;
        let ctx = Self::with_device(device, queue, &info, adapter.features(), opts)?;
        // Every engine call runs inside error scopes (in a browser: every async call, see
        // `scoped_async`); anything uncaptured is kept and reported by the next call, not a panic.
        let uncaptured = ctx.uncaptured.clone();
        ctx.device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            #[cfg(not(target_arch = "wasm32"))]
            eprintln!("wgpu-rnn: uncaptured wgpu error: {e}");
            if let Ok(mut u) = uncaptured.lock() {
                u.get_or_insert(e.to_string());
            }
        }));
        // the device is the engine's own: its loss is reported by every later call
        let lost = ctx.lost.clone();
        ctx.device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut l) = lost.lock() {
                *l = Some(format!("{reason:?}: {message}"));
            }
        });
        Ok(ctx)
    }

    /// Tells the engine that the device is lost, so that every later call returns
    /// [`Error::DeviceLost`]. An engine made with `Engine::from_wgpu` leaves the device's lost
    /// callback to the host (wgpu keeps one per device); the host calls this from it.
    pub fn note_device_lost(&self, reason: impl Into<String>) {
        if let Ok(mut l) = self.lost.lock() {
            *l = Some(reason.into());
        }
    }

    /// Why the device was lost, if it was.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    /// Runs `f` inside error scopes (`scoped`), after checking that the device is not lost;
    /// a device lost meanwhile is reported as such.
    pub(crate) fn scoped<T>(&self, during: &str, f: impl FnOnce() -> T) -> Result<T> {
        let lost = |reason| Error::DeviceLost { during: during.to_string(), reason };
        if let Some(reason) = self.lost() {
            return Err(lost(reason));
        }
        let result = scoped(&self.device, during, f);
        #[cfg(not(target_arch = "wasm32"))]
        if result.is_err() && self.lost().is_none() {
            // a device destroyed meanwhile makes its buffers invalid before it reports the loss:
            // let its lost callback run, so that the error says what happened
            let _ = self.device.poll(wgpu::PollType::Poll);
        }
        match self.lost() {
            Some(reason) => Err(lost(reason)),
            None => result,
        }
    }

    /// [`GpuContext::scoped`] for async calls: `start` records and submits work (and starts
    /// its readback, which the caller awaits next). On native targets this is `scoped`. In a
    /// browser error scopes report asynchronously, so the scopes stay open around the whole of
    /// `start` (every `scoped` inside it is then transparent) and are popped and awaited after
    /// it. An error that no scope caught since the last call is reported too.
    pub(crate) async fn scoped_async<S>(&self, during: &str, start: impl FnOnce() -> Result<S>) -> Result<S> {
        #[cfg(not(target_arch = "wasm32"))]
        let started = self.scoped(during, start).and_then(|s| s);
        #[cfg(target_arch = "wasm32")]
        let started = {
            if let Some(reason) = self.lost() {
                return Err(Error::DeviceLost { during: during.to_string(), reason });
            }
            let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
            let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
            let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let started = start();
            let mut fault = None;
            for pop in [validation.pop(), oom.pop(), internal.pop()] {
                if let Some(e) = pop.await {
                    fault.get_or_insert(e);
                }
            }
            match fault {
                Some(e) => Err(Error::gpu(during, GpuFault::Scope(e))),
                None => started,
            }
        };
        if let Some(reason) = self.lost() {
            return Err(Error::DeviceLost { during: during.to_string(), reason });
        }
        if let Some(e) = self.uncaptured.lock().ok().and_then(|mut u| u.take()) {
            return Err(Error::gpu(during, GpuFault::Uncaptured(e)));
        }
        started
    }

    /// An awaited readback's result as the caller sees it: a device lost meanwhile is
    /// [`Error::DeviceLost`] (what [`GpuContext::scoped`] does for the blocking forms).
    pub(crate) fn settled<T>(&self, during: &str, result: Result<T>) -> Result<T> {
        match self.lost() {
            Some(reason) => Err(Error::DeviceLost { during: during.to_string(), reason }),
            None => result,
        }
    }

    /// Records with `record` into a new encoder, between two GPU timestamps where the device
    /// writes them inside encoders, submits, and waits for the GPU. Returns the GPU
    /// milliseconds between the timestamps (`None` without them).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run_timed(
        &self,
        label: &str,
        record: impl FnOnce(&mut wgpu::CommandEncoder) -> Result<()>,
    ) -> Result<Option<f64>> {
        let device = &self.device;
        let stamps = device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        let queries = stamps.then(|| {
            let set = device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("wgpu-rnn.timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            encoder.write_timestamp(&set, 0);
            set
        });
        record(&mut encoder)?;
        match queries {
            Some(set) => {
                let resolve = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("wgpu-rnn.timestamps"),
                    size: 16,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                encoder.write_timestamp(&set, 1);
                encoder.resolve_query_set(&set, 0..2, &resolve, 0);
                let raw = self
                    .scoped("reading timestamps", || super::read_back(device, &self.queue, encoder, &resolve, 16))??;
                let ticks: &[u64] = bytemuck::cast_slice(&raw);
                let period = self.queue.get_timestamp_period() as f64;
                Ok(Some(ticks[1].saturating_sub(ticks[0]) as f64 * period / 1e6))
            }
            None => {
                self.scoped("submitting a timed call", || self.queue.submit([encoder.finish()]))?;
                device
                    .poll(wgpu::PollType::wait_indefinitely())
                    .map_err(|e| Error::gpu("waiting for a timed call", e))?;
                Ok(None)
            }
        }
    }

    /// How training passes walk through time unless a trainer sets its own: the engine's
    /// `GpuOptions::walk` when set, else persistent for small layers where the device runs the
    /// persistent kernels well (GPUs, `Walk::Small`), per-step kernels elsewhere.
    pub fn training_walk(&self) -> crate::plan::train::Walk {
        use crate::plan::train::Walk;
        match self.walk {
            Some(walk) => walk,
            None if self.fit().persistent => Walk::Small,
            None => Walk::PerStep,
        }
    }

    /// The training kernels' pipelines (each compiled on its first use: a device that never
    /// trains does not pay for them). They drop runtime checks as the step kernels do.
    pub(crate) fn train_pipelines(&self) -> Result<&crate::gpu::train::TrainPipelines> {
        Ok(&self.train)
    }

    /// Pipelines compiled on this device so far (forward and training kernels).
    pub fn compiled_pipelines(&self) -> usize {
        self.pipelines.compiled() + self.train.compiled()
    }

    /// The pipeline cache's file, where the device keeps one.
    pub fn pipeline_cache_path(&self) -> Option<std::path::PathBuf> {
        self.pipeline_cache.as_ref().map(|c| c.path().to_path_buf())
    }

    /// Writes the pipeline cache now (it is also written when the engine is dropped), if
    /// pipelines were compiled since it was read.
    pub fn save_pipeline_cache(&self) -> Result<()> {
        match &self.pipeline_cache {
            Some(c) => c.save().map_err(|e| Error::File { path: c.path().display().to_string(), why: e.to_string() }),
            None => Ok(()),
        }
    }

    /// The runtime checks compiled into `kernel` (`pipelines::shader_checks`).
    pub fn shader_checks(&self, kernel: crate::kernels::Kernel) -> wgpu::ShaderRuntimeChecks {
        shader_checks(kernel, self.backend, self.checked_shaders)
    }

    /// Uses the host application's device and queue (its limits and features as they are;
    /// `WGPU_RNN_CHECKED_SHADERS` and `WGPU_RNN_BUILD` apply). The device's lost callback stays
    /// the host's: see `note_device_lost`.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Result<GpuContext> {
        let info = device.adapter_info();
        let features = device.features();
        Self::with_device(device, queue, &info, features, &GpuOptions::from_env()?)
    }

    fn with_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: &wgpu::AdapterInfo,
        adapter_features: wgpu::Features,
        opts: &GpuOptions,
    ) -> Result<GpuContext> {
        let backend = info.backend;
        let checked_shaders = opts.checked_shaders;
        let build = opts.build(info, device.features())?;
        let pipeline_cache = scoped(&device, "opening the pipeline cache", || {
            CacheFile::open(&device, info, &opts.pipeline_cache).map(Arc::new)
        })?;
        let pipelines =
            Pipelines::new(&device, build, move |k| shader_checks(k, backend, checked_shaders), pipeline_cache.clone());
        let train_checks = shader_checks(crate::kernels::Kernel::LstmStep, backend, checked_shaders);
        let train = crate::gpu::train::TrainPipelines::new(&device, train_checks, pipeline_cache.clone());
        Ok(GpuContext {
            adapter: AdapterSummary::of(info),
            adapter_features,
            device,
            queue,
            checked_shaders,
            build,
            walk: opts.walk,
            backend,
            pipelines,
            train,
            pipeline_cache,
            lost: Arc::new(Mutex::new(None)),
            uncaptured: Arc::new(Mutex::new(None)),
        })
    }

    /// Whether the split-K kernels are built (the device has subgroups).
    pub fn has_split_kernels(&self) -> bool {
        self.pipelines.has(crate::kernels::Kernel::LstmStepSplit)
    }

    /// Whether small batches should use the split-K kernels: a real GPU (on a CPU adapter a
    /// workgroup runs on one thread, so splitting k adds no parallelism) with subgroups.
    pub fn prefers_split(&self) -> bool {
        self.has_split_kernels() && !self.is_cpu_adapter()
    }

    /// Whether the adapter is a CPU driver (lavapipe, SwiftShader): a workgroup runs on one
    /// thread there, which favours other kernel versions (`plan::DeviceFit`).
    pub fn is_cpu_adapter(&self) -> bool {
        self.adapter.device_type == "Cpu"
    }

    /// Loop iterations one invocation may run in all before the driver ends its loops without
    /// an error: lavapipe's llvmpipe ([`crate::kernels::LLVMPIPE_LOOP_LIMIT`]). `None` where no
    /// limit is known. The plans split their long loops within `kernels::LOOP_BUDGET`; what
    /// they cannot is refused (`TrainPlan::longest_loop_beyond`).
    pub fn loop_limit(&self) -> Option<usize> {
        self.adapter.name.contains("llvmpipe").then_some(crate::kernels::LLVMPIPE_LOOP_LIMIT)
    }

    /// The kernel versions this device runs well.
    pub fn fit(&self) -> crate::plan::DeviceFit {
        let cpu = self.is_cpu_adapter();
        crate::plan::DeviceFit {
            persistent: !cpu,
            split: self.prefers_split(),
            wide_tiles: cpu,
            row_tiles: cpu,
            workgroup_tiles: !cpu,
            lanes: self.build.shares_lanes(),
        }
    }

    /// The device's limits.
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }
}

/// Runs `f` inside validation, out-of-memory and internal error scopes and returns the first
/// error wgpu reports as [`Error::Gpu`], met while doing `during`. In a browser a scope reports
/// only asynchronously, so there this runs `f` alone and the enclosing
/// [`GpuContext::scoped_async`] catches its errors.
#[cfg(target_arch = "wasm32")]
pub(crate) fn scoped<T>(_device: &wgpu::Device, _during: &str, f: impl FnOnce() -> T) -> Result<T> {
    Ok(f())
}

/// Runs `f` inside validation, out-of-memory and internal error scopes and returns the first
/// error wgpu reports as [`Error::Gpu`], met while doing `during`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn scoped<T>(device: &wgpu::Device, during: &str, f: impl FnOnce() -> T) -> Result<T> {
    let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
    let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let value = f();
    let errors = [validation.pop(), oom.pop(), internal.pop()].map(pollster::block_on);
    match errors.into_iter().flatten().next() {
        Some(e) => Err(Error::gpu(during, GpuFault::Scope(e))),
        None => Ok(value),
    }
}
