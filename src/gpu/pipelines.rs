//! Bind group layouts and compute pipelines: compiled once per device, the first time a plan
//! needs each, through the pipeline cache (`pipeline_cache`) where the device has one.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};

use super::context::scoped;
use super::pipeline_cache::CacheFile;
use crate::error::{Error, Result};
use crate::kernels::{BindingKind, Kernel, KernelBuild};

/// The runtime checks wgpu compiles into `kernel`. By default some are dropped where the engine
/// does not need them and they cost speed (measured on lavapipe):
/// - loop bounding: every loop in `shaders/` ends (its bounds are layer sizes and sequence
///   lengths that the host validates);
/// - bounds checks, on Vulkan only: there the driver bounds every buffer access itself
///   (`robustBufferAccess`, which Vulkan requires and wgpu enables), and the kernels' private
///   arrays are indexed below their constant sizes (`r < ROWS`, the arrays' size).
///
/// Dropping both makes the per-step kernels faster on lavapipe (BENCHMARKS.md "Kernel versions
/// (lavapipe)"). `layer_persistent` and the split-K kernels keep both (`Kernel::keeps_checks`):
/// lavapipe ran them slower without them. The workgroup-tiled kernels, made for GPUs, index
/// their workgroup arrays below their sizes by construction and drop them.
///
/// `checked` (`GpuOptions::checked_shaders`, `WGPU_RNN_CHECKED_SHADERS=1`) keeps every check.
pub fn shader_checks(kernel: Kernel, backend: wgpu::Backend, checked: bool) -> wgpu::ShaderRuntimeChecks {
    let mut checks = wgpu::ShaderRuntimeChecks::checked();
    if !checked {
        checks.force_loop_bounding = kernel.keeps_checks();
        checks.bounds_checks = kernel.keeps_checks() || backend != wgpu::Backend::Vulkan;
    }
    checks
}

/// The bind group layout entries of a kernel's bindings, in order.
pub(crate) fn layout_entries(kinds: &[BindingKind]) -> Vec<wgpu::BindGroupLayoutEntry> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let ty = match *kind {
                BindingKind::Uniform(size) | BindingKind::DynamicUniform(size) => wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: matches!(kind, BindingKind::DynamicUniform(_)),
                    min_binding_size: NonZeroU64::new(size),
                },
                BindingKind::StorageRead | BindingKind::StorageReadWrite | BindingKind::StateHalf => {
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: *kind == BindingKind::StorageRead },
                        has_dynamic_offset: *kind == BindingKind::StateHalf,
                        min_binding_size: None,
                    }
                }
            };
            wgpu::BindGroupLayoutEntry { binding: i as u32, visibility: wgpu::ShaderStages::COMPUTE, ty, count: None }
        })
        .collect()
}

/// One kernel's layout and pipeline (wgpu handles: cheap to clone).
#[derive(Clone)]
pub struct KernelPipeline {
    pub layout: wgpu::BindGroupLayout,
    pub pipeline: wgpu::ComputePipeline,
}

/// A kernel's bind group layout and pipeline layout (one bind group).
pub(crate) fn kernel_layouts(
    device: &wgpu::Device,
    label: &str,
    kinds: &[BindingKind],
) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
    let entries = layout_entries(kinds);
    let layout =
        device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(label), entries: &entries });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    (layout, pipeline_layout)
}

/// Compiles one entry point of `module`, through the device's pipeline cache when it has one.
pub(crate) fn compute_pipeline(
    device: &wgpu::Device,
    cache: Option<&CacheFile>,
    label: &str,
    layout: &wgpu::PipelineLayout,
    module: &wgpu::ShaderModule,
    entry_point: &str,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    if let Some(c) = cache {
        c.touch();
    }
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        module,
        entry_point: Some(entry_point),
        compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
        cache: cache.map(|c| &c.cache),
    })
}

/// The forward kernels' pipelines of a device. Creating it compiles nothing: each pipeline is
/// compiled the first time a plan asks for it and kept for every later model on the device.
/// Each compilation runs in its own error scope: WGSL or layout errors come back as values
/// naming the kernel.
pub struct Pipelines {
    device: wgpu::Device,
    build: KernelBuild,
    /// The runtime checks each kernel keeps (`shader_checks`).
    checks: Box<dyn Fn(Kernel) -> wgpu::ShaderRuntimeChecks + Send + Sync>,
    subgroups: bool,
    cache: Option<Arc<CacheFile>>,
    compiled: Mutex<Compiled>,
}

/// What a device has compiled so far.
#[derive(Default)]
struct Compiled {
    layouts: HashMap<Kernel, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>,
    /// By file and `ROWS`.
    modules: HashMap<(&'static str, u32), wgpu::ShaderModule>,
    /// By kernel, `ROWS` and its alignment constant.
    pipelines: HashMap<(Kernel, u32, bool), KernelPipeline>,
}

impl Pipelines {
    /// The pipelines of `build` on `device` (`Kernel::builds`; those that need subgroups only
    /// where the device has them), each kernel with the runtime checks `checks(kernel)` gives,
    /// compiled through `cache` when given. Compiles nothing yet.
    pub fn new(
        device: &wgpu::Device,
        build: KernelBuild,
        checks: impl Fn(Kernel) -> wgpu::ShaderRuntimeChecks + Send + Sync + 'static,
        cache: Option<Arc<CacheFile>>,
    ) -> Pipelines {
        Pipelines {
            device: device.clone(),
            build,
            checks: Box::new(checks),
            subgroups: device.features().contains(wgpu::Features::SUBGROUP),
            cache,
            compiled: Mutex::new(Compiled::default()),
        }
    }

    /// Whether `kernel` exists on this device (its build, and subgroups where it needs them).
    pub fn has(&self, kernel: Kernel) -> bool {
        kernel.builds().contains(&self.build) && (self.subgroups || !kernel.needs_subgroups())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Compiled> {
        // nothing is inserted half made: after a panic elsewhere the maps stay usable
        self.compiled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `kernel`'s layouts, made on first use (in an error scope: a layout the device cannot
    /// hold, e.g. more storage buffers than its limit, is an error naming the kernel).
    fn layouts(&self, c: &mut Compiled, kernel: Kernel) -> Result<(wgpu::BindGroupLayout, wgpu::PipelineLayout)> {
        if !self.has(kernel) {
            return Err(Error::invalid("kernel", format!("{kernel:?} is not built for this device")));
        }
        if let Some(l) = c.layouts.get(&kernel) {
            return Ok(l.clone());
        }
        let label = kernel.label();
        let made = scoped(&self.device, &format!("making the layouts of {label}"), || {
            kernel_layouts(&self.device, &label, kernel.binding_kinds())
        })?;
        c.layouts.insert(kernel, made.clone());
        Ok(made)
    }

    /// The bind group layout of `kernel` (one for all its pipelines).
    pub fn layout(&self, kernel: Kernel) -> Result<wgpu::BindGroupLayout> {
        let mut c = self.lock();
        Ok(self.layouts(&mut c, kernel)?.0)
    }

    /// The pipeline of `kernel` built with `ROWS = rows` (1 for kernels without `ROWS`) and
    /// its alignment constant (`Kernel::alignment_constant`) `aligned` (ignored by kernels
    /// without one), compiled now if this is its first use on the device. A kernel the device
    /// cannot compile is an error naming it (and nothing is kept).
    pub fn get(&self, kernel: Kernel, rows: u32, aligned: bool) -> Result<KernelPipeline> {
        let aligned = aligned && kernel.alignment_constant().is_some();
        let mut c = self.lock();
        if let Some(p) = c.pipelines.get(&(kernel, rows, aligned)) {
            return Ok(p.clone());
        }
        debug_assert!(kernel.row_variants().contains(&rows), "{kernel:?} has no ROWS = {rows}");
        let (layout, pipeline_layout) = self.layouts(&mut c, kernel)?;
        let label = kernel.label();
        let (module, pipeline) = scoped(&self.device, &format!("compiling the kernel {label}"), || {
            let module = c.modules.get(&(kernel.file(), rows)).cloned().unwrap_or_else(|| {
                let desc = wgpu::ShaderModuleDescriptor {
                    label: Some(&format!("wgpu-rnn.{}", kernel.file())),
                    source: wgpu::ShaderSource::Wgsl(kernel.source(self.build, rows).into()),
                };
                // SAFETY: `shader_checks` drops only the checks that these kernels and the
                // backend make unnecessary (see there).
                unsafe { self.device.create_shader_module_trusted(desc, (self.checks)(kernel)) }
            });
            let constants: Vec<(&str, f64)> =
                kernel.alignment_constant().map(|name| (name, if aligned { 1.0 } else { 0.0 })).into_iter().collect();
            let pipeline = compute_pipeline(
                &self.device,
                self.cache.as_deref(),
                &label,
                &pipeline_layout,
                &module,
                kernel.entry_point(),
                &constants,
            );
            (module, pipeline)
        })?;
        c.modules.insert((kernel.file(), rows), module);
        let made = KernelPipeline { layout, pipeline };
        c.pipelines.insert((kernel, rows, aligned), made.clone());
        Ok(made)
    }

    /// How many pipelines the device has compiled so far.
    pub fn compiled(&self) -> usize {
        self.lock().pipelines.len()
    }
}
