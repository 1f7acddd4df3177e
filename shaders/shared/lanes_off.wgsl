// shared/lanes.wgsl for devices that do not share lanes: no subgroup operations; the kernels'
// sharing loops end before they start (SHARE_LANES is false) and compile out.
const SHARE_LANES: bool = false;
const LANES: u32 = 8u;
const PAIRED: bool = false;

fn paired_unit(i: u32) -> u32 {
    return i;
}

fn share_lane() -> u32 {
    return 0u;
}

fn lane_vec4(v: vec4<f32>, i: u32) -> vec4<f32> {
    return v;
}
