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

// Whether the step of these statistics failed (`groups` parameter groups): its loss or a
// group's sum of squares is not finite, or an update gave a non-finite weight. Such a step
// changes nothing: the updates skipped or restored, and the carried state restored.
fn step_failed(groups: u32) -> bool {
    var ok = finite(vec4<f32>(stats[0])).x && stats[1] == 0.0;
    for (var s = 0u; s < groups; s++) {
        ok = ok && finite(vec4<f32>(stats[2u + 2u * s])).x;
    }
    return !ok;
}
