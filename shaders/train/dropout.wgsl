// dropout, dropout_backward: dropout between a stack's layers, masks from a counter-based hash
// (train/dropout.rs is the CPU twin: the same hash, the same masks).
//   dropout:          dst[i] = src[i] * mask(i), one invocation per element (src: a layer's
//                     merged output, dst: the next layer's input)
//   dropout_backward: dst[i] *= mask(i) in place (dst: the gradient of the next layer's input)
//   mask(i) = scale (1 / (1 - p)) when hash(key(seed, step, site) ^ i) >= threshold (p·2³²), else 0
// Versions: dropout, dropout_backward (this file): one invocation per element.
// uses: train/masks

// Per site: `len` elements, site number (the layer whose output it masks).
struct DropoutSite {
    len: u32,
    site: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> ds: DropoutSite;
@group(0) @binding(1) var<uniform> dp: DropoutParams;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

fn mask(i: u32) -> f32 {
    return drop_mask(dp.threshold, dp.scale, ds.site, i);
}

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * TRAIN_WORKGROUP;
    if (i < ds.len) {
        dst[i] = src[i] * mask(i);
    }
}

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn dropout_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * TRAIN_WORKGROUP;
    if (i < ds.len) {
        dst[i] *= mask(i);
    }
}
