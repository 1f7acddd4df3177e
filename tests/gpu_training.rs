//! Training on the GPU against PyTorch: every training case (`tests/data/train`, K optimizer
//! steps of Embedding -> stack -> Linear) run by `Trainer` on the GPU gives PyTorch's losses,
//! gradient norms and final parameters; bad input and non-finite updates are typed errors that
//! leave the model on the GPU as it was.

mod common;

use wgpu_rnn::case::TrainCase;
use wgpu_rnn::train::{self, StepStats, TrainModel, Trainer};

fn gpu_trainer(case: &TrainCase, cfg: train::TrainConfig) -> Trainer {
    let t = Trainer::new(common::gpu(), case.model.clone(), cfg).expect("trainer");
    assert!(t.is_gpu(), "the trainer runs on the GPU");
    t
}

fn run(case: &TrainCase) -> (Vec<StepStats>, TrainModel) {
    let mut t = gpu_trainer(case, case.config);
    let stats = case.batches.iter().map(|b| t.step(b).expect("step runs")).collect();
    assert_eq!(t.steps(), case.batches.len() as u64);
    (stats, t.model().expect("model reads back"))
}

#[test]
fn every_training_case_passes_on_the_gpu() {
    let files = common::data_files("train");
    assert!(files.len() >= 16, "expected the shipped training cases, found {}", files.len());
    let mut failures = Vec::new();
    for path in files {
        let case = TrainCase::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (stats, model) = run(&case);
        let cmp = case.compare(&stats, &model);
        assert!(cmp.len() >= 5, "{}: {} comparisons", case.name, cmp.len());
        failures.extend(common::failure_lines(&case.name, &cmp));
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn bad_input_and_non_finite_updates_change_nothing_on_the_gpu() {
    let case = TrainCase::load(&common::data_files("train")[0]).expect("loads");
    let mut t = gpu_trainer(&case, case.config);
    t.step(&case.batches[0]).expect("a good step");
    let before = t.model().expect("reads back");
    let expect_err = |t: &mut Trainer, batch: &train::Batch, want: &str| {
        let err = t.step(batch).expect_err("rejected").to_string();
        assert!(err.contains(want), "{err}");
        assert_eq!(t.model().expect("reads back"), before, "{err}: the model changed");
        assert_eq!(t.steps(), 1);
    };
    let mut batch = case.batches[0].clone();
    match &mut batch.targets {
        train::Targets::Classes(ids) => ids[0] = case.model.head.outputs,
        train::Targets::Values(v) => v.truncate(1),
    }
    expect_err(&mut t, &batch, "targets");
    let mut batch = case.batches[0].clone();
    batch.lengths = Some(vec![0; batch.batch]);
    expect_err(&mut t, &batch, "outside 1..=");
    // an update that overflows f32: named, and undone on the GPU
    let mut cfg = case.config;
    cfg.optimizer = train::Optimizer::Sgd { lr: 1.0, momentum: 0.0, weight_decay: f32::MAX };
    let mut t = gpu_trainer(&case, cfg);
    let fresh = t.model().expect("reads back");
    let err = t.step(&case.batches[0]).expect_err("overflow").to_string();
    assert!(err.contains("training step 1") && err.contains("after the update"), "{err}");
    assert_eq!(t.model().expect("reads back"), fresh, "the failed update was undone");
    assert_eq!(t.steps(), 0);
}
