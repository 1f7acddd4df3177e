//! The plan's types: the buffers a plan names ([`Buf`]), its commands ([`Command`],
//! [`Dispatch`]) and the [`Plan`] of one forward call, built from a [`NetShape`] and the variant
//! the policy picked.

use crate::kernels::{Kernel, STEP_WORKGROUP, TILED_BATCH, TILED_UNITS};
use crate::pack::UNIT_BLOCK;
use crate::spec::Cell;

use super::policy::{DeviceFit, StepVariant, projection_rows};
use super::shape::NetShape;

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

fn groups(n: usize, per: u32) -> u32 {
    n.div_ceil(per as usize) as u32
}

/// Workgroups along x of `kernel`, built for `rows` rows per invocation, for `units` units:
/// hidden units, or the input projection's column quads. One invocation per unit, or, where the
/// kernel pairs units (`Kernel::pairs_units`), one per pair: invocation i computes unit
/// (i / 8) * 16 + i % 8 and the unit 8 after it (`paired_unit` in shaders/shared/lanes.wgsl).
pub fn unit_workgroups(kernel: Kernel, rows: u32, units: usize) -> u32 {
    let invocations = if kernel.pairs_units(rows) { units.div_ceil(2 * UNIT_BLOCK) * UNIT_BLOCK } else { units };
    groups(invocations, kernel.workgroup_size(rows)[0])
}

/// Layer `l`'s input projection over `t * b` rows, for `dirs` directions (z).
fn projection_dispatch(shape: &NetShape, l: usize, t: usize, b: usize, dirs: usize, fit: DeviceFit) -> Dispatch {
    let kernel = fit.kernel(Kernel::InputProjection);
    let rows = projection_rows(t * b, fit);
    Dispatch {
        kernel,
        layer: l,
        // each invocation computes a block of rows x 4 columns (two such where paired)
        workgroups: [
            unit_workgroups(kernel, rows, (shape.hidden * shape.gates()).div_ceil(4)),
            groups(t * b, rows),
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
    for &portable in shape.step_kernels() {
        let kernel = fit.kernel(portable);
        let width = if kernel == Kernel::LstmProject { shape.out } else { shape.hidden };
        commands.push(Command::Dispatch(Dispatch {
            kernel,
            layer,
            workgroups: [unit_workgroups(kernel, rows, width), groups(b, rows), slots as u32],
            step: Some(s as u32),
            rows,
        }));
    }
}

/// Workgroups per dimension every WebGPU device allows (`max_compute_workgroups_per_dimension`).
const MAX_WORKGROUPS: u32 = 65535;

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
                    // PERSISTENT_STEPS steps per dispatch, each from the state the one before left
                    let firsts = (0..max_len.max(1)).step_by(crate::kernels::PERSISTENT_STEPS as usize);
                    commands.extend(firsts.map(|s| {
                        Command::Dispatch(Dispatch {
                            kernel: Kernel::LayerPersistent,
                            layer: l,
                            workgroups: [1, b as u32, d as u32],
                            step: Some(s as u32),
                            rows: 1,
                        })
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
                        StepVariant::Tiled { .. } => [groups(h, TILED_UNITS), groups(b, TILED_BATCH)],
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
                    workgroups: linear_workgroups(t * b * o, STEP_WORKGROUP, MAX_WORKGROUPS),
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
