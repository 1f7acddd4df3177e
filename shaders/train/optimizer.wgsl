// sum_squares, sum_squares_finish, optimizer_update, optimizer_restore: gradient norm,
// clipping and the optimizer step over one parameter group (a buffer of parameters with its
// gradients and optimizer state).
//   stats: the step's statistics (train/stats.wgsl has the layout)
//   sum_squares:        up to NORM_PARTS workgroups per group (plan::train_step::norm_parts),
//                       each a strided share of the group's quads reduced in workgroup memory
//                       into its partial sums (those of workgroups not dispatched stay zero:
//                       the step clears stats first)
//   sum_squares_finish: one workgroup: each group's partial sums into its [2 + 2s], [3 + 2s]
//   optimizer_update:   grid-stride over the parameters' quads (at most UPDATE_WORKGROUPS
//                       workgroups; the norm and the clip coefficient once per invocation):
//                       clip by value, then by the global norm (scale clip_norm / (‖g‖ + 1e-6)
//                       when below 1, as torch's clip_grad_norm_), then SGD (momentum) / Adam /
//                       AdamW as torch.optim defines them, writing what it overwrites (the
//                       parameter and the moments the optimizer keeps) to back_*. Nothing
//                       changes when the loss or a group's sum of squares is not finite.
//   optimizer_restore:  after every group's update, grid-stride as the update: where any
//                       update gave a non-finite weight (stats[1]), the parameters and moments
//                       the updates saved come back, so a failed step changes nothing
//                       without the host reading anything; otherwise each invocation returns
//                       at once.
// Every group's buffers are bound as vec4s (workspace buffers hold a multiple of four floats):
// an invocation reads and writes four consecutive parameters at once; lanes of the last quad
// past the group's length count as zeros in the norm and keep what they held in the update.
// Versions:
//   first     the norm in one workgroup per group, an update and a restore invocation per
//             parameter, copies of the parameters and moments before every update
//   strided   the norm in up to NORM_PARTS workgroups per group and a finish; the update and
//             the restore strided, the update backing up what it overwrites
//   this file as strided, one quad of parameters per invocation and loop pass
// uses: train/stats

// Keep in sync with `gpu::train::params::GroupParams` and `OptimizerParams` (Rust).
struct GroupParams {
    len: u32,
    slot: u32,
    groups: u32,
    _pad: u32,
}

struct OptimizerParams {
    kind: u32,       // OPT_SGD, OPT_ADAM, OPT_ADAMW
    flags: u32,      // FLAG_OPT_*
    lr: f32,
    momentum: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bias1: f32,      // 1 - beta1^t
    bias2: f32,      // 1 - beta2^t
    clip_norm: f32,
    clip_value: f32,
}

@group(0) @binding(0) var<uniform> gp: GroupParams;
@group(0) @binding(1) var<uniform> op: OptimizerParams;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> v: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> back_p: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> back_m: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> back_v: array<vec4<f32>>;

var<workgroup> partial: array<vec2<f32>, OPT_WORKGROUP>;

// Where group `slot`'s partial sums start in stats (vec2s as float pairs).
fn parts_at(slot: u32) -> u32 {
    return 2u + 2u * gp.groups + 2u * NORM_PARTS * slot;
}

// The group's quads: ⌈len / 4⌉.
fn quads() -> u32 {
    return (gp.len + 3u) / 4u;
}

// Which lanes of quad q hold one of the group's parameters (all but in a last, partial quad).
fn live(q: u32) -> vec4<bool> {
    return 4u * q + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(gp.len);
}

// Reduces partial[0 .. OPT_WORKGROUP] into partial[0] (every invocation of the workgroup calls it).
fn reduce_partial(li: u32) {
    workgroupBarrier();
    for (var half = OPT_WORKGROUP / 2u; half > 0u; half /= 2u) {
        if (li < half) {
            partial[li] += partial[li + half];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(OPT_WORKGROUP, 1, 1)
fn sum_squares(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) parts: vec3<u32>,
) {
    var acc = vec2<f32>(0.0);
    for (var q = wid.x * OPT_WORKGROUP + li; q < quads(); q += parts.x * OPT_WORKGROUP) {
        let g = select(vec4<f32>(0.0), grads[q], live(q));
        let c = clip_value(g);
        acc += vec2<f32>(dot(g, g), dot(c, c));
    }
    partial[li] = acc;
    reduce_partial(li);
    if (li == 0u) {
        let at = parts_at(gp.slot) + 2u * wid.x;
        stats[at] = partial[0].x;
        stats[at + 1u] = partial[0].y;
    }
}

@compute @workgroup_size(OPT_WORKGROUP, 1, 1)
fn sum_squares_finish(@builtin(local_invocation_index) li: u32) {
    for (var s = 0u; s < gp.groups; s++) {
        var acc = vec2<f32>(0.0);
        for (var p = li; p < NORM_PARTS; p += OPT_WORKGROUP) {
            let at = parts_at(s) + 2u * p;
            acc += vec2<f32>(stats[at], stats[at + 1u]);
        }
        partial[li] = acc;
        reduce_partial(li);
        if (li == 0u) {
            stats[2u + 2u * s] = partial[0].x;
            stats[3u + 2u * s] = partial[0].y;
        }
        workgroupBarrier(); // partial[0] is read before the next group overwrites it
    }
}

fn clip_value(g: vec4<f32>) -> vec4<f32> {
    if ((op.flags & FLAG_OPT_CLIP_VALUE) != 0u) {
        return clamp(g, vec4<f32>(-op.clip_value), vec4<f32>(op.clip_value));
    }
    return g;
}

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn optimizer_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    if (grads_failed(gp.groups)) {
        return;
    }
    var coef = 1.0;
    if ((op.flags & FLAG_OPT_CLIP_NORM) != 0u) {
        coef = min(op.clip_norm / (clipped_norm(gp.groups) + 1e-6), 1.0);
    }
    var failed = false;
    for (var q = gid.x; q < quads(); q += groups.x * TRAIN_WORKGROUP) {
        let ok = update(q, coef); // not in the condition: || would skip it once one failed
        failed = failed || !ok;
    }
    if (failed) {
        stats[1] = 1.0;
    }
}

// Whether the optimizer keeps a first moment (m) and a second (v): what the update backs up
// and the restore puts back.
fn uses_m() -> bool {
    return op.kind != OPT_SGD || op.momentum > 0.0;
}

fn uses_v() -> bool {
    return op.kind != OPT_SGD;
}

// Updates quad q of parameters with its gradients clipped by value and scaled by `coef`,
// keeping what it overwrites in back_p, back_m, back_v for optimizer_restore; whether the new
// weights are finite. Lanes past the group's length keep what they held.
fn update(q: u32, coef: f32) -> bool {
    let keep = !live(q);
    let g = clip_value(grads[q]) * coef;
    let w0 = params[q];
    back_p[q] = w0;
    var w = w0;
    if (op.kind == OPT_SGD) {
        var d = g + op.weight_decay * w;
        if (op.momentum > 0.0) {
            let m0 = m[q];
            back_m[q] = m0;
            d = select(op.momentum * m0 + d, d, (op.flags & FLAG_OPT_FIRST_STEP) != 0u);
            m[q] = select(d, m0, keep);
        }
        w -= op.lr * d;
    } else {
        let m0 = m[q];
        let v0 = v[q];
        back_m[q] = m0;
        back_v[q] = v0;
        var d = g;
        if (op.kind == OPT_ADAMW) {
            w *= 1.0 - op.lr * op.weight_decay;
        } else {
            d += op.weight_decay * w;
        }
        let m1 = op.beta1 * m0 + (1.0 - op.beta1) * d;
        let v1 = op.beta2 * v0 + (1.0 - op.beta2) * d * d;
        m[q] = select(m1, m0, keep);
        v[q] = select(v1, v0, keep);
        w -= op.lr / op.bias1 * m1 / (sqrt(v1 / op.bias2) + op.eps);
    }
    w = select(w, w0, keep);
    params[q] = w;
    return all(finite(w));
}

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn optimizer_restore(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    if (stats[1] == 0.0) {
        return;
    }
    for (var q = gid.x; q < quads(); q += groups.x * TRAIN_WORKGROUP) {
        params[q] = back_p[q];
        if (uses_m()) {
            m[q] = back_m[q];
        }
        if (uses_v()) {
            v[q] = back_v[q];
        }
    }
}
