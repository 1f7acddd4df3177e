// A training step's statistics and whether the step failed, for the kernels that bind `stats`
// (the including file declares it: train/optimizer.wgsl read_write, train/state_restore.wgsl
// read). `GpuStepper::read_stats` (Rust) is the host's twin of `step_failed`.
//   stats: [0] the loss, [1] set to 1 where an update gave a non-finite weight,
//          [2 + 2s] Σ g² of group s, [3 + 2s] Σ clamp(g, ±clip_value)² (the norm clip_norm sees),
//          then the partial sums [groups, NORM_PARTS] of vec2 (Σ g², Σ clamp(g)²)

// Whether each lane of x is neither infinite nor NaN (its exponent bits are not all ones).
fn finite(x: vec4<f32>) -> vec4<bool> {
    return (bitcast<vec4<u32>>(x) & vec4<u32>(0x7f800000u)) != vec4<u32>(0x7f800000u);
}

// Whether the loss or a group's sum of squares is not finite (`groups` parameter groups): the
// updates skip themselves.
fn grads_failed(groups: u32) -> bool {
    var ok = finite(vec4<f32>(stats[0])).x;
    for (var s = 0u; s < groups; s++) {
        ok = ok && finite(vec4<f32>(stats[2u + 2u * s])).x;
    }
    return !ok;
}

// Whether the step of these statistics failed: `grads_failed`, or an update gave a non-finite
// weight. Such a step changes nothing: the updates skipped or restored, and the carried state
// restored.
fn step_failed(groups: u32) -> bool {
    return grads_failed(groups) || stats[1] != 0.0;
}

// The global norm that clipping sees, √Σ_s stats[3 + 2s], finite wherever every group's sum is:
// where their f32 total overflows (each group's below f32's largest, the sum above it), the sums
// are scaled by the largest before they are added, as the host's f64 total has no such limit.
fn clipped_norm(groups: u32) -> f32 {
    var total = 0.0;
    var big = 0.0;
    for (var s = 0u; s < groups; s++) {
        total += stats[3u + 2u * s];
        big = max(big, stats[3u + 2u * s]);
    }
    if (finite(vec4<f32>(total)).x) {
        return sqrt(total);
    }
    var scaled = 0.0;
    for (var s = 0u; s < groups; s++) {
        scaled += stats[3u + 2u * s] / big;
    }
    return sqrt(big) * sqrt(scaled);
}
