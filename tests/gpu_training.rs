//! Training on the GPU against PyTorch: every training case (`tests/data/train`, K optimizer
//! steps of Embedding -> stack -> Linear) run by `Trainer` on the GPU gives PyTorch's losses,
//! gradient norms and final parameters; random setups of every option give the CPU
//! reference's; bad input and non-finite updates are typed errors that leave the model on the
//! GPU as it was.

mod common;

use wgpu_rnn::case::TrainCase;
use wgpu_rnn::plan::train::{TCommand, Walk};
use wgpu_rnn::train::{self, StepStats, TrainModel, Trainer};

fn gpu_trainer(case: &TrainCase, cfg: train::TrainConfig) -> Trainer {
    let t = Trainer::new(common::gpu(), case.model.clone(), cfg).expect("trainer");
    assert!(t.is_gpu(), "the trainer runs on the GPU");
    t
}

fn run(case: &TrainCase, walk: Option<Walk>) -> (Vec<StepStats>, TrainModel) {
    let mut t = gpu_trainer(case, case.config);
    t.set_walk(walk);
    t.carry_state(case.carry);
    assert_eq!(
        t.plan(3, 2).expect("a GPU plan").layers.iter().all(|l| l.persistent),
        walk == Some(Walk::Persistent),
        "{}: the walk asked for",
        case.name
    );
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
        // the device's walk (per-step kernels on CPU drivers) and the persistent one
        for walk in [None, Some(Walk::Persistent)] {
            let (stats, model) = run(&case, walk);
            let cmp = case.compare(&stats, &model);
            assert!(cmp.len() >= 5, "{}: {} comparisons", case.name, cmp.len());
            failures.extend(common::failure_lines(&format!("{} ({walk:?})", case.name), &cmp));
        }
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
    // a non-finite loss after a good step (a NaN target of an MSE case): named; the GPU does
    // not update, and the next step trains as if the failed one had not been
    let mse = common::data_files("train")
        .iter()
        .map(|f| TrainCase::load(f).expect("loads"))
        .find(|c| matches!(c.batches[0].targets, train::Targets::Values(_)) && c.batches.len() >= 2)
        .expect("an MSE case of two batches or more");
    let (mut failed, mut clean) = (gpu_trainer(&mse, mse.config), gpu_trainer(&mse, mse.config));
    failed.step(&mse.batches[0]).expect("a good step");
    clean.step(&mse.batches[0]).expect("a good step");
    let (model, moments) = (failed.model().expect("reads back"), failed.optimizer_state().expect("reads back"));
    let mut nan = mse.batches[0].clone();
    if let train::Targets::Values(v) = &mut nan.targets {
        v[0] = f32::NAN;
    }
    let err = failed.step(&nan).expect_err("a NaN loss").to_string();
    assert!(err.contains("training step 2") && err.contains("loss"), "{err}");
    assert_eq!(failed.model().expect("reads back"), model, "{err}: the model changed");
    assert_eq!(failed.optimizer_state().expect("reads back"), moments, "{err}: the moments changed");
    let next = failed.step(&mse.batches[1]).expect("the next step");
    assert_eq!(next, clean.step(&mse.batches[1]).expect("the next step"));
    assert_eq!(failed.model().expect("reads back"), clean.model().expect("reads back"));
    // an update that overflows f32: named, and undone on the GPU
    let mut cfg = case.config;
    cfg.optimizer = train::Optimizer::Sgd { lr: f32::MAX, momentum: 0.0, weight_decay: f32::MAX };
    let mut t = gpu_trainer(&case, cfg);
    let fresh = t.model().expect("reads back");
    let err = t.step(&case.batches[0]).expect_err("overflow").to_string();
    assert!(err.contains("training step 1") && err.contains("after the update"), "{err}");
    assert_eq!(t.model().expect("reads back"), fresh, "the failed update was undone");
    assert_eq!(t.steps(), 0);
}

/// Truncated BPTT: chunks of one long sequence, the state carried between them and no
/// gradient crossing; the GPU agrees with the CPU reference chunk by chunk, also when the last
/// chunk is shorter, and carrying changes the result (the state is really used).
#[test]
fn truncated_bptt_carries_the_state_between_chunks() {
    use wgpu_rnn::random::{self, RandomConfig};
    let stack = random::network(&RandomConfig::simple(wgpu_rnn::Cell::Lstm, 4, 6), 9, |s| s);
    let model = TrainModel::new(stack, Some(7), 7, train::HeadMode::Steps, 9).expect("model");
    let cfg = train::TrainConfig {
        loss: train::LossKind::CrossEntropy,
        optimizer: train::Optimizer::adam(0.02),
        clip_norm: Some(1.0),
        clip_value: None,
        dropout: Default::default(),
    };
    let b = 2;
    let chunk = |t: usize, k: usize| train::Batch {
        inputs: train::BatchInputs::Tokens((0..t * b).map(|i| (i + 3 * k) % 7).collect()),
        steps: t,
        batch: b,
        lengths: None,
        targets: train::Targets::Classes((0..t * b).map(|i| (i + 3 * k + 1) % 7).collect()),
        source: None,
    };
    let chunks = [chunk(5, 0), chunk(5, 1), chunk(3, 2)];
    let run = |engine: &wgpu_rnn::Engine, carry: bool| {
        let mut t = Trainer::new(engine, model.clone(), cfg).expect("trainer");
        t.carry_state(carry);
        let losses: Vec<f64> = chunks.iter().map(|c| t.step(c).expect("step").loss).collect();
        (losses, t.model().expect("model"), t)
    };
    let (gpu_losses, gpu_model, mut gpu) = run(common::gpu(), true);
    assert!(gpu.is_gpu());
    let (cpu_losses, cpu_model, _) = run(&wgpu_rnn::Engine::cpu(), true);
    for (g, c) in gpu_losses.iter().zip(&cpu_losses) {
        assert!((g - c).abs() <= 1e-5 * c.abs().max(1.0), "loss {g} on the GPU, {c} on the CPU");
    }
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-4 * y.abs().max(1.0));
    assert!(close(&gpu_model.head.weight, &cpu_model.head.weight), "head weights differ");
    assert!(close(&gpu_model.stack.layers[0].weights.r, &cpu_model.stack.layers[0].weights.r), "R differs");
    let (plain, _, _) = run(common::gpu(), false);
    assert_eq!(plain[0], gpu_losses[0], "the first chunk starts from zeros either way");
    assert!((plain[1] - gpu_losses[1]).abs() > 1e-6, "the second chunk starts from the first's state");
    let one = train::Batch {
        inputs: train::BatchInputs::Tokens(vec![1; 5]),
        steps: 5,
        batch: 1,
        lengths: None,
        targets: train::Targets::Classes(vec![2; 5]),
        source: None,
    };
    let err = gpu.step(&one).expect_err("another batch size").to_string();
    assert!(err.contains("carried"), "{err}");
}

/// Dropout between layers: the GPU draws the CPU reference's masks (same losses and
/// parameters), masks change the training loss, evaluation uses none, and a probability
/// outside [0, 1) is a typed error.
#[test]
fn dropout_matches_the_cpu_reference_and_is_off_in_evaluation() {
    use wgpu_rnn::random::{self, RandomConfig};
    let mut rc = RandomConfig::simple(wgpu_rnn::Cell::Gru, 5, 6);
    rc.layers = 3;
    rc.direction = wgpu_rnn::Direction::Bidirectional;
    let stack = random::network(&rc, 4, |mut s| {
        s.linear_before_reset = true;
        s
    });
    let model = TrainModel::new(stack, Some(9), 3, train::HeadMode::Steps, 4).expect("model");
    let cfg = |p: f32| train::TrainConfig {
        loss: train::LossKind::CrossEntropy,
        optimizer: train::Optimizer::sgd(0.1),
        clip_norm: None,
        clip_value: None,
        dropout: train::Dropout { p, seed: 77, recurrent: 0.0 },
    };
    let (t, b) = (6, 3);
    let batch = train::Batch {
        inputs: train::BatchInputs::Tokens((0..t * b).map(|i| (i * 5) % 9).collect()),
        steps: t,
        batch: b,
        lengths: Some(vec![6, 5, 3]),
        targets: train::Targets::Classes((0..t * b).map(|i| i % 3).collect()),
        source: None,
    };
    let run = |engine: &wgpu_rnn::Engine, p: f32| {
        let mut tr = Trainer::new(engine, model.clone(), cfg(p)).expect("trainer");
        let before = tr.evaluate(&batch).expect("evaluates");
        let losses: Vec<f64> = (0..3).map(|_| tr.step(&batch).expect("step").loss).collect();
        (before, losses, tr.model().expect("model"), tr.is_gpu())
    };
    let (gpu_eval, gpu, gpu_model, on_gpu) = run(common::gpu(), 0.4);
    assert!(on_gpu);
    let (cpu_eval, cpu, cpu_model, _) = run(&wgpu_rnn::Engine::cpu(), 0.4);
    for (g, c) in gpu.iter().zip(&cpu) {
        assert!((g - c).abs() <= 1e-5 * c.abs().max(1.0), "loss {g} on the GPU, {c} on the CPU: the masks differ");
    }
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-4 * y.abs().max(1.0));
    assert!(close(&gpu_model.stack.layers[1].weights.w, &cpu_model.stack.layers[1].weights.w), "layer 1's W differs");
    let (plain_eval, plain, _, _) = run(common::gpu(), 0.0);
    assert!((plain[0] - gpu[0]).abs() > 1e-4, "dropout changes the training loss: {} vs {}", plain[0], gpu[0]);
    assert_eq!(gpu_eval, plain_eval, "evaluation applies no dropout");
    assert!(
        (gpu_eval - plain[0]).abs() <= 1e-6 * plain[0],
        "evaluation gives the undropped loss: {gpu_eval} vs {}",
        plain[0]
    );
    assert!((gpu_eval - cpu_eval).abs() <= 1e-5 * cpu_eval);
    let err = Trainer::new(common::gpu(), model.clone(), cfg(1.0)).expect_err("p = 1").to_string();
    assert!(err.contains("dropout"), "{err}");
}

/// Variational (recurrent) dropout, one mask per sequence inside the recurrent products, with
/// dropout between layers: the GPU matches the CPU reference (itself checked against finite
/// differences with the same masks) for every cell, and the masks change the result.
#[test]
fn recurrent_dropout_matches_the_cpu_reference() {
    use wgpu_rnn::random::{self, RandomConfig};
    for (cell, lbr, proj) in [
        (wgpu_rnn::Cell::Rnn, false, 0),
        (wgpu_rnn::Cell::Gru, false, 0),
        (wgpu_rnn::Cell::Gru, true, 0),
        (wgpu_rnn::Cell::Lstm, false, 3),
    ] {
        let mut rc = RandomConfig::simple(cell, 4, 5);
        rc.layers = 2;
        rc.proj_size = proj;
        rc.direction = wgpu_rnn::Direction::Bidirectional;
        let stack = random::network(&rc, 6, |mut s| {
            s.linear_before_reset = lbr;
            s
        });
        let model = TrainModel::new(stack, None, 2, train::HeadMode::Last, 6).expect("model");
        let cfg = |recurrent: f32| train::TrainConfig {
            loss: train::LossKind::Mse,
            optimizer: train::Optimizer::adam(0.05),
            clip_norm: None,
            clip_value: None,
            dropout: train::Dropout { p: 0.2, seed: 11, recurrent },
        };
        let (t, b) = (5, 3);
        let batch = train::Batch {
            inputs: train::BatchInputs::Features((0..t * b * 4).map(|i| ((i * 37) % 17) as f32 / 8.0 - 1.0).collect()),
            steps: t,
            batch: b,
            lengths: Some(vec![5, 3, 4]),
            targets: train::Targets::Values((0..b * 2).map(|i| i as f32 / 3.0 - 0.5).collect()),
            source: None,
        };
        let run_walk = |engine: &wgpu_rnn::Engine, recurrent: f32, walk: Option<Walk>| {
            let mut tr = Trainer::new(engine, model.clone(), cfg(recurrent)).expect("trainer");
            tr.set_walk(walk);
            let mut losses: Vec<f64> = (0..2).map(|_| tr.step(&batch).expect("step").loss).collect();
            // evaluation: no masks on h either
            losses.push(tr.evaluate(&batch).expect("evaluates"));
            (losses, tr.model().expect("model"))
        };
        let run = |engine: &wgpu_rnn::Engine, recurrent: f32| run_walk(engine, recurrent, None);
        let (cpu, cpu_model) = run(&wgpu_rnn::Engine::cpu(), 0.3);
        let (gpu, _) = run(common::gpu(), 0.3);
        // the per-step kernels (the default on CPU drivers) and the persistent walk
        for walk in [Walk::PerStep, Walk::Persistent] {
            let (gpu, gpu_model) = run_walk(common::gpu(), 0.3, Some(walk));
            let label = format!("{cell:?} lbr {lbr} proj {proj} {walk:?}");
            for (g, c) in gpu.iter().zip(&cpu) {
                assert!((g - c).abs() <= 1e-5 * c.abs().max(1.0), "{label}: loss {g} on the GPU, {c} on the CPU");
            }
            let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-4 * y.abs().max(1.0));
            for l in 0..2 {
                let (gw, cw) = (&gpu_model.stack.layers[l].weights, &cpu_model.stack.layers[l].weights);
                let same = close(&gw.r, &cw.r) && close(&gw.w, &cw.w) && close(&gw.b, &cw.b);
                assert!(same, "{label}: layer {l} differs");
            }
        }
        let label = format!("{cell:?} lbr {lbr} proj {proj}");
        let (plain, _) = run(common::gpu(), 0.0);
        assert!((plain[1] - gpu[1]).abs() > 1e-6, "{label}: recurrent masks change the second step");
    }
}

/// Steps that read nothing back: the same model as read steps, the last step's statistics on
/// request, and an update that overflows undone on the GPU itself.
#[test]
fn unread_steps_train_alike_and_undo_failed_updates_on_the_gpu() {
    let case = TrainCase::load(&common::data_files("train")[0]).expect("loads");
    let mut read = gpu_trainer(&case, case.config);
    let mut unread = gpu_trainer(&case, case.config);
    let mut reads = Vec::new();
    for b in &case.batches {
        reads.push(read.step(b).expect("step"));
        unread.step_unread(b).expect("submits");
    }
    assert!(reads.len() >= 2, "{}: {} steps", case.name, reads.len());
    assert_eq!(unread.steps(), read.steps());
    assert_eq!(unread.last_stats().expect("stats"), *reads.last().expect("a step"));
    // every unread step's statistics in one readback: the read steps', numbered from 1
    let taken = unread.unread_stats().expect("unread stats");
    let numbers: Vec<u64> = taken.iter().map(|s| s.0).collect();
    assert_eq!(numbers, (1..=reads.len() as u64).collect::<Vec<_>>());
    for ((step, got), want) in taken.into_iter().zip(&reads) {
        assert_eq!(got.expect("a finite step"), *want, "step {step}");
    }
    assert!(unread.unread_stats().expect("unread stats").is_empty(), "taken once");
    assert_eq!(unread.model().expect("model"), read.model().expect("model"), "the same training");
    // reads between the steps, and a read step among unread ones: each read takes the steps
    // since the last, numbered on, the read step not among them
    let mut mixed = gpu_trainer(&case, case.config);
    let mut got = Vec::new();
    for (k, b) in case.batches.iter().enumerate() {
        if k == 1 {
            assert_eq!(mixed.step(b).expect("step"), reads[k], "the read step");
            continue;
        }
        mixed.step_unread(b).expect("submits");
        if k == 0 || k + 1 == case.batches.len() {
            got.push(mixed.unread_stats().expect("unread stats"));
        }
    }
    let numbers: Vec<Vec<u64>> = got.iter().map(|g| g.iter().map(|s| s.0).collect()).collect();
    assert_eq!(numbers, [vec![1], (3..=reads.len() as u64).collect::<Vec<_>>()]);
    for (step, stats) in got.into_iter().flatten() {
        assert_eq!(stats.expect("a finite step"), reads[step as usize - 1], "step {step}");
    }
    let mut cfg = case.config;
    cfg.optimizer = train::Optimizer::Sgd { lr: f32::MAX, momentum: 0.0, weight_decay: f32::MAX };
    let mut t = gpu_trainer(&case, cfg);
    let fresh = t.model().expect("model");
    t.step_unread(&case.batches[0]).expect("submits");
    assert_eq!(t.model().expect("model"), fresh, "the GPU undid the overflowing update");
    let err = t.last_stats().expect_err("the step failed").to_string();
    assert!(err.contains("after the update"), "{err}");
    let taken = t.unread_stats().expect("unread stats");
    assert_eq!(taken.len(), 1);
    let err = taken[0].1.as_ref().expect_err("the step failed").to_string();
    assert!(taken[0].0 == 1 && err.contains("step 1") && err.contains("after the update"), "{err}");
}

/// A failed step in truncated BPTT with Adam and dropout, read and unread: the GPU and the CPU
/// reference agree on every step after it. The next chunk starts from the state the failed one
/// started from (`state_restore` on the GPU, which has not read anything when an unread step
/// fails); an unread failure counts as a step on both (the masks' step and Adam's bias
/// corrections move on), a read one on neither.
#[test]
fn failed_steps_hand_on_the_state_they_started_from() {
    use wgpu_rnn::random::{self, RandomConfig};
    let mut rc = RandomConfig::simple(wgpu_rnn::Cell::Lstm, 3, 5);
    rc.layers = 2;
    let model = TrainModel::new(random::network(&rc, 13, |s| s), None, 2, train::HeadMode::Steps, 5).expect("model");
    let cfg = train::TrainConfig {
        loss: train::LossKind::Mse,
        optimizer: train::Optimizer::adam(0.05),
        clip_norm: None,
        clip_value: None,
        dropout: train::Dropout { p: 0.3, seed: 5, recurrent: 0.2 },
    };
    let (t, b) = (4, 2);
    let chunk = |k: usize, bad: bool| {
        let mut targets: Vec<f32> = (0..t * b * 2).map(|i| ((i + k) % 5) as f32 / 4.0 - 0.5).collect();
        if bad {
            targets[3] = f32::NAN;
        }
        train::Batch {
            inputs: train::BatchInputs::Features(
                (0..t * b * 3).map(|i| ((i * 7 + k) % 11) as f32 / 5.0 - 1.0).collect(),
            ),
            steps: t,
            batch: b,
            lengths: None,
            targets: train::Targets::Values(targets),
            source: None,
        }
    };
    let chunks = [chunk(0, false), chunk(1, true), chunk(2, false), chunk(3, false)];
    let run = |engine: &wgpu_rnn::Engine, unread: bool| {
        let mut tr = Trainer::new(engine, model.clone(), cfg).expect("trainer");
        tr.carry_state(true);
        let stats: Vec<(u64, Result<StepStats, String>)> = if unread {
            chunks.iter().for_each(|c| tr.step_unread(c).expect("submits"));
            tr.unread_stats()
                .expect("unread stats")
                .into_iter()
                .map(|(n, r)| (n, r.map_err(|e| e.to_string())))
                .collect()
        } else {
            chunks.iter().map(|c| (tr.steps() + 1, tr.step(c).map_err(|e| e.to_string()))).collect()
        };
        (stats, tr.steps(), tr.model().expect("model"), tr.is_gpu())
    };
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-4 * y.abs().max(1.0));
    for unread in [true, false] {
        let (gpu, gpu_steps, gpu_model, on_gpu) = run(common::gpu(), unread);
        assert!(on_gpu);
        let (cpu, cpu_steps, cpu_model, _) = run(&wgpu_rnn::Engine::cpu(), unread);
        let numbers: Vec<u64> = gpu.iter().map(|s| s.0).collect();
        let want: Vec<u64> = if unread { vec![1, 2, 3, 4] } else { vec![1, 2, 2, 3] };
        assert_eq!(numbers, want, "unread {unread}: the failed step counts only when unread");
        assert_eq!(cpu.iter().map(|s| s.0).collect::<Vec<_>>(), want, "unread {unread}: the CPU numbers alike");
        assert_eq!((gpu_steps, cpu_steps), (want[3], want[3]), "unread {unread}");
        for ((n, g), (_, c)) in gpu.iter().zip(&cpu) {
            match (g, c) {
                (Ok(g), Ok(c)) => {
                    let near = |x: f64, y: f64| (x - y).abs() <= 1e-5 * y.abs().max(1.0);
                    assert!(
                        near(g.loss, c.loss) && near(g.grad_norm, c.grad_norm),
                        "unread {unread} step {n}: {g:?} vs {c:?}"
                    );
                }
                (Err(g), Err(c)) => assert!(g.contains("loss") && c.contains("loss"), "{g} / {c}"),
                other => panic!("unread {unread} step {n}: {other:?}"),
            }
        }
        assert!(gpu[1].1.is_err(), "the NaN target fails its step");
        for l in 0..2 {
            let (g, c) = (&gpu_model.stack.layers[l].weights, &cpu_model.stack.layers[l].weights);
            assert!(close(&g.w, &c.w) && close(&g.r, &c.r) && close(&g.b, &c.b), "unread {unread}: layer {l} differs");
        }
        assert!(close(&gpu_model.head.weight, &cpu_model.head.weight), "unread {unread}: the head differs");
    }
}

/// More unread steps than the window holds: the last `STATS_WINDOW` come back, numbered, each
/// the statistics a read step gives (the window's slots wrap around), the same on the CPU
/// reference's trainer.
#[test]
fn unread_stats_keep_the_last_window_of_steps() {
    let case = TrainCase::load(&common::data_files("train")[0]).expect("loads");
    let mut cfg = case.config;
    cfg.optimizer = train::Optimizer::Sgd { lr: 1e-3, momentum: 0.0, weight_decay: 0.0 };
    let steps = train::STATS_WINDOW + 3;
    let batch = &case.batches[0];
    let mut read = gpu_trainer(&case, cfg);
    let mut unread = gpu_trainer(&case, cfg);
    let mut cpu = Trainer::new(&wgpu_rnn::Engine::cpu(), case.model.clone(), cfg).expect("trainer");
    let mut reads = Vec::new();
    for _ in 0..steps {
        reads.push(read.step(batch).expect("step"));
        unread.step_unread(batch).expect("submits");
        cpu.step_unread(batch).expect("steps");
    }
    let kept = (steps - train::STATS_WINDOW + 1) as u64..=steps as u64;
    for (label, t) in [("gpu", &mut unread), ("cpu", &mut cpu)] {
        let taken = t.unread_stats().expect("unread stats");
        assert_eq!(taken.iter().map(|s| s.0).collect::<Vec<_>>(), kept.clone().collect::<Vec<_>>(), "{label}");
        for (step, got) in taken {
            let got = got.expect("a finite step");
            let want = reads[step as usize - 1];
            if label == "gpu" {
                assert_eq!(got, want, "{label} step {step}");
            } else {
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * b.abs().max(1.0);
                assert!(close(got.loss, want.loss) && close(got.grad_norm, want.grad_norm), "{label} step {step}");
            }
        }
    }
    // the loss moves over a thousand steps: the entries are not one step's repeated
    assert!(reads[0].loss != reads[steps - 1].loss);
}

/// A parameter group wider than one `sum_squares` workgroup's share (its norm in many partial
/// sums, then `sum_squares_finish`) and wider than the update's invocations (each strides over
/// several parameters) gives the CPU reference's gradient norm, clipping and Adam update; an
/// overflowing update of it is undone in every parameter, not only each invocation's first.
#[test]
fn wide_groups_norm_clip_and_update_as_the_cpu_reference() {
    use wgpu_rnn::plan::train::TRAIN_WORKGROUP;
    use wgpu_rnn::plan::train_step::{UPDATE_WORKGROUPS, norm_parts};
    use wgpu_rnn::random::{self, RandomConfig};
    let (vocab, width) = (3000, 96);
    assert!(vocab * width > (UPDATE_WORKGROUPS * TRAIN_WORKGROUP) as usize, "the update strides");
    assert!(norm_parts(vocab * width) > 1, "the norm takes several workgroups");
    let cfg = train::TrainConfig {
        loss: train::LossKind::CrossEntropy,
        optimizer: train::Optimizer::adam(1e-2),
        clip_norm: Some(0.05), // below the norm: the clip coefficient scales every gradient
        clip_value: None,
        dropout: Default::default(),
    };
    let (t, b) = (6, 48);
    let batch = train::Batch {
        // tokens spread over the whole table, so every partial sum of the embedding's norm has some
        inputs: train::BatchInputs::Tokens((0..t * b).map(|i| (i * 1031 + 7) % vocab).collect()),
        steps: t,
        batch: b,
        lengths: None,
        targets: train::Targets::Classes((0..b).map(|i| i % 4).collect()),
        source: None,
    };
    let stack = random::network(&RandomConfig::simple(wgpu_rnn::Cell::Gru, width, 16), 3, |s| s);
    let model = TrainModel::new(stack, Some(vocab), 4, train::HeadMode::Last, 5).expect("model");
    let mut gpu = Trainer::new(common::gpu(), model.clone(), cfg).expect("trainer");
    let mut cpu = Trainer::new(&wgpu_rnn::Engine::cpu(), model.clone(), cfg).expect("trainer");
    assert!(gpu.is_gpu());
    for step in 1..=2 {
        let (g, c) = (gpu.step(&batch).expect("gpu step"), cpu.step(&batch).expect("cpu step"));
        assert!(c.grad_norm > 0.05, "step {step}: the clip is active ({})", c.grad_norm);
        assert!((g.grad_norm - c.grad_norm).abs() <= 1e-4 * c.grad_norm, "step {step}: norm {g:?} against {c:?}");
        assert!((g.loss - c.loss).abs() <= 1e-4 * c.loss.abs().max(1.0), "step {step}: loss {g:?} against {c:?}");
    }
    let (ge, ce) = (gpu.model().expect("reads back"), cpu.model().expect("reads back"));
    let (ge, ce) =
        (&ge.embedding.as_ref().expect("embedding").weight, &ce.embedding.as_ref().expect("embedding").weight);
    let before = &model.embedding.as_ref().expect("embedding").weight;
    let moved = ce.iter().zip(before).filter(|(a, b)| a != b).count();
    assert!(moved >= 100 * width, "the update moves many rows of the table ({moved} weights)");
    let mut bad = ge.iter().zip(ce).enumerate().filter(|(_, (a, b))| (*a - *b).abs() > 1e-4 * b.abs().max(1.0));
    if let Some((i, (a, b))) = bad.next() {
        panic!("embedding[{i}] (row {}): gpu {a} cpu {b}, {} more", i / width, bad.count());
    }
    let mut cfg = cfg;
    // lr * (g + wd * w) overflows for every weight that is not zero
    cfg.optimizer = train::Optimizer::Sgd { lr: f32::MAX, momentum: 0.0, weight_decay: f32::MAX };
    let mut failing = Trainer::new(common::gpu(), model.clone(), cfg).expect("trainer");
    failing.step_unread(&batch).expect("submits");
    assert!(failing.model().expect("reads back") == model, "the GPU undid every parameter of the update");
    let err = failing.last_stats().expect_err("the step failed").to_string();
    assert!(err.contains("after the update"), "{err}");
    // Adam whose step overflows (lr / (1 - beta1^t) is infinite), from moments a good step
    // left: the moments come back as they were before the failed update, not as zeros
    let moments = gpu.optimizer_state().expect("reads back");
    assert!(moments.m[0].iter().any(|&x| x != 0.0) && moments.v[0].iter().any(|&x| x != 0.0));
    cfg.optimizer = train::Optimizer::adam(f32::MAX);
    let mut failing = Trainer::new(common::gpu(), model.clone(), cfg).expect("trainer");
    failing.set_optimizer_state(moments.clone()).expect("fits");
    failing.step_unread(&batch).expect("submits");
    assert!(failing.last_stats().is_err(), "the update overflowed");
    assert!(failing.model().expect("reads back") == model, "the parameters came back");
    let after = failing.optimizer_state().expect("reads back");
    assert!(after.m == moments.m && after.v == moments.v, "the moments came back");
}

/// Gradients whose every group's Σg² is below f32's largest while their total is above it: no
/// gradient is infinite, so the step succeeds, and it reports and clips by the CPU reference's
/// (f64) norm and updates as it does, with and without the clip, instead of skipping the update.
#[test]
fn a_norm_beyond_f32s_range_clips_and_updates_as_the_cpu_reference() {
    use wgpu_rnn::random::{self, RandomConfig};
    use wgpu_rnn::{Activation, ActivationKind};
    // A Relu RNN, I = H = 1, one step from h0 = 0: h = relu(w·x) = 1 and y = v·h. MSE against
    // a target t far below gives dy = 2(y - t): the head's group sums dy²(h² + 1) = 2dy², the
    // layer's (v·dy)²(x² + 1 + 1) = 3v²dy² (dR is zero), so with v² = 2/3 each is 2dy².
    let mut stack = random::network(&RandomConfig::simple(wgpu_rnn::Cell::Rnn, 1, 1), 1, |mut s| {
        s.activations = vec![vec![Activation::with_defaults(ActivationKind::Relu)]; s.directions()];
        s
    });
    let weights = &mut stack.layers[0].weights;
    (weights.w, weights.r, weights.b) = (vec![1.0], vec![0.5], vec![0.0, 0.0]);
    let mut model = TrainModel::new(stack, None, 1, train::HeadMode::Last, 1).expect("model");
    (model.head.weight, model.head.bias) = (vec![(2.0f32 / 3.0).sqrt()], vec![0.0]);
    // 2dy² = 0.7·f32::MAX for each group, 1.4·f32::MAX in all
    let dy = (0.35 * f32::MAX as f64).sqrt();
    let batch = train::Batch {
        inputs: train::BatchInputs::Features(vec![1.0]),
        steps: 1,
        batch: 1,
        lengths: None,
        targets: train::Targets::Values(vec![(-dy / 2.0) as f32]),
        source: None,
    };
    for clip_norm in [Some(1.0), None] {
        let cfg = train::TrainConfig {
            loss: train::LossKind::Mse,
            optimizer: train::Optimizer::Sgd { lr: 0.1, momentum: 0.0, weight_decay: 0.0 },
            clip_norm,
            clip_value: None,
            dropout: Default::default(),
        };
        let mut gpu = Trainer::new(common::gpu(), model.clone(), cfg).expect("trainer");
        let mut cpu = Trainer::new(&wgpu_rnn::Engine::cpu(), model.clone(), cfg).expect("trainer");
        assert!(gpu.is_gpu());
        let c = cpu.step(&batch).expect("cpu step");
        let g = gpu.step(&batch).unwrap_or_else(|e| panic!("clip {clip_norm:?}: the GPU step fails: {e}"));
        assert!(c.grad_norm.powi(2) > 1.2 * f32::MAX as f64, "the total overflows f32: {c:?}");
        assert!((g.grad_norm - c.grad_norm).abs() <= 1e-5 * c.grad_norm, "clip {clip_norm:?}: {g:?} against {c:?}");
        let (mut ge, mut ce) = (gpu.model().expect("reads back"), cpu.model().expect("reads back"));
        assert!(ce != model, "the reference updated");
        let names = model.parameter_names();
        let (gp, cp) = (ge.parameters_mut(), ce.parameters_mut());
        for (k, (a, b)) in gp.iter().zip(&cp).enumerate() {
            let close = a.iter().zip(b.iter()).all(|(a, b)| (a - b).abs() <= 1e-5 * b.abs().max(1.0));
            assert!(close, "clip {clip_norm:?}: {}: gpu {a:?} cpu {b:?}", names[k]);
        }
    }
}

/// Heads wider than `LOSS_WIDE_CLASSES` take a workgroup per row (`loss_wide`): cross-entropy
/// and MSE at every step of packed sequences (rows past a length count for nothing) give the
/// CPU reference's loss, gradient norm and head.
#[test]
fn wide_heads_lose_as_the_cpu_reference() {
    use wgpu_rnn::plan::train_step::LOSS_WIDE_CLASSES;
    use wgpu_rnn::random::{self, RandomConfig};
    let classes = LOSS_WIDE_CLASSES + 37; // not a multiple of the workgroup
    let (t, b) = (5, 3);
    let stack = random::network(&RandomConfig::simple(wgpu_rnn::Cell::Lstm, 6, 8), 4, |s| s);
    for loss in [train::LossKind::CrossEntropy, train::LossKind::Mse] {
        let cfg = train::TrainConfig {
            loss,
            optimizer: train::Optimizer::sgd(0.1),
            clip_norm: None,
            clip_value: None,
            dropout: Default::default(),
        };
        let targets = match loss {
            train::LossKind::CrossEntropy => train::Targets::Classes((0..t * b).map(|i| (i * 331) % classes).collect()),
            train::LossKind::Mse => {
                train::Targets::Values((0..t * b * classes).map(|i| ((i * 7) % 13) as f32 / 13.0 - 0.5).collect())
            }
        };
        let batch = train::Batch {
            inputs: train::BatchInputs::Features((0..t * b * 6).map(|i| ((i * 5) % 11) as f32 / 11.0 - 0.5).collect()),
            steps: t,
            batch: b,
            lengths: Some(vec![5, 2, 4]),
            targets,
            source: None,
        };
        let model = TrainModel::new(stack.clone(), None, classes, train::HeadMode::Steps, 3).expect("model");
        let mut gpu = Trainer::new(common::gpu(), model.clone(), cfg).expect("trainer");
        assert!(gpu.plan(t, b).expect("a GPU plan").commands.contains(&TCommand::Loss { wide: true }));
        let mut cpu = Trainer::new(&wgpu_rnn::Engine::cpu(), model, cfg).expect("trainer");
        let (g, c) = (gpu.step(&batch).expect("gpu step"), cpu.step(&batch).expect("cpu step"));
        assert!((g.loss - c.loss).abs() <= 1e-5 * c.loss.abs().max(1.0), "{loss:?}: {g:?} against {c:?}");
        assert!((g.grad_norm - c.grad_norm).abs() <= 1e-4 * c.grad_norm, "{loss:?}: {g:?} against {c:?}");
        let (gh, ch) = (gpu.model().expect("reads back").head, cpu.model().expect("reads back").head);
        for (i, (a, b)) in gh.weight.iter().chain(&gh.bias).zip(ch.weight.iter().chain(&ch.bias)).enumerate() {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{loss:?}: head parameter {i}: gpu {a} cpu {b}");
        }
    }
}

/// The embedding's gradient over more positions (T*B) than one of its dispatches walks
/// (`EMBED_ROWS`; lavapipe would cut a longer walk short) gives the CPU reference's update; a
/// step whose kernels would still loop past the adapter's limit (lavapipe's llvmpipe ends an
/// invocation's loops after 65535 iterations, silently: the loss over 1400000 classes, even
/// a workgroup per row) is a typed error naming it, and the model stays as it was. On adapters
/// without a limit it trains. A head of 30000 classes (a workgroup per row) trains as the CPU
/// reference does.
#[test]
fn long_loops_are_split_or_refused_at_the_adapters_loop_limit() {
    use wgpu_rnn::plan::train::EMBED_ROWS;
    use wgpu_rnn::random::{self, RandomConfig};
    let cfg = train::TrainConfig {
        loss: train::LossKind::CrossEntropy,
        optimizer: train::Optimizer::sgd(0.5),
        clip_norm: None,
        clip_value: None,
        dropout: Default::default(),
    };
    let batch = |t: usize, b: usize, classes: usize| train::Batch {
        inputs: train::BatchInputs::Tokens((0..t * b).map(|i| (i * 7 + i / 3) % 5).collect()),
        steps: t,
        batch: b,
        lengths: None,
        targets: train::Targets::Classes((0..b).map(|i| i % classes).collect()),
        source: None,
    };
    let stack = random::network(&RandomConfig::simple(wgpu_rnn::Cell::Gru, 3, 4), 2, |s| s);
    let model = TrainModel::new(stack.clone(), Some(5), 3, train::HeadMode::Last, 2).expect("model");
    // 206808 positions: one walk over them all came out wrong on lavapipe (68936 did not)
    let (t, b) = (6, EMBED_ROWS + 1700);
    let big = batch(t, b, 3);
    let mut gpu = Trainer::new(common::gpu(), model.clone(), cfg).expect("trainer");
    let mut cpu = Trainer::new(&wgpu_rnn::Engine::cpu(), model.clone(), cfg).expect("trainer");
    let (g, c) = (gpu.step(&big).expect("gpu step"), cpu.step(&big).expect("cpu step"));
    // an f32 sum over B rows' losses against the reference's f64 one
    assert!((g.loss - c.loss).abs() <= 1e-3 * c.loss.abs().max(1.0), "loss {} against {}", g.loss, c.loss);
    let (ge, ce) = (gpu.model().expect("reads back"), cpu.model().expect("reads back"));
    let (ge, ce) =
        (&ge.embedding.as_ref().expect("embedding").weight, &ce.embedding.as_ref().expect("embedding").weight);
    let moved = |w: &[f32]| w.iter().zip(&model.embedding.as_ref().expect("embedding").weight).any(|(a, b)| a != b);
    assert!(moved(ce), "the update moves the embedding");
    for (i, (a, b)) in ge.iter().zip(ce).enumerate() {
        assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "embedding[{i}]: gpu {a} cpu {b}");
    }
    // a head of 30000 classes takes a workgroup per row (loss_wide): its loops stay short
    let wide = TrainModel::new(stack.clone(), Some(5), 30000, train::HeadMode::Last, 2).expect("model");
    let mut gpu = Trainer::new(common::gpu(), wide.clone(), cfg).expect("trainer");
    let mut cpu = Trainer::new(&wgpu_rnn::Engine::cpu(), wide.clone(), cfg).expect("trainer");
    let (g, c) = (gpu.step(&batch(2, 3, 30000)).expect("gpu step"), cpu.step(&batch(2, 3, 30000)).expect("cpu"));
    assert!((g.loss - c.loss).abs() <= 1e-4 * c.loss.abs().max(1.0), "loss {} against {}", g.loss, c.loss);
    assert!((g.grad_norm - c.grad_norm).abs() <= 1e-4 * c.grad_norm, "norm {} against {}", g.grad_norm, c.grad_norm);
    let (gh, ch) = (gpu.model().expect("reads back").head, cpu.model().expect("reads back").head);
    for (i, (a, b)) in gh.weight.iter().chain(&gh.bias).zip(ch.weight.iter().chain(&ch.bias)).enumerate() {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "head parameter {i}: gpu {a} cpu {b}");
    }
    // one whose loss would still loop past the limit (three passes of 1400000 / 64)
    let widest = TrainModel::new(stack, Some(5), 1_400_000, train::HeadMode::Last, 2).expect("model");
    let mut trainer = Trainer::new(common::gpu(), widest.clone(), cfg).expect("trainer");
    let limit = common::gpu().context().expect("a GPU engine").loop_limit();
    match (limit, trainer.step(&batch(2, 3, 1_400_000))) {
        (Some(limit), Err(e)) => {
            assert!(3 * 1_400_000 / 64 > limit);
            let msg = e.to_string();
            assert!(msg.contains("1400000 classes") && msg.contains("65535"), "{msg}");
            assert_eq!(trainer.steps(), 0, "a refused step is no step");
            assert!(trainer.model().expect("reads back") == widest, "the model is unchanged");
        }
        (None, Ok(stats)) => assert!(stats.loss.is_finite()),
        (limit, other) => panic!("limit {limit:?}: {other:?}"),
    }
}

/// The engine's walk option (`GpuOptions::walk`, `--walk`, `WGPU_RNN_WALK`) is every trainer's
/// default on it; a trainer's own `set_walk` still wins, and `None` goes back to the option.
#[test]
fn the_engines_walk_is_its_trainers_default() {
    use wgpu_rnn::engine::EngineOptions;
    let case = TrainCase::load(&common::data_files("train")[0]).expect("loads");
    let persistent = |t: &Trainer| t.plan(3, 2).expect("a GPU plan").layers.iter().all(|l| l.persistent);
    let mut opts = EngineOptions::from_env().expect("options");
    opts.require_gpu = true;
    opts.gpu.walk = Some(Walk::Persistent);
    let engine = wgpu_rnn::Engine::with_options(&opts).expect("a GPU engine");
    assert_eq!(engine.context().expect("a GPU").training_walk(), Walk::Persistent);
    let mut t = Trainer::new(&engine, case.model.clone(), case.config).expect("trainer");
    assert!(persistent(&t), "the engine's walk");
    t.set_walk(Some(Walk::PerStep));
    assert!(!persistent(&t), "the trainer's own");
    t.set_walk(None);
    assert!(persistent(&t), "back to the engine's");
    assert_eq!(Walk::parse(" Per-Step ").expect("parses"), Some(Walk::PerStep));
    assert_eq!(Walk::parse("auto").expect("parses"), None);
    let e = Walk::parse("sideways").expect_err("no such walk");
    assert!(e.to_string().contains("sideways") && e.to_string().contains("per-step"), "{e}");
}

/// Random training setups over every option at once, three steps each on the GPU and on the
/// CPU reference's trainer: the stack's attributes (`random::any_stack`), an embedding or
/// features, an encoder in front (sequence to sequence) or none, either head, either loss, every
/// optimizer, clipping by norm and by value, dropout between layers, recurrent dropout, packed
/// lengths and truncated BPTT, with each walk.
/// Adam's eps is 1e-4: at 1e-8 an update divides a gradient near 1e-8 by about itself, so its
/// last f32 bits move the weight by up to lr. `WGPU_RNN_SWEEP_SEED` and
/// `WGPU_RNN_SWEEP_SETUPS` (default 1 and 24) draw others.
#[test]
fn random_training_setups_match_the_cpu_reference() {
    use train::{Batch, BatchInputs, HeadMode, LossKind, Optimizer, Targets};
    use wgpu_rnn::MergeMode;
    use wgpu_rnn::random::{self, RandomConfig, Rng};
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    let (seed0, count) = (env("WGPU_RNN_SWEEP_SEED", 1), env("WGPU_RNN_SWEEP_SETUPS", 24));
    let (mut encoders, mut carried) = (0, 0);
    for k in 0..count {
        let seed = seed0 * 1000 + k;
        let mut rng = Rng::new(seed);
        let (cfg, options) = random::any_stack(&mut rng, &[1, 2, 4, 7, 8], &[1, 3, 4, 5, 8, 12, 17, 33, 132], false);
        let (input, layers) = (cfg.input_size, cfg.layers);
        let mut pick = |n: usize| rng.range(0, n - 1);
        let spec = |s| options.apply(s);
        let stack = random::network(&cfg, seed, spec);
        // one setup in four is sequence to sequence: an encoder whose final state (same cell,
        // layers, directions and sizes) starts the stack, with its own input and merge
        let encoder = (pick(4) == 0).then(|| {
            let enc = RandomConfig { input_size: [1, 3, 4][pick(3)], merge: MergeMode::ALL[pick(4)], ..cfg.clone() };
            (random::network(&enc, seed + 1, spec), (pick(2) == 1).then(|| 2 + pick(6)), [1, 3, 7][pick(3)])
        });
        let (vocab, classes, head) =
            ((pick(2) == 1).then(|| 2 + pick(10)), 1 + pick(7), [HeadMode::Steps, HeadMode::Last][pick(2)]);
        let cross_entropy = classes > 1 && pick(2) == 1;
        let model = match &encoder {
            Some((enc, enc_vocab, _)) => {
                TrainModel::seq2seq(enc.clone(), *enc_vocab, stack, vocab, classes, head, seed)
            }
            None => TrainModel::new(stack, vocab, classes, head, seed),
        }
        .expect("model");
        let lr = [0.01f32, 0.1, 0.5][pick(3)];
        let config = train::TrainConfig {
            loss: if cross_entropy { LossKind::CrossEntropy } else { LossKind::Mse },
            optimizer: match pick(5) {
                0 => Optimizer::Sgd { lr, momentum: 0.0, weight_decay: 0.0 },
                1 => Optimizer::Sgd { lr, momentum: 0.9, weight_decay: 0.01 },
                2 => Optimizer::Adam { lr: lr * 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-4, weight_decay: 0.0 },
                3 => Optimizer::Adam { lr: lr * 0.1, beta1: 0.8, beta2: 0.99, eps: 1e-4, weight_decay: 0.01 },
                _ => Optimizer::AdamW { lr: lr * 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-4, weight_decay: 0.1 },
            },
            clip_norm: (pick(2) == 1).then_some(0.5),
            clip_value: (pick(3) == 0).then_some(0.05),
            dropout: train::Dropout {
                p: if layers > 1 && pick(2) == 1 { 0.3 } else { 0.0 },
                seed,
                recurrent: if pick(3) == 0 { 0.25 } else { 0.0 },
            },
        };
        let carry = encoder.is_none() && pick(3) == 0; // an encoder's state starts every step
        encoders += usize::from(encoder.is_some());
        carried += usize::from(carry);
        let (t, b) = ([1, 3, 7, 20][pick(4)], [1, 2, 5, 9][pick(4)]);
        let ragged = !carry && pick(2) == 1;
        // the data, from the same generator once the setup is drawn
        let batches: Vec<Batch> = (0..3)
            .map(|_| {
                let lengths = ragged.then(|| (0..b).map(|i| if i == 0 { t } else { rng.range(1, t) }).collect());
                let inputs = match vocab {
                    Some(v) => BatchInputs::Tokens((0..t * b).map(|_| rng.range(0, v - 1)).collect()),
                    None => BatchInputs::Features(rng.vec(t * b * input, 1.0)),
                };
                let rows = if head == HeadMode::Steps { t * b } else { b };
                let targets = if cross_entropy {
                    Targets::Classes((0..rows).map(|_| rng.range(0, classes - 1)).collect())
                } else {
                    Targets::Values(rng.vec(rows * classes, 1.0))
                };
                let source = encoder.as_ref().map(|(enc, enc_vocab, s)| train::Source {
                    inputs: match enc_vocab {
                        Some(v) => BatchInputs::Tokens((0..s * b).map(|_| rng.range(0, v - 1)).collect()),
                        None => BatchInputs::Features(rng.vec(s * b * enc.input_size(), 1.0)),
                    },
                    steps: *s,
                    lengths: ragged.then(|| (0..b).map(|i| if i == 0 { *s } else { rng.range(1, *s) }).collect()),
                });
                Batch { inputs, steps: t, batch: b, lengths, targets, source }
            })
            .collect();
        let label = format!(
            "seed {seed}: {cfg:?} {options:?} vocab {vocab:?} C {classes} {head:?} {config:?} carry {carry} T {t} B {b} \
             encoder (I, merge, vocab, S) {:?}",
            encoder.as_ref().map(|(e, v, s)| (e.input_size(), e.merge, v, s))
        );
        let run = |engine: &wgpu_rnn::Engine, walk: Option<Walk>| {
            let mut tr = Trainer::new(engine, model.clone(), config).expect("trainer");
            tr.set_walk(walk);
            tr.carry_state(carry);
            let stats: Vec<StepStats> = batches.iter().map(|batch| tr.step(batch).expect("a finite step")).collect();
            (stats, tr.model().expect("model"), tr.is_gpu())
        };
        let (want, mut cpu) = {
            let (s, m, _) = run(&wgpu_rnn::Engine::cpu(), None);
            (s, m)
        };
        for walk in [Walk::PerStep, Walk::Persistent] {
            let (got, mut gpu, on_gpu) = run(common::gpu(), Some(walk));
            assert!(on_gpu, "{label}");
            for (i, (g, c)) in got.iter().zip(&want).enumerate() {
                let close = |a: f64, b: f64| (a - b).abs() <= 2e-4 * b.abs().max(1.0);
                assert!(
                    close(g.loss, c.loss) && close(g.grad_norm, c.grad_norm),
                    "{label} {walk:?} step {i}: gpu {g:?} cpu {c:?}"
                );
            }
            let names = gpu.parameter_names();
            for (name, (g, c)) in names.iter().zip(gpu.parameters_mut().into_iter().zip(cpu.parameters_mut())) {
                let scale = c.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1.0);
                if let Some(i) = (0..g.len()).find(|&i| (g[i] - c[i]).abs() > 5e-4 * scale) {
                    panic!("{label} {walk:?}: {name}[{i}]: gpu {} cpu {}", g[i], c[i]);
                }
            }
        }
    }
    if count >= 24 {
        assert!(encoders >= 2 && carried >= 2, "{encoders} encoders and {carried} carried states in {count} setups");
    }
}

/// A learning-rate schedule: a rate set between steps is the next steps' rate, and the
/// optimizer's state goes on, as in a trainer made with that rate from the model and optimizer
/// state so far (the same step, bit for bit), on the GPU and on the CPU reference; a rate that
/// is not a finite number >= 0 is an error and changes nothing.
#[test]
fn a_learning_rate_set_between_steps_takes_effect_and_keeps_the_optimizer_state() {
    let case = TrainCase::load(&common::data_files("train")[0]).expect("loads");
    let lr = case.config.optimizer.lr();
    let batch = |k: usize| &case.batches[k % case.batches.len()];
    for engine in [common::gpu(), &wgpu_rnn::Engine::cpu()] {
        let mut t = Trainer::new(engine, case.model.clone(), case.config).expect("trainer");
        t.step(batch(0)).expect("step");
        t.step(batch(1)).expect("step");
        let (model, state) = (t.model().expect("model"), t.optimizer_state().expect("state"));
        for bad in [-1.0, f32::NAN, f32::INFINITY] {
            let e = t.set_learning_rate(bad).expect_err("a bad rate").to_string();
            assert!(e.contains("learning rate"), "{e}");
        }
        assert_eq!(t.config().optimizer.lr(), lr, "a refused rate changes nothing");
        t.set_learning_rate(lr * 0.1).expect("a rate");
        assert_eq!(t.config().optimizer, case.config.optimizer.with_lr(lr * 0.1));
        let got = t.step(batch(2)).expect("step");
        // a trainer made with the new rate from where `t` stood
        let resumed = |cfg: train::TrainConfig| {
            let mut r = Trainer::new(engine, model.clone(), cfg).expect("trainer");
            r.set_optimizer_state(state.clone()).expect("state");
            let stats = r.step(batch(2)).expect("step");
            (stats, r.model().expect("model"))
        };
        let mut cfg = case.config;
        cfg.optimizer = cfg.optimizer.with_lr(lr * 0.1);
        let (want, want_model) = resumed(cfg);
        assert_eq!(got, want, "gpu {}", engine.is_gpu());
        assert_eq!(t.model().expect("model"), want_model, "gpu {}", engine.is_gpu());
        let (_, unchanged) = resumed(case.config);
        assert_ne!(unchanged, want_model, "the rate changes the update");
    }
}
