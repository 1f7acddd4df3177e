//! What the trained examples share: a progress bar on stderr, training steps whose losses are
//! read back a few steps at a time, and an SVG line plot. Included by each example with
//! `#[path = "../common/mod.rs"] mod common;` (not an example itself).

#![allow(dead_code, reason = "each example uses part of it")]

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

/// A one-line progress bar on stderr: `label [#####.....] 12/40  loss 2.314  8.1 steps/s`.
pub struct Progress {
    label: String,
    total: usize,
    done: usize,
    start: Instant,
}

impl Progress {
    pub fn new(label: impl Into<String>, total: usize) -> Self {
        Progress { label: label.into(), total: total.max(1), done: 0, start: Instant::now() }
    }

    /// One more step done; `loss` shown beside the bar. On a terminal the bar redraws in place;
    /// elsewhere (a CI log) a line every tenth of the way.
    pub fn step(&mut self, loss: f64) {
        self.done += 1;
        let tty = std::io::stderr().is_terminal();
        let tenth = self.total.div_ceil(10);
        if !tty && self.done % tenth != 0 && self.done != self.total {
            return;
        }
        let width = 30;
        let filled = width * self.done.min(self.total) / self.total;
        let rate = self.done as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
        eprint!(
            "{}{} [{}{}] {}/{}  loss {:.3}  {:.1} steps/s ",
            if tty { "\r" } else { "" },
            self.label,
            "#".repeat(filled),
            ".".repeat(width - filled),
            self.done,
            self.total,
            loss,
            rate
        );
        if self.done >= self.total || !tty {
            eprintln!();
        }
        std::io::stderr().flush().ok();
    }
}

/// Runs an example: its options from the command line, an engine (the GPU; the CPU reference
/// with a warning when there is no adapter), `run`, then `done` with its report. An error is one
/// line on stderr, `name: why`, and exit code 1.
pub fn main<O: clap::Parser, R>(
    name: &str,
    run: impl FnOnce(&O, &wgpu_rnn::Engine) -> Result<R, String>,
    done: impl FnOnce(&R),
) -> std::process::ExitCode {
    let opts = O::parse();
    let result = wgpu_rnn::Engine::new().map_err(|e| e.to_string()).and_then(|engine| run(&opts, &engine));
    match result {
        Ok(report) => {
            done(&report);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Training steps between readbacks of their losses in [`step_and_read`].
pub const READ_EVERY: u64 = 16;

/// One training step on `batch`, submitted without waiting; after every [`READ_EVERY`]th step
/// of the trainer, and after the step with `last`, the losses of the steps submitted since
/// come back in one readback (`Trainer::unread_stats`) and each goes to `seen`, in order. The
/// GPU runs ahead instead of waiting for every step's loss; a step whose loss or update was not
/// finite is the error, as from `Trainer::step`.
pub fn step_and_read(
    trainer: &mut wgpu_rnn::train::Trainer,
    batch: &wgpu_rnn::train::Batch,
    last: bool,
    mut seen: impl FnMut(f64),
) -> Result<(), String> {
    trainer.step_unread(batch).map_err(|e| e.to_string())?;
    if last || trainer.steps() % READ_EVERY == 0 {
        for (_, stats) in trainer.unread_stats().map_err(|e| e.to_string())? {
            seen(stats.map_err(|e| e.to_string())?.loss);
        }
    }
    Ok(())
}

/// The index of the largest value (the predicted class).
pub fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(k, _)| k)
}

/// One named line of a plot.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Draws `series` as lines on one chart into an SVG at `path`.
pub fn line_plot(path: &Path, title: &str, x_desc: &str, y_desc: &str, series: &[Series]) -> Result<(), String> {
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let points = || series.iter().flat_map(|s| s.points.iter()).filter(|p| p.0.is_finite() && p.1.is_finite());
    let (x0, x1) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y0, y1) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if !x0.is_finite() || !y0.is_finite() {
        return Err(format!("{}: nothing to plot", path.display()));
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1.max(x0 + 1e-9), (y0 - pad)..(y1 + pad))
        .map_err(|e| err(&e))?;
    chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw().map_err(|e| err(&e))?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        if s.points.len() <= 60 {
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| err(&e))?;
        }
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw().map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
