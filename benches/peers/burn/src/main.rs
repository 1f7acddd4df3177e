//! Peer benchmark: Burn 0.22's LSTM and GRU (`burn::nn`) on its wgpu backend, timed like
//! `wgpu-rnn bench` (warm-up, median of repeats). Prints one JSON record per configuration.
//!
//! - Forward (default): a forward call until the device is idle, no readback.
//! - `--train`: one training step as `wgpu-rnn bench --train` times it: the layer and a
//!   `Linear(H, 1)` head at every step, mean squared error against zeros, Burn's autodiff
//!   backward, gradient clipping to norm 1 and an SGD update (lr 1e-4), then the loss read back
//!   (ours reads back the loss and the gradient norm).
//!
//!     cargo run --release -- --cell lstm --hidden 256 --batch 4 --steps 100
//!     cargo run --release -- --cell gru --hidden 256 --batch 4 --steps 100 --train
//!
//! Not part of wgpu-rnn: an opt-in comparison on the same adapter (see BENCHMARKS.md and
//! `benches/peer-rounds.sh`, which loops over the sizes in interleaved rounds).

use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::nn::{Gru, GruConfig, Linear, LinearConfig, Lstm, LstmConfig};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Distribution, Tensor};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_string())
}

/// The trained network: one recurrent layer and a `Linear(H, 1)` head at every step.
#[derive(Module, Debug)]
struct LstmNet {
    rnn: Lstm,
    head: Linear,
}

#[derive(Module, Debug)]
struct GruNet {
    rnn: Gru,
    head: Linear,
}

/// Times `warmup + repeats` calls of `run`, each until the device is idle; the median in ms.
fn time(device: &Device, warmup: usize, repeats: usize, mut run: impl FnMut()) -> f64 {
    let mut times = Vec::new();
    for i in 0..warmup + repeats {
        let t0 = Instant::now();
        run();
        device.sync().expect("device sync");
        if i >= warmup {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// One optimizer step per call: forward, MSE against zeros, backward, clip, SGD; reads the loss.
fn train<M: Module>(device: &Device, x: Tensor<3>, model: M, forward: impl Fn(&M, Tensor<3>) -> Tensor<3>, warmup: usize, repeats: usize) -> f64 {
    let mut optim = SgdConfig::new().with_gradient_clipping(Some(GradientClippingConfig::Norm(1.0))).init();
    let mut slot = Some(model);
    let ms = time(device, warmup, repeats, || {
        let model = slot.take().expect("the model");
        let y = forward(&model, x.clone());
        let loss = y.powf_scalar(2.0).mean();
        let value = loss.clone().into_scalar::<f32>();
        assert!(value.is_finite(), "loss {value}");
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        slot = Some(optim.step(1e-4, model, grads));
    });
    ms
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cell = arg(&args, "--cell", "lstm");
    let parse = |n: &str, d: &str| arg(&args, n, d).parse::<usize>().expect("a number");
    let (hidden, batch, steps) = (parse("--hidden", "256"), parse("--batch", "4"), parse("--steps", "100"));
    let input = parse("--input", &hidden.to_string());
    let (warmup, repeats) = (parse("--warmup", "2"), parse("--repeats", "5"));
    let training = args.iter().any(|a| a == "--train");
    let device = if training { Device::default().autodiff() } else { Device::default() };
    let x = Tensor::<3>::random([batch, steps, input], Distribution::Default, &device);
    let ms = match (cell.as_str(), training) {
        ("lstm", false) => {
            let m = LstmConfig::new(input, hidden, true).init(&device);
            time(&device, warmup, repeats, || drop(m.forward(x.clone(), None)))
        }
        ("gru", false) => {
            let m = GruConfig::new(input, hidden, true).init(&device);
            time(&device, warmup, repeats, || drop(m.forward(x.clone(), None)))
        }
        ("lstm", true) => {
            let net = LstmNet { rnn: LstmConfig::new(input, hidden, true).init(&device), head: LinearConfig::new(hidden, 1).init(&device) };
            train(&device, x, net, |m, x| m.head.forward(m.rnn.forward(x, None).0), warmup, repeats)
        }
        ("gru", true) => {
            let net = GruNet { rnn: GruConfig::new(input, hidden, true).init(&device), head: LinearConfig::new(hidden, 1).init(&device) };
            train(&device, x, net, |m, x| m.head.forward(m.rnn.forward(x, None)), warmup, repeats)
        }
        (other, _) => panic!("unknown cell {other}"),
    };
    println!(
        "{}",
        serde_json::json!({"peer": "burn 0.22 (wgpu)", "cell": cell, "hidden": hidden, "input": input,
            "batch": batch, "steps": steps, "train": training, "ms": ms, "device": format!("{device:?}")})
    );
}
