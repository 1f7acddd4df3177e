// sum_squares, optimizer_update: gradient norm, clipping and the optimizer step over one
// parameter group (a buffer of parameters with its gradients and optimizer state).
//   stats: [0] the loss, [1] set to 1 where an update gave a non-finite weight,
//          [2 + 2s] Σ g² of group s, [3 + 2s] Σ clamp(g, ±clip_value)² (the norm clip_norm sees)
//   sum_squares:      one workgroup per group: a tree reduction in workgroup memory
//   optimizer_update: one invocation per parameter: clip by value, then by the global norm
//                     (scale clip_norm / (‖g‖ + 1e-6) when below 1, as torch's
//                     clip_grad_norm_), then SGD (momentum) / Adam / AdamW as torch.optim
//                     defines them. Nothing changes when the loss or the norm is not finite.
//   optimizer_restore: after every group's update, one invocation per parameter: where any
//                     update gave a non-finite weight (stats[1]), the parameters and moments
//                     saved before the update come back, so a failed step changes nothing
//                     without the host reading anything.
// Versions: sum_squares, optimizer_update, optimizer_restore (this file).

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
@group(0) @binding(7) var<storage, read> back_p: array<f32>;
@group(0) @binding(8) var<storage, read> back_m: array<f32>;
@group(0) @binding(9) var<storage, read> back_v: array<f32>;

var<workgroup> partial: array<vec2<f32>, OPT_WORKGROUP>;

@compute @workgroup_size(OPT_WORKGROUP, 1, 1)
fn sum_squares(@builtin(local_invocation_index) li: u32) {
    var acc = vec2<f32>(0.0);
    for (var i = li; i < gp.len; i += OPT_WORKGROUP) {
        let g = grads[i];
        let c = clip_value(g);
        acc += vec2<f32>(g * g, c * c);
    }
    partial[li] = acc;
    workgroupBarrier();
    for (var half = OPT_WORKGROUP / 2u; half > 0u; half /= 2u) {
        if (li < half) {
            partial[li] += partial[li + half];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        stats[2u + 2u * gp.slot] = partial[0].x;
        stats[3u + 2u * gp.slot] = partial[0].y;
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
    let i = gid.x + gid.y * groups.x * TRAIN_WORKGROUP;
    if (i >= gp.len) {
        return;
    }
    var norm2 = 0.0;
    var clipped2 = 0.0;
    for (var s = 0u; s < gp.groups; s++) {
        norm2 += stats[2u + 2u * s];
        clipped2 += stats[3u + 2u * s];
    }
    if (!finite(stats[0]) || !finite(norm2)) {
        return;
    }
    var g = clip_value(grads[i]);
    if ((op.flags & FLAG_OPT_CLIP_NORM) != 0u) {
        let coef = op.clip_norm / (sqrt(clipped2) + 1e-6);
        if (coef < 1.0) {
            g *= coef;
        }
    }
    var w = params[i];
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
    if (!finite(w)) {
        stats[1] = 1.0;
    }
    params[i] = w;
}

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn optimizer_restore(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * TRAIN_WORKGROUP;
    if (i >= gp.len || stats[1] == 0.0) {
        return;
    }
    params[i] = back_p[i];
    m[i] = back_m[i];
    v[i] = back_v[i];
}
