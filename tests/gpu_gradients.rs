//! The GPU backward (training forward with its tape, then backpropagation through time) against
//! torch autograd on every gradient case, and its forward against the cases' outputs.

use std::sync::Arc;

use wgpu_rnn::case::Case;
use wgpu_rnn::gpu::GpuTrainer;

mod common;

fn trainer(case: &Case) -> GpuTrainer {
    let ctx = common::gpu().context().expect("a GPU engine");
    GpuTrainer::new(Arc::clone(ctx), case.network.clone()).expect("trainer")
}

#[test]
fn every_gradient_case_passes_on_the_gpu() {
    let files = common::data_files("grad");
    assert!(files.len() >= 66, "expected the shipped gradient cases, found {}", files.len());
    let mut failures = Vec::new();
    for path in files {
        let case = Case::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let check = case.gradients.as_ref().expect("a gradient case");
        let (out, grads) = trainer(&case).forward_backward(&case.inputs, &check.upstream).expect("runs");
        assert!(out.dispatches > 2 * case.inputs.steps, "{}: the GPU ran {} dispatches", case.name, out.dispatches);
        failures.extend(common::failure_lines(&case.name, &case.compare(&out)));
        let cmp = case.compare_gradients(&grads);
        assert!(!cmp.is_empty(), "{}: no gradients compared", case.name);
        failures.extend(common::failure_lines(&case.name, &cmp));
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// Other sizes than the shipped cases': batches that fill several row tiles and end in a
/// partial one, packed lengths, initial states, every cell and two stacked bidirectional
/// layers; the GPU backward agrees with the f64 CPU reference.
#[test]
fn the_gpu_backward_matches_the_cpu_reference_at_other_sizes() {
    use wgpu_rnn::kernels::TrainKernel;
    use wgpu_rnn::plan::train::{TCommand, TrainPlan};
    use wgpu_rnn::random::{self, RandomConfig};
    use wgpu_rnn::{Cell, Direction, MergeMode};
    // sizes 7, 9: every product in the scalar matmul; 8, 12: in its vec4 versions (a reset-
    // before GRU's dR of the candidate has 12 rows, a block half past the edge)
    let sizes = [(7, 9, 3), (8, 12, 4)];
    let cells = [
        (Cell::Rnn, false, MergeMode::Sum),
        (Cell::Gru, false, MergeMode::Concat),
        (Cell::Gru, true, MergeMode::Average),
        (Cell::Lstm, false, MergeMode::Concat),
    ];
    for (n, ((input, hidden, proj_size), (cell, lbr, merge))) in
        sizes.into_iter().flat_map(|s| cells.into_iter().map(move |c| (s, c))).enumerate()
    {
        let proj = if cell == Cell::Lstm { proj_size } else { 0 };
        let cfg = RandomConfig {
            direction: Direction::Bidirectional,
            layers: 2,
            proj_size: proj,
            merge,
            peepholes: cell == Cell::Lstm,
            ..RandomConfig::simple(cell, input, hidden)
        };
        let net = random::network(&cfg, n as u64, |mut s| {
            s.linear_before_reset = lbr;
            s
        });
        let inp = random::inputs(&net, 6, 7, n as u64, true, true);
        let vec4 = TrainPlan::new(&net, inp.steps, inp.batch)
            .commands
            .iter()
            .filter(|c| matches!(c, TCommand::Matmul { p, .. } if p.kernel() != TrainKernel::Matmul))
            .count();
        assert_eq!(vec4 > 0, input % 4 == 0, "{cell:?} at sizes {input}, {hidden}: {vec4} vec4 products");
        let up = random_upstream(&net, &inp, n as u64 + 100);
        let want = wgpu_rnn::cpu::backward(&net, &inp, &up).expect("cpu");
        let model = common::gpu().load(net.clone()).expect("loads");
        assert!(model.is_gpu());
        let got = model.backward(&inp, &up).expect("gpu");
        let label = format!("{cell:?} I {input} H {hidden} lbr {lbr} proj {proj} {merge:?}");
        assert_gradients_close(&label, &got, &want);
    }
}

/// Random layers over every attribute at once, forward and backward on the GPU against the CPU
/// reference: cell, sizes on and off quads and past `PERSISTENT_UNITS`, 1-3 layers, direction,
/// merge, projection, peepholes, `linear_before_reset`, `input_forget`, clip, any activations
/// with their alpha and beta, lengths and initial states. `WGPU_RNN_SWEEP_SEED` and
/// `WGPU_RNN_SWEEP_LAYERS` (default 1 and 40) draw others.
#[test]
fn random_layers_of_every_attribute_match_the_cpu_reference() {
    use wgpu_rnn::random::{self, Rng};
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    let (seed0, count) = (env("WGPU_RNN_SWEEP_SEED", 1), env("WGPU_RNN_SWEEP_LAYERS", 40));
    let mut ran = 0;
    for k in 0..count {
        let seed = seed0 * 1000 + k;
        let mut rng = Rng::new(seed);
        let (cfg, options) =
            random::any_stack(&mut rng, &[1, 2, 4, 7, 8, 16], &[1, 3, 4, 5, 8, 12, 17, 33, 64, 129, 132], true);
        let mut pick = |n: usize| rng.range(0, n - 1);
        let (steps, batch) = ([1, 2, 5, 11, 40][pick(5)], [1, 2, 5, 9, 17][pick(5)]);
        let (ragged, initial) = (pick(2) == 1, pick(2) == 1);
        let net = random::network(&cfg, seed, |s| options.apply(s));
        let inp = random::inputs(&net, steps, batch, seed, ragged, initial);
        let label = format!("seed {seed}: {cfg:?} {options:?} T {steps} B {batch} ragged {ragged} initial {initial}");
        let want = wgpu_rnn::cpu::forward(&net, &inp).expect("cpu");
        // unbounded activations (Relu, Affine, Softplus, ...) can grow past what f32 keeps
        // close over 40 steps and 3 layers: such draws are left out, and counted
        if want.y.iter().chain(&want.h_n).any(|v| v.abs() > 1e3) {
            continue;
        }
        let model = common::gpu().load(net.clone()).expect("loads");
        assert!(model.is_gpu());
        let got = model.forward(&inp).expect("gpu");
        close(&format!("{label} y"), &got.y, &want.y);
        close(&format!("{label} h_n"), &got.h_n, &want.h_n);
        assert_eq!(got.c_n.is_some(), want.c_n.is_some(), "{label}: c_n");
        if let (Some(g), Some(w)) = (&got.c_n, &want.c_n) {
            close(&format!("{label} c_n"), g, w);
        }
        let up = random_upstream(&net, &inp, seed + 7);
        let want = wgpu_rnn::cpu::backward(&net, &inp, &up).expect("cpu");
        assert_gradients_close(&label, &model.backward(&inp, &up).expect("gpu"), &want);
        ran += 1;
    }
    assert!(ran * 10 >= count * 9, "{ran} of {count} random layers ran: too many left out as too large");
}

/// Random gradients at every output of `net` for `inp` (y, h_n, and c_n of an LSTM).
fn random_upstream(net: &wgpu_rnn::Network, inp: &wgpu_rnn::Inputs, seed: u64) -> wgpu_rnn::Upstream {
    let ld = net.layers.len() * net.directions();
    let mut rng = wgpu_rnn::random::Rng::new(seed);
    wgpu_rnn::Upstream {
        y: rng.vec(inp.steps * inp.batch * net.merged_width(), 1.0),
        h_n: Some(rng.vec(ld * inp.batch * net.output_size(), 1.0)),
        c_n: (net.cell() == wgpu_rnn::Cell::Lstm)
            .then(|| rng.vec(ld * inp.batch * net.layers[0].spec.hidden_size, 1.0)),
    }
}

/// Every gradient of `got` within 2e-4 of `want`'s, relative to the largest of each tensor.
fn assert_gradients_close(label: &str, got: &wgpu_rnn::Gradients, want: &wgpu_rnn::Gradients) {
    close(&format!("{label} dx"), &got.x, &want.x);
    close(&format!("{label} dh0"), &got.h0, &want.h0);
    assert_eq!(got.c0.is_some(), want.c0.is_some(), "{label}: dc0");
    if let (Some(g), Some(w)) = (&got.c0, &want.c0) {
        close(&format!("{label} dc0"), g, w);
    }
    assert_eq!(got.layers.len(), want.layers.len(), "{label}: layers");
    for (l, (g, w)) in got.layers.iter().zip(&want.layers).enumerate() {
        close(&format!("{label} layer {l} dW"), &g.w, &w.w);
        close(&format!("{label} layer {l} dR"), &g.r, &w.r);
        close(&format!("{label} layer {l} dB"), &g.b, &w.b);
        assert_eq!(g.p.is_some(), w.p.is_some(), "{label}: layer {l} dP");
        assert_eq!(g.proj.is_some(), w.proj.is_some(), "{label}: layer {l} dW_hr");
        if let (Some(gp), Some(wp)) = (&g.p, &w.p) {
            close(&format!("{label} layer {l} dP"), gp, wp);
        }
        if let (Some(gp), Some(wp)) = (&g.proj, &w.proj) {
            close(&format!("{label} layer {l} dW_hr"), gp, wp);
        }
    }
}

/// `a` within 2e-4 of `b`, relative to the largest of `b` (at least 1); names the first element
/// that is not.
fn close(name: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{name}: length");
    let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1.0);
    if let Some(i) = (0..a.len()).find(|&i| (a[i] - b[i]).abs() > 2e-4 * scale) {
        panic!("{name}[{i}]: gpu {} cpu {}", a[i], b[i]);
    }
}

/// The persistent walk (many steps of a layer per dispatch each way, a workgroup per quad of
/// rows and direction) against the f64 CPU reference: every cell, both reset placements of
/// GRU, a projected LSTM with peepholes, input_forget with clip, another activation, two
/// bidirectional layers, packed lengths, initial states, a last partial quad of rows, and the
/// widest layers over sequences long enough to take several walk dispatches each way (whose
/// loops lavapipe would cut short in one).
#[test]
fn the_persistent_walk_matches_the_cpu_reference() {
    use wgpu_rnn::plan::train::Walk;
    use wgpu_rnn::random::{self, RandomConfig};
    use wgpu_rnn::spec::{Activation, ActivationKind};
    use wgpu_rnn::{Cell, Direction, MergeMode};
    let ctx = common::gpu().context().expect("a GPU engine");
    // (cell, lbr, proj, peepholes, input_forget and clip, merge, layers, hidden, steps, batch)
    let cases = [
        (Cell::Rnn, false, 0, false, false, MergeMode::Sum, 2, 9, 6, 7),
        (Cell::Gru, false, 0, false, false, MergeMode::Concat, 2, 9, 6, 7),
        (Cell::Gru, true, 0, false, true, MergeMode::Average, 1, 12, 5, 5),
        (Cell::Lstm, false, 3, true, false, MergeMode::Concat, 2, 7, 6, 7),
        (Cell::Lstm, false, 0, false, true, MergeMode::Mul, 1, 8, 5, 4),
        (Cell::Gru, false, 0, false, false, MergeMode::Concat, 1, 128, 400, 5),
        (Cell::Lstm, false, 96, true, false, MergeMode::Concat, 1, 128, 400, 1),
        (Cell::Lstm, false, 0, false, false, MergeMode::Concat, 1, 128, 600, 4),
        // 3·126 recurrent rows are not whole quads: R row by row, the most loops per step (one
        // dispatch of all 200 steps would pass lavapipe's loop limit)
        (Cell::Gru, false, 0, false, false, MergeMode::Concat, 1, 126, 200, 4),
    ];
    for (n, (cell, lbr, proj, peepholes, forget_clip, merge, layers, hidden, steps, batch)) in
        cases.into_iter().enumerate()
    {
        let cfg = RandomConfig {
            direction: if steps > 10 { Direction::Forward } else { Direction::Bidirectional },
            layers,
            proj_size: proj,
            merge,
            peepholes,
            ..RandomConfig::simple(cell, 5, hidden)
        };
        let net = random::network(&cfg, 40 + n as u64, |mut s| {
            s.linear_before_reset = lbr;
            if forget_clip {
                s.input_forget = cell == Cell::Lstm;
                s.clip = Some(0.8);
            }
            if cell == Cell::Rnn {
                let act = Activation { alpha: 0.3, ..Activation::with_defaults(ActivationKind::LeakyRelu) };
                s.activations = vec![vec![act]; s.direction.count()];
            }
            s
        });
        let inp = random::inputs(&net, steps, batch, n as u64, true, true);
        let up = random_upstream(&net, &inp, n as u64 + 300);
        let label = format!("{cell:?} H {hidden} lbr {lbr} proj {proj} {merge:?} L {layers}");
        let mut trainer = GpuTrainer::new(Arc::clone(ctx), net.clone()).expect("trainer");
        trainer.set_walk(Some(Walk::Persistent));
        let (out, got) = trainer.forward_backward(&inp, &up).expect("gpu");
        let plan = wgpu_rnn::plan::train::TrainPlan::with_walk(&net, steps, batch, Walk::Persistent);
        assert_eq!(out.dispatches, plan.dispatches(), "{label}: the persistent plan ran");
        for (l, ly) in plan.layers.iter().enumerate() {
            assert!(ly.persistent, "{label}: layer {l} walks");
            if steps > 10 {
                assert!(ly.walk_steps() < steps, "{label}: one walk dispatch would do ({})", ly.walk_steps());
            }
        }
        let forward = wgpu_rnn::cpu::forward(&net, &inp).expect("cpu forward");
        close(&format!("{label} y"), &out.y, &forward.y);
        close(&format!("{label} h_n"), &out.h_n, &forward.h_n);
        let want = wgpu_rnn::cpu::backward(&net, &inp, &up).expect("cpu");
        assert_gradients_close(&label, &got, &want);
    }
}

/// Weight gradients summed over more rows (T*B) than one product takes (`MATMUL_K_CHUNK`: the
/// plan splits them into products that accumulate) against the f64 CPU reference, in the scalar
/// `matmul` (H 5) and its vec4 versions (H 8). lavapipe cuts a longer product short.
#[test]
fn weight_gradients_over_many_rows_match_the_cpu_reference() {
    use wgpu_rnn::plan::train::{MATMUL_K_CHUNK, TCommand, TrainPlan};
    use wgpu_rnn::random::{self, RandomConfig};
    use wgpu_rnn::{Cell, Direction};
    let ctx = common::gpu().context().expect("a GPU engine");
    let (t, b) = (700, 100);
    assert!(t * b > 2 * MATMUL_K_CHUNK);
    for (cell, hidden) in [(Cell::Rnn, 5), (Cell::Gru, 8)] {
        let cfg = RandomConfig { direction: Direction::Bidirectional, ..RandomConfig::simple(cell, hidden, hidden) };
        let net = random::network(&cfg, 5, |s| s);
        let plan = TrainPlan::new(&net, t, b);
        let longest =
            plan.commands.iter().filter_map(|c| if let TCommand::Matmul { p, .. } = c { Some(p.k) } else { None });
        assert_eq!(longest.max(), Some(MATMUL_K_CHUNK), "{cell:?}: products split at the chunk");
        let inp = random::inputs(&net, t, b, 5, true, false);
        let up = random_upstream(&net, &inp, 6);
        let (_, got) =
            GpuTrainer::new(Arc::clone(ctx), net.clone()).expect("trainer").forward_backward(&inp, &up).expect("gpu");
        let want = wgpu_rnn::cpu::backward(&net, &inp, &up).expect("cpu");
        assert_gradients_close(&format!("{cell:?} H {hidden} T {t} B {b}"), &got, &want);
    }
}
