// loss, loss_wide: the loss of the head's outputs and its gradient.
//   logits:  [rows, C] (rows = T*B for a head at every step, B for one on the final state)
//   targets: class ids [rows] (u32) or values [rows, C] (f32 bits), by lp.kind
//   lens:    sequence lengths [B]; a row at step t of sequence b counts when t < len[b]
//   dlogits: [rows, C] the loss's gradient; row_loss: [rows] each row's share of the loss (a
//            matmul sums them)
// Cross-entropy: log-softmax with the row's max subtracted, averaged over the rows that count
// (scale = 1 / kept). Mean squared error: averaged over their elements (scale = 1 / (kept * C)).
// Versions:
//   loss       one invocation per row, its loops over the classes serial (heads of up to
//              LOSS_WIDE_CLASSES outputs, plan::train_step)
//   loss_wide  one workgroup per row: its invocations stride over the classes, the max and the
//              sums reduced in workgroup memory (wider heads: a vocabulary's)

// Keep in sync with `gpu::train::params::LossParams` (Rust; a test compares the layouts).
struct LossParams {
    rows: u32,
    classes: u32,
    kind: u32,   // LOSS_CROSS_ENTROPY or LOSS_MSE
    batch: u32,  // B: row r is step r / B of sequence r % B
    steps: u32,  // 1: rows are steps (masked by the lengths); 0: one row per sequence
    scale: f32,  // 1 / kept rows (cross-entropy), 1 / kept elements (MSE)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> lo: LossParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> lens: array<u32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(5) var<storage, read_write> row_loss: array<f32>;

// Whether row r counts toward the loss: every row of a head on the final states, a step's row
// while its sequence runs.
fn row_counts(r: u32) -> bool {
    return lo.steps == 0u || r / lo.batch < lens[r % lo.batch];
}

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn loss(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = gid.x + gid.y * groups.x * TRAIN_WORKGROUP;
    if (r >= lo.rows) {
        return;
    }
    let C = lo.classes;
    let z = r * C;
    if (!row_counts(r)) {
        for (var c = 0u; c < C; c++) {
            dlogits[z + c] = 0.0;
        }
        row_loss[r] = 0.0;
        return;
    }
    if (lo.kind == LOSS_CROSS_ENTROPY) {
        var m = logits[z];
        for (var c = 1u; c < C; c++) {
            m = max(m, logits[z + c]);
        }
        var sum = 0.0;
        for (var c = 0u; c < C; c++) {
            sum += exp(logits[z + c] - m);
        }
        let id = targets[r];
        for (var c = 0u; c < C; c++) {
            let p = exp(logits[z + c] - m) / sum;
            dlogits[z + c] = (p - select(0.0, 1.0, c == id)) * lo.scale;
        }
        row_loss[r] = (m + log(sum) - logits[z + id]) * lo.scale;
    } else {
        var total = 0.0;
        for (var c = 0u; c < C; c++) {
            let d = logits[z + c] - bitcast<f32>(targets[z + c]);
            total += d * d;
            dlogits[z + c] = 2.0 * d * lo.scale;
        }
        row_loss[r] = total * lo.scale;
    }
}

var<workgroup> lanes: array<f32, LOSS_WORKGROUP>;

// The max (take_max) or the sum of every invocation's v, returned to all of them.
fn reduce(li: u32, v: f32, take_max: bool) -> f32 {
    lanes[li] = v;
    workgroupBarrier();
    for (var half = LOSS_WORKGROUP / 2u; half > 0u; half /= 2u) {
        if (li < half) {
            let o = lanes[li + half];
            lanes[li] = select(lanes[li] + o, max(lanes[li], o), take_max);
        }
        workgroupBarrier();
    }
    let all = lanes[0];
    workgroupBarrier(); // read by all before the next reduction writes
    return all;
}

@compute @workgroup_size(LOSS_WORKGROUP, 1, 1)
fn loss_wide(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let r = wid.x + wid.y * groups.x;
    if (r >= lo.rows) {
        return;
    }
    let C = lo.classes;
    let z = r * C;
    if (!row_counts(r)) {
        for (var c = li; c < C; c += LOSS_WORKGROUP) {
            dlogits[z + c] = 0.0;
        }
        if (li == 0u) {
            row_loss[r] = 0.0;
        }
        return;
    }
    if (lo.kind == LOSS_CROSS_ENTROPY) {
        var m = logits[z];
        for (var c = li; c < C; c += LOSS_WORKGROUP) {
            m = max(m, logits[z + c]);
        }
        m = reduce(li, m, true);
        var sum = 0.0;
        for (var c = li; c < C; c += LOSS_WORKGROUP) {
            sum += exp(logits[z + c] - m);
        }
        sum = reduce(li, sum, false);
        let id = targets[r];
        for (var c = li; c < C; c += LOSS_WORKGROUP) {
            let p = exp(logits[z + c] - m) / sum;
            dlogits[z + c] = (p - select(0.0, 1.0, c == id)) * lo.scale;
        }
        if (li == 0u) {
            row_loss[r] = (m + log(sum) - logits[z + id]) * lo.scale;
        }
    } else {
        var total = 0.0;
        for (var c = li; c < C; c += LOSS_WORKGROUP) {
            let d = logits[z + c] - bitcast<f32>(targets[z + c]);
            total += d * d;
            dlogits[z + c] = 2.0 * d * lo.scale;
        }
        total = reduce(li, total, false);
        if (li == 0u) {
            row_loss[r] = total * lo.scale;
        }
    }
}
