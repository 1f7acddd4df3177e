//! The CPU training reference against PyTorch: every training case (`tests/data/train`, K
//! optimizer steps of Embedding -> stack -> Linear) gives PyTorch's losses, gradient norms and
//! final parameters within FORMAT.md's bounds; and bad training input is a typed error that
//! leaves the model as it was.

use std::path::PathBuf;

mod common;

use wgpu_rnn::case::TrainCase;
use wgpu_rnn::train::{self, OptimizerState, StepStats, TrainModel};

fn train_cases() -> Vec<PathBuf> {
    common::data_files("train")
}

/// The case's steps on the CPU reference: `reference_step` each, or with a truncated-BPTT case
/// the CPU trainer carrying the state from step to step.
fn run_reference(case: &TrainCase) -> (Vec<StepStats>, TrainModel) {
    if case.carry {
        let mut t = train::Trainer::new(&wgpu_rnn::Engine::cpu(), case.model.clone(), case.config).expect("trainer");
        t.carry_state(true);
        let stats = case.batches.iter().map(|b| t.step(b).expect("step runs")).collect();
        return (stats, t.model().expect("model"));
    }
    let mut model = case.model.clone();
    let mut state = OptimizerState::new(&model.parameter_sizes());
    let stats = case
        .batches
        .iter()
        .map(|b| train::reference_step(&mut model, &mut state, &case.config, b).expect("step runs"))
        .collect();
    (stats, model)
}

#[test]
fn every_training_case_passes_on_the_cpu_reference() {
    let files = train_cases();
    assert!(files.len() >= 16, "expected the shipped training cases, found {}", files.len());
    let mut failures = Vec::new();
    for path in files {
        let case = TrainCase::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (stats, model) = run_reference(&case);
        let cmp = case.compare(&stats, &model);
        assert!(cmp.len() >= 5, "{}: {} comparisons", case.name, cmp.len());
        failures.extend(common::failure_lines(&case.name, &cmp));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The truncated-BPTT cases (`tools/tbptt_cases.py`) test the carried state: run from zeros at
/// every step instead, each misses PyTorch's numbers.
#[test]
fn truncated_bptt_cases_fail_without_the_carried_state() {
    let cases: Vec<TrainCase> =
        train_cases().iter().map(|p| TrainCase::load(p).expect("loads")).filter(|c| c.carry).collect();
    assert!(cases.len() >= 6, "expected the shipped TBPTT cases, found {}", cases.len());
    for case in cases {
        let zeros = TrainCase { carry: false, ..case.clone() };
        let (stats, model) = run_reference(&zeros);
        let failed = case.compare(&stats, &model).into_iter().any(|c| !c.passed());
        assert!(failed, "{}: passes from zeros too", case.name);
    }
}

fn first_case() -> TrainCase {
    TrainCase::load(&train_cases()[0]).expect("loads")
}

#[test]
fn a_wrong_optimizer_fails_the_comparison() {
    let mut case = first_case();
    let expected = case.clone();
    match &mut case.config.optimizer {
        train::Optimizer::Adam { lr, .. } | train::Optimizer::AdamW { lr, .. } | train::Optimizer::Sgd { lr, .. } => {
            *lr *= 1.05
        }
    }
    let (stats, model) = run_reference(&case);
    let bad: Vec<String> =
        expected.compare(&stats, &model).into_iter().filter(|c| !c.passed()).map(|c| c.name).collect();
    assert!(bad.iter().any(|n| n.starts_with("final.")), "a 5% larger learning rate must change the weights: {bad:?}");
    assert!(!bad.iter().any(|n| n == "loss" && stats.len() == 1), "the first loss comes before any update");
}

#[test]
fn bad_training_input_is_a_typed_error_and_changes_nothing() {
    let case = first_case();
    let fresh = || (case.model.clone(), OptimizerState::new(&case.model.parameter_sizes()));
    let step = |model: &mut TrainModel, state: &mut OptimizerState, cfg: &train::TrainConfig, batch: &train::Batch| {
        let before = (model.clone(), state.clone());
        let err = train::reference_step(model, state, cfg, batch).expect_err("rejected");
        assert_eq!((model.clone(), state.clone()), before, "{err}: the model or optimizer changed");
        err.to_string()
    };
    let (mut model, mut state) = fresh();
    let mut cfg = case.config;
    cfg.optimizer = train::Optimizer::Sgd { lr: -0.1, momentum: 0.0, weight_decay: 0.0 };
    assert!(step(&mut model, &mut state, &cfg, &case.batches[0]).contains("learning rate"));
    cfg.optimizer = train::Optimizer::adam(0.01);
    cfg.clip_norm = Some(f32::NAN);
    assert!(step(&mut model, &mut state, &cfg, &case.batches[0]).contains("clip_norm"));

    let mut batch = case.batches[0].clone();
    match &mut batch.targets {
        train::Targets::Classes(ids) => ids[0] = case.model.head.outputs,
        train::Targets::Values(v) => v.truncate(1),
    }
    let msg = step(&mut model, &mut state, &case.config, &batch);
    assert!(msg.contains("class id") || msg.contains("targets"), "{msg}");

    let mut batch = case.batches[0].clone();
    batch.lengths = Some(vec![0; batch.batch]);
    assert!(step(&mut model, &mut state, &case.config, &batch).contains("outside 1..="));

    if let train::BatchInputs::Tokens(ids) = &mut batch.inputs {
        batch.lengths = None;
        ids[0] = 1_000_000;
        assert!(step(&mut model, &mut state, &case.config, &batch).contains("vocab"));
    }

    // An update that overflows f32 (lr·(g + wd·w) for every weight that is not zero): the step
    // names the tensor and is not applied.
    let (mut model, mut state) = fresh();
    cfg = case.config;
    cfg.optimizer = train::Optimizer::Sgd { lr: f32::MAX, momentum: 0.0, weight_decay: f32::MAX };
    let msg = step(&mut model, &mut state, &cfg, &case.batches[0]);
    assert!(msg.contains("training step 1") && msg.contains("not finite") && msg.contains("after the update"), "{msg}");
}

/// Batches no memory could hold, a source for a model without an encoder, and optimizer state
/// that does not fit or cannot be right are typed errors on both trainers, the CPU reference
/// and the GPU, which say the same; nothing changes.
#[test]
fn impossible_batches_and_optimizer_states_are_errors_on_both_trainers() {
    let case = first_case();
    let good = case.batches[0].clone();
    let (t, b) = (good.steps, good.batch);
    let mut batches: Vec<(&str, train::Batch)> = vec![
        // T·B overflows usize: no vector holds that many inputs
        ("T·B past usize", train::Batch { steps: usize::MAX, ..good.clone() }),
        ("T·B·I past usize", train::Batch { steps: 1 << 40, batch: 1 << 40, ..good.clone() }),
        ("length past T", train::Batch { lengths: Some(vec![usize::MAX; b]), ..good.clone() }),
        (
            "source",
            train::Batch {
                source: Some(train::Source { inputs: good.inputs.clone(), steps: t, lengths: None }),
                ..good.clone()
            },
        ),
    ];
    batches[1].1.lengths = None;
    for engine in [common::gpu(), &wgpu_rnn::Engine::cpu()] {
        let mut messages = Vec::new();
        for (what, batch) in &batches {
            let mut trainer = train::Trainer::new(engine, case.model.clone(), case.config).expect("trainer");
            let err = trainer.step(batch).expect_err(what).to_string();
            let eval = trainer.evaluate(batch).expect_err(what).to_string();
            assert_eq!(err, eval, "{what}: the step and the evaluation say the same");
            assert!(trainer.model().expect("model") == case.model, "{what}: the model changed");
            messages.push(err);
        }
        assert!(messages[0].contains("tokens") || messages[0].contains("`x`"), "{}", messages[0]);
        assert!(
            messages[2].contains(&format!("sequence length {}", usize::MAX)),
            "the length as given: {}",
            messages[2]
        );
        assert!(messages[3].contains("no encoder"), "{}", messages[3]);

        let mut trainer = train::Trainer::new(engine, case.model.clone(), case.config).expect("trainer");
        let before = trainer.optimizer_state().expect("state");
        let mut short = before.clone();
        short.v.clear(); // the second moments of no tensor
        let mut negative = before.clone();
        negative.v[1][2] = -1.0;
        let mut nan = before.clone();
        nan.m[0][0] = f64::NAN;
        let names = case.model.parameter_names();
        for (what, state, says) in [
            ("no second moments", short, "other parameters".to_string()),
            ("a negative second moment", negative, format!("v of {} at index 2 is -1", names[1])),
            ("a NaN first moment", nan, format!("m of {} at index 0 is NaN", names[0])),
        ] {
            let err = trainer.set_optimizer_state(state).expect_err(what).to_string();
            assert!(err.contains(&says), "{what}: {err}");
            assert_eq!(trainer.optimizer_state().expect("state"), before, "{what}: the state changed");
        }
        trainer.step(&good).expect("the trainer still trains");
    }
}
