//! Tagging with a bidirectional RNN (the tutorial's 7.3-7.6): a BiLSTM tags every word of
//! sentences of varied length (packed), on a task where a word's tag depends on the word after
//! it. Token accuracy of a forward-only LSTM against the bidirectional one with each of the four
//! merge modes (concat, sum, average, mul): the tutorial's table of merge modes, measured.
//!
//!     cargo run --release --example tagger                 # the full run (EXAMPLES.md)
//!     cargo run --release --example tagger -- --quick      # seconds on lavapipe
//!
//! The corpus is generated (seeded), from this grammar:
//! - a sentence is 3 to 14 words, each drawn uniformly from four word classes: determiners
//!   (`the`, `a`, `every`), nouns, verbs, and ambiguous words that are nouns or verbs (`fish`,
//!   `watch`, `saw`, `ring`, ...);
//! - determiners, nouns and verbs are tagged DET, NOUN, VERB;
//! - an ambiguous word is a VERB when the next word is a determiner or a noun ("*fish* the
//!   river", "*watch* ships") and a NOUN otherwise: before a verb or an ambiguous word, and at the
//!   end of a sentence ("the *fish* swims").
//!
//! The next word is drawn independently of everything before it (a determiner or a noun half
//! the time), so nothing to the left of an ambiguous word tells its tag: a forward-only model
//! can do no better than guess on those (about half right, a little more for the last word of
//! a sentence, always a noun); a bidirectional one reads the next word. Words of a fixed class are easy
//! for both. Writes `tagger_<mode>.safetensors` and `tagger.svg` (held-out accuracy on the
//! ambiguous words during training) into `--out`.

#[path = "../common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use wgpu_rnn::random::{self, RandomConfig, Rng};
use wgpu_rnn::train::{Batch, BatchInputs, HeadMode, LossKind, Optimizer, Targets, TrainConfig, TrainModel, Trainer};
use wgpu_rnn::{Cell, Direction, Engine, Inputs, MergeMode};

const DETERMINERS: &[&str] = &["the", "a", "every"];
const NOUNS: &[&str] = &["river", "dog", "king", "ship", "forest", "sword", "night", "castle"];
const VERBS: &[&str] = &["sees", "takes", "loves", "finds", "crosses", "guards", "hears"];
const AMBIGUOUS: &[&str] = &["fish", "watch", "saw", "ring", "light", "train", "march", "book"];
/// Tags: DET, NOUN, VERB.
pub const TAGS: [&str; 3] = ["DET", "NOUN", "VERB"];
const MIN_LEN: usize = 3;
const MAX_LEN: usize = 14;

#[derive(Parser, Debug, Clone)]
#[command(about = "Forward-only against bidirectional LSTM taggers, and the four merge modes")]
pub struct Options {
    #[arg(long, default_value_t = 32)]
    pub hidden: usize,
    #[arg(long, default_value_t = 16)]
    pub embed: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Optimizer steps per model
    #[arg(long, default_value_t = 400, conflicts_with = "quick")]
    pub train_steps: usize,
    /// Adam's learning rate
    #[arg(long, default_value_t = 1e-2)]
    pub lr: f32,
    /// Held-out sentences
    #[arg(long, default_value_t = 512)]
    pub test: usize,
    #[arg(long, default_value = "target/tagger")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// 120 steps per model (not with --train-steps): seconds on lavapipe
    #[arg(long)]
    pub quick: bool,
}

/// One trained configuration's result.
#[derive(Debug, Clone)]
pub struct Row {
    /// "forward" or the merge mode of the bidirectional model.
    pub name: String,
    /// Held-out token accuracy, all words.
    pub accuracy: f64,
    /// Held-out accuracy on the ambiguous words.
    pub ambiguous: f64,
    pub seconds: f64,
    /// The first evaluated step with at least 95% on the ambiguous words, if any.
    pub steps_to_95: Option<usize>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub adapter: String,
    pub rows: Vec<Row>,
}

/// The vocabulary: every word of the grammar, in class order.
pub fn vocabulary() -> Vec<&'static str> {
    [DETERMINERS, NOUNS, VERBS, AMBIGUOUS].concat()
}

/// A sentence: word ids and their tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    pub words: Vec<usize>,
    pub tags: Vec<usize>,
}

/// Draws a sentence from the grammar (module docs).
pub fn sentence(rng: &mut Rng) -> Sentence {
    let vocab = vocabulary();
    let (d, n, v) = (DETERMINERS.len(), NOUNS.len(), VERBS.len());
    let len = rng.range(MIN_LEN, MAX_LEN);
    let words: Vec<usize> = (0..len)
        .map(|_| {
            let class = rng.range(0, 3);
            let (lo, count) = [(0, d), (d, n), (d + n, v), (d + n + v, AMBIGUOUS.len())][class];
            lo + rng.range(0, count - 1)
        })
        .collect();
    debug_assert!(words.iter().all(|&w| w < vocab.len()));
    let tags = (0..len)
        .map(|i| {
            let w = words[i];
            // an ambiguous word before a determiner or a noun is a verb, else a noun
            let verb = w >= d + n + v && words.get(i + 1).is_some_and(|&next| next < d + n);
            if w < d {
                0
            } else if w < d + n || (w >= d + n + v && !verb) {
                1
            } else {
                2
            }
        })
        .collect();
    Sentence { words, tags }
}

fn is_ambiguous(word: usize) -> bool {
    word >= DETERMINERS.len() + NOUNS.len() + VERBS.len()
}

/// Sentences as a packed batch, time-major `[T, B]` with T the longest; padding is word 0 and
/// tag 0, past each sentence's length (the loss ignores it).
fn batch(sentences: &[Sentence]) -> Batch {
    let b = sentences.len();
    let t = sentences.iter().map(|s| s.words.len()).max().unwrap_or(1);
    let mut words = vec![0; t * b];
    let mut tags = vec![0; t * b];
    for (r, s) in sentences.iter().enumerate() {
        for (i, (&w, &g)) in s.words.iter().zip(&s.tags).enumerate() {
            words[i * b + r] = w;
            tags[i * b + r] = g;
        }
    }
    let lengths = sentences.iter().map(|s| s.words.len()).collect();
    Batch {
        inputs: BatchInputs::Tokens(words),
        steps: t,
        batch: b,
        lengths: Some(lengths),
        targets: Targets::Classes(tags),
        source: None,
    }
}

/// (accuracy on every word, accuracy on the ambiguous words) of `model` on `sentences`: the
/// stack on the engine, embedding and head on the host.
fn evaluate(engine: &Engine, model: &TrainModel, sentences: &[Sentence]) -> Result<(f64, f64), String> {
    let stack = engine.load(model.stack.clone()).map_err(|e| e.to_string())?;
    let data = batch(sentences);
    let BatchInputs::Tokens(words) = &data.inputs else { unreachable!("tokens") };
    let emb = model.embedding.as_ref().ok_or("the model has no embedding")?;
    let x = emb.rows(words);
    let (t, b) = (data.steps, data.batch);
    let out = stack
        .forward(&Inputs { x, steps: t, batch: b, lengths: data.lengths.clone(), h0: None, c0: None })
        .map_err(|e| e.to_string())?;
    let w = model.head.inputs;
    let (mut right, mut all, mut amb_right, mut amb) = (0, 0, 0, 0);
    for (r, s) in sentences.iter().enumerate() {
        for (i, (&word, &tag)) in s.words.iter().zip(&s.tags).enumerate() {
            let y = &out.y[(i * b + r) * w..][..w];
            let pred = common::argmax(&model.head.apply(y));
            all += 1;
            right += usize::from(pred == tag);
            if is_ambiguous(word) {
                amb += 1;
                amb_right += usize::from(pred == tag);
            }
        }
    }
    Ok((right as f64 / all.max(1) as f64, amb_right as f64 / amb.max(1) as f64))
}

/// Trains the forward-only model and the bidirectional one with each merge mode on the same
/// sentences; prints the table, saves the models and the plot.
pub fn run(opts: &Options, engine: &Engine) -> Result<Report, String> {
    let steps = if opts.quick { 120 } else { opts.train_steps };
    if opts.batch == 0 || opts.test == 0 || opts.hidden == 0 || opts.embed == 0 || steps == 0 {
        return Err("batch, test, hidden, embed and train-steps must be at least 1".into());
    }
    let adapter = engine.adapter().map_or_else(|| "CPU reference (no GPU adapter)".to_string(), |a| a.name.clone());
    let vocab = vocabulary();
    let mut rng = Rng::new(opts.seed);
    let test: Vec<Sentence> = (0..opts.test).map(|_| sentence(&mut rng)).collect();
    let train: Vec<Vec<Sentence>> = (0..steps).map(|_| (0..opts.batch).map(|_| sentence(&mut rng)).collect()).collect();
    println!(
        "{} words, {} tags; {steps} batches of {} sentences ({MIN_LEN}-{MAX_LEN} words, packed), {} held out; on {adapter}",
        vocab.len(),
        TAGS.len(),
        opts.batch,
        opts.test
    );
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
    let configs = [
        ("forward", Direction::Forward, MergeMode::Concat),
        ("concat", Direction::Bidirectional, MergeMode::Concat),
        ("sum", Direction::Bidirectional, MergeMode::Sum),
        ("average", Direction::Bidirectional, MergeMode::Average),
        ("mul", Direction::Bidirectional, MergeMode::Mul),
    ];
    let (mut rows, mut curves) = (Vec::new(), Vec::new());
    for (name, direction, merge) in configs {
        let cfg = RandomConfig { direction, merge, ..RandomConfig::simple(Cell::Lstm, opts.embed, opts.hidden) };
        let net = random::network(&cfg, opts.seed, |s| s);
        let model = TrainModel::new(net, Some(vocab.len()), TAGS.len(), HeadMode::Steps, opts.seed)
            .map_err(|e| e.to_string())?;
        let train_cfg = TrainConfig {
            loss: LossKind::CrossEntropy,
            optimizer: Optimizer::adam(opts.lr),
            clip_norm: Some(5.0),
            clip_value: None,
            dropout: Default::default(),
        };
        let mut trainer = Trainer::new(engine, model, train_cfg).map_err(|e| e.to_string())?;
        let start = Instant::now();
        let mut bar = common::Progress::new(format!("{name:>8}"), steps);
        let mut curve = Vec::new();
        let mut reached = None;
        for (k, sentences) in train.iter().enumerate() {
            // often early (where the merge modes differ), then every eighth of the run
            let done = k + 1;
            let measured = (done <= 60 && done % 5 == 0) || done % (steps / 8).max(1) == 0 || done == steps;
            common::step_and_read(&mut trainer, &batch(sentences), measured, |loss| bar.step(loss))?;
            if measured {
                let model = trainer.model().map_err(|e| e.to_string())?;
                let ambiguous = evaluate(engine, &model, &test)?.1;
                curve.push((done as f64, ambiguous));
                if ambiguous >= 0.95 && reached.is_none() {
                    reached = Some(done);
                }
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        let model = trainer.model().map_err(|e| e.to_string())?;
        let (accuracy, ambiguous) = evaluate(engine, &model, &test)?;
        trainer.save(&opts.out.join(format!("tagger_{name}.safetensors"))).map_err(|e| e.to_string())?;
        rows.push(Row { name: name.to_string(), accuracy, ambiguous, seconds, steps_to_95: reached });
        curves.push(common::Series { name: name.to_string(), points: curve });
    }
    println!("held-out token accuracy ({} sentences):", opts.test);
    println!("  {:<22}{:>10}{:>12}{:>14}{:>10}", "model", "all words", "ambiguous", "steps to 95%", "train s");
    for r in &rows {
        let label =
            if r.name == "forward" { "LSTM, forward only".to_string() } else { format!("BiLSTM, merge {}", r.name) };
        let reached = r.steps_to_95.map_or("never".to_string(), |s| s.to_string());
        println!(
            "  {label:<22}{:>9.1}%{:>11.1}%{reached:>14}{:>10.1}",
            100.0 * r.accuracy,
            100.0 * r.ambiguous,
            r.seconds
        );
    }
    let plot = opts.out.join("tagger.svg");
    common::line_plot(
        &plot,
        &format!("tagger: accuracy on ambiguous words ({adapter})"),
        "optimizer step",
        "held-out accuracy",
        &curves,
    )?;
    println!("wrote {}", plot.display());
    Ok(Report { adapter, rows })
}

#[allow(dead_code, reason = "tests include this file for `run` and call it themselves")]
fn main() -> std::process::ExitCode {
    common::main("tagger", run, |_: &Report| {})
}
