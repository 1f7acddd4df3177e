//! Translation with an encoder-decoder (the tutorial's 3.1.2): human-written dates ("3rd of
//! March 2021", "March 3, 21", "Wednesday, March 3, 2021", "03/03/21") into ISO form
//! ("2021-03-03"). An LSTM encoder reads the characters; its final state (h and c of every
//! layer) starts an LSTM decoder that writes the ISO characters one by one. Trained on the GPU
//! with teacher forcing (the decoder reads the true previous character), the gradient flowing
//! from the decoder's initial state back into the encoder; evaluated by greedy decoding (the
//! decoder reads its own previous output) on dates the training never saw.
//!
//!     cargo run --release --example seq2seq                  # the full run (EXAMPLES.md)
//!     cargo run --release --example seq2seq -- --quick       # seconds on lavapipe
//!     cargo run --release --example seq2seq -- --model target/seq2seq/seq2seq.safetensors \
//!         --date "4th of July 1976" --date "Dec 25 2030"
//!
//! Writes `seq2seq.safetensors` (PyTorch's names: `encoder.embedding.weight`,
//! `encoder.rnn.weight_ih_l0`, ..., `embedding.weight`, `rnn.*`, `head.*`) and `seq2seq.svg`
//! (training loss and held-out exact match against steps) into `--out`.
//!
//! The data is generated: dates from 1950-01-01 to 2049-12-31 written in eight formats
//! ([`FORMATS`]). A tenth of the days (chosen by a hash of the day) are held out: no format of
//! them is ever trained on. Two-digit years are unambiguous in that range (50-99: 19xx).

#[path = "../common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use wgpu_rnn::random::{self, RandomConfig, Rng};
use wgpu_rnn::train::{
    Batch, BatchInputs, HeadMode, LossKind, Optimizer, Source, Targets, TrainConfig, TrainModel, Trainer,
};
use wgpu_rnn::{Cell, Engine, Inputs};

/// Every character a source date may hold (the encoder's vocabulary, in this order).
pub const ALPHABET: &str = " ,./0123456789ADFJMNOSTWabcdefghijlmnoprstuvy";
/// What the decoder writes: digits and '-' (the head's classes); its inputs add a start token.
pub const ISO: &str = "0123456789-";
const START: usize = ISO.len();
/// Characters of an ISO date: the decoder's steps.
const ISO_LEN: usize = 10;
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
/// The human formats, by example (3 March 2021).
pub const FORMATS: [&str; 8] = [
    "3rd of March 2021",
    "March 3, 2021",
    "March 3, 21",
    "3 Mar 2021",
    "Wednesday, March 3, 2021",
    "03.03.2021",
    "03/03/21",
    "the 3rd of march 2021",
];
/// Days from 1950-01-01 to 2049-12-31.
const DAYS: usize = 36525;

#[derive(Parser, Debug, Clone)]
#[command(about = "Translate human-written dates into ISO form with an LSTM encoder-decoder")]
pub struct Options {
    /// rnn, gru or lstm (encoder and decoder alike)
    #[arg(long, default_value = "lstm")]
    pub cell: String,
    #[arg(long, default_value_t = 128, conflicts_with = "quick")]
    pub hidden: usize,
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Optimizer steps
    #[arg(long, default_value_t = 2000, conflicts_with = "quick")]
    pub steps: usize,
    /// Adam's learning rate
    #[arg(long, default_value_t = 1e-2)]
    pub lr: f32,
    /// Held-out date strings to measure on (formats in turn)
    #[arg(long, default_value_t = 800, conflicts_with = "quick")]
    pub test: usize,
    #[arg(long, default_value = "target/seq2seq")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// 150 steps of a smaller model, 240 held-out strings (not with --steps, --hidden or --test):
    /// about half a minute on lavapipe
    #[arg(long)]
    pub quick: bool,
    /// Translate with this saved model instead of training one
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A date to translate after training (or with --model); repeatable
    #[arg(long)]
    pub date: Vec<String>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub adapter: String,
    /// (step, mean training loss since the last point, held-out loss, exact match, characters right).
    pub points: Vec<(usize, f64, f64, f64, f64)>,
    /// Exact match per format, in [`FORMATS`]' order.
    pub per_format: Vec<f64>,
    /// A few held-out translations: (source, greedy output, truth).
    pub samples: Vec<(String, String, String)>,
    /// `--date` translations.
    pub translations: Vec<(String, String)>,
    pub seconds: f64,
    pub model_path: Option<PathBuf>,
}

/// A day as (year, month 1-12, day 1-31, weekday 0 = Monday).
pub fn date(day: usize) -> (usize, usize, usize, usize) {
    let leap = |y: usize| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let (mut y, mut rest) = (1950, day);
    loop {
        let len = if leap(y) { 366 } else { 365 };
        if rest < len {
            break;
        }
        rest -= len;
        y += 1;
    }
    let lens = [31, if leap(y) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut m = 0;
    while rest >= lens[m] {
        rest -= lens[m];
        m += 1;
    }
    // 1950-01-01 was a Sunday
    (y, m + 1, rest + 1, (day + 6) % 7)
}

/// Day `day` written in format `f` ([`FORMATS`]).
pub fn written(day: usize, f: usize) -> String {
    let (y, m, d, wd) = date(day);
    let ord = match (d % 10, d / 10) {
        (1, t) if t != 1 => "st",
        (2, t) if t != 1 => "nd",
        (3, t) if t != 1 => "rd",
        _ => "th",
    };
    let month = MONTHS[m - 1];
    match f {
        0 => format!("{d}{ord} of {month} {y}"),
        1 => format!("{month} {d}, {y}"),
        2 => format!("{month} {d}, {:02}", y % 100),
        3 => format!("{d} {} {y}", &month[..3]),
        4 => format!("{}, {month} {d}, {y}", WEEKDAYS[wd]),
        5 => format!("{d:02}.{m:02}.{y}"),
        6 => format!("{m:02}/{d:02}/{:02}", y % 100),
        _ => format!("the {d}{ord} of {} {y}", month.to_lowercase()),
    }
}

/// Day `day` in ISO form.
pub fn iso(day: usize) -> String {
    let (y, m, d, _) = date(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Whether a day is held out (never trained on, in any format): a tenth of them, by hash.
pub fn held_out(day: usize) -> bool {
    Rng::new(day as u64 ^ 0x5EED).range(0, 9) == 0
}

/// A source string as encoder ids; a character outside [`ALPHABET`] is an error naming it.
pub fn encode(s: &str) -> Result<Vec<usize>, String> {
    if s.is_empty() {
        return Err("an empty date".into());
    }
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            ALPHABET
                .find(c)
                .ok_or_else(|| format!("`{s}`: character {:?} at {i} is not one the model reads ({ALPHABET:?})", c))
        })
        .collect()
}

/// Pairs (source ids, day) as one batch: the source packed by length, the decoder reading the
/// start token then the ISO characters (teacher forcing), the targets the ISO characters.
fn batch(pairs: &[(Vec<usize>, usize)]) -> Batch {
    let b = pairs.len();
    let s = pairs.iter().map(|p| p.0.len()).max().unwrap_or(1);
    let mut src = vec![0; s * b];
    for (r, (ids, _)) in pairs.iter().enumerate() {
        for (t, &id) in ids.iter().enumerate() {
            src[t * b + r] = id;
        }
    }
    let (mut inputs, mut targets) = (vec![0; ISO_LEN * b], vec![0; ISO_LEN * b]);
    for (r, &(_, day)) in pairs.iter().enumerate() {
        let out: Vec<usize> = iso(day).chars().map(|c| ISO.find(c).expect("ISO characters")).collect();
        for t in 0..ISO_LEN {
            inputs[t * b + r] = if t == 0 { START } else { out[t - 1] };
            targets[t * b + r] = out[t];
        }
    }
    Batch {
        inputs: BatchInputs::Tokens(inputs),
        steps: ISO_LEN,
        batch: b,
        lengths: None,
        targets: Targets::Classes(targets),
        source: Some(Source {
            inputs: BatchInputs::Tokens(src),
            steps: s,
            lengths: Some(pairs.iter().map(|p| p.0.len()).collect()),
        }),
    }
}

/// Greedy decoding on the engine: the encoder over the packed sources, then the decoder one
/// step at a time from the encoder's final state, each step reading the character the step
/// before chose (the head on the host).
pub fn translate(engine: &Engine, model: &TrainModel, sources: &[Vec<usize>]) -> Result<Vec<String>, String> {
    let enc = model.encoder.as_ref().ok_or("the model has no encoder")?;
    let (enc_emb, dec_emb) = (
        enc.embedding.as_ref().ok_or("the encoder has no embedding")?,
        model.embedding.as_ref().ok_or("the decoder has no embedding")?,
    );
    let b = sources.len();
    let s = sources.iter().map(Vec::len).max().unwrap_or(1);
    let mut x = vec![0.0f32; s * b * enc_emb.dim];
    for (r, ids) in sources.iter().enumerate() {
        for (t, &id) in ids.iter().enumerate() {
            x[(t * b + r) * enc_emb.dim..][..enc_emb.dim]
                .copy_from_slice(&enc_emb.weight[id * enc_emb.dim..][..enc_emb.dim]);
        }
    }
    let lengths = Some(sources.iter().map(Vec::len).collect());
    let encoder = engine.load(enc.stack.clone()).map_err(|e| e.to_string())?;
    let state =
        encoder.forward(&Inputs { x, steps: s, batch: b, lengths, h0: None, c0: None }).map_err(|e| e.to_string())?;
    let decoder = engine.load(model.stack.clone()).map_err(|e| e.to_string())?;
    let lstm = model.stack.cell() == Cell::Lstm;
    let (mut h, mut c) = (Some(state.h_n), if lstm { state.c_n } else { None });
    let mut prev = vec![START; b];
    let mut out = vec![String::new(); b];
    for _ in 0..ISO_LEN {
        let x = dec_emb.rows(&prev);
        let y = decoder
            .forward(&Inputs { x, steps: 1, batch: b, lengths: None, h0: h.take(), c0: c.take() })
            .map_err(|e| e.to_string())?;
        let w = model.head.inputs;
        for r in 0..b {
            let next = common::argmax(&model.head.apply(&y.y[r * w..][..w]));
            out[r].push(ISO.chars().nth(next).unwrap_or('?'));
            prev[r] = next;
        }
        h = Some(y.h_n);
        c = if lstm { y.c_n } else { None };
    }
    Ok(out)
}

/// Exact match and share of characters right of greedy translations of `test`.
fn measure(
    engine: &Engine,
    model: &TrainModel,
    test: &[(Vec<usize>, usize, usize)],
) -> Result<(f64, f64, Vec<String>), String> {
    let sources: Vec<Vec<usize>> = test.iter().map(|t| t.0.clone()).collect();
    let got = translate(engine, model, &sources)?;
    let (mut exact, mut chars) = (0, 0);
    for (g, (_, day, _)) in got.iter().zip(test) {
        let want = iso(*day);
        exact += usize::from(*g == want);
        chars += g.chars().zip(want.chars()).filter(|(a, b)| a == b).count();
    }
    let n = test.len().max(1) as f64;
    Ok((exact as f64 / n, chars as f64 / (n * ISO_LEN as f64), got))
}

/// A saved model checked to be this example's: an encoder reading [`ALPHABET`], a decoder
/// reading [`ISO`] and the start token, a head writing [`ISO`].
fn load_model(path: &std::path::Path) -> Result<TrainModel, String> {
    let (model, _) = TrainModel::load(path).map_err(|e| e.to_string())?;
    let want = format!(
        "a seq2seq date model (encoder vocabulary {}, decoder vocabulary {}, {} classes)",
        ALPHABET.len(),
        ISO.len() + 1,
        ISO.len()
    );
    let enc_vocab = model.encoder.as_ref().and_then(|e| e.embedding.as_ref()).map(|e| e.vocab);
    let dec_vocab = model.embedding.as_ref().map(|e| e.vocab);
    if enc_vocab != Some(ALPHABET.len()) || dec_vocab != Some(ISO.len() + 1) || model.head.outputs != ISO.len() {
        return Err(format!(
            "{} is not {want}: encoder vocabulary {enc_vocab:?}, decoder vocabulary {dec_vocab:?}, {} classes",
            path.display(),
            model.head.outputs
        ));
    }
    Ok(model)
}

/// Trains (or loads), measures on held-out dates, translates `--date`s, saves and plots.
pub fn run(opts: &Options, engine: &Engine) -> Result<Report, String> {
    let adapter = engine.adapter().map_or_else(|| "CPU reference (no GPU adapter)".to_string(), |a| a.name.clone());
    let dates: Vec<Vec<usize>> = opts.date.iter().map(|d| encode(d)).collect::<Result<_, _>>()?;
    if let Some(path) = &opts.model {
        let model = load_model(path)?;
        let got = if dates.is_empty() { vec![] } else { translate(engine, &model, &dates)? };
        let translations: Vec<(String, String)> = opts.date.iter().cloned().zip(got).collect();
        for (d, g) in &translations {
            println!("{d:>28}  ->  {g}");
        }
        return Ok(Report {
            adapter,
            points: vec![],
            per_format: vec![],
            samples: vec![],
            translations,
            seconds: 0.0,
            model_path: None,
        });
    }
    let cell = Cell::parse(&opts.cell).map_err(|e| e.to_string())?;
    let (steps, hidden, tests) = if opts.quick { (150, 64, 240) } else { (opts.steps, opts.hidden, opts.test) };
    if opts.batch == 0 || opts.layers == 0 || hidden == 0 || steps == 0 || tests == 0 {
        return Err("--batch, --layers, --hidden, --steps and --test must be at least 1".into());
    }
    let (train_days, test_days): (Vec<usize>, Vec<usize>) = (0..DAYS).partition(|&d| !held_out(d));
    let mut rng = Rng::new(opts.seed);
    let test: Vec<(Vec<usize>, usize, usize)> = (0..tests.max(FORMATS.len()))
        .map(|i| {
            let (day, f) = (test_days[rng.range(0, test_days.len() - 1)], i % FORMATS.len());
            (encode(&written(day, f)).expect("generated dates use the alphabet"), day, f)
        })
        .collect();
    println!(
        "{} days to train on, {} held out ({} held-out strings); on {adapter}",
        train_days.len(),
        test_days.len(),
        test.len()
    );
    let mut rc = RandomConfig::simple(cell, 16, hidden);
    rc.layers = opts.layers;
    let encoder = random::pytorch_network(&rc, opts.seed);
    let decoder = random::pytorch_network(&rc, opts.seed + 1);
    let model = TrainModel::seq2seq(
        encoder,
        Some(ALPHABET.len()),
        decoder,
        Some(ISO.len() + 1),
        ISO.len(),
        HeadMode::Steps,
        opts.seed,
    )
    .map_err(|e| e.to_string())?;
    let cfg = TrainConfig {
        loss: LossKind::CrossEntropy,
        optimizer: Optimizer::adam(opts.lr),
        clip_norm: Some(1.0),
        clip_value: None,
        dropout: Default::default(),
    };
    let test_batch = batch(&test.iter().map(|t| (t.0.clone(), t.1)).collect::<Vec<_>>());
    let mut trainer = Trainer::new(engine, model, cfg).map_err(|e| e.to_string())?;
    let mut points = Vec::new();
    let mut evaluate = |trainer: &mut Trainer, step: usize, train_loss: f64| -> Result<(), String> {
        let loss = trainer.evaluate(&test_batch).map_err(|e| e.to_string())?;
        let (exact, chars, _) = measure(engine, &trainer.model().map_err(|e| e.to_string())?, &test)?;
        println!(
            "step {step}: training loss {train_loss:.3}, held-out loss {loss:.3}, exact match {:.1}%, characters {:.1}%",
            100.0 * exact,
            100.0 * chars
        );
        points.push((step, train_loss, loss, exact, chars));
        Ok(())
    };
    evaluate(&mut trainer, 0, f64::NAN)?;
    let every = (steps / 10).max(1);
    let start = Instant::now();
    let mut bar = common::Progress::new("training", steps);
    let mut sum = 0.0;
    for step in 1..=steps {
        let pairs: Vec<(Vec<usize>, usize)> = (0..opts.batch)
            .map(|_| {
                let day = train_days[rng.range(0, train_days.len() - 1)];
                (encode(&written(day, rng.range(0, FORMATS.len() - 1))).expect("generated dates use the alphabet"), day)
            })
            .collect();
        let report = step % every == 0 || step == steps;
        common::step_and_read(&mut trainer, &batch(&pairs), report, |loss| {
            sum += loss;
            bar.step(loss);
        })?;
        if report {
            let n = if step % every == 0 { every } else { step % every };
            evaluate(&mut trainer, step, sum / n as f64)?;
            sum = 0.0;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let model = trainer.model().map_err(|e| e.to_string())?;
    let (_, _, got) = measure(engine, &model, &test)?;
    let per_format: Vec<f64> = (0..FORMATS.len())
        .map(|f| {
            let of: Vec<usize> = (0..test.len()).filter(|&i| test[i].2 == f).collect();
            of.iter().filter(|&&i| got[i] == iso(test[i].1)).count() as f64 / of.len().max(1) as f64
        })
        .collect();
    println!("held-out exact match by format:");
    for (f, acc) in FORMATS.iter().zip(&per_format) {
        println!("  {f:>26}  {:5.1}%", 100.0 * acc);
    }
    let samples: Vec<(String, String, String)> = (0..test.len().min(8))
        .map(|i| {
            let src: String = test[i].0.iter().map(|&id| ALPHABET.chars().nth(id).unwrap_or('?')).collect();
            (src, got[i].clone(), iso(test[i].1))
        })
        .collect();
    for (src, g, want) in &samples {
        println!("  {src:>26}  ->  {g}  {}", if g == want { "ok".to_string() } else { format!("(want {want})") });
    }
    let translations: Vec<(String, String)> = if dates.is_empty() {
        vec![]
    } else {
        opts.date.iter().cloned().zip(translate(engine, &model, &dates)?).collect()
    };
    for (d, g) in &translations {
        println!("{d:>28}  ->  {g}");
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
    let model_path = opts.out.join("seq2seq.safetensors");
    trainer.save(&model_path).map_err(|e| e.to_string())?;
    let plot = opts.out.join("seq2seq.svg");
    let series = |name: &str, k: fn(&(usize, f64, f64, f64, f64)) -> f64| common::Series {
        name: name.into(),
        points: points.iter().filter(|p| k(p).is_finite()).map(|p| (p.0 as f64, k(p))).collect(),
    };
    common::line_plot(
        &plot,
        &format!("seq2seq dates: {} H{hidden} x{} on {adapter}", cell.name().to_uppercase(), opts.layers),
        "optimizer step",
        "loss (nats) / held-out share",
        &[
            series("training loss", |p| p.1),
            series("held-out loss", |p| p.2),
            series("held-out exact match", |p| p.3),
            series("held-out characters right", |p| p.4),
        ],
    )?;
    println!("wrote {} and {}", model_path.display(), plot.display());
    Ok(Report { adapter, points, per_format, samples, translations, seconds, model_path: Some(model_path) })
}

#[allow(dead_code, reason = "tests include this file for `run` and call it themselves")]
fn main() -> std::process::ExitCode {
    common::main("seq2seq", run, |r: &Report| {
        if let (Some(first), Some(last)) = (r.points.first(), r.points.last()) {
            println!(
                "held-out exact match {:.1}% -> {:.1}% (characters {:.1}% -> {:.1}%) in {:.0} s on {}",
                100.0 * first.3,
                100.0 * last.3,
                100.0 * first.4,
                100.0 * last.4,
                r.seconds,
                r.adapter
            );
        }
    })
}
