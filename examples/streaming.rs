//! A signal fed sample by sample to a GRU whose state stays on the GPU, printing each step's
//! latency and the outputs beside the CPU reference.
//!
//!     cargo run --release --example streaming [-- --steps 200 --hidden 32]

use std::time::Instant;

use wgpu_rnn::random::{self, RandomConfig};
use wgpu_rnn::{Cell, Engine, Inputs};

fn main() {
    let mut steps = 200usize;
    let mut hidden = 32usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().and_then(|v| v.parse().ok());
        match (a.as_str(), v) {
            ("--steps", Some(n)) => steps = n,
            ("--hidden", Some(n)) => hidden = n,
            _ => {
                eprintln!("usage: streaming [--steps N] [--hidden H]");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = run(steps, hidden) {
        eprintln!("streaming: {e}");
        std::process::exit(1);
    }
}

fn run(steps: usize, hidden: usize) -> wgpu_rnn::Result<()> {
    let engine = Engine::gpu()?;
    let adapter = engine.adapter().expect("gpu engine");
    println!("adapter: {} ({}, {})", adapter.name, adapter.backend, adapter.driver_info);
    // PyTorch-style GRU, one input feature
    let net = random::network(&RandomConfig::simple(Cell::Gru, 1, hidden), 42, |mut s| {
        s.linear_before_reset = true;
        s
    });
    let model = engine.load(net.clone())?;
    let stream = model.stream(1)?;
    // the signal: two sines and a slow ramp
    let signal: Vec<f32> =
        (0..steps).map(|t| (t as f32 * 0.07).sin() + 0.5 * (t as f32 * 0.31).sin() + t as f32 / steps as f32).collect();
    // CPU reference over the whole signal at once
    let reference = wgpu_rnn::cpu::forward(&net, &Inputs { x: signal.clone(), steps, batch: 1, ..Default::default() })?;
    println!("{:>5} {:>9} {:>11} {:>11} {:>11} {:>12}", "t", "x", "gpu y[0]", "cpu y[0]", "|diff| max", "latency us");
    let (mut latencies, mut worst) = (Vec::with_capacity(steps), 0.0f32);
    for (t, &x) in signal.iter().enumerate() {
        let t0 = Instant::now();
        let y = stream.push(&[x], 1, None)?; // one sample in, one output row out
        let us = t0.elapsed().as_secs_f64() * 1e6;
        latencies.push(us);
        let want = &reference.y[t * hidden..(t + 1) * hidden];
        let diff = y.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        worst = worst.max(diff);
        if t % (steps / 20).max(1) == 0 || t + 1 == steps {
            println!("{t:>5} {x:>9.4} {:>11.6} {:>11.6} {diff:>11.2e} {us:>12.0}", y[0], want[0]);
        }
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "{steps} steps: latency median {:.0} us, p99 {:.0} us; max |GPU - CPU reference| = {worst:.2e}",
        latencies[steps / 2],
        latencies[(steps * 99 / 100).min(steps - 1)]
    );
    if worst > 1e-4 {
        return Err(wgpu_rnn::Error::invalid("stream", format!("differs from the CPU reference by {worst}")));
    }
    Ok(())
}
