//! The benchmark's configurations: FLOP counts and the networks they build (no GPU).

use wgpu_rnn::Cell;
use wgpu_rnn::bench::BenchConfig;

#[test]
fn flops_count_every_layer_and_the_projection() {
    let (h, i, b, t) = (64.0, 32.0, 4.0, 10.0);
    let plain = BenchConfig { input: 32, layers: 2, ..BenchConfig::new(Cell::Lstm, 64, 4, 10) };
    let per_layer = |input: f64| 2.0 * 4.0 * h * (input + h) * b * t;
    assert_eq!(plain.flops(), per_layer(i) + per_layer(h));
    let p = 16.0;
    let projected = BenchConfig { proj: 16, ..plain };
    let per_layer = |input: f64| 2.0 * 4.0 * h * (input + p) * b * t + 2.0 * h * p * b * t;
    assert_eq!(projected.flops(), per_layer(i) + per_layer(p), "layer 1 reads P inputs; W_hr counts");
}

#[test]
fn configurations_build_the_networks_they_name() {
    let gru = BenchConfig::new(Cell::Gru, 8, 1, 2);
    assert!(gru.network(1).layers[0].spec.linear_before_reset, "PyTorch's and cuDNN's GRU by default");
    let onnx = BenchConfig { reset_before: true, ..gru };
    assert!(!onnx.network(1).layers[0].spec.linear_before_reset);
    let lstm = BenchConfig { proj: 3, layers: 2, ..BenchConfig::new(Cell::Lstm, 8, 1, 2) };
    let net = lstm.network(1);
    assert!(net.layers.iter().all(|l| l.spec.proj_size == 3));
    assert_eq!(net.layers[1].spec.input_size, 3);
    net.validate().expect("valid");
}
