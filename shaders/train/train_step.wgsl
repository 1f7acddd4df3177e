// train_step, train_step_finish: one time step of a layer for training, both directions in one
// dispatch, keeping the tape its backward (train_step_backward) reads. CPU twin:
// cpu::forward::run with its tape.
//   xp:    [D, T, B, G*H]  x·Wᵀ + Wb (matmul), ONNX gate order: RNN h; GRU z, r, h; LSTM i, o, f, c
//   wts:   the layer's weights in ONNX layout, one buffer (TrainParams offsets)
//   rt:    its recurrent weights transposed in input quads and blocks of UNIT_BLOCK units,
//          [D, ⌈H/UNIT_BLOCK⌉, ⌈H_out/4⌉, UNIT_BLOCK, G] of vec4 (R[g*H + j, 4q .. 4q + 3],
//          zero past H_out; matmul copies them each pass): unit j reads its gates' weights for
//          four inputs as G vec4s in a row, next to its neighbours', and its block's
//          invocations walk one contiguous stream as the inputs advance; then a folded
//          projected LSTM's R'ᵀ, R' = R·W_hr, the same way over H inputs (matmuls each pass)
//   state: h_n [D, B, H_out], c [D, B, H], h0 [D, B, H_out], m [D, B, H]: the final h, the
//          running c (h0 and c0 copied in first), a projected LSTM's o ⊙ h(c') of this step
//          (m [2, D, B, H] by step parity when folded)
//   tape:  [D, T, B, record]: gate pre-activations before clip [G*H], h_prev [H_out], ext [H]
//          (LSTM c', GRU Rh h + Rbh or r ⊙ h_prev); the backward recomputes m
//   y:     [T, B, D, H_out] (bound as vec4s: a quad of h_prev is one load), zero past each
//          length; step s reads h_prev from y at the previous step's time (or h0), so no
//          invocation reads what another writes in the same step
// Invocation (j, q, d) of train_step: unit j of batch rows 4q .. 4q + 3 (TRAIN_ROWS), direction
// d, and of train_step_finish the same: one pass over the recurrent weights serves the four
// rows. Steps past a row's length do nothing.
// Versions (one each):
//   train_step         the whole step of RNN, LSTM and GRU (linear_before_reset); the first
//                      half of GRU (linear_before_reset 0: z, r, r ⊙ h_prev) and of a projected
//                      LSTM (c', o ⊙ h(c'))
//   train_step_finish  their second half: GRU's candidate (it reads every unit's r ⊙ h_prev),
//                      the LSTM projection (it reads every unit's o ⊙ h(c'))
//   train_persistent   many steps of a layer in one dispatch (plan::train::Walk): the two
//                      above, each step's halves apart by storage barriers in one workgroup
//                      per row quad and direction; never folded
// A folded projected LSTM (tp.fold, plan::train::TrainLayer::folded) takes one dispatch per
// step: after the first, its gates read the step before's m through R' (R·h_prev = R'·m_prev),
// and the same dispatch projects that m into h_prev (project_previous), which no gate waits
// for; train_step_finish once after the last step projects the last m.
// Recurrent dropout (dp.flags): the recurrent products read h_prev ⊙ mask; the tape keeps
// h_prev unmasked (GRU's z ⊙ h_prev and its backward read it; train_step_backward masks it
// for the weight gradients once the step's backward is done).
// uses: train/train_params train/masks shared/activations shared/blocked shared/quarters

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> tp: TrainParams;
@group(0) @binding(2) var<uniform> sp: StepParams;
@group(0) @binding(3) var<storage, read> xp: array<f32>;
@group(0) @binding(4) var<storage, read> wts: array<f32>;
@group(0) @binding(5) var<storage, read> rt: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> lens: array<u32>;
@group(0) @binding(7) var<storage, read_write> state: array<f32>;
@group(0) @binding(8) var<storage, read_write> tape: array<f32>;
@group(0) @binding(9) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(10) var<uniform> dp: DropoutParams;

// The step the running invocation computes: sp.step in the per-step kernels, the loop's step in
// train_persistent.
var<private> cur_step: u32;

// The running invocation's row: its time index and tape record. `ok` is false past the length
// and past the batch.
struct Row {
    ok: bool,
    t: u32,
    rec: u32,
}

fn row_of(d: u32, b: u32) -> Row {
    if (b >= lp.batch) {
        return Row(false, 0u, 0u);
    }
    let len = lens[b];
    if (cur_step >= len) {
        return Row(false, 0u, 0u);
    }
    let t = time_index(lp, d, cur_step, len);
    return Row(true, t, record_row(lp, d, t, b) * tp.record);
}

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn train_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    cur_step = sp.step;
    step_unit(gid.x, gid.y * TRAIN_ROWS, gid.z);
}

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn train_step_finish(@builtin(global_invocation_id) gid: vec3<u32>) {
    cur_step = sp.step;
    finish_unit(gid.x, gid.y * TRAIN_ROWS, gid.z);
}

// tp.walk_steps steps of the layer from step sp.step on (plan::train::TrainLayer::walk_steps):
// workgroup (0, q, d) walks rows 4q .. 4q + 3 of direction d through them, invocation j computing
// unit j (H <= PERSISTENT_UNITS); a storage barrier stands where the per-step kernels end a
// dispatch (after each step, after each second half).
@compute @workgroup_size(PERSISTENT_UNITS, 1, 1)
fn train_persistent(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let b0 = wid.y * TRAIN_ROWS;
    let d = wid.z;
    let second_half = two_phase(lp, tp);
    let end = min(sp.step + tp.walk_steps, lp.steps);
    for (var s = sp.step; s < end; s++) {
        cur_step = s;
        step_unit(lid.x, b0, d);
        storageBarrier();
        if (second_half) {
            finish_unit(lid.x, b0, d);
            storageBarrier();
        }
    }
}

// train_step's unit j of rows b0 .. b0 + 3, direction d.
fn step_unit(j: u32, b0: u32, d: u32) {
    if (folded(tp) && cur_step > 0u && j < lp.hidden_in) {
        project_previous(d, b0, j);
    }
    // products[r]: the recurrent products (+ Rb) of unit j's gates [G] for row b0 + r; every
    // invocation computes them (workgroup barriers)
    let products = transpose(recurrent_quad(d, b0, j));
    if (j >= lp.hidden) {
        return;
    }
    for (var r = 0u; r < TRAIN_ROWS; r++) {
        let b = b0 + r;
        let row = row_of(d, b);
        if (!row.ok) {
            continue;
        }
        let hs = h_source(d, b);
        if (j < lp.hidden_in) {
            tape[row.rec + tp.hprev_off + j] = h_prev(hs, j);
        }
        let q = products[r];
        if ((lp.flags & FLAG_LSTM) != 0u) {
            lstm_unit(d, row.t, b, j, row.rec, q);
        } else if ((lp.flags & FLAG_GRU) != 0u) {
            gru_unit(d, row.t, b, j, row.rec, q);
        } else {
            let pre = preact(d, row.t, b, j, q.x);
            tape[row.rec + j] = pre;
            finish(d, row.t, b, j, activate(lp.acts[d * 3u], clip_gate(lp, pre)));
        }
    }
}

// train_step_finish's unit k of rows b0 .. b0 + 3, direction d: each weight loaded serves the
// four rows.
fn finish_unit(k: u32, b0: u32, d: u32) {
    let rows = quad_rows(lp, b0);
    let one = rows.x == rows.y; // one row in this quad (B = 1, 5, ...): that row alone
    var products = vec4<f32>(0.0); // row r's Rn (r ⊙ h_prev ⊙ mask) or W_hr[k] · m
    if ((lp.flags & FLAG_GRU) != 0u) {
        // every invocation computes the product: it holds workgroup barriers
        let recs = vec4<u32>(row_of(d, rows.x).rec, row_of(d, rows.y).rec, row_of(d, rows.z).rec, row_of(d, rows.w).rec);
        products = candidate_products(d, rows, recs, k, one);
    } else if (k < lp.hidden_in) { // LSTM projection: h[k] = W_hr[k] · m
        let w = tp.proj_off + (d * lp.hidden_in + k) * lp.hidden;
        let m = vec4<u32>(m_at(d, rows.x, cur_step), m_at(d, rows.y, cur_step), m_at(d, rows.z, cur_step), m_at(d, rows.w, cur_step));
        if (one) {
            var a = 0.0;
            for (var j = 0u; j < lp.hidden; j++) {
                a += wts[w + j] * state[m.x + j];
            }
            products = vec4<f32>(a);
        } else {
            for (var j = 0u; j < lp.hidden; j++) {
                products += wts[w + j] * vec4<f32>(state[m.x + j], state[m.y + j], state[m.z + j], state[m.w + j]);
            }
        }
    }
    for (var r = 0u; r < TRAIN_ROWS; r++) {
        let b = b0 + r;
        let row = row_of(d, b);
        if (!row.ok) {
            continue;
        }
        if ((lp.flags & FLAG_GRU) != 0u) {
            if (k < lp.hidden) {
                gru_candidate(d, row.t, b, k, row.rec, products[r]);
            }
        } else if (k < lp.hidden_in) {
            finish(d, row.t, b, k, products[r]);
        }
    }
}

// A folded projected LSTM (tp.fold) projects the step before's m here, beside this step's gates
// (which read that m through R'): unit k of h = W_hr[k] · m_prev for rows b0 .. b0 + 3, into the
// output and the final state (the row loop then copies it to the tape as this step's h_prev).
// Rows whose length ended before the step before do nothing; the last step's m is projected by
// train_step_finish.
fn project_previous(d: u32, b0: u32, k: u32) {
    let s = cur_step - 1u;
    let rows = quad_rows(lp, b0);
    let m = vec4<u32>(m_at(d, rows.x, s), m_at(d, rows.y, s), m_at(d, rows.z, s), m_at(d, rows.w, s));
    let w = tp.proj_off + (d * lp.hidden_in + k) * lp.hidden;
    var acc = vec4<f32>(0.0);
    if (rows.x == rows.y) {
        // one row in this quad (B = 1, 5, ...): that row alone, not four copies of it
        for (var j = 0u; j < lp.hidden; j++) {
            acc.x += wts[w + j] * state[m.x + j];
        }
    } else {
        for (var j = 0u; j < lp.hidden; j++) {
            acc += wts[w + j] * vec4<f32>(state[m.x + j], state[m.y + j], state[m.z + j], state[m.w + j]);
        }
    }
    for (var r = 0u; r < TRAIN_ROWS && b0 + r < lp.batch; r++) {
        let b = b0 + r;
        let len = lens[b];
        if (s < len) {
            finish(d, time_index(lp, d, s, len), b, k, acc[r]);
        }
    }
}

// Where row b's m = o ⊙ h(c') of step s starts in the state (a projected LSTM): one place, or
// one per step parity when folded (a step reads the step before's while it writes its own).
fn m_at(d: u32, b: u32, s: u32) -> u32 {
    let parity = select(0u, s & 1u, folded(tp));
    return tp.state_m + ((parity * lp.dirs + d) * lp.batch + b) * lp.hidden;
}

// Where h before this step starts: h0 in the state at the first step, else the output of the
// step before in y.
struct HSource {
    h0: bool,
    base: u32,
}

fn h_source(d: u32, b: u32) -> HSource {
    if (cur_step == 0u) {
        return HSource(true, tp.state_h0 + (d * lp.batch + b) * lp.hidden_in);
    }
    let tq = time_index(lp, d, cur_step - 1u, lens[b]);
    return HSource(false, ((tq * lp.batch + b) * lp.dirs + d) * lp.hidden_in);
}

fn h_prev(hs: HSource, k: u32) -> f32 {
    if (hs.h0) {
        return state[hs.base + k];
    }
    return y_at(hs.base + k);
}

// xp[row] + the recurrent product q of gate row `row` (G*H rows, gate-major).
fn preact(d: u32, t: u32, b: u32, row: u32, q: f32) -> f32 {
    return xp[record_row(lp, d, t, b) * lp.hidden * gates(lp) + row] + q;
}

// R[g*H + j]·(h_prev ⊙ mask) + Rb[g*H + j] of unit j's gates g (the columns, LSTM i, o, f, c;
// GRU z, r and with linear_before_reset h; RNN h) for rows b0 .. b0 + 3 (the vec4s), reading
// R from rt four inputs at a time, each gate's four weights one vec4 (a folded projected LSTM
// after its first step: R'[g*H + j]·m_prev). Each vec4 of weights loaded serves TRAIN_ROWS rows,
// and each load of h four units: the sum over inputs is split in quarters among the invocations
// of units j & ~3 .. (j & ~3) + 3, each taking the four units, added up by add_quarters. Every
// invocation of the workgroup calls it (barriers); its value is meaningful for j < lp.hidden.
// Rows past the batch or past their length compute from valid memory and are not used.
fn recurrent_quad(d: u32, b0: u32, j: u32) -> mat4x4<f32> {
    let H = lp.hidden;
    let G = gates(lp);
    var count = G;
    if ((lp.flags & (FLAG_GRU | FLAG_LINEAR_BEFORE_RESET)) == FLAG_GRU) {
        count = 2u; // the candidate's product reads r ⊙ h_prev: train_step_finish
    }
    let rows = quad_rows(lp, b0);
    let k0 = j & ~3u;
    let part = j & 3u;
    var base = vec4<u32>(h_base(d, rows.x), h_base(d, rows.y), h_base(d, rows.z), h_base(d, rows.w));
    var width = lp.hidden_in;
    var start = 0u; // rt's part for these inputs
    var in_state = cur_step == 0u;
    if (folded(tp) && cur_step > 0u) {
        // R'·m_prev = R·h_prev, m_prev in the state (no recurrent dropout: it does not fold)
        let s = cur_step - 1u;
        base = vec4<u32>(m_at(d, rows.x, s), m_at(d, rows.y, s), m_at(d, rows.z, s), m_at(d, rows.w, s));
        width = H;
        start = tp.rt_fold / 4u;
        in_state = true;
    }
    // Inputs below `plain_end` are read straight from y, a vec4 per four: after the first step
    // (h0 is in the state), without recurrent dropout, in whole quads of rows that start on a
    // vec4 (H_out % 4 == 0). The others go through h_quad (the source, the masks, zeros past
    // the width). Keeping those tests out of the main loop makes it branch-free on any device
    // (BENCHMARKS.md, "Branch-free recurrent loops").
    var plain_end = 0u;
    if (!in_state && (dp.flags & FLAG_DROP_RECURRENT) == 0u && lp.hidden_in % 4u == 0u) {
        plain_end = width & ~3u;
    }
    // Quarter `part` of the inputs (quads part, part + 4, ...) for units k0 .. k0 + 3: unit
    // k0 + u's gates at w + u·G. Column g of acc_u: unit k0 + u's gate g for the four rows.
    var acc0 = mat4x4<f32>();
    var acc1 = mat4x4<f32>();
    var acc2 = mat4x4<f32>();
    var acc3 = mat4x4<f32>();
    if (k0 < H) {
        let quad_step = rt_quad_step(); // to the same unit's weights of the next four inputs
        let stride = 4u * quad_step;
        var w = rt_start(start, d, width, k0) + part * quad_step;
        var k = 4u * part;
        if (b0 + 1u == lp.batch) {
            // a last quad of one row (B = 1, 5, ...): that row alone, not four copies of it
            var a0 = vec4<f32>(0.0); // unit k0's gates
            var a1 = vec4<f32>(0.0);
            var a2 = vec4<f32>(0.0);
            var a3 = vec4<f32>(0.0);
            for (; k < plain_end; k += 16u) {
                add_units_row(&a0, &a1, &a2, &a3, w, count, y_quad(base.x + k));
                w += stride;
            }
            for (; k < width; k += 16u) {
                add_units_row(&a0, &a1, &a2, &a3, w, count, h_quad(d, rows.x, base.x, k, width, in_state));
                w += stride;
            }
            acc0 = broadcast(a0);
            acc1 = broadcast(a1);
            acc2 = broadcast(a2);
            acc3 = broadcast(a3);
        } else {
            for (; k < plain_end; k += 16u) {
                let h = mat4x4<f32>(y_quad(base.x + k), y_quad(base.y + k), y_quad(base.z + k), y_quad(base.w + k));
                add_units(&acc0, &acc1, &acc2, &acc3, w, count, h);
                w += stride;
            }
            for (; k < width; k += 16u) {
                // column r: inputs k .. k + 3 of row r of the quad
                let h = mat4x4<f32>(
                    h_quad(d, rows.x, base.x, k, width, in_state),
                    h_quad(d, rows.y, base.y, k, width, in_state),
                    h_quad(d, rows.z, base.z, k, width, in_state),
                    h_quad(d, rows.w, base.w, k, width, in_state),
                );
                add_units(&acc0, &acc1, &acc2, &acc3, w, count, h);
                w += stride;
            }
        }
    }
    // The four invocations of units k0 .. k0 + 3 add their quarters a gate at a time; unit j
    // takes its own and its recurrent bias.
    var sums = mat4x4<f32>(); // column g: gate g's products of the four rows
    for (var g = 0u; g < count; g++) {
        sums[g] = add_quarters(j, mat4x4<f32>(acc0[g], acc1[g], acc2[g], acc3[g]));
    }
    if (j < H) {
        let bias = tp.b_off + d * 2u * H * G + H * G + j;
        for (var g = 0u; g < count; g++) {
            sums[g] += vec4<f32>(wts[bias + g * H]);
        }
    }
    return sums;
}

// add_quads for the four units k0 .. k0 + 3 (accumulators acc0 .. acc3) whose gates' weights
// start at w, w + G, w + 2G, w + 3G. (Separate pointers: naga 30's SPIR-V writer fails on a
// pointer into an array of matrices.)
fn add_units(
    acc0: ptr<function, mat4x4<f32>>,
    acc1: ptr<function, mat4x4<f32>>,
    acc2: ptr<function, mat4x4<f32>>,
    acc3: ptr<function, mat4x4<f32>>,
    w: u32,
    count: u32,
    h: mat4x4<f32>,
) {
    let G = gates(lp);
    add_quads(acc0, w, count, h);
    add_quads(acc1, w + G, count, h);
    add_quads(acc2, w + 2u * G, count, h);
    add_quads(acc3, w + 3u * G, count, h);
}

// add_row_quad for the four units (a0 .. a3: unit k0 + u's gates of the one row).
fn add_units_row(
    a0: ptr<function, vec4<f32>>,
    a1: ptr<function, vec4<f32>>,
    a2: ptr<function, vec4<f32>>,
    a3: ptr<function, vec4<f32>>,
    w: u32,
    count: u32,
    h: vec4<f32>,
) {
    let G = gates(lp);
    add_row_quad(a0, w, count, h);
    add_row_quad(a1, w + G, count, h);
    add_row_quad(a2, w + 2u * G, count, h);
    add_row_quad(a3, w + 3u * G, count, h);
}

// acc[g] += the products of gate g < count for four inputs of the four rows (the columns of
// h), the gate's four weights the vec4 rt[w + g]: one dot product per row.
fn add_quads(acc: ptr<function, mat4x4<f32>>, w: u32, count: u32, h: mat4x4<f32>) {
    (*acc)[0] += rt[w] * h;
    if (count > 1u) {
        (*acc)[1] += rt[w + 1u] * h;
    }
    if (count > 2u) {
        (*acc)[2] += rt[w + 2u] * h;
    }
    if (count > 3u) {
        (*acc)[3] += rt[w + 3u] * h;
    }
}

// add_quads for one row: a[g] += gate g's products of its four inputs h.
fn add_row_quad(a: ptr<function, vec4<f32>>, w: u32, count: u32, h: vec4<f32>) {
    (*a).x += dot(rt[w], h);
    if (count > 1u) {
        (*a).y += dot(rt[w + 1u], h);
    }
    if (count > 2u) {
        (*a).z += dot(rt[w + 2u], h);
    }
    if (count > 3u) {
        (*a).w += dot(rt[w + 3u], h);
    }
}

// y[at .. at + 4], at a multiple of 4: one load.
fn y_quad(at: u32) -> vec4<f32> {
    return y[at / 4u];
}

// y[i], from the vec4 that holds it.
fn y_at(i: u32) -> f32 {
    return y[i / 4u][i % 4u];
}

// tape[at .. at + 4].
fn tape_quad(at: u32) -> vec4<f32> {
    return vec4<f32>(tape[at], tape[at + 1u], tape[at + 2u], tape[at + 3u]);
}

// The vec4 of rt holding unit j's first gate for inputs 0 .. 3 of direction d, in the part of
// rt for `width` inputs that starts at vec4 `start` (the gates follow; inputs 4q .. 4q + 3 add
// q·rt_quad_step()): shared/blocked's input quads (plan::train::Matmul::c_at, FLAG_MM_QUADS).
fn rt_start(start: u32, d: u32, width: u32, j: u32) -> u32 {
    return start + input_quad(d, width, lp.hidden, j) * gates(lp);
}

// vec4s of rt from a unit's gates of four inputs to those of the next four: its block's units'.
fn rt_quad_step() -> u32 {
    return UNIT_BLOCK * gates(lp);
}

// Inputs k .. k + 3 of row b's h_prev ⊙ mask (or m_prev), from `base` in the state or y; zero
// past `width` (a last, partial quad, whose weights in rt are zero too).
fn h_quad(d: u32, b: u32, base: u32, k: u32, width: u32, in_state: bool) -> vec4<f32> {
    let at = base + k;
    var h: vec4<f32>;
    if (in_state) {
        h = vec4<f32>(state[at], state[at + 1u], state[at + 2u], state[at + 3u]);
    } else {
        h = vec4<f32>(y_at(at), y_at(at + 1u), y_at(at + 2u), y_at(at + 3u));
    }
    return operand_quad(d, b, k, width, h);
}

// Inputs k .. k + 3 of a recurrent product's operand of row b, v, as the product reads them:
// zero past `width` (a last, partial quad), times the recurrent masks.
fn operand_quad(d: u32, b: u32, k: u32, width: u32, v: vec4<f32>) -> vec4<f32> {
    var h = v;
    if (k + 4u > width) {
        h = select(vec4<f32>(0.0), h, k + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(width));
    }
    if ((dp.flags & FLAG_DROP_RECURRENT) != 0u) {
        h *= recurrent_mask_inputs(tp.layer, d, b, lp.hidden_in, k);
    }
    return h;
}

// Where row b's h before this step starts in the state (the first step) or y (h_source); any
// valid place for a row past its length.
fn h_base(d: u32, b: u32) -> u32 {
    if (cur_step == 0u || cur_step < lens[b]) {
        return h_source(d, b).base;
    }
    return 0u;
}

// The new h of unit k: into the final state and the output.
fn finish(d: u32, t: u32, b: u32, k: u32, h: f32) {
    state[(d * lp.batch + b) * lp.hidden_in + k] = h;
    let i = ((t * lp.batch + b) * lp.dirs + d) * lp.hidden_in + k;
    y[i / 4u][i % 4u] = h;
}

// GRU unit j: z and r; with linear_before_reset the candidate and the new h, else r ⊙ h_prev
// for train_step_finish.
fn gru_unit(d: u32, t: u32, b: u32, j: u32, rec: u32, q: vec4<f32>) {
    let H = lp.hidden;
    let f = lp.acts[d * 3u];
    let pz = preact(d, t, b, j, q.x);
    let pr = preact(d, t, b, H + j, q.y);
    tape[rec + j] = pz;
    tape[rec + H + j] = pr;
    let r = activate(f, clip_gate(lp, pr));
    if ((lp.flags & FLAG_LINEAR_BEFORE_RESET) != 0u) {
        tape[rec + tp.ext_off + j] = q.z;
        let pn = xp[record_row(lp, d, t, b) * 3u * H + 2u * H + j] + r * q.z;
        gru_new_h(d, t, b, j, rec, pn);
    } else {
        tape[rec + tp.ext_off + j] = r * tape[rec + tp.hprev_off + j];
    }
}

// GRU (linear_before_reset 0) candidate of unit j: n = g(xn + Rn (r ⊙ h_prev ⊙ mask) + Rbn),
// the product Rn (r ⊙ h_prev ⊙ mask) from candidate_products.
fn gru_candidate(d: u32, t: u32, b: u32, j: u32, rec: u32, product: f32) {
    let gh = 3u * lp.hidden;
    let row = 2u * lp.hidden + j;
    let pn = xp[record_row(lp, d, t, b) * gh + row] + wts[tp.b_off + d * 2u * gh + gh + row] + product;
    gru_new_h(d, t, b, j, rec, pn);
}

// Rn (r ⊙ h_prev ⊙ mask) at unit k of the quad's four rows, whose records start at recs, in
// quarters: invocation k sums every fourth input quad (from k % 4) for the four units
// k & ~3 .. (k & ~3) + 3, so each weight loaded serves the four rows and each load of an operand
// four units; the four invocations of those units add their quarters (add_quarters). Every
// invocation of the workgroup calls it (two barriers); its value is meaningful for k < lp.hidden.
// `one`: the quad has one row, taken alone.
fn candidate_products(d: u32, rows: vec4<u32>, recs: vec4<u32>, k: u32, one: bool) -> vec4<f32> {
    let H = lp.hidden;
    let k0 = k & ~3u;
    let part = k & 3u;
    var sums = mat4x4<f32>(); // column u: unit k0 + u's quarter for the four rows
    if (k0 < H) {
        let stride = 4u * rt_quad_step();
        // unit k0 + u's candidate weights for input quad q at w + u·3 (its gates z, r, h in a
        // row), w from quad `part` on
        var w = rt_start(0u, d, H, k0) + 2u + part * rt_quad_step();
        let at = recs + vec4<u32>(tp.ext_off);
        let quads = (H + 3u) / 4u;
        // as in recurrent_quad: whole quads without recurrent dropout need no operand_quad
        var plain = 0u;
        if ((dp.flags & FLAG_DROP_RECURRENT) == 0u) {
            plain = H / 4u;
        }
        var q = part;
        if (one) {
            var a = vec4<f32>(0.0); // component u: unit k0 + u
            for (; q < plain; q += 4u) {
                a += tape_quad(at.x + 4u * q) * unit_quads(w);
                w += stride;
            }
            for (; q < quads; q += 4u) {
                a += operand_quad(d, rows.x, 4u * q, H, tape_quad(at.x + 4u * q)) * unit_quads(w);
                w += stride;
            }
            sums = broadcast(a);
        } else {
            for (; q < plain; q += 4u) {
                let i = 4u * q;
                add_unit_quads(&sums, unit_quads(w), mat4x4<f32>(tape_quad(at.x + i), tape_quad(at.y + i), tape_quad(at.z + i), tape_quad(at.w + i)));
                w += stride;
            }
            for (; q < quads; q += 4u) {
                let i = 4u * q;
                let v = mat4x4<f32>(
                    operand_quad(d, rows.x, i, H, tape_quad(at.x + i)),
                    operand_quad(d, rows.y, i, H, tape_quad(at.y + i)),
                    operand_quad(d, rows.z, i, H, tape_quad(at.z + i)),
                    operand_quad(d, rows.w, i, H, tape_quad(at.w + i)),
                );
                add_unit_quads(&sums, unit_quads(w), v);
                w += stride;
            }
        }
    }
    return add_quarters(k, sums);
}

// The four units' candidate weights for one input quad, from unit k0's at w (column u: unit
// k0 + u; each unit's three gates are three vec4s in a row).
fn unit_quads(w: u32) -> mat4x4<f32> {
    return mat4x4<f32>(rt[w], rt[w + 3u], rt[w + 6u], rt[w + 9u]);
}

// h' = (1 - z) ⊙ n + z ⊙ h_prev of unit j, from the candidate's pre-activation pn.
fn gru_new_h(d: u32, t: u32, b: u32, j: u32, rec: u32, pn: f32) {
    let H = lp.hidden;
    tape[rec + 2u * H + j] = pn;
    let z = activate(lp.acts[d * 3u], clip_gate(lp, tape[rec + j]));
    let n = activate(lp.acts[d * 3u + 1u], clip_gate(lp, pn));
    finish(d, t, b, j, (1.0 - z) * n + z * tape[rec + tp.hprev_off + j]);
}

// LSTM unit j: gates i, o, f, c with peepholes and input_forget; c' into the state and the tape;
// o ⊙ h(c') is the new h, or the projection's input (train_step_finish).
fn lstm_unit(d: u32, t: u32, b: u32, j: u32, rec: u32, q: vec4<f32>) {
    let H = lp.hidden;
    let fa = lp.acts[d * 3u];
    let peep = (lp.flags & FLAG_PEEPHOLE) != 0u;
    let p = tp.p_off + d * 3u * H + j;
    let c_at = tp.state_c + (d * lp.batch + b) * H + j;
    let c = state[c_at];
    var pi = preact(d, t, b, j, q.x);
    if (peep) {
        pi += wts[p] * c;
    }
    tape[rec + j] = pi;
    let i = activate(fa, clip_gate(lp, pi));
    var f = 1.0 - i;
    if ((lp.flags & FLAG_INPUT_FORGET) == 0u) {
        var pf = preact(d, t, b, 2u * H + j, q.z);
        if (peep) {
            pf += wts[p + 2u * H] * c;
        }
        tape[rec + 2u * H + j] = pf;
        f = activate(fa, clip_gate(lp, pf));
    }
    let pc = preact(d, t, b, 3u * H + j, q.w);
    tape[rec + 3u * H + j] = pc;
    let c_new = f * c + i * activate(lp.acts[d * 3u + 1u], clip_gate(lp, pc));
    var po = preact(d, t, b, H + j, q.y);
    if (peep) {
        po += wts[p + H] * c_new;
    }
    tape[rec + H + j] = po;
    let m = activate(fa, clip_gate(lp, po)) * activate(lp.acts[d * 3u + 2u], c_new);
    state[c_at] = c_new;
    tape[rec + tp.ext_off + j] = c_new;
    if ((lp.flags & FLAG_PROJ) != 0u) {
        state[m_at(d, b, cur_step) + j] = m;
    } else {
        finish(d, t, b, j, m);
    }
}
