//! The WGSL kernels: one file per kernel in `shaders/`, versions as entry points, shared code in
//! `shaders/shared/`. One name runs end to end: `lstm_step.wgsl`, entry point `lstm_step`, CPU twin
//! `cpu::lstm_step`, label `"wgpu-rnn.lstm_step"`.

/// How a kernel binds one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingKind {
    /// A uniform struct of this many bytes.
    Uniform(u64),
    /// A uniform struct selected per dispatch with a dynamic offset (the step index).
    DynamicUniform(u64),
    StorageRead,
    StorageReadWrite,
    /// One half of the ping-pong state `plan::Buf::H`, read_write storage at a dynamic offset:
    /// step kernels bind the half they read and the half they write (never the same range, so
    /// the two writable bindings do not alias).
    StateHalf,
}

/// Every compute entry point the engine dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kernel {
    InputProjection,
    RnnStep,
    RnnStepSplit,
    GruStep,
    GruStepSplit,
    GruStepTiled,
    GruStepSliced,
    GruGates,
    GruCandidate,
    LstmStep,
    LstmStepSplit,
    LstmStepTiled,
    LstmStepSliced,
    LstmProject,
    MergeDirections,
    LayerPersistent,
}

const ACTIVATIONS: &str = include_str!("../shaders/shared/activations.wgsl");
const LAYER_PARAMS: &str = include_str!("../shaders/shared/layer_params.wgsl");
const ROWS: &str = include_str!("../shaders/shared/rows.wgsl");
const LSTM_CELL: &str = include_str!("../shaders/shared/lstm_cell.wgsl");
const SPLIT: &str = include_str!("../shaders/shared/split.wgsl");
const TILES: &str = include_str!("../shaders/shared/tiles.wgsl");
const SLICES: &str = include_str!("../shaders/shared/slices.wgsl");
const BLOCKED: &str = include_str!("../shaders/shared/blocked.wgsl");
const STATE_VEC4: &str = include_str!("../shaders/shared/state_vec4.wgsl");
const VEC4_READS: &str = include_str!("../shaders/shared/vec4_reads.wgsl");
const LANES: &str = include_str!("../shaders/shared/lanes.wgsl");
const LANES_OFF: &str = include_str!("../shaders/shared/lanes_off.wgsl");
const WIDE_LOADS: &str = include_str!("../shaders/shared/wide_loads.wgsl");
const WIDE_LOADS_OFF: &str = include_str!("../shaders/shared/wide_loads_off.wgsl");

/// How a device's kernels are built: the load tricks for CPU drivers, where every storage load
/// is a loop over the SIMD row's lanes (`GpuContext::share_lanes`, `GpuContext::wide_loads`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelBuild {
    /// Share loads of h and input rows across subgroup lanes (`shaders/shared/lanes.wgsl`,
    /// needs `Features::SUBGROUP`).
    pub share_lanes: bool,
    /// Read weights and inputs as 64-bit pairs of floats (`shaders/shared/wide_loads.wgsl`,
    /// needs `Features::SHADER_INT64`).
    pub wide_loads: bool,
}

impl KernelBuild {
    /// Every combination, for validating each build of the kernels.
    pub const ALL: [KernelBuild; 4] = [
        KernelBuild { share_lanes: false, wide_loads: false },
        KernelBuild { share_lanes: true, wide_loads: false },
        KernelBuild { share_lanes: false, wide_loads: true },
        KernelBuild { share_lanes: true, wide_loads: true },
    ];
}

/// Batch rows per invocation of the tiled step kernels (module constant `ROWS`, `Kernel::source`).
pub const TILE_ROWS: u32 = 4;

/// Batch rows per invocation of the per-step kernels' wide tiling, for batches over
/// `TILE_ROWS`; also the input projection's rows per invocation.
pub const WIDE_ROWS: u32 = 8;

/// Batch rows per invocation of the per-step kernels' widest tiling, for batches over
/// `WIDE_ROWS` on CPU adapters (`plan::DeviceFit::wide_tiles`), and the input projection's rows
/// per invocation where it has many.
pub const WIDEST_ROWS: u32 = 16;

/// Rows per invocation of the input projection where it has very many, on CPU adapters
/// (`plan::DeviceFit::wide_tiles`).
pub const PROJECTION_ROWS: u32 = 32;

/// Size of `LayerParams` in WGSL (8 words + 6 `Act` of 16 bytes).
pub const LAYER_PARAMS_SIZE: u64 = 128;
/// Size of the small 4-word uniform structs (`StepParams`, `MatmulParams`, `MergeParams`).
pub const SMALL_PARAMS_SIZE: u64 = 16;

impl Kernel {
    /// All kernels.
    pub const ALL: [Kernel; 16] = [
        Kernel::InputProjection,
        Kernel::RnnStep,
        Kernel::RnnStepSplit,
        Kernel::GruStep,
        Kernel::GruStepSplit,
        Kernel::GruStepTiled,
        Kernel::GruStepSliced,
        Kernel::GruGates,
        Kernel::GruCandidate,
        Kernel::LstmStep,
        Kernel::LstmStepSplit,
        Kernel::LstmStepTiled,
        Kernel::LstmStepSliced,
        Kernel::LstmProject,
        Kernel::MergeDirections,
        Kernel::LayerPersistent,
    ];

    /// Entry point name (also the CPU twin's name).
    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::InputProjection => "input_projection",
            Kernel::RnnStep => "rnn_step",
            Kernel::RnnStepSplit => "rnn_step_split",
            Kernel::GruStep => "gru_step",
            Kernel::GruStepSplit => "gru_step_split",
            Kernel::GruStepTiled => "gru_step_tiled",
            Kernel::GruStepSliced => "gru_step_sliced",
            Kernel::GruGates => "gru_gates",
            Kernel::GruCandidate => "gru_candidate",
            Kernel::LstmStep => "lstm_step",
            Kernel::LstmStepSplit => "lstm_step_split",
            Kernel::LstmStepTiled => "lstm_step_tiled",
            Kernel::LstmStepSliced => "lstm_step_sliced",
            Kernel::LstmProject => "lstm_project",
            Kernel::MergeDirections => "merge_directions",
            Kernel::LayerPersistent => "layer_persistent",
        }
    }

    /// The shader file that holds the entry point.
    pub fn file(self) -> &'static str {
        match self {
            Kernel::InputProjection => "input_projection.wgsl",
            Kernel::RnnStep => "rnn_step.wgsl",
            Kernel::RnnStepSplit => "rnn_step_split.wgsl",
            Kernel::GruStepSplit => "gru_step_split.wgsl",
            Kernel::GruStepTiled => "gru_step_tiled.wgsl",
            Kernel::GruStepSliced => "gru_step_sliced.wgsl",
            Kernel::GruStep | Kernel::GruGates | Kernel::GruCandidate => "gru_step.wgsl",
            Kernel::LstmStep => "lstm_step.wgsl",
            Kernel::LstmStepSplit => "lstm_step_split.wgsl",
            Kernel::LstmStepTiled => "lstm_step_tiled.wgsl",
            Kernel::LstmStepSliced => "lstm_step_sliced.wgsl",
            Kernel::LstmProject => "lstm_project.wgsl",
            Kernel::MergeDirections => "merge_directions.wgsl",
            Kernel::LayerPersistent => "layer_persistent.wgsl",
        }
    }

    /// wgpu label of everything made for this kernel.
    pub fn label(self) -> String {
        format!("wgpu-rnn.{}", self.entry_point())
    }

    /// The per-step kernel whose file a split-K, workgroup-tiled or sliced kernel's module
    /// starts with: that kernel uses its bindings and ends with its function for the gates and
    /// state update.
    pub fn twin(self) -> Option<Kernel> {
        match self {
            Kernel::RnnStepSplit => Some(Kernel::RnnStep),
            Kernel::GruStepSplit | Kernel::GruStepTiled | Kernel::GruStepSliced => Some(Kernel::GruStep),
            Kernel::LstmStepSplit | Kernel::LstmStepTiled | Kernel::LstmStepSliced => Some(Kernel::LstmStep),
            _ => None,
        }
    }

    /// The complete WGSL module of the kernel's pipeline with `rows` batch rows per invocation
    /// (one of `row_variants`): the constant `ROWS`, shared code, then the kernel file (a
    /// split-K, tiled or sliced kernel's file after its twin's, see `twin`), built as `build`
    /// says.
    ///
    /// `ROWS` is a module constant rather than a pipeline constant because it also sizes the
    /// kernels' private arrays: lavapipe keeps such an array in registers only where every loop
    /// over it unrolls to its full size (arrays of 16 with `ROWS = 4`: LSTM H1024 B4 steps
    /// 171 -> 160 ms when sized 4; the projection's arrays of 32 with 16 rows: 50x slower).
    pub fn source(self, build: KernelBuild, rows: u32) -> String {
        let lanes = if build.share_lanes { LANES } else { LANES_OFF };
        let wide = if build.wide_loads { WIDE_LOADS } else { WIDE_LOADS_OFF };
        let own = Self::file_text(self.file());
        let body = match self.twin() {
            Some(twin) => format!("{}\n{own}", Self::file_text(twin.file())),
            None => own.to_string(),
        };
        let lstm_cell = if matches!(
            self,
            Kernel::LstmStep
                | Kernel::LstmStepSplit
                | Kernel::LstmStepTiled
                | Kernel::LstmStepSliced
                | Kernel::LayerPersistent
        ) {
            LSTM_CELL
        } else {
            ""
        };
        let split = if self.needs_subgroups() {
            SPLIT
        } else if self.is_workgroup_tiled() {
            TILES
        } else if self.is_sliced() {
            SLICES
        } else {
            ""
        };
        let state_vec4 = if self.reads_state_as_vec4() || self.twin().is_some() { STATE_VEC4 } else { "" };
        let module = match (self.is_step(), self == Kernel::LayerPersistent) {
            (true, _) => {
                format!(
                    "{ACTIVATIONS}\n{LAYER_PARAMS}\n{BLOCKED}\n{ROWS}\n{lstm_cell}\n{split}\n{lanes}\n{wide}\n{VEC4_READS}\n{state_vec4}\n{body}"
                )
            }
            (false, true) => format!("{ACTIVATIONS}\n{LAYER_PARAMS}\n{BLOCKED}\n{lstm_cell}\n{body}"),
            (false, false) if self == Kernel::MergeDirections => body,
            (false, false) => format!("{BLOCKED}\n{lanes}\n{wide}\n{VEC4_READS}\n{body}"),
        };
        format!("const ROWS: u32 = {rows}u; // batch rows per invocation (kernels.rs Kernel::source)\n{module}")
    }

    /// The text of a file in `shaders/`.
    fn file_text(file: &str) -> &'static str {
        match file {
            "input_projection.wgsl" => include_str!("../shaders/input_projection.wgsl"),
            "rnn_step.wgsl" => include_str!("../shaders/rnn_step.wgsl"),
            "rnn_step_split.wgsl" => include_str!("../shaders/rnn_step_split.wgsl"),
            "gru_step_split.wgsl" => include_str!("../shaders/gru_step_split.wgsl"),
            "gru_step_tiled.wgsl" => include_str!("../shaders/gru_step_tiled.wgsl"),
            "gru_step_sliced.wgsl" => include_str!("../shaders/gru_step_sliced.wgsl"),
            "gru_step.wgsl" => include_str!("../shaders/gru_step.wgsl"),
            "lstm_step.wgsl" => include_str!("../shaders/lstm_step.wgsl"),
            "lstm_step_split.wgsl" => include_str!("../shaders/lstm_step_split.wgsl"),
            "lstm_step_tiled.wgsl" => include_str!("../shaders/lstm_step_tiled.wgsl"),
            "lstm_step_sliced.wgsl" => include_str!("../shaders/lstm_step_sliced.wgsl"),
            "lstm_project.wgsl" => include_str!("../shaders/lstm_project.wgsl"),
            "layer_persistent.wgsl" => include_str!("../shaders/layer_persistent.wgsl"),
            _ => include_str!("../shaders/merge_directions.wgsl"),
        }
    }

    /// Whether the kernel runs once per time step (binding 1 is the dynamic step uniform, and
    /// the module constant `ROWS` picks its batch tiling).
    pub fn is_step(self) -> bool {
        !matches!(self, Kernel::InputProjection | Kernel::MergeDirections | Kernel::LayerPersistent)
    }

    /// Whether the kernel synchronizes its workgroup with `workgroupBarrier`.
    pub fn has_barriers(self) -> bool {
        self == Kernel::LayerPersistent || self.is_cooperative_step()
    }

    /// Whether the kernel is a per-step kernel whose workgroup computes its units together
    /// (split-K, workgroup-tiled or sliced): built for 1 and `TILE_ROWS` rows, with barriers.
    pub fn is_cooperative_step(self) -> bool {
        self.needs_subgroups() || self.is_workgroup_tiled() || self.is_sliced()
    }

    /// Whether the kernel slices the recurrent product of a unit block over its workgroup
    /// (`StepVariant::Sliced`).
    pub fn is_sliced(self) -> bool {
        matches!(self, Kernel::LstmStepSliced | Kernel::GruStepSliced)
    }

    /// Whether the kernel keeps wgpu's runtime checks even where the engine drops them
    /// (`gpu::pipelines::shader_checks`): the persistent and split-K kernels, which lavapipe
    /// ran slower without them.
    pub fn keeps_checks(self) -> bool {
        self == Kernel::LayerPersistent || self.needs_subgroups()
    }

    /// Whether the kernel computes a tile of units and batch rows per workgroup through
    /// workgroup memory (`StepVariant::Tiled`).
    pub fn is_workgroup_tiled(self) -> bool {
        matches!(self, Kernel::LstmStepTiled | Kernel::GruStepTiled)
    }

    /// Whether the kernel built for `rows` rows per invocation computes two units per invocation
    /// where lanes are shared (`PAIRED` in shaders/shared/lanes.wgsl; `lstm_step` from two rows
    /// on, `LSTM_PAIRED`; `plan::unit_workgroups` sizes the dispatches).
    pub fn pairs_units(self, rows: u32) -> bool {
        match self {
            Kernel::InputProjection | Kernel::RnnStep | Kernel::GruStep | Kernel::GruGates | Kernel::GruCandidate => {
                true
            }
            Kernel::LstmStep => rows > 1,
            _ => false,
        }
    }

    /// Whether the kernel needs `Features::SUBGROUP` (it is built only where the device has it).
    pub fn needs_subgroups(self) -> bool {
        matches!(self, Kernel::RnnStepSplit | Kernel::GruStepSplit | Kernel::LstmStepSplit)
    }

    /// The pipeline constant that says the kernel's vec4 reads start on a vec4 (each pipeline
    /// is built with it false and true; `plan::NetShape::aligned` picks): the projection's
    /// `INPUT_ALIGNED`, the step kernels' `STATE_ALIGNED` (h read as vec4s,
    /// `shaders/shared/state_vec4.wgsl`).
    pub fn alignment_constant(self) -> Option<&'static str> {
        if self == Kernel::InputProjection {
            Some("INPUT_ALIGNED")
        } else if self.reads_state_as_vec4() {
            Some("STATE_ALIGNED")
        } else {
            None
        }
    }

    /// Whether the kernel reads h as vec4s (`shaders/shared/state_vec4.wgsl`), with the
    /// pipeline constant `STATE_ALIGNED`.
    pub fn reads_state_as_vec4(self) -> bool {
        matches!(
            self,
            Kernel::LstmStep
                | Kernel::LstmStepTiled
                | Kernel::LstmStepSliced
                | Kernel::RnnStep
                | Kernel::GruStep
                | Kernel::GruStepTiled
                | Kernel::GruStepSliced
                | Kernel::GruGates
                | Kernel::GruCandidate
        )
    }

    /// The values of its alignment constant the kernel is built for (`false` only where it has
    /// none).
    pub fn aligned_variants(self) -> &'static [bool] {
        if self.alignment_constant().is_some() { &[false, true] } else { &[false] }
    }

    /// The `ROWS` values the kernel is built for (`[1]`: the kernel does not tile rows).
    pub fn row_variants(self) -> &'static [u32] {
        match (self.is_step(), self.is_cooperative_step()) {
            (true, false) => &[1, TILE_ROWS, WIDE_ROWS, WIDEST_ROWS],
            (true, true) => &[1, TILE_ROWS],
            (false, _) if self == Kernel::InputProjection => &[WIDE_ROWS, WIDEST_ROWS, PROJECTION_ROWS],
            (false, _) => &[1],
        }
    }

    /// The kernel's bindings in order; `plan::bindings` names the buffers in the same order.
    pub fn binding_kinds(self) -> &'static [BindingKind] {
        use BindingKind::*;
        const LP: BindingKind = Uniform(LAYER_PARAMS_SIZE);
        const SP: BindingKind = DynamicUniform(SMALL_PARAMS_SIZE);
        match self {
            Kernel::InputProjection => {
                &[Uniform(SMALL_PARAMS_SIZE), StorageRead, StorageRead, StorageRead, StorageReadWrite]
            }
            Kernel::RnnStep | Kernel::RnnStepSplit => {
                &[LP, SP, StorageRead, StorageRead, StorageRead, StateHalf, StateHalf, StorageReadWrite]
            }
            Kernel::GruStep
            | Kernel::GruStepSplit
            | Kernel::GruStepTiled
            | Kernel::GruStepSliced
            | Kernel::GruGates
            | Kernel::GruCandidate => &[
                LP,
                SP,
                StorageRead,
                StorageRead,
                StorageRead,
                StorageRead,
                StateHalf,
                StateHalf,
                StorageReadWrite,
                StorageReadWrite,
            ],
            Kernel::LstmStep | Kernel::LstmStepSplit | Kernel::LstmStepTiled | Kernel::LstmStepSliced => &[
                LP,
                SP,
                StorageRead,
                StorageRead,
                StorageRead,
                StorageRead,
                StateHalf,
                StateHalf,
                StorageReadWrite,
                StorageReadWrite,
            ],
            Kernel::LstmProject => {
                &[LP, SP, StorageRead, StorageRead, StorageRead, StateHalf, StateHalf, StorageReadWrite]
            }
            Kernel::MergeDirections => &[Uniform(SMALL_PARAMS_SIZE), StorageRead, StorageReadWrite],
            Kernel::LayerPersistent => &[
                LP,
                StorageRead,
                StorageRead,
                StorageRead,
                StorageRead,
                StorageReadWrite,
                StorageReadWrite,
                StorageReadWrite,
                StorageRead,
            ],
        }
    }

    /// Invocations per workgroup along x (the step kernels and merge use 64; the matmul 8x8;
    /// the persistent kernel one workgroup of `PERSISTENT_UNITS` per sequence and direction).
    pub fn workgroup_x(self) -> u32 {
        match self {
            Kernel::InputProjection => 8,
            Kernel::LayerPersistent => PERSISTENT_UNITS as u32,
            Kernel::LstmStepTiled | Kernel::GruStepTiled => TILED_UNITS as u32,
            Kernel::LstmStepSliced | Kernel::GruStepSliced => crate::pack::UNIT_BLOCK as u32,
            _ => 64,
        }
    }
}

/// Hidden units per workgroup of the workgroup-tiled step kernels (their `TILE_UNITS`); each
/// workgroup also takes `TILED_BATCH` batch rows (`TILE_BATCH`).
pub const TILED_UNITS: usize = 16;
pub const TILED_BATCH: usize = 16;

/// Largest H and H_out `layer_persistent.wgsl` holds (its `UNITS`).
pub const PERSISTENT_UNITS: usize = 128;
