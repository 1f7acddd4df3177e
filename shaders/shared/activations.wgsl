// The eleven ONNX activations, numerically stable in f32. Their codes ACT_* come from Rust
// (spec::ActivationKind, in the prelude kernels.rs writes).

// One activation with its parameters. Keep in sync with `gpu::params::Act` (Rust; a test
// compares the layouts).
struct Act {
    kind: u32,
    alpha: f32,
    beta: f32,
    _pad: u32,
}

// tanh without overflow: exp of a non-positive argument only.
fn stable_tanh(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    let t = (1.0 - e) / (1.0 + e);
    return select(-t, t, x >= 0.0);
}

fn stable_sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

// The two above of four inputs (train/train_params' act_slopes).
fn stable_tanh4(x: vec4<f32>) -> vec4<f32> {
    let e = exp(-2.0 * abs(x));
    let t = (1.0 - e) / (1.0 + e);
    return select(-t, t, x >= vec4<f32>(0.0));
}

fn stable_sigmoid4(x: vec4<f32>) -> vec4<f32> {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= vec4<f32>(0.0));
}

fn activate(a: Act, x: f32) -> f32 {
    switch a.kind {
        case ACT_RELU: { return max(x, 0.0); }
        case ACT_TANH: { return stable_tanh(x); }
        case ACT_SIGMOID: { return stable_sigmoid(x); }
        case ACT_AFFINE: { return a.alpha * x + a.beta; }
        case ACT_LEAKY_RELU: { return select(a.alpha * x, x, x >= 0.0); }
        case ACT_THRESHOLDED_RELU: { return select(0.0, x, x >= a.alpha); }
        case ACT_SCALED_TANH: { return a.alpha * stable_tanh(a.beta * x); }
        case ACT_HARD_SIGMOID: { return clamp(a.alpha * x + a.beta, 0.0, 1.0); }
        case ACT_ELU: { return select(a.alpha * (exp(x) - 1.0), x, x >= 0.0); }
        case ACT_SOFTSIGN: { return x / (1.0 + abs(x)); }
        default: { return max(x, 0.0) + log(1.0 + exp(-abs(x))); } // ACT_SOFTPLUS
    }
}
