//! The trained examples learn: each runs its `--quick` mode on the GPU and must end well below
//! where it started on held-out data. Bad data is a clear error, never a panic.

#![allow(clippy::duplicate_mod, reason = "each example includes examples/common, as it does when built alone")]

mod common;

#[path = "../examples/char_rnn/main.rs"]
#[allow(dead_code, reason = "the example's main is not called here")]
mod char_rnn;

#[path = "../examples/classify/main.rs"]
#[allow(dead_code, reason = "the example's main is not called here")]
mod classify;

#[path = "../examples/forecast/main.rs"]
#[allow(dead_code, reason = "the example's main is not called here")]
mod forecast;

#[path = "../examples/seq2seq/main.rs"]
#[allow(dead_code, reason = "the example's main is not called here")]
mod seq2seq;

#[path = "../examples/tagger/main.rs"]
#[allow(dead_code, reason = "the example's main is not called here")]
mod tagger;

use std::path::PathBuf;

use clap::Parser;
use wgpu_rnn::train::TrainModel;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wgpu-rnn-examples-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn char_rnn_options(args: &[&str]) -> char_rnn::Options {
    char_rnn::Options::parse_from(["char_rnn"].iter().chain(args))
}

#[test]
fn char_rnn_learns_macbeth_on_the_gpu() {
    let out = temp_dir("char_rnn");
    let opts = char_rnn_options(&["--quick", "--out", out.to_str().unwrap()]);
    let r = char_rnn::run(&opts, common::gpu()).expect("the quick run trains");
    assert!(!r.adapter.contains("CPU"), "trained on the GPU: {}", r.adapter);
    let uniform = (r.vocab as f64).log2();
    assert!((r.untrained_bpc - uniform).abs() < 1.5, "untrained {} against uniform {uniform}", r.untrained_bpc);
    let last = r.validation.last().expect("validated").1;
    // learning: held-out bits per character well below the untrained model's (unigram
    // statistics alone give about 4.4 of 6.1 bits; a model that learns nothing stays near 6)
    assert!(last < 0.7 * r.untrained_bpc, "validation {last:.3} bits/char against {:.3} untrained", r.untrained_bpc);
    assert_eq!(r.sample.chars().count(), 120, "sampled the quick run's 120 characters");
    // the saved model loads back as the same shapes, under PyTorch's names
    let (model, optimizer) = TrainModel::load(&r.model_path).expect("the saved model loads");
    assert_eq!(model.embedding.as_ref().map(|e| e.vocab), Some(r.vocab));
    assert_eq!(model.head.outputs, r.vocab);
    assert!(optimizer.is_some(), "the optimizer state is saved with it");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("char_rnn.json")).unwrap()).unwrap();
    assert_eq!(meta["vocab"].as_str().map(|v| v.chars().count()), Some(r.vocab));
    assert!(std::fs::read_to_string(out.join("char_rnn.svg")).unwrap().contains("<svg"));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn char_rnn_refuses_bad_text_and_prompts() {
    let out = temp_dir("char_rnn_bad");
    let empty = out.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let short = out.join("short.txt");
    std::fs::write(&short, "to be or not to be").unwrap();
    let missing = out.join("missing.txt");
    let o = out.to_str().unwrap();
    for (args, want) in [
        (vec!["--text", missing.to_str().unwrap()], "cannot read the text"),
        (vec!["--text", empty.to_str().unwrap()], "distinct characters"),
        (vec!["--text", short.to_str().unwrap()], "too short"),
        (vec!["--prompt", "MACBETH ☠"], "not in the text's vocabulary"),
        (vec!["--prompt", ""], "prompt is empty"),
        (vec!["--cell", "transformer"], "transformer"),
        (vec!["--dropout", "1.5"], "dropout"),
    ] {
        let mut all = vec!["--quick", "--out", o];
        all.extend(args.iter().copied());
        match char_rnn::run(&char_rnn_options(&all), common::gpu()) {
            Err(e) => assert!(e.contains(want), "{args:?}: {e}"),
            Ok(_) => panic!("{args:?} ran"),
        }
    }
    std::fs::remove_dir_all(&out).ok();
}

fn classify_options(args: &[&str]) -> classify::Options {
    classify::Options::parse_from(["classify"].iter().chain(args))
}

#[test]
fn classify_learns_digits_on_the_gpu() {
    let out = temp_dir("classify");
    let r = classify::run(&classify_options(&["--quick", "--out", out.to_str().unwrap()]), common::gpu())
        .expect("the quick run trains");
    assert!(!r.adapter.contains("CPU"), "trained on the GPU: {}", r.adapter);
    assert!(r.untrained_accuracy < 0.3, "untrained accuracy {} is near chance (0.1)", r.untrained_accuracy);
    let acc = r.epochs.last().expect("an epoch").2;
    assert!(acc > 0.7, "held-out accuracy {acc} is well above chance (0.1)");
    let total: usize = r.confusion.iter().flatten().sum();
    assert_eq!(total, r.test_size, "every held-out digit is in the confusion matrix");
    let right: usize = (0..10).map(|k| r.confusion[k][k]).sum();
    assert!((right as f64 / total as f64 - acc).abs() < 1e-9, "the diagonal is the accuracy");
    let (model, _) = TrainModel::load(&r.model_path).expect("the saved model loads");
    assert_eq!(model.head.outputs, 10);
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn classify_refuses_bad_csv_rows() {
    let out = temp_dir("classify_bad");
    let o = out.to_str().unwrap();
    let good = "0,".repeat(64) + "3";
    for (name, body, want) in [
        ("short.csv", format!("{good}\n1,2,3\n"), "line 2: 3 fields"),
        ("pixel.csv", format!("{}x,1\n", "0,".repeat(63)), "pixel `x` is not a number"),
        ("range.csv", format!("{}99,1\n", "0,".repeat(63)), "outside 0..16"),
        ("label.csv", format!("{}0,12\n", "0,".repeat(63)), "label `12`"),
        ("few.csv", format!("{good}\n"), "at least 10"),
    ] {
        let path = out.join(name);
        std::fs::write(&path, body).unwrap();
        match classify::run(
            &classify_options(&["--quick", "--out", o, "--data", path.to_str().unwrap()]),
            common::gpu(),
        ) {
            Err(e) => assert!(e.contains(want), "{name}: {e}"),
            Ok(_) => panic!("{name} ran"),
        }
    }
    let missing = out.join("missing.csv");
    let e =
        classify::run(&classify_options(&["--quick", "--data", missing.to_str().unwrap()]), common::gpu()).unwrap_err();
    assert!(e.contains("cannot read"), "{e}");
    std::fs::remove_dir_all(&out).ok();
}

fn forecast_options(args: &[&str]) -> forecast::Options {
    forecast::Options::parse_from(["forecast"].iter().chain(args))
}

#[test]
fn forecast_learns_the_co2_series_on_the_gpu() {
    let out = temp_dir("forecast");
    let r = forecast::run(&forecast_options(&["--quick", "--out", out.to_str().unwrap()]), common::gpu())
        .expect("the quick run trains");
    assert!(!r.adapter.contains("CPU"), "trained on the GPU: {}", r.adapter);
    assert_eq!(r.models.len(), 2, "GRU and LSTM");
    for m in &r.models {
        assert_eq!(m.forecast.len(), 60, "{:?} forecasts the held-out five years", m.cell);
        assert!(
            m.trained.mae < 0.8 * m.untrained.mae,
            "{:?}: MAE {:?} against untrained {:?}",
            m.cell,
            m.trained,
            m.untrained
        );
        assert!(m.trained.mae < r.naive.mae, "{:?}: MAE {:?} against seasonal naive {:?}", m.cell, m.trained, r.naive);
        assert!(m.trained.rmse >= m.trained.mae, "RMSE is at least MAE");
        TrainModel::load(&m.model_path).expect("the saved model loads");
    }
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn forecast_averages_weeks_into_months_and_refuses_bad_rows() {
    let out = temp_dir("forecast_bad");
    // two weeks in March, none with a value in April (interpolated), one in May
    let csv = out.join("series.csv");
    std::fs::write(&csv, "date,co2\n20000301,1.0\n20000315,3.0\n20000405,\n20000510,6.0\n").unwrap();
    let months = forecast::monthly(&csv).expect("parses");
    assert_eq!(months, vec![(2000, 3, 2.0), (2000, 4, 4.0), (2000, 5, 6.0)]);
    // a month without any row is interpolated too
    std::fs::write(&csv, "date,co2\n20001101,10.0\n20010110,16.0\n").unwrap();
    assert_eq!(forecast::monthly(&csv).unwrap(), vec![(2000, 11, 10.0), (2000, 12, 13.0), (2001, 1, 16.0)]);
    for (body, want) in [
        ("date,co2\n2000031,1.0\n", "not YYYYMMDD"),
        ("date,co2\n20001301,1.0\n", "not YYYYMMDD"),
        ("date,co2\n20000301,abc\n", "value `abc`"),
        ("date,co2\n20000301 1.0\n", "expected `date,value`"),
        ("date,co2\n20000401,1.0\n20000301,2.0\n", "comes before"),
        ("date,co2\n20000401,\n", "fewer than two months"),
    ] {
        std::fs::write(&csv, body).unwrap();
        let e = forecast::monthly(&csv).unwrap_err();
        assert!(e.contains(want), "{body:?}: {e}");
    }
    // a series too short for the window, horizon and season is refused before training
    std::fs::write(&csv, "date,co2\n20000301,1.0\n20000401,2.0\n").unwrap();
    let e = forecast::run(&forecast_options(&["--quick", "--data", csv.to_str().unwrap()]), common::gpu()).unwrap_err();
    assert!(e.contains("months; a window"), "{e}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn tagger_needs_the_words_after_on_the_gpu() {
    let out = temp_dir("tagger");
    let opts = tagger::Options::parse_from(["tagger", "--quick", "--out", out.to_str().unwrap()]);
    let r = tagger::run(&opts, common::gpu()).expect("the quick run trains");
    assert!(!r.adapter.contains("CPU"), "trained on the GPU: {}", r.adapter);
    let names: Vec<&str> = r.rows.iter().map(|row| row.name.as_str()).collect();
    assert_eq!(names, ["forward", "concat", "sum", "average", "mul"]);
    let forward = &r.rows[0];
    // the fixed-class words are learned, the ambiguous ones cannot be from the left alone
    assert!(forward.accuracy > 0.8, "forward-only learns the unambiguous words: {forward:?}");
    assert!(forward.ambiguous < 0.7, "forward-only guesses the ambiguous words: {forward:?}");
    assert_eq!(forward.steps_to_95, None, "{forward:?}");
    for row in &r.rows[1..] {
        assert!(row.ambiguous > 0.9, "the bidirectional model reads the next word: {row:?}");
        assert!(row.steps_to_95.is_some_and(|s| s <= 120), "{row:?}");
    }
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn the_tagger_grammar_is_what_its_docs_say() {
    let vocab = tagger::vocabulary();
    let mut rng = wgpu_rnn::random::Rng::new(7);
    let (mut verbs, mut ambiguous) = (0, 0);
    for _ in 0..2000 {
        let s = tagger::sentence(&mut rng);
        assert!((3..=14).contains(&s.words.len()));
        for (i, (&w, &t)) in s.words.iter().zip(&s.tags).enumerate() {
            let word = vocab[w];
            if ["fish", "watch", "saw", "ring", "light", "train", "march", "book"].contains(&word) {
                ambiguous += 1;
                let next = s.words.get(i + 1).map(|&n| vocab[n]);
                let before_object = next.is_some_and(|n| {
                    ["the", "a", "every", "river", "dog", "king", "ship", "forest", "sword", "night", "castle"]
                        .contains(&n)
                });
                assert_eq!(tagger::TAGS[t], if before_object { "VERB" } else { "NOUN" }, "{word} before {next:?}");
                verbs += usize::from(before_object);
            }
        }
    }
    let share = verbs as f64 / ambiguous as f64;
    assert!(
        (0.35..0.5).contains(&share),
        "about half of the ambiguous words are verbs (fewer: sentence ends): {share}"
    );
}

fn seq2seq_options(args: &[&str]) -> seq2seq::Options {
    seq2seq::Options::parse_from(["seq2seq"].iter().chain(args))
}

#[test]
fn seq2seq_learns_to_write_dates_in_iso_form_on_the_gpu() {
    let out = temp_dir("seq2seq");
    let o = out.to_str().unwrap();
    let r = seq2seq::run(&seq2seq_options(&["--quick", "--out", o, "--date", "4th of July 1976"]), common::gpu())
        .expect("the quick run trains");
    assert!(!r.adapter.contains("CPU"), "trained on the GPU: {}", r.adapter);
    let (first, last) = (r.points.first().expect("measured"), r.points.last().expect("measured"));
    // (step, training loss, held-out loss, exact match, characters right); chance is 1 of 11
    assert!(first.4 < 0.3, "untrained: {:.3} of the characters right", first.4);
    assert!(last.4 > 0.5, "trained: {:.3} of the held-out characters right (untrained {:.3})", last.4, first.4);
    assert!(last.2 < 0.5 * first.2, "held-out loss {:.3} against {:.3} untrained", last.2, first.2);
    assert_eq!(r.per_format.len(), seq2seq::FORMATS.len());
    let (_, written) = &r.translations[0];
    assert_eq!(written.len(), 10, "an ISO date's ten characters: {written}");
    // the saved model translates alike when loaded
    let path = r.model_path.clone().expect("saved");
    let again = seq2seq::run(
        &seq2seq_options(&["--model", path.to_str().unwrap(), "--date", "4th of July 1976"]),
        common::gpu(),
    )
    .expect("translates with the saved model");
    assert_eq!(again.translations, r.translations);
    let (model, _) = TrainModel::load(&path).expect("loads");
    assert!(model.encoder.is_some(), "saved with its encoder");
    assert!(std::fs::read_to_string(out.join("seq2seq.svg")).unwrap().contains("<svg"));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn seq2seq_dates_are_written_as_its_docs_say() {
    let day = (0..36525).find(|&d| seq2seq::iso(d) == "2021-03-03").expect("in range");
    let written: Vec<String> = (0..8).map(|f| seq2seq::written(day, f)).collect();
    assert_eq!(written, seq2seq::FORMATS.map(String::from).to_vec());
    assert_eq!(seq2seq::iso(0), "1950-01-01");
    assert_eq!(seq2seq::date(0).3, 6, "1950-01-01 was a Sunday");
    assert_eq!(seq2seq::iso(36524), "2049-12-31");
    assert_eq!(seq2seq::iso((0..36525).find(|&d| seq2seq::iso(d) == "2000-02-28").unwrap() + 1), "2000-02-29");
    assert_eq!(
        seq2seq::written((0..36525).find(|&d| seq2seq::iso(d) == "1999-12-22").unwrap(), 0),
        "22nd of December 1999"
    );
    assert_eq!(
        seq2seq::written((0..36525).find(|&d| seq2seq::iso(d) == "1987-06-12").unwrap(), 7),
        "the 12th of june 1987"
    );
    let held = (0..36525).filter(|&d| seq2seq::held_out(d)).count();
    assert!((3000..4400).contains(&held), "about a tenth held out: {held}");
    for d in (0..36525).step_by(97) {
        for f in 0..8 {
            seq2seq::encode(&seq2seq::written(d, f)).expect("every generated date uses the alphabet");
        }
    }
}

#[test]
fn seq2seq_refuses_bad_dates_and_other_models() {
    let out = temp_dir("seq2seq_bad");
    let other = out.join("classify.safetensors");
    let stack =
        wgpu_rnn::random::pytorch_network(&wgpu_rnn::random::RandomConfig::simple(wgpu_rnn::Cell::Lstm, 8, 4), 1);
    let m = TrainModel::new(stack, None, 10, wgpu_rnn::train::HeadMode::Last, 1).unwrap();
    m.save(&other, None).unwrap();
    let missing = out.join("missing.safetensors");
    for (args, want) in [
        (vec!["--date", "3. März 2021"], "character 'ä' at 4"),
        (vec!["--date", ""], "empty date"),
        (vec!["--model", other.to_str().unwrap()], "is not a seq2seq date model"),
        (vec!["--model", missing.to_str().unwrap()], "missing.safetensors"),
        (vec!["--cell", "transformer"], "transformer"),
        (vec!["--batch", "0"], "at least 1"),
    ] {
        let mut all = vec!["--quick", "--out", out.to_str().unwrap()];
        all.extend(args.iter().copied());
        match seq2seq::run(&seq2seq_options(&all), common::gpu()) {
            Err(e) => assert!(e.contains(want), "{args:?}: {e}"),
            Ok(_) => panic!("{args:?} ran"),
        }
    }
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn the_dropout_lesson_shows_what_dropout_does_to_overfitting() {
    let out = temp_dir("dropout");
    let o = out.to_str().unwrap();
    let l =
        classify::dropout_lesson(&classify_options(&["--quick", "--dropout-lesson", "0.5", "--out", o]), common::gpu())
            .expect("the quick lesson trains");
    assert!(!l.adapter.contains("CPU"), "trained on the GPU: {}", l.adapter);
    assert_eq!(l.runs.iter().map(|r| r.0).collect::<Vec<_>>(), [0.0, 0.5]);
    let last = |k: usize| *l.runs[k].1.last().expect("epochs");
    let (plain, dropped) = (last(0), last(1));
    // (epoch, training loss, held-out loss, held-out accuracy), losses in evaluation mode
    assert!(plain.3 > 0.6 && dropped.3 > 0.6, "both learn: {:.3}, {:.3} held out", plain.3, dropped.3);
    assert!(
        plain.2 > 2.0 * plain.1,
        "without dropout the model starts to overfit: held-out loss {:.4}, training loss {:.4}",
        plain.2,
        plain.1
    );
    assert!(
        plain.1 < dropped.1,
        "dropout keeps the training digits from fitting as closely: {:.4} vs {:.4}",
        plain.1,
        dropped.1
    );
    assert_eq!(l.runs[0].1.len(), 20, "the quick lesson's 20 epochs");
    assert!(std::fs::read_to_string(out.join("dropout.svg")).unwrap().contains("<svg"));
    let err =
        classify::dropout_lesson(&classify_options(&["--quick", "--dropout-lesson", "1.5", "--out", o]), common::gpu())
            .unwrap_err();
    assert!(err.contains("dropout") && err.contains("1.5"), "{err}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn the_gru_or_lstm_lesson_trains_both_on_one_budget() {
    let out = temp_dir("compare");
    let o = out.to_str().unwrap();
    let results =
        char_rnn::compare(&char_rnn_options(&["--quick", "--compare", "lstm,gru", "--out", o]), common::gpu())
            .expect("the quick comparison trains");
    assert_eq!(results.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["lstm", "gru"]);
    let (lstm, gru) = (&results[0].1, &results[1].1);
    assert!(!lstm.adapter.contains("CPU"), "trained on the GPU: {}", lstm.adapter);
    assert_eq!(lstm.training.len(), gru.training.len(), "the same steps");
    // the quick model: Embedding(V, 32) -> 2 layers of H 64 -> Linear(64, V); an LSTM layer has
    // one gate block more than a GRU layer, H*(I + H) + 2H parameters each
    let (h, inputs) = (64, [32, 64]);
    let extra: usize = inputs.iter().map(|i| h * (i + h) + 2 * h).sum();
    assert_eq!(lstm.parameters - gru.parameters, extra, "LSTM {} against GRU {}", lstm.parameters, gru.parameters);
    for (cell, r) in &results {
        let last = r.validation.last().expect("validated").1;
        assert!(last < 0.8 * r.untrained_bpc, "{cell}: {last:.3} bits/char against {:.3} untrained", r.untrained_bpc);
        assert_eq!(r.epoch_seconds.len(), 2, "{cell}: two quick epochs timed");
    }
    assert!(std::fs::read_to_string(out.join("compare.svg")).unwrap().contains("<svg"));
    for (args, want) in
        [(vec!["--compare", "lstm"], "at least two"), (vec!["--compare", "lstm,transformer"], "transformer")]
    {
        let mut all = vec!["--quick", "--out", o];
        all.extend(args.iter().copied());
        let err = char_rnn::compare(&char_rnn_options(&all), common::gpu()).unwrap_err();
        assert!(err.contains(want), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&out).ok();
}

/// `--quick` sets its own sizes, so an explicit size beside it is refused, not ignored; and a
/// size or count of 0 is an error naming the options, before anything trains.
#[test]
fn quick_runs_refuse_explicit_sizes_and_every_example_refuses_zero_sizes() {
    use clap::Parser as _;
    assert!(char_rnn::Options::try_parse_from(["char_rnn", "--quick", "--hidden", "256"]).is_err());
    assert!(classify::Options::try_parse_from(["classify", "--quick", "--epochs", "3"]).is_err());
    assert!(forecast::Options::try_parse_from(["forecast", "--quick", "--train-steps", "3"]).is_err());
    assert!(tagger::Options::try_parse_from(["tagger", "--quick", "--train-steps", "3"]).is_err());
    assert!(seq2seq::Options::try_parse_from(["seq2seq", "--quick", "--test", "3"]).is_err());
    let out = temp_dir("zero");
    let o = out.to_str().unwrap();
    for args in [["--steps", "0"], ["--batch", "0"], ["--epochs", "0"]] {
        let e = char_rnn::run(&char_rnn_options(&[&args[..], &["--out", o]].concat()), common::gpu()).unwrap_err();
        assert!(e.contains("must be at least 1"), "char_rnn {args:?}: {e}");
    }
    let e = classify::run(&classify_options(&["--epochs", "0", "--out", o]), common::gpu()).unwrap_err();
    assert!(e.contains("must be at least 1"), "classify: {e}");
    let e = forecast::run(&forecast_options(&["--train-steps", "0", "--out", o]), common::gpu()).unwrap_err();
    assert!(e.contains("must be at least 1"), "forecast: {e}");
    let e = tagger::run(&tagger::Options::parse_from(["tagger", "--train-steps", "0", "--out", o]), common::gpu())
        .unwrap_err();
    assert!(e.contains("must be at least 1"), "tagger: {e}");
    let e = seq2seq::run(&seq2seq_options(&["--steps", "0", "--out", o]), common::gpu()).unwrap_err();
    assert!(e.contains("must be at least 1"), "seq2seq: {e}");
    std::fs::remove_dir_all(&out).ok();
}
