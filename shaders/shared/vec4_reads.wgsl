// Vec4 reads of float rows that need not start on a vec4 (state rows of width H_in, input rows of
// width K): the four floats from offset o (1 to 3) of the vec4 lo on, continuing in hi, the vec4
// after it. shared/state_vec4.wgsl (h_vec4) and input_projection.wgsl (a_vec4) use it.
fn joined_vec4(lo: vec4<f32>, hi: vec4<f32>, o: u32) -> vec4<f32> {
    switch o {
        case 1u: {
            return vec4<f32>(lo.yzw, hi.x);
        }
        case 2u: {
            return vec4<f32>(lo.zw, hi.xy);
        }
        default: {
            return vec4<f32>(lo.w, hi.xyz);
        }
    }
}
