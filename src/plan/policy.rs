//! Variant policy: which kernel version runs a layer on which device, and the thresholds that
//! decide it. The thresholds were measured (BENCHMARKS.md, the section each names); the plan's
//! builders ask here, and nothing here builds commands.

use crate::kernels::{Kernel, PROJECTION_ROWS, TILE_ROWS, WIDE_ROWS, WIDEST_ROWS};
use crate::pack::UNIT_BLOCK;
use crate::spec::Cell;

use super::shape::NetShape;

/// How a layer's time steps run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepVariant {
    /// One dispatch (two for reset-before GRU and projected LSTM) per step; each invocation
    /// computes its hidden unit for this many batch rows (1, `TILE_ROWS`, `WIDE_ROWS` or
    /// `WIDEST_ROWS`). The `*_lanes` kernels where the device shares lanes.
    PerStep { rows: u32 },
    /// `layer_persistent`: a layer's steps, one dispatch per `PERSISTENT_STEPS` of them (H and
    /// H_out up to 128).
    Persistent,
    /// `*_step_split`: one workgroup per hidden unit splits the recurrent product over k (RNN,
    /// GRU with linear_before_reset, LSTM without projection; needs subgroups). For small
    /// batches on GPUs.
    Split { rows: u32 },
    /// `*_step_tiled`: one dispatch per step; a workgroup computes `TILED_UNITS` hidden units
    /// for `TILED_BATCH` batch rows through workgroup memory, each invocation `rows` rows (1 or
    /// `TILE_ROWS`). LSTM without projection and GRU with linear_before_reset. For large
    /// batches on GPUs.
    Tiled { rows: u32 },
    /// `*_step_sliced`: one dispatch per step; a workgroup owns a unit block
    /// (`pack::UNIT_BLOCK` units) and `rows` batch rows (1 or `TILE_ROWS`), and slices the
    /// recurrent product over k across its invocations. The cells of `Tiled`. For small
    /// batches on GPUs.
    Sliced { rows: u32 },
}

impl StepVariant {
    /// What a network and device need for this variant, for error messages.
    pub fn requirement(self) -> &'static str {
        match self {
            StepVariant::PerStep { .. } => "every network",
            StepVariant::Persistent => "H and H_out up to 128",
            StepVariant::Split { .. } => {
                "RNN, GRU with linear_before_reset or LSTM without projection, on a device with subgroups"
            }
            StepVariant::Tiled { .. } | StepVariant::Sliced { .. } => {
                "GRU with linear_before_reset or LSTM without projection"
            }
        }
    }

    /// Every variant, for tests that check each against the CPU reference.
    pub const ALL: [StepVariant; 11] = [
        StepVariant::PerStep { rows: 1 },
        StepVariant::PerStep { rows: TILE_ROWS },
        StepVariant::PerStep { rows: WIDE_ROWS },
        StepVariant::PerStep { rows: WIDEST_ROWS },
        StepVariant::Persistent,
        StepVariant::Split { rows: 1 },
        StepVariant::Split { rows: TILE_ROWS },
        StepVariant::Tiled { rows: 1 },
        StepVariant::Tiled { rows: TILE_ROWS },
        StepVariant::Sliced { rows: 1 },
        StepVariant::Sliced { rows: TILE_ROWS },
    ];
}

/// Which kernel versions a device runs well, for [`NetShape::default_variant`]
/// (`GpuContext::fit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceFit {
    /// The persistent kernel: a GPU. On a CPU driver a workgroup is one thread and its barriers
    /// are coroutine switches.
    pub persistent: bool,
    /// The split-K kernels for small batches: a GPU with subgroups.
    pub split: bool,
    /// The widest tiles: 16 batch rows per step invocation for batches over 8, and 32 rows per
    /// input projection invocation from 256 rows: a CPU driver, where every weight load is a
    /// loop over the SIMD row's lanes, so each load should feed as many rows as the registers
    /// hold. GPUs keep 16 projection rows.
    pub wide_tiles: bool,
    /// Per-step kernels with several batch rows per invocation: a CPU driver. On a GPU one row
    /// per invocation is faster (more invocations hide more latency).
    pub row_tiles: bool,
    /// The workgroup-tiled and sliced step kernels (workgroups that share their loads through
    /// workgroup memory): a GPU.
    pub workgroup_tiles: bool,
    /// The `*_lanes` kernels in place of the portable ones (`Kernel::lanes`): a device whose
    /// build shares lanes (`KernelBuild::shares_lanes`). Must match the build: only that build
    /// compiles them.
    pub lanes: bool,
}

impl DeviceFit {
    /// The version of `kernel` this device runs: its `*_lanes` twin where lanes are shared.
    pub fn kernel(self, kernel: Kernel) -> Kernel {
        if self.lanes { kernel.lanes().unwrap_or(kernel) } else { kernel }
    }
}

/// Stackable LSTM (without projection) and GRU (linear_before_reset) layers up to this hidden
/// size run as wavefront stacks on CPU drivers. Above it a stack's upper layers, which multiply
/// their input one step at a time, lose to a projection that takes all T*B rows of a layer at
/// once (BENCHMARKS.md "Wavefront stacks (lavapipe)").
pub const STACKED_HIDDEN: usize = 128;

/// The same for RNN layers and for the cells with two kernels per step (GRU with
/// linear_before_reset = 0, LSTM with a projection), which pay more dispatches per unit of
/// work layer by layer, so stacking pays up to larger layers.
pub const STACKED_HIDDEN_MANY_DISPATCHES: usize = 256;

/// Batches up to this size take the split-K kernels on GPUs where a cell has no sliced kernel.
pub const SPLIT_BATCH: usize = 4;

/// Batches up to this size take the sliced kernels on GPUs; larger ones the workgroup-tiled
/// kernels, whose weights read once serve a tile of 16 rows (BENCHMARKS.md "Kernel versions on
/// the H200").
pub const SLICED_BATCH: usize = 16;

/// Layers up to this hidden size take the sliced kernels on GPUs for every batch: too few unit
/// blocks to fill a GPU with tiles.
pub const SLICED_HIDDEN: usize = 128;

/// Where a sliced step would have more workgroups (unit blocks times batch rows) than this,
/// each takes `TILE_ROWS` rows and reads its weights once for them; below, one row each keeps
/// more workgroups in flight.
pub const SLICED_WORKGROUPS: usize = 1024;

/// Layers up to this hidden size take the persistent kernel on GPUs (and RNN layers up to the
/// kernel's limit): there its single dispatch beats per-step kernels, and above it one
/// workgroup per sequence runs out of parallelism (BENCHMARKS.md "Kernel versions on the H200").
pub const SMALL_HIDDEN: usize = 64;

/// Whether on a GPU the persistent kernel (one workgroup walking every step of a layer) beats
/// a dispatch per step for a layer of `cell` with `hidden` units, where it fits: RNN layers and
/// layers up to `SMALL_HIDDEN` units. The forward's rule, and the training walk's
/// (`TrainLayer::small`, which also takes it for the cells with two dispatches per step).
pub fn persistent_beats_steps(cell: Cell, hidden: usize) -> bool {
    cell == Cell::Rnn || hidden <= SMALL_HIDDEN
}

impl NetShape {
    /// The variant chosen for batch `b` on a device that runs `fit` well.
    ///
    /// Where `fit.row_tiles` (CPU drivers): per-step kernels, batch-tiled when there is more
    /// than one row (`TILE_ROWS` rows per invocation up to 4, `WIDE_ROWS` above, `WIDEST_ROWS`
    /// above 8 where `fit.wide_tiles`).
    ///
    /// Elsewhere (GPUs): the persistent kernel for RNN layers and layers of at most
    /// `SMALL_HIDDEN` units; the sliced kernel up to `SLICED_BATCH` rows, or any batch up to
    /// `SLICED_HIDDEN` units (4 rows per workgroup once the blocks times the rows exceed
    /// `SLICED_WORKGROUPS`, else 1); above, the workgroup-tiled kernel. Cells without those
    /// kernels: the split-K kernel up to `SPLIT_BATCH` rows, else the persistent kernel where
    /// the layer fits it, else per-step kernels with one row per invocation.
    pub fn default_variant(&self, b: usize, fit: DeviceFit) -> StepVariant {
        if fit.row_tiles {
            return self.row_tiled_variant(b, fit);
        }
        let persistent = fit.persistent && self.supports(StepVariant::Persistent);
        let blocks = self.hidden.div_ceil(UNIT_BLOCK);
        let sliced_rows = if blocks * b > SLICED_WORKGROUPS { TILE_ROWS } else { 1 };
        let sliced = StepVariant::Sliced { rows: sliced_rows };
        let tiled = StepVariant::Tiled { rows: 1 };
        if persistent && persistent_beats_steps(self.cell, self.hidden) {
            StepVariant::Persistent
        } else if fit.workgroup_tiles && self.supports(sliced) && (b <= SLICED_BATCH || self.hidden <= SLICED_HIDDEN) {
            sliced
        } else if fit.workgroup_tiles && self.supports(tiled) {
            tiled
        } else if fit.split && b <= SPLIT_BATCH && self.supports(StepVariant::Split { rows: 1 }) {
            StepVariant::Split { rows: 1 }
        } else if persistent {
            StepVariant::Persistent
        } else {
            StepVariant::PerStep { rows: 1 }
        }
    }

    /// `default_variant` on CPU drivers: batch-tiled per-step kernels.
    fn row_tiled_variant(&self, b: usize, fit: DeviceFit) -> StepVariant {
        if fit.wide_tiles && b > WIDE_ROWS as usize {
            StepVariant::PerStep { rows: WIDEST_ROWS }
        } else if b > TILE_ROWS as usize {
            StepVariant::PerStep { rows: WIDE_ROWS }
        } else if b > 1 {
            StepVariant::PerStep { rows: TILE_ROWS }
        } else {
            StepVariant::PerStep { rows: 1 }
        }
    }

    /// Whether the default plan runs the layers as a wavefront stack: where they can, with
    /// per-step kernels (the kernels that take a stack's input product), on CPU drivers
    /// (`fit.row_tiles`) up to `STACKED_HIDDEN` units, or `STACKED_HIDDEN_MANY_DISPATCHES` for
    /// RNN and the cells with two kernels per step. Not on GPUs yet: their variants are others,
    /// and stacks there are unmeasured.
    pub fn default_stacked(&self, variant: StepVariant, fit: DeviceFit) -> bool {
        let most = if self.cell == Cell::Rnn || self.step_kernels().len() == 2 {
            STACKED_HIDDEN_MANY_DISPATCHES
        } else {
            STACKED_HIDDEN
        };
        self.stackable() && matches!(variant, StepVariant::PerStep { .. }) && fit.row_tiles && self.hidden <= most
    }
}

/// Rows per invocation of the input projection over `m` rows (the module's `ROWS`):
/// `PROJECTION_ROWS` from 256 rows where `fit.wide_tiles`, 16 from 64 rows, else 8.
pub fn projection_rows(m: usize, fit: DeviceFit) -> u32 {
    if m >= 256 && fit.wide_tiles {
        PROJECTION_ROWS
    } else if m >= 64 {
        WIDEST_ROWS
    } else {
        WIDE_ROWS
    }
}
