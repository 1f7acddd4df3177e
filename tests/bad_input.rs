//! Bad input gets a typed error naming the problem, never a panic: empty, truncated and garbage
//! files, wrong shapes and lengths, unknown names, absurd sizes.

mod common;

use std::path::PathBuf;

use wgpu_rnn::case::Case;
use wgpu_rnn::random::{self, RandomConfig};
use wgpu_rnn::tensor::{Tensor, TensorFile};
use wgpu_rnn::{Cell, Error};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance").join(format!("{name}.safetensors"))
}

/// A test's own directory for the files it writes, removed when the test ends, passed or not.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("wgpu-rnn-tests-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn load_err(bytes: &[u8]) -> Error {
    let f = match TensorFile::parse(bytes) {
        Ok(f) => f,
        Err(e) => return e,
    };
    Case::from_file("mutated".into(), &f).expect_err("must be rejected")
}

/// A real case with `edit` applied, reloaded from bytes.
fn mutated(name: &str, edit: impl FnOnce(&mut TensorFile)) -> Error {
    let mut f = TensorFile::read(&data(name)).expect("reads");
    edit(&mut f);
    load_err(&f.to_bytes().expect("serializes"))
}

fn assert_mentions(e: &Error, words: &[&str]) {
    let msg = e.to_string();
    for w in words {
        assert!(msg.contains(w), "error `{msg}` should mention `{w}`");
    }
}

#[test]
fn empty_truncated_and_garbage_files_are_errors() {
    let good = std::fs::read(data("lstm_forward_s1")).expect("reads");
    let dir = TempDir::new("bad_files");
    for (what, bytes) in [
        ("empty", vec![]),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("header only", good[..8].to_vec()),
        ("garbage", (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()),
        ("huge header length", [u64::MAX.to_le_bytes().as_slice(), b"{}"].concat()),
        ("json but not safetensors", b"\x02\x00\x00\x00\x00\x00\x00\x00{}".to_vec()),
    ] {
        let p = dir.file(&format!("{}.safetensors", what.replace(' ', "_")), &bytes);
        match Case::load(&p) {
            Err(Error::File { path, why }) => {
                assert!(path.contains(".safetensors"), "{what}: {path}");
                assert!(!why.is_empty());
            }
            Err(Error::Invalid { .. }) if what == "json but not safetensors" => {}
            other => panic!("{what}: expected a file error, got {other:?}"),
        }
    }
    assert!(matches!(Case::load(&PathBuf::from("/no/such/case.safetensors")), Err(Error::File { .. })));
}

#[test]
fn missing_and_misshapen_tensors_are_named() {
    assert!(matches!(mutated("lstm_forward_s1", |f| { f.floats.remove("R"); }), Error::MissingTensor(n) if n == "R"));
    // a case may give only some outputs (tests/conformance.rs), but at least one
    let e = mutated("lstm_forward_s1", |f| {
        for n in ["Y", "Y_h", "Y_c"] {
            f.floats.remove(n);
        }
    });
    assert_mentions(&e, &["no expected output", "Y_h"]);
    let e = mutated("gru_forward_s1", |f| {
        let w = f.floats.get_mut("W").expect("W");
        w.shape[2] += 1;
        w.data.extend(vec![0.0; w.shape[0] * w.shape[1]]);
    });
    assert_mentions(&e, &["X"]);
    let e = mutated("rnn_forward_s1", |f| {
        f.floats.insert("B".into(), Tensor::new(vec![1, 7], vec![0.0; 7]).expect("tensor"));
    });
    assert!(matches!(&e, Error::Shape { name, .. } if name == "B"), "{e}");
    let e = mutated("lstm_peephole", |f| {
        f.floats.insert("P".into(), Tensor::new(vec![1, 5], vec![0.0; 5]).expect("tensor"));
    });
    assert!(matches!(&e, Error::Shape { name, .. } if name == "P"), "{e}");
    let e = mutated("lstm_forward_s1", |f| {
        let y = f.floats.get_mut("Y").expect("Y");
        y.shape = vec![y.data.len()];
    });
    assert!(matches!(&e, Error::Shape { name, .. } if name == "Y"), "{e}");
    let e = mutated("torch_lstm_2layer", |f| {
        let w = f.floats.remove("weight_hh_l1").expect("present");
        f.floats.insert("weight_hh_l1".into(), Tensor::new(vec![w.shape[1], w.shape[0]], w.data).expect("tensor"));
    });
    assert_mentions(&e, &["weight_hh_l1"]);
}

#[test]
fn lengths_out_of_range_are_errors() {
    for bad in [0i64, 8, -1, i32::MAX as i64] {
        let e = mutated("lstm_forward_seqlens", |f| {
            f.ints.get_mut("sequence_lens").expect("present").1[1] = bad;
        });
        assert!(matches!(e, Error::Length { index: 1, len, steps: 7 } if len == bad.into()), "{bad}: {e}");
    }
    let e = mutated("gru_forward_seqlens", |f| {
        f.ints.insert("sequence_lens".into(), (vec![2], vec![1, 1]));
    });
    assert!(matches!(&e, Error::Shape { name, .. } if name == "sequence_lens"), "{e}");
    let e = mutated("gru_forward_seqlens", |f| {
        let lens = f.ints.remove("sequence_lens").expect("present");
        f.floats.insert(
            "sequence_lens".into(),
            Tensor::new(lens.0, lens.1.iter().map(|&v| v as f32).collect()).expect("tensor"),
        );
    });
    assert!(matches!(&e, Error::DType { name, .. } if name == "sequence_lens"), "{e}");
}

#[test]
fn unknown_names_are_errors() {
    let meta = |k: &'static str, v: &'static str| {
        move |f: &mut TensorFile| {
            f.metadata.insert(k.into(), v.into());
        }
    };
    assert_mentions(&mutated("rnn_forward_s1", meta("op", "XYZ")), &["XYZ"]);
    assert_mentions(&mutated("rnn_forward_s1", meta("format", "keras")), &["keras"]);
    assert_mentions(&mutated("rnn_forward_s1", meta("direction", "sideways")), &["sideways"]);
    assert_mentions(&mutated("rnn_forward_s1", meta("activations", "Foo")), &["Foo"]);
    assert_mentions(&mutated("gru_forward_s1", meta("activations", "Sigmoid")), &["2 activation"]);
    assert_mentions(&mutated("rnn_forward_s1", meta("layout", "2")), &["layout"]);
    assert_mentions(&mutated("lstm_forward_s1", meta("clip", "-1")), &["clip"]);
    assert_mentions(&mutated("lstm_forward_s1", meta("clip", "abc")), &["abc"]);
    assert_mentions(&mutated("rnn_thresholdedrelu", meta("activation_alpha", "0.1,0.2")), &["more values"]);
    assert_mentions(&mutated("rnn_forward_s1", meta("input_forget", "1")), &["input_forget"]);
    assert_mentions(&mutated("torch_gru_bidi_sum", meta("merge_mode", "max")), &["max"]);
    assert_mentions(&mutated("torch_rnn_relu_3layer", meta("nonlinearity", "gelu")), &["gelu"]);
    assert_mentions(&mutated("torch_lstm_2layer", meta("bidirectional", "maybe")), &["maybe"]);
    let e = mutated("torch_lstm_2layer", |f| {
        let w = f.floats["weight_ih_l1"].clone();
        f.floats.insert("weight_ih_l7".into(), w);
    });
    assert_mentions(&e, &["weight_ih_l7"]);
    let e = mutated("torch_lstm_2layer", |f| {
        f.floats.remove("bias_hh_l0");
    });
    assert_mentions(&e, &["bias_hh_l0"]);
    let e = mutated("rnn_forward_s1", |f| {
        f.metadata.remove("hidden_size");
    });
    assert_mentions(&e, &["hidden_size"]);
}

#[test]
fn absurd_sizes_are_errors_without_allocating() {
    let e = mutated("lstm_forward_s1", |f| {
        f.metadata.insert("hidden_size".into(), "1000000000000".into());
    });
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = mutated("torch_lstm_2layer", |f| {
        f.metadata.insert("num_layers".into(), "99999999999".into());
    });
    assert!(matches!(e, Error::MissingTensor(_)), "{e}");
    assert_mentions(
        &mutated("rnn_forward_s1", |f| {
            f.metadata.insert("hidden_size".into(), "-3".into());
        }),
        &["-3"],
    );
    // 70 000 sequences in one batch exceed the adapter's workgroups per dimension
    let net = random::network(&RandomConfig::simple(Cell::Rnn, 1, 1), 1, |s| s);
    let inputs = random::inputs(&net, 1, 70_000, 1, false, false);
    let model = common::gpu().load(net).expect("loads");
    let e = model.forward(&inputs).expect_err("over the limit");
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
    // which limit, and by how much (70 000 - 65 535 on WebGPU's and lavapipe's limit)
    let limit = common::gpu().context().expect("a GPU engine").limits().max_compute_workgroups_per_dimension;
    assert_mentions(&e, &["max_compute_workgroups_per_dimension", &format!("{} over", 70_000 - limit)]);
}

#[test]
fn bad_forward_inputs_are_errors() {
    let net = random::network(&RandomConfig { layers: 2, ..RandomConfig::simple(Cell::Lstm, 3, 4) }, 1, |s| s);
    let good = random::inputs(&net, 5, 2, 1, true, true);
    let model = common::gpu().load(net.clone()).expect("loads");
    // `values` with `v` at index `i`
    let with = |values: &[f32], i: usize, v: f32| {
        let mut values = values.to_vec();
        values[i] = v;
        values
    };
    let (h0, c0) = (good.h0.as_deref().expect("an h0"), good.c0.as_deref().expect("a c0"));
    let cases: Vec<(&[&str], wgpu_rnn::Inputs)> = vec![
        (&["x"], wgpu_rnn::Inputs { x: vec![0.0; 7], ..good.clone() }),
        (&["steps"], wgpu_rnn::Inputs { steps: 0, x: vec![], ..good.clone() }),
        (&["x", "non-finite value at index 3"], wgpu_rnn::Inputs { x: with(&good.x, 3, f32::NAN), ..good.clone() }),
        (&["h0"], wgpu_rnn::Inputs { h0: Some(vec![0.0; 3]), ..good.clone() }),
        (&["c0"], wgpu_rnn::Inputs { c0: Some(vec![0.0; 3]), ..good.clone() }),
        // an initial state the caller passed is checked as x is
        (
            &["h0", "non-finite value at index 5"],
            wgpu_rnn::Inputs { h0: Some(with(h0, 5, f32::INFINITY)), ..good.clone() },
        ),
        (&["c0", "non-finite value at index 2"], wgpu_rnn::Inputs { c0: Some(with(c0, 2, f32::NAN)), ..good.clone() }),
        (&["lengths"], wgpu_rnn::Inputs { lengths: Some(vec![5]), ..good.clone() }),
        (&["outside"], wgpu_rnn::Inputs { lengths: Some(vec![5, 6]), ..good.clone() }),
    ];
    for (words, inp) in cases {
        let gpu = model.forward(&inp).expect_err("gpu rejects");
        let cpu = wgpu_rnn::cpu::forward(&net, &inp).expect_err("cpu rejects");
        assert_mentions(&gpu, words);
        assert_eq!(gpu.to_string(), cpu.to_string(), "both paths validate alike");
    }
    // the model still works after rejecting bad inputs
    assert!(model.forward(&good).is_ok());
}

#[test]
fn other_dtypes_are_named() {
    let shape = vec![2usize];
    let bytes = [0u8; 16];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F64, shape, &bytes).expect("view");
    let file = safetensors::tensor::serialize([("X".to_string(), view)], None).expect("serializes");
    match TensorFile::parse(&file) {
        Err(Error::DType { name, dtype, .. }) => assert!(name == "X" && dtype.contains("F64")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn check_reports_malformed_cases_as_failures() {
    let exe = env!("CARGO_BIN_EXE_wgpu-rnn");
    let dir = TempDir::new("check");
    let garbage = dir.file("garbage_case.safetensors", b"this is not a safetensors file");
    let out = std::process::Command::new(exe)
        .args(["check", "--require-gpu"])
        .arg(data("gru_forward_s0"))
        .arg(&garbage)
        .arg("/no/such/dir/case.safetensors")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("PASS gru_forward_s0 rel="), "{stdout}");
    assert!(lines[0].ends_with("(gpu+cpu)"), "{stdout}");
    assert!(lines[1].starts_with("FAIL garbage_case: "), "{stdout}");
    assert!(lines[2].starts_with("FAIL case: "), "{stdout}");
    assert_eq!(lines.last(), Some(&"1 passed, 2 failed"));
}

#[test]
fn check_passes_the_shipped_cases() {
    let exe = env!("CARGO_BIN_EXE_wgpu-rnn");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    let out = std::process::Command::new(exe).args(["check", "--require-gpu"]).arg(&dir).output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("PASS ") && l.ends_with("(gpu+cpu)")).count(), 66);
    assert_eq!(stdout.lines().last(), Some("66 passed, 0 failed"));
}

#[test]
fn bench_skips_sizes_a_forced_variant_cannot_run_and_fails_when_it_runs_none() {
    let exe = env!("CARGO_BIN_EXE_wgpu-rnn");
    let bench = |hidden: &str| {
        std::process::Command::new(exe)
            .args(["--require-gpu", "bench", "--cell", "lstm", "--batch", "2", "--steps", "3", "--repeats", "1"])
            .args(["--warmup", "0", "--variant", "persistent", "--hidden", hidden])
            .output()
            .expect("runs")
    };
    let mixed = bench("16,130");
    let (stdout, stderr) = (String::from_utf8_lossy(&mixed.stdout), String::from_utf8_lossy(&mixed.stderr));
    assert!(mixed.status.success(), "{stderr}");
    assert!(stderr.contains("skipped: invalid variant: Persistent cannot run this network"), "{stderr}");
    assert!(stderr.contains("H and H_out up to 128"), "{stderr}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("lstm ")).collect();
    assert_eq!(rows.len(), 1, "only H16 ran: {stdout}");
    assert!(rows[0].ends_with("Persistent"), "{stdout}");
    let none = bench("130");
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("wgpu-rnn bench: invalid variant"));
}

#[test]
fn bench_skips_sizes_the_device_cannot_hold_and_times_training_steps_on_the_gpu() {
    let exe = env!("CARGO_BIN_EXE_wgpu-rnn");
    let json = std::env::temp_dir().join(format!("wgpu-rnn-bench-train-{}.json", std::process::id()));
    let bench = |hidden: &str, train: bool| {
        let mut cmd = std::process::Command::new(exe);
        cmd.args(["--require-gpu", "bench", "--cell", "lstm", "--batch", "2", "--steps", "3", "--repeats", "2"]);
        cmd.args(["--warmup", "0", "--hidden", hidden]).arg("--json").arg(&json);
        if train {
            cmd.arg("--train");
        }
        cmd.output().expect("runs")
    };
    // H 40000: W alone is 25.6 GB, over any binding (refused before the host makes it)
    let out = bench("40000,8", true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("skipped: too large: buffer W needs 25600000000 bytes"), "{stderr}");
    let records: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("written")).expect("json");
    let records = records.as_array().expect("an array");
    assert_eq!(records.len(), 1, "only H 8 ran: {records:?}");
    let r = &records[0];
    assert_eq!((r["hidden"].as_u64(), r["train"].as_bool()), (Some(8), Some(true)));
    // the step's GPU time from timestamps (lavapipe has them), within its wall time
    let (ms, gpu_ms) = (r["ms"].as_f64().expect("ms"), r["gpu_ms"].as_f64().expect("gpu_ms"));
    assert!(gpu_ms > 0.0 && gpu_ms <= ms, "gpu {gpu_ms} ms, wall {ms} ms");
    std::fs::remove_file(&json).ok();
    for train in [true, false] {
        let none = bench("40000", train);
        assert_eq!(none.status.code(), Some(1), "train {train}");
        assert!(String::from_utf8_lossy(&none.stderr).contains("wgpu-rnn bench: too large: buffer W"));
    }
}

#[test]
fn bench_train_runs_the_walk_it_is_asked_for_times_its_kernels_and_refuses_forward_variants() {
    let exe = env!("CARGO_BIN_EXE_wgpu-rnn");
    let bench = |variant: &str| {
        std::process::Command::new(exe)
            .args(["--require-gpu", "bench", "--train", "--cell", "gru", "--gru-reset-before", "--hidden", "8"])
            .args(["--batch", "2", "--steps", "5", "--repeats", "1", "--warmup", "0", "--variant", variant])
            .output()
            .expect("runs")
    };
    // (variant, the record's name, dispatches per layer: the walk's, 4T+1 or 2, 8 products (no
    // dX, the bench's input is data; dWb and dRb in one column sum) and the copy of R in row
    // quads for the walk back)
    for (variant, name, per_layer) in [("rows4", "train_step", "30"), ("persistent", "train_persistent", "11")] {
        let out = bench(variant);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{variant}: {stderr}");
        let row = stdout.lines().find(|l| l.starts_with("gru ")).unwrap_or_else(|| panic!("no row: {stdout}"));
        assert!(row.ends_with(name), "{variant}: {row}");
        assert!(stdout.contains(&format!("{per_layer} dispatches per layer")), "{variant}: {stdout}");
    }
    // --breakdown times each kernel of the training step alone, by its entry point
    let out = std::process::Command::new(exe)
        .args(["--require-gpu", "bench", "--train", "--cell", "lstm", "--hidden", "8", "--batch", "2"])
        .args(["--steps", "5", "--repeats", "1", "--warmup", "0", "--breakdown"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut after = stdout.lines().skip_while(|l| !l.starts_with("Each kernel alone"));
    let line = after.nth(1).filter(|l| l.starts_with("lstm  H8 B2 T5: ")).unwrap_or_else(|| panic!("{stdout}"));
    let timed: Vec<(&str, f64)> = line["lstm  H8 B2 T5: ".len()..]
        .split(", ")
        .map(|part| {
            let (name, ms) = part.rsplit_once(' ').unwrap_or_else(|| panic!("{part}"));
            (name, ms.parse().unwrap_or_else(|_| panic!("{part}")))
        })
        .collect();
    for kernel in
        ["train_step", "train_step_backward", "matmul_mn", "sum_squares", "sum_squares_finish", "optimizer_update"]
    {
        let ms = timed.iter().find(|(n, _)| *n == kernel).unwrap_or_else(|| panic!("{kernel}: {line}")).1;
        assert!(ms > 0.0 && ms.is_finite(), "{kernel}: {line}");
    }
    // --kernels narrows the breakdown to the kernels it names; a name no kernel has is refused
    let breakdown = |kernels: &str| {
        std::process::Command::new(exe)
            .args(["--require-gpu", "bench", "--train", "--cell", "gru", "--hidden", "8", "--batch", "2"])
            .args(["--steps", "5", "--repeats", "1", "--warmup", "0", "--breakdown", "--kernels", kernels])
            .output()
            .expect("runs")
    };
    let out = breakdown("optimizer_update,sum_squares");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut after = stdout.lines().skip_while(|l| !l.starts_with("Each kernel alone"));
    let line = after.nth(1).filter(|l| l.starts_with("gru   H8 B2 T5: ")).unwrap_or_else(|| panic!("{stdout}"));
    let names: Vec<&str> = line["gru   H8 B2 T5: ".len()..].split(", ").filter_map(|p| p.split(' ').next()).collect();
    assert_eq!(names, ["sum_squares", "optimizer_update"], "{line}");
    let out = breakdown("optimizer_updat");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("`optimizer_updat` is no kernel's entry point"), "{stderr}");
    assert!(stderr.contains("optimizer_update"), "the names there are: {stderr}");
    // the global --walk (and WGPU_RNN_WALK): named in `info`, unknown names refused
    let info = |walk: &[&str], env: Option<&str>| {
        let mut cmd = std::process::Command::new(exe);
        cmd.args(walk).arg("info").env_remove("WGPU_RNN_WALK");
        if let Some(v) = env {
            cmd.env("WGPU_RNN_WALK", v);
        }
        cmd.output().expect("runs")
    };
    let out = info(&["--walk", "persistent"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("training walk: persistent (--walk or WGPU_RNN_WALK)"));
    let out = info(&[], Some("small"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("training walk: small"));
    for bad in [info(&["--walk", "sideways"], None), info(&[], Some("sideways"))] {
        assert_eq!(bad.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&bad.stderr).contains("sideways"));
    }
    let refused = bench("split1");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("`split1`: bench --train runs auto, rows4 (per-step kernels) or persistent"), "{stderr}");
}

#[test]
fn a_forced_stack_of_layers_that_cannot_stack_is_an_error() {
    use wgpu_rnn::Direction;
    let cfg = RandomConfig { direction: Direction::Bidirectional, layers: 2, ..RandomConfig::simple(Cell::Gru, 4, 8) };
    let net = random::network(&cfg, 1, |mut s| {
        s.linear_before_reset = true;
        s
    });
    let mut model = common::gpu().load(net).expect("loads");
    let e = model.set_stacked(Some(true)).expect_err("two directions cannot stack");
    assert!(matches!(&e, Error::Invalid { what, .. } if what == "stacked"), "{e}");
    assert_mentions(&e, &["one direction", "equal specs"]);
    model.set_stacked(Some(false)).expect("layer by layer always runs");
    let inputs = random::inputs(model.network(), 3, 2, 1, false, false);
    assert_eq!(model.forward(&inputs).expect("runs").dispatches, 2 * (1 + 3), "the setting is unchanged");
}

/// The command line refuses sizes and counts of 0 by name, before anything runs (they panicked
/// in the random inputs' generator), and a projection for cells that have none.
#[test]
fn the_command_line_refuses_zero_sizes_and_misplaced_projections() {
    let exe = env!("CARGO_BIN_EXE_wgpu-rnn");
    let run = |args: &[&str]| std::process::Command::new(exe).args(args).output().expect("runs");
    for (args, flag) in [
        (&["bench", "--layers", "0"][..], "--layers"),
        (&["bench", "--batch", "1,0"], "--batch"),
        (&["bench", "--hidden", "0"], "--hidden"),
        (&["bench", "--repeats", "0"], "--repeats"),
        (&["quickstart", "--steps", "0"], "--steps"),
        (&["quickstart", "--layers", "0"], "--layers"),
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag) && stderr.contains("must be at least 1"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let out = run(&["bench", "--cell", "gru", "--proj", "8", "--hidden", "16", "--batch", "1", "--steps", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--proj") && stderr.contains("LSTM"), "{stderr}");
}

/// Sizes whose products pass `usize` (or a buffer offset near `u64::MAX`) are errors naming what
/// is wrong, on the GPU model's forward and backward and on a stream, not overflow panics (a
/// debug build panicked in the workspace's sizes, the upstream's shape and the chunk's bytes).
#[test]
fn sizes_past_usize_are_errors_not_overflows() {
    use wgpu_rnn::gpu::ChunkInput;
    use wgpu_rnn::network::{Inputs, Upstream};
    let net = random::network(&RandomConfig::simple(Cell::Gru, 4, 6), 9, |s| s);
    let model = common::gpu().load(net.clone()).expect("loads");
    assert!(model.is_gpu());
    let good = random::inputs(&net, 3, 2, 1, false, false);
    for (t, b) in [(1, 1usize << 62), (usize::MAX, 2)] {
        let huge = Inputs { steps: t, batch: b, x: vec![], ..good.clone() };
        assert!(matches!(model.forward(&huge), Err(Error::Shape { .. })), "forward T={t} B={b}");
        let e = model.backward(&huge, &Upstream::default()).expect_err("backward");
        assert!(matches!(e, Error::Shape { .. }), "backward T={t} B={b}: {e}");
    }
    model.forward(&good).expect("the model still runs");
    let stream = model.stream(2).expect("a stream");
    let e = stream.push(&[], usize::MAX, None).expect_err("too many steps");
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
    let ctx = common::gpu().context().expect("a GPU context");
    let buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("bad_input.chunk"),
        size: 256,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    let far = u64::MAX - 3; // 4-aligned, but offset + bytes passes u64
    for (input, output, name) in [(far, None, "input buffer"), (0, Some((&buf, far)), "output buffer")] {
        let chunk = ChunkInput::Buffer { buffer: &buf, offset: input };
        let e = stream.encode_chunk(&mut encoder, chunk, 1, None, output).expect_err(name);
        assert!(e.to_string().contains(name), "{e}");
    }
    assert_eq!(stream.push(&[0.5; 8], 1, None).expect("the stream still steps").len(), 2 * 6);
}

/// Model sizes whose tensors would pass `usize` are errors, not overflow panics: in a network
/// given to `Engine::load`, in a saved model's metadata, in `TrainModel::new`'s vocabulary and
/// classes, and in a head that claims that many outputs.
#[test]
fn model_sizes_past_usize_are_errors_not_overflows() {
    use std::collections::HashMap;
    use wgpu_rnn::train::{HeadMode, TrainModel};
    let huge = 1usize << 62;
    let net = random::network(&RandomConfig::simple(Cell::Lstm, 4, 6), 9, |s| s);
    let mut wide = net.clone();
    wide.layers[0].spec.hidden_size = huge;
    let e = wgpu_rnn::Engine::cpu().load(wide).map(|_| ()).expect_err("4 gates of 2^62 units");
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
    let mut long_input = net.clone();
    long_input.layers[0].spec.input_size = huge;
    let e = wgpu_rnn::Engine::cpu().load(long_input).map(|_| ()).expect_err("W of 2^62 columns");
    assert!(matches!(e, Error::Shape { .. }) && e.to_string().contains("more values than a usize counts"), "{e}");

    let metadata: HashMap<String, String> = [
        ("format", "wgpu-rnn-model"),
        ("op", "LSTM"),
        ("input_size", "2"),
        ("hidden_size", "4611686018427387904"),
        ("num_layers", "1"),
        ("vocab", "0"),
        ("classes", "2"),
        ("head", "last"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let w = Tensor { shape: vec![12, 2], data: vec![0.1; 24] };
    let file = TensorFile { metadata, floats: [("rnn.weight_ih_l0".to_string(), w)].into(), ints: HashMap::new() };
    let e = TrainModel::from_bytes(&file.to_bytes().expect("serializes"), "huge.safetensors").expect_err("refused");
    assert!(matches!(e, Error::TooLarge(_)), "{e}");

    // a conformance case's ONNX attributes claiming 2^62 units
    let e = mutated("lstm_forward_s1", |f| {
        f.metadata.insert("hidden_size".into(), huge.to_string());
    });
    assert!(matches!(e, Error::TooLarge(_)), "{e}");

    for (vocab, classes) in [(Some(huge), 3), (None, huge)] {
        let e = TrainModel::new(net.clone(), vocab, classes, HeadMode::Last, 1).expect_err("refused");
        assert!(matches!(e, Error::TooLarge(_)), "vocab {vocab:?} classes {classes}: {e}");
    }
    let mut model = TrainModel::new(net, None, 3, HeadMode::Last, 1).expect("a model");
    model.head.outputs = huge;
    let e = model.validate().expect_err("a head of 2^62 outputs");
    assert!(e.to_string().contains("head.weight"), "{e}");
}

/// A projection as wide as the hidden state or wider, which torch.nn.LSTM refuses (and ONNX has
/// no projection), is refused wherever a model is made: a model trained with one could be saved
/// but not loaded back.
#[test]
fn projections_not_below_the_hidden_size_are_refused() {
    for proj in [8, 9] {
        let cfg = RandomConfig { proj_size: proj, ..RandomConfig::simple(Cell::Lstm, 3, 8) };
        let net = random::network(&cfg, 1, |s| s);
        let words = ["proj_size", &format!("{proj} must be below hidden_size 8")];
        let inputs = random::inputs(&net, 2, 1, 1, false, false);
        assert_mentions(&common::gpu().load(net.clone()).expect_err("the GPU refuses it"), &words);
        assert_mentions(&wgpu_rnn::cpu::forward(&net, &inputs).expect_err("the CPU refuses it"), &words);
        let model = wgpu_rnn::train::TrainModel::new(net, None, 2, wgpu_rnn::train::HeadMode::Last, 1);
        assert_mentions(&model.expect_err("training refuses it"), &words);
        // a state_dict's configuration, before any tensor is read
        let torch = wgpu_rnn::import::TorchConfig {
            cell: Cell::Lstm,
            input_size: 3,
            hidden_size: 8,
            num_layers: 1,
            bidirectional: false,
            proj_size: proj,
            relu: false,
            merge_mode: wgpu_rnn::MergeMode::Concat,
        };
        let empty = TensorFile::default();
        assert_mentions(&wgpu_rnn::import::torch_network(&torch, &empty).expect_err("refused"), &words);
        let gru = wgpu_rnn::import::TorchConfig { cell: Cell::Gru, proj_size: 4, ..torch };
        let e = wgpu_rnn::import::torch_network(&gru, &empty).expect_err("refused");
        assert_mentions(&e, &["proj_size", "only LSTM layers have a projection"]);
    }
    let cfg = RandomConfig { proj_size: 7, ..RandomConfig::simple(Cell::Lstm, 3, 8) };
    assert!(common::gpu().load(random::network(&cfg, 1, |s| s)).is_ok(), "7 of 8 is a projection");
}
