//! The plan of one training pass: a forward that keeps a tape, then backpropagation through
//! time. Which kernels run, in which order, on which buffers; no wgpu types, so tests count its
//! dispatches and size its buffers without a device. `gpu::train` records it.
//!
//! Per layer, forward: one `matmul` per direction (`xp = x·Wᵀ + Wb`), then one `train_step` per
//! time step for both directions. Backward, from the last layer down: one
//! `train_step_backward` per step, then the weights' gradients and the layer input's gradient
//! as matmuls over all T·B rows at once (`dW = dGᵀ·X`, `dR = dGᵀ·H_prev`, bias and peephole
//! column sums, `dW_hr = dHᵀ·M`, `dX = dG·W`). A persistent layer ([`Walk`]) takes a
//! `train_persistent` and a `train_persistent_backward` per [`TrainLayer::walk_steps`] steps in
//! place of its step dispatches.

use crate::kernels::{LOOP_BUDGET, TrainKernel};
use crate::network::Network;
use crate::pack::UNIT_BLOCK;
use crate::spec::{Cell, MergeMode};

/// Invocations per workgroup of `train_step` and `train_step_backward` (WGSL `TRAIN_WORKGROUP`).
pub const TRAIN_WORKGROUP: u32 = 64;
/// Batch rows one `train_step` or `train_step_backward` invocation computes (WGSL
/// `TRAIN_ROWS`): each recurrent weight it loads serves that many rows. The kernels hold the rows
/// in vec4s: change them with it.
pub const TRAIN_ROWS: u32 = 4;
/// Rows and columns of the block of C one `matmul` invocation keeps in registers (WGSL
/// `MM_ROWS`, `MM_BLOCK`): eight vec4 accumulators, written out in the kernel (change it with
/// them).
pub const MM_ROWS: u32 = 8;
/// Columns of the block of C one `matmul` invocation keeps in registers (WGSL `MM_BLOCK`).
pub const MM_BLOCK: u32 = 4;
/// Columns of the block of C one invocation of the vec4 products (`matmul_kk`, `matmul_kn`,
/// `matmul_mn`) keeps in registers (WGSL `MM_WIDE`): a `Block` of four mat4x4 quarters, written
/// out in the kernels (change it with them); each load of A serves eight columns.
pub const MM_WIDE: u32 = 8;
/// Side of `matmul`'s square workgroup of invocations (WGSL `MM_GROUP`).
pub const MM_GROUP: u32 = 8;
/// Rows of C per `matmul` workgroup.
pub const MM_TILE_ROWS: u32 = MM_ROWS * MM_GROUP;
/// `MatmulParams::flags`: add the bias row `b[bias_off + n]` (WGSL `FLAG_MM_BIAS`).
pub const FLAG_MM_BIAS: u32 = 1;
/// `MatmulParams::flags`: add to C instead of overwriting it (WGSL `FLAG_MM_ACCUMULATE`).
pub const FLAG_MM_ACCUMULATE: u32 = 2;
/// `MatmulParams::flags`: copy A into C (a transpose by strides; WGSL `FLAG_MM_COPY`).
pub const FLAG_MM_COPY: u32 = 4;
/// `MatmulParams::flags`: C's rows in quads and its columns in blocks of [`UNIT_BLOCK`], element
/// (m, n) at `c_off + (n / UNIT_BLOCK) * ⌈M/4⌉ * c_m + (m / 4) * c_m + (n % UNIT_BLOCK) * c_n +
/// m % 4` (WGSL `FLAG_MM_QUADS`): four consecutive rows of a column become one vec4, and a block
/// of columns keeps all its rows together ([`Matmul::c_at`], [`TBuf::RT`]).
pub const FLAG_MM_QUADS: u32 = 8;
/// Rows of k one `matmul` dispatch sums at most, one loop iteration each: longer products (a
/// weight gradient over T*B rows) are split into dispatches that accumulate
/// (`TrainPlan::split_long_products`) within [`LOOP_BUDGET`].
pub const MATMUL_K_CHUNK: usize = LOOP_BUDGET;
/// Positions one `embed_backward` dispatch sums at most (WGSL `EMBED_ROWS`): the embedding's
/// gradient walks the T*B positions in order, in dispatches of this many, for the same reason.
pub const EMBED_ROWS: usize = LOOP_BUDGET;
/// `StepParams::step` of the dispatch that gives dh0 after a layer's backward walk (WGSL
/// `STEP_INITIAL`).
pub const STEP_INITIAL: u32 = u32::MAX;
/// The most workgroups along one dimension of a dispatch (WebGPU's default limit).
pub const MAX_WORKGROUPS: usize = 65535;

/// How the layers of a training pass walk through time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Walk {
    /// Per-step kernels: one dispatch per step each way, two where [`TrainLayer::two_phase`].
    /// What CPU drivers run: there a workgroup is one thread, so a persistent walk would put a
    /// quad of rows on one core.
    #[default]
    PerStep,
    /// Layers of up to `PERSISTENT_UNITS` units walk many steps per dispatch each way
    /// (`train_persistent`, `train_persistent_backward`; [`TrainLayer::walk_steps`]): a
    /// workgroup walks a quad of rows of one direction through time, an invocation per unit,
    /// steps apart by storage barriers. Larger layers take the per-step kernels.
    Persistent,
    /// Persistent where [`TrainLayer::small`], per-step elsewhere: GPUs' default.
    Small,
}

impl Walk {
    /// Every walk, by [`Walk::name`].
    pub const ALL: [Walk; 3] = [Walk::PerStep, Walk::Persistent, Walk::Small];

    /// Its name on the command line and in `WGPU_RNN_WALK`: `per-step`, `persistent`, `small`.
    pub fn name(self) -> &'static str {
        match self {
            Walk::PerStep => "per-step",
            Walk::Persistent => "persistent",
            Walk::Small => "small",
        }
    }

    /// Parses a walk's name; `auto` (or nothing) is `None`, the device's default.
    pub fn parse(s: &str) -> crate::Result<Option<Walk>> {
        let s = s.trim().to_ascii_lowercase();
        if s.is_empty() || s == "auto" {
            return Ok(None);
        }
        Self::ALL.into_iter().find(|w| w.name() == s).map(Some).ok_or_else(|| {
            crate::Error::invalid("walk", format!("unknown walk `{s}` (auto, per-step, persistent, small)"))
        })
    }

    /// Whether layer `ly` walks persistently: with `Persistent`, every layer the kernels hold
    /// (H up to `PERSISTENT_UNITS`, one unit per invocation).
    pub fn persistent(self, ly: &TrainLayer) -> bool {
        match self {
            Walk::PerStep => false,
            Walk::Persistent => ly.hidden <= crate::kernels::PERSISTENT_UNITS as usize,
            Walk::Small => ly.small(),
        }
    }
}

/// A buffer of a training pass. Sizes in floats: [`TrainPlan::size`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TBuf {
    /// `x [T, B, I]`
    X,
    /// Sequence lengths `[B]` (u32).
    Lens,
    /// One float, 1.0: the B operand of column sums (strides 0).
    Ones,
    /// `h0 [L*D, B, H_out]`, `c0 [L*D, B, H]` (zeros when absent).
    H0,
    C0,
    /// Upstream gradients: `dy [T, B, W]`, `dh_n [L*D, B, H_out]`, `dc_n [L*D, B, H]`.
    Dy,
    DhN,
    DcN,
    /// Forward outputs: `h_n`, `c_n` (the last layer's merged `y` is [`TrainPlan::output`]).
    HN,
    CN,
    /// Gradients of the initial states, `[L*D, B, H_out]` and `[L*D, B, H]`.
    Dh0,
    Dc0,
    /// Layer l's weights and their gradients, one buffer each in ONNX layout
    /// ([`TrainLayer::weights_len`]).
    Wts(usize),
    Grads(usize),
    /// `xp [D, T, B, G*H]`
    Xp(usize),
    /// The recurrent weights transposed in input quads, gate by gate, units in blocks of
    /// [`UNIT_BLOCK`]: `[D, ⌈H/UNIT_BLOCK⌉, ⌈H_out/4⌉, UNIT_BLOCK, G]` vec4s,
    /// `R[g*H + j, 4q .. 4q + 4]` (zero past H_out), so the forward step reads unit j's gates
    /// for four inputs as G vec4s in a row, next to its neighbours', and a block's invocations
    /// read one contiguous stream as the inputs advance (refreshed each pass); then a folded
    /// projected LSTM's `R'ᵀ` in the same layout ([`TrainLayer::rt_fold`]).
    RT(usize),
    /// `h [D, B, H_out]` then `c [D, B, H]`
    State(usize),
    /// `[D, T, B, record]` ([`TrainLayer::record`])
    Tape(usize),
    /// The layer's output `[T, B, D, H_out]`.
    Y(usize),
    /// Its merged output `[T, B, H_out]` (sum, average, mul of two directions).
    Merged(usize),
    /// Its merged output after dropout `[T, B, W]`: the next layer's input while training.
    Dropped(usize),
    /// The backward walk's carry, per row of each direction ([`TrainLayer::carry_len`]).
    Carry(usize),
    /// `dGx [D, T, B, G*H]`, then for GRU `linear_before_reset` 1 `dGr` of the same size.
    DGates(usize),
    /// `dh [D, T, B, H_out]` per step (projection), then peephole partials `[D, B, 3H]`.
    Extras(usize),
    /// Gradient of layer l's input `[T, B, K]` (layer 0's is `dx`).
    DIn(usize),
    // A training step's buffers (`TrainPlan::training_step`):
    /// Token ids `[T, B]` (u32).
    Ids,
    /// Class ids `[rows]` (u32) or values `[rows, C]`.
    Targets,
    /// The embedding `[vocab, E]` and its gradient.
    EmbW,
    EmbGrad,
    /// The head `Linear(W, C)`: weight `[C, W]` then bias `[C]`, and their gradients.
    HeadW,
    HeadGradW,
    /// The head's outputs `[rows, C]`, the loss's gradient of them, each row's loss `[rows]`.
    Logits,
    DLogits,
    RowLoss,
    /// `[0]` loss, `[1]` non-finite update flag, `[2 + 2g]`, `[3 + 2g]` group g's sums of squares,
    /// then each group's `NORM_PARTS` partial sums of them (pairs).
    Stats,
    /// Parameter group g's optimizer moments, and what the update overwrote of its parameters
    /// and moments (`optimizer_update` writes them; restored when an update fails).
    OptM(usize),
    OptV(usize),
    BackP(usize),
    BackM(usize),
    BackV(usize),
    /// A sequence-to-sequence step's encoder parameter group g and its gradients, as the
    /// decoder's plan names them (the encoder's plan calls them `EmbW`, `Wts(l)`, ...): the
    /// decoder's plan clips and updates every group.
    EncParam(usize),
    EncGrad(usize),
}

/// What a training layer is, for sizing and addressing (read off a [`Network`] layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainLayer {
    pub cell: Cell,
    /// Directions D.
    pub dirs: usize,
    /// Input width K.
    pub input: usize,
    /// Cell width H.
    pub hidden: usize,
    /// Width of h, H_out (the projection size, or H).
    pub out: usize,
    pub peephole: bool,
    pub proj: bool,
    /// GRU `linear_before_reset`.
    pub linear_before_reset: bool,
    /// A projected LSTM that runs one dispatch per step each way ([`Self::folded`]); set by
    /// [`TrainLayer::of`] for every projected layer, cleared by plans with recurrent dropout.
    pub fold: bool,
    /// The layer walks through time [`Self::walk_steps`] steps per dispatch each way
    /// ([`Walk`]); false from [`TrainLayer::of`], set by the plan. A persistent layer does not
    /// fold.
    pub persistent: bool,
}

impl TrainLayer {
    /// Every layer of `net`.
    pub fn of(net: &Network) -> Vec<TrainLayer> {
        net.layers
            .iter()
            .map(|l| TrainLayer {
                cell: l.spec.cell,
                dirs: l.spec.directions(),
                input: l.spec.input_size,
                hidden: l.spec.hidden_size,
                out: l.spec.output_size(),
                peephole: l.spec.cell == Cell::Lstm && l.weights.p.is_some(),
                proj: l.weights.proj.is_some(),
                linear_before_reset: l.spec.linear_before_reset,
                fold: l.weights.proj.is_some(),
                persistent: false,
            })
            .collect()
    }

    /// Whether this projected LSTM's steps read the previous step's m through the folded
    /// recurrent weights `R' = R·W_hr [G*H, H]` (the gates' product `R·h_prev` is `R'·m_prev`
    /// for every step after the first), so each step is one dispatch each way: the forward
    /// projects m_prev into h_prev beside the gates instead of before them, the backward takes
    /// dm from `R'ᵀ·dG` and `W_hrᵀ·dy` instead of waiting for dh. It costs `G*H*(H - H_out)`
    /// more multiply-adds per row and step each way, and products per pass for R' (one per
    /// direction) and its transpose (one per direction and gate). Recurrent dropout masks
    /// h_prev between R and W_hr, row by row, so it does not fold: those plans keep two
    /// dispatches per step.
    pub fn folded(&self) -> bool {
        self.proj && self.fold
    }

    /// Whether the layer is small enough that on a GPU one workgroup per quad of rows walking
    /// all its steps beats a dispatch per step: where it fits (`PERSISTENT_UNITS` units), the
    /// forward's rule ([`persistent_beats_steps`](crate::plan::policy::persistent_beats_steps),
    /// measured on the H200), and for the cells with two dispatches per step (reset-before
    /// GRU, projected LSTM) wherever they fit.
    pub fn small(&self) -> bool {
        let fits = self.hidden <= crate::kernels::PERSISTENT_UNITS as usize;
        let two_dispatches = self.proj || (self.cell == Cell::Gru && !self.linear_before_reset);
        fits && (two_dispatches || crate::plan::policy::persistent_beats_steps(self.cell, self.hidden))
    }

    /// Steps per persistent walk dispatch each way: as many as keep an invocation's loop
    /// iterations within [`LOOP_BUDGET`] ([`Self::walk_step_loops`] per step), at least one.
    pub fn walk_steps(&self) -> usize {
        (LOOP_BUDGET / self.walk_step_loops()).max(1)
    }

    /// Loop iterations one invocation runs per step of a persistent walk, at most: the
    /// kernels' loops (train_step.wgsl, train_step_backward.wgsl, shared/quarters.wgsl,
    /// shared/eighths.wgsl) counted with two more per loop for entering and leaving it, the
    /// larger of the forward's and the backward's. lavapipe's count stays below it (BENCHMARKS,
    /// "Persistent walk").
    pub fn walk_step_loops(&self) -> usize {
        let lp = |n: usize| n + 2; // one loop of n iterations
        let rows = lp(TRAIN_ROWS as usize); // the loop over a quad's rows
        let (h, w, g) = (self.hidden, self.out, self.cell.gates());
        let reset_before = self.cell == Cell::Gru && !self.linear_before_reset;
        // backward: Rᵀ dG over `n` recurrent rows in eighths of their quads (shared_products,
        // add_eighths), or row by row where G·H is not a multiple of 4 (row_products)
        let eighths = lp(4) + lp(7);
        let product = |n: usize| if self.row_quads() { lp((n / 4).div_ceil(8)) } else { lp(0) + lp(n) };
        let mut back = 1 + product(if reset_before { 2 * h } else { g * h }) + eighths + rows;
        // forward: Rᵀ's products over the inputs in quarters of their quads (two loops), the
        // gates' sums (two loops) and add_quarters per gate
        let quarters = lp(4);
        let mut fwd = 1 + 2 * lp(w.div_ceil(16)) + 2 * lp(g) + g * quarters + rows;
        if reset_before {
            // the candidate's second half: r ⊙ h_prev's product each way
            back += product(h) + eighths + rows;
            fwd += 2 * lp(h.div_ceil(16)) + quarters + rows;
        }
        if self.proj {
            // the projection's second half: W_hr over H forward, W_hrᵀ over H_out back
            back += lp(w) + rows;
            fwd += lp(h) + rows;
        }
        fwd.max(back)
    }

    /// Gate rows G*H.
    pub fn gh(&self) -> usize {
        self.cell.gates() * self.hidden
    }
    /// Floats of one direction of [`TBuf::RT`]'s layout for `inputs` recurrent inputs: H units in
    /// blocks of [`UNIT_BLOCK`], each block ⌈inputs/4⌉ quads of its units' G vec4s
    /// ([`Matmul::c_at`] with [`FLAG_MM_QUADS`]).
    fn rt_direction(&self, inputs: usize) -> usize {
        self.hidden.div_ceil(UNIT_BLOCK) * inputs.div_ceil(4) * UNIT_BLOCK * 4 * self.cell.gates()
    }
    /// Offsets in the weight buffer: `W [D, GH, K]`, `R [D, GH, H_out]`, `B [D, 2GH]`,
    /// `P [D, 3H]`, `W_hr [D, H_out, H]`: ONNX's tensors one after another.
    pub fn r_off(&self) -> usize {
        self.dirs * self.gh() * self.input
    }
    pub fn b_off(&self) -> usize {
        self.r_off() + self.dirs * self.gh() * self.out
    }
    pub fn p_off(&self) -> usize {
        self.b_off() + self.dirs * 2 * self.gh()
    }
    pub fn proj_off(&self) -> usize {
        self.p_off() + if self.peephole { self.dirs * 3 * self.hidden } else { 0 }
    }
    pub fn weights_len(&self) -> usize {
        self.proj_off() + if self.proj { self.dirs * self.out * self.hidden } else { 0 }
    }
    /// Floats per tape record: pre-activations `[GH]`, `h_prev [H_out]`, ext `[H]` (GRU, LSTM).
    pub fn record(&self) -> usize {
        self.ext_off() + if self.cell == Cell::Rnn { 0 } else { self.hidden }
    }
    pub fn hprev_off(&self) -> usize {
        self.gh()
    }
    pub fn ext_off(&self) -> usize {
        self.gh() + self.out
    }
    /// Where a projected LSTM's m = o ⊙ h(c') sits in a tape record once the step's backward is
    /// done with it: the o gate's pre-activation slot (ONNX order i, o, f, c), the operand of
    /// dW_hr. The forward keeps m of the running step in the state ([`Self::state_m`]), so a
    /// record stays within `(G + 2) * H` floats: `G*H + H_out + H` with `H_out <= H`.
    pub fn m_off(&self) -> usize {
        self.hidden
    }
    /// The state: `h_n [D, B, H_out]`, c `[D, B, H]`, h0 `[D, B, H_out]`, m `[D, B, H]`
    /// (projection; `[2, D, B, H]` by step parity when [`Self::folded`]: a step reads the m of
    /// the step before while it writes its own).
    pub fn state_len(&self, b: usize) -> usize {
        let m = match (self.proj, self.folded()) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => 2,
        };
        self.state_m(b) + m * self.dirs * b * self.hidden
    }
    /// Where a projected LSTM's m of the running step `[D, B, H]` starts in the state (both
    /// parities' when folded).
    pub fn state_m(&self, b: usize) -> usize {
        self.state_h0(b) + self.dirs * b * self.out
    }
    /// Where h0 `[D, B, H_out]` starts in the state, after h_n `[D, B, H_out]` and c `[D, B, H]`.
    pub fn state_h0(&self, b: usize) -> usize {
        self.dirs * b * (self.out + self.hidden)
    }
    /// Whether a step takes a second dispatch each way: GRU with linear_before_reset 0 (the
    /// candidate reads every unit's r ⊙ h_prev), LSTM with a projection that is not
    /// [`Self::folded`] (the projection reads every unit's m).
    pub fn two_phase(&self) -> bool {
        (self.proj && !self.folded()) || (self.cell == Cell::Gru && !self.linear_before_reset)
    }
    /// The carry: `dh_n [D, B, H_out]`, `dc [D, B, H]`, `dh0 [D, B, H_out]`, GRU's direct
    /// share `[2, D, B, H_out]`, c0 `[D, B, H]`.
    pub fn carry_c(&self, b: usize) -> usize {
        self.dirs * b * self.out
    }
    pub fn carry_dh0(&self, b: usize) -> usize {
        self.carry_c(b) + self.dirs * b * self.hidden
    }
    pub fn carry_direct(&self, b: usize) -> usize {
        self.carry_dh0(b) + self.dirs * b * self.out
    }
    pub fn carry_c0(&self, b: usize) -> usize {
        self.carry_direct(b) + 2 * self.dirs * b * self.out
    }
    pub fn carry_len(&self, b: usize) -> usize {
        self.carry_c0(b) + self.dirs * b * self.hidden
    }
    /// Where `dGr` starts in the layer's dgates: after dGx for GRU `linear_before_reset` 1, whose
    /// recurrent rows `r ⊙ (Rn h + Rbn)` have gradients of their own; 0 elsewhere, where the
    /// recurrent pre-activations are summed with the input's and dGx serves.
    pub fn dgr_off(&self, t: usize, b: usize) -> usize {
        if self.own_dgr() { self.dirs * t * b * self.gh() } else { 0 }
    }
    pub fn dgates_len(&self, t: usize, b: usize) -> usize {
        self.dirs * t * b * self.gh() * if self.own_dgr() { 2 } else { 1 }
    }
    fn own_dgr(&self) -> bool {
        self.cell == Cell::Gru && self.linear_before_reset
    }
    /// Where the peephole partials start in extras (after dh per step, with a projection).
    pub fn dp_off(&self, t: usize, b: usize) -> usize {
        if self.proj { self.dirs * t * b * self.out } else { 0 }
    }
    /// Where the folded recurrent weights `R' = R·W_hr [D, G*H, H]` start in extras (after the
    /// peephole partials; [`Self::folded`]): the backward's dm reads them.
    pub fn fold_off(&self, t: usize, b: usize) -> usize {
        self.dp_off(t, b) + if self.peephole { self.dirs * b * 3 * self.hidden } else { 0 }
    }
    /// Whether the backward's recurrent product reads R in quads of rows ([`Self::rq_off`]): the
    /// rows it reads and each row's gate gradients start on vec4s (G·H a multiple of 4).
    pub fn row_quads(&self) -> bool {
        self.gh() % 4 == 0
    }
    /// Where R in quads of rows starts in extras, on a vec4, after R' ([`Self::row_quads`]): per
    /// direction `[⌈H_out/UNIT_BLOCK⌉, G·H/4, UNIT_BLOCK]` vec4s `R[4q .. 4q + 4, k]` (a copy
    /// before the walk back), so unit k of dh_prev (and of a reset-before GRU's d(r ⊙ h_prev))
    /// reads one vec4 per four rows and a block's invocations read one contiguous stream.
    pub fn rq_off(&self, t: usize, b: usize) -> usize {
        let after = self.fold_off(t, b) + if self.folded() { self.dirs * self.gh() * self.hidden } else { 0 };
        after.next_multiple_of(4)
    }
    /// Floats of one direction of R's row quads ([`Self::rq_off`]).
    fn rq_direction(&self) -> usize {
        if self.row_quads() { self.out.div_ceil(UNIT_BLOCK) * UNIT_BLOCK * self.gh() } else { 0 }
    }
    pub fn extras_len(&self, t: usize, b: usize) -> usize {
        self.rq_off(t, b) + self.dirs * self.rq_direction()
    }
    /// Where `R'ᵀ` starts in [`TBuf::RT`] (its layout over H inputs), after `Rᵀ`
    /// ([`Self::folded`]): the forward step reads it for every step after the first.
    pub fn rt_fold(&self) -> usize {
        self.dirs * self.rt_direction(self.out)
    }
    pub fn rt_len(&self) -> usize {
        self.rt_fold() + if self.folded() { self.dirs * self.rt_direction(self.hidden) } else { 0 }
    }
}

/// One product of `matmul` (fields as `MatmulParams` in shaders/train/matmul.wgsl).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Matmul {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub flags: u32,
    pub a_off: usize,
    pub a_m: usize,
    pub a_k: usize,
    pub bias_off: usize,
    pub b_off: usize,
    pub b_k: usize,
    pub b_n: usize,
    pub c_off: usize,
    pub c_m: usize,
    pub c_n: usize,
}

impl Matmul {
    /// Where element (m, n) of C lies in its buffer (rows in quads with `FLAG_MM_QUADS`; WGSL
    /// `c_index`).
    pub fn c_at(&self, m: usize, n: usize) -> usize {
        if self.flags & FLAG_MM_QUADS != 0 {
            let block = (n / UNIT_BLOCK) * self.m.div_ceil(4) * self.c_m;
            self.c_off + block + (m / 4) * self.c_m + (n % UNIT_BLOCK) * self.c_n + m % 4
        } else {
            self.c_off + m * self.c_m + n * self.c_n
        }
    }

    /// The workgroups of this product's dispatch, along C's columns and its rows: each
    /// invocation keeps a block of `MM_ROWS` rows and `MM_BLOCK` columns (`MM_WIDE` in the vec4
    /// versions), `MM_GROUP` x `MM_GROUP` invocations a workgroup.
    pub fn workgroups(&self) -> [usize; 2] {
        let cols = if self.kernel() == TrainKernel::Matmul { MM_BLOCK } else { MM_WIDE };
        [self.n.div_ceil((cols * MM_GROUP) as usize), self.m.div_ceil(MM_TILE_ROWS as usize)]
    }

    /// The version of `matmul` that runs this product: one that reads A and B as vec4s
    /// (shaders/train/matmul_vec4.wgsl) where each operand's contiguous dimension has stride 1
    /// and its offset, its other stride and that dimension's length are multiples of 4 (so every
    /// vec4 lies inside the operand), else the scalar `matmul` (copies, column sums, odd sizes).
    pub fn kernel(&self) -> TrainKernel {
        let four = |x: usize| x % 4 == 0;
        if self.flags & FLAG_MM_COPY != 0 {
            return TrainKernel::Matmul;
        }
        let a_along_k = self.a_k == 1 && four(self.a_off) && four(self.a_m) && four(self.k);
        let a_along_m = self.a_m == 1 && four(self.a_off) && four(self.a_k) && four(self.m);
        let b_along_k = self.b_k == 1 && four(self.b_off) && four(self.b_n) && four(self.k);
        let b_along_n = self.b_n == 1 && four(self.b_off) && four(self.b_k) && four(self.n);
        if a_along_k && b_along_k {
            TrainKernel::MatmulKk
        } else if a_along_k && b_along_n {
            TrainKernel::MatmulKn
        } else if a_along_m && b_along_n {
            TrainKernel::MatmulMn
        } else {
            TrainKernel::Matmul
        }
    }
}

/// One command of a training pass.
#[derive(Debug, Clone, PartialEq)]
pub enum TCommand {
    /// Zero a buffer.
    Clear(TBuf),
    /// Copy `len` floats.
    Copy { src: TBuf, src_off: usize, dst: TBuf, dst_off: usize, len: usize },
    /// `matmul` with operands A, B (and its bias) and C.
    Matmul { p: Matmul, a: TBuf, b: TBuf, c: TBuf },
    /// `train_step` of layer `layer` at step `step`, both directions.
    Step { layer: usize, step: usize },
    /// `train_step_finish`: the second half of a two-phase step (`TrainLayer::two_phase`).
    StepFinish { layer: usize, step: usize },
    /// `train_step_backward`.
    StepBackward { layer: usize, step: usize },
    /// `train_step_backward_finish`.
    StepBackwardFinish { layer: usize, step: usize },
    /// `train_step_backward` for the initial state: dh0 from the first step's gate gradients.
    StepInitial { layer: usize },
    /// `train_persistent`: [`TrainLayer::walk_steps`] steps of layer `layer` from `step` on,
    /// both directions, in place of their `Step`s and `StepFinish`es
    /// ([`TrainLayer::persistent`]).
    Persistent { layer: usize, step: usize },
    /// `train_persistent_backward`: the backward of as many steps from `step` down (and the
    /// initial state's gradient once it reaches step 0), in place of their `StepBackward`s,
    /// `StepBackwardFinish`es and `StepInitial`.
    PersistentBackward { layer: usize, step: usize },
    /// `merge_directions` of layer `layer`: `Y(l)` into `Merged(l)`.
    Merge { layer: usize },
    /// `dropout` of layer `layer`'s merged output into `Dropped(layer)`.
    Dropout { layer: usize },
    /// `dropout_backward` of the gradient of `Dropped(layer)` (`DIn(layer + 1)`), in place.
    DropoutBackward { layer: usize },
    /// `embed`: `X` from `EmbW` and `Ids`.
    Embed,
    /// `embed_backward`: adds to `EmbGrad` what `DIn(0)` holds at the positions `first ..
    /// first + EMBED_ROWS` of `Ids`.
    EmbedBackward { first: usize },
    /// `loss` (`loss_wide` when `wide`: a head of more than `LOSS_WIDE_CLASSES` outputs):
    /// `DLogits` and `RowLoss` from `Logits` and `Targets`.
    Loss { wide: bool },
    /// `sum_squares` of parameter group g's gradients into its partial sums in `Stats`.
    SumSquares { group: usize },
    /// `sum_squares_finish`: every group's partial sums into its sums of squares.
    SumSquaresFinish,
    /// `optimizer_update` of parameter group g.
    Update { group: usize },
    /// `optimizer_restore` of parameter group g (after every group's update).
    Restore { group: usize },
    /// `state_restore`: `HN`, `CN` from `H0`, `C0` where the step failed (a step that
    /// carries its final state, after the restores).
    StateRestore,
}

impl TCommand {
    /// Whether the command is a compute dispatch.
    pub fn is_dispatch(&self) -> bool {
        !matches!(self, TCommand::Clear(_) | TCommand::Copy { .. })
    }

    /// The training kernel a dispatch runs; `None` for copies, clears and `Merge` (the
    /// forward's `merge_directions`).
    pub fn kernel(&self) -> Option<TrainKernel> {
        Some(match *self {
            TCommand::Clear(_) | TCommand::Copy { .. } | TCommand::Merge { .. } => return None,
            TCommand::Matmul { p, .. } => p.kernel(),
            TCommand::Step { .. } => TrainKernel::TrainStep,
            TCommand::StepFinish { .. } => TrainKernel::TrainStepFinish,
            TCommand::StepBackward { .. } | TCommand::StepInitial { .. } => TrainKernel::TrainStepBackward,
            TCommand::StepBackwardFinish { .. } => TrainKernel::TrainStepBackwardFinish,
            TCommand::Persistent { .. } => TrainKernel::TrainPersistent,
            TCommand::PersistentBackward { .. } => TrainKernel::TrainPersistentBackward,
            TCommand::Dropout { .. } => TrainKernel::Dropout,
            TCommand::DropoutBackward { .. } => TrainKernel::DropoutBackward,
            TCommand::Embed => TrainKernel::Embed,
            TCommand::EmbedBackward { .. } => TrainKernel::EmbedBackward,
            TCommand::Loss { wide: false } => TrainKernel::Loss,
            TCommand::Loss { wide: true } => TrainKernel::LossWide,
            TCommand::SumSquares { .. } => TrainKernel::SumSquares,
            TCommand::SumSquaresFinish => TrainKernel::SumSquaresFinish,
            TCommand::Update { .. } => TrainKernel::OptimizerUpdate,
            TCommand::Restore { .. } => TrainKernel::OptimizerRestore,
            TCommand::StateRestore => TrainKernel::StateRestore,
        })
    }

    /// The entry point a dispatch runs, its name in timings (`bench --train --breakdown`);
    /// `None` for copies and clears.
    pub fn entry_point(&self) -> Option<&'static str> {
        match self {
            TCommand::Merge { .. } => Some(crate::kernels::Kernel::MergeDirections.entry_point()),
            c => c.kernel().map(TrainKernel::entry_point),
        }
    }
}

/// The commands of one training pass over `steps` steps and batch `batch`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainPlan {
    pub layers: Vec<TrainLayer>,
    /// A training step's model around the stack (`training_step`); `None` for a bare pass.
    pub head: Option<super::train_step::StepShape>,
    /// Parameter groups `(parameters, gradients, floats)` of a training step, in
    /// `TrainModel::parameters_mut`'s order.
    pub groups: Vec<(TBuf, TBuf, usize)>,
    /// Dropout between layers (a training step with `Dropout::p > 0`).
    pub dropout: bool,
    pub merge: MergeMode,
    pub steps: usize,
    pub batch: usize,
    pub commands: Vec<TCommand>,
    /// Where a sequence-to-sequence step's plans interleave: the encoder's backward starts
    /// here in its plan; the decoder's norms and updates here in its (0 elsewhere).
    pub backward_at: usize,
}

impl TrainPlan {
    /// The plan of a forward with tape and its backward for `net` over `t` steps, batch `b`,
    /// with per-step kernels.
    pub fn new(net: &Network, t: usize, b: usize) -> TrainPlan {
        TrainPlan::with_walk(net, t, b, Walk::PerStep)
    }

    /// [`Self::new`] with the layers walking through time as `walk` says.
    pub fn with_walk(net: &Network, t: usize, b: usize, walk: Walk) -> TrainPlan {
        let mut plan = TrainPlan::new_empty(net, t, b, false, walk);
        for l in 0..plan.layers.len() {
            plan.forward_layer(l);
        }
        for l in (0..plan.layers.len()).rev() {
            plan.backward_layer(l);
        }
        plan.split_long_products();
        plan
    }

    /// Splits every product over more than [`MATMUL_K_CHUNK`] rows of k into products over at
    /// most that many, the ones after the first adding to C (and only the first adding the
    /// bias). Keeps `backward_at` at the command it pointed to.
    pub(super) fn split_long_products(&mut self) {
        let mut out = Vec::with_capacity(self.commands.len());
        let mut backward_at = None;
        for (i, cmd) in std::mem::take(&mut self.commands).into_iter().enumerate() {
            if i == self.backward_at {
                backward_at = Some(out.len());
            }
            match cmd {
                TCommand::Matmul { p, a, b, c } if p.k > MATMUL_K_CHUNK && p.flags & FLAG_MM_COPY == 0 => {
                    out.extend((0..p.k).step_by(MATMUL_K_CHUNK).map(|k0| {
                        let flags = if k0 == 0 { p.flags } else { (p.flags | FLAG_MM_ACCUMULATE) & !FLAG_MM_BIAS };
                        let p = Matmul {
                            k: (p.k - k0).min(MATMUL_K_CHUNK),
                            flags,
                            a_off: p.a_off + k0 * p.a_k,
                            b_off: p.b_off + k0 * p.b_k,
                            ..p
                        };
                        TCommand::Matmul { p, a, b, c }
                    }));
                }
                other => out.push(other),
            }
        }
        self.backward_at = backward_at.unwrap_or(out.len());
        self.commands = out;
    }

    /// A plan without commands; with `recurrent_dropout`, no layer folds
    /// ([`TrainLayer::folded`]); `walk` picks the persistent layers.
    pub(super) fn new_empty(net: &Network, t: usize, b: usize, recurrent_dropout: bool, walk: Walk) -> TrainPlan {
        let mut layers = TrainLayer::of(net);
        for ly in &mut layers {
            ly.fold &= !recurrent_dropout;
            ly.persistent = walk.persistent(ly);
            // a persistent walk's second halves cost a barrier, less than the fold's work
            ly.fold &= !ly.persistent;
        }
        TrainPlan {
            layers,
            head: None,
            groups: vec![],
            dropout: false,
            merge: net.merge,
            steps: t,
            batch: b,
            commands: vec![],
            backward_at: 0,
        }
    }

    pub(super) fn forward_layer(&mut self, l: usize) {
        let (t, b, ly) = (self.steps, self.batch, self.layers[l]);
        let (d, gh, k) = (ly.dirs, ly.gh(), ly.input);
        let states = d * b;
        let mut c = vec![
            TCommand::Copy {
                src: TBuf::H0,
                src_off: l * states * ly.out,
                dst: TBuf::State(l),
                dst_off: ly.state_h0(b),
                len: states * ly.out,
            },
            TCommand::Clear(TBuf::Y(l)),
        ];
        if ly.cell == Cell::Lstm {
            c.push(TCommand::Copy {
                src: TBuf::C0,
                src_off: l * states * ly.hidden,
                dst: TBuf::State(l),
                dst_off: states * ly.out,
                len: states * ly.hidden,
            });
        }
        let (o, h, g_count) = (ly.out, ly.hidden, ly.cell.gates());
        for dir in 0..d {
            for g in 0..g_count {
                // RT_d: input k of unit j's gate g at (j / UB)·⌈H_out/4⌉·4·UB·G +
                // (k / 4)·4·UB·G + 4·((j % UB)·G + g) + k % 4 (UB = UNIT_BLOCK), from
                // R_d [GH, H_out]
                let p = Matmul {
                    m: o,
                    n: h,
                    k: 1,
                    flags: FLAG_MM_COPY | FLAG_MM_QUADS,
                    a_off: ly.r_off() + (dir * gh + g * h) * o,
                    a_m: 1,
                    a_k: o,
                    c_off: dir * ly.rt_direction(o) + 4 * g,
                    c_m: 4 * UNIT_BLOCK * g_count,
                    c_n: 4 * g_count,
                    ..Matmul::default()
                };
                c.push(TCommand::Matmul { p, a: TBuf::Wts(l), b: TBuf::Ones, c: TBuf::RT(l) });
            }
            if ly.folded() {
                for g in 0..g_count {
                    // R'ᵀ_d, gate g [H, H] = W_hr_dᵀ [H, H_out] · R_d,gᵀ [H_out, H], in RT's
                    // layout after Rᵀ
                    let p = Matmul {
                        m: h,
                        n: h,
                        k: o,
                        flags: FLAG_MM_QUADS,
                        a_off: ly.proj_off() + dir * o * h,
                        a_m: 1,
                        a_k: h,
                        b_off: ly.r_off() + (dir * gh + g * h) * o,
                        b_k: 1,
                        b_n: o,
                        c_off: ly.rt_fold() + dir * ly.rt_direction(h) + 4 * g,
                        c_m: 4 * UNIT_BLOCK * g_count,
                        c_n: 4 * g_count,
                        ..Matmul::default()
                    };
                    c.push(TCommand::Matmul { p, a: TBuf::Wts(l), b: TBuf::Wts(l), c: TBuf::RT(l) });
                }
            }
        }
        for dir in 0..d {
            // xp_d [T*B, GH] = x [T*B, K] · W_dᵀ + Wb_d
            let w = dir * gh * k;
            let p = Matmul {
                m: t * b,
                n: gh,
                k,
                flags: FLAG_MM_BIAS,
                a_m: k,
                a_k: 1,
                b_off: w,
                b_k: 1,
                b_n: k,
                bias_off: ly.b_off() + dir * 2 * gh,
                c_off: dir * t * b * gh,
                c_m: gh,
                c_n: 1,
                ..Matmul::default()
            };
            c.push(TCommand::Matmul { p, a: self.input(l), b: TBuf::Wts(l), c: TBuf::Xp(l) });
        }
        if ly.persistent {
            c.extend((0..t).step_by(ly.walk_steps()).map(|step| TCommand::Persistent { layer: l, step }));
        } else {
            for step in 0..t {
                c.push(TCommand::Step { layer: l, step });
                if ly.two_phase() {
                    c.push(TCommand::StepFinish { layer: l, step });
                }
            }
        }
        if ly.folded() {
            // each step projects the m of the step before; the last step's, of the rows that
            // reach it, here
            c.push(TCommand::StepFinish { layer: l, step: t - 1 });
        }
        if self.merges(l) {
            c.push(TCommand::Merge { layer: l });
        }
        c.push(TCommand::Copy {
            src: TBuf::State(l),
            src_off: 0,
            dst: TBuf::HN,
            dst_off: l * states * ly.out,
            len: states * ly.out,
        });
        if ly.cell == Cell::Lstm {
            c.push(TCommand::Copy {
                src: TBuf::State(l),
                src_off: states * ly.out,
                dst: TBuf::CN,
                dst_off: l * states * ly.hidden,
                len: states * ly.hidden,
            });
        }
        self.commands.extend(c);
    }

    pub(super) fn backward_layer(&mut self, l: usize) {
        let (t, b, ly) = (self.steps, self.batch, self.layers[l]);
        let (d, gh, k, h, o) = (ly.dirs, ly.gh(), ly.input, ly.hidden, ly.out);
        let (states, rows) = (d * b, t * b);
        let mut c = vec![
            TCommand::Clear(TBuf::DGates(l)),
            TCommand::Copy {
                src: TBuf::DhN,
                src_off: l * states * o,
                dst: TBuf::Carry(l),
                dst_off: 0,
                len: states * o,
            },
        ];
        if ly.extras_len(t, b) > 0 {
            c.push(TCommand::Clear(TBuf::Extras(l)));
        }
        if ly.cell == Cell::Lstm {
            let (src_off, len) = (l * states * h, states * h);
            c.push(TCommand::Copy { src: TBuf::DcN, src_off, dst: TBuf::Carry(l), dst_off: ly.carry_c(b), len });
            c.push(TCommand::Copy { src: TBuf::C0, src_off, dst: TBuf::Carry(l), dst_off: ly.carry_c0(b), len });
        }
        if ly.row_quads() {
            for dir in 0..d {
                // R_d's rows in quads for the walk back: row r, unit k at the vec4 of
                // (k / UB)·(GH/4)·UB + (r / 4)·UB + k % UB, lane r % 4 (UB = UNIT_BLOCK)
                let p = Matmul {
                    m: gh,
                    n: o,
                    k: 1,
                    flags: FLAG_MM_COPY | FLAG_MM_QUADS,
                    a_off: ly.r_off() + dir * gh * o,
                    a_m: o,
                    a_k: 1,
                    c_off: ly.rq_off(t, b) + dir * ly.rq_direction(),
                    c_m: 4 * UNIT_BLOCK,
                    c_n: 4,
                    ..Matmul::default()
                };
                c.push(TCommand::Matmul { p, a: TBuf::Wts(l), b: TBuf::Ones, c: TBuf::Extras(l) });
            }
        }
        if ly.folded() {
            for dir in 0..d {
                // R'_d [GH, H] = R_d [GH, H_out] · W_hr_d [H_out, H], into extras
                let p = Matmul {
                    m: gh,
                    n: h,
                    k: o,
                    a_off: ly.r_off() + dir * gh * o,
                    a_m: o,
                    a_k: 1,
                    b_off: ly.proj_off() + dir * o * h,
                    b_k: h,
                    b_n: 1,
                    c_off: ly.fold_off(t, b) + dir * gh * h,
                    c_m: h,
                    c_n: 1,
                    ..Matmul::default()
                };
                c.push(TCommand::Matmul { p, a: TBuf::Wts(l), b: TBuf::Wts(l), c: TBuf::Extras(l) });
            }
        }
        if ly.persistent {
            // from the last step down, walk_steps at a time; the last dispatch ends with dh0
            let tops = (0..t).rev().step_by(ly.walk_steps());
            c.extend(tops.map(|step| TCommand::PersistentBackward { layer: l, step }));
        } else {
            for step in (0..t).rev() {
                c.push(TCommand::StepBackward { layer: l, step });
                if ly.two_phase() {
                    c.push(TCommand::StepBackwardFinish { layer: l, step });
                }
            }
            c.push(TCommand::StepInitial { layer: l });
        }
        c.push(TCommand::Copy {
            src: TBuf::Carry(l),
            src_off: ly.carry_dh0(b),
            dst: TBuf::Dh0,
            dst_off: l * states * o,
            len: states * o,
        });
        if ly.cell == Cell::Lstm {
            c.push(TCommand::Copy {
                src: TBuf::Carry(l),
                src_off: ly.carry_c(b),
                dst: TBuf::Dc0,
                dst_off: l * states * h,
                len: states * h,
            });
        }
        let (g, dg) = (TBuf::Grads(l), TBuf::DGates(l));
        // A column sum over the T*B rows of `a` (rows of `m` floats at a_off) into c_off, and
        // into `copies - 1` more places m floats apart (C's further columns).
        let colsum =
            |m: usize, a: TBuf, a_off: usize, a_k: usize, k: usize, c_off: usize, copies: usize| TCommand::Matmul {
                p: Matmul { m, n: copies, k, a_off, a_m: 1, a_k, c_off, c_m: 1, c_n: m, ..Matmul::default() },
                a,
                b: TBuf::Ones,
                c: g,
            };
        for dir in 0..d {
            let dgx = dir * rows * gh;
            let dgr = ly.dgr_off(t, b) + dgx;
            let tape = dir * rows * ly.record();
            // dW_d [GH, K] = dGxᵀ · x
            let p = Matmul {
                m: gh,
                n: k,
                k: rows,
                a_off: dgx,
                a_m: 1,
                a_k: gh,
                b_k: k,
                b_n: 1,
                c_off: dir * gh * k,
                c_m: k,
                c_n: 1,
                ..Matmul::default()
            };
            c.push(TCommand::Matmul { p, a: dg, b: self.input(l), c: g });
            // dWb_d, and dRb_d beside it where dGr is dGx: the same column sums
            let shared = dgr == dgx;
            c.push(colsum(gh, dg, dgx, gh, rows, ly.b_off() + dir * 2 * gh, if shared { 2 } else { 1 }));
            // dR_d [GH, H_out] = dGrᵀ · h_prev; GRU linear_before_reset 0: the candidate's rows
            // multiply r ⊙ h_prev (the tape's ext)
            let split = ly.cell == Cell::Gru && !ly.linear_before_reset;
            let parts = if split {
                vec![(0, 2 * h, ly.hprev_off()), (2 * h, h, ly.ext_off())]
            } else {
                vec![(0, gh, ly.hprev_off())]
            };
            for (row0, m, operand) in parts {
                let p = Matmul {
                    m,
                    n: o,
                    k: rows,
                    a_off: dgr + row0,
                    a_m: 1,
                    a_k: gh,
                    b_off: tape + operand,
                    b_k: ly.record(),
                    b_n: 1,
                    c_off: ly.r_off() + (dir * gh + row0) * o,
                    c_m: o,
                    c_n: 1,
                    ..Matmul::default()
                };
                c.push(TCommand::Matmul { p, a: dg, b: TBuf::Tape(l), c: g });
            }
            if !shared {
                c.push(colsum(gh, dg, dgr, gh, rows, ly.b_off() + dir * 2 * gh + gh, 1));
            }
            if ly.peephole {
                let a_off = ly.dp_off(t, b) + dir * b * 3 * h;
                c.push(colsum(3 * h, TBuf::Extras(l), a_off, 3 * h, b, ly.p_off() + dir * 3 * h, 1));
            }
            if ly.proj {
                // dW_hr_d [H_out, H] = dhᵀ · m
                let p = Matmul {
                    m: o,
                    n: h,
                    k: rows,
                    a_off: dir * rows * o,
                    a_m: 1,
                    a_k: o,
                    b_off: tape + ly.m_off(),
                    b_k: ly.record(),
                    b_n: 1,
                    c_off: ly.proj_off() + dir * o * h,
                    c_m: h,
                    c_n: 1,
                    ..Matmul::default()
                };
                c.push(TCommand::Matmul { p, a: TBuf::Extras(l), b: TBuf::Tape(l), c: g });
            }
            if l == 0 && !self.input_gradient() {
                continue;
            }
            // dX [T*B, K] (+)= dGx_d · W_d
            let p = Matmul {
                m: rows,
                n: k,
                k: gh,
                flags: if dir > 0 { FLAG_MM_ACCUMULATE } else { 0 },
                a_off: dgx,
                a_m: gh,
                a_k: 1,
                b_off: dir * gh * k,
                b_k: k,
                b_n: 1,
                c_m: k,
                c_n: 1,
                ..Matmul::default()
            };
            c.push(TCommand::Matmul { p, a: dg, b: TBuf::Wts(l), c: TBuf::DIn(l) });
        }
        self.commands.extend(c);
    }

    /// Whether the backward computes the gradient of the stack's input (`DIn(0)`): a bare
    /// pass returns it, and a step's embedding takes its gradient from it; a step whose input
    /// is data (features) has no use for it, so its product is left out, as autograd leaves
    /// out inputs that require no gradient.
    pub fn input_gradient(&self) -> bool {
        self.head.is_none_or(|h| h.embedding.is_some())
    }

    /// Whether layer l's two directions are merged by a kernel (sum, average, mul).
    pub fn merges(&self, l: usize) -> bool {
        self.layers[l].dirs == 2 && self.merge != MergeMode::Concat
    }

    /// Layer l's input: x, or the layer below's (merged) output, after dropout while training.
    pub fn input(&self, l: usize) -> TBuf {
        match l {
            0 => TBuf::X,
            _ if self.dropout => TBuf::Dropped(l - 1),
            _ => self.output_of(l - 1),
        }
    }

    /// Layer l's merged output.
    pub fn output_of(&self, l: usize) -> TBuf {
        if self.merges(l) { TBuf::Merged(l) } else { TBuf::Y(l) }
    }

    /// The network's output `y [T, B, W]`.
    pub fn output(&self) -> TBuf {
        self.output_of(self.layers.len() - 1)
    }

    /// The gradient arriving at layer l's merged output.
    pub fn upstream_of(&self, l: usize) -> TBuf {
        if l + 1 == self.layers.len() { TBuf::Dy } else { TBuf::DIn(l + 1) }
    }

    /// Floats per row of layer l's merged output.
    pub fn merged_width(&self, l: usize) -> usize {
        let ly = self.layers[l];
        if ly.dirs == 2 && self.merge == MergeMode::Concat { 2 * ly.out } else { ly.out }
    }

    /// The size of `buf` in floats (u32 for `Lens`).
    pub fn size(&self, buf: TBuf) -> usize {
        let (t, b) = (self.steps, self.batch);
        let states = |per: fn(&TrainLayer) -> usize| self.layers.iter().map(|l| l.dirs * b * per(l)).sum::<usize>();
        match buf {
            TBuf::X => t * b * self.layers[0].input,
            TBuf::Lens => b,
            TBuf::Ones => 1,
            TBuf::H0 | TBuf::DhN | TBuf::HN | TBuf::Dh0 => states(|l| l.out),
            TBuf::C0 | TBuf::DcN | TBuf::CN | TBuf::Dc0 => states(|l| l.hidden),
            TBuf::Dy => t * b * self.merged_width(self.layers.len() - 1),
            TBuf::Wts(l) | TBuf::Grads(l) => self.layers[l].weights_len(),
            TBuf::Xp(l) => self.layers[l].dirs * t * b * self.layers[l].gh(),
            TBuf::RT(l) => self.layers[l].rt_len(),
            TBuf::State(l) => self.layers[l].state_len(b),
            TBuf::Tape(l) => self.layers[l].dirs * t * b * self.layers[l].record(),
            TBuf::Y(l) => t * b * self.layers[l].dirs * self.layers[l].out,
            TBuf::Merged(l) => t * b * self.layers[l].out,
            TBuf::Dropped(l) => t * b * self.merged_width(l),
            TBuf::Carry(l) => self.layers[l].carry_len(b),
            TBuf::DGates(l) => self.layers[l].dgates_len(t, b),
            TBuf::Extras(l) => self.layers[l].extras_len(t, b),
            TBuf::DIn(l) => t * b * self.layers[l].input,
            TBuf::EncParam(g) | TBuf::EncGrad(g) => self.groups[g].2,
            _ => self.step_size(buf),
        }
    }

    /// Every buffer the plan names, each once.
    pub fn buffers(&self) -> Vec<TBuf> {
        let mut v = vec![
            TBuf::X,
            TBuf::Lens,
            TBuf::Ones,
            TBuf::H0,
            TBuf::C0,
            TBuf::Dy,
            TBuf::DhN,
            TBuf::DcN,
            TBuf::HN,
            TBuf::CN,
            TBuf::Dh0,
            TBuf::Dc0,
        ];
        for c in &self.commands {
            match *c {
                TCommand::Clear(x) => v.push(x),
                TCommand::Copy { src, dst, .. } => v.extend([src, dst]),
                TCommand::Matmul { a, b, c, .. } => v.extend([a, b, c]),
                TCommand::Step { layer, .. }
                | TCommand::StepFinish { layer, .. }
                | TCommand::Persistent { layer, .. } => v.extend([
                    TBuf::Xp(layer),
                    TBuf::Wts(layer),
                    TBuf::RT(layer),
                    TBuf::State(layer),
                    TBuf::Tape(layer),
                    TBuf::Y(layer),
                ]),
                TCommand::StepBackward { layer, .. }
                | TCommand::StepBackwardFinish { layer, .. }
                | TCommand::StepInitial { layer }
                | TCommand::PersistentBackward { layer, .. } => v.extend([
                    TBuf::Wts(layer),
                    TBuf::Tape(layer),
                    self.upstream_of(layer),
                    TBuf::Y(layer),
                    TBuf::Carry(layer),
                    TBuf::DGates(layer),
                    TBuf::Extras(layer),
                ]),
                TCommand::Merge { layer } => v.extend([TBuf::Y(layer), TBuf::Merged(layer)]),
                TCommand::Dropout { layer } => v.extend([self.output_of(layer), TBuf::Dropped(layer)]),
                TCommand::DropoutBackward { layer } => v.push(TBuf::DIn(layer + 1)),
                TCommand::Embed => v.extend([TBuf::Ids, TBuf::EmbW, TBuf::X]),
                TCommand::EmbedBackward { .. } => v.extend([TBuf::Ids, TBuf::DIn(0), TBuf::EmbGrad]),
                TCommand::Loss { .. } => v.extend([TBuf::Logits, TBuf::Targets, TBuf::DLogits, TBuf::RowLoss]),
                TCommand::SumSquaresFinish => v.push(TBuf::Stats),
                TCommand::StateRestore => v.push(TBuf::Stats),
                TCommand::SumSquares { group } | TCommand::Update { group } | TCommand::Restore { group } => {
                    let (p, g, _) = self.groups[group];
                    v.extend([TBuf::Stats, p, g, TBuf::OptM(group), TBuf::OptV(group)]);
                    v.extend([TBuf::BackP(group), TBuf::BackM(group), TBuf::BackV(group)]);
                }
            }
        }
        v.sort();
        v.dedup();
        v
    }

    /// Compute dispatches in all.
    pub fn dispatches(&self) -> usize {
        self.commands.iter().filter(|c| c.is_dispatch()).count()
    }

    /// Compute dispatches of layer l's forward and backward.
    pub fn layer_dispatches(&self, l: usize) -> usize {
        self.commands
            .iter()
            .filter(|c| match **c {
                TCommand::Step { layer, .. }
                | TCommand::StepFinish { layer, .. }
                | TCommand::StepBackward { layer, .. }
                | TCommand::StepBackwardFinish { layer, .. }
                | TCommand::StepInitial { layer }
                | TCommand::Persistent { layer, .. }
                | TCommand::PersistentBackward { layer, .. }
                | TCommand::Merge { layer }
                | TCommand::Dropout { layer }
                | TCommand::DropoutBackward { layer } => layer == l,
                TCommand::Matmul { c, .. } => {
                    matches!(c, TBuf::Xp(x) | TBuf::RT(x) | TBuf::Extras(x) | TBuf::Grads(x) | TBuf::DIn(x) if x == l)
                }
                _ => false,
            })
            .count()
    }

    /// The first loop of the plan's kernels that runs more than `limit` iterations in one
    /// invocation, as (what sets it, a description), or `None`. The products, the embedding's
    /// gradient and the persistent walks are split within any such limit; these are not: the
    /// loss loops three times over the classes (in strides of `LOSS_WORKGROUP` for a wide
    /// head), the norm over a parameter group's quads in strides of `OPT_WORKGROUP * NORM_PARTS`
    /// (the update and its restore stride wider).
    pub fn longest_loop_beyond(&self, limit: usize) -> Option<(&'static str, String)> {
        use super::train_step::{LOSS_WORKGROUP, OPT_WORKGROUP, group_quads, norm_parts};
        let classes = self.head.map_or(0, |h| h.classes);
        let widest = self.groups.iter().map(|g| g.2).max().unwrap_or(0);
        let opt = OPT_WORKGROUP as usize;
        let stride = opt * norm_parts(widest) as usize;
        let loss = self.commands.iter().find_map(|c| match *c {
            TCommand::Loss { wide: false } => Some((3 * classes, "in one invocation".to_string())),
            TCommand::Loss { wide: true } => {
                let per = LOSS_WORKGROUP as usize;
                Some((3 * classes.div_ceil(per) + 2 * per.ilog2() as usize, format!("{per} per pass")))
            }
            _ => None,
        });
        if let Some((_, how)) = loss.filter(|(loops, _)| *loops > limit) {
            Some(("classes", format!("the loss loops three times over {classes} classes, {how}")))
        } else if group_quads(widest).div_ceil(stride) + opt.ilog2() as usize > limit {
            let why = format!("the gradient norm loops over {widest} parameters of a group, {} per pass", 4 * stride);
            Some(("model", why))
        } else {
            None
        }
    }

    /// The floats at the start of `Stats` a step reads back: the loss, the failure flag and
    /// each parameter group's sums of squares, not the partial sums behind them.
    pub fn stats_read(&self) -> usize {
        2 + 2 * self.groups.len()
    }

    /// Bytes of the saved activations (the tapes) of all layers.
    pub fn tape_bytes(&self) -> usize {
        (0..self.layers.len()).map(|l| 4 * self.size(TBuf::Tape(l))).sum()
    }
}
