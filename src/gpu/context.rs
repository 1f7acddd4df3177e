//! The device, queue and pipelines: made once, shared by every model on the device.

use crate::error::{Error, Result};
use crate::kernels::KernelBuild;

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
    /// Lane sharing (`GpuContext::share_lanes`): `None` decides by adapter, `Some(false)` turns
    /// it off, `Some(true)` turns it on where the device allows it (8-wide subgroups). Env
    /// `WGPU_RNN_SHARE_LANES=1|on` or `0|off` (anything else: by adapter). Wide loads
    /// (`GpuContext::wide_loads`) follow it.
    pub share_lanes: Option<bool>,
}

impl GpuOptions {
    /// Options read from `WGPU_RNN_BACKEND` and `WGPU_RNN_ADAPTER`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|s| !s.trim().is_empty());
        GpuOptions {
            backend: var("WGPU_RNN_BACKEND"),
            adapter: var("WGPU_RNN_ADAPTER"),
            checked_shaders: var("WGPU_RNN_CHECKED_SHADERS").is_some_and(|v| truthy(&v)),
            share_lanes: var("WGPU_RNN_SHARE_LANES").and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "on" => Some(true),
                "0" | "false" | "off" => Some(false),
                _ => None,
            }),
        }
    }

    /// What the device does with lane sharing: on only where its subgroups are exactly
    /// `LANES` (8) wide, by default only on CPU adapters (measured there; on GPUs neighbouring
    /// invocations reading one address cost one load already).
    fn share_lanes(&self, info: &wgpu::AdapterInfo, features: wgpu::Features) -> bool {
        let possible = features.contains(wgpu::Features::SUBGROUP)
            && info.subgroup_min_size == SHARE_LANES_WIDTH
            && info.subgroup_max_size == SHARE_LANES_WIDTH;
        possible && self.share_lanes.unwrap_or(info.device_type == wgpu::DeviceType::Cpu)
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

/// Subgroup width that lane sharing is written for (`LANES` in `shaders/shared/lanes.wgsl`).
const SHARE_LANES_WIDTH: u32 = 8;

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
    /// Whether the kernels share loads across subgroup lanes (`shaders/shared/lanes.wgsl`): on
    /// a CPU adapter with 8-wide subgroups, the lanes that need the same h (or rows of the
    /// input) load it once per subgroup instead of once per lane. `GpuOptions::share_lanes`.
    pub share_lanes: bool,
    /// Whether the kernels read weights and inputs as 64-bit pairs of floats
    /// (`shaders/shared/wide_loads.wgsl`): where lanes are shared (the same CPU drivers) and the
    /// device has `SHADER_INT64`; a load there costs per component, so two 64-bit halves cost
    /// less than four floats.
    pub wide_loads: bool,
    backend: wgpu::Backend,
    pub(crate) pipelines: Pipelines,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext").field("adapter", &self.adapter).finish_non_exhaustive()
    }
}

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
    /// adapter's own limits.
    pub fn new(opts: &GpuOptions) -> Result<GpuContext> {
        let backends = opts.backends()?;
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
        let all: Vec<String> =
            adapters.iter().map(|a| format!("{} ({:?})", a.get_info().name, a.get_info().backend)).collect();
        if let Some(want) = &opts.adapter {
            let want = want.to_ascii_lowercase();
            adapters.retain(|a| a.get_info().name.to_ascii_lowercase().contains(&want));
        }
        adapters.sort_by_key(|a| rank(&a.get_info()));
        let Some(adapter) = adapters.into_iter().next() else {
            return Err(Error::NoAdapter(if all.is_empty() {
                "no adapter found (install a Vulkan, Metal or DX12 driver; on Linux without a GPU, mesa-vulkan-drivers provides lavapipe)".into()
            } else {
                format!("no adapter matches {opts:?}; available: {}", all.join(", "))
            }));
        };
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("wgpu-rnn.device"),
            // timestamps let `bench` report GPU time beside wall time
            // subgroups for the split-K step kernel; 64-bit integers for wide weight loads
            required_features: adapter.features()
                & (wgpu::Features::TIMESTAMP_QUERY
                    | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
                    | wgpu::Features::SUBGROUP
                    | wgpu::Features::SHADER_INT64),
            required_limits: adapter.limits(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::Gpu(format!("request_device on {}: {e}", info.name)))?;
        // Every engine call runs inside error scopes; anything uncaptured is reported, not a panic.
        device.on_uncaptured_error(std::sync::Arc::new(|e: wgpu::Error| {
            eprintln!("wgpu-rnn: uncaptured wgpu error: {e}")
        }));
        Self::with_device(device, queue, &info, adapter.features(), opts)
    }

    /// The runtime checks compiled into `kernel` (`pipelines::shader_checks`).
    pub fn shader_checks(&self, kernel: crate::kernels::Kernel) -> wgpu::ShaderRuntimeChecks {
        shader_checks(kernel, self.backend, self.checked_shaders)
    }

    /// Uses the host application's device and queue (its limits and features as they are;
    /// `WGPU_RNN_CHECKED_SHADERS` and `WGPU_RNN_SHARE_LANES` apply).
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Result<GpuContext> {
        let info = device.adapter_info();
        let features = device.features();
        Self::with_device(device, queue, &info, features, &GpuOptions::from_env())
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
        let share_lanes = opts.share_lanes(info, device.features());
        let wide_loads = share_lanes && device.features().contains(wgpu::Features::SHADER_INT64);
        let build = KernelBuild { share_lanes, wide_loads };
        let pipelines =
            scoped(&device, || Pipelines::new(&device, build, |k| shader_checks(k, backend, checked_shaders)))?;
        Ok(GpuContext {
            adapter: AdapterSummary::of(info),
            adapter_features,
            device,
            queue,
            checked_shaders,
            share_lanes,
            wide_loads,
            backend,
            pipelines,
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

    /// The kernel versions this device runs well.
    pub fn fit(&self) -> crate::plan::DeviceFit {
        let cpu = self.is_cpu_adapter();
        crate::plan::DeviceFit {
            persistent: !cpu,
            split: self.prefers_split(),
            wide_tiles: cpu,
            row_tiles: cpu,
            workgroup_tiles: !cpu,
            paired: self.share_lanes,
        }
    }

    /// The device's limits.
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }
}

/// Runs `f` inside validation, out-of-memory and internal error scopes and returns the first
/// error wgpu reports as [`Error::Gpu`].
pub(crate) fn scoped<T>(device: &wgpu::Device, f: impl FnOnce() -> T) -> Result<T> {
    let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
    let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let value = f();
    let errors = [validation.pop(), oom.pop(), internal.pop()].map(pollster::block_on);
    match errors.into_iter().flatten().next() {
        Some(e) => Err(Error::Gpu(e.to_string())),
        None => Ok(value),
    }
}
