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

// Unit pairs (input_projection's column quads, gru_step's hidden units): invocation i computes
// unit paired_unit(i) and the unit UNIT_BLOCK after it, so every shared chunk and its shuffles
// feed twice the multiply-adds (lavapipe GRU H1024 B16 T100: gru_step 301 -> 272 ms, the
// projection 189 -> 166 ms; LSTM's four gates per unit spilled, 2%). plan.rs
// `paired_invocations` sizes the dispatch to match.
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
