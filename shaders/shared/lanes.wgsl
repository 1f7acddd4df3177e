// Lane sharing, for the *_lanes kernels (kernels.rs KernelBuild::Lanes and LanesWide): CPU
// drivers such as lavapipe, whose subgroups are LANES invocations wide and run as one SIMD row,
// where every storage load is a loop over the row's lanes. Where all lanes of a subgroup need the
// same inputs (h of the same batch rows, the same rows of a matrix), each lane loads a different
// vec4 of a chunk of 4 * LANES inputs and the lanes hand them round with subgroupShuffle: one
// load where there were LANES. Call from uniform control flow: every lane must reach the
// shuffles, so kernels that share keep invocations past the end of their range running to the
// end, writing nothing.
//
// Unit pairs: where a chunk is shared, one invocation computes two units, paired_unit(i) and
// the unit UNIT_BLOCK after it, so that each chunk and its shuffles feed twice the multiply-adds.
// plan::unit_workgroups sizes those dispatches to match (Kernel::pairs_units).

// The first unit of invocation i's pair: invocations i of a block of UNIT_BLOCK take the
// block's units, and the next block's units are their pairs.
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
