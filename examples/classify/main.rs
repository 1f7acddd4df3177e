//! Sequence classification (the tutorial's 3.2 and 3.4): handwritten 8x8 digits read one pixel
//! row per time step by an LSTM (or GRU, RNN), classified from its final state by a Linear
//! head; trained on the GPU; accuracy and a confusion matrix on held-out digits.
//!
//!     cargo run --release --example classify                 # the full run (EXAMPLES.md)
//!     cargo run --release --example classify -- --quick      # seconds on lavapipe
//!     cargo run --release --example classify -- --cell gru --hidden 32
//!
//! Writes `classify.safetensors` (PyTorch's names: `rnn.weight_ih_l0`, ..., `head.weight`) and
//! `classify.svg` (training loss and held-out accuracy per epoch) into `--out`.
//!
//! The data (`data/digits.csv`, see data/SOURCE.md) is shuffled with `--seed` and split 80/20;
//! the held-out fifth is never trained on. Pixels are scaled from 0..16 to 0..1.

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use wgpu_rnn::random::{self, RandomConfig, Rng};
use wgpu_rnn::train::{Batch, BatchInputs, HeadMode, LossKind, Optimizer, Targets, TrainConfig, TrainModel, Trainer};
use wgpu_rnn::{Cell, Engine, Inputs};

/// The digits shipped with the example.
pub const DEFAULT_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/classify/data/digits.csv");
/// Pixel rows per digit: the time steps.
const ROWS: usize = 8;
/// Pixels per row: the features of a step.
const COLS: usize = 8;
const CLASSES: usize = 10;

#[derive(Parser, Debug, Clone)]
#[command(about = "Classify handwritten digits read row by row with an LSTM, GRU or RNN")]
pub struct Options {
    /// rnn, gru or lstm
    #[arg(long, default_value = "lstm")]
    pub cell: String,
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 40)]
    pub epochs: usize,
    /// Adam's learning rate
    #[arg(long, default_value_t = 5e-3)]
    pub lr: f32,
    /// CSV of 64 pixels and a label per row
    #[arg(long, default_value = DEFAULT_DATA)]
    pub data: PathBuf,
    #[arg(long, default_value = "target/classify")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Eight epochs: seconds on lavapipe
    #[arg(long)]
    pub quick: bool,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub adapter: String,
    /// Held-out accuracy of the untrained model.
    pub untrained_accuracy: f64,
    /// (epoch, mean training loss, held-out accuracy).
    pub epochs: Vec<(usize, f64, f64)>,
    /// `confusion[true][predicted]` on the held-out digits.
    pub confusion: [[usize; CLASSES]; CLASSES],
    pub test_size: usize,
    pub seconds: f64,
    pub model_path: PathBuf,
}

/// Digits: pixels `[n, 64]` scaled to 0..1, labels `[n]`.
pub struct Digits {
    pub pixels: Vec<f32>,
    pub labels: Vec<usize>,
}

impl Digits {
    /// Reads the CSV; a bad row is an error naming its line and what is wrong.
    pub fn load(path: &Path) -> Result<Digits, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let at = || format!("{} line {}", path.display(), i + 1);
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != ROWS * COLS + 1 {
                return Err(format!("{}: {} fields, expected 64 pixels and a label", at(), fields.len()));
            }
            for f in &fields[..ROWS * COLS] {
                let v: f32 = f.trim().parse().map_err(|_| format!("{}: pixel `{f}` is not a number", at()))?;
                if !(0.0..=16.0).contains(&v) {
                    return Err(format!("{}: pixel {v} is outside 0..16", at()));
                }
                pixels.push(v / 16.0);
            }
            let label = fields[ROWS * COLS].trim();
            match label.parse::<usize>() {
                Ok(d) if d < CLASSES => labels.push(d),
                _ => return Err(format!("{}: label `{label}` is not a digit 0-9", at())),
            }
        }
        if labels.len() < 10 {
            return Err(format!(
                "{} has {} digits; at least 10 are needed to train and test",
                path.display(),
                labels.len()
            ));
        }
        Ok(Digits { pixels, labels })
    }

    /// Digits `idx` as one batch, time-major: `[8 rows, B, 8 pixels]`.
    fn batch(&self, idx: &[usize]) -> Batch {
        let b = idx.len();
        let mut x = vec![0f32; ROWS * b * COLS];
        for (r, &i) in idx.iter().enumerate() {
            for t in 0..ROWS {
                x[(t * b + r) * COLS..][..COLS].copy_from_slice(&self.pixels[i * ROWS * COLS + t * COLS..][..COLS]);
            }
        }
        let targets = Targets::Classes(idx.iter().map(|&i| self.labels[i]).collect());
        Batch { inputs: BatchInputs::Features(x), steps: ROWS, batch: b, lengths: None, targets }
    }
}

/// The class the model gives each of `idx`: the stack on the engine, the head on the host.
fn predict(engine: &Engine, model: &TrainModel, digits: &Digits, idx: &[usize]) -> Result<Vec<usize>, String> {
    let stack = engine.load(model.stack.clone()).map_err(|e| e.to_string())?;
    let BatchInputs::Features(x) = digits.batch(idx).inputs else { unreachable!("features") };
    let b = idx.len();
    let out = stack
        .forward(&Inputs { x, steps: ROWS, batch: b, lengths: None, h0: None, c0: None })
        .map_err(|e| e.to_string())?;
    // HeadMode::Last reads the last layer's final states, directions side by side
    let (d, h) = (model.stack.directions(), model.stack.output_size());
    let last = (model.stack.layers.len() - 1) * d;
    Ok((0..b)
        .map(|r| {
            let feats: Vec<f32> =
                (0..d).flat_map(|k| out.h_n[((last + k) * b + r) * h..][..h].iter().copied()).collect();
            common::argmax(&common::linear(&model.head, &feats))
        })
        .collect())
}

/// The share of `idx` whose predicted class is their label.
fn accuracy(pred: &[usize], digits: &Digits, idx: &[usize]) -> f64 {
    pred.iter().zip(idx).filter(|(p, i)| **p == digits.labels[**i]).count() as f64 / idx.len().max(1) as f64
}

/// Trains, tests and saves; prints progress and the confusion matrix.
pub fn run(opts: &Options, engine: &Engine) -> Result<Report, String> {
    let epochs = if opts.quick { 8 } else { opts.epochs };
    let cell = Cell::parse(&opts.cell).map_err(|e| e.to_string())?;
    let digits = Digits::load(&opts.data)?;
    let adapter = engine.adapter().map_or_else(|| "CPU reference (no GPU adapter)".to_string(), |a| a.name.clone());
    // shuffle, then hold out a fifth
    let mut rng = Rng::new(opts.seed);
    let mut order: Vec<usize> = (0..digits.labels.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.range(0, i));
    }
    let split = order.len() * 4 / 5;
    let (train, test) = order.split_at(split);
    println!("{} digits: {} to train on, {} held out; on {adapter}", order.len(), train.len(), test.len());
    let net = random::pytorch_network(&RandomConfig::simple(cell, COLS, opts.hidden), opts.seed);
    let model = TrainModel::new(net, None, CLASSES, HeadMode::Last, opts.seed).map_err(|e| e.to_string())?;
    let cfg = TrainConfig {
        loss: LossKind::CrossEntropy,
        optimizer: Optimizer::adam(opts.lr),
        clip_norm: Some(5.0),
        clip_value: None,
        dropout: Default::default(),
    };
    let untrained_accuracy = accuracy(&predict(engine, &model, &digits, test)?, &digits, test);
    println!("untrained: held-out accuracy {:.1}% (chance 10%)", 100.0 * untrained_accuracy);
    let mut trainer = Trainer::new(engine, model, cfg).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut report_epochs = Vec::new();
    let mut train_order = train.to_vec();
    let per_epoch = train.len() / opts.batch.max(1);
    if per_epoch == 0 {
        return Err(format!("batch {} is larger than the {} training digits", opts.batch, train.len()));
    }
    for epoch in 1..=epochs {
        for i in (1..train_order.len()).rev() {
            train_order.swap(i, rng.range(0, i));
        }
        let mut bar = common::Progress::new(format!("epoch {epoch}/{epochs}"), per_epoch);
        let mut sum = 0.0;
        for k in 0..per_epoch {
            let stats =
                trainer.step(&digits.batch(&train_order[k * opts.batch..][..opts.batch])).map_err(|e| e.to_string())?;
            sum += stats.loss;
            bar.step(stats.loss);
        }
        let model = trainer.model().map_err(|e| e.to_string())?;
        let acc = accuracy(&predict(engine, &model, &digits, test)?, &digits, test);
        report_epochs.push((epoch, sum / per_epoch as f64, acc));
        println!("epoch {epoch}: training loss {:.3}, held-out accuracy {:.1}%", sum / per_epoch as f64, 100.0 * acc);
    }
    let seconds = start.elapsed().as_secs_f64();
    let model = trainer.model().map_err(|e| e.to_string())?;
    let pred = predict(engine, &model, &digits, test)?;
    let mut confusion = [[0usize; CLASSES]; CLASSES];
    for (p, &i) in pred.iter().zip(test) {
        confusion[digits.labels[i]][*p] += 1;
    }
    println!("confusion matrix on the held-out digits (rows: true digit, columns: predicted):");
    println!("      {}", (0..CLASSES).map(|c| format!("{c:>4}")).collect::<String>());
    for (t, row) in confusion.iter().enumerate() {
        println!("  {t:>2}  {}", row.iter().map(|n| format!("{n:>4}")).collect::<String>());
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
    let model_path = opts.out.join("classify.safetensors");
    trainer.save(&model_path).map_err(|e| e.to_string())?;
    let plot = opts.out.join("classify.svg");
    common::line_plot(
        &plot,
        &format!("classify: {} H{} on {adapter}", cell.name().to_uppercase(), opts.hidden),
        "epoch",
        "training loss (nats) / held-out accuracy",
        &[
            common::Series {
                name: "training loss".into(),
                points: report_epochs.iter().map(|e| (e.0 as f64, e.1)).collect(),
            },
            common::Series {
                name: "held-out accuracy".into(),
                points: [(0.0, untrained_accuracy)]
                    .into_iter()
                    .chain(report_epochs.iter().map(|e| (e.0 as f64, e.2)))
                    .collect(),
            },
        ],
    )?;
    println!("wrote {} and {}", model_path.display(), plot.display());
    Ok(Report {
        adapter,
        untrained_accuracy,
        epochs: report_epochs,
        confusion,
        test_size: test.len(),
        seconds,
        model_path,
    })
}

#[allow(dead_code, reason = "tests include this file for `run` and call it themselves")]
fn main() -> std::process::ExitCode {
    common::main("classify", run, |r: &Report| {
        let acc = r.epochs.last().map_or(f64::NAN, |e| e.2);
        println!(
            "held-out accuracy {:.1}% -> {:.1}% in {:.0} s on {}",
            100.0 * r.untrained_accuracy,
            100.0 * acc,
            r.seconds,
            r.adapter
        );
    })
}
