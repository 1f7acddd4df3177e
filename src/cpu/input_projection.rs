//! CPU twin of `shaders/input_projection.wgsl`.

/// `out [M, N] = a [M, K] · wᵀ + bias`, with `w [N, K]` in ONNX row layout.
pub fn input_projection(a: &[f64], m: usize, k: usize, w: &[f32], bias: &[f32]) -> Vec<f64> {
    let n = bias.len();
    let mut out = vec![0.0; m * n];
    for row in 0..m {
        let ar = &a[row * k..(row + 1) * k];
        for col in 0..n {
            let wr = &w[col * k..(col + 1) * k];
            let dot: f64 = ar.iter().zip(wr).map(|(&x, &y)| x * y as f64).sum();
            out[row * n + col] = dot + bias[col] as f64;
        }
    }
    out
}
