// Lane sharing (gpu/context.rs `GpuContext::share_lanes`), on devices whose subgroups are
// LANES = 8 invocations wide: CPU drivers such as lavapipe, where a subgroup is one SIMD row and
// every storage load is a loop over the row's lanes. Where all lanes of a subgroup need the same
// inputs (h of the same batch rows, the same rows of a matrix), each lane loads a different vec4
// of a chunk of 4 * LANES inputs and the lanes pass them around with subgroupShuffle: one load
// where there were LANES. Call from uniform control flow (every lane active: kernels that share
// keep invocations past the end of their range running to the end, writing nothing).
// Devices that do not share get shared/lanes_off.wgsl instead (kernels.rs `Kernel::source`).
const SHARE_LANES: bool = true;
const LANES: u32 = 8u;

// Unit pairs (input_projection's column quads; the hidden units of rnn_step, gru_step,
// gru_gates, gru_candidate and, from two rows per invocation, lstm_step: kernels.rs
// `Kernel::pairs_units`): invocation i computes unit paired_unit(i) and the unit UNIT_BLOCK
// after it, so each shared chunk and its shuffles feed twice the multiply-adds (lavapipe,
// H1024 B16: GRU T100 gru_step 291-297 -> 238-256 ms, the projection 189 -> 168 ms; T50
// lstm_step 164-166 -> 145-147 ms, rnn_step 74-75 -> 61 ms). plan.rs `unit_workgroups` sizes
// their dispatches to match. (The kernels spell the pairing out each: the loops have the same
// shape but different accumulators and loads, and WGSL has no generics.)
const PAIRED: bool = true;

fn paired_unit(i: u32) -> u32 {
    return (i / UNIT_BLOCK) * (2u * UNIT_BLOCK) + i % UNIT_BLOCK;
}

// This invocation's lane in its subgroup (the subgroup_invocation_id of a full subgroup; a
// helper function cannot take the builtin).
fn share_lane() -> u32 {
    return subgroupExclusiveAdd(1u);
}

// Lane i's v.
fn lane_vec4(v: vec4<f32>, i: u32) -> vec4<f32> {
    return subgroupShuffle(v, i);
}
