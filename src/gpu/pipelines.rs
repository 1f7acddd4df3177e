//! Bind group layouts and compute pipelines, created once per device for every kernel.

use std::collections::HashMap;
use std::num::NonZeroU64;

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

/// One kernel's layout and pipeline.
pub struct KernelPipeline {
    pub layout: wgpu::BindGroupLayout,
    pub pipeline: wgpu::ComputePipeline,
}

/// All pipelines of a device.
pub struct Pipelines {
    /// By kernel, `ROWS` and its alignment constant.
    by_kernel: HashMap<(Kernel, u32, bool), KernelPipeline>,
}

impl Pipelines {
    /// Compiles every kernel of `build` (`Kernel::builds`; those that need subgroups only where
    /// the device has them), each with the runtime checks `checks(kernel)` gives. Call inside
    /// an error scope: WGSL or layout errors surface there.
    pub fn new(
        device: &wgpu::Device,
        build: KernelBuild,
        checks: impl Fn(Kernel) -> wgpu::ShaderRuntimeChecks,
    ) -> Pipelines {
        let mut modules: HashMap<(&'static str, u32), wgpu::ShaderModule> = HashMap::new();
        let mut by_kernel = HashMap::new();
        let subgroups = device.features().contains(wgpu::Features::SUBGROUP);
        let built = |k: &Kernel| k.builds().contains(&build) && (subgroups || !k.needs_subgroups());
        for kernel in Kernel::ALL.into_iter().filter(built) {
            let entries = layout_entries(kernel.binding_kinds());
            let label = kernel.label();
            let layout = device
                .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(&label), entries: &entries });
            let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(&label),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            for &rows in kernel.row_variants() {
                let module = modules.entry((kernel.file(), rows)).or_insert_with(|| {
                    let desc = wgpu::ShaderModuleDescriptor {
                        label: Some(&format!("wgpu-rnn.{}", kernel.file())),
                        source: wgpu::ShaderSource::Wgsl(kernel.source(build, rows).into()),
                    };
                    // SAFETY: `shader_checks` drops only the checks that these kernels and the
                    // backend make unnecessary (see there).
                    unsafe { device.create_shader_module_trusted(desc, checks(kernel)) }
                });
                for &aligned in kernel.aligned_variants() {
                    let mut constants = Vec::new();
                    if let Some(name) = kernel.alignment_constant() {
                        constants.push((name, if aligned { 1.0 } else { 0.0 }));
                    }
                    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some(&label),
                        layout: Some(&pipeline_layout),
                        module,
                        entry_point: Some(kernel.entry_point()),
                        compilation_options: wgpu::PipelineCompilationOptions {
                            constants: &constants,
                            ..Default::default()
                        },
                        cache: None,
                    });
                    by_kernel.insert((kernel, rows, aligned), KernelPipeline { layout: layout.clone(), pipeline });
                }
            }
        }
        Pipelines { by_kernel }
    }

    /// One of `kernel`'s pipelines (its first `ROWS`, not aligned), if it was built.
    fn any(&self, kernel: Kernel) -> Option<&KernelPipeline> {
        self.by_kernel.get(&(kernel, kernel.row_variants()[0], false))
    }

    /// Whether `kernel` was built for this device.
    pub fn has(&self, kernel: Kernel) -> bool {
        self.any(kernel).is_some()
    }

    /// The bind group layout of `kernel` (one for all its pipelines).
    pub fn layout(&self, kernel: Kernel) -> &wgpu::BindGroupLayout {
        &self.any(kernel).expect("layouts are asked only for kernels the device built").layout
    }

    /// The pipeline of `kernel` built with `ROWS = rows` (1 for kernels without `ROWS`) and
    /// its alignment constant (`Kernel::alignment_constant`) `aligned` (ignored by kernels
    /// without one).
    pub fn get(&self, kernel: Kernel, rows: u32, aligned: bool) -> &KernelPipeline {
        &self.by_kernel[&(kernel, rows, aligned && kernel.alignment_constant().is_some())]
    }
}
