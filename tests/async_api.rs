//! The async forms (the only ones in a browser, and on native targets the same code under the
//! blocking ones): each gives what its blocking twin gives, on the GPU, and reports errors the
//! same way. The page's suite (`web/`) runs them on WebGPU; here they run natively.

mod common;

use pollster::block_on;
use wgpu_rnn::case::check;
use wgpu_rnn::random::{self, RandomConfig, Rng};
use wgpu_rnn::train::{self, Batch, BatchInputs, Targets, TrainConfig, TrainModel, Trainer};
use wgpu_rnn::{Cell, Engine, Upstream};

fn network(cell: Cell) -> wgpu_rnn::Network {
    let mut rc = RandomConfig::simple(cell, 5, 8);
    rc.layers = 2;
    random::network(&rc, 3, |s| s)
}

#[test]
fn an_async_engine_is_a_gpu_engine() {
    let engine = block_on(Engine::gpu_async()).expect("GPU tests need an adapter");
    assert!(engine.is_gpu(), "gpu_async fell back to the CPU");
    let ctx = engine.context().expect("a GPU context");
    assert_eq!(ctx.compiled_pipelines(), 0, "making an engine compiles nothing");
}

#[test]
fn forward_async_equals_forward() {
    for cell in [Cell::Lstm, Cell::Gru, Cell::Rnn] {
        let net = network(cell);
        let inp = random::inputs(&net, 7, 3, 5, true, true);
        let model = common::gpu().load(net.clone()).expect("loads");
        let blocking = model.forward(&inp).expect("forward");
        let awaited = block_on(model.forward_async(&inp)).expect("forward_async");
        assert!(awaited.dispatches > 0, "the GPU path ran");
        assert_eq!(awaited.y, blocking.y, "{cell:?} Y");
        assert_eq!(awaited.h_n, blocking.h_n, "{cell:?} Y_h");
        assert_eq!(awaited.c_n, blocking.c_n, "{cell:?} Y_c");
    }
}

#[test]
fn forward_async_reports_bad_inputs() {
    let model = common::gpu().load(network(Cell::Lstm)).expect("loads");
    let mut inp = random::inputs(model.network(), 4, 2, 1, false, false);
    inp.x.pop();
    let err = block_on(model.forward_async(&inp)).expect_err("x too short").to_string();
    assert!(err.contains('x'), "{err}");
}

#[test]
fn backward_async_equals_backward() {
    let net = network(Cell::Gru);
    let inp = random::inputs(&net, 6, 2, 7, true, true);
    let ld = net.layers.len() * net.directions();
    let mut rng = Rng::new(11);
    let up = Upstream {
        y: rng.vec(inp.steps * inp.batch * net.merged_width(), 1.0),
        h_n: Some(rng.vec(ld * inp.batch * net.output_size(), 1.0)),
        c_n: None,
    };
    let model = common::gpu().load(net).expect("loads");
    let blocking = model.backward(&inp, &up).expect("backward");
    let awaited = block_on(model.backward_async(&inp, &up)).expect("backward_async");
    assert_eq!(awaited.x, blocking.x);
    assert_eq!(awaited.h0, blocking.h0);
    assert_eq!(awaited.layers, blocking.layers);
}

#[test]
fn push_async_equals_push() {
    let mut rc = RandomConfig::simple(Cell::Lstm, 4, 6);
    rc.direction = wgpu_rnn::Direction::Forward;
    let net = random::network(&rc, 2, |s| s);
    let model = common::gpu().load(net).expect("loads");
    let (a, b) = (model.stream(2).expect("stream"), model.stream(2).expect("stream"));
    let mut rng = Rng::new(4);
    for k in 0..3 {
        let x = rng.vec(3 * 2 * 4, 1.0);
        let blocking = a.push(&x, 3, None).expect("push");
        let awaited = block_on(b.push_async(&x, 3, None)).expect("push_async");
        assert_eq!(awaited, blocking, "chunk {k}");
    }
    let err = block_on(b.push_async(&[0.0; 5], 3, None)).expect_err("x of the wrong length").to_string();
    assert!(err.contains('x') || err.contains("input"), "{err}");
}

fn trainer_and_batches() -> (TrainModel, TrainConfig, Vec<Batch>) {
    let stack = random::network(&RandomConfig::simple(Cell::Lstm, 4, 6), 9, |s| s);
    let model = TrainModel::new(stack, Some(7), 7, train::HeadMode::Steps, 9).expect("model");
    let cfg = TrainConfig {
        loss: train::LossKind::CrossEntropy,
        optimizer: train::Optimizer::adam(0.02),
        clip_norm: Some(1.0),
        clip_value: None,
        dropout: train::Dropout { p: 0.0, seed: 3, recurrent: 0.2 },
    };
    let (t, b) = (5, 3);
    let batches = (0..3)
        .map(|k| Batch {
            inputs: BatchInputs::Tokens((0..t * b).map(|i| (i * 5 + k) % 7).collect()),
            steps: t,
            batch: b,
            lengths: Some(vec![5, 2, 4]),
            targets: Targets::Classes((0..t * b).map(|i| (i * 3 + k + 1) % 7).collect()),
            source: None,
        })
        .collect();
    (model, cfg, batches)
}

#[test]
fn training_async_equals_training() {
    let (model, cfg, batches) = trainer_and_batches();
    let mut blocking = Trainer::new(common::gpu(), model.clone(), cfg).expect("trainer");
    let mut awaited = Trainer::new(common::gpu(), model, cfg).expect("trainer");
    assert!(awaited.is_gpu());
    for (k, batch) in batches.iter().enumerate() {
        let s = blocking.step(batch).expect("step");
        let a = block_on(awaited.step_async(batch)).expect("step_async");
        assert_eq!(a, s, "step {k}");
        assert_eq!(block_on(awaited.last_stats_async()).expect("last_stats_async"), s, "step {k}");
        let e = blocking.evaluate(batch).expect("evaluate");
        assert_eq!(block_on(awaited.evaluate_async(batch)).expect("evaluate_async"), e, "evaluate {k}");
    }
    assert_eq!(awaited.steps(), 3);
    assert_eq!(block_on(awaited.model_async()).expect("model_async"), blocking.model().expect("model"));
    // a batch that does not fit is the same typed error, and counts no step
    let mut bad = batches[0].clone();
    bad.inputs = BatchInputs::Tokens(vec![99; 15]);
    let err = block_on(awaited.step_async(&bad)).expect_err("a token past the vocabulary").to_string();
    assert!(err.contains("99"), "{err}");
    assert_eq!(awaited.steps(), 3);
    // unread steps, their statistics awaited in one readback
    let mut reads = Vec::new();
    for batch in &batches {
        reads.push(blocking.step(batch).expect("step"));
        awaited.step_unread(batch).expect("step_unread");
    }
    let taken = block_on(awaited.unread_stats_async()).expect("unread_stats_async");
    assert_eq!(taken.iter().map(|s| s.0).collect::<Vec<_>>(), vec![4, 5, 6]);
    for ((step, got), want) in taken.into_iter().zip(reads) {
        assert_eq!(got.expect("a finite step"), want, "step {step}");
    }
}

/// The page's checks are `wgpu-rnn check`'s: the same lines for a forward, a gradient and a
/// training case, and a FAIL line naming the problem for bytes that are no case.
#[test]
fn checks_of_case_bytes_run_on_the_gpu() {
    let engine = common::gpu();
    for (dir, what) in [("conformance", "gpu+cpu"), ("grad", "gradient case, gpu+cpu"), ("train", "training case")] {
        let path = common::data_files(dir).into_iter().next().expect("a case file");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).expect("reads");
        let result = block_on(check::check_bytes(engine, &name, &bytes));
        let line = check::line("case", &result);
        assert!(line.starts_with("PASS case rel=") && line.contains(what), "{dir}: {line}");
    }
    let onnx = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx/gru_2layer.onnx");
    let result = block_on(check::check_bytes(engine, "gru_2layer.onnx", &std::fs::read(onnx).expect("reads")));
    assert!(result.as_ref().is_ok_and(|c| c.what.contains("on the GPU")), "{result:?}");
    let line = check::line("junk", &block_on(check::check_bytes(engine, "junk.safetensors", b"not a case")));
    assert!(line.starts_with("FAIL junk: "), "{line}");
    assert_eq!(check::summary(3, 1), "3 passed, 1 failed");
}
