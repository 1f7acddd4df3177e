//! The GPU backward (training forward with its tape, then backpropagation through time) against
//! torch autograd on every gradient case, and its forward against the cases' outputs.

use std::sync::Arc;

use wgpu_rnn::case::Case;
use wgpu_rnn::gpu::GpuTrainer;

mod common;

fn trainer(case: &Case) -> GpuTrainer {
    let ctx = common::gpu().context().expect("a GPU engine");
    GpuTrainer::new(Arc::clone(ctx), case.network.clone()).expect("trainer")
}

#[test]
fn every_gradient_case_passes_on_the_gpu() {
    let files = common::data_files("grad");
    assert!(files.len() >= 66, "expected the shipped gradient cases, found {}", files.len());
    let mut failures = Vec::new();
    for path in files {
        let case = Case::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let check = case.gradients.as_ref().expect("a gradient case");
        let (out, grads) = trainer(&case).forward_backward(&case.inputs, &check.upstream).expect("runs");
        assert!(out.dispatches > 2 * case.inputs.steps, "{}: the GPU ran {} dispatches", case.name, out.dispatches);
        failures.extend(common::failure_lines(&case.name, &case.compare(&out)));
        let cmp = case.compare_gradients(&grads);
        assert!(!cmp.is_empty(), "{}: no gradients compared", case.name);
        failures.extend(common::failure_lines(&case.name, &cmp));
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
