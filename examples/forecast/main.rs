//! Time-series forecasting (the tutorial's 3.3): GRU against LSTM forecasting the Mauna Loa CO2
//! series five years ahead, both against a seasonal-naive baseline on a held-out tail (MAE and
//! RMSE), trained on the GPU, with a plot of the forecasts against the truth.
//!
//!     cargo run --release --example forecast                 # the full run (EXAMPLES.md)
//!     cargo run --release --example forecast -- --quick      # seconds on lavapipe
//!
//! Writes `forecast_gru.safetensors`, `forecast_lstm.safetensors` (PyTorch's names) and
//! `forecast.svg` into `--out`.
//!
//! The weekly series (`data/co2.csv`, see data/SOURCE.md) is averaged into calendar months
//! (a month without any value is interpolated from its neighbours). The last `--horizon`
//! months are held out. The models learn the month-to-month change: each step reads the change
//! into this month (scaled by the training changes' standard deviation) and the month of the
//! year (as sine and cosine), and predicts the next change. Trained on windows of `--window`
//! months from a zero state; the forecast reads the last window before the tail, then feeds
//! each predicted change back for `--horizon` months. Seasonal naive repeats the last observed
//! year.

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use wgpu_rnn::random::{self, RandomConfig, Rng};
use wgpu_rnn::train::{Batch, BatchInputs, HeadMode, LossKind, Optimizer, Targets, TrainConfig, TrainModel, Trainer};
use wgpu_rnn::{Cell, Engine, Inputs};

/// The series shipped with the example.
pub const DEFAULT_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/forecast/data/co2.csv");
/// Features per step: the scaled change, sin and cos of the month of the year.
const FEATURES: usize = 3;
/// Months in a season (the seasonal-naive period).
const SEASON: usize = 12;

#[derive(Parser, Debug, Clone)]
#[command(about = "GRU against LSTM forecasting Mauna Loa CO2, and a seasonal-naive baseline")]
pub struct Options {
    #[arg(long, default_value_t = 32)]
    pub hidden: usize,
    /// Months per training window
    #[arg(long, default_value_t = 60)]
    pub window: usize,
    /// Months held out and forecast
    #[arg(long, default_value_t = 60)]
    pub horizon: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Optimizer steps per model
    #[arg(long, default_value_t = 600, conflicts_with = "quick")]
    pub train_steps: usize,
    /// Adam's learning rate
    #[arg(long, default_value_t = 5e-3)]
    pub lr: f32,
    /// CSV of `date,value` rows (date YYYYMMDD, value empty where missing)
    #[arg(long, default_value = DEFAULT_DATA)]
    pub data: PathBuf,
    #[arg(long, default_value = "target/forecast")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// 150 steps per model (not with --train-steps): seconds on lavapipe
    #[arg(long)]
    pub quick: bool,
}

/// Errors of one forecast over the held-out tail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Errors {
    pub mae: f64,
    pub rmse: f64,
}

/// One model's result.
#[derive(Debug, Clone)]
pub struct ModelResult {
    pub cell: Cell,
    pub untrained: Errors,
    pub trained: Errors,
    pub forecast: Vec<f64>,
    pub seconds: f64,
    pub parameters: usize,
    pub model_path: PathBuf,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub adapter: String,
    pub months: usize,
    pub naive: Errors,
    pub models: Vec<ModelResult>,
}

/// Monthly means `(year, month, value)` of a weekly `date,value` CSV.
pub fn monthly(path: &Path) -> Result<Vec<(u32, u32, f64)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut months: Vec<(u32, u32, f64, usize)> = Vec::new(); // year, month, sum, count
    for (i, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{} line {}", path.display(), i + 1);
        let (date, value) = line.split_once(',').ok_or_else(|| format!("{}: expected `date,value`", at()))?;
        let date = date.trim();
        let ymd: u32 = date.parse().map_err(|_| format!("{}: date `{date}` is not YYYYMMDD", at()))?;
        let (year, month) = (ymd / 10000, ymd / 100 % 100);
        if date.len() != 8 || !(1..=12).contains(&month) {
            return Err(format!("{}: date `{date}` is not YYYYMMDD", at()));
        }
        if let Some(last) = months.last()
            && (year, month) < (last.0, last.1)
        {
            return Err(format!("{}: {date} comes before the row above it", at()));
        }
        if months.last().is_none_or(|m| (m.0, m.1) != (year, month)) {
            months.push((year, month, 0.0, 0));
        }
        let value = value.trim();
        if !value.is_empty() {
            let v: f64 = value.parse().map_err(|_| format!("{}: value `{value}` is not a number", at()))?;
            if !v.is_finite() {
                return Err(format!("{}: value {v} is not finite", at()));
            }
            let m = months.last_mut().expect("pushed");
            m.2 += v;
            m.3 += 1;
        }
    }
    // fill calendar months without any row, then interpolate months without any value
    let mut series: Vec<(u32, u32, Option<f64>)> = Vec::new();
    for &(y, m, sum, n) in &months {
        while let Some(&(py, pm, _)) = series.last() {
            let (ny, nm) = if pm == 12 { (py + 1, 1) } else { (py, pm + 1) };
            if (ny, nm) == (y, m) {
                break;
            }
            series.push((ny, nm, None));
        }
        series.push((y, m, (n > 0).then(|| sum / n as f64)));
    }
    let known: Vec<usize> = (0..series.len()).filter(|&i| series[i].2.is_some()).collect();
    if known.len() < 2 {
        return Err(format!("{} has fewer than two months with a value", path.display()));
    }
    let mut out = Vec::with_capacity(series.len());
    for (i, &(y, m, v)) in series.iter().enumerate() {
        let v = v.unwrap_or_else(|| {
            // between the nearest months with a value on each side (the nearest one at an end)
            let after = known.partition_point(|&k| k < i);
            let b = known[after.min(known.len() - 1)];
            let a = known[after.saturating_sub(1)];
            let (va, vb) = (series[a].2.unwrap_or_default(), series[b].2.unwrap_or_default());
            if a == b { va } else { va + (vb - va) * (i as f64 - a as f64) / (b as f64 - a as f64) }
        });
        out.push((y, m, v));
    }
    Ok(out)
}

/// The model's inputs for months `from..from + len` of the series: `[len, FEATURES]`.
fn features(months: &[(u32, u32, f64)], changes: &[f64], scale: f64, from: usize, len: usize) -> Vec<f32> {
    (from..from + len)
        .flat_map(|t| {
            let angle = 2.0 * std::f64::consts::PI * (months[t].1 as f64 - 1.0) / 12.0;
            [(changes[t] / scale) as f32, angle.sin() as f32, angle.cos() as f32]
        })
        .collect()
}

/// The change into month t (0 for the first month).
fn changes_of(months: &[(u32, u32, f64)]) -> Vec<f64> {
    (0..months.len()).map(|t| if t == 0 { 0.0 } else { months[t].2 - months[t - 1].2 }).collect()
}

/// Forecasts the months after `last` (the last known one) `horizon` steps ahead: the stack
/// reads the window before, then its own predictions.
fn forecast(
    engine: &Engine,
    model: &TrainModel,
    months: &[(u32, u32, f64)],
    scale: f64,
    window: usize,
    last: usize,
    horizon: usize,
) -> Result<Vec<f64>, String> {
    let stack = engine.load(model.stack.clone()).map_err(|e| e.to_string())?;
    let lstm = model.stack.cell() == Cell::Lstm;
    let mut known: Vec<(u32, u32, f64)> = months[..=last].to_vec();
    let mut changes = changes_of(&known);
    let head =
        |y: &[f32]| (model.head.bias[0] + model.head.weight.iter().zip(y).map(|(w, v)| w * v).sum::<f32>()) as f64;
    let from = last + 1 - window;
    let mut out = stack
        .forward(&Inputs {
            x: features(&known, &changes, scale, from, window),
            steps: window,
            batch: 1,
            lengths: None,
            h0: None,
            c0: None,
        })
        .map_err(|e| e.to_string())?;
    let w = model.head.inputs;
    let mut level = known[last].2;
    let mut predicted = Vec::with_capacity(horizon);
    for h in 0..horizon {
        let steps = out.y.len() / w;
        let change = head(&out.y[(steps - 1) * w..]) * scale;
        level += change;
        predicted.push(level);
        if h + 1 == horizon {
            break;
        }
        let (y, m, _) = months.get(last + 1 + h).copied().unwrap_or((0, 1, 0.0));
        known.push((y, m, level));
        changes.push(change);
        let t = known.len() - 1;
        out = stack
            .forward(&Inputs {
                x: features(&known, &changes, scale, t, 1),
                steps: 1,
                batch: 1,
                lengths: None,
                h0: Some(out.h_n),
                c0: if lstm { out.c_n } else { None },
            })
            .map_err(|e| e.to_string())?;
    }
    Ok(predicted)
}

fn errors(forecast: &[f64], truth: &[f64]) -> Errors {
    let n = truth.len().max(1) as f64;
    let mae = forecast.iter().zip(truth).map(|(f, t)| (f - t).abs()).sum::<f64>() / n;
    let rmse = (forecast.iter().zip(truth).map(|(f, t)| (f - t).powi(2)).sum::<f64>() / n).sqrt();
    Errors { mae, rmse }
}

/// Trains a GRU and an LSTM with the same budget, forecasts the tail with both and with seasonal
/// naive; prints the table, saves both models and the plot.
pub fn run(opts: &Options, engine: &Engine) -> Result<Report, String> {
    let train_steps = if opts.quick { 150 } else { opts.train_steps };
    let months = monthly(&opts.data)?;
    let (window, horizon) = (opts.window, opts.horizon);
    if window == 0 || horizon == 0 || opts.batch == 0 || opts.hidden == 0 || train_steps == 0 {
        return Err("window, horizon, batch, hidden and train-steps must be at least 1".into());
    }
    if months.len() < window + horizon + SEASON + 2 {
        return Err(format!(
            "{} gives {} months; a window of {window}, a horizon of {horizon} and a season need {}",
            opts.data.display(),
            months.len(),
            window + horizon + SEASON + 2
        ));
    }
    let adapter = engine.adapter().map_or_else(|| "CPU reference (no GPU adapter)".to_string(), |a| a.name.clone());
    let last = months.len() - horizon - 1; // the last month the models see
    let truth: Vec<f64> = months[last + 1..].iter().map(|m| m.2).collect();
    let changes = changes_of(&months);
    let train_changes = &changes[1..=last];
    let mean = train_changes.iter().sum::<f64>() / train_changes.len() as f64;
    let scale =
        (train_changes.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / train_changes.len() as f64).sqrt().max(1e-9);
    let first = months.first().expect("months");
    println!(
        "{} months {}-{:02} .. {}-{:02}; the last {horizon} held out; on {adapter}",
        months.len(),
        first.0,
        first.1,
        months[months.len() - 1].0,
        months[months.len() - 1].1
    );
    // seasonal naive: each held-out month repeats the same month of the last observed year
    let naive_forecast: Vec<f64> = (1..=horizon).map(|h| months[last + h - SEASON * h.div_ceil(SEASON)].2).collect();
    let naive = errors(&naive_forecast, &truth);
    let mut results = Vec::new();
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
    for cell in [Cell::Gru, Cell::Lstm] {
        let net = random::pytorch_network(&RandomConfig::simple(cell, FEATURES, opts.hidden), opts.seed);
        let model = TrainModel::new(net, None, 1, HeadMode::Steps, opts.seed).map_err(|e| e.to_string())?;
        let parameters = model.parameter_sizes().iter().sum();
        let untrained = errors(&forecast(engine, &model, &months, scale, window, last, horizon)?, &truth);
        let cfg = TrainConfig {
            loss: LossKind::Mse,
            optimizer: Optimizer::adam(opts.lr),
            clip_norm: Some(1.0),
            clip_value: None,
            dropout: Default::default(),
        };
        let mut trainer = Trainer::new(engine, model, cfg).map_err(|e| e.to_string())?;
        let mut rng = Rng::new(opts.seed ^ cell as u64);
        let (t, b) = (window, opts.batch);
        let start = Instant::now();
        let mut bar = common::Progress::new(format!("{:>4}", cell.name()), train_steps);
        for k in 0..train_steps {
            // windows of months 1..=last whose next change is known: starts in 1..=last - window
            let starts: Vec<usize> = (0..b).map(|_| rng.range(1, last - window)).collect();
            let mut x = vec![0f32; t * b * FEATURES];
            let mut y = vec![0f32; t * b];
            for (r, &s0) in starts.iter().enumerate() {
                let f = features(&months, &changes, scale, s0, t);
                for s in 0..t {
                    x[(s * b + r) * FEATURES..][..FEATURES].copy_from_slice(&f[s * FEATURES..][..FEATURES]);
                    y[s * b + r] = (changes[s0 + s + 1] / scale) as f32;
                }
            }
            let batch = Batch {
                inputs: BatchInputs::Features(x),
                steps: t,
                batch: b,
                lengths: None,
                targets: Targets::Values(y),
                source: None,
            };
            common::step_and_read(&mut trainer, &batch, k + 1 == train_steps, |loss| bar.step(loss))?;
        }
        let seconds = start.elapsed().as_secs_f64();
        let trained_model = trainer.model().map_err(|e| e.to_string())?;
        let predicted = forecast(engine, &trained_model, &months, scale, window, last, horizon)?;
        let trained = errors(&predicted, &truth);
        let model_path = opts.out.join(format!("forecast_{}.safetensors", cell.name()));
        trainer.save(&model_path).map_err(|e| e.to_string())?;
        results.push(ModelResult { cell, untrained, trained, forecast: predicted, seconds, parameters, model_path });
    }
    println!("held-out {horizon} months, ppmv:");
    println!("  {:<16}{:>8}{:>8}{:>12}{:>10}", "forecast", "MAE", "RMSE", "parameters", "train s");
    println!("  {:<16}{:>8.3}{:>8.3}{:>12}{:>10}", "seasonal naive", naive.mae, naive.rmse, 0, "-");
    for r in &results {
        println!(
            "  {:<16}{:>8.3}{:>8.3}{:>12}{:>10.1}   (untrained: MAE {:.3})",
            r.cell.name().to_uppercase(),
            r.trained.mae,
            r.trained.rmse,
            r.parameters,
            r.seconds,
            r.untrained.mae
        );
    }
    let plot = opts.out.join("forecast.svg");
    let shown = last.saturating_sub(5 * SEASON);
    let x_of = |i: usize| months[i].0 as f64 + (months[i].1 as f64 - 1.0) / 12.0;
    let mut series = vec![common::Series {
        name: "truth".into(),
        points: (shown..months.len()).map(|i| (x_of(i), months[i].2)).collect(),
    }];
    series.push(common::Series {
        name: format!("seasonal naive (MAE {:.2})", naive.mae),
        points: naive_forecast.iter().enumerate().map(|(h, &v)| (x_of(last + 1 + h), v)).collect(),
    });
    for r in &results {
        series.push(common::Series {
            name: format!("{} (MAE {:.2})", r.cell.name().to_uppercase(), r.trained.mae),
            points: r.forecast.iter().enumerate().map(|(h, &v)| (x_of(last + 1 + h), v)).collect(),
        });
    }
    common::line_plot(
        &plot,
        &format!("Mauna Loa CO2, {horizon} months ahead ({adapter})"),
        "year",
        "CO2 (ppmv)",
        &series,
    )?;
    println!("wrote {}", plot.display());
    Ok(Report { adapter, months: months.len(), naive, models: results })
}

#[allow(dead_code, reason = "tests include this file for `run` and call it themselves")]
fn main() -> std::process::ExitCode {
    common::main("forecast", run, |_: &Report| {})
}
