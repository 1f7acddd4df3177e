//! Fast start: creating an engine compiles nothing; a model compiles the kernels its plan uses
//! the first time and later models of the same shape compile nothing; compiled pipelines go to
//! a pipeline cache file on disk, which a second engine reads; a corrupt or foreign file is
//! ignored (a warning), never an error.

use std::path::Path;

use wgpu_rnn::gpu::CacheSetting;
use wgpu_rnn::random::{self, RandomConfig};
use wgpu_rnn::{Cell, Engine, EngineOptions};

fn engine(cache: CacheSetting) -> Engine {
    let mut opts = EngineOptions::from_env().expect("valid environment");
    opts.require_gpu = true;
    opts.gpu.pipeline_cache = cache;
    Engine::with_options(&opts).expect("GPU tests need an adapter (lavapipe: apt-get install mesa-vulkan-drivers)")
}

/// Runs one forward of a small `cell` stack on `e` against the CPU reference; returns the
/// pipelines compiled so far.
fn forward(e: &Engine, cell: Cell, seed: u64) -> usize {
    let net = random::pytorch_network(&RandomConfig::simple(cell, 5, 8), seed);
    let inp = random::inputs(&net, 6, 3, seed, true, true);
    let gpu = e.load(net.clone()).expect("loads").forward(&inp).expect("runs");
    let cpu = wgpu_rnn::cpu::forward(&net, &inp).expect("reference");
    let worst = gpu.y.iter().zip(&cpu.y).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "{cell:?}: the GPU differs from the CPU reference by {worst}");
    e.context().expect("a GPU engine").compiled_pipelines()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wgpu-rnn-startup-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn an_engine_compiles_only_what_its_models_use() {
    let e = engine(CacheSetting::Off);
    let ctx = e.context().expect("a GPU engine").clone();
    assert!(ctx.pipeline_cache_path().is_none(), "the cache is off");
    assert_eq!(ctx.compiled_pipelines(), 0, "creating an engine compiles nothing");
    let after_lstm = forward(&e, Cell::Lstm, 1);
    assert!(after_lstm > 0, "the LSTM's kernels were compiled");
    let variants: usize = wgpu_rnn::kernels::Kernel::ALL
        .iter()
        .filter(|k| k.builds().contains(&ctx.build))
        .map(|k| k.row_variants().len() * k.aligned_variants().len())
        .sum();
    assert!(after_lstm * 4 < variants, "{after_lstm} of {variants} pipelines: only what the plan uses");
    assert_eq!(forward(&e, Cell::Lstm, 2), after_lstm, "a second model of the same shape compiles nothing");
    let after_gru = forward(&e, Cell::Gru, 3);
    assert!(after_gru > after_lstm, "a GRU compiles its own kernels");
}

#[test]
fn the_pipeline_cache_is_written_read_and_never_an_error() {
    let dir = temp_dir("cache");
    let path = {
        let e = engine(CacheSetting::Dir(dir.clone()));
        let path = e.context().expect("a GPU engine").pipeline_cache_path().expect("lavapipe keeps a cache (Vulkan)");
        assert!(path.starts_with(&dir), "{} is under {}", path.display(), dir.display());
        forward(&e, Cell::Lstm, 1);
        path
    }; // dropping the engine writes the file
    let written = std::fs::read(&path).expect("the cache file was written");
    assert!(written.starts_with(b"WGPURNN1") && written.len() > 32, "{} bytes", written.len());
    // a second engine reads it and runs
    let e = engine(CacheSetting::Dir(dir.clone()));
    assert_eq!(e.context().unwrap().pipeline_cache_path().as_deref(), Some(path.as_path()));
    forward(&e, Cell::Lstm, 4);
    drop(e);
    // corrupt, truncated and foreign files: ignored, the engine works and writes a good one
    let mut corrupt = written.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x5a;
    for bad in [corrupt, written[..written.len() / 3].to_vec(), b"not a cache at all".to_vec()] {
        std::fs::write(&path, &bad).unwrap();
        {
            let e = engine(CacheSetting::Dir(dir.clone()));
            forward(&e, Cell::Gru, 5);
        }
        let rewritten = std::fs::read(&path).unwrap();
        assert!(rewritten.starts_with(b"WGPURNN1"), "a good file replaced the bad one");
    }
    // a directory that cannot be written: the engine still works (the warning is on stderr)
    let file_not_dir = dir.join("plain-file");
    std::fs::write(&file_not_dir, b"x").unwrap();
    {
        let e = engine(CacheSetting::Dir(file_not_dir.join("sub")));
        forward(&e, Cell::Rnn, 6);
    }
    assert!(!Path::new(&file_not_dir.join("sub")).exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// Models first used from several threads at once share one engine's pipelines: every result
/// equals the CPU reference, and the engine keeps one pipeline per kernel variant, as many as
/// one thread compiles.
#[test]
fn models_first_used_from_several_threads_share_one_engines_pipelines() {
    let cells = [Cell::Lstm, Cell::Gru, Cell::Rnn, Cell::Lstm];
    let together = engine(CacheSetting::Off);
    std::thread::scope(|s| {
        for (i, &cell) in cells.iter().enumerate() {
            let e = &together;
            s.spawn(move || forward(e, cell, 10 + i as u64));
        }
    });
    let one_by_one = engine(CacheSetting::Off);
    let mut last = 0;
    for (i, &cell) in cells.iter().enumerate() {
        last = forward(&one_by_one, cell, 10 + i as u64);
    }
    let compiled = together.context().expect("a GPU engine").compiled_pipelines();
    assert!(last > 3, "the three cells compile several pipelines ({last})");
    assert_eq!(compiled, last, "one pipeline per kernel variant, whichever thread compiled it");
}
