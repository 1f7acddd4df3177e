//! Every shipped conformance case (ONNX Runtime outputs) passes on the GPU and on the CPU
//! reference within FORMAT.md's tolerance.

mod common;

use wgpu_rnn::case::Case;
use wgpu_rnn::plan::StepVariant;

fn report(path: &str, name: &str, cmp: &[wgpu_rnn::case::Comparison]) -> Vec<String> {
    cmp.iter()
        .filter(|c| !c.passed())
        .map(|c| format!("{path} {name} {}: rel={:.2e} max={:.2e} {}", c.name, c.rel, c.max, c.mismatches.join("; ")))
        .collect()
}

#[test]
fn every_case_passes_on_the_gpu() {
    let engine = common::gpu();
    let files = common::case_files();
    assert!(files.len() >= 66 + 97, "expected the shipped cases, found {}", files.len());
    let mut failures = Vec::new();
    for path in files {
        let case = Case::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let probe = engine.load(case.network.clone()).expect("loads");
        for variant in StepVariant::ALL.into_iter().filter(|&v| probe.supports_variant(v)) {
            let mut model = engine.load(case.network.clone()).expect("loads");
            model.set_variant(Some(variant)).expect("supported");
            assert!(model.is_gpu());
            let out = model.forward(&case.inputs).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let plan = model.plan(&case.inputs).expect("gpu model has a plan").expect("valid inputs");
            assert!(
                out.dispatches > 0 && out.dispatches == plan.dispatches(),
                "{}: the GPU path did not run",
                case.name
            );
            failures.extend(report(&format!("gpu {variant:?}"), &case.name, &case.compare(&out)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_case_passes_on_the_cpu_reference() {
    let mut failures = Vec::new();
    for path in common::case_files() {
        let case = Case::load(&path).expect("loads");
        let out = wgpu_rnn::cpu::forward(&case.network, &case.inputs).expect("runs");
        assert_eq!(out.dispatches, 0);
        failures.extend(report("cpu", &case.name, &case.compare(&out)));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_wrong_engine_fails_the_comparison() {
    // The comparison itself must be able to fail: perturb one output element.
    let case = Case::load(&common::case_files()[0]).expect("loads");
    let mut out = wgpu_rnn::cpu::forward(&case.network, &case.inputs).expect("runs");
    out.h_n[0] += 0.01;
    let cmp = case.compare(&out);
    let bad: Vec<_> = cmp.iter().filter(|c| !c.passed()).collect();
    assert_eq!(bad.len(), 1, "{cmp:?}");
    assert!(bad[0].mismatches[0].contains("[0, 0, 0]"), "{:?}", bad[0].mismatches);
    out.h_n[0] = f32::NAN;
    assert!(case.compare(&out).iter().any(|c| !c.passed()), "NaN must never pass");
}

/// A case may give only some of a node's outputs (ONNX's own backend tests often give `Y_h`
/// alone): it is checked on those, and still fails when one of them is wrong. A case with no
/// expected output at all is an error naming what it should give.
#[test]
fn a_case_with_some_outputs_is_checked_on_those() {
    let dir = std::env::temp_dir().join(format!("wgpu-rnn-partial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for (source, keep, all) in [
        ("conformance/lstm_forward_s1.safetensors", vec!["Y_h"], ["Y", "Y_h", "Y_c"]),
        ("conformance/gru_bidirectional_s0.safetensors", vec!["Y"], ["Y", "Y_h", "Y_c"]),
        ("conformance/lstm_forward_s1.safetensors", vec!["Y_c", "Y"], ["Y", "Y_h", "Y_c"]),
        ("conformance-extra/torch_lstm_2layer_bidi_packed.safetensors", vec!["h_n"], ["output", "h_n", "c_n"]),
    ] {
        let mut f = wgpu_rnn::tensor::TensorFile::read(&root.join(source)).expect("reads");
        for name in all {
            if !keep.contains(&name) {
                f.floats.remove(name);
            }
        }
        let path = dir.join("partial.safetensors");
        std::fs::write(&path, f.to_bytes().unwrap()).unwrap();
        let case = Case::load(&path).unwrap_or_else(|e| panic!("{source} with {keep:?}: {e}"));
        let out = common::gpu().load(case.network.clone()).expect("loads").forward(&case.inputs).expect("runs");
        let cmp = case.compare(&out);
        let mut names: Vec<&str> = cmp.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        let mut want = keep.clone();
        want.sort();
        assert_eq!(names, want, "{source}: checked on the outputs it gives");
        assert!(cmp.iter().all(|c| c.passed()), "{source}: {cmp:?}");
        let mut wrong = out.clone();
        wrong.y.iter_mut().chain(wrong.h_n.iter_mut()).chain(wrong.c_n.iter_mut().flatten()).for_each(|v| *v += 0.5);
        assert!(case.compare(&wrong).iter().all(|c| !c.passed()), "{source}: a wrong output still fails");
        for name in keep {
            f.floats.remove(name);
        }
        std::fs::write(&path, f.to_bytes().unwrap()).unwrap();
        let err = Case::load(&path).expect_err("no expected output").to_string();
        assert!(err.contains("no expected output") && err.contains(all[1]), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
