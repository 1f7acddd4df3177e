// shared/wide_loads.wgsl for devices that read floats as they are.
alias Wide4 = vec4<f32>;
alias Wide8 = array<vec4<f32>, 2>;

fn wide4(v: Wide4) -> vec4<f32> {
    return v;
}

fn wide8_lo(v: Wide8) -> vec4<f32> {
    return v[0];
}

fn wide8_hi(v: Wide8) -> vec4<f32> {
    return v[1];
}
