// merge_directions: a bidirectional layer's two outputs into one (sum, average or mul).
//   y: [R, 2, W] (R = T*B rows)   out: [R, W]
// The codes MERGE_* come from Rust (spec::MergeMode, in the prelude kernels.rs writes).
// Versions: merge_directions, one invocation per output element, spread over x and y.

// Keep in sync with `gpu::params::MergeParams` (Rust; a test compares the layouts).
struct MergeParams {
    rows: u32,
    width: u32,
    mode: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: MergeParams;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn merge_directions(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * STEP_WORKGROUP;
    if (i >= p.rows * p.width) {
        return;
    }
    let r = i / p.width;
    let j = i % p.width;
    let a = y[(r * 2u) * p.width + j];
    let b = y[(r * 2u + 1u) * p.width + j];
    var v = a * b;
    if (p.mode == MERGE_SUM) {
        v = a + b;
    } else if (p.mode == MERGE_AVERAGE) {
        v = (a + b) * 0.5;
    }
    out[i] = v;
}
