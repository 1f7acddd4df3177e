//! Layer semantics that need no GPU: activation lists, defaults and parameters.

use wgpu_rnn::spec::{Activation, ActivationKind, Cell, resolve_activations};

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn defaults_per_cell() {
    let lstm = resolve_activations(Cell::Lstm, 2, &[], &[], &[]).expect("ok");
    assert_eq!(lstm.len(), 2);
    assert_eq!(
        lstm[1].iter().map(|a| a.kind).collect::<Vec<_>>(),
        [ActivationKind::Sigmoid, ActivationKind::Tanh, ActivationKind::Tanh]
    );
    assert_eq!(resolve_activations(Cell::Rnn, 1, &[], &[], &[]).expect("ok")[0][0].kind, ActivationKind::Tanh);
}

#[test]
fn alpha_and_beta_are_consumed_in_order() {
    // as ONNX Runtime reads them: each function takes what it uses, in list order
    let a = resolve_activations(
        Cell::Lstm,
        1,
        &names(&["HardSigmoid", "LeakyRelu", "ScaledTanh"]),
        &[0.2, 0.1, 0.9],
        &[0.5, 1.1],
    )
    .expect("ok");
    assert_eq!(a[0][0], Activation { kind: ActivationKind::HardSigmoid, alpha: 0.2, beta: 0.5 });
    assert_eq!(a[0][1], Activation { kind: ActivationKind::LeakyRelu, alpha: 0.1, beta: 0.0 });
    assert_eq!(a[0][2], Activation { kind: ActivationKind::ScaledTanh, alpha: 0.9, beta: 1.1 });
    // missing values take ONNX Runtime's defaults
    let d = resolve_activations(Cell::Gru, 1, &names(&["hardsigmoid", "elu"]), &[], &[]).expect("ok");
    assert_eq!((d[0][0].alpha, d[0][0].beta, d[0][1].alpha), (0.2, 0.5, 1.0));
}

#[test]
fn bidirectional_lists() {
    let both = resolve_activations(Cell::Rnn, 2, &names(&["Relu", "Tanh"]), &[], &[]).expect("ok");
    assert_eq!((both[0][0].kind, both[1][0].kind), (ActivationKind::Relu, ActivationKind::Tanh));
    let shared = resolve_activations(Cell::Rnn, 2, &names(&["Relu"]), &[], &[]).expect("ok");
    assert_eq!((shared[0][0].kind, shared[1][0].kind), (ActivationKind::Relu, ActivationKind::Relu));
    assert!(resolve_activations(Cell::Lstm, 2, &names(&["Relu", "Tanh"]), &[], &[]).is_err());
    assert!(resolve_activations(Cell::Rnn, 1, &[], &[1.0], &[]).is_err(), "alpha without activations");
}

#[test]
fn activation_formulas() {
    let f = |kind, alpha, beta, x| Activation { kind, alpha, beta }.apply(x);
    assert_eq!(f(ActivationKind::ThresholdedRelu, 0.5, 0.0, 0.4), 0.0);
    assert_eq!(f(ActivationKind::ThresholdedRelu, 0.5, 0.0, 0.5), 0.5);
    assert_eq!(f(ActivationKind::Affine, 2.0, 1.0, 3.0), 7.0);
    assert_eq!(f(ActivationKind::HardSigmoid, 0.2, 0.5, 10.0), 1.0);
    assert!((f(ActivationKind::Softplus, 0.0, 0.0, 1000.0) - 1000.0).abs() < 1e-9, "stable for large x");
    assert!((f(ActivationKind::Softsign, 0.0, 0.0, 1.0) - 0.5).abs() < 1e-12);
    assert!((f(ActivationKind::Elu, 1.0, 0.0, -1.0) - ((-1.0f64).exp() - 1.0)).abs() < 1e-12);
    assert!((f(ActivationKind::ScaledTanh, 2.0, 0.5, 1.0) - 2.0 * 0.5f64.tanh()).abs() < 1e-12);
}
