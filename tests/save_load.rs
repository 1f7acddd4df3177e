//! Saving and loading models and optimizer state under PyTorch's names: a round trip keeps
//! everything, training goes on from a file as if it had not stopped (on the GPU), and models
//! PyTorch cannot express are refused rather than saved with something missing.

mod common;

use wgpu_rnn::random::{self, RandomConfig};
use wgpu_rnn::tensor::TensorFile;
use wgpu_rnn::train::{Batch, BatchInputs, HeadMode, LossKind, Optimizer, Targets, TrainConfig, TrainModel, Trainer};
use wgpu_rnn::{Cell, Direction};

fn model(cell: Cell) -> TrainModel {
    let mut cfg = RandomConfig::simple(cell, 6, 8);
    cfg.layers = 2;
    cfg.direction = Direction::Bidirectional;
    let stack = random::network(&cfg, 3, |mut s| {
        s.linear_before_reset = cell == Cell::Gru;
        s
    });
    TrainModel::new(stack, Some(11), 4, HeadMode::Steps, 5).expect("model")
}

fn batch() -> Batch {
    let (t, b) = (7, 3);
    Batch {
        inputs: BatchInputs::Tokens((0..t * b).map(|i| (i * 7) % 11).collect()),
        steps: t,
        batch: b,
        lengths: Some(vec![7, 4, 2]),
        targets: Targets::Classes((0..t * b).map(|i| i % 4).collect()),
        source: None,
    }
}

fn cfg() -> TrainConfig {
    TrainConfig {
        loss: LossKind::CrossEntropy,
        optimizer: Optimizer::adam(0.01),
        clip_norm: Some(1.0),
        clip_value: None,
        dropout: Default::default(),
    }
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("wgpu-rnn-{}-{name}.safetensors", std::process::id()))
}

#[test]
fn a_saved_model_loads_back_under_pytorch_names() {
    for cell in [Cell::Rnn, Cell::Gru, Cell::Lstm] {
        let m = model(cell);
        let path = temp(&format!("roundtrip-{}", cell.name()));
        m.save(&path, None).expect("saves");
        let file = TensorFile::read(&path).expect("reads");
        for name in [
            "embedding.weight",
            "rnn.weight_ih_l0",
            "rnn.weight_hh_l1_reverse",
            "rnn.bias_hh_l1",
            "head.weight",
            "head.bias",
        ] {
            assert!(
                file.floats.contains_key(name),
                "{cell:?}: {name} missing: {:?}",
                file.floats.keys().collect::<Vec<_>>()
            );
        }
        let (back, state) = TrainModel::load(&path).expect("loads");
        assert_eq!(back, m, "{cell:?}: the model changed in the round trip");
        assert!(state.is_none());
        std::fs::remove_file(&path).ok();
    }
}

#[test]
fn training_goes_on_from_a_file_as_if_it_had_not_stopped() {
    let engine = common::gpu();
    let (m, b) = (model(Cell::Lstm), batch());
    let mut straight = Trainer::new(engine, m.clone(), cfg()).expect("trainer");
    assert!(straight.is_gpu());
    let mut first = Trainer::new(engine, m, cfg()).expect("trainer");
    for _ in 0..2 {
        straight.step(&b).expect("step");
        first.step(&b).expect("step");
    }
    let path = temp("resume");
    first.save(&path).expect("saves");
    let mut resumed = Trainer::load(engine, &path, cfg()).expect("loads");
    assert_eq!(resumed.steps(), 2, "the step count comes back");
    let want = straight.step(&b).expect("step");
    let got = resumed.step(&b).expect("step");
    assert_eq!(got.loss, want.loss);
    assert_eq!(
        resumed.model().expect("model"),
        straight.model().expect("model"),
        "same parameters after the third step"
    );
    std::fs::remove_file(&path).ok();
}

#[test]
fn models_pytorch_cannot_express_are_refused() {
    let mut cfg = RandomConfig::simple(Cell::Lstm, 4, 5);
    cfg.peepholes = true;
    let m = TrainModel::new(random::network(&cfg, 1, |s| s), None, 2, HeadMode::Last, 1).expect("model");
    let err = m.save(&temp("peephole"), None).expect_err("peepholes have no PyTorch name").to_string();
    assert!(err.contains("peephole"), "{err}");
    let gru =
        TrainModel::new(random::network(&RandomConfig::simple(Cell::Gru, 4, 5), 1, |s| s), None, 2, HeadMode::Last, 1)
            .expect("model");
    let err = gru.save(&temp("gru0"), None).expect_err("ONNX's reset-before GRU").to_string();
    assert!(err.contains("linear_before_reset"), "{err}");
    let not_a_model = common::data_files("grad")[0].clone();
    let err = TrainModel::load(&not_a_model).expect_err("not a saved model").to_string();
    assert!(err.contains("not a saved model"), "{err}");
}
