// The eleven ONNX activations, numerically stable in f32.
// Codes: keep in sync with `spec::ActivationKind::ALL` (Rust).

const ACT_RELU: u32 = 0u;
const ACT_TANH: u32 = 1u;
const ACT_SIGMOID: u32 = 2u;
const ACT_AFFINE: u32 = 3u;
const ACT_LEAKY_RELU: u32 = 4u;
const ACT_THRESHOLDED_RELU: u32 = 5u;
const ACT_SCALED_TANH: u32 = 6u;
const ACT_HARD_SIGMOID: u32 = 7u;
const ACT_ELU: u32 = 8u;
const ACT_SOFTSIGN: u32 = 9u;
const ACT_SOFTPLUS: u32 = 10u;

// One activation with its parameters. Keep in sync with `gpu::params::Act` (Rust).
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

fn activate(a: Act, x: f32) -> f32 {
    switch a.kind {
        case 0u: { return max(x, 0.0); }
        case 1u: { return stable_tanh(x); }
        case 2u: { return stable_sigmoid(x); }
        case 3u: { return a.alpha * x + a.beta; }
        case 4u: { return select(a.alpha * x, x, x >= 0.0); }
        case 5u: { return select(0.0, x, x >= a.alpha); }
        case 6u: { return a.alpha * stable_tanh(a.beta * x); }
        case 7u: { return clamp(a.alpha * x + a.beta, 0.0, 1.0); }
        case 8u: { return select(a.alpha * (exp(x) - 1.0), x, x >= 0.0); }
        case 9u: { return x / (1.0 + abs(x)); }
        default: { return max(x, 0.0) + log(1.0 + exp(-abs(x))); }
    }
}
