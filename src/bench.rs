//! The benchmark behind `wgpu-rnn bench`: configurations, the DeepBench suite, FLOP counts,
//! timing with warm-up and medians, JSON records and the throughput plot.

use crate::engine::Model;
use crate::error::{Error, Result};
use crate::network::{Inputs, Network};
use crate::random::{self, RandomConfig};
use crate::spec::{Cell, Direction, MergeMode};

/// One benchmarked configuration. Input size defaults to the hidden size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchConfig {
    pub cell: Cell,
    pub hidden: usize,
    pub input: usize,
    pub batch: usize,
    pub steps: usize,
    pub layers: usize,
    pub bidirectional: bool,
    /// LSTM projection size P (0: none).
    pub proj: usize,
    /// GRU with `linear_before_reset = 0` (ONNX's default) instead of PyTorch's and cuDNN's.
    pub reset_before: bool,
}

impl BenchConfig {
    pub fn new(cell: Cell, hidden: usize, batch: usize, steps: usize) -> Self {
        BenchConfig {
            cell,
            hidden,
            input: hidden,
            batch,
            steps,
            layers: 1,
            bidirectional: false,
            proj: 0,
            reset_before: false,
        }
    }

    /// Floating-point operations of one forward call: `2·G·H·(I+H)·B·T` per layer and direction
    /// (I is the layer's own input width); with a projection `2·G·H·(I+P)·B·T + 2·H·P·B·T`.
    pub fn flops(&self) -> f64 {
        let (g, h, b, t) = (self.cell.gates() as f64, self.hidden as f64, self.batch as f64, self.steps as f64);
        let d = if self.bidirectional { 2.0 } else { 1.0 };
        let out = if self.proj > 0 { self.proj as f64 } else { h };
        (0..self.layers)
            .map(|l| {
                let i = if l == 0 { self.input as f64 } else { d * out };
                let projection = if self.proj > 0 { 2.0 * h * out * b * t * d } else { 0.0 };
                2.0 * g * h * (i + out) * b * t * d + projection
            })
            .sum()
    }

    /// A random network of this shape (GRU as PyTorch and cuDNN build it, linear_before_reset,
    /// unless `reset_before`).
    pub fn network(&self, seed: u64) -> Network {
        let direction = if self.bidirectional { Direction::Bidirectional } else { Direction::Forward };
        let cfg = RandomConfig {
            direction,
            layers: self.layers,
            merge: MergeMode::Concat,
            proj_size: self.proj,
            ..RandomConfig::simple(self.cell, self.input, self.hidden)
        };
        random::network(&cfg, seed, |mut s| {
            s.linear_before_reset = s.cell == Cell::Gru && !self.reset_before;
            s
        })
    }

    /// [`Error::TooLarge`] when this shape's largest tensors (a layer's input or recurrent
    /// weights, or x) would not fit one storage binding of a device with `limits`: checked
    /// before the random network is made, which the host might not even hold.
    pub fn check_fits(&self, limits: &wgpu::Limits) -> Result<()> {
        let d = if self.bidirectional { 2 } else { 1 };
        let out = if self.proj > 0 { self.proj } else { self.hidden } as u64;
        let (gates, hidden) = (self.cell.gates() as u64, self.hidden as u64);
        let widest_input = (self.input as u64).max(d * out);
        // bytes of floats of these dimensions; u64::MAX where that overflows (sizes from the
        // command line can be anything)
        let bytes = |dims: &[u64]| dims.iter().try_fold(4u64, |n, &k| n.checked_mul(k)).unwrap_or(u64::MAX);
        let (steps, batch, input) = (self.steps as u64, self.batch as u64, self.input as u64);
        for (what, need) in [
            ("W", bytes(&[d, gates, hidden, widest_input])),
            ("R", bytes(&[d, gates, hidden, out])),
            ("x", bytes(&[steps, batch, input])),
        ] {
            crate::gpu::check_size(limits, format_args!("{what}"), need)?;
        }
        Ok(())
    }

    /// Random full-length inputs for this shape.
    pub fn inputs(&self, net: &Network, seed: u64) -> Inputs {
        random::inputs(net, self.steps, self.batch, seed, false, false)
    }
}

/// A named suite of configurations.
pub fn suite(name: &str) -> Result<Vec<BenchConfig>> {
    let mut v = Vec::new();
    let batches = [1, 2, 4];
    match name {
        "quick" => {
            for cell in [Cell::Lstm, Cell::Gru] {
                for &(h, b, t) in
                    &[(64, 1, 100), (128, 4, 100), (256, 1, 50), (256, 4, 50), (256, 16, 50), (512, 4, 25)]
                {
                    v.push(BenchConfig::new(cell, h, b, t));
                }
            }
            v.push(BenchConfig::new(Cell::Rnn, 64, 1, 96));
        }
        "deepbench-train" => {
            // DeepBench's RNN training set (input size = hidden size); its GRUs at the shortest of
            // their lengths (187; it also lists 375, 750 and 1500 steps of the same layers)
            for h in [1760, 2048, 2560] {
                v.extend([16, 32, 64, 128].map(|b| BenchConfig::new(Cell::Rnn, h, b, 50)));
            }
            for h in [512, 1024, 2048, 4096] {
                v.extend([16, 32, 64, 128].map(|b| BenchConfig::new(Cell::Lstm, h, b, 25)));
            }
            v.extend([8, 16, 32].map(|b| BenchConfig::new(Cell::Lstm, 1536, b, 50)));
            v.extend([16, 32, 64].map(|b| BenchConfig::new(Cell::Lstm, 256, b, 150)));
            for h in [2816, 2048, 1536, 2560] {
                v.push(BenchConfig::new(Cell::Gru, h, 32, 187));
            }
            v.push(BenchConfig::new(Cell::Gru, 512, 32, 1));
            v.extend([32, 64].map(|b| BenchConfig::new(Cell::Gru, 1024, b, 187)));
        }
        "deepbench" => {
            // DeepBench's RNN inference set (input size = hidden size).
            for h in [512, 1024, 2048] {
                v.extend(batches.map(|b| BenchConfig::new(Cell::Lstm, h, b, 25)));
            }
            v.extend(batches.map(|b| BenchConfig::new(Cell::Lstm, 1536, b, 50)));
            v.extend(batches.map(|b| BenchConfig::new(Cell::Lstm, 256, b, 150)));
            for (h, t) in [(2816, 1500), (2048, 750), (1536, 375), (2560, 187)] {
                v.extend(batches.map(|b| BenchConfig::new(Cell::Gru, h, b, t)));
            }
            v.extend(batches.map(|b| BenchConfig::new(Cell::Gru, 512, b, 1)));
            v.extend(batches.map(|b| BenchConfig::new(Cell::Gru, 1024, b, 1500)));
            v.push(BenchConfig::new(Cell::Rnn, 32, 1, 672));
            v.push(BenchConfig::new(Cell::Rnn, 64, 1, 96));
        }
        other => {
            let why = format!("unknown suite `{other}` (quick, deepbench or deepbench-train)");
            return Err(Error::invalid("suite", why));
        }
    }
    Ok(v)
}

/// One measured configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRecord {
    pub config: BenchConfig,
    /// Median wall milliseconds of a forward call (record, submit, GPU done; no readback;
    /// uploading x included where `source` is `InputSource::Host`).
    pub ms: f64,
    /// Median GPU milliseconds from timestamps, where the adapter has them.
    pub gpu_ms: Option<f64>,
    pub dispatches: usize,
    pub variant: String,
    pub adapter: String,
    pub backend: String,
    pub driver: String,
    /// With `measure_kernels`: each kernel of the plan timed alone (its dispatches only), in
    /// plan order: entry point and median milliseconds (GPU time where the adapter has
    /// timestamps, else wall time until the GPU is done).
    pub kernels: Vec<(String, f64)>,
    /// Where the timed calls took x from.
    pub source: InputSource,
    /// A training step (`bench --train`) rather than a forward call: the saved activations'
    /// bytes (the tapes of all layers).
    pub train: Option<TrainFacts>,
}

/// What `bench --train` reports besides time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainFacts {
    /// Bytes of the saved activations (every layer's tape).
    pub tape_bytes: usize,
    /// Compute dispatches per layer (the stack's share of the step, forward and backward).
    pub layer_dispatches: usize,
}

impl BenchRecord {
    /// GFLOP/s of the recurrent layers: a forward call's FLOPs, three times that for a training
    /// step (its backward does twice the forward's products).
    pub fn gflops(&self) -> f64 {
        let passes = if self.train.is_some() { 3.0 } else { 1.0 };
        passes * self.config.flops() / (self.ms * 1e6)
    }
    pub fn steps_per_second(&self) -> f64 {
        self.config.steps as f64 / (self.ms / 1e3)
    }
    /// The JSON record `cudnn_bench.py` reads.
    pub fn to_json(&self) -> serde_json::Value {
        let c = &self.config;
        serde_json::json!({
            "cell": c.cell.name(), "hidden": c.hidden, "input": c.input, "batch": c.batch,
            "steps": c.steps, "layers": c.layers, "bidirectional": c.bidirectional,
            "proj": c.proj, "linear_before_reset": c.cell == Cell::Gru && !c.reset_before,
            "ms": self.ms, "gpu_ms": self.gpu_ms, "gflops": self.gflops(),
            "steps_per_s": self.steps_per_second(), "dispatches": self.dispatches,
            "variant": self.variant, "adapter": self.adapter, "backend": self.backend, "driver": self.driver,
            "x_on_gpu": self.source == InputSource::Gpu,
            "train": self.train.is_some(),
            "tape_bytes": self.train.map(|t| t.tape_bytes),
            "layer_dispatches": self.train.map(|t| t.layer_dispatches),
            "kernels_ms": self.kernels.iter().map(|(k, ms)| (k.clone(), serde_json::json!(ms))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// Median of a non-empty list.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Where the timed calls take their input from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputSource {
    /// `Model::forward`-style calls: x uploaded from host memory each call.
    #[default]
    Host,
    /// Stream chunks of all T steps for B slots whose x is already in a GPU buffer, as an
    /// embedding application runs them (`Stream::time_chunk`); unidirectional layers only.
    Gpu,
}

/// Times `config` on a GPU model: `warmup` untimed calls, then the median of `repeats`, with
/// the input from `source`.
pub fn measure(
    model: &Model,
    config: &BenchConfig,
    inputs: &Inputs,
    warmup: usize,
    repeats: usize,
    source: InputSource,
) -> Result<BenchRecord> {
    let Model::Gpu(gpu) = model else {
        return Err(Error::NoAdapter("bench times the GPU; no adapter is available".into()));
    };
    let timings = match source {
        InputSource::Host => repeat_timed(warmup, repeats, || gpu.time_forward(inputs))?,
        InputSource::Gpu => {
            use wgpu::util::DeviceExt;
            let stream = gpu.stream(config.batch)?;
            let x = gpu.context().device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("wgpu-rnn.bench.x"),
                contents: bytemuck::cast_slice(&inputs.x),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            });
            repeat_timed(warmup, repeats, || stream.time_chunk(&x, config.steps))?
        }
    };
    let (mut wall, mut kernel): (Vec<f64>, Vec<f64>) =
        (timings.iter().map(|t| t.wall_ms).collect(), timings.iter().filter_map(|t| t.gpu_ms).collect());
    let adapter = gpu.context().adapter.clone();
    Ok(BenchRecord {
        config: *config,
        ms: median(&mut wall),
        gpu_ms: (!kernel.is_empty()).then(|| median(&mut kernel)),
        dispatches: timings.last().map_or(0, |t| t.dispatches),
        variant: format!(
            "{:?}{}",
            gpu.variant(config.batch),
            if gpu.stacked(config.batch) && source == InputSource::Host { " stacked" } else { "" }
        ),
        adapter: adapter.name,
        backend: adapter.backend,
        driver: adapter.driver_info,
        kernels: Vec::new(),
        source,
        train: None,
    })
}

/// Which kernels `bench --breakdown` times alone, each in runs of its own dispatches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breakdown {
    /// Whether to time kernels alone at all.
    pub on: bool,
    /// The entry points to time (`optimizer_update`, `lstm_step`, ...); every kernel of the
    /// plan when empty.
    pub only: Vec<String>,
}

impl Breakdown {
    /// A breakdown of `only` (every kernel when empty), or an error naming a name that no
    /// kernel of the engine has, with the names there are.
    pub fn new(on: bool, only: Vec<String>) -> Result<Breakdown> {
        use crate::kernels::{Kernel, TrainKernel};
        let known: Vec<&str> = Kernel::ALL
            .iter()
            .map(|k| k.entry_point())
            .chain(TrainKernel::ALL.iter().map(|k| k.entry_point()))
            .collect();
        if let Some(bad) = only.iter().find(|n| !known.contains(&n.as_str())) {
            let why = format!("`{bad}` is no kernel's entry point (there are: {})", known.join(", "));
            return Err(Error::invalid("kernels", why));
        }
        Ok(Breakdown { on, only })
    }

    /// Whether the breakdown times the kernel named `entry_point`.
    pub fn times(&self, entry_point: &str) -> bool {
        self.on && (self.only.is_empty() || self.only.iter().any(|n| n == entry_point))
    }
}

/// What `bench --train` trains: `config`'s stack (random weights from `seed`) with a
/// `Linear(W, 1)` head at every step, a mean-squared-error loss against zeros, SGD (lr 1e-4)
/// and global-norm clipping at 1, and one batch of random features.
pub fn train_setup(
    config: &BenchConfig,
    seed: u64,
) -> Result<(crate::train::TrainModel, crate::train::TrainConfig, crate::train::Batch)> {
    use crate::train::{Batch, BatchInputs, HeadMode, LossKind, Optimizer, Targets, TrainConfig, TrainModel};
    let net = config.network(seed);
    let inputs = config.inputs(&net, seed);
    let model = TrainModel::new(net, None, 1, HeadMode::Steps, seed)?;
    let cfg = TrainConfig {
        loss: LossKind::Mse,
        optimizer: Optimizer::sgd(1e-4),
        clip_norm: Some(1.0),
        clip_value: None,
        dropout: Default::default(),
    };
    let (t, b) = (config.steps, config.batch);
    let batch = Batch {
        inputs: BatchInputs::Features(inputs.x),
        steps: t,
        batch: b,
        lengths: None,
        targets: Targets::Values(vec![0.0; t * b]),
        source: None,
    };
    Ok((model, cfg, batch))
}

/// Times optimizer steps of [`train_setup`]'s model on the GPU: `warmup` untimed steps (their
/// loss and norm read back and checked), then the medians of `repeats` timed ones: wall time
/// (upload, record, one submit, the GPU done, the timestamps read back) and, where the adapter
/// has timestamps, GPU time around the step. `walk` forces how the layers walk through time
/// (`None`: the device's default).
pub fn measure_train(
    engine: &crate::Engine,
    config: &BenchConfig,
    seed: u64,
    (warmup, repeats): (usize, usize),
    walk: Option<crate::plan::train::Walk>,
    breakdown: &Breakdown,
) -> Result<BenchRecord> {
    let ctx = engine
        .context()
        .ok_or_else(|| Error::NoAdapter("bench --train times the GPU; no adapter is available".into()))?;
    config.check_fits(&ctx.device.limits())?;
    let (model, cfg, batch) = train_setup(config, seed)?;
    let mut trainer = crate::train::Trainer::new(engine, model, cfg)?;
    trainer.set_walk(walk);
    let (t, b) = (config.steps, config.batch);
    // the warm-up steps read their statistics: a step that fails is an error, not a time
    for _ in 0..warmup {
        trainer.step(&batch)?;
    }
    let timings = repeat_timed(0, repeats, || trainer.time_step(&batch))?;
    let (mut wall, mut gpu): (Vec<f64>, Vec<f64>) =
        (timings.iter().map(|t| t.wall_ms).collect(), timings.iter().filter_map(|t| t.gpu_ms).collect());
    let plan = trainer.plan(t, b).ok_or_else(|| Error::NoAdapter("the trainer runs on the CPU".into()))?;
    let mut kernels = Vec::new();
    if breakdown.on {
        let mut names: Vec<&str> = Vec::new();
        for name in plan.commands.iter().filter_map(|c| c.entry_point()) {
            if !names.contains(&name) && breakdown.times(name) {
                names.push(name);
            }
        }
        for name in names {
            let timings = repeat_timed(1, repeats, || trainer.time_kernels(&batch, |k| k == name))?;
            let mut ms: Vec<f64> = timings.iter().map(|t| t.gpu_ms.unwrap_or(t.wall_ms)).collect();
            kernels.push((name.to_string(), median(&mut ms)));
        }
    }
    Ok(BenchRecord {
        config: *config,
        ms: median(&mut wall),
        gpu_ms: (!gpu.is_empty()).then(|| median(&mut gpu)),
        dispatches: plan.dispatches(),
        variant: match plan.layers.iter().filter(|l| l.persistent).count() {
            0 => "train_step",
            n if n == plan.layers.len() => "train_persistent",
            _ => "train_step+train_persistent",
        }
        .into(),
        adapter: ctx.adapter.name.clone(),
        backend: ctx.adapter.backend.clone(),
        driver: ctx.adapter.driver_info.clone(),
        kernels,
        source: InputSource::Host,
        train: Some(TrainFacts { tape_bytes: plan.tape_bytes(), layer_dispatches: plan.layer_dispatches(0) }),
    })
}

/// `warmup` untimed runs of `time`, then `repeats` (at least one) timed ones.
fn repeat_timed(
    warmup: usize,
    repeats: usize,
    mut time: impl FnMut() -> Result<crate::gpu::Timing>,
) -> Result<Vec<crate::gpu::Timing>> {
    for _ in 0..warmup {
        time()?;
    }
    (0..repeats.max(1)).map(|_| time()).collect()
}

/// Times each kernel of `model`'s plan for `inputs` alone (its dispatches only, on the buffers
/// of a real call): the median of `repeats` after one warm-up, in plan order.
pub fn measure_kernels(
    model: &Model,
    inputs: &Inputs,
    repeats: usize,
    breakdown: &Breakdown,
) -> Result<Vec<(String, f64)>> {
    let Model::Gpu(gpu) = model else {
        return Err(Error::NoAdapter("bench times the GPU; no adapter is available".into()));
    };
    let mut kernels = Vec::new();
    for c in &gpu.plan(inputs)?.commands {
        if let crate::plan::Command::Dispatch(d) = c
            && !kernels.contains(&d.kernel)
            && breakdown.times(d.kernel.entry_point())
        {
            kernels.push(d.kernel);
        }
    }
    let mut out = Vec::new();
    for kernel in kernels {
        let timings = repeat_timed(1, repeats, || gpu.time_kernels(inputs, |k| k == kernel))?;
        let mut ms: Vec<f64> = timings.iter().map(|t| t.gpu_ms.unwrap_or(t.wall_ms)).collect();
        out.push((kernel.entry_point().to_string(), median(&mut ms)));
    }
    Ok(out)
}

/// Draws LSTM, GRU and RNN throughput (GFLOP/s) against batch size (left) and hidden size
/// (right); for `bench --train` records, of training steps (the title says so).
pub fn plot(records: &[BenchRecord], path: &std::path::Path) -> Result<()> {
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| Error::File { path: path.display().to_string(), why: e.to_string() };
    let root = SVGBackend::new(path, (1100, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(550);
    let max_g = records.iter().map(BenchRecord::gflops).fold(1e-3, f64::max) * 1.15;
    let adapter = records.first().map(|r| r.adapter.clone()).unwrap_or_default();
    for (area, by_batch) in [(left, true), (right, false)] {
        let xs: Vec<f64> =
            records.iter().map(|r| if by_batch { r.config.batch } else { r.config.hidden } as f64).collect();
        let max_x = xs.iter().copied().fold(1.0, f64::max) * 1.1;
        let title = if by_batch { "throughput vs batch size" } else { "throughput vs hidden size" };
        let what = if records.iter().any(|r| r.train.is_some()) { "training steps, " } else { "" };
        let mut chart = ChartBuilder::on(&area)
            .caption(format!("{title} ({what}{adapter})"), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..max_x, 0.0..max_g)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(if by_batch { "batch" } else { "hidden" })
            .y_desc("GFLOP/s")
            .draw()
            .map_err(|e| err(&e))?;
        for (cell, color) in [(Cell::Lstm, BLUE), (Cell::Gru, RED), (Cell::Rnn, GREEN)] {
            // one line per value of the other axis, so points on a line differ in one size only
            let mut keys: Vec<usize> = records
                .iter()
                .filter(|r| r.config.cell == cell)
                .map(|r| if by_batch { r.config.hidden } else { r.config.batch })
                .collect();
            keys.sort();
            keys.dedup();
            for (n, key) in keys.iter().enumerate() {
                let mut pts: Vec<(f64, f64)> = records
                    .iter()
                    .filter(|r| {
                        r.config.cell == cell && (if by_batch { r.config.hidden } else { r.config.batch }) == *key
                    })
                    .map(|r| ((if by_batch { r.config.batch } else { r.config.hidden }) as f64, r.gflops()))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                let series =
                    chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2))).map_err(|e| err(&e))?;
                if n == 0 {
                    series
                        .label(format!(
                            "{} ({} = {key}..)",
                            cell.name().to_uppercase(),
                            if by_batch { "H" } else { "B" }
                        ))
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
                }
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| err(&e))?;
            }
        }
        chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw().map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
