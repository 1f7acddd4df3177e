// state_restore: after a training step that carries its final state to the next (truncated
// BPTT), puts the state it started from back where the step failed (train/stats.wgsl's
// `step_failed`), so a failed step changes nothing without the host reading anything: the
// next step starts from the last good state, as after a read step's failure.
//   h0, c0: [L, D, B, H_out], [L, D, B, H] the state the step started from (a copy of HN, CN)
//   hn, cn: the same shapes, the step's final state
// Versions: state_restore (this file): one invocation per element of the longer of the two.
// uses: train/stats

// Keep in sync with the `SmallParams` that `gpu::train::workspace` writes for it.
struct StateParams {
    h_len: u32,
    c_len: u32,
    groups: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> sp: StateParams;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> h0: array<f32>;
@group(0) @binding(3) var<storage, read_write> hn: array<f32>;
@group(0) @binding(4) var<storage, read> c0: array<f32>;
@group(0) @binding(5) var<storage, read_write> cn: array<f32>;

@compute @workgroup_size(TRAIN_WORKGROUP, 1, 1)
fn state_restore(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * TRAIN_WORKGROUP;
    if (!step_failed(sp.groups)) {
        return;
    }
    if (i < sp.h_len) {
        hn[i] = h0[i];
    }
    if (i < sp.c_len) {
        cn[i] = c0[i];
    }
}
