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
    use wgpu_rnn::random::{self, RandomConfig, Rng};
    use wgpu_rnn::{Cell, Direction, MergeMode, Upstream};
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
        let ld = net.layers.len() * net.directions();
        let mut rng = Rng::new(n as u64 + 100);
        let up = Upstream {
            y: rng.vec(inp.steps * inp.batch * net.merged_width(), 1.0),
            h_n: Some(rng.vec(ld * inp.batch * net.output_size(), 1.0)),
            c_n: (cell == Cell::Lstm).then(|| rng.vec(ld * inp.batch * hidden, 1.0)),
        };
        let want = wgpu_rnn::cpu::backward(&net, &inp, &up).expect("cpu");
        let model = common::gpu().load(net.clone()).expect("loads");
        assert!(model.is_gpu());
        let got = model.backward(&inp, &up).expect("gpu");
        let label = format!("{cell:?} I {input} H {hidden} lbr {lbr} proj {proj} {merge:?}");
        let close = |name: &str, a: &[f32], b: &[f32]| {
            assert_eq!(a.len(), b.len(), "{label} {name}: length");
            let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1.0);
            if let Some(i) = (0..a.len()).find(|&i| (a[i] - b[i]).abs() > 2e-4 * scale) {
                panic!("{label} {name}[{i}]: gpu {} cpu {}", a[i], b[i]);
            }
        };
        close("dx", &got.x, &want.x);
        close("dh0", &got.h0, &want.h0);
        for (l, (g, w)) in got.layers.iter().zip(&want.layers).enumerate() {
            close(&format!("layer {l} dW"), &g.w, &w.w);
            close(&format!("layer {l} dR"), &g.r, &w.r);
            close(&format!("layer {l} dB"), &g.b, &w.b);
            assert_eq!(g.p.is_some(), w.p.is_some(), "{label}: layer {l} dP");
            assert_eq!(g.proj.is_some(), w.proj.is_some(), "{label}: layer {l} dW_hr");
            if let (Some(gp), Some(wp)) = (&g.p, &w.p) {
                close(&format!("layer {l} dP"), gp, wp);
            }
            if let (Some(gp), Some(wp)) = (&g.proj, &w.proj) {
                close(&format!("layer {l} dW_hr"), gp, wp);
            }
        }
    }
}
