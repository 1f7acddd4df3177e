//! Sequence to sequence: an encoder whose final state starts the decoder. The encoder's
//! parameters get their gradients only through the decoder's h0 and c0: the CPU reference's
//! agree with finite differences of the loss, and the GPU's one-submit step agrees with the CPU
//! reference (losses, every parameter, with dropout). Saving round-trips the encoder; bad
//! batches and mismatched stacks are typed errors.

mod common;

use wgpu_rnn::plan::train::{TBuf, TCommand, TrainPlan};
use wgpu_rnn::plan::train_step::StepShape;
use wgpu_rnn::random::{self, RandomConfig};
use wgpu_rnn::train::{self, Batch, BatchInputs, HeadMode, Source, Targets, TrainConfig, TrainModel, Trainer};
use wgpu_rnn::{Cell, Engine};

fn stacks(cell: Cell, layers: usize, hidden: usize) -> (wgpu_rnn::Network, wgpu_rnn::Network) {
    let mut rc = RandomConfig::simple(cell, 5, hidden);
    rc.layers = layers;
    let enc = random::pytorch_network(&rc, 1);
    rc.input_size = 4;
    (enc, random::pytorch_network(&rc, 2))
}

fn model(cell: Cell, layers: usize) -> TrainModel {
    let (enc, dec) = stacks(cell, layers, 6);
    TrainModel::seq2seq(enc, Some(9), dec, Some(7), 7, HeadMode::Steps, 3).expect("model")
}

/// Source `[6, 3]` of ids below 9 (lengths 6, 3, 5), decoder inputs and targets `[4, 3]`
/// below 7 (lengths 4, 2, 3).
fn batch(k: usize) -> Batch {
    let (s, t, b) = (6, 4, 3);
    Batch {
        inputs: BatchInputs::Tokens((0..t * b).map(|i| (i * 5 + k) % 7).collect()),
        steps: t,
        batch: b,
        lengths: Some(vec![4, 2, 3]),
        targets: Targets::Classes((0..t * b).map(|i| (i * 3 + k + 1) % 7).collect()),
        source: Some(Source {
            inputs: BatchInputs::Tokens((0..s * b).map(|i| (i * 7 + 2 * k) % 9).collect()),
            steps: s,
            lengths: Some(vec![6, 3, 5]),
        }),
    }
}

fn cfg(p: f32) -> TrainConfig {
    TrainConfig {
        loss: train::LossKind::CrossEntropy,
        optimizer: train::Optimizer::adam(0.05),
        clip_norm: Some(1.0),
        clip_value: None,
        dropout: train::Dropout { p, seed: 17, recurrent: p / 2.0 },
    }
}

#[test]
fn encoder_gradients_flow_through_the_decoders_initial_state() {
    for cell in [Cell::Lstm, Cell::Gru, Cell::Rnn] {
        let model = model(cell, 2);
        let b = batch(0);
        let (_, grads) = train::loss_and_gradients(&model, train::LossKind::CrossEntropy, &b).expect("gradients");
        let names = model.parameter_names();
        let loss_at = |tensor: usize, i: usize, delta: f32| {
            let mut m = model.clone();
            let p = &mut m.parameters_mut()[tensor][i];
            let before = *p;
            *p += delta;
            let moved = (*p - before) as f64;
            (train::loss_and_gradients(&m, train::LossKind::CrossEntropy, &b).expect("loss").0, moved)
        };
        let mut checked = 0;
        // the encoder's embedding, both layers' W, R and B: all reach the loss only through h0/c0
        for (tensor, name) in names.iter().enumerate().filter(|(_, n)| n.starts_with("encoder.")) {
            let g = &grads[tensor];
            assert!(g.iter().any(|v| v.abs() > 1e-6), "{cell:?}: {name} gets no gradient");
            for i in (0..g.len()).step_by(g.len() / 5 + 1) {
                let ((lp, dp), (lm, dm)) = (loss_at(tensor, i, 1e-3), loss_at(tensor, i, -1e-3));
                let fd = (lp - lm) / (dp - dm);
                assert!(
                    (fd - g[i]).abs() <= 2e-3 * g[i].abs().max(1e-2),
                    "{cell:?} {name}[{i}]: finite difference {fd:.6e}, gradient {:.6e}",
                    g[i]
                );
                checked += 1;
            }
        }
        assert!(checked >= 20, "{cell:?}: {checked} checks");
    }
}

#[test]
fn a_gpu_seq2seq_step_matches_the_cpu_reference() {
    for (cell, layers, p) in [(Cell::Lstm, 2, 0.0), (Cell::Lstm, 2, 0.3), (Cell::Gru, 1, 0.0), (Cell::Rnn, 2, 0.2)] {
        let model = model(cell, layers);
        let run = |engine: &Engine| {
            let mut t = Trainer::new(engine, model.clone(), cfg(p)).expect("trainer");
            let losses: Vec<f64> = [0, 1, 0].map(|k| t.step(&batch(k)).expect("step").loss).to_vec();
            let eval = t.evaluate(&batch(5)).expect("evaluate");
            (losses, eval, t.model().expect("model"), t.is_gpu())
        };
        let (gl, ge, gm, on_gpu) = run(common::gpu());
        assert!(on_gpu, "the trainer runs on the GPU");
        let (cl, ce, cm, _) = run(&Engine::cpu());
        for (g, c) in gl.iter().chain([&ge]).zip(cl.iter().chain([&ce])) {
            assert!((g - c).abs() <= 1e-4 * c.abs().max(1.0), "{cell:?}: loss {g} on the GPU, {c} on the CPU");
        }
        assert!(gl[2] < gl[0], "{cell:?}: training lowers the loss of batch 0 ({gl:?})");
        let mut gm = gm;
        let mut cm = cm;
        let names = cm.parameter_names();
        for ((g, c), name) in gm.parameters_mut().iter().zip(cm.parameters_mut().iter()).zip(&names) {
            let worst = g.iter().zip(c.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst <= 2e-4, "{cell:?}: {name} differs by {worst}");
        }
        let first = model.clone().parameters_mut()[1].to_vec();
        assert_ne!(gm.parameters_mut()[1].to_vec(), first, "{cell:?}: the encoder's layer was updated");
    }
}

#[test]
fn a_seq2seq_model_saves_and_loads_with_its_encoder() {
    let dir = std::env::temp_dir().join(format!("wgpu-rnn-seq2seq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("model.safetensors");
    let mut t = Trainer::new(common::gpu(), model(Cell::Lstm, 2), cfg(0.0)).expect("trainer");
    t.step(&batch(0)).expect("step");
    t.save(&path).expect("save");
    let (loaded, state) = TrainModel::load(&path).expect("load");
    assert_eq!(loaded, t.model().expect("model"));
    assert!(loaded.encoder.is_some());
    assert_eq!(state.expect("optimizer state").step, 1);
    let names: Vec<String> = loaded.state_dict().into_iter().map(|(n, _)| n).collect();
    assert!(names.iter().any(|n| n == "encoder.rnn.weight_hh_l1"), "{names:?}");
    assert!(names.iter().any(|n| n == "encoder.embedding.weight"), "{names:?}");
    let mut back = Trainer::load(common::gpu(), &path, cfg(0.0)).expect("trainer from file");
    let (a, b) = (t.step(&batch(1)).expect("step").loss, back.step(&batch(1)).expect("step").loss);
    assert!((a - b).abs() < 1e-6, "{a} vs {b}: the loaded trainer goes on as the saved one");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_seq2seq_input_is_a_typed_error() {
    let (enc, dec) = stacks(Cell::Lstm, 2, 6);
    let (_, small) = stacks(Cell::Lstm, 2, 5);
    let err = TrainModel::seq2seq(enc.clone(), Some(9), small, Some(7), 7, HeadMode::Steps, 3).expect_err("mismatch");
    assert!(err.to_string().contains("encoder") && err.to_string().contains("hidden 5"), "{err}");
    let (gru, _) = stacks(Cell::Gru, 2, 6);
    let err = TrainModel::seq2seq(gru, Some(9), dec, Some(7), 7, HeadMode::Steps, 3).expect_err("cells");
    assert!(err.to_string().contains("encoder"), "{err}");
    for engine in [common::gpu(), &Engine::cpu()] {
        let mut t = Trainer::new(engine, model(Cell::Lstm, 2), cfg(0.0)).expect("trainer");
        let mut no_source = batch(0);
        no_source.source = None;
        let err = t.step(&no_source).expect_err("no source").to_string();
        assert!(err.contains("source"), "{err}");
        let mut bad = batch(0);
        if let Some(Source { inputs: BatchInputs::Tokens(ids), .. }) = &mut bad.source {
            ids[4] = 9;
        }
        let err = t.step(&bad).expect_err("id past the vocabulary").to_string();
        assert!(err.contains("source") && err.contains("id 9 at position 4"), "{err}");
        t.carry_state(true);
        let err = t.step(&batch(0)).expect_err("carry").to_string();
        assert!(err.contains("carry_state"), "{err}");
        assert_eq!(t.steps(), 0, "no step counted");
    }
    let plain = TrainModel::new(stacks(Cell::Lstm, 1, 4).1, Some(7), 7, HeadMode::Steps, 1).expect("model");
    let mut t = Trainer::new(common::gpu(), plain, cfg(0.0)).expect("trainer");
    let err = t.step(&batch(0)).expect_err("a source for a model without encoder").to_string();
    assert!(err.contains("no encoder"), "{err}");
}

/// The plans: the encoder's pass updates nothing itself, the decoder's step starts from the
/// bound state (no copy or clear into H0) and clips and updates the encoder's groups first.
#[test]
fn the_seq2seq_plans_interleave_and_share_one_update() {
    let m = model(Cell::Lstm, 2);
    let enc = m.encoder.as_ref().expect("encoder");
    let shape = StepShape::of(&m, &cfg(0.0));
    let (ep, dp) = TrainPlan::seq2seq_step(&enc.stack, Some((9, 5)), &m.stack, shape, (6, 4, 3));
    assert_eq!(ep.groups.len(), 3, "embedding and two layers");
    assert!(ep.commands.iter().all(|c| !matches!(c, TCommand::SumSquares { .. } | TCommand::Update { .. })));
    assert!(ep.commands[ep.backward_at..].iter().any(|c| matches!(c, TCommand::EmbedBackward { .. })));
    assert!(ep.commands[..ep.backward_at].iter().all(|c| !matches!(c, TCommand::StepBackward { .. })));
    assert_eq!(dp.groups.len(), 3 + 4, "the encoder's groups, then embedding, two layers, head");
    assert_eq!(dp.groups[0].0, TBuf::EncParam(0));
    assert!(
        dp.commands.iter().all(|c| !matches!(
            c,
            TCommand::Clear(TBuf::H0 | TBuf::C0) | TCommand::Copy { dst: TBuf::H0 | TBuf::C0, .. }
        ))
    );
    assert!(matches!(dp.commands[dp.backward_at], TCommand::SumSquares { group: 0 }));
    let updates = dp.commands.iter().filter(|c| matches!(c, TCommand::Update { .. })).count();
    assert_eq!(updates, 7);
    assert_eq!(ep.size(TBuf::DhN), dp.size(TBuf::Dh0), "the bound buffers have one size");
    assert_eq!(ep.size(TBuf::CN), dp.size(TBuf::C0));
}
