//! The WGSL kernels: what each is, when the plan picks it, and how its module is put together.
//!
//! Start with [`KERNELS`], the table of every kernel version. A kernel's file in `shaders/` is
//! its whole story: a header (tensors with their shapes, the versions that exist), the
//! bindings, the entry point and its helpers. The files it builds on are declared in the file
//! itself, on `// uses:` lines (paths in `shaders/` without `.wgsl`: `shared/rows`, or another
//! kernel's file such as `lstm_step`, whose bindings and end a variant shares). [`Kernel::source`]
//! joins a constant prelude ([`prelude`]: `ROWS` and every constant Rust shares with the
//! kernels) with the file and everything it uses, each file once; `wgpu-rnn kernels --source
//! NAME` prints the result.
//!
//! A kernel file is the portable version. What only CPU drivers need lives in twin files: the
//! `*_lanes` kernels share loads across subgroup lanes and compute two units per invocation,
//! and the build [`KernelBuild::LanesWide`] swaps `shared/loads` for `shared/loads_wide` (floats
//! read as 64-bit pairs). One name runs end to end: `lstm_step.wgsl`, entry point `lstm_step`,
//! CPU twin `cpu::lstm_step`, [`Kernel::LstmStep`], label `"wgpu-rnn.lstm_step"`.

use std::fmt::Write as _;

use crate::kernels::KernelBuild::{Lanes, LanesWide, Portable};

/// One kernel version: a row of [`KERNELS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelVersion {
    pub kernel: Kernel,
    /// The entry point (also the kernel's label and, for the plain kernels, its CPU twin's name).
    pub entry_point: &'static str,
    /// The file in `shaders/` that holds the entry point, without `.wgsl`.
    pub file: &'static str,
    /// The values of the module constant `ROWS` it is built for (batch rows per invocation;
    /// `[1]`: it does not tile rows).
    pub rows: &'static [u32],
    /// Its pipeline constant, built false and true (`plan::NetShape::aligned` picks).
    pub constant: Option<&'static str>,
    /// The builds it is compiled in.
    pub builds: &'static [KernelBuild],
    /// When the plan picks it (`plan::policy`).
    pub picked: &'static str,
    /// The section of BENCHMARKS.md with its measurements.
    pub benchmarks: &'static str,
}

const STEP_ROWS: &[u32] = &[1, TILE_ROWS, WIDE_ROWS, WIDEST_ROWS];
const COOPERATIVE_ROWS: &[u32] = &[1, TILE_ROWS];
const PROJECTION_ROW_VARIANTS: &[u32] = &[WIDE_ROWS, WIDEST_ROWS, PROJECTION_ROWS];
const ONE_ROW: &[u32] = &[1];
const PORTABLE: &[KernelBuild] = &[Portable];
const LANES_BUILDS: &[KernelBuild] = &[Lanes, LanesWide];
const EVERY_BUILD: &[KernelBuild] = &KernelBuild::ALL;
const STATE: Option<&str> = Some("STATE_ALIGNED");
const LAVAPIPE: &str = "Kernel versions (lavapipe)";
const H200: &str = "Kernel versions on the H200";

/// Every kernel version, in the order of [`Kernel::ALL`] (a test checks both, and that each
/// file has its entry point and each section exists). `wgpu-rnn kernels` prints this table.
#[rustfmt::skip]
pub const KERNELS: [KernelVersion; 22] = [
    KernelVersion { kernel: Kernel::InputProjection, entry_point: "input_projection", file: "input_projection",
        rows: PROJECTION_ROW_VARIANTS, constant: Some("INPUT_ALIGNED"), builds: PORTABLE,
        picked: "every layer's input projection where lanes are not shared; ROWS 8, 16 from 64 rows, 32 from 256 rows on CPU drivers",
        benchmarks: LAVAPIPE },
    KernelVersion { kernel: Kernel::InputProjectionLanes, entry_point: "input_projection_lanes", file: "input_projection_lanes",
        rows: PROJECTION_ROW_VARIANTS, constant: Some("INPUT_ALIGNED"), builds: LANES_BUILDS,
        picked: "input_projection's place where lanes are shared (CPU drivers with 8-wide subgroups)",
        benchmarks: LAVAPIPE },
    KernelVersion { kernel: Kernel::RnnStep, entry_point: "rnn_step", file: "rnn_step",
        rows: STEP_ROWS, constant: STATE, builds: PORTABLE,
        picked: "RNN steps on CPU drivers without lane sharing (ROWS by batch); on GPUs above H 128 and batch 4",
        benchmarks: LAVAPIPE },
    KernelVersion { kernel: Kernel::RnnStepLanes, entry_point: "rnn_step_lanes", file: "rnn_step_lanes",
        rows: STEP_ROWS, constant: STATE, builds: LANES_BUILDS,
        picked: "rnn_step's place where lanes are shared",
        benchmarks: LAVAPIPE },
    KernelVersion { kernel: Kernel::RnnStepSplit, entry_point: "rnn_step_split", file: "rnn_step_split",
        rows: COOPERATIVE_ROWS, constant: None, builds: EVERY_BUILD,
        picked: "RNN steps on GPUs with subgroups above H 128, batch up to SPLIT_BATCH",
        benchmarks: H200 },
    KernelVersion { kernel: Kernel::GruStep, entry_point: "gru_step", file: "gru_step",
        rows: STEP_ROWS, constant: STATE, builds: PORTABLE,
        picked: "PyTorch GRU (linear_before_reset = 1) steps on CPU drivers without lane sharing",
        benchmarks: LAVAPIPE },
    KernelVersion { kernel: Kernel::GruStepLanes, entry_point: "gru_step_lanes", file: "gru_step_lanes",
        rows: STEP_ROWS, constant: STATE, builds: LANES_BUILDS,
        picked: "gru_step's place where lanes are shared",
        benchmarks: LAVAPIPE },
    KernelVersion { kernel: Kernel::GruStepSplit, entry_point: "gru_step_split", file: "gru_step_split",
        rows: COOPERATIVE_ROWS, constant: None, builds: EVERY_BUILD,
        picked: "only when forced (bench --variant split1|split4); gru_step_sliced replaced it",
        benchmarks: H200 },
    KernelVersion { kernel: Kernel::GruStepTiled, entry_point: "gru_step_tiled", file: "gru_step_tiled",
        rows: COOPERATIVE_ROWS, constant: STATE, builds: EVERY_BUILD,
        picked: "PyTorch GRU steps on GPUs above H 128 and batch 16 (ROWS 1)",
        benchmarks: H200 },
    KernelVersion { kernel: Kernel::GruStepSliced, entry_point: "gru_step_sliced", file: "gru_step_sliced",
        rows: COOPERATIVE_ROWS, constant: STATE, builds: EVERY_BUILD,
        picked: "PyTorch GRU steps on GPUs above H 64, batch up to SLICED_BATCH or H up to SLICED_HIDDEN (ROWS 4 past SLICED_WORKGROUPS)",
        benchmarks: H200 },
    KernelVersion { kernel: Kernel::GruGates, entry_point: "gru_gates", file: "gru_step",
        rows: STEP_ROWS, constant: STATE, builds: PORTABLE,
        picked: "ONNX GRU (linear_before_reset = 0) steps, phase 1: GPUs above H 64, CPU drivers without lane sharing",
        benchmarks: LAVAPIPE },
    KernelVersion { kernel: Kernel::GruGatesLanes, entry_point: "gru_gates_lanes", file: "gru_step_lanes",
        rows: STEP_ROWS, constant: STATE, builds: LANES_BUILDS,
        picked: "gru_gates' place where lanes are shared",
        benchmarks: LAVAPIPE },
    KernelVersion { kernel: Kernel::GruCandidate, entry_point: "gru_candidate", file: "gru_step",
        rows: STEP_ROWS, constant: STATE, builds: PORTABLE,
        picked: "ONNX GRU steps, phase 2, after gru_gates",
        benchmarks: LAVAPIPE },
    KernelVersion { kernel: Kernel::GruCandidateLanes, entry_point: "gru_candidate_lanes", file: "gru_step_lanes",
        rows: STEP_ROWS, constant: STATE, builds: LANES_BUILDS,
        picked: "gru_candidate's place where lanes are shared",
        benchmarks: LAVAPIPE },
    KernelVersion { kernel: Kernel::LstmStep, entry_point: "lstm_step", file: "lstm_step",
        rows: STEP_ROWS, constant: STATE, builds: PORTABLE,
        picked: "LSTM steps on CPU drivers without lane sharing; on GPUs LSTM with a projection above H 64",
        benchmarks: LAVAPIPE },
    KernelVersion { kernel: Kernel::LstmStepLanes, entry_point: "lstm_step_lanes", file: "lstm_step_lanes",
        rows: STEP_ROWS, constant: STATE, builds: LANES_BUILDS,
        picked: "lstm_step's place where lanes are shared",
        benchmarks: LAVAPIPE },
    KernelVersion { kernel: Kernel::LstmStepSplit, entry_point: "lstm_step_split", file: "lstm_step_split",
        rows: COOPERATIVE_ROWS, constant: None, builds: EVERY_BUILD,
        picked: "only when forced (bench --variant split1|split4); lstm_step_sliced replaced it",
        benchmarks: H200 },
    KernelVersion { kernel: Kernel::LstmStepTiled, entry_point: "lstm_step_tiled", file: "lstm_step_tiled",
        rows: COOPERATIVE_ROWS, constant: STATE, builds: EVERY_BUILD,
        picked: "LSTM (no projection) steps on GPUs above H 128 and batch 16 (ROWS 1)",
        benchmarks: H200 },
    KernelVersion { kernel: Kernel::LstmStepSliced, entry_point: "lstm_step_sliced", file: "lstm_step_sliced",
        rows: COOPERATIVE_ROWS, constant: STATE, builds: EVERY_BUILD,
        picked: "LSTM (no projection) steps on GPUs above H 64, batch up to SLICED_BATCH or H up to SLICED_HIDDEN (ROWS 4 past SLICED_WORKGROUPS)",
        benchmarks: H200 },
    KernelVersion { kernel: Kernel::LstmProject, entry_point: "lstm_project", file: "lstm_project",
        rows: STEP_ROWS, constant: None, builds: EVERY_BUILD,
        picked: "after the LSTM step kernel, every step of a layer with a projection (per-step ROWS)",
        benchmarks: "Wavefront stacks (lavapipe)" },
    KernelVersion { kernel: Kernel::MergeDirections, entry_point: "merge_directions", file: "merge_directions",
        rows: ONE_ROW, constant: None, builds: EVERY_BUILD,
        picked: "after each bidirectional layer merged by sum, average or mul",
        benchmarks: LAVAPIPE },
    KernelVersion { kernel: Kernel::LayerPersistent, entry_point: "layer_persistent", file: "layer_persistent",
        rows: ONE_ROW, constant: None, builds: EVERY_BUILD,
        picked: "whole layers on GPUs: RNN up to H 128, LSTM and GRU up to SMALL_HIDDEN; anywhere with --variant persistent",
        benchmarks: H200 },
];

/// Every compute entry point the engine dispatches, in the order of [`KERNELS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kernel {
    InputProjection,
    InputProjectionLanes,
    RnnStep,
    RnnStepLanes,
    RnnStepSplit,
    GruStep,
    GruStepLanes,
    GruStepSplit,
    GruStepTiled,
    GruStepSliced,
    GruGates,
    GruGatesLanes,
    GruCandidate,
    GruCandidateLanes,
    LstmStep,
    LstmStepLanes,
    LstmStepSplit,
    LstmStepTiled,
    LstmStepSliced,
    LstmProject,
    MergeDirections,
    LayerPersistent,
}

/// How a device's kernels are built: which versions it runs and how they read storage
/// (`GpuContext::build`). One module per kernel, build and `ROWS`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum KernelBuild {
    /// The plain kernels, for every adapter: GPUs, and CPU drivers without 8-wide subgroups.
    #[default]
    Portable,
    /// CPU drivers with 8-wide subgroups (`Features::SUBGROUP`): the `*_lanes` kernels share
    /// loads across subgroup lanes and compute two units per invocation.
    Lanes,
    /// `Lanes`, and floats read as 64-bit pairs (`shared/loads_wide` for `shared/loads`; needs
    /// `Features::SHADER_INT64`): what lavapipe runs.
    LanesWide,
}

impl KernelBuild {
    /// Every build a device can make (each validated by the tests).
    pub const ALL: [KernelBuild; 3] = [Portable, Lanes, LanesWide];

    /// Its name on the command line and in `WGPU_RNN_BUILD`.
    pub fn name(self) -> &'static str {
        match self {
            Portable => "portable",
            Lanes => "lanes",
            LanesWide => "lanes-wide",
        }
    }

    /// Parses [`KernelBuild::name`].
    pub fn parse(s: &str) -> crate::Result<KernelBuild> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| crate::Error::invalid("build", format!("unknown build `{s}` (portable, lanes, lanes-wide)")))
    }

    /// Whether the plan runs the `*_lanes` kernels (`plan::DeviceFit::lanes`).
    pub fn shares_lanes(self) -> bool {
        self != Portable
    }

    /// The device features the build needs.
    pub fn features(self) -> wgpu::Features {
        match self {
            Portable => wgpu::Features::empty(),
            Lanes => wgpu::Features::SUBGROUP,
            LanesWide => wgpu::Features::SUBGROUP | wgpu::Features::SHADER_INT64,
        }
    }

    /// The file a `// uses:` name stands for in this build: `shared/loads_wide` for
    /// `shared/loads` in `LanesWide`, else the name itself.
    pub fn resolve(self, used: &str) -> &str {
        match (self, used) {
            (LanesWide, "shared/loads") => "shared/loads_wide",
            _ => used,
        }
    }
}

impl std::fmt::Display for KernelBuild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Batch rows per invocation of the tiled step kernels' small tiles (module constant `ROWS`).
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

/// Invocations per workgroup of the kernels that take one unit (or column quad) per invocation,
/// and of the split-K kernels (WGSL `STEP_WORKGROUP`).
pub const STEP_WORKGROUP: u32 = 64;

/// Subgroup width the `*_lanes` kernels are written for (WGSL `LANES`).
pub const LANES: u32 = 8;

/// Hidden units per workgroup of the workgroup-tiled step kernels (WGSL `TILE_UNITS`); each
/// workgroup also takes `TILED_BATCH` batch rows (`TILE_BATCH`).
pub const TILED_UNITS: u32 = 16;
pub const TILED_BATCH: u32 = 16;

/// Slices of k per unit block in the sliced step kernels (WGSL `SLICES`).
pub const SLICES: u32 = 16;

/// Largest H and H_out `layer_persistent.wgsl` holds (WGSL `PERSISTENT_UNITS`).
pub const PERSISTENT_UNITS: u32 = 128;

/// Loop iterations in all after which lavapipe's compiler (llvmpipe) ends an invocation's loops,
/// without an error (`GpuContext::loop_limit`).
pub const LLVMPIPE_LOOP_LIMIT: usize = 65535;

/// Loop iterations one invocation runs per dispatch at most wherever a kernel's loops grow with
/// the data (T, T*B): half of [`LLVMPIPE_LOOP_LIMIT`]. The plans split such work into dispatches
/// within it (`plan::train::MATMUL_K_CHUNK`, `EMBED_ROWS`, `TrainLayer::walk_steps`,
/// [`PERSISTENT_STEPS`]); it also bounds how long one dispatch runs, which the watchdogs of
/// desktop drivers limit.
pub const LOOP_BUDGET: usize = LLVMPIPE_LOOP_LIMIT.div_ceil(2);

/// Loop iterations of one `layer_persistent` step per invocation, at most: the recurrent product
/// over H_out / 4 input quads, a reset-before GRU's candidate over H / 4 more, a projection over
/// H inputs, H and H_out up to `PERSISTENT_UNITS`.
const PERSISTENT_STEP_LOOPS: usize = 2 * PERSISTENT_UNITS as usize / 4 + PERSISTENT_UNITS as usize + 1;

/// Time steps one `layer_persistent` dispatch walks at most (WGSL `PERSISTENT_STEPS`; the plan
/// dispatches it once per this many steps), within [`LOOP_BUDGET`].
pub const PERSISTENT_STEPS: u32 = 128;
const _: () = assert!(PERSISTENT_STEPS as usize * PERSISTENT_STEP_LOOPS <= LOOP_BUDGET);
// shared/quarters.wgsl and shared/eighths.wgsl hold PERSISTENT_UNITS units' parts, unit k in
// slot k % PERSISTENT_UNITS: each workgroup's units must be whole eights in distinct slots, and
// an eight's units one block of R's row quads (train_step_backward's `shared_products`).
const _: () = assert!(PERSISTENT_UNITS % crate::plan::train::TRAIN_WORKGROUP == 0);
const _: () = assert!(crate::plan::train::TRAIN_WORKGROUP % 8 == 0);
const _: () = assert!(crate::pack::UNIT_BLOCK % 8 == 0);

/// Size of `LayerParams` in WGSL (8 words + 6 `Act` of 16 bytes).
pub const LAYER_PARAMS_SIZE: u64 = 128;
/// Size of the small 4-word uniform structs (`StepParams`, `MatmulParams`, `MergeParams`).
pub const SMALL_PARAMS_SIZE: u64 = 16;

/// Every constant Rust shares with the kernels, by its WGSL name: the one source of each (the
/// prelude writes them into every module).
pub fn shared_constants() -> Vec<(String, u32)> {
    use crate::gpu::params as p;
    use crate::plan::train_step as ts;
    let mut v: Vec<(String, u32)> = [
        ("UNIT_BLOCK", crate::pack::UNIT_BLOCK as u32),
        ("STEP_WORKGROUP", STEP_WORKGROUP),
        ("LANES", LANES),
        ("TILE_UNITS", TILED_UNITS),
        ("TILE_BATCH", TILED_BATCH),
        ("SLICES", SLICES),
        ("PERSISTENT_UNITS", PERSISTENT_UNITS),
        ("PERSISTENT_STEPS", PERSISTENT_STEPS),
        ("FLAG_CLIP", p::FLAG_CLIP),
        ("FLAG_PEEPHOLE", p::FLAG_PEEPHOLE),
        ("FLAG_INPUT_FORGET", p::FLAG_INPUT_FORGET),
        ("FLAG_PROJ", p::FLAG_PROJ),
        ("FLAG_GRU", p::FLAG_GRU),
        ("FLAG_LSTM", p::FLAG_LSTM),
        ("FLAG_LINEAR_BEFORE_RESET", p::FLAG_LINEAR_BEFORE_RESET),
        ("FLAG_WAVE", p::FLAG_WAVE),
        ("TRAIN_WORKGROUP", crate::plan::train::TRAIN_WORKGROUP),
        ("EMBED_ROWS", crate::plan::train::EMBED_ROWS as u32),
        ("TRAIN_ROWS", crate::plan::train::TRAIN_ROWS),
        ("MM_BLOCK", crate::plan::train::MM_BLOCK),
        ("MM_WIDE", crate::plan::train::MM_WIDE),
        ("MM_GROUP", crate::plan::train::MM_GROUP),
        ("MM_ROWS", crate::plan::train::MM_ROWS),
        ("STEP_INITIAL", crate::plan::train::STEP_INITIAL),
        ("FLAG_MM_BIAS", crate::plan::train::FLAG_MM_BIAS),
        ("FLAG_MM_ACCUMULATE", crate::plan::train::FLAG_MM_ACCUMULATE),
        ("FLAG_MM_COPY", crate::plan::train::FLAG_MM_COPY),
        ("FLAG_MM_QUADS", crate::plan::train::FLAG_MM_QUADS),
        ("OPT_WORKGROUP", ts::OPT_WORKGROUP),
        ("NORM_PARTS", ts::NORM_PARTS),
        ("LOSS_WORKGROUP", ts::LOSS_WORKGROUP),
        ("LOSS_CROSS_ENTROPY", ts::LOSS_CROSS_ENTROPY),
        ("LOSS_MSE", ts::LOSS_MSE),
        ("OPT_SGD", ts::OPT_SGD),
        ("OPT_ADAM", ts::OPT_ADAM),
        ("OPT_ADAMW", ts::OPT_ADAMW),
        ("FLAG_OPT_CLIP_VALUE", ts::FLAG_OPT_CLIP_VALUE),
        ("FLAG_OPT_CLIP_NORM", ts::FLAG_OPT_CLIP_NORM),
        ("FLAG_OPT_FIRST_STEP", ts::FLAG_OPT_FIRST_STEP),
        ("FLAG_DROP_RECURRENT", ts::FLAG_DROP_RECURRENT),
        ("RECURRENT_SITES", crate::train::dropout::RECURRENT_SITES),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v))
    .collect();
    for kind in crate::spec::ActivationKind::ALL {
        v.push((format!("ACT_{}", screaming(&format!("{kind:?}"))), kind.code()));
    }
    for mode in crate::spec::MergeMode::ALL {
        v.push((format!("MERGE_{}", screaming(&format!("{mode:?}"))), mode.code()));
    }
    v
}

/// `LeakyRelu` -> `LEAKY_RELU`.
fn screaming(camel: &str) -> String {
    let mut s = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            s.push('_');
        }
        s.push(c.to_ascii_uppercase());
    }
    s
}

/// The start of every module: `ROWS` (one module per value: it also sizes the kernels' private
/// arrays, which a CPU driver keeps in registers only where every loop over them unrolls to
/// their full size) and [`shared_constants`].
pub fn prelude(rows: u32) -> String {
    let mut s = String::from("// prelude (kernels.rs `prelude`): the constants Rust shares with the kernels\n");
    let _ = writeln!(s, "const ROWS: u32 = {rows}u; // batch rows per invocation");
    for (name, value) in shared_constants() {
        let _ = writeln!(s, "const {name}: u32 = {value}u;");
    }
    s
}

/// Every file in `shaders/`, by the name `// uses:` lines give it (a test checks the list
/// against the directory).
pub const SHADER_FILES: [(&str, &str); 47] = [
    ("input_projection", include_str!("../shaders/input_projection.wgsl")),
    ("input_projection_lanes", include_str!("../shaders/input_projection_lanes.wgsl")),
    ("rnn_step", include_str!("../shaders/rnn_step.wgsl")),
    ("rnn_step_lanes", include_str!("../shaders/rnn_step_lanes.wgsl")),
    ("rnn_step_split", include_str!("../shaders/rnn_step_split.wgsl")),
    ("gru_step", include_str!("../shaders/gru_step.wgsl")),
    ("gru_step_lanes", include_str!("../shaders/gru_step_lanes.wgsl")),
    ("gru_step_split", include_str!("../shaders/gru_step_split.wgsl")),
    ("gru_step_tiled", include_str!("../shaders/gru_step_tiled.wgsl")),
    ("gru_step_sliced", include_str!("../shaders/gru_step_sliced.wgsl")),
    ("lstm_step", include_str!("../shaders/lstm_step.wgsl")),
    ("lstm_step_lanes", include_str!("../shaders/lstm_step_lanes.wgsl")),
    ("lstm_step_split", include_str!("../shaders/lstm_step_split.wgsl")),
    ("lstm_step_tiled", include_str!("../shaders/lstm_step_tiled.wgsl")),
    ("lstm_step_sliced", include_str!("../shaders/lstm_step_sliced.wgsl")),
    ("lstm_project", include_str!("../shaders/lstm_project.wgsl")),
    ("merge_directions", include_str!("../shaders/merge_directions.wgsl")),
    ("layer_persistent", include_str!("../shaders/layer_persistent.wgsl")),
    ("shared/activations", include_str!("../shaders/shared/activations.wgsl")),
    ("shared/blocked", include_str!("../shaders/shared/blocked.wgsl")),
    ("shared/lanes", include_str!("../shaders/shared/lanes.wgsl")),
    ("shared/layer_params", include_str!("../shaders/shared/layer_params.wgsl")),
    ("shared/loads", include_str!("../shaders/shared/loads.wgsl")),
    ("shared/loads_wide", include_str!("../shaders/shared/loads_wide.wgsl")),
    ("shared/lstm_cell", include_str!("../shaders/shared/lstm_cell.wgsl")),
    ("shared/quarters", include_str!("../shaders/shared/quarters.wgsl")),
    ("shared/eighths", include_str!("../shaders/shared/eighths.wgsl")),
    ("shared/rows", include_str!("../shaders/shared/rows.wgsl")),
    ("shared/slices", include_str!("../shaders/shared/slices.wgsl")),
    ("shared/split", include_str!("../shaders/shared/split.wgsl")),
    ("shared/state_lanes", include_str!("../shaders/shared/state_lanes.wgsl")),
    ("shared/state_vec4", include_str!("../shaders/shared/state_vec4.wgsl")),
    ("shared/tiles", include_str!("../shaders/shared/tiles.wgsl")),
    ("shared/vec4_reads", include_str!("../shaders/shared/vec4_reads.wgsl")),
    ("train/dropout", include_str!("../shaders/train/dropout.wgsl")),
    ("train/embed", include_str!("../shaders/train/embed.wgsl")),
    ("train/loss", include_str!("../shaders/train/loss.wgsl")),
    ("train/masks", include_str!("../shaders/train/masks.wgsl")),
    ("train/matmul", include_str!("../shaders/train/matmul.wgsl")),
    ("train/matmul_params", include_str!("../shaders/train/matmul_params.wgsl")),
    ("train/matmul_vec4", include_str!("../shaders/train/matmul_vec4.wgsl")),
    ("train/optimizer", include_str!("../shaders/train/optimizer.wgsl")),
    ("train/state_restore", include_str!("../shaders/train/state_restore.wgsl")),
    ("train/stats", include_str!("../shaders/train/stats.wgsl")),
    ("train/train_params", include_str!("../shaders/train/train_params.wgsl")),
    ("train/train_step", include_str!("../shaders/train/train_step.wgsl")),
    ("train/train_step_backward", include_str!("../shaders/train/train_step_backward.wgsl")),
];

/// The text of a file in `shaders/` by its `// uses:` name.
pub fn shader_file(name: &str) -> Option<&'static str> {
    SHADER_FILES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

/// The names a file's `// uses:` lines give, in order.
pub fn uses(text: &str) -> Vec<&str> {
    text.lines().filter_map(|l| l.trim().strip_prefix("// uses:")).flat_map(|rest| rest.split_whitespace()).collect()
}

/// The files of `file`'s module in `build`, each once, every file after the files it uses.
pub fn composition(file: &str, build: KernelBuild) -> Vec<&'static str> {
    fn visit(name: &str, build: KernelBuild, seen: &mut Vec<&'static str>, path: &mut Vec<String>) {
        let name = build.resolve(name);
        if seen.contains(&name) {
            return;
        }
        assert!(!path.iter().any(|p| p == name), "shaders: `// uses:` cycle through {name} ({path:?})");
        let (stored, text) = SHADER_FILES
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("shaders: `{name}` is used but no such file is registered"));
        path.push(name.to_string());
        for used in uses(text) {
            visit(used, build, seen, path);
        }
        path.pop();
        seen.push(stored);
    }
    let mut seen = Vec::new();
    visit(file, build, &mut seen, &mut Vec::new());
    seen
}

/// The WGSL module of `file` in `build` with `rows` batch rows per invocation: the prelude,
/// then every file it uses (its `// uses:` lines, followed through), then the file itself.
pub fn module_source(file: &str, build: KernelBuild, rows: u32) -> String {
    let mut s = prelude(rows);
    for name in composition(file, build) {
        let _ = write!(s, "\n// ---- shaders/{name}.wgsl ----\n{}", shader_file(name).unwrap_or_default());
    }
    s
}

impl Kernel {
    /// All kernels, in the order of [`KERNELS`].
    pub const ALL: [Kernel; 22] = [
        Kernel::InputProjection,
        Kernel::InputProjectionLanes,
        Kernel::RnnStep,
        Kernel::RnnStepLanes,
        Kernel::RnnStepSplit,
        Kernel::GruStep,
        Kernel::GruStepLanes,
        Kernel::GruStepSplit,
        Kernel::GruStepTiled,
        Kernel::GruStepSliced,
        Kernel::GruGates,
        Kernel::GruGatesLanes,
        Kernel::GruCandidate,
        Kernel::GruCandidateLanes,
        Kernel::LstmStep,
        Kernel::LstmStepLanes,
        Kernel::LstmStepSplit,
        Kernel::LstmStepTiled,
        Kernel::LstmStepSliced,
        Kernel::LstmProject,
        Kernel::MergeDirections,
        Kernel::LayerPersistent,
    ];

    /// Its row of [`KERNELS`].
    pub fn version(self) -> &'static KernelVersion {
        &KERNELS[self as usize]
    }

    /// The kernel whose entry point is `name`.
    pub fn parse(name: &str) -> Option<Kernel> {
        KERNELS.iter().find(|v| v.entry_point == name).map(|v| v.kernel)
    }

    /// Entry point name (also the CPU twin's name).
    pub fn entry_point(self) -> &'static str {
        self.version().entry_point
    }

    /// The shader file that holds the entry point (`shaders/<file>.wgsl`).
    pub fn file(self) -> &'static str {
        self.version().file
    }

    /// wgpu label of everything made for this kernel.
    pub fn label(self) -> String {
        format!("wgpu-rnn.{}", self.entry_point())
    }

    /// The complete WGSL module of the kernel's pipeline in `build` with `rows` batch rows per
    /// invocation (one of `row_variants`): the prelude, then every file the kernel's file uses
    /// (its `// uses:` lines, followed through), then the file itself.
    pub fn source(self, build: KernelBuild, rows: u32) -> String {
        module_source(self.file(), build, rows)
    }

    /// The portable kernel a `*_lanes` kernel stands in for (itself for the others): the two
    /// share bindings and results.
    pub fn portable(self) -> Kernel {
        match self {
            Kernel::InputProjectionLanes => Kernel::InputProjection,
            Kernel::RnnStepLanes => Kernel::RnnStep,
            Kernel::GruStepLanes => Kernel::GruStep,
            Kernel::GruGatesLanes => Kernel::GruGates,
            Kernel::GruCandidateLanes => Kernel::GruCandidate,
            Kernel::LstmStepLanes => Kernel::LstmStep,
            other => other,
        }
    }

    /// The `*_lanes` version of a portable kernel, where it has one.
    pub fn lanes(self) -> Option<Kernel> {
        Kernel::ALL.into_iter().find(|&k| k != self && k.portable() == self)
    }

    /// Whether this is a `*_lanes` kernel.
    pub fn shares_lanes(self) -> bool {
        self.portable() != self
    }

    /// The builds the kernel is compiled in.
    pub fn builds(self) -> &'static [KernelBuild] {
        self.version().builds
    }

    /// Whether the kernel runs once per time step (binding 1 is the dynamic step uniform, and
    /// the module constant `ROWS` picks its batch tiling).
    pub fn is_step(self) -> bool {
        !matches!(self.portable(), Kernel::InputProjection | Kernel::MergeDirections | Kernel::LayerPersistent)
    }

    /// Whether the kernel synchronizes its workgroup with `workgroupBarrier`.
    pub fn has_barriers(self) -> bool {
        self == Kernel::LayerPersistent || self.is_cooperative_step()
    }

    /// Whether the kernel is a per-step kernel whose workgroup computes its units together
    /// (split-K, workgroup-tiled or sliced): built for 1 and `TILE_ROWS` rows, with barriers.
    pub fn is_cooperative_step(self) -> bool {
        self.is_split() || self.is_workgroup_tiled() || self.is_sliced()
    }

    /// Whether the kernel slices the recurrent product of a unit block over its workgroup
    /// (`StepVariant::Sliced`).
    pub fn is_sliced(self) -> bool {
        matches!(self, Kernel::LstmStepSliced | Kernel::GruStepSliced)
    }

    /// Whether the kernel computes a tile of units and batch rows per workgroup through
    /// workgroup memory (`StepVariant::Tiled`).
    pub fn is_workgroup_tiled(self) -> bool {
        matches!(self, Kernel::LstmStepTiled | Kernel::GruStepTiled)
    }

    /// Whether the kernel splits each unit's product over a workgroup (`StepVariant::Split`).
    pub fn is_split(self) -> bool {
        matches!(self, Kernel::RnnStepSplit | Kernel::GruStepSplit | Kernel::LstmStepSplit)
    }

    /// Whether the kernel keeps wgpu's runtime checks even where the engine drops them
    /// (`gpu::pipelines::shader_checks`): the persistent and split-K kernels, which lavapipe
    /// ran slower without them.
    pub fn keeps_checks(self) -> bool {
        self == Kernel::LayerPersistent || self.is_split()
    }

    /// Whether the kernel built for `rows` rows per invocation computes two units per invocation
    /// (`paired_unit` in shaders/shared/lanes.wgsl; `lstm_step_lanes` from two rows on, its
    /// `PAIR_UNITS`): `plan::unit_workgroups` sizes their dispatches by it.
    pub fn pairs_units(self, rows: u32) -> bool {
        match self {
            Kernel::LstmStepLanes => rows > 1,
            other => other.shares_lanes(),
        }
    }

    /// Whether the kernel needs `Features::SUBGROUP` (it is built only where the device has it).
    pub fn needs_subgroups(self) -> bool {
        self.is_split() || self.shares_lanes()
    }

    /// The pipeline constant that says the kernel's vec4 reads start on a vec4 (each pipeline
    /// is built with it false and true; `plan::NetShape::aligned` picks): the projection's
    /// `INPUT_ALIGNED`, the step kernels' `STATE_ALIGNED` (h read as vec4s,
    /// `shaders/shared/state_vec4.wgsl`).
    pub fn alignment_constant(self) -> Option<&'static str> {
        self.version().constant
    }

    /// The values of its alignment constant the kernel is built for (`false` only where it has
    /// none).
    pub fn aligned_variants(self) -> &'static [bool] {
        if self.alignment_constant().is_some() { &[false, true] } else { &[false] }
    }

    /// The `ROWS` values the kernel is built for (`[1]`: the kernel does not tile rows).
    pub fn row_variants(self) -> &'static [u32] {
        self.version().rows
    }

    /// Invocations per workgroup `[x, y, z]` of the kernel built for `rows` rows (a test reads
    /// the WGSL's with naga and compares); the plan sizes dispatches by it.
    pub fn workgroup_size(self, rows: u32) -> [u32; 3] {
        match self {
            Kernel::LayerPersistent => [PERSISTENT_UNITS, 1, 1],
            Kernel::LstmStepTiled | Kernel::GruStepTiled => [TILED_UNITS, TILED_BATCH / rows, 1],
            Kernel::LstmStepSliced | Kernel::GruStepSliced => [crate::pack::UNIT_BLOCK as u32, SLICES, 1],
            _ => [STEP_WORKGROUP, 1, 1],
        }
    }

    /// The kernel's bindings in order; `plan::NetShape::bindings` names the buffers in the same
    /// order.
    pub fn binding_kinds(self) -> &'static [BindingKind] {
        use BindingKind::*;
        const LP: BindingKind = Uniform(LAYER_PARAMS_SIZE);
        const SP: BindingKind = DynamicUniform(SMALL_PARAMS_SIZE);
        match self.portable() {
            Kernel::InputProjection => {
                &[Uniform(SMALL_PARAMS_SIZE), StorageRead, StorageRead, StorageRead, StorageReadWrite]
            }
            Kernel::RnnStep | Kernel::RnnStepSplit | Kernel::LstmProject => {
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
                SP,
            ],
            // the GRU and LSTM step kernels
            _ => &[
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
        }
    }
}

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

/// The training kernels (`shaders/train/`), built on a device the first time it trains
/// (`gpu::train`). One version each, portable: every adapter runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TrainKernel {
    /// `C = A·B (+ C) (+ bias)` with strided operands: the input projection, the head and
    /// every weight gradient, where no vec4 version fits (`plan::train::Matmul::kernel`).
    Matmul,
    /// `matmul` with A and B read as vec4s along k (x·Wᵀ, the head's logits).
    MatmulKk,
    /// `matmul` with A read as vec4s along k, B along n (dX = dG·W).
    MatmulKn,
    /// `matmul` with A read as vec4s along m, B along n (dW = dGᵀ·X, dR, dW_hr).
    MatmulMn,
    /// One time step of a layer, both directions, keeping the tape.
    TrainStep,
    /// The second half of a GRU (linear_before_reset 0) or projected LSTM step.
    TrainStepFinish,
    /// The backward of one step, both directions.
    TrainStepBackward,
    /// The second half of a two-phase step's backward.
    TrainStepBackwardFinish,
    /// Many steps of a layer per dispatch (`train_step`'s bindings): a workgroup walks a quad
    /// of rows of one direction through time, steps apart by storage barriers.
    TrainPersistent,
    /// Many steps of a layer's backward walk per dispatch (`train_step_backward`'s bindings).
    TrainPersistentBackward,
    /// Dropout between layers, and its backward (in place).
    Dropout,
    DropoutBackward,
    /// The embedding's gather, and its gradient's sums per token.
    Embed,
    EmbedBackward,
    /// The loss and its gradient per row, an invocation per row.
    Loss,
    /// The loss and its gradient per row, a workgroup per row (heads of more than
    /// `LOSS_WIDE_CLASSES` outputs).
    LossWide,
    /// Sums of squares of a parameter group's gradients, in `NORM_PARTS` partial sums.
    SumSquares,
    /// Every group's partial sums of squares into its sums.
    SumSquaresFinish,
    /// Clipping and the optimizer step of a parameter group.
    OptimizerUpdate,
    /// Puts a parameter group back when an update gave a non-finite weight.
    OptimizerRestore,
    /// Puts the carried state back when the step failed (a step that carries it).
    StateRestore,
}

impl TrainKernel {
    pub const ALL: [TrainKernel; 21] = [
        TrainKernel::Dropout,
        TrainKernel::DropoutBackward,
        TrainKernel::Matmul,
        TrainKernel::MatmulKk,
        TrainKernel::MatmulKn,
        TrainKernel::MatmulMn,
        TrainKernel::TrainStep,
        TrainKernel::TrainStepFinish,
        TrainKernel::TrainStepBackward,
        TrainKernel::TrainStepBackwardFinish,
        TrainKernel::TrainPersistent,
        TrainKernel::TrainPersistentBackward,
        TrainKernel::Embed,
        TrainKernel::EmbedBackward,
        TrainKernel::Loss,
        TrainKernel::LossWide,
        TrainKernel::SumSquares,
        TrainKernel::SumSquaresFinish,
        TrainKernel::OptimizerUpdate,
        TrainKernel::OptimizerRestore,
        TrainKernel::StateRestore,
    ];

    /// Entry point and label suffix.
    pub fn entry_point(self) -> &'static str {
        match self {
            TrainKernel::Matmul => "matmul",
            TrainKernel::MatmulKk => "matmul_kk",
            TrainKernel::MatmulKn => "matmul_kn",
            TrainKernel::MatmulMn => "matmul_mn",
            TrainKernel::TrainStep => "train_step",
            TrainKernel::TrainStepFinish => "train_step_finish",
            TrainKernel::TrainStepBackward => "train_step_backward",
            TrainKernel::TrainStepBackwardFinish => "train_step_backward_finish",
            TrainKernel::TrainPersistent => "train_persistent",
            TrainKernel::TrainPersistentBackward => "train_persistent_backward",
            TrainKernel::Dropout => "dropout",
            TrainKernel::DropoutBackward => "dropout_backward",
            TrainKernel::Embed => "embed",
            TrainKernel::EmbedBackward => "embed_backward",
            TrainKernel::Loss => "loss",
            TrainKernel::LossWide => "loss_wide",
            TrainKernel::SumSquares => "sum_squares",
            TrainKernel::SumSquaresFinish => "sum_squares_finish",
            TrainKernel::OptimizerUpdate => "optimizer_update",
            TrainKernel::OptimizerRestore => "optimizer_restore",
            TrainKernel::StateRestore => "state_restore",
        }
    }

    /// Its file in `shaders/train/`, without `.wgsl`.
    pub fn file(self) -> &'static str {
        match self {
            TrainKernel::EmbedBackward => "embed",
            TrainKernel::LossWide => "loss",
            TrainKernel::DropoutBackward => "dropout",
            TrainKernel::MatmulKk | TrainKernel::MatmulKn | TrainKernel::MatmulMn => "matmul_vec4",
            TrainKernel::TrainStepFinish | TrainKernel::TrainPersistent => "train_step",
            TrainKernel::TrainStepBackwardFinish | TrainKernel::TrainPersistentBackward => "train_step_backward",
            TrainKernel::SumSquares
            | TrainKernel::SumSquaresFinish
            | TrainKernel::OptimizerUpdate
            | TrainKernel::OptimizerRestore => "optimizer",
            other => other.entry_point(),
        }
    }

    /// wgpu label of everything made for this kernel.
    pub fn label(self) -> String {
        format!("wgpu-rnn.{}", self.entry_point())
    }

    /// The complete WGSL module: the prelude, the files it uses, the file.
    pub fn source(self) -> String {
        module_source(&format!("train/{}", self.file()), KernelBuild::Portable, 1)
    }

    /// The kernel's bindings in order (`gpu::train` binds its buffers in this order).
    pub fn binding_kinds(self) -> &'static [BindingKind] {
        use BindingKind::*;
        const LP: BindingKind = Uniform(LAYER_PARAMS_SIZE);
        const TP: BindingKind = Uniform(crate::gpu::TRAIN_PARAMS_SIZE);
        const SP: BindingKind = DynamicUniform(SMALL_PARAMS_SIZE);
        const DP: BindingKind = Uniform(crate::gpu::DROPOUT_PARAMS_SIZE);
        match self {
            TrainKernel::Matmul | TrainKernel::MatmulKk | TrainKernel::MatmulKn | TrainKernel::MatmulMn => {
                &[DynamicUniform(crate::gpu::MATMUL_PARAMS_SIZE), StorageRead, StorageRead, StorageReadWrite]
            }
            TrainKernel::TrainStep | TrainKernel::TrainStepFinish | TrainKernel::TrainPersistent => &[
                LP,
                TP,
                SP,
                StorageRead,
                StorageRead,
                StorageRead,
                StorageRead,
                StorageReadWrite,
                StorageReadWrite,
                StorageReadWrite,
                DP,
            ],
            TrainKernel::Dropout | TrainKernel::DropoutBackward => &[
                DynamicUniform(SMALL_PARAMS_SIZE),
                Uniform(crate::gpu::DROPOUT_PARAMS_SIZE),
                StorageRead,
                StorageReadWrite,
            ],
            TrainKernel::Embed | TrainKernel::EmbedBackward => {
                &[DynamicUniform(SMALL_PARAMS_SIZE), StorageRead, StorageRead, StorageReadWrite]
            }
            TrainKernel::Loss | TrainKernel::LossWide => &[
                Uniform(crate::gpu::LOSS_PARAMS_SIZE),
                StorageRead,
                StorageRead,
                StorageRead,
                StorageReadWrite,
                StorageReadWrite,
            ],
            TrainKernel::SumSquares
            | TrainKernel::SumSquaresFinish
            | TrainKernel::OptimizerUpdate
            | TrainKernel::OptimizerRestore => &[
                DynamicUniform(SMALL_PARAMS_SIZE),
                Uniform(crate::gpu::OPTIMIZER_PARAMS_SIZE),
                StorageReadWrite,
                StorageReadWrite,
                StorageRead,
                StorageReadWrite,
                StorageReadWrite,
                StorageReadWrite,
                StorageReadWrite,
                StorageReadWrite,
            ],
            TrainKernel::StateRestore => {
                &[Uniform(SMALL_PARAMS_SIZE), StorageRead, StorageRead, StorageReadWrite, StorageRead, StorageReadWrite]
            }
            TrainKernel::TrainStepBackward
            | TrainKernel::TrainStepBackwardFinish
            | TrainKernel::TrainPersistentBackward => &[
                LP,
                TP,
                SP,
                StorageRead,
                StorageRead,
                StorageReadWrite,
                StorageRead,
                StorageRead,
                StorageReadWrite,
                StorageReadWrite,
                StorageReadWrite,
                DP,
            ],
        }
    }
}
