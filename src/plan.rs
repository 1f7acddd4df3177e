//! The plan of GPU work for one forward call: which kernels run, in which order, on which
//! buffers. No wgpu types: a plan can be built, printed, counted and tested without a device.
//! `gpu::executor` runs it.

use crate::kernels::{
    Kernel, PERSISTENT_UNITS, PROJECTION_ROWS, TILE_ROWS, TILED_BATCH, TILED_UNITS, WIDE_ROWS, WIDEST_ROWS,
};
use crate::network::Network;
use crate::pack::{UNIT_BLOCK, recurrent_len};
use crate::spec::{Cell, LayerSpec, MergeMode};

/// A buffer the plan refers to. Weights belong to the model; the rest to a workspace of one
/// `(T, B)` shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Buf {
    /// `x [T, B, I]`
    Input,
    /// `[B]` sequence lengths (u32)
    Lens,
    /// `[T]` step indices, one per `step_stride` bytes (dynamic uniform offsets)
    Steps,
    /// `[D, T, B, H*G]` input projection, shared by the layers in turn
    Xp,
    /// GRU (reset before): `[D, B, H, 2]`; LSTM with projection: `[D, B, H]`
    Scratch,
    /// `[L*D, B, H_out]` final hidden states
    Hn,
    /// `[L*D, B, H]` final cell states (LSTM)
    Cn,
    /// Layer `l`'s output `y [T, B, D, H_out]`
    LayerOut(usize),
    /// Layer `l`'s merged output `[T, B, H_out]` (sum, average, mul)
    Merged(usize),
    /// Layer `l`'s hidden state, two ping-pong halves of `[D, B, H_out]`, each padded to
    /// `STATE_HALF_ALIGN` bytes (`NetShape::state_half`): step `s` reads half `s & 1` and writes
    /// the other, each bound on its own with a dynamic offset (`BindingKind::StateHalf`)
    H(usize),
    /// Layer `l`'s cell state `[D, B, H]`
    C(usize),
    /// Layer `l`'s uniforms: `LayerParams`, `MatmulParams`, and the shared `MergeParams`
    LayerParams(usize),
    MatmulParams(usize),
    MergeParams,
    /// Layer `l`'s packed weights (see `pack::PackedLayer`)
    Wx(usize),
    Bx(usize),
    Wh(usize),
    Aux(usize),
    Wr(usize),
    /// GRU with linear_before_reset = 0: `gru_candidate`'s weights (`PackedLayer::wn`)
    Wn(usize),
    /// A wavefront stack (`Plan::stacked`): its uniforms (`LayerParams` with one direction slot
    /// per layer), its weights (`StackWh`: the layers' recurrent weights `[L]`, then the input
    /// weights of layers 1.. `[L-1]`, each packed like `Wh`; `StackAux`: the layers' `Aux`
    /// `[L]`), and its state: h two halves of `[L, B, H_out]` (`NetShape::stack_half`), c
    /// `[L, B, H]`
    StackParams,
    StackWh,
    StackAux,
    /// The layers' `Wr` `[L]` (LSTM with projection) and `Wn` `[L]` (reset-before GRU)
    StackWr,
    StackWn,
    StackH,
    StackC,
}

impl Buf {
    /// Whether the buffer holds model weights (uploaded once per model).
    pub fn is_weight(self) -> bool {
        matches!(
            self,
            Buf::Wx(_)
                | Buf::Bx(_)
                | Buf::Wh(_)
                | Buf::Wn(_)
                | Buf::Aux(_)
                | Buf::Wr(_)
                | Buf::StackWh
                | Buf::StackAux
                | Buf::StackWr
                | Buf::StackWn
        )
    }
}

/// Alignment in bytes of the second half of `Buf::H`: WebGPU's largest allowed
/// `min_storage_buffer_offset_alignment`, so it suits every device.
pub const STATE_HALF_ALIGN: u64 = 256;

/// The sizes that shape a plan, read off a [`Network`].
#[derive(Debug, Clone, PartialEq)]
pub struct NetShape {
    pub cell: Cell,
    pub dirs: usize,
    pub hidden: usize,
    /// H_out: projection size or H
    pub out: usize,
    pub proj: bool,
    pub linear_before_reset: bool,
    pub merge: MergeMode,
    /// Input width of each layer.
    pub inputs: Vec<usize>,
    /// Whether every layer has the same spec apart from layer 0's input width (activations,
    /// clip, options): what a wavefront stack needs (`stackable`).
    pub same_layers: bool,
}

impl NetShape {
    /// Whether every row of the recurrent state starts on a vec4 (H_out % 4 == 0): step kernels
    /// then read h with vec4 loads (`shaders/shared/state_vec4.wgsl`).
    pub fn state_aligned(&self) -> bool {
        self.out % 4 == 0
    }

    /// Elements from one half of `Buf::H` to the other for batch `b`: `[D, B, H_out]` padded to
    /// `STATE_HALF_ALIGN` bytes, so that either half can be bound at a dynamic offset.
    pub fn state_half(&self, b: usize) -> usize {
        (self.dirs * b * self.out).next_multiple_of(STATE_HALF_ALIGN as usize / 4)
    }

    /// The shape of a (validated) network.
    pub fn of(net: &Network) -> NetShape {
        let s = &net.layers[0].spec;
        NetShape {
            cell: s.cell,
            dirs: s.directions(),
            hidden: s.hidden_size,
            out: s.output_size(),
            proj: s.proj_size > 0,
            linear_before_reset: s.linear_before_reset,
            merge: net.merge,
            inputs: net.layers.iter().map(|l| l.spec.input_size).collect(),
            same_layers: net.layers.iter().all(|l| LayerSpec { input_size: s.input_size, ..l.spec.clone() } == *s),
        }
    }

    /// Whether the layers can run as one wavefront stack (`Plan::stacked`): two or more layers
    /// of one direction with equal specs.
    pub fn stackable(&self) -> bool {
        self.layers() >= 2 && self.dirs == 1 && self.same_layers
    }

    /// The `layer` of a wavefront stack's dispatches: one past the last layer.
    pub fn stack(&self) -> usize {
        self.layers()
    }

    /// Elements from one half of `Buf::StackH` to the other: `[L, B, H_out]` padded as in
    /// `state_half`.
    pub fn stack_half(&self, b: usize) -> usize {
        (self.layers() * b * self.out).next_multiple_of(STATE_HALF_ALIGN as usize / 4)
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
    pub fn layers(&self) -> usize {
        self.inputs.len()
    }
    fn gates(&self) -> usize {
        self.cell.gates()
    }
    /// Whether layer outputs go through `merge_directions`.
    pub fn merges(&self) -> bool {
        self.dirs == 2 && self.merge != MergeMode::Concat
    }
    /// Width of the merged output.
    pub fn merged_width(&self) -> usize {
        if self.merge == MergeMode::Concat { self.dirs * self.out } else { self.out }
    }
    /// The buffer layer `l` reads.
    pub fn layer_input(&self, l: usize) -> Buf {
        match l {
            0 => Buf::Input,
            _ => self.layer_output(l - 1),
        }
    }
    /// The buffer holding layer `l`'s merged output.
    pub fn layer_output(&self, l: usize) -> Buf {
        if self.merges() { Buf::Merged(l) } else { Buf::LayerOut(l) }
    }
    /// The buffer holding the network's output `y`.
    pub fn output(&self) -> Buf {
        self.layer_output(self.layers() - 1)
    }

    /// Size in f32 elements of a workspace or weight buffer for `t` steps and batch `b`
    /// (`Steps` and the uniforms are sized by the executor).
    pub fn elements(&self, buf: Buf, t: usize, b: usize) -> usize {
        let (d, h, o, g, l) = (self.dirs, self.hidden, self.out, self.gates(), self.layers());
        match buf {
            Buf::Input => t * b * self.inputs[0],
            Buf::Lens => b,
            // a stack's layers above the first read their folded biases after layer 0's rows
            Buf::Xp => d * t * b * h * g + if self.stackable() { (l - 1) * h * g } else { 0 },
            // a stack's: the same per layer, and for GRU x·W_hᵀ of each layer (gru_step.wgsl)
            Buf::Scratch => match (self.cell, self.proj, self.linear_before_reset, self.stackable()) {
                (Cell::Gru, _, false, false) => d * b * h * 2,
                (Cell::Gru, _, false, true) => l * b * h * 3,
                (Cell::Lstm, true, _, stack) => (if stack { l } else { d }) * b * h,
                _ => 1,
            },
            Buf::Hn => l * d * b * o,
            Buf::Cn => l * d * b * h,
            Buf::LayerOut(_) => t * b * d * o,
            Buf::Merged(_) => t * b * o,
            Buf::H(_) => 2 * self.state_half(b),
            Buf::C(_) => d * b * h,
            // weights in the blocked layout of pack.rs, padded to whole blocks
            Buf::Wx(k) => d * self.inputs[k].next_multiple_of(4) * (h * g).next_multiple_of(4 * UNIT_BLOCK),
            Buf::Bx(_) => d * h * g,
            Buf::Wh(_) => recurrent_len(self.cell, d, o, h),
            Buf::Aux(_) => match self.cell {
                Cell::Lstm => d * h * 3,
                Cell::Gru => d * h,
                Cell::Rnn => 1,
            },
            Buf::Wr(_) => {
                if self.proj {
                    d * h.div_ceil(4) * o.next_multiple_of(UNIT_BLOCK) * 4
                } else {
                    4
                }
            }
            Buf::StackH => 2 * self.stack_half(b),
            Buf::StackC => l * b * h,
            Buf::StackWh => recurrent_len(self.cell, 2 * l - 1, o, h),
            Buf::StackAux => l * self.elements(Buf::Aux(0), t, b),
            Buf::StackWr => l * self.elements(Buf::Wr(0), t, b),
            Buf::Wn(_) => {
                if self.cell == Cell::Gru && !self.linear_before_reset {
                    recurrent_len(Cell::Rnn, d, o, h)
                } else {
                    4
                }
            }
            Buf::StackWn => l * self.elements(Buf::Wn(0), t, b),
            Buf::Steps | Buf::LayerParams(_) | Buf::MatmulParams(_) | Buf::MergeParams | Buf::StackParams => 0,
        }
    }

    /// The buffers bound by `kernel` for layer `l`, in binding order (see `Kernel::binding_kinds`).
    /// Step kernels bind `H(l)` twice: the half they read, then the half they write.
    /// `l == self.stack()`: the bindings of a wavefront stack's step kernel.
    pub fn bindings(&self, kernel: Kernel, l: usize) -> Vec<Buf> {
        use Buf::*;
        if l == self.stack() {
            let y = LayerOut(l - 1);
            return match kernel {
                Kernel::RnnStep => vec![StackParams, Steps, Xp, StackWh, Lens, StackH, StackH, y],
                Kernel::LstmStep => {
                    let out = if self.proj { Scratch } else { y };
                    vec![StackParams, Steps, Xp, StackWh, StackAux, Lens, StackH, StackH, StackC, out]
                }
                Kernel::LstmProject => vec![StackParams, Steps, Scratch, StackWr, Lens, StackH, StackH, y],
                Kernel::GruCandidate => {
                    vec![StackParams, Steps, Xp, StackWn, StackAux, Lens, StackH, StackH, y, Scratch]
                }
                // the other GRU kernels
                _ => vec![StackParams, Steps, Xp, StackWh, StackAux, Lens, StackH, StackH, y, Scratch],
            };
        }
        match kernel {
            Kernel::InputProjection => vec![MatmulParams(l), self.layer_input(l), Wx(l), Bx(l), Xp],
            Kernel::RnnStep | Kernel::RnnStepSplit => {
                vec![LayerParams(l), Steps, Xp, Wh(l), Lens, H(l), H(l), LayerOut(l)]
            }
            Kernel::GruStep
            | Kernel::GruStepSplit
            | Kernel::GruStepTiled
            | Kernel::GruStepSliced
            | Kernel::GruGates => {
                vec![LayerParams(l), Steps, Xp, Wh(l), Aux(l), Lens, H(l), H(l), LayerOut(l), Scratch]
            }
            Kernel::GruCandidate => {
                vec![LayerParams(l), Steps, Xp, Wn(l), Aux(l), Lens, H(l), H(l), LayerOut(l), Scratch]
            }
            Kernel::LstmStep | Kernel::LstmStepSplit | Kernel::LstmStepTiled | Kernel::LstmStepSliced => {
                let out = if self.proj { Scratch } else { LayerOut(l) };
                vec![LayerParams(l), Steps, Xp, Wh(l), Aux(l), Lens, H(l), H(l), C(l), out]
            }
            Kernel::LstmProject => vec![LayerParams(l), Steps, Scratch, Wr(l), Lens, H(l), H(l), LayerOut(l)],
            Kernel::MergeDirections => vec![MergeParams, LayerOut(l), Merged(l)],
            Kernel::LayerPersistent => vec![LayerParams(l), Xp, Wh(l), Aux(l), Lens, H(l), C(l), LayerOut(l), Wr(l)],
        }
    }

    /// Whether a kernel's pipeline constant for vec4 reads holds for layer `l`: the input
    /// projection's `INPUT_ALIGNED` (every input row starts on a vec4), the step kernels'
    /// `STATE_ALIGNED` (every state row does).
    pub fn aligned(&self, kernel: Kernel, l: usize) -> bool {
        match kernel {
            Kernel::InputProjection => self.inputs[l] % 4 == 0,
            _ => self.state_aligned(),
        }
    }

    /// Whether `variant` can run this network.
    pub fn supports(&self, variant: StepVariant) -> bool {
        match variant {
            StepVariant::PerStep { rows } => [1, TILE_ROWS, WIDE_ROWS, WIDEST_ROWS].contains(&rows),
            StepVariant::Persistent => self.hidden <= PERSISTENT_UNITS && self.out <= PERSISTENT_UNITS,
            StepVariant::Split { rows } | StepVariant::Tiled { rows } | StepVariant::Sliced { rows } => {
                self.variant_kernel(variant).is_some() && (rows == 1 || rows == TILE_ROWS)
            }
        }
    }

    /// The one step kernel of a split-K, workgroup-tiled or sliced variant for this cell, if
    /// the cell has one (RNN: split-K only; GRU with linear_before_reset and LSTM without
    /// projection: all three; other variants: none).
    pub fn variant_kernel(&self, variant: StepVariant) -> Option<Kernel> {
        use Kernel::*;
        let [split, tiled, sliced] = match (self.cell, self.linear_before_reset, self.proj) {
            (Cell::Rnn, _, _) => [Some(RnnStepSplit), None, None],
            (Cell::Gru, true, _) => [Some(GruStepSplit), Some(GruStepTiled), Some(GruStepSliced)],
            (Cell::Lstm, _, false) => [Some(LstmStepSplit), Some(LstmStepTiled), Some(LstmStepSliced)],
            _ => [None; 3],
        };
        match variant {
            StepVariant::Split { .. } => split,
            StepVariant::Tiled { .. } => tiled,
            StepVariant::Sliced { .. } => sliced,
            StepVariant::PerStep { .. } | StepVariant::Persistent => None,
        }
    }

    /// The split-K step kernel of this cell, if it has one.
    pub fn split_kernel(&self) -> Option<Kernel> {
        self.variant_kernel(StepVariant::Split { rows: 1 })
    }

    /// The variant chosen for batch `b` on a device that runs `fit` well.
    ///
    /// Where `fit.row_tiles` (CPU drivers): per-step kernels, batch-tiled when there is more
    /// than one row (`TILE_ROWS` rows per invocation up to 4, `WIDE_ROWS` above, `WIDEST_ROWS`
    /// above 8 where `fit.wide_tiles`).
    ///
    /// Elsewhere (GPUs), as measured on an NVIDIA H200 (BENCHMARKS.md): the persistent kernel
    /// for RNN layers and layers of at most `SMALL_HIDDEN` units; the sliced kernel up to
    /// `SLICED_BATCH` rows, or any batch up to `SLICED_HIDDEN` units (4 rows per workgroup once
    /// the blocks times the rows exceed `SLICED_WORKGROUPS`, else 1); above, the
    /// workgroup-tiled kernel. Cells without those kernels: the split-K kernel up to
    /// `SPLIT_BATCH` rows, else the persistent kernel where the layer fits it, else per-step
    /// kernels with one row per invocation (1.1-4x faster than 4 to 16 rows there).
    pub fn default_variant(&self, b: usize, fit: DeviceFit) -> StepVariant {
        if fit.row_tiles {
            return self.row_tiled_variant(b, fit);
        }
        let persistent = fit.persistent && self.supports(StepVariant::Persistent);
        let blocks = self.hidden.div_ceil(UNIT_BLOCK);
        let sliced_rows = if blocks * b > SLICED_WORKGROUPS { TILE_ROWS } else { 1 };
        let sliced = StepVariant::Sliced { rows: sliced_rows };
        let tiled = StepVariant::Tiled { rows: 1 };
        if persistent && (self.cell == Cell::Rnn || self.hidden <= SMALL_HIDDEN) {
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

    /// The kernels of one time step, in order.
    pub fn step_kernels(&self) -> &'static [Kernel] {
        match (self.cell, self.linear_before_reset, self.proj) {
            (Cell::Rnn, _, _) => &[Kernel::RnnStep],
            (Cell::Gru, true, _) => &[Kernel::GruStep],
            (Cell::Gru, false, _) => &[Kernel::GruGates, Kernel::GruCandidate],
            (Cell::Lstm, _, false) => &[Kernel::LstmStep],
            (Cell::Lstm, _, true) => &[Kernel::LstmStep, Kernel::LstmProject],
        }
    }
}

/// Stackable LSTM (without projection) and GRU (linear_before_reset) layers up to this hidden
/// size run as wavefront stacks on CPU drivers (lavapipe, T100, L3, B1 and B16, BENCHMARKS.md
/// "Wavefront stacks": up to H128 1.4-1.8x faster than layer by layer; H256 from 1.1x slower
/// to 1.1x faster; H1024 L2 1.3-1.7x slower: a stack's upper layers multiply their input one
/// step at a time, where a projection takes all T*B rows of a layer at once).
pub const STACKED_HIDDEN: usize = 128;

/// The same for RNN layers and for the cells with two kernels per step (GRU with
/// linear_before_reset = 0, LSTM with a projection), which pay more dispatches per unit of
/// work layer by layer: stacks 1.1-1.6x faster at H256 on lavapipe, and at H512 from 1.5x
/// slower (reset-before GRU B1) to 1.1x faster (projected LSTM B16).
pub const STACKED_HIDDEN_MANY_DISPATCHES: usize = 256;

/// Batches up to this size take the split-K kernels on GPUs where a cell has no sliced kernel.
pub const SPLIT_BATCH: usize = 4;

/// Batches up to this size take the sliced kernels on GPUs; larger ones the workgroup-tiled
/// kernels (H200, T50: at B16 the sliced kernel was faster than the tiled one at H128-1024, at
/// B64 slower from H512).
pub const SLICED_BATCH: usize = 16;

/// Layers up to this hidden size take the sliced kernels on GPUs for every batch (H200: H128
/// B64 LSTM 0.35 ms against 0.50 tiled).
pub const SLICED_HIDDEN: usize = 128;

/// Where a sliced step would have more workgroups (unit blocks times batch rows) than this,
/// each takes `TILE_ROWS` rows and reads its weights once for them (H200, H1024 B16: 4 rows
/// 1.6x faster than 1; at 1024 workgroups and fewer, 1 row as fast or faster).
pub const SLICED_WORKGROUPS: usize = 1024;

/// Layers up to this hidden size take the persistent kernel on GPUs (H200: fastest, or within
/// about 10% of the sliced kernel, at H64 for every batch measured, and for RNN up to H128; at
/// H128 LSTM and GRU it was 1.6-2.2x slower than the split-K or tiled kernels, which the sliced
/// kernel beats in turn).
pub const SMALL_HIDDEN: usize = 64;

/// Which kernel versions a device runs well, for [`NetShape::default_variant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceFit {
    /// The persistent kernel: a GPU. On a CPU driver a workgroup is one thread and barriers
    /// are coroutine switches; on lavapipe the per-step kernels ran 1.2-7x faster.
    pub persistent: bool,
    /// The split-K kernels for small batches: a GPU with subgroups.
    pub split: bool,
    /// The widest tiles: 16 batch rows per step invocation for batches over 8, and 32 rows per
    /// input projection invocation from 256 rows: a CPU driver, where every weight load is a
    /// loop over the SIMD row's lanes (lavapipe LSTM H1024 B16: steps 1.28x faster than with 8
    /// rows, the projection 1.08x than with 16). GPUs keep 16 projection rows.
    pub wide_tiles: bool,
    /// Per-step kernels with several batch rows per invocation: a CPU driver. On the NVIDIA
    /// H200 one row per invocation was 1.1-4x faster (more invocations hide more latency).
    pub row_tiles: bool,
    /// The workgroup-tiled and sliced step kernels (workgroups that share their loads through
    /// workgroup memory): a GPU.
    pub workgroup_tiles: bool,
    /// Two units per invocation in the kernels that pair them (`Kernel::pairs_units`): where
    /// lanes are shared (`GpuContext::share_lanes`), whose kernels are built with `PAIRED`
    /// (shaders/shared/lanes.wgsl). Must match the build: it sizes their dispatches.
    pub paired: bool,
}

/// How a layer's time steps run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepVariant {
    /// One dispatch (two for reset-before GRU and projected LSTM) per step; each invocation
    /// computes its hidden unit for this many batch rows (1, `TILE_ROWS`, `WIDE_ROWS` or
    /// `WIDEST_ROWS`).
    PerStep { rows: u32 },
    /// `layer_persistent`: all steps of a layer in one dispatch (H and H_out up to 128).
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

/// One compute dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatch {
    pub kernel: Kernel,
    pub layer: usize,
    pub workgroups: [u32; 3],
    /// Time step (selects the dynamic offset of `Buf::Steps`) for step kernels.
    pub step: Option<u32>,
    /// Pipeline constant `ROWS` (batch rows per invocation); 1 for other kernels.
    pub rows: u32,
}

/// One command of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Zero a buffer.
    Clear(Buf),
    Dispatch(Dispatch),
    /// Copy `size` bytes.
    Copy {
        src: Buf,
        src_offset: u64,
        dst: Buf,
        dst_offset: u64,
        size: u64,
    },
}

/// The commands of one forward call.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub commands: Vec<Command>,
}

/// Rows per invocation of the input projection over `m` rows (the module's `ROWS`):
/// `PROJECTION_ROWS` from 256 rows where `fit.wide_tiles`, 16 from 64 rows, else 8.
pub fn projection_rows(kernel: Kernel, m: usize, fit: DeviceFit) -> u32 {
    match kernel {
        Kernel::InputProjection if m >= 256 && fit.wide_tiles => PROJECTION_ROWS,
        Kernel::InputProjection if m >= 64 => WIDEST_ROWS,
        Kernel::InputProjection => WIDE_ROWS,
        _ => 1,
    }
}

fn groups(n: usize, per: u32) -> u32 {
    n.div_ceil(per as usize) as u32
}

/// Workgroups (of 64 invocations) of `kernel`, built for `rows` rows per invocation, for `units`
/// units: hidden units, or the input projection's column quads. One invocation per unit, or,
/// where `fit.paired` and the kernel pairs (`Kernel::pairs_units`), one per pair: invocation i
/// computes unit (i / 8) * 16 + i % 8 and the unit 8 after it (keep in sync with `paired_unit`
/// in shaders/shared/lanes.wgsl).
pub fn unit_workgroups(kernel: Kernel, rows: u32, units: usize, fit: DeviceFit) -> u32 {
    let invocations =
        if fit.paired && kernel.pairs_units(rows) { units.div_ceil(2 * UNIT_BLOCK) * UNIT_BLOCK } else { units };
    groups(invocations, 64)
}

/// Layer `l`'s input projection over `t * b` rows, for `dirs` directions (z).
fn projection_dispatch(shape: &NetShape, l: usize, t: usize, b: usize, dirs: usize, fit: DeviceFit) -> Dispatch {
    let kernel = Kernel::InputProjection;
    let rows = projection_rows(kernel, t * b, fit);
    Dispatch {
        kernel,
        layer: l,
        // each invocation computes a block of rows x 4 columns (two such where paired)
        workgroups: [
            unit_workgroups(kernel, rows, (shape.hidden * shape.gates()).div_ceil(4), fit),
            groups(t * b, rows.max(WIDE_ROWS)),
            dirs as u32,
        ],
        step: None,
        rows,
    }
}

/// The per-step kernels of step `s` (`NetShape::step_kernels`) for `layer` (a layer, or
/// `NetShape::stack`), `slots` direction slots (z), batch `b`, `rows` rows per invocation.
#[expect(
    clippy::too_many_arguments,
    reason = "one call per plan; a struct of them would be built only to be taken apart"
)]
fn push_step_dispatches(
    commands: &mut Vec<Command>,
    shape: &NetShape,
    layer: usize,
    slots: usize,
    s: usize,
    b: usize,
    rows: u32,
    fit: DeviceFit,
) {
    for &kernel in shape.step_kernels() {
        let width = if kernel == Kernel::LstmProject { shape.out } else { shape.hidden };
        commands.push(Command::Dispatch(Dispatch {
            kernel,
            layer,
            workgroups: [unit_workgroups(kernel, rows, width, fit), groups(b, rows), slots as u32],
            step: Some(s as u32),
            rows,
        }));
    }
}

/// Workgroups for a one-dimensional kernel of `n` invocations spread over x and y.
pub fn linear_workgroups(n: usize, per: u32, max_dim: u32) -> [u32; 3] {
    let total = groups(n, per).max(1);
    [total.min(max_dim), total.div_ceil(max_dim), 1]
}

impl Plan {
    /// The plan of a forward call over `t` steps and batch `b` whose longest sequence has
    /// `max_len` steps. `ragged`: some sequence is shorter than `t`, so outputs are zeroed first.
    /// `variant` must be one `shape.supports`.
    /// `fit` picks the projection's rows per invocation (`projection_rows`).
    pub fn forward(
        shape: &NetShape,
        t: usize,
        b: usize,
        max_len: usize,
        ragged: bool,
        variant: StepVariant,
        fit: DeviceFit,
    ) -> Plan {
        let mut commands = Vec::new();
        let (d, h, o) = (shape.dirs, shape.hidden, shape.out);
        let f32s = |n: usize| (n * 4) as u64;
        for l in 0..shape.layers() {
            if ragged {
                commands.push(Command::Clear(Buf::LayerOut(l)));
            }
            commands.push(Command::Dispatch(projection_dispatch(shape, l, t, b, d, fit)));
            let final_half = match variant {
                StepVariant::Persistent => {
                    commands.push(Command::Dispatch(Dispatch {
                        kernel: Kernel::LayerPersistent,
                        layer: l,
                        workgroups: [1, b as u32, d as u32],
                        step: None,
                        rows: 1,
                    }));
                    0 // the persistent kernel leaves the final state in half 0
                }
                StepVariant::PerStep { rows } => {
                    for s in 0..max_len {
                        push_step_dispatches(&mut commands, shape, l, d, s, b, rows, fit);
                    }
                    max_len % 2
                }
                StepVariant::Split { rows } | StepVariant::Tiled { rows } | StepVariant::Sliced { rows } => {
                    // one dispatch per step of the variant's single step kernel
                    let workgroups = match variant {
                        StepVariant::Split { .. } => [h as u32, groups(b, rows)],
                        StepVariant::Tiled { .. } => [groups(h, TILED_UNITS as u32), groups(b, TILED_BATCH as u32)],
                        _ => [groups(h, UNIT_BLOCK as u32), groups(b, rows)],
                    };
                    let kernel = shape.variant_kernel(variant).expect("a supported variant");
                    for s in 0..max_len {
                        commands.push(Command::Dispatch(Dispatch {
                            kernel,
                            layer: l,
                            workgroups: [workgroups[0], workgroups[1], d as u32],
                            step: Some(s as u32),
                            rows,
                        }));
                    }
                    max_len % 2
                }
            };
            if shape.merges() {
                commands.push(Command::Dispatch(Dispatch {
                    kernel: Kernel::MergeDirections,
                    layer: l,
                    workgroups: linear_workgroups(t * b * o, 64, 65535),
                    step: None,
                    rows: 1,
                }));
            }
            let state = f32s(d * b * o);
            commands.push(Command::Copy {
                src: Buf::H(l),
                src_offset: final_half as u64 * f32s(shape.state_half(b)),
                dst: Buf::Hn,
                dst_offset: l as u64 * state,
                size: state,
            });
            if shape.cell == Cell::Lstm {
                let cell = f32s(d * b * h);
                commands.push(Command::Copy {
                    src: Buf::C(l),
                    src_offset: 0,
                    dst: Buf::Cn,
                    dst_offset: l as u64 * cell,
                    size: cell,
                });
            }
        }
        Plan { commands }
    }

    /// The plan of a forward call that runs a stackable network (`NetShape::stackable`) as one
    /// wavefront: layer 0's input projection, then `max_len + L - 1` dispatches of the cell's
    /// step kernel with one direction slot per layer, in which step `s` runs layer `d` at its own
    /// step `s - d` (shared/rows.wgsl `is_wave`). A layer above the first takes its input,
    /// layer `d-1`'s output at that step, straight from the state that the previous dispatch
    /// left, so it needs no projection: `T + L` dispatches in all instead of `L (T + 1)`
    /// (`2 (T + L - 1) + 1` instead of `L (2T + 1)` for the cells with two kernels per step).
    /// `rows`: batch rows per invocation, as in `StepVariant::PerStep`.
    pub fn stacked(
        shape: &NetShape,
        t: usize,
        b: usize,
        max_len: usize,
        ragged: bool,
        rows: u32,
        fit: DeviceFit,
    ) -> Plan {
        debug_assert!(shape.stackable());
        let (l_count, h, o, g) = (shape.layers(), shape.hidden, shape.out, shape.gates());
        let f32s = |n: usize| (n * 4) as u64;
        let y = Buf::LayerOut(l_count - 1);
        let mut commands = Vec::new();
        if ragged {
            commands.push(Command::Clear(y));
        }
        commands.push(Command::Dispatch(projection_dispatch(shape, 0, t, b, 1, fit)));
        for l in 1..l_count {
            // layer l's folded bias, where xp_row finds it
            commands.push(Command::Copy {
                src: Buf::Bx(l),
                src_offset: 0,
                dst: Buf::Xp,
                dst_offset: f32s((t * b + l - 1) * h * g),
                size: f32s(h * g),
            });
        }
        let waves = if max_len == 0 { 0 } else { max_len + l_count - 1 };
        for s in 0..waves {
            push_step_dispatches(&mut commands, shape, shape.stack(), l_count, s, b, rows, fit);
        }
        let state = f32s(l_count * b * o);
        commands.push(Command::Copy {
            src: Buf::StackH,
            src_offset: (waves % 2) as u64 * f32s(shape.stack_half(b)),
            dst: Buf::Hn,
            dst_offset: 0,
            size: state,
        });
        if shape.cell == Cell::Lstm {
            commands.push(Command::Copy {
                src: Buf::StackC,
                src_offset: 0,
                dst: Buf::Cn,
                dst_offset: 0,
                size: f32s(l_count * b * h),
            });
        }
        Plan { commands }
    }

    /// The plan of one stream chunk of `k` steps for `n` slots: the forward plan, then, where
    /// the last step left a layer's state in the second half of `H(l)`, a copy back to the first
    /// half (through `Hn`, which the forward plan fills), where the next chunk starts.
    /// `ragged`: some slots sit this chunk out.
    pub fn chunk(shape: &NetShape, k: usize, n: usize, ragged: bool, variant: StepVariant, fit: DeviceFit) -> Plan {
        let mut plan = Plan::forward(shape, k, n, k, ragged, variant, fit);
        if !matches!(variant, StepVariant::Persistent) && k % 2 == 1 {
            let state = (shape.dirs * n * shape.out * 4) as u64;
            for l in 0..shape.layers() {
                plan.commands.push(Command::Copy {
                    src: Buf::Hn,
                    src_offset: l as u64 * state,
                    dst: Buf::H(l),
                    dst_offset: 0,
                    size: state,
                });
            }
        }
        plan
    }

    /// Number of compute dispatches.
    pub fn dispatches(&self) -> usize {
        self.commands.iter().filter(|c| matches!(c, Command::Dispatch(_))).count()
    }

    /// Every `(kernel, layer)` pair the plan dispatches (each needs one bind group).
    pub fn bind_sets(&self) -> Vec<(Kernel, usize)> {
        let mut v: Vec<_> = self
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Dispatch(d) => Some((d.kernel, d.layer)),
                _ => None,
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }
}
