//! How far back the gradient reaches (the tutorial's vanishing and exploding gradients, 2.5 and
//! 4.6): ‖∂L/∂h_t‖ against the distance T - t, for L = u·h_T with a fixed unit vector u.
//!
//! One batched forward and one batched backward on the engine measure every distance at once,
//! with packed lengths: row r of the forward runs the sequence's first t_r steps and gives
//! (h, c) at t_r; row r of the backward starts there (h0, c0), runs the remaining T - t_r steps
//! and receives u at its final state, so its dh0 is ∂L/∂h_{t_r}. The same network and inputs
//! serve every row.
//!
//! Clipping acts on the weights' gradients: [`Reach::weight_grad_norm`] is their global norm
//! for the full sequence, [`Reach::clipped_norm`] what `clip_grad_norm_` leaves of it.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::network::{Inputs, Network, Upstream};
use crate::random::{self, RandomConfig, Rng};
use crate::spec::Cell;

/// What one measurement runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ReachConfig {
    pub cell: Cell,
    /// Hidden size H (the input size too).
    pub hidden: usize,
    /// Sequence length T: the longest distance measured.
    pub steps: usize,
    /// Every recurrent weight is multiplied by this (1: PyTorch's initialisation).
    pub recurrent_scale: f32,
    /// Added to the LSTM forget gate's input bias (0: PyTorch's initialisation).
    pub forget_bias: f32,
    /// `clip_grad_norm_`'s max norm for [`Reach::clipped_norm`].
    pub clip_norm: f32,
    /// Inputs are uniform in [-input_scale, input_scale).
    pub input_scale: f32,
    pub seed: u64,
}

impl ReachConfig {
    /// `cell` at PyTorch's initialisation, H 64, T 200, clipping to norm 1.
    pub fn new(cell: Cell) -> Self {
        ReachConfig {
            cell,
            hidden: 64,
            steps: 200,
            recurrent_scale: 1.0,
            forget_bias: 0.0,
            clip_norm: 1.0,
            input_scale: 1.0,
            seed: 1,
        }
    }

    /// A short name of the condition: "rnn", "rnn R×3", "lstm forget bias +3".
    pub fn label(&self) -> String {
        let mut s = self.cell.name().to_string();
        if self.recurrent_scale != 1.0 {
            s += &format!(" R×{}", self.recurrent_scale);
        }
        if self.forget_bias != 0.0 {
            s += &format!(" forget bias {:+}", self.forget_bias);
        }
        s
    }

    fn validate(&self) -> Result<()> {
        let bad = |what: &str, why: String| Err(Error::invalid(what, why));
        if self.hidden == 0 || self.steps == 0 {
            return bad("gradients", format!("hidden {} and steps {} must be positive", self.hidden, self.steps));
        }
        if !self.recurrent_scale.is_finite() || !self.forget_bias.is_finite() || !self.input_scale.is_finite() {
            return bad("gradients", "the recurrent scale, forget bias and input scale must be finite".into());
        }
        if self.forget_bias != 0.0 && self.cell != Cell::Lstm {
            return bad("forget bias", format!("only an LSTM has a forget gate, not {}", self.cell.name()));
        }
        if self.clip_norm.is_nan() || self.clip_norm <= 0.0 {
            return bad("clip norm", format!("{} is not a positive number", self.clip_norm));
        }
        Ok(())
    }
}

/// One measured condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Reach {
    pub config: ReachConfig,
    /// Distances T - t measured, ascending (1 ..= T).
    pub distances: Vec<usize>,
    /// ‖∂L/∂h_t‖ at each distance.
    pub norms: Vec<f64>,
    /// Global norm of the weights' gradients of L over the full sequence.
    pub weight_grad_norm: f64,
    /// That norm after `clip_grad_norm_(clip_norm)`: min(norm, clip_norm).
    pub clipped_norm: f64,
    /// Whether the GPU ran the passes (else the CPU reference).
    pub gpu: bool,
}

impl Reach {
    /// ‖∂L/∂h_t‖ at the measured distance nearest to `distance`.
    pub fn norm_at(&self, distance: usize) -> f64 {
        let i = self.distances.iter().enumerate().min_by_key(|(_, d)| d.abs_diff(distance)).map_or(0, |(i, _)| i);
        self.norms.get(i).copied().unwrap_or(f64::NAN)
    }
}

/// The distances measured for T steps: 1, 2, 5, then about 40 evenly spaced up to T.
pub fn distances(steps: usize) -> Vec<usize> {
    let stride = steps.div_ceil(40).max(1);
    let mut v: Vec<usize> = [1, 2, 5].into_iter().chain((stride..=steps).step_by(stride)).chain([steps]).collect();
    v.retain(|&d| d >= 1 && d <= steps);
    v.sort();
    v.dedup();
    v
}

/// The network a condition measures: one forward layer, PyTorch's initialisation (GRU as
/// PyTorch's, linear_before_reset), then the condition's scale and forget bias.
pub fn network(cfg: &ReachConfig) -> Network {
    let mut net = random::pytorch_network(&RandomConfig::simple(cfg.cell, cfg.hidden, cfg.hidden), cfg.seed);
    let h = cfg.hidden;
    for layer in &mut net.layers {
        layer.weights.r.iter_mut().for_each(|w| *w *= cfg.recurrent_scale);
        if cfg.cell == Cell::Lstm {
            // B = [Wb i, o, f, c | Rb ...]: the forget gate's input bias
            layer.weights.b[2 * h..3 * h].iter_mut().for_each(|b| *b += cfg.forget_bias);
        }
    }
    net
}

/// Measures one condition on `engine` (its GPU, or the CPU reference on a CPU engine).
pub fn measure(engine: &Engine, cfg: &ReachConfig) -> Result<Reach> {
    cfg.validate()?;
    let net = network(cfg);
    let model = engine.load(net)?;
    let (t, h) = (cfg.steps, cfg.hidden);
    let lstm = cfg.cell == Cell::Lstm;
    let mut rng = Rng::new(cfg.seed ^ 0x5EED);
    let x = rng.vec(t * h, cfg.input_scale); // [T, I]
    let u = {
        let v = rng.vec(h, 1.0);
        let n = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
        v.into_iter().map(|a| a / n).collect::<Vec<f32>>()
    };
    let dist = distances(t);
    let rows = dist.len();
    // (h, c) after the first t - k steps of the sequence, one row per distance k
    let starts: Vec<usize> = dist.iter().map(|&k| t - k).collect();
    let mut h0 = vec![0f32; rows * h];
    let mut c0 = vec![0f32; rows * h];
    if starts.iter().any(|&s| s > 0) {
        let steps = *starts.iter().max().unwrap_or(&1);
        let mut xs = vec![0f32; steps * rows * h];
        for (r, &s) in starts.iter().enumerate() {
            for step in 0..s {
                xs[(step * rows + r) * h..][..h].copy_from_slice(&x[step * h..][..h]);
            }
        }
        let lengths = starts.iter().map(|&s| s.max(1)).collect();
        let out = model.forward(&Inputs { x: xs, steps, batch: rows, lengths: Some(lengths), h0: None, c0: None })?;
        for (r, &s) in starts.iter().enumerate() {
            if s > 0 {
                h0[r * h..][..h].copy_from_slice(&out.h_n[r * h..][..h]);
                if let Some(c) = &out.c_n {
                    c0[r * h..][..h].copy_from_slice(&c[r * h..][..h]);
                }
            }
        }
    }
    // from there to the end: row r runs steps t - k .. t and receives u at its final h
    let mut xs = vec![0f32; t * rows * h];
    for (r, &s) in starts.iter().enumerate() {
        for step in 0..t - s {
            xs[(step * rows + r) * h..][..h].copy_from_slice(&x[(s + step) * h..][..h]);
        }
    }
    let inp =
        Inputs { x: xs, steps: t, batch: rows, lengths: Some(dist.clone()), h0: Some(h0), c0: lstm.then_some(c0) };
    let up = Upstream { y: vec![0.0; t * rows * h], h_n: Some(u.repeat(rows)), c_n: None };
    let grads = model.backward(&inp, &up)?;
    let norms = (0..rows).map(|r| l2(&grads.h0[r * h..][..h])).collect();
    // the weights' gradients of L over the whole sequence (the row of distance T alone)
    let full = Inputs { x: x.clone(), steps: t, batch: 1, lengths: None, h0: None, c0: None };
    let g = model.backward(&full, &Upstream { y: vec![0.0; t * h], h_n: Some(u.clone()), c_n: None })?;
    let squares: f64 = g
        .layers
        .iter()
        .flat_map(|l| [&l.w, &l.r, &l.b].into_iter().chain(l.p.iter()).chain(l.proj.iter()))
        .map(|v| l2(v).powi(2))
        .sum();
    let weight_grad_norm = squares.sqrt();
    Ok(Reach {
        config: cfg.clone(),
        distances: dist,
        norms,
        weight_grad_norm,
        clipped_norm: weight_grad_norm.min(cfg.clip_norm as f64),
        gpu: engine.is_gpu(),
    })
}

fn l2(v: &[f32]) -> f64 {
    v.iter().map(|&a| (a as f64).powi(2)).sum::<f64>().sqrt()
}

/// The table `wgpu-rnn gradients` prints: ‖∂L/∂h_t‖ at a few distances, then the weights'
/// gradient norm before and after clipping.
pub fn table(reaches: &[Reach]) -> String {
    let Some(first) = reaches.first() else { return String::new() };
    let t = first.config.steps;
    let mut cols: Vec<usize> = [1, 10, 25, 50, 100, 200, 500, 1000].into_iter().filter(|&d| d < t).collect();
    cols.push(t);
    let mut s = format!("{:<24}", "‖∂L/∂h_t‖ at T - t =");
    for d in &cols {
        s += &format!("{:>10}", d);
    }
    s += &format!("{:>12}{:>12}\n", "‖∇θ‖", "clipped");
    for r in reaches {
        s += &format!("{:<24}", r.config.label());
        for &d in &cols {
            s += &format!("{:>10.2e}", r.norm_at(d));
        }
        s += &format!("{:>12.3e}{:>12.3e}\n", r.weight_grad_norm, r.clipped_norm);
    }
    s
}

/// Draws ‖∂L/∂h_t‖ against T - t on a log scale, one line per condition, and the weights'
/// gradient norm before and after clipping beside it.
pub fn plot(reaches: &[Reach], adapter: &str, path: &std::path::Path) -> Result<()> {
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| Error::File { path: path.display().to_string(), why: e.to_string() };
    let root = SVGBackend::new(path, (1100, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(720);
    let floor = 1e-30;
    let all = || reaches.iter().flat_map(|r| r.norms.iter().copied()).filter(|v| v.is_finite());
    let lo = all().fold(f64::INFINITY, f64::min).max(floor) / 2.0;
    let hi = all().fold(floor, f64::max) * 2.0;
    let t = reaches.iter().map(|r| r.config.steps).max().unwrap_or(1) as f64;
    let mut chart = ChartBuilder::on(&left)
        .caption(format!("how far back the gradient reaches ({adapter})"), ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..t * 1.02, (lo..hi).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("distance T - t (steps back)")
        .y_desc("‖∂L/∂h_t‖")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, r) in reaches.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = r.distances.iter().zip(&r.norms).map(|(&d, &n)| (d as f64, n.max(floor))).collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(r.config.label())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw().map_err(|e| err(&e))?;
    // right: the weights' gradient norm, before and after clipping, per condition
    let gmax = reaches.iter().map(|r| r.weight_grad_norm).filter(|v| v.is_finite()).fold(1e-30, f64::max) * 4.0;
    let gmin =
        reaches.iter().map(|r| r.clipped_norm.min(r.weight_grad_norm)).fold(f64::INFINITY, f64::min).max(floor) / 4.0;
    let n = reaches.len().max(1) as f64;
    let mut bars = ChartBuilder::on(&right)
        .caption(
            format!("‖∇θ‖ (dark), clipped to {} (light)", reaches.first().map_or(1.0, |r| r.config.clip_norm)),
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..n, (gmin..gmax).log_scale())
        .map_err(|e| err(&e))?;
    bars.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .x_desc("conditions, in the legend's order")
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, r) in reaches.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let x = i as f64;
        let before = r.weight_grad_norm.max(floor);
        let after = r.clipped_norm.max(floor);
        bars.draw_series([Rectangle::new([(x + 0.1, gmin), (x + 0.45, before)], color.filled())])
            .map_err(|e| err(&e))?;
        bars.draw_series([Rectangle::new([(x + 0.5, gmin), (x + 0.85, after)], color.mix(0.4).filled())])
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
