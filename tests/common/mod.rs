//! Shared by the test files: one engine per test binary, a GPU that must exist, the shipped
//! case files.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;
use std::sync::OnceLock;

use wgpu_rnn::Engine;

/// The GPU engine. Panics (fails the test) when no adapter exists: GPU tests never skip and
/// never fall back to the CPU.
pub fn gpu() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let e = Engine::gpu().expect("GPU tests need an adapter (lavapipe: apt-get install mesa-vulkan-drivers)");
        assert!(e.is_gpu(), "engine fell back to the CPU");
        e
    })
}

/// A GPU engine that keeps all of wgpu's runtime checks in the kernels (what other backends
/// than Vulkan run, and `WGPU_RNN_CHECKED_SHADERS=1`).
pub fn checked_gpu() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut opts = wgpu_rnn::EngineOptions::from_env().expect("valid environment");
        opts.require_gpu = true;
        opts.gpu.checked_shaders = true;
        let e = Engine::with_options(&opts).expect("GPU tests need an adapter");
        let checks = e.context().expect("a GPU engine").shader_checks(wgpu_rnn::kernels::Kernel::LstmStep);
        assert!(checks.bounds_checks && checks.force_loop_bounding, "checks kept: {checks:?}");
        e
    })
}

/// A GPU engine with the portable build (`GpuOptions::build`): the kernels every adapter
/// without 8-wide subgroups runs, on the CI's lavapipe.
pub fn unshared_gpu() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut opts = wgpu_rnn::EngineOptions::from_env().expect("valid environment");
        opts.require_gpu = true;
        opts.gpu.build = Some(wgpu_rnn::kernels::KernelBuild::Portable);
        let e = Engine::with_options(&opts).expect("GPU tests need an adapter");
        let ctx = e.context().expect("a GPU engine");
        assert_eq!(ctx.build, wgpu_rnn::kernels::KernelBuild::Portable, "the portable kernels");
        e
    })
}

/// All conformance case files shipped with the repo (the ONNX project's own node tests among
/// them, `onnx-backend`).
pub fn case_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        ["conformance", "conformance-extra", "onnx-backend"].into_iter().flat_map(data_files).collect();
    v.sort();
    v
}

/// The case files (`*.safetensors`) in `tests/data/<dir>`, sorted.
pub fn data_files(dir: &str) -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    v.sort();
    v
}

/// One line per failed comparison of `case`: name, errors and the first mismatches.
pub fn failure_lines(case: &str, comparisons: &[wgpu_rnn::case::Comparison]) -> Vec<String> {
    comparisons
        .iter()
        .filter(|c| !c.passed())
        .map(|c| format!("{case} {}: rel={:.2e} max={:.2e} {}", c.name, c.rel, c.max, c.mismatches.join("; ")))
        .collect()
}
