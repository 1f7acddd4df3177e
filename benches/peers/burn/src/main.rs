//! Peer benchmark: Burn 0.22's LSTM and GRU (`burn::nn`) on its wgpu backend, timed like
//! `wgpu-rnn bench` (warm-up, median of repeats, forward call until the device is idle, no
//! readback). Prints one JSON record per configuration.
//!
//!     cargo run --release -- --cell lstm --hidden 256 --batch 4 --steps 100
//!
//! Not part of wgpu-rnn: an opt-in comparison on the same adapter (see BENCHMARKS.md). The grid
//! in BENCHMARKS.md:
//!
//!     for h in 256 512 1024; do for b in 1 4 16; do for c in lstm gru; do
//!       ./target/release/burn-peer --cell $c --hidden $h --batch $b --steps 100 --warmup 1 --repeats 3
//!     done; done; done

use std::time::Instant;

use burn::nn::{GruConfig, LstmConfig};
use burn::tensor::{Device, Distribution, Tensor};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cell = arg(&args, "--cell", "lstm");
    let parse = |n: &str, d: &str| arg(&args, n, d).parse::<usize>().expect("a number");
    let (hidden, batch, steps) = (parse("--hidden", "256"), parse("--batch", "4"), parse("--steps", "100"));
    let input = parse("--input", &hidden.to_string());
    let (warmup, repeats) = (parse("--warmup", "2"), parse("--repeats", "5"));
    let device = Device::default();
    let x = Tensor::<3>::random([batch, steps, input], Distribution::Default, &device);
    let run: Box<dyn Fn()> = match cell.as_str() {
        "lstm" => {
            let m = LstmConfig::new(input, hidden, true).init(&device);
            let x = x.clone();
            Box::new(move || {
                let (y, _) = m.forward(x.clone(), None);
                drop(y);
            })
        }
        "gru" => {
            let m = GruConfig::new(input, hidden, true).init(&device);
            let x = x.clone();
            Box::new(move || {
                let y = m.forward(x.clone(), None);
                drop(y);
            })
        }
        other => panic!("unknown cell {other}"),
    };
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
    let ms = times[times.len() / 2];
    println!(
        "{}",
        serde_json::json!({"peer": "burn 0.22 (wgpu)", "cell": cell, "hidden": hidden, "input": input,
            "batch": batch, "steps": steps, "ms": ms, "device": format!("{device:?}")})
    );
}
