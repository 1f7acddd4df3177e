//! Loaders that never crash: every file reader and importer (the safetensors reader, the case
//! loaders for forward, gradient and training cases, the PyTorch importer behind them, saved
//! models, and the `.onnx` parser and importer) gets random bytes, truncated files, flipped bytes, and valid files whose
//! header has mutated shapes, dtypes, offsets and metadata. Each input must end in `Ok` or a
//! typed `Error`: no panic, and no single allocation larger than the input could justify
//! (a header that claims 2^40 elements is an error before anything is allocated).
//!
//! Bounded for CI: `WGPU_RNN_FUZZ_SECONDS` (default 20) and `WGPU_RNN_FUZZ_SEED` (default 1);
//! a longer run: `WGPU_RNN_FUZZ_SECONDS=600 cargo test --release --test fuzz_loaders -- --nocapture`.
//! An input that panics is written to `target/fuzz-failures/` and named in the failure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wgpu_rnn::case::{Case, TrainCase};
use wgpu_rnn::random::Rng;
use wgpu_rnn::tensor::TensorFile;
use wgpu_rnn::train::TrainModel;

/// The system allocator, recording the largest single request (this file holds one test, so
/// nothing else allocates meanwhile but the harness).
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);
/// Requests above this fail (the process aborts, failing the test) rather than take the
/// machine's memory.
const HARD_CAP: usize = 1 << 30;

// SAFETY: forwards to `System`; only records sizes and refuses requests above `HARD_CAP`.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        if layout.size() > HARD_CAP {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        if new_size > HARD_CAP {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// The shipped files to mutate, and a saved model with its optimizer state.
fn seeds(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut out = Vec::new();
    for sub in ["conformance", "conformance-extra", "onnx-backend", "grad", "train", "onnx"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(sub))
            .unwrap_or_else(|e| panic!("{sub}: {e}"))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors" || x == "onnx"))
            .collect();
        files.sort();
        // a spread of each kind keeps the run varied within its time
        for p in files.iter().step_by((files.len() / 12).max(1)) {
            out.push((format!("{sub}/{}", p.file_name().unwrap().to_string_lossy()), std::fs::read(p).unwrap()));
        }
    }
    let case = TrainCase::load(
        &root.join("train").join(std::fs::read_dir(root.join("train")).unwrap().next().unwrap().unwrap().file_name()),
    )
    .expect("a training case");
    let saved = dir.join("model.safetensors");
    let state = wgpu_rnn::train::OptimizerState::new(&case.model.parameter_sizes());
    case.model.save(&saved, Some(&state)).expect("saves");
    out.push(("saved model".into(), std::fs::read(&saved).unwrap()));
    out
}

/// One mutation of `bytes`.
fn mutate(bytes: &[u8], rng: &mut Rng) -> (String, Vec<u8>) {
    match rng.range(0, 5) {
        0 => {
            let n = rng.range(0, 600);
            ("random bytes".into(), (0..n).map(|_| rng.range(0, 255) as u8).collect())
        }
        1 => {
            let cut = rng.range(0, bytes.len());
            (format!("truncated at {cut}"), bytes[..cut].to_vec())
        }
        2 => {
            let mut b = bytes.to_vec();
            for _ in 0..rng.range(1, 8) {
                let i = rng.range(0, b.len().max(1) - 1);
                if let Some(x) = b.get_mut(i) {
                    *x ^= 1 << rng.range(0, 7);
                }
            }
            ("flipped bits".into(), b)
        }
        _ => mutate_header(bytes, rng),
    }
}

/// A safetensors file with one change to its JSON header: a shape, a dtype, offsets or a
/// metadata value.
fn mutate_header(bytes: &[u8], rng: &mut Rng) -> (String, Vec<u8>) {
    let n = bytes.get(..8).map_or(usize::MAX, |b| u64::from_le_bytes(b.try_into().unwrap()) as usize);
    let Some(Ok(mut header)) = bytes.get(8..8usize.saturating_add(n)).map(serde_json::from_slice::<serde_json::Value>)
    else {
        // not a safetensors file (an .onnx model): flip bits instead
        let mut b = bytes.to_vec();
        let i = rng.range(0, b.len() - 1);
        b[i] = rng.range(0, 255) as u8;
        return ("changed byte".into(), b);
    };
    let data = &bytes[8 + n..];
    let obj = header.as_object_mut().unwrap();
    let tensors: Vec<String> = obj.keys().filter(|k| *k != "__metadata__").cloned().collect();
    let huge = [0u64, 1, 3, 1 << 20, 1 << 40, u32::MAX as u64, u64::MAX / 2];
    let what = match rng.range(0, 3) {
        0 if !tensors.is_empty() => {
            let t = &tensors[rng.range(0, tensors.len() - 1)];
            let entry = obj.get_mut(t).unwrap();
            let shape = entry["shape"].as_array_mut().unwrap();
            if shape.is_empty() || rng.range(0, 3) == 0 {
                shape.push(serde_json::json!(huge[rng.range(0, huge.len() - 1)]));
            } else {
                let i = rng.range(0, shape.len() - 1);
                shape[i] = serde_json::json!(huge[rng.range(0, huge.len() - 1)]);
            }
            format!("shape of {t}")
        }
        1 if !tensors.is_empty() => {
            let t = &tensors[rng.range(0, tensors.len() - 1)];
            let entry = obj.get_mut(t).unwrap();
            if rng.range(0, 1) == 0 {
                let dtypes = ["F32", "F16", "BF16", "I32", "I64", "U8", "F64", "BOOL", "I8", "??"];
                entry["dtype"] = serde_json::json!(dtypes[rng.range(0, dtypes.len() - 1)]);
                format!("dtype of {t}")
            } else {
                let end = entry["data_offsets"][1].as_u64().unwrap_or(0);
                let shift = [0u64, 1, 4, end / 2, 1 << 40][rng.range(0, 4)];
                entry["data_offsets"] = serde_json::json!([end.saturating_sub(shift), end + shift % 7]);
                format!("offsets of {t}")
            }
        }
        _ => {
            let meta = obj.entry("__metadata__").or_insert_with(|| serde_json::json!({}));
            let meta = meta.as_object_mut().unwrap();
            let keys: Vec<String> = meta.keys().cloned().collect();
            let values = ["", "-1", "0", "1099511627776", "abc", "nan", "1e40", "true", "lstm", "LSTM", "1,2,,3"];
            if keys.is_empty() || rng.range(0, 4) == 0 {
                meta.insert("hidden_size".into(), serde_json::json!(values[rng.range(0, values.len() - 1)]));
                "metadata added".into()
            } else {
                let k = &keys[rng.range(0, keys.len() - 1)];
                if rng.range(0, 3) == 0 {
                    meta.remove(k);
                    format!("metadata {k} removed")
                } else {
                    meta.insert(k.clone(), serde_json::json!(values[rng.range(0, values.len() - 1)]));
                    format!("metadata {k} changed")
                }
            }
        }
    };
    let text = serde_json::to_vec(&header).unwrap();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(data);
    (what, out)
}

/// Every loader on `bytes` (written to `path` for those that read files): the outcomes, or the
/// panic's message.
fn load_all(bytes: &[u8], path: &Path) -> Result<usize, String> {
    std::fs::write(path, bytes).unwrap();
    let run = || {
        let mut ok = 0;
        if let Ok(f) = TensorFile::parse(bytes) {
            ok += 1;
            ok += usize::from(Case::from_file("fuzz".into(), &f).is_ok());
            ok += usize::from(TrainCase::from_file("fuzz".into(), &f).is_ok());
        }
        ok += usize::from(Case::load(path).is_ok());
        ok += usize::from(TrainModel::load(path).is_ok());
        ok += usize::from(wgpu_rnn::onnx::OnnxModel::parse(bytes).is_ok());
        ok
    };
    std::panic::catch_unwind(run).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn loaders_end_in_ok_or_a_typed_error_on_any_input() {
    let seconds: u64 = std::env::var("WGPU_RNN_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let seed: u64 = std::env::var("WGPU_RNN_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let dir = std::env::temp_dir().join(format!("wgpu-rnn-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seeds = seeds(&dir);
    // the unmutated files load
    for (name, bytes) in &seeds {
        let want = if name.ends_with(".onnx") { 1 } else { 2 };
        assert!(load_all(bytes, &dir.join("input.safetensors")).unwrap() >= want, "{name} loads");
    }
    std::panic::set_hook(Box::new(|_| {})); // panics are caught and reported below
    let mut rng = Rng::new(seed);
    let (start, mut tried, mut accepted) = (Instant::now(), 0usize, 0usize);
    let mut failures = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        let (name, base) = &seeds[rng.range(0, seeds.len() - 1)];
        let (what, bytes) = mutate(base, &mut rng);
        LARGEST.store(0, Ordering::Relaxed);
        let outcome = load_all(&bytes, &dir.join("input.safetensors"));
        let largest = LARGEST.load(Ordering::Relaxed);
        tried += 1;
        // the loaders convert f16 to f32 and build networks from the tensors: a few times the
        // file, never more
        let bound = 16 * bytes.len() + (1 << 20);
        let trouble = match outcome {
            Ok(n) => {
                accepted += usize::from(n > 0);
                (largest > bound).then(|| format!("allocated {largest} bytes at once for a {}-byte file", bytes.len()))
            }
            Err(msg) => Some(format!("panicked: {msg}")),
        };
        if let Some(why) = trouble {
            let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
            std::fs::create_dir_all(&out).unwrap();
            let file = out.join(format!("input-{tried}.safetensors"));
            std::fs::write(&file, &bytes).unwrap();
            failures.push(format!("{name}, {what}: {why} (saved as {})", file.display()));
            if failures.len() >= 10 {
                break;
            }
        }
    }
    let _ = std::panic::take_hook();
    std::fs::remove_dir_all(&dir).ok();
    println!("fuzz: {tried} inputs from {} files in {seconds} s (seed {seed}); {accepted} parsed", seeds.len());
    assert!(tried >= 200, "only {tried} inputs in {seconds} s");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
