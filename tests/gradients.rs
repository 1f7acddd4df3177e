//! The CPU reference's backward against torch autograd (`tests/data/grad`, FORMAT.md
//! "Gradients"), and the gradient comparison's own ability to fail.

use std::path::PathBuf;

mod common;

use wgpu_rnn::case::Case;

fn grad_cases() -> Vec<PathBuf> {
    common::data_files("grad")
}

fn cpu_gradients(case: &Case) -> wgpu_rnn::Gradients {
    let check = case.gradients.as_ref().expect("a gradient case");
    wgpu_rnn::cpu::backward(&case.network, &case.inputs, &check.upstream).expect("backward runs")
}

#[test]
fn every_gradient_case_passes_on_the_cpu_reference() {
    let files = grad_cases();
    assert!(files.len() >= 66, "expected the shipped gradient cases, found {}", files.len());
    let mut failures = Vec::new();
    for path in files {
        let case = Case::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let cmp = case.compare_gradients(&cpu_gradients(&case));
        assert!(!cmp.is_empty(), "{}: no gradients compared", case.name);
        failures.extend(common::failure_lines(&case.name, &cmp));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_gradient_of_a_case_is_compared_and_a_wrong_one_fails() {
    let path = grad_cases()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("lstm_peephole"))
        .expect("an LSTM case with peepholes");
    let case = Case::load(&path).expect("loads");
    let mut g = cpu_gradients(&case);
    let names: Vec<String> = case.compare_gradients(&g).into_iter().map(|c| c.name).collect();
    for want in ["grad.X", "grad.W", "grad.R", "grad.B", "grad.P"] {
        assert!(names.iter().any(|n| n == want), "{want} not compared: {names:?}");
    }
    g.layers[0].p.as_mut().expect("peephole gradients")[1] += 0.05;
    let bad: Vec<_> = case.compare_gradients(&g).into_iter().filter(|c| !c.passed()).collect();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].name, "grad.P");
    assert!(bad[0].mismatches[0].contains("[0, 1]"), "{:?}", bad[0].mismatches);
}
