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

#[test]
fn the_training_suite_is_deepbench_s_training_set_and_unknown_suites_are_named() {
    use wgpu_rnn::bench::suite;
    let train = suite("deepbench-train").expect("a suite");
    let count = |cell: Cell| train.iter().filter(|c| c.cell == cell).count();
    assert_eq!((count(Cell::Rnn), count(Cell::Lstm), count(Cell::Gru)), (12, 22, 7));
    assert!(train.iter().all(|c| c.batch >= 8 && c.input == c.hidden && c.layers == 1 && !c.bidirectional));
    assert!(train.contains(&BenchConfig::new(Cell::Lstm, 4096, 128, 25)));
    assert!(train.contains(&BenchConfig::new(Cell::Gru, 2816, 32, 187)));
    assert!(train.contains(&BenchConfig::new(Cell::Rnn, 1760, 16, 50)));
    // the inference set is the batch 1-4 half of the training comparison
    assert!(suite("deepbench").expect("a suite").iter().all(|c| (1..=4).contains(&c.batch)));
    let err = suite("deepbench-infer").expect_err("unknown").to_string();
    assert!(err.contains("`deepbench-infer`") && err.contains("deepbench-train"), "{err}");
}

#[test]
fn a_shape_too_large_for_one_binding_is_refused_before_its_weights_are_made() {
    let limits = wgpu::Limits::default(); // 128 MiB per storage binding
    BenchConfig::new(Cell::Lstm, 2048, 64, 25).check_fits(&limits).expect("W and R: 64 MiB each");
    let big = BenchConfig::new(Cell::Lstm, 4096, 16, 25);
    let err = big.check_fits(&limits).expect_err("W: 256 MiB").to_string();
    assert!(err.contains("buffer W needs 268435456 bytes"), "{err}");
    let projected = BenchConfig { proj: 1024, input: 1024, ..big };
    projected.check_fits(&limits).expect("W and R: [4·4096, 1024] each");
    let long = BenchConfig { input: 1024, ..BenchConfig::new(Cell::Gru, 64, 64, 1000) };
    let err = long.check_fits(&limits).expect_err("x: 250 MiB").to_string();
    assert!(err.contains("buffer x needs 262144000 bytes"), "{err}");
    // sizes whose byte counts pass u64 (the command line takes any): refused, not overflowed
    for huge in [BenchConfig::new(Cell::Lstm, 1 << 40, 1, 1), BenchConfig::new(Cell::Gru, 64, usize::MAX, usize::MAX)] {
        let err = huge.check_fits(&limits).expect_err("past u64").to_string();
        assert!(err.contains("more bytes than a 64-bit count holds"), "{err}");
    }
}
