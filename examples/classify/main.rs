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
//!
//! The dropout lesson (the tutorial's 4.4), `--dropout-lesson 0.5`: two LSTMs of two layers,
//! the same initial weights and batches, one without dropout and one with dropout 0.5 between
//! the layers, trained on a few hundred digits (`--lesson-digits`) so that the one without
//! dropout overfits. Each epoch measures the loss on the training digits and on the held-out
//! ones in evaluation mode (no dropout); `dropout.svg` draws the four curves.
//!
//!     cargo run --release --example classify -- --dropout-lesson 0.5

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use wgpu_rnn::random::{self, RandomConfig, Rng};
use wgpu_rnn::train::{
    Batch, BatchInputs, Dropout, HeadMode, LossKind, Optimizer, Targets, TrainConfig, TrainModel, Trainer,
};
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
    #[arg(long, default_value_t = 40, conflicts_with = "quick")]
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
    /// Eight epochs (the dropout lesson: 20; not with --epochs): seconds on lavapipe
    #[arg(long)]
    pub quick: bool,
    /// The dropout lesson: train without dropout and with this probability between two layers
    #[arg(long)]
    pub dropout_lesson: Option<f32>,
    /// Training digits of the dropout lesson (few, so that a model can overfit them)
    #[arg(long, default_value_t = 300)]
    pub lesson_digits: usize,
}

/// One epoch of the dropout lesson: (epoch, training loss, held-out loss, held-out accuracy),
/// the losses in evaluation mode.
pub type EpochLosses = (usize, f64, f64, f64);

/// What the dropout lesson measured.
#[derive(Debug, Clone)]
pub struct DropoutLesson {
    pub adapter: String,
    /// Per dropout probability, its curve.
    pub runs: Vec<(f32, Vec<EpochLosses>)>,
    pub train_size: usize,
    pub seconds: f64,
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
        Batch { inputs: BatchInputs::Features(x), steps: ROWS, batch: b, lengths: None, targets, source: None }
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
            common::argmax(&model.head.apply(&feats))
        })
        .collect())
}

/// The share of `idx` whose predicted class is their label.
fn accuracy(pred: &[usize], digits: &Digits, idx: &[usize]) -> f64 {
    pred.iter().zip(idx).filter(|(p, i)| **p == digits.labels[**i]).count() as f64 / idx.len().max(1) as f64
}

/// `0..n` shuffled.
fn shuffled(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.range(0, i));
    }
    order
}

/// Refuses sizes of 0 (the epochs as the run takes them: --quick sets its own).
fn check_sizes(opts: &Options, epochs: usize) -> Result<(), String> {
    if opts.hidden == 0 || opts.batch == 0 || epochs == 0 {
        return Err("--hidden, --batch and --epochs must be at least 1".into());
    }
    Ok(())
}

/// The dropout lesson: the same two-layer model trained without dropout and with
/// `--dropout-lesson` between its layers, on `--lesson-digits` digits; per epoch the training
/// and held-out losses in evaluation mode. Writes `dropout.svg`.
pub fn dropout_lesson(opts: &Options, engine: &Engine) -> Result<DropoutLesson, String> {
    let p = opts.dropout_lesson.unwrap_or(0.5);
    // a model must train past the point where it starts to overfit: 20 epochs when quick
    let epochs = if opts.quick { 20 } else { opts.epochs };
    check_sizes(opts, epochs)?;
    let cell = Cell::parse(&opts.cell).map_err(|e| e.to_string())?;
    let digits = Digits::load(&opts.data)?;
    let adapter = engine.adapter().map_or_else(|| "CPU reference (no GPU adapter)".to_string(), |a| a.name.clone());
    let order = shuffled(digits.labels.len(), &mut Rng::new(opts.seed));
    let (train, test) = order.split_at(order.len() * 4 / 5);
    let train = &train[..opts.lesson_digits.min(train.len())];
    if opts.batch == 0 || train.len() < opts.batch {
        return Err(format!("batch {} does not fit the {} training digits", opts.batch, train.len()));
    }
    println!("dropout lesson: {} training digits, {} held out; on {adapter}", train.len(), test.len());
    let mut rc = RandomConfig::simple(cell, COLS, opts.hidden);
    rc.layers = 2;
    let net = random::pytorch_network(&rc, opts.seed);
    let model = TrainModel::new(net, None, CLASSES, HeadMode::Last, opts.seed).map_err(|e| e.to_string())?;
    let (train_batch, test_batch) = (digits.batch(train), digits.batch(test));
    let start = Instant::now();
    let mut runs = Vec::new();
    for prob in [0.0, p] {
        let cfg = TrainConfig {
            loss: LossKind::CrossEntropy,
            optimizer: Optimizer::adam(opts.lr),
            clip_norm: Some(5.0),
            clip_value: None,
            dropout: Dropout { p: prob, seed: opts.seed, recurrent: 0.0 },
        };
        let mut trainer = Trainer::new(engine, model.clone(), cfg).map_err(|e| e.to_string())?;
        // the same batches for both runs
        let mut rng = Rng::new(opts.seed ^ 0xD0);
        let per_epoch = train.len() / opts.batch;
        let mut curve = Vec::new();
        for epoch in 1..=epochs {
            let order = shuffled(train.len(), &mut rng);
            let mut bar = common::Progress::new(format!("dropout {prob}: epoch {epoch}/{epochs}"), per_epoch);
            for k in 0..per_epoch {
                let idx: Vec<usize> = order[k * opts.batch..][..opts.batch].iter().map(|&i| train[i]).collect();
                common::step_and_read(&mut trainer, &digits.batch(&idx), k + 1 == per_epoch, |loss| bar.step(loss))?;
            }
            let train_loss = trainer.evaluate(&train_batch).map_err(|e| e.to_string())?;
            let test_loss = trainer.evaluate(&test_batch).map_err(|e| e.to_string())?;
            let model = trainer.model().map_err(|e| e.to_string())?;
            let acc = accuracy(&predict(engine, &model, &digits, test)?, &digits, test);
            curve.push((epoch, train_loss, test_loss, acc));
        }
        runs.push((prob, curve));
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("loss in evaluation mode (nats), and held-out accuracy:");
    println!("  epoch  | dropout 0: train  held-out  accuracy | dropout {p}: train  held-out  accuracy");
    for e in 0..epochs {
        let (a, b) = (runs[0].1[e], runs[1].1[e]);
        println!(
            "  {:>5}  |        {:>9.4} {:>9.4} {:>8.1}% |        {:>9.4} {:>9.4} {:>8.1}%",
            a.0,
            a.1,
            a.2,
            100.0 * a.3,
            b.1,
            b.2,
            100.0 * b.3
        );
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
    let plot = opts.out.join("dropout.svg");
    let series: Vec<common::Series> = runs
        .iter()
        .flat_map(|(prob, curve)| {
            [(1, "training"), (2, "held-out")].map(|(k, what)| common::Series {
                name: format!("{what} loss, dropout {prob}"),
                points: curve.iter().map(|c| (c.0 as f64, if k == 1 { c.1 } else { c.2 })).collect(),
            })
        })
        .collect();
    common::line_plot(
        &plot,
        &format!("dropout: {} H{} x2 on {} digits, {adapter}", cell.name().to_uppercase(), opts.hidden, train.len()),
        "epoch",
        "loss in evaluation mode (nats)",
        &series,
    )?;
    println!("wrote {}", plot.display());
    Ok(DropoutLesson { adapter, runs, train_size: train.len(), seconds })
}

/// Trains, tests and saves; prints progress and the confusion matrix.
pub fn run(opts: &Options, engine: &Engine) -> Result<Report, String> {
    let epochs = if opts.quick { 8 } else { opts.epochs };
    check_sizes(opts, epochs)?;
    let cell = Cell::parse(&opts.cell).map_err(|e| e.to_string())?;
    let digits = Digits::load(&opts.data)?;
    let adapter = engine.adapter().map_or_else(|| "CPU reference (no GPU adapter)".to_string(), |a| a.name.clone());
    let mut rng = Rng::new(opts.seed);
    let order = shuffled(digits.labels.len(), &mut rng);
    let (train, test) = order.split_at(order.len() * 4 / 5);
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
            let batch = digits.batch(&train_order[k * opts.batch..][..opts.batch]);
            common::step_and_read(&mut trainer, &batch, k + 1 == per_epoch, |loss| {
                sum += loss;
                bar.step(loss);
            })?;
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

/// What `main` ran.
enum Outcome {
    Trained(Box<Report>),
    Lesson(DropoutLesson),
}

#[allow(dead_code, reason = "tests include this file for `run` and call it themselves")]
fn main() -> std::process::ExitCode {
    let run_either = |o: &Options, e: &Engine| match o.dropout_lesson {
        Some(_) => dropout_lesson(o, e).map(Outcome::Lesson),
        None => run(o, e).map(|r| Outcome::Trained(Box::new(r))),
    };
    common::main("classify", run_either, |r: &Outcome| match r {
        Outcome::Trained(r) => {
            let acc = r.epochs.last().map_or(f64::NAN, |e| e.2);
            println!(
                "held-out accuracy {:.1}% -> {:.1}% in {:.0} s on {}",
                100.0 * r.untrained_accuracy,
                100.0 * acc,
                r.seconds,
                r.adapter
            );
        }
        Outcome::Lesson(l) => {
            for (p, curve) in &l.runs {
                let last = curve.last().map_or((0, f64::NAN, f64::NAN, f64::NAN), |c| *c);
                let best = curve.iter().map(|c| c.2).fold(f64::INFINITY, f64::min);
                println!(
                    "dropout {p}: training loss {:.4}, held-out loss {:.4} (best {:.4}), accuracy {:.1}%",
                    last.1,
                    last.2,
                    best,
                    100.0 * last.3
                );
            }
            println!("{:.0} s on {}", l.seconds, l.adapter);
        }
    })
}
