//! The sizes that shape a plan ([`NetShape`], read off a network) and what they imply: buffer
//! sizes, each kernel's bindings, which variants can run, the kernels of one step.

use crate::kernels::{Kernel, PERSISTENT_UNITS, TILE_ROWS, WIDE_ROWS, WIDEST_ROWS};
use crate::network::Network;
use crate::pack::{UNIT_BLOCK, recurrent_len};
use crate::spec::{Cell, LayerSpec, MergeMode};

use super::policy::StepVariant;
use super::types::{Buf, STATE_HALF_ALIGN};

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

    /// Number of layers L.
    pub fn layers(&self) -> usize {
        self.inputs.len()
    }
    /// Gates per unit G.
    pub fn gates(&self) -> usize {
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

    /// The buffers bound by `kernel` for layer `l`, in binding order (see `Kernel::binding_kinds`;
    /// a `*_lanes` kernel binds what its portable twin binds). Step kernels bind `H(l)` twice:
    /// the half they read, then the half they write. `l == self.stack()`: the bindings of a
    /// wavefront stack's step kernel.
    pub fn bindings(&self, kernel: Kernel, l: usize) -> Vec<Buf> {
        use Buf::*;
        let kernel = kernel.portable();
        // (the `*_lanes` kernels below never arrive here: they bind as their portable twins)
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
            Kernel::InputProjection | Kernel::InputProjectionLanes => {
                vec![MatmulParams(l), self.layer_input(l), Wx(l), Bx(l), Xp]
            }
            Kernel::RnnStep | Kernel::RnnStepLanes | Kernel::RnnStepSplit => {
                vec![LayerParams(l), Steps, Xp, Wh(l), Lens, H(l), H(l), LayerOut(l)]
            }
            Kernel::GruStep
            | Kernel::GruStepLanes
            | Kernel::GruStepSplit
            | Kernel::GruStepTiled
            | Kernel::GruStepSliced
            | Kernel::GruGates
            | Kernel::GruGatesLanes => {
                vec![LayerParams(l), Steps, Xp, Wh(l), Aux(l), Lens, H(l), H(l), LayerOut(l), Scratch]
            }
            Kernel::GruCandidate | Kernel::GruCandidateLanes => {
                vec![LayerParams(l), Steps, Xp, Wn(l), Aux(l), Lens, H(l), H(l), LayerOut(l), Scratch]
            }
            Kernel::LstmStep
            | Kernel::LstmStepLanes
            | Kernel::LstmStepSplit
            | Kernel::LstmStepTiled
            | Kernel::LstmStepSliced => {
                let out = if self.proj { Scratch } else { LayerOut(l) };
                vec![LayerParams(l), Steps, Xp, Wh(l), Aux(l), Lens, H(l), H(l), C(l), out]
            }
            Kernel::LstmProject => vec![LayerParams(l), Steps, Scratch, Wr(l), Lens, H(l), H(l), LayerOut(l)],
            Kernel::MergeDirections => vec![MergeParams, LayerOut(l), Merged(l)],
            Kernel::LayerPersistent => {
                vec![LayerParams(l), Xp, Wh(l), Aux(l), Lens, H(l), C(l), LayerOut(l), Wr(l), Steps]
            }
        }
    }

    /// Whether a kernel's pipeline constant for vec4 reads holds for layer `l`: the input
    /// projection's `INPUT_ALIGNED` (every input row starts on a vec4), the step kernels'
    /// `STATE_ALIGNED` (every state row does).
    pub fn aligned(&self, kernel: Kernel, l: usize) -> bool {
        match kernel.portable() {
            Kernel::InputProjection => self.inputs[l] % 4 == 0,
            _ => self.state_aligned(),
        }
    }

    /// Whether `variant` can run this network.
    pub fn supports(&self, variant: StepVariant) -> bool {
        match variant {
            StepVariant::PerStep { rows } => [1, TILE_ROWS, WIDE_ROWS, WIDEST_ROWS].contains(&rows),
            StepVariant::Persistent => {
                self.hidden <= PERSISTENT_UNITS as usize && self.out <= PERSISTENT_UNITS as usize
            }
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
