//! `wgpu-rnn check` as a library: one case file (forward, gradient or training case, or an
//! `.onnx` model) run on an engine and on the CPU reference, compared with its expected values.
//! The checks are async so that the same code runs in a browser (the web page's suite) and,
//! through a blocking wrapper, in the command line.

use super::{Case, Comparison, TrainCase};
use crate::engine::{Engine, Model};
use crate::onnx::OnnxModel;
use crate::tensor::TensorFile;

/// What a passing case measured: the largest relative and absolute errors, and what ran where.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub rel: f64,
    pub max: f64,
    /// What was compared, e.g. `gpu+cpu` or `gradient case, gpu+cpu`.
    pub what: String,
}

/// The line `wgpu-rnn check` prints for a case: `PASS name rel=… max=… (what)` or
/// `FAIL name: why`.
pub fn line(name: &str, result: &Result<Checked, String>) -> String {
    match result {
        Ok(c) => format!("PASS {name} rel={:.2e} max={:.2e} ({})", c.rel, c.max, c.what),
        Err(why) => format!("FAIL {name}: {why}"),
    }
}

/// The summary line after all cases: `N passed, M failed`.
pub fn summary(passed: usize, failed: usize) -> String {
    format!("{passed} passed, {failed} failed")
}

/// Checks one file's bytes: an ONNX model when `file_name` ends in `.onnx`, else a case file
/// (forward, gradient or training case, told apart by its metadata).
pub async fn check_bytes(engine: &Engine, file_name: &str, bytes: &[u8]) -> Result<Checked, String> {
    if file_name.ends_with(".onnx") {
        return check_model_file(engine, bytes).await;
    }
    let file = TensorFile::parse(bytes).map_err(|e| e.to_string())?;
    let name = file_name.rsplit('/').next().unwrap_or(file_name);
    let name = name.strip_suffix(".safetensors").unwrap_or(name).to_string();
    if TrainCase::is_train(&file) {
        let case = TrainCase::from_file(name, &file).map_err(|e| e.to_string())?;
        let (rel, max, paths) = check_training(engine, &case).await?;
        return Ok(Checked { rel, max, what: format!("training case, {} steps, {paths}", case.batches.len()) });
    }
    let case = Case::from_file(name, &file).map_err(|e| e.to_string())?;
    let model: Model = engine.load(case.network.clone()).map_err(|e| e.to_string())?;
    let (rel, max, paths) = check_case(&model, &case).await?;
    if case.gradients.is_none() {
        return Ok(Checked { rel, max, what: paths.to_string() });
    }
    let (grel, gmax) = check_gradients(&model, &case).await?;
    Ok(Checked { rel: rel.max(grel), max: max.max(gmax), what: format!("gradient case, {paths}") })
}

/// Runs one case on `model` and the CPU reference; Ok((rel, max, where)) when both pass.
async fn check_case(model: &Model, case: &Case) -> Result<(f64, f64, &'static str), String> {
    let mut all: Vec<(&str, Comparison)> = Vec::new();
    let on = if model.is_gpu() { "gpu" } else { "cpu-fallback" };
    let out = model.forward_async(&case.inputs).await.map_err(|e| format!("{on}: {e}"))?;
    if model.is_gpu() && out.dispatches == 0 {
        return Err("the GPU path did not run".into());
    }
    all.extend(case.compare(&out).into_iter().map(|c| (on, c)));
    let reference = crate::cpu::forward(&case.network, &case.inputs).map_err(|e| format!("cpu: {e}"))?;
    all.extend(case.compare(&reference).into_iter().map(|c| ("cpu", c)));
    if let Some((path, c)) = all.iter().find(|(_, c)| !c.passed()) {
        return Err(format!("{path} {} rel={:.2e} max={:.2e} {}", c.name, c.rel, c.max, c.mismatches.join("; ")));
    }
    let rel = all.iter().map(|(_, c)| c.rel).fold(0.0, f64::max);
    let max = all.iter().map(|(_, c)| c.max).fold(0.0, f64::max);
    Ok((rel, max, if model.is_gpu() { "gpu+cpu" } else { "cpu only: no GPU" }))
}

/// Checks a gradient case's backward on `model` (the GPU's, or the CPU reference without one)
/// and on the CPU reference; Ok((rel, max)) when both pass.
async fn check_gradients(model: &Model, case: &Case) -> Result<(f64, f64), String> {
    let Some(g) = &case.gradients else { return Ok((0.0, 0.0)) };
    let on = if model.is_gpu() { "gpu" } else { "cpu-fallback" };
    let grads = model.backward_async(&case.inputs, &g.upstream).await.map_err(|e| format!("{on} backward: {e}"))?;
    let (rel, max) = summarize(on, &case.compare_gradients(&grads))?;
    let grads =
        crate::cpu::backward(&case.network, &case.inputs, &g.upstream).map_err(|e| format!("cpu backward: {e}"))?;
    let (crel, cmax) = summarize("cpu", &case.compare_gradients(&grads))?;
    Ok((rel.max(crel), max.max(cmax)))
}

/// Runs a training case's K steps with `engine` (the GPU, or the CPU reference without one) and
/// on the CPU reference; Ok((rel, max, where)) when both pass.
async fn check_training(engine: &Engine, case: &TrainCase) -> Result<(f64, f64, &'static str), String> {
    let mut results = Vec::new();
    for cpu in [false, true] {
        let cpu_engine = Engine::cpu();
        let mut trainer =
            crate::train::Trainer::new(if cpu { &cpu_engine } else { engine }, case.model.clone(), case.config)
                .map_err(|e| e.to_string())?;
        trainer.carry_state(case.carry);
        let on = if trainer.is_gpu() {
            "gpu"
        } else if cpu {
            "cpu"
        } else {
            "cpu-fallback"
        };
        let mut stats = Vec::new();
        for (k, batch) in case.batches.iter().enumerate() {
            stats.push(trainer.step_async(batch).await.map_err(|e| format!("{on} step {k}: {e}"))?);
        }
        let model = trainer.model_async().await.map_err(|e| format!("{on}: {e}"))?;
        results.push(summarize(on, &case.compare(&stats, &model))?);
        if !engine.is_gpu() {
            return Ok((results[0].0, results[0].1, "cpu only: no GPU"));
        }
    }
    let rel = results.iter().map(|r| r.0).fold(0.0, f64::max);
    let max = results.iter().map(|r| r.1).fold(0.0, f64::max);
    Ok((rel, max, "gpu+cpu"))
}

/// The largest errors of passing comparisons, or the first failure.
pub fn summarize(path: &str, cmp: &[Comparison]) -> Result<(f64, f64), String> {
    if let Some(c) = cmp.iter().find(|c| !c.passed()) {
        return Err(format!("{path} {} rel={:.2e} max={:.2e} {}", c.name, c.rel, c.max, c.mismatches.join("; ")));
    }
    Ok((cmp.iter().map(|c| c.rel).fold(0.0, f64::max), cmp.iter().map(|c| c.max).fold(0.0, f64::max)))
}

/// A model file: loads, and runs a random input on the engine and on the CPU reference.
async fn check_model_file(engine: &Engine, bytes: &[u8]) -> Result<Checked, String> {
    let m = OnnxModel::parse(bytes).map_err(|e| e.to_string())?;
    let net = &m.network;
    let inp = crate::random::inputs(net, 7, 3, 1, true, false);
    let model = engine.load(net.clone()).map_err(|e| e.to_string())?;
    let out = model.forward_async(&inp).await.map_err(|e| e.to_string())?;
    if engine.is_gpu() && out.dispatches == 0 {
        return Err("the GPU path did not run".into());
    }
    let reference = crate::cpu::forward(net, &inp).map_err(|e| e.to_string())?;
    let pairs = || out.y.iter().chain(&out.h_n).zip(reference.y.iter().chain(&reference.h_n));
    let max = pairs().map(|(a, b)| (a - b).abs() as f64).fold(0.0, f64::max);
    let scale = pairs().map(|(_, b)| b.abs() as f64).fold(1e-30, f64::max);
    let what = format!(
        "ONNX model from {}, {} {} layer(s), random input on the {} against the CPU reference",
        if m.producer.is_empty() { "an unknown producer" } else { &m.producer },
        net.cell().name().to_uppercase(),
        net.layers.len(),
        if engine.is_gpu() { "GPU" } else { "CPU reference" }
    );
    if max > 1e-4 * scale.max(1.0) {
        return Err(format!("{what}: outputs differ by {max:.2e}"));
    }
    Ok(Checked { rel: max / scale, max, what })
}
