//! Criterion benches: each kernel in isolation (on the buffers of a real forward call), the end
//! to end forward call, and the CPU cost of recording one time step.
//!
//!     cargo bench --bench kernels
//!
//! Throughput is reported in FLOPs (`2·G·H·(I+H)·B·T` for a layer, `2·M·N·K` for the matmul).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wgpu_rnn::bench::BenchConfig;
use wgpu_rnn::kernels::Kernel;
use wgpu_rnn::plan::StepVariant;
use wgpu_rnn::{Cell, Engine, Model};

fn engine() -> Engine {
    Engine::gpu().expect("benches need a GPU adapter (lavapipe: apt-get install mesa-vulkan-drivers)")
}

fn model(engine: &Engine, c: &BenchConfig, variant: Option<StepVariant>) -> (Model, wgpu_rnn::Inputs) {
    let net = c.network(1);
    let inputs = c.inputs(&net, 1);
    let mut m = engine.load(net).expect("loads");
    m.set_variant(variant).expect("supported");
    // one full call first, so every buffer (the projection's output included) holds real data
    gpu(&m).time_forward(&inputs).expect("runs");
    (m, inputs)
}

/// Times the plan's dispatches of `kernels` alone; panics if there were none (a bench that
/// timed nothing must not report a number).
fn time_only(m: &Model, inputs: &wgpu_rnn::Inputs, kernels: &[Kernel]) -> wgpu_rnn::gpu::Timing {
    let t = gpu(m).time_kernels(inputs, |k| kernels.contains(&k)).expect("runs");
    assert!(t.dispatches > 0, "no dispatch of {kernels:?} in the plan");
    t
}

fn gpu(m: &Model) -> &wgpu_rnn::gpu::GpuModel {
    match m {
        Model::Gpu(g) => g,
        Model::Cpu(_) => panic!("the bench engine must be a GPU"),
    }
}

fn kernels(c: &mut Criterion) {
    let engine = engine();
    let mut g = c.benchmark_group("kernel");
    g.sample_size(10);
    // the input projection: M = T*B rows, N = 4H, K = I
    let cfg = BenchConfig { input: 256, ..BenchConfig::new(Cell::Lstm, 256, 16, 64) };
    let (m, inputs) = model(&engine, &cfg, None);
    let flops = 2.0 * (64 * 16) as f64 * (4 * 256) as f64 * 256.0;
    g.throughput(Throughput::Elements(flops as u64));
    g.bench_function("input_projection M1024 N1024 K256", |b| {
        b.iter(|| time_only(&m, &inputs, &[Kernel::InputProjection]))
    });
    // step kernels alone: the recurrent half of the FLOPs
    for (cell, kernel) in [(Cell::Lstm, Kernel::LstmStep), (Cell::Gru, Kernel::GruStep), (Cell::Rnn, Kernel::RnnStep)] {
        for (rows, batch) in [(1, 4), (4, 4), (8, 16), (16, 16)] {
            let cfg = BenchConfig::new(cell, 256, batch, 32);
            let (m, inputs) = model(&engine, &cfg, Some(StepVariant::PerStep { rows }));
            let flops = 2.0 * cell.gates() as f64 * 256.0 * 256.0 * batch as f64 * 32.0;
            g.throughput(Throughput::Elements(flops as u64));
            g.bench_function(format!("{} rows{rows} H256 B{batch} T32", kernel.entry_point()), |b| {
                b.iter(|| time_only(&m, &inputs, &[kernel]))
            });
        }
    }
    // the GPU step kernels through workgroup memory (GRU as PyTorch builds it: BenchConfig)
    for (cell, sliced, tiled) in [
        (Cell::Lstm, Kernel::LstmStepSliced, Kernel::LstmStepTiled),
        (Cell::Gru, Kernel::GruStepSliced, Kernel::GruStepTiled),
    ] {
        for (variant, kernel, batch) in
            [(StepVariant::Sliced { rows: 1 }, sliced, 4), (StepVariant::Tiled { rows: 1 }, tiled, 32)]
        {
            let cfg = BenchConfig::new(cell, 256, batch, 32);
            let (m, inputs) = model(&engine, &cfg, Some(variant));
            let flops = 2.0 * cell.gates() as f64 * 256.0 * 256.0 * batch as f64 * 32.0;
            g.throughput(Throughput::Elements(flops as u64));
            g.bench_function(format!("{} H256 B{batch} T32", kernel.entry_point()), |b| {
                b.iter(|| time_only(&m, &inputs, &[kernel]))
            });
        }
    }
    for cell in [Cell::Lstm, Cell::Gru] {
        let cfg = BenchConfig::new(cell, 128, 4, 64);
        let (m, inputs) = model(&engine, &cfg, Some(StepVariant::Persistent));
        let flops = 2.0 * cell.gates() as f64 * 128.0 * 128.0 * 4.0 * 64.0;
        g.throughput(Throughput::Elements(flops as u64));
        g.bench_function(format!("layer_persistent {} H128 B4 T64", cell.name()), |b| {
            b.iter(|| time_only(&m, &inputs, &[Kernel::LayerPersistent]))
        });
    }
    g.finish();
}

fn end_to_end(c: &mut Criterion) {
    let engine = engine();
    let mut g = c.benchmark_group("forward");
    g.sample_size(10);
    for cell in [Cell::Lstm, Cell::Gru] {
        for (h, b) in [(128, 4), (256, 4)] {
            let cfg = BenchConfig::new(cell, h, b, 50);
            let (m, inputs) = model(&engine, &cfg, None);
            g.throughput(Throughput::Elements(cfg.flops() as u64));
            g.bench_function(format!("{} H{h} B{b} T50", cell.name()), |bch| {
                bch.iter(|| gpu(&m).time_forward(&inputs).expect("runs"))
            });
        }
    }
    g.finish();
}

/// CPU time to record one time step (per-step kernels): a 1000-step plan recorded into an
/// encoder and finished, never submitted, divided by 1000 in the report (Throughput = steps).
fn record_step(c: &mut Criterion) {
    let engine = engine();
    let ctx = engine.context().expect("gpu").clone();
    let mut g = c.benchmark_group("record");
    for cell in [Cell::Lstm, Cell::Gru] {
        let cfg = BenchConfig { input: 8, ..BenchConfig::new(cell, 256, 1, 1000) };
        let (m, inputs) = model(&engine, &cfg, Some(StepVariant::PerStep { rows: 1 }));
        gpu(&m).time_forward(&inputs).expect("warm workspace");
        g.throughput(Throughput::Elements(1000));
        g.bench_function(format!("{} 1000 steps", cell.name()), |b| {
            b.iter(|| {
                let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
                gpu(&m).record_only(&mut enc, &inputs).expect("records");
                enc.finish()
            })
        });
    }
    g.finish();
}

/// CPU time to record one training step (forward with a tape, loss, backward, clipping,
/// update; the per-step kernels, as on a CPU driver or a large layer on a GPU) of `bench
/// --train`'s model at T 100: recorded into an encoder and finished, never submitted; the
/// batch's inputs are written to the queue each time, as a step writes them (an empty submit
/// outside the timed part, every 100 steps, lets those writes go).
fn record_train_step(c: &mut Criterion) {
    let engine = engine();
    let ctx = engine.context().expect("gpu").clone();
    let mut g = c.benchmark_group("record");
    for cell in [Cell::Lstm, Cell::Gru] {
        let cfg = BenchConfig::new(cell, 256, 4, 100);
        let (model, train_cfg, batch) = wgpu_rnn::bench::train_setup(&cfg, 1).expect("bench model");
        let mut stepper = wgpu_rnn::gpu::GpuStepper::new(ctx.clone(), model, train_cfg).expect("uploads");
        stepper.set_walk(Some(wgpu_rnn::train::Walk::PerStep));
        stepper.step(&batch).expect("a first step makes the workspace");
        g.bench_function(format!("train {} H256 B4 T100", cell.name()), |b| {
            b.iter_custom(|iters| {
                let mut timed = std::time::Duration::ZERO;
                for i in 0..iters {
                    let start = std::time::Instant::now();
                    let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
                    let dispatches = stepper.record_only(&batch, &mut enc).expect("records");
                    drop(enc.finish());
                    timed += start.elapsed();
                    assert!(dispatches > 200, "{dispatches} dispatches: not the per-step kernels");
                    if i % 100 == 99 {
                        ctx.queue.submit([]);
                        ctx.device.poll(wgpu::PollType::wait_indefinitely()).expect("the queue drains");
                    }
                }
                timed
            })
        });
    }
    g.finish();
}

criterion_group!(benches, kernels, end_to_end, record_step, record_train_step);
criterion_main!(benches);
