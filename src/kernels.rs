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
}

/// Every compute entry point the engine dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kernel {
    InputProjection,
    RnnStep,
    GruStep,
    GruGates,
    GruCandidate,
    LstmStep,
    LstmProject,
    MergeDirections,
}

const ACTIVATIONS: &str = include_str!("../shaders/shared/activations.wgsl");
const LAYER_PARAMS: &str = include_str!("../shaders/shared/layer_params.wgsl");

/// Size of `LayerParams` in WGSL (8 words + 6 `Act` of 16 bytes).
pub const LAYER_PARAMS_SIZE: u64 = 128;
/// Size of the small 4-word uniform structs (`StepParams`, `MatmulParams`, `MergeParams`).
pub const SMALL_PARAMS_SIZE: u64 = 16;

impl Kernel {
    /// All kernels.
    pub const ALL: [Kernel; 8] = [
        Kernel::InputProjection,
        Kernel::RnnStep,
        Kernel::GruStep,
        Kernel::GruGates,
        Kernel::GruCandidate,
        Kernel::LstmStep,
        Kernel::LstmProject,
        Kernel::MergeDirections,
    ];

    /// Entry point name (also the CPU twin's name).
    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::InputProjection => "input_projection",
            Kernel::RnnStep => "rnn_step",
            Kernel::GruStep => "gru_step",
            Kernel::GruGates => "gru_gates",
            Kernel::GruCandidate => "gru_candidate",
            Kernel::LstmStep => "lstm_step",
            Kernel::LstmProject => "lstm_project",
            Kernel::MergeDirections => "merge_directions",
        }
    }

    /// The shader file that holds the entry point.
    pub fn file(self) -> &'static str {
        match self {
            Kernel::InputProjection => "input_projection.wgsl",
            Kernel::RnnStep => "rnn_step.wgsl",
            Kernel::GruStep | Kernel::GruGates | Kernel::GruCandidate => "gru_step.wgsl",
            Kernel::LstmStep => "lstm_step.wgsl",
            Kernel::LstmProject => "lstm_project.wgsl",
            Kernel::MergeDirections => "merge_directions.wgsl",
        }
    }

    /// wgpu label of everything made for this kernel.
    pub fn label(self) -> String {
        format!("wgpu-rnn.{}", self.entry_point())
    }

    /// The complete WGSL module: shared code followed by the kernel file.
    pub fn source(self) -> String {
        let body = match self.file() {
            "input_projection.wgsl" => include_str!("../shaders/input_projection.wgsl"),
            "rnn_step.wgsl" => include_str!("../shaders/rnn_step.wgsl"),
            "gru_step.wgsl" => include_str!("../shaders/gru_step.wgsl"),
            "lstm_step.wgsl" => include_str!("../shaders/lstm_step.wgsl"),
            "lstm_project.wgsl" => include_str!("../shaders/lstm_project.wgsl"),
            _ => include_str!("../shaders/merge_directions.wgsl"),
        };
        if self.is_step() { format!("{ACTIVATIONS}\n{LAYER_PARAMS}\n{body}") } else { body.to_string() }
    }

    /// Whether the kernel runs once per time step (binding 1 is the dynamic step uniform).
    pub fn is_step(self) -> bool {
        !matches!(self, Kernel::InputProjection | Kernel::MergeDirections)
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
            Kernel::RnnStep => &[LP, SP, StorageRead, StorageRead, StorageRead, StorageReadWrite, StorageReadWrite],
            Kernel::GruStep | Kernel::GruGates | Kernel::GruCandidate => &[
                LP,
                SP,
                StorageRead,
                StorageRead,
                StorageRead,
                StorageRead,
                StorageReadWrite,
                StorageReadWrite,
                StorageReadWrite,
            ],
            Kernel::LstmStep => &[
                LP,
                SP,
                StorageRead,
                StorageRead,
                StorageRead,
                StorageRead,
                StorageReadWrite,
                StorageReadWrite,
                StorageReadWrite,
            ],
            Kernel::LstmProject => &[LP, SP, StorageRead, StorageRead, StorageRead, StorageReadWrite, StorageReadWrite],
            Kernel::MergeDirections => &[Uniform(SMALL_PARAMS_SIZE), StorageRead, StorageReadWrite],
        }
    }

    /// Invocations per workgroup along x (the step kernels and merge use 64; the matmul 8x8).
    pub fn workgroup_x(self) -> u32 {
        if self == Kernel::InputProjection { 8 } else { 64 }
    }
}
