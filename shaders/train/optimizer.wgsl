// sum_squares, sum_squares_finish, optimizer_update, optimizer_restore: gradient norm,
// clipping and the optimizer step over one parameter group (a buffer of parameters with its
// gradients and optimizer state).
//   stats: [0] the loss, [1] set to 1 where an update gave a non-finite weight,
//          [2 + 2s] Σ g² of group s, [3 + 2s] Σ clamp(g, ±clip_value)² (the norm clip_norm sees),
//          then the partial sums [groups, NORM_PARTS] of vec2 (Σ g², Σ clamp(g)²)
//   sum_squares:        up to NORM_PARTS workgroups per group (plan::train_step::norm_parts),
//                       each a strided share of the group reduced in workgroup memory into its
//                       partial sums (those of workgroups not dispatched stay zero: the step
//                       clears stats first)
//   sum_squares_finish: one workgroup: each group's partial sums into its [2 + 2s], [3 + 2s]
//   optimizer_update:   grid-stride over the parameters (at most UPDATE_WORKGROUPS workgroups;
//                       the norm and the clip coefficient once per invocation): clip by value,
//                       then by the global norm (scale clip_norm / (‖g‖ + 1e-6) when below 1,
//                       as torch's clip_grad_norm_), then SGD (momentum) / Adam / AdamW as
//                       torch.optim defines them, writing what it overwrites (the parameter
//                       and the moments the optimizer keeps) to back_*. Nothing changes when
//                       the loss or the norm is not finite.
//   optimizer_restore:  after every group's update, grid-stride as the update: where any
//                       update gave a non-finite weight (stats[1]), the parameters and moments
//                       the updates saved come back, so a failed step changes nothing
//                       without the host reading anything; otherwise each invocation returns
//                       at once.
// Versions:
//   first     the norm in one workgroup per group, an update and a restore invocation per
//             parameter, copies of the parameters and moments before every update
//   this file the norm in up to NORM_PARTS workgroups per group and a finish; the update and
//             the restore strided, the update backing up what it overwrites

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
@group(0) @binding(3) var<storage, read_write> params: array<f32>;
@group(0) @binding(4) var<storage, read> grads: array<f32>;
@group(0) @binding(5) var<storage, read_write> m: array<f32>;
@group(0) @binding(6) var<storage, read_write> v: array<f32>;
@group(0) @binding(7) var<storage, read_write> back_p: array<f32>;
@group(0) @binding(8) var<storage, read_write> back_m: array<f32>;
@group(0) @binding(9) var<storage, read_write> back_v: array<f32>;

var<workgroup> partial: array<vec2<f32>, OPT_WORKGROUP>;

// Where group `slot`'s partial sums start in stats (vec2s as float pairs).
fn parts_at(slot: u32) -> u32 {
    return 2u + 2u * gp.groups + 2u * NORM_PARTS * slot;
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
    for (var i = wid.x * OPT_WORKGROUP + li; i < gp.len; i += parts.x * OPT_WORKGROUP) {
        let g = grads[i];
        let c = clip_value(g);
        acc += vec2<f32>(g * g, c * c);
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

fn clip_value(g: f32) -> f32 {
    if ((op.flags & FLAG_OPT_CLIP_VALUE) != 0u) {
        return clamp(g, -op.clip_value, op.clip_value);
    }
    return g;
}

// Whether x is neither infinite nor NaN (its exponent bits are not all ones).
fn finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn optimizer_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    var norm2 = 0.0;
    var clipped2 = 0.0;
    for (var s = 0u; s < gp.groups; s++) {
        norm2 += stats[2u + 2u * s];
        clipped2 += stats[3u + 2u * s];
    }
    if (!finite(stats[0]) || !finite(norm2)) {
        return;
    }
    var coef = 1.0;
    if ((op.flags & FLAG_OPT_CLIP_NORM) != 0u) {
        coef = min(op.clip_norm / (sqrt(clipped2) + 1e-6), 1.0);
    }
    var failed = false;
    for (var i = gid.x; i < gp.len; i += groups.x * TRAIN_WORKGROUP) {
        let ok = update(i, coef); // not in the condition: || would skip it once one failed
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

// Updates parameter i with its gradient clipped by value and scaled by `coef`, keeping what it
// overwrites in back_p, back_m, back_v for optimizer_restore; whether the new weight is finite.
fn update(i: u32, coef: f32) -> bool {
    let g = clip_value(grads[i]) * coef;
    var w = params[i];
    back_p[i] = w;
    if (uses_m()) {
        back_m[i] = m[i];
    }
    if (uses_v()) {
        back_v[i] = v[i];
    }
    if (op.kind == OPT_SGD) {
        var d = g + op.weight_decay * w;
        if (op.momentum > 0.0) {
            m[i] = select(op.momentum * m[i] + d, d, (op.flags & FLAG_OPT_FIRST_STEP) != 0u);
            d = m[i];
        }
        w -= op.lr * d;
    } else {
        var d = g;
        if (op.kind == OPT_ADAMW) {
            w *= 1.0 - op.lr * op.weight_decay;
        } else {
            d += op.weight_decay * w;
        }
        m[i] = op.beta1 * m[i] + (1.0 - op.beta1) * d;
        v[i] = op.beta2 * v[i] + (1.0 - op.beta2) * d * d;
        w -= op.lr / op.bias1 * m[i] / (sqrt(v[i] / op.bias2) + op.eps);
    }
    params[i] = w;
    return finite(w);
}

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn optimizer_restore(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    if (stats[1] == 0.0) {
        return;
    }
    for (var i = gid.x; i < gp.len; i += groups.x * TRAIN_WORKGROUP) {
        params[i] = back_p[i];
        if (uses_m()) {
            m[i] = back_m[i];
        }
        if (uses_v()) {
            v[i] = back_v[i];
        }
    }
}
