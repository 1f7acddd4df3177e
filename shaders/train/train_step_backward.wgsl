// train_step_backward, train_step_backward_finish: the backward of one train_step, both
// directions in one dispatch; the host dispatches the steps in reverse, then once more for
// the initial state. CPU twin: cpu::backward::backward64 (cells_backward.rs).
//   tape:   train_step's records [D, T, B, record] (train_params.wgsl)
//   dy:     gradient of the layer's merged output [T, B, width]; y: its output [T, B, D, H_out]
//           (merge mul reads the other direction)
//   carry:  per row of each direction (TrainParams): dh_n [H_out]; dc [H], the running
//           gradient of c; dh0 [H_out], the result of the last dispatch; GRU's direct share of
//           dh_prev [2][H_out], written at step s into half s & 1; c0 [H]
//   dgates: dGx [D, T, B, G*H], the gradient of x·Wᵀ + Wb, then for GRU linear_before_reset 1
//           dGr, the gradient of the recurrent products (they differ in the candidate gate);
//           elsewhere dgr_off is 0: dGx serves as dGr
//   extras: dh per step [D, T, B, H_out] (LSTM projection), peephole partials [D, B, 3H],
//           a folded projected LSTM's R' = R·W_hr [D, G*H, H] (a matmul before the walk), R in
//           quads of rows [D, ⌈H_out/UNIT_BLOCK⌉, G*H/4, UNIT_BLOCK] of vec4 (a copy before the
//           walk, where G*H % 4 == 0: rq_start)
// dgates and extras are bound as vec4s, so the recurrent products read four rows' weights and
// dG in one load each.
// Invocation (j, q, d) of train_step_backward and of its finish: unit j of rows 4q .. 4q + 3
// (TRAIN_ROWS), direction d. At step s it first finishes the product the step after left:
// dh[j] = dy + Σ_row R[row, j] dGr_{s+1}[row] + direct_{s+1}[j] (dh_n at a row's last step),
// then the gate gradients of unit j. The product's sum over R's rows is split in eighths among
// the eight invocations of units 8i .. 8i + 7, each taking the eight units, and added up
// through workgroup memory (shared_products): each weight loaded serves the four rows and each
// load of dG eight units. Nothing flows back from outputs past a row's length. The weights'
// gradients come after the walk from matmuls over dgates and the tape.
// Versions (one each):
//   train_step_backward         a whole step for RNN, LSTM and GRU (linear_before_reset); for
//                               GRU (linear_before_reset 0) all but the reset gate, for a
//                               projected LSTM only dh; at step STEP_INITIAL, dh0
//   train_step_backward_finish  GRU's reset gate (it reads every unit's dn), a projected
//                               LSTM's gates (dm = W_hrᵀ dh reads every dh)
//   train_persistent_backward   many steps of the walk back (and dh0 after the first step)
//                               in one dispatch: the two above, apart by storage barriers in
//                               one workgroup per row quad and direction
// A folded projected LSTM (tp.fold) takes one dispatch per step: dm = W_hrᵀ (dy + dh_n) +
// R'ᵀ dG_{s+1} needs no dh of other units; dh, dW_hr's operand, is computed beside it.
// A projected LSTM's m = o ⊙ h(c') is not on the tape: once a step's gate gradients are done,
// its m is recomputed into the o gate's pre-activation slot (nothing reads that slot later),
// the operand of dW_hr's matmul.
// Recurrent dropout (dp.flags): dh_prev from the products is masked as their input was; once a
// step's backward is done, its tape's h_prev (and a reset-before GRU's r ⊙ h_prev) are masked
// in place, the operands of the weight gradients' matmuls.
// uses: train/train_params train/masks shared/blocked shared/eighths

@group(0) @binding(0) var<uniform> lp: LayerParams;
@group(0) @binding(1) var<uniform> tp: TrainParams;
@group(0) @binding(2) var<uniform> sp: StepParams;
@group(0) @binding(3) var<storage, read> wts: array<f32>;
@group(0) @binding(4) var<storage, read> lens: array<u32>;
@group(0) @binding(5) var<storage, read_write> tape: array<f32>;
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read> y: array<f32>;
@group(0) @binding(8) var<storage, read_write> carry: array<f32>;
@group(0) @binding(9) var<storage, read_write> dgates: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> extras: array<vec4<f32>>;
@group(0) @binding(11) var<uniform> dp: DropoutParams;

// The step the running invocation computes: sp.step in the per-step kernels, the loop's step in
// train_persistent_backward.
var<private> cur_step: u32;

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn train_step_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    cur_step = sp.step;
    backward_unit(gid.x, gid.y * TRAIN_ROWS, gid.z);
}

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn train_step_backward_finish(@builtin(global_invocation_id) gid: vec3<u32>) {
    cur_step = sp.step;
    backward_finish_unit(gid.x, gid.y * TRAIN_ROWS, gid.z);
}

// The walk back of train_persistent: tp.walk_steps steps from step sp.step down, and the
// initial state's gradient when it reaches the first step. Workgroup (0, q, d) takes rows
// 4q .. 4q + 3 of direction d, invocation j unit j (H <= PERSISTENT_UNITS); a storage barrier
// stands where the per-step kernels end a dispatch.
@compute @workgroup_size(PERSISTENT_UNITS, 1, 1)
fn train_persistent_backward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let b0 = wid.y * TRAIN_ROWS;
    let d = wid.z;
    let second_half = two_phase(lp, tp);
    let count = min(tp.walk_steps, sp.step + 1u);
    for (var i = 0u; i < count; i++) {
        cur_step = sp.step - i;
        backward_unit(lid.x, b0, d);
        storageBarrier();
        if (second_half) {
            backward_finish_unit(lid.x, b0, d);
            storageBarrier();
        }
    }
    if (count == sp.step + 1u) {
        cur_step = STEP_INITIAL;
        backward_unit(lid.x, b0, d);
    }
}

// train_step_backward's unit j of rows b0 .. b0 + 3, direction d (dh0 at STEP_INITIAL).
fn backward_unit(j: u32, b0: u32, d: u32) {
    let rows = quad_rows(lp, b0);
    // what reaches h_prev of the step after (cur_step + 1, which is step 0 at STEP_INITIAL) from
    // it, for the four rows (j < lp.hidden_in). Every invocation computes it: its product holds
    // workgroup barriers.
    let from_next = dh_prev_quad(d, rows, cur_step + 1u, j);
    if (cur_step == STEP_INITIAL) {
        if (j < lp.hidden_in) {
            for (var r = 0u; r < TRAIN_ROWS && b0 + r < lp.batch; r++) {
                carry[tp.carry_dh0 + (d * lp.batch + b0 + r) * lp.hidden_in + j] = from_next[r];
            }
        }
        return;
    }
    if (j >= lp.hidden) {
        return;
    }
    // a folded projected LSTM: what reaches m[j] from the step after, through h and R
    var m_from_next = vec4<f32>(0.0);
    if (folded(tp)) {
        m_from_next = folded_quad(d, rows, cur_step + 1u, j);
    }
    for (var r = 0u; r < TRAIN_ROWS; r++) {
        let b = b0 + r;
        if (b >= lp.batch) {
            break;
        }
        let len = lens[b];
        if (cur_step >= len) {
            continue;
        }
        let t = time_index(lp, d, cur_step, len);
        let rr = record_row(lp, d, t, b);
        var dh = 0.0;
        if (j < lp.hidden_in) {
            dh = dy_of(d, t, b, j);
            if (cur_step + 1u < len) {
                dh += from_next[r];
            } else {
                dh += carry[(d * lp.batch + b) * lp.hidden_in + j]; // dh_n
            }
        }
        if ((lp.flags & FLAG_PROJ) != 0u) {
            if (j < lp.hidden_in) {
                set_extra(rr * lp.hidden_in + j, dh); // dW_hr's operand
            }
            if (!folded(tp)) {
                continue; // dm = W_hrᵀ dh reads every dh: train_step_backward_finish
            }
            // dm = W_hrᵀ dh = W_hrᵀ (dy + dh_n at the row's last step) + R'ᵀ dG_{s+1}
            var dm = dm_upstream(d, t, b, j, cur_step + 1u == len);
            if (cur_step + 1u < len) {
                dm += m_from_next[r];
            }
            unit_backward(d, b, j, rr, dm);
            continue;
        }
        unit_backward(d, b, j, rr, dh);
        if (!two_phase(lp, tp)) {
            mask_operands(d, b, j, rr);
        }
    }
}

// A folded projected LSTM: W_hrᵀ of the gradient arriving at h_t of row b from outside the
// recurrence (dy, and dh_n at the row's last step), at unit j of m.
fn dm_upstream(d: u32, t: u32, b: u32, j: u32, last: bool) -> f32 {
    let w = tp.proj_off + d * lp.hidden_in * lp.hidden + j;
    let dh_n = (d * lp.batch + b) * lp.hidden_in;
    var dm = 0.0;
    for (var k = 0u; k < lp.hidden_in; k++) {
        var g = dy_of(d, t, b, k);
        if (last) {
            g += carry[dh_n + k];
        }
        dm += wts[w + k * lp.hidden] * g;
    }
    return dm;
}

// A folded projected LSTM: R'ᵀ dG of step s at unit j of m for the four rows (W_hrᵀ Rᵀ dG,
// what reaches m of the step before s through its h), reading R' [D, G*H, H] from extras. A row
// whose length ends before step s reads valid memory and gets a value nobody uses.
fn folded_quad(d: u32, rows: vec4<u32>, s: u32, j: u32) -> vec4<f32> {
    let gh = lp.hidden * gates(lp);
    let g = vec4<u32>(dgr_base(d, rows.x, s), dgr_base(d, rows.y, s), dgr_base(d, rows.z, s), dgr_base(d, rows.w, s));
    var w = tp.fold_off + d * gh * lp.hidden + j;
    if (rows.x == rows.y) {
        // one row in this quad (B = 1, 5, ...): that row alone, not four copies of it
        var one = 0.0;
        for (var row = 0u; row < gh; row++) {
            one += extra_at(w) * dg_at(g.x + row);
            w += lp.hidden;
        }
        return vec4<f32>(one);
    }
    var acc = vec4<f32>(0.0);
    for (var row = 0u; row < gh; row++) {
        acc += extra_at(w) * vec4<f32>(dg_at(g.x + row), dg_at(g.y + row), dg_at(g.z + row), dg_at(g.w + row));
        w += lp.hidden;
    }
    return acc;
}

// With recurrent dropout, the step's recurrent operands of unit k become what the products
// read (h_prev ⊙ mask, a reset-before GRU's r ⊙ h_prev ⊙ mask): the weight gradients' matmuls
// read them after the walk. Unit k's own invocation, after its last read of them.
fn mask_operands(d: u32, b: u32, k: u32, rr: u32) {
    if ((dp.flags & FLAG_DROP_RECURRENT) == 0u || k >= lp.hidden_in) {
        return;
    }
    let m = recurrent_mask(tp.layer, d, b, lp.hidden_in, k);
    let rec = rr * tp.record;
    tape[rec + tp.hprev_off + k] *= m;
    if ((lp.flags & (FLAG_GRU | FLAG_LINEAR_BEFORE_RESET)) == FLAG_GRU) {
        tape[rec + tp.ext_off + k] *= m;
    }
}

// train_step_backward_finish's unit j of rows b0 .. b0 + 3, direction d: each weight loaded
// serves the four rows.
fn backward_finish_unit(j: u32, b0: u32, d: u32) {
    let rows = quad_rows(lp, b0);
    let one = rows.x == rows.y; // one row in this quad (B = 1, 5, ...): that row alone
    let rrs = vec4<u32>(live_row(d, rows.x), live_row(d, rows.y), live_row(d, rows.z), live_row(d, rows.w));
    var products = vec4<f32>(0.0); // row r's d(r ⊙ h_prev) or dm = W_hrᵀ dh at unit j
    if ((lp.flags & FLAG_GRU) != 0u) {
        // every invocation computes the product: it holds workgroup barriers
        products = reset_products(d, rrs, j, one);
    } else if (j < lp.hidden) { // LSTM projection: dm = W_hrᵀ dh
        var w = tp.proj_off + d * lp.hidden_in * lp.hidden + j;
        let dh = rrs * lp.hidden_in;
        for (var k = 0u; k < lp.hidden_in; k++) {
            let dhk = vec4<f32>(extra_at(dh.x + k), extra_at(dh.y + k), extra_at(dh.z + k), extra_at(dh.w + k));
            products += wts[w] * select(dhk, vec4<f32>(dhk.x), one);
            w += lp.hidden;
        }
    }
    for (var r = 0u; r < TRAIN_ROWS; r++) {
        let b = b0 + r;
        if (b >= lp.batch) {
            break;
        }
        if (cur_step >= lens[b] || j >= lp.hidden) {
            continue;
        }
        let rr = rrs[r];
        if ((lp.flags & FLAG_GRU) != 0u) {
            gru_reset_backward(d, b, j, rr, products[r]);
        } else {
            unit_backward(d, b, j, rr, products[r]);
        }
        mask_operands(d, b, j, rr);
    }
}

// Row b's record row at step cur_step of direction d; 0, any valid one, past its length.
fn live_row(d: u32, b: u32) -> u32 {
    let len = lens[b];
    if (cur_step >= len) {
        return 0u;
    }
    return record_row(lp, d, time_index(lp, d, cur_step, len), b);
}

// The gate gradients of unit j at record row rr, with dm arriving at its output.
fn unit_backward(d: u32, b: u32, j: u32, rr: u32, dm: f32) {
    let g0 = rr * lp.hidden * gates(lp);
    let rec = rr * tp.record;
    if ((lp.flags & FLAG_LSTM) != 0u) {
        lstm_unit_backward(d, b, j, rec, g0, dm);
    } else if ((lp.flags & FLAG_GRU) != 0u) {
        gru_unit_backward(d, b, j, rec, g0, dm);
    } else {
        set_dg(g0 + j, dm * gate_slopes(lp, lp.acts[d * 3u], vec4<f32>(tape[rec + j])).slope.x);
    }
}

// The gradient reaching h_prev[k] of step s of each of the four rows from that step: Rᵀ dGr
// (GRU linear_before_reset 0: the z and r rows; the candidate's reached h_prev through
// r ⊙ h_prev) plus GRU's direct share z ⊙ dh. A row whose length ends before step s reads
// valid memory and gets a value nobody uses. Every invocation of the workgroup calls it (the
// products share through workgroup memory); its value is meaningful for k < lp.hidden_in.
fn dh_prev_quad(d: u32, rows: vec4<u32>, s: u32, k: u32) -> vec4<f32> {
    let gh = lp.hidden * gates(lp);
    let g = vec4<u32>(dgr_base(d, rows.x, s), dgr_base(d, rows.y, s), dgr_base(d, rows.z, s), dgr_base(d, rows.w, s));
    let one = rows.x == rows.y;
    var count = gh;
    var acc = vec4<f32>(0.0);
    if ((lp.flags & FLAG_GRU) != 0u) {
        if ((lp.flags & FLAG_LINEAR_BEFORE_RESET) == 0u) {
            count = 2u * lp.hidden;
        }
        if (k < lp.hidden_in) {
            acc = vec4<f32>(
                carry[direct_at(d, rows.x, s) + k],
                carry[direct_at(d, rows.y, s) + k],
                carry[direct_at(d, rows.z, s) + k],
                carry[direct_at(d, rows.w, s) + k],
            );
        }
    }
    var products = shared_products(d, g / 4u, 0u, count / 4u, k, one);
    if (tp.row_quads == 0u && k < lp.hidden_in) {
        products = row_products(d, g, count, k, one);
    }
    return acc + products * recurrent_mask_quad(tp.layer, d, rows, lp.hidden_in, k);
}

// Σ_i R[4·r_first + i, k] dG[i] over i < 4·quads for the four rows of the quad whose dG start at
// vec4s gq, from R in quads of rows in extras (tp.row_quads: whole quads), in eighths:
// invocation k sums the quads q ≡ k (mod 8) for the eight units k & ~7 .. (k & ~7) + 7, so each
// load of a row's dG serves eight units as each weight serves the four rows; the eight
// invocations of those units then add their eighths (add_eighths). Every invocation of the
// workgroup calls it (two barriers); zeros where !tp.row_quads. `one`: the quad has one row
// (B = 1, 5, ...), which it takes alone, not four copies of it.
fn shared_products(d: u32, gq: vec4<u32>, r_first: u32, quads: u32, k: u32, one: bool) -> vec4<f32> {
    let k0 = k & ~7u;
    let part = k & 7u;
    var low = mat4x4<f32>(); // column u: unit k0 + u's eighth for the four rows
    var high = mat4x4<f32>(); // column u: unit k0 + 4 + u's
    if (tp.row_quads != 0u && k0 < lp.hidden_in) {
        // R[4(r_first + q) .. 4(r_first + q) + 4, k0 + u] at w + u
        var w = rq_start(d, k0) + (r_first + part) * UNIT_BLOCK;
        let stride = 8u * UNIT_BLOCK;
        if (one) {
            var a = vec4<f32>(0.0); // component u: unit k0 + u
            var b = vec4<f32>(0.0); // component u: unit k0 + 4 + u
            for (var q = part; q < quads; q += 8u) {
                let dg = dgates[gq.x + q];
                a += dg * unit_rows(w);
                b += dg * unit_rows(w + 4u);
                w += stride;
            }
            low = broadcast(a);
            high = broadcast(b);
        } else {
            for (var q = part; q < quads; q += 8u) {
                // column r: row r's dG of the quad's four recurrent rows
                let dg = mat4x4<f32>(dgates[gq.x + q], dgates[gq.y + q], dgates[gq.z + q], dgates[gq.w + q]);
                add_unit_quads(&low, unit_rows(w), dg);
                add_unit_quads(&high, unit_rows(w + 4u), dg);
                w += stride;
            }
        }
    }
    return add_eighths(k, low, high);
}

// A quad of R's rows for four neighbouring units, from the first unit's vec4 at w in extras
// (column u: unit u's four rows).
fn unit_rows(w: u32) -> mat4x4<f32> {
    return mat4x4<f32>(extras[w], extras[w + 1u], extras[w + 2u], extras[w + 3u]);
}

// The vec4 of extras holding R[0 .. 4, k] of direction d (tp.row_quads; TrainLayer::rq_off):
// row quad q adds q·UNIT_BLOCK. shared/blocked's layout with the G·H/4 row quads as its k, so a
// block's invocations read one contiguous stream.
fn rq_start(d: u32, k: u32) -> u32 {
    return tp.rq_off / 4u + blocked_unit(d, lp.hidden * gates(lp) / 4u, lp.hidden_in, k);
}

// shared_products reading R one float per row from the weights (ONNX layout), where rows or
// their dG do not start on vec4s.
fn row_products(d: u32, g: vec4<u32>, count: u32, k: u32, one: bool) -> vec4<f32> {
    var products = vec4<f32>(0.0);
    var w = r_row(tp, lp, d, 0u) + k;
    if (one) {
        var a = 0.0;
        for (var row = 0u; row < count; row++) {
            a += wts[w] * dg_at(g.x + row);
            w += lp.hidden_in;
        }
        return vec4<f32>(a);
    }
    for (var row = 0u; row < count; row++) {
        products += wts[w] * vec4<f32>(dg_at(g.x + row), dg_at(g.y + row), dg_at(g.z + row), dg_at(g.w + row));
        w += lp.hidden_in;
    }
    return products;
}

// Where the recurrent gate gradients dGr of step s of row (d, b) start (the start of dGr
// for a row whose length ends before step s).
fn dgr_base(d: u32, b: u32, s: u32) -> u32 {
    let len = lens[b];
    if (s >= len) {
        return tp.dgr_off;
    }
    return tp.dgr_off + record_row(lp, d, time_index(lp, d, s, len), b) * lp.hidden * gates(lp);
}

// Where GRU's direct share of step s of row (d, b) starts in the carry.
fn direct_at(d: u32, b: u32, s: u32) -> u32 {
    return tp.carry_direct + ((s & 1u) * lp.dirs * lp.batch + d * lp.batch + b) * lp.hidden_in;
}

// The gradient that arrives at direction d's output h_t[k] through the merge.
fn dy_of(d: u32, t: u32, b: u32, k: u32) -> f32 {
    let row = t * lp.batch + b;
    switch tp.merge {
        case MERGE_CONCAT: { return dy[row * tp.width + d * lp.hidden_in + k]; }
        case MERGE_SUM: { return dy[row * tp.width + k]; }
        case MERGE_AVERAGE: { return 0.5 * dy[row * tp.width + k]; }
        default: { return dy[row * tp.width + k] * y[(row * lp.dirs + 1u - d) * lp.hidden_in + k]; } // MERGE_MUL
    }
}

// GRU unit j: h' = (1 - z) ⊙ n + z ⊙ h_prev with dm arriving at h'.
fn gru_unit_backward(d: u32, b: u32, j: u32, rec: u32, g0: u32, dm: f32) {
    let H = lp.hidden;
    // z (x) and r (y) through f, n through g
    let zr = gate_slopes(lp, lp.acts[d * 3u], vec4<f32>(tape[rec + j], tape[rec + H + j], 0.0, 0.0));
    let n = gate_slopes(lp, lp.acts[d * 3u + 1u], vec4<f32>(tape[rec + 2u * H + j]));
    let z = zr.value.x;
    let dn = dm * (1.0 - z) * n.slope.x;
    let dz = dm * (tape[rec + tp.hprev_off + j] - n.value.x) * zr.slope.x;
    carry[direct_at(d, b, cur_step) + j] = dm * z;
    set_dg(g0 + j, dz);
    set_dg(g0 + 2u * H + j, dn);
    if ((lp.flags & FLAG_LINEAR_BEFORE_RESET) != 0u) {
        // n = g(xn + r ⊙ q), q = Rn h + Rbn in ext: dGr's rows of their own
        let dr = dn * tape[rec + tp.ext_off + j] * zr.slope.y;
        set_dg(g0 + H + j, dr);
        set_dg(tp.dgr_off + g0 + j, dz);
        set_dg(tp.dgr_off + g0 + H + j, dr);
        set_dg(tp.dgr_off + g0 + 2u * H + j, dn * zr.value.y);
    }
    // reset before: dGr is dGx (dgr_off 0); the reset gate's row comes in gru_reset_backward
}

// GRU (linear_before_reset 0): d(r ⊙ h_prev)[k] = Σ_j Rn[j, k] dn[j] of the record rows rrs,
// before the recurrent mask. Every invocation of the workgroup calls it (shared_products); its
// value is meaningful for k < lp.hidden. `one`: the quad has one row, taken alone.
fn reset_products(d: u32, rrs: vec4<u32>, k: u32, one: bool) -> vec4<f32> {
    let H = lp.hidden;
    let dn = rrs * 3u * H + vec4<u32>(2u * H); // dn[0] of each row in dgates
    // the candidate's rows 2H .. 3H of R in quads, dn a vec4 per four of them
    let quads = shared_products(d, dn / 4u, 2u * H / 4u, H / 4u, k, one);
    if (tp.row_quads != 0u || k >= H) {
        return quads;
    }
    var drh = vec4<f32>(0.0);
    var w = r_row(tp, lp, d, 2u * H) + k;
    for (var j = 0u; j < H; j++) {
        drh += wts[w] * vec4<f32>(dg_at(dn.x + j), dg_at(dn.y + j), dg_at(dn.z + j), dg_at(dn.w + j));
        w += H;
    }
    return drh;
}

// GRU (linear_before_reset 0) unit k's reset gate: n = g(xn + Rn (r ⊙ h_prev) + Rbn), with
// d(r ⊙ h_prev)[k] from reset_products.
fn gru_reset_backward(d: u32, b: u32, k: u32, rr: u32, product: f32) {
    let H = lp.hidden;
    let g0 = rr * 3u * H;
    let rec = rr * tp.record;
    let drh = product * recurrent_mask(tp.layer, d, b, H, k);
    let r = gate_slopes(lp, lp.acts[d * 3u], vec4<f32>(tape[rec + H + k]));
    let dr = drh * tape[rec + tp.hprev_off + k] * r.slope.x;
    set_dg(g0 + H + k, dr);
    carry[direct_at(d, b, cur_step) + k] += drh * r.value.x;
}

// LSTM unit j with dm arriving at o ⊙ h(c') and dc (carry) at c'.
fn lstm_unit_backward(d: u32, b: u32, j: u32, rec: u32, g0: u32, dm: f32) {
    let H = lp.hidden;
    let peep = (lp.flags & FLAG_PEEPHOLE) != 0u;
    let p = tp.p_off + d * 3u * H + j;
    let u_row = (d * lp.batch + b) * H;
    let c_new = tape[rec + tp.ext_off + j];
    let c = c_prev(d, b, j);
    // i (x), o (y) and f (z) through the first activation, the candidate through the second,
    // c' (not clipped) through the third
    let iof = gate_slopes(lp, lp.acts[d * 3u], vec4<f32>(tape[rec + j], tape[rec + H + j], tape[rec + 2u * H + j], 0.0));
    let cand = gate_slopes(lp, lp.acts[d * 3u + 1u], vec4<f32>(tape[rec + 3u * H + j]));
    let hc = act_slopes(lp.acts[d * 3u + 2u], vec4<f32>(c_new));
    let i = iof.value.x;
    let o = iof.value.y;
    let input_forget = (lp.flags & FLAG_INPUT_FORGET) != 0u;
    let f = select(iof.value.z, 1.0 - i, input_forget);
    let dgo = dm * hc.value.x * iof.slope.y;
    var dcn = carry[tp.carry_c + u_row + j] + dm * o * hc.slope.x;
    if (peep) {
        dcn += dgo * wts[p + H];
    }
    var di = dcn * cand.value.x;
    let df = dcn * c;
    var dgf = 0.0;
    if (input_forget) {
        di -= df; // f = 1 - i
    } else {
        dgf = df * iof.slope.z;
    }
    let dgi = di * iof.slope.x;
    let dgc = dcn * i * cand.slope.x;
    var dc_prev = dcn * f;
    if (peep) {
        dc_prev += dgi * wts[p] + dgf * wts[p + 2u * H];
        let q = tp.dp_off + u_row * 3u + j;
        add_extra(q, dgi * c);
        add_extra(q + H, dgo * c_new);
        add_extra(q + 2u * H, dgf * c);
    }
    carry[tp.carry_c + u_row + j] = dc_prev;
    if ((lp.flags & FLAG_PROJ) != 0u) {
        tape[rec + H + j] = o * hc.value.x; // m, in po's slot (the header says why)
    }
    set_dg(g0 + j, dgi);
    set_dg(g0 + H + j, dgo);
    set_dg(g0 + 2u * H + j, dgf);
    set_dg(g0 + 3u * H + j, dgc);
}

// The cell state before the step of row b at step cur_step: the previous step's c' (its tape
// record), or the layer's c0 at the first step.
fn c_prev(d: u32, b: u32, j: u32) -> f32 {
    if (cur_step == 0u) {
        return carry[tp.carry_c0 + (d * lp.batch + b) * lp.hidden + j];
    }
    let tq = time_index(lp, d, cur_step - 1u, lens[b]);
    return tape[record_row(lp, d, tq, b) * tp.record + tp.ext_off + j];
}

// dgates and extras are bound as vec4s (the recurrent product reads quads of dG and of R's rows,
// one load each); these read and write one float of them.
fn dg_at(i: u32) -> f32 {
    return dgates[i / 4u][i % 4u];
}

fn set_dg(i: u32, v: f32) {
    dgates[i / 4u][i % 4u] = v;
}

fn extra_at(i: u32) -> f32 {
    return extras[i / 4u][i % 4u];
}

fn set_extra(i: u32, v: f32) {
    extras[i / 4u][i % 4u] = v;
}

fn add_extra(i: u32, v: f32) {
    extras[i / 4u][i % 4u] += v;
}
