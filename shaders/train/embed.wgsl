// embed, embed_backward: the Embedding in front of a stack and its gradient.
//   ids:   token ids [T*B] (u32, below vocab: the host checks)
//   table: the embedding E [vocab, dim]; x: the stack's input [T*B, dim]
//   embed:          x[i, e] = E[ids[i], e], one invocation per element of x
//   embed_backward: dE[v, e] += Σ_{i: ids[i] = v} dx[i, e] over positions ep.first ..
//                   ep.first + EMBED_ROWS, one invocation per column e, walking them in order
//                   (no atomics, the same sums on every adapter); the plan dispatches it once
//                   per EMBED_ROWS positions, which keeps its loop within what every driver runs
// Versions: embed, embed_backward (this file): one invocation per element, per column.

// Keep in sync with `gpu::train::params::EmbedParams` (Rust; a test compares the layouts).
struct EmbedParams {
    rows: u32,
    dim: u32,
    vocab: u32,
    first: u32, // embed_backward: the first position of this dispatch
}

@group(0) @binding(0) var<uniform> ep: EmbedParams;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn embed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * TRAIN_WORKGROUP;
    if (i >= ep.rows * ep.dim) {
        return;
    }
    let row = i / ep.dim;
    dst[i] = src[ids[row] * ep.dim + i % ep.dim]; // src: E, dst: x
}

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn embed_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x;
    if (e >= ep.dim) {
        return;
    }
    for (var i = ep.first; i < min(ep.rows, ep.first + EMBED_ROWS); i++) {
        dst[ids[i] * ep.dim + e] += src[i * ep.dim + e]; // src: dx, dst: dE (cleared first)
    }
}
