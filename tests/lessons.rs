//! The tutorial's lessons as measurements: how far back the gradient reaches
//! (`lessons::gradients`, `wgpu-rnn gradients`). The GPU measurement must agree with the CPU
//! reference, with a one-row-at-a-time measurement that needs no packing, and show what the
//! tutorial says: a plain RNN's gradient vanishes, scaling its recurrent weights up makes it
//! explode, and an LSTM whose forget gate stays open carries it far back.

mod common;

use wgpu_rnn::lessons::gradients::{self, Reach, ReachConfig};
use wgpu_rnn::network::{Inputs, Upstream};
use wgpu_rnn::random::Rng;
use wgpu_rnn::{Cell, Engine, Error};

fn small(cell: Cell) -> ReachConfig {
    ReachConfig { hidden: 16, steps: 60, ..ReachConfig::new(cell) }
}

fn gpu(cfg: &ReachConfig) -> Reach {
    let r = gradients::measure(common::gpu(), cfg).expect("measured on the GPU");
    assert!(r.gpu, "the GPU ran the passes");
    r
}

#[test]
fn distances_cover_one_to_t_in_order() {
    for t in [1, 2, 7, 60, 200, 1000] {
        let d = gradients::distances(t);
        assert_eq!(d.first(), Some(&1), "T {t}");
        assert_eq!(d.last(), Some(&t), "T {t}");
        assert!(d.windows(2).all(|w| w[0] < w[1]), "T {t}: {d:?}");
        assert!(d.len() <= 45, "T {t}: {} distances", d.len());
    }
}

#[test]
fn the_gpu_measures_what_the_cpu_reference_measures() {
    for cfg in [
        small(Cell::Rnn),
        ReachConfig { recurrent_scale: 3.0, ..small(Cell::Rnn) },
        small(Cell::Gru),
        ReachConfig { forget_bias: 3.0, ..small(Cell::Lstm) },
    ] {
        let g = gpu(&cfg);
        let c = gradients::measure(&Engine::cpu(), &cfg).expect("measured on the CPU");
        assert_eq!(g.distances, c.distances);
        for (k, (a, b)) in g.distances.iter().zip(g.norms.iter().zip(&c.norms)) {
            // f32 on the GPU against f64: relative where the norm is not vanishingly small
            assert!((a - b).abs() <= 1e-3 * b.abs() + 1e-12, "{}: distance {k}: gpu {a:e} cpu {b:e}", cfg.label());
        }
        let (a, b) = (g.weight_grad_norm, c.weight_grad_norm);
        assert!((a - b).abs() <= 1e-3 * b, "{}: ‖∇θ‖ gpu {a:e} cpu {b:e}", cfg.label());
        assert_eq!(g.clipped_norm, g.weight_grad_norm.min(1.0));
    }
}

/// ‖∂L/∂h_{T-k}‖ one sequence at a time on the CPU reference: run the first T - k steps, then
/// the backward of the rest from there. No packing, no batch.
fn one_row(cfg: &ReachConfig, k: usize) -> f64 {
    let engine = Engine::cpu();
    let model = engine.load(gradients::network(cfg)).expect("load");
    let (t, h) = (cfg.steps, cfg.hidden);
    let mut rng = Rng::new(cfg.seed ^ 0x5EED);
    let x = rng.vec(t * h, cfg.input_scale);
    let u = rng.vec(h, 1.0);
    let n = u.iter().map(|a| a * a).sum::<f32>().sqrt();
    let u: Vec<f32> = u.iter().map(|a| a / n).collect();
    let s = t - k;
    let (h0, c0) = if s == 0 {
        (vec![0.0; h], vec![0.0; h])
    } else {
        let out = model
            .forward(&Inputs { x: x[..s * h].to_vec(), steps: s, batch: 1, lengths: None, h0: None, c0: None })
            .expect("forward");
        (out.h_n, out.c_n.unwrap_or_else(|| vec![0.0; h]))
    };
    let lstm = cfg.cell == Cell::Lstm;
    let inp =
        Inputs { x: x[s * h..].to_vec(), steps: k, batch: 1, lengths: None, h0: Some(h0), c0: lstm.then_some(c0) };
    let g = model.backward(&inp, &Upstream { y: vec![0.0; k * h], h_n: Some(u), c_n: None }).expect("backward");
    g.h0.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt()
}

#[test]
fn each_distance_is_the_gradient_of_its_own_sequence() {
    for cfg in [small(Cell::Rnn), small(Cell::Gru), ReachConfig { forget_bias: 3.0, ..small(Cell::Lstm) }] {
        let r = gpu(&cfg);
        for k in [1, 5, 30, 60] {
            let want = one_row(&cfg, k);
            let got = r.norm_at(k);
            assert!((got - want).abs() <= 1e-3 * want + 1e-12, "{} distance {k}: {got:e} want {want:e}", cfg.label());
        }
    }
}

#[test]
fn the_tutorials_claims_hold_on_the_gpu() {
    let t = 60;
    let rnn = gpu(&small(Cell::Rnn));
    assert!(rnn.norm_at(t) < 1e-4 * rnn.norm_at(1), "a plain RNN's gradient vanishes: {:?}", rnn.norms);
    let exploding = gpu(&ReachConfig { recurrent_scale: 3.0, hidden: 64, ..small(Cell::Rnn) });
    assert!(
        exploding.norm_at(t) > 10.0 * exploding.norm_at(1),
        "scaled-up recurrent weights make it grow: {:?}",
        exploding.norms
    );
    assert!(exploding.weight_grad_norm > 10.0 && exploding.clipped_norm == 1.0, "clipping caps it");
    let lstm = gpu(&small(Cell::Lstm));
    let open = gpu(&ReachConfig { forget_bias: 5.0, ..small(Cell::Lstm) });
    assert!(
        open.norm_at(30) > 100.0 * lstm.norm_at(30),
        "an open forget gate carries the gradient back through c: {:e} against {:e}",
        open.norm_at(30),
        lstm.norm_at(30)
    );
}

#[test]
fn nonsense_settings_are_typed_errors() {
    let cpu = Engine::cpu();
    for cfg in [
        ReachConfig { forget_bias: 1.0, ..small(Cell::Gru) },
        ReachConfig { clip_norm: 0.0, ..small(Cell::Rnn) },
        ReachConfig { clip_norm: f32::NAN, ..small(Cell::Rnn) },
        ReachConfig { steps: 0, ..small(Cell::Rnn) },
        ReachConfig { recurrent_scale: f32::INFINITY, ..small(Cell::Rnn) },
    ] {
        match gradients::measure(&cpu, &cfg) {
            Err(Error::Invalid { .. }) => {}
            other => panic!("{cfg:?}: {other:?}"),
        }
    }
}

#[test]
fn the_plot_and_table_name_every_condition() {
    let reaches: Vec<Reach> =
        [small(Cell::Rnn), ReachConfig { recurrent_scale: 3.0, ..small(Cell::Rnn) }].iter().map(gpu).collect();
    let table = gradients::table(&reaches);
    assert!(table.contains("rnn R×3") && table.lines().count() == 3, "{table}");
    let dir = std::env::temp_dir().join(format!("wgpu-rnn-lessons-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("reach.svg");
    gradients::plot(&reaches, "test", &path).expect("plot");
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("<svg") && svg.contains("rnn R×3") && svg.contains("polyline"), "an SVG with both lines");
    std::fs::remove_dir_all(&dir).ok();
}
