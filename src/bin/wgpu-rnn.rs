//! The `wgpu-rnn` command line: `info`, `check`, `quickstart`, `bench`, `kernels`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use wgpu_rnn::bench::{self, BenchConfig, BenchRecord};
use wgpu_rnn::case::Comparison;
use wgpu_rnn::case::check::{self, Checked};
use wgpu_rnn::gpu::GpuOptions;
use wgpu_rnn::kernels::{KERNELS, Kernel, KernelBuild};
use wgpu_rnn::onnx::OnnxModel;
use wgpu_rnn::plan::StepVariant;
use wgpu_rnn::plan::train::Walk;
use wgpu_rnn::random::{self, RandomConfig};
use wgpu_rnn::tensor::TensorFile;
use wgpu_rnn::{Cell, Direction, Engine, EngineOptions, MergeMode};

#[derive(Parser)]
#[command(
    name = "wgpu-rnn",
    version,
    about = "GPU RNN, GRU and LSTM kernels on wgpu, checked against ONNX Runtime and a CPU reference"
)]
struct Cli {
    /// Backend: vulkan, metal, dx12 or gl (default: best available; env WGPU_RNN_BACKEND).
    #[arg(long, global = true)]
    backend: Option<String>,
    /// Use the first adapter whose name contains this text (env WGPU_RNN_ADAPTER).
    #[arg(long, global = true)]
    adapter: Option<String>,
    /// Fail instead of falling back to the CPU reference when no GPU adapter exists
    /// (env WGPU_RNN_REQUIRE_GPU=1).
    #[arg(long, global = true)]
    require_gpu: bool,
    /// Keep all of wgpu's runtime checks in the kernels, slower (env WGPU_RNN_CHECKED_SHADERS=1)
    #[arg(long, global = true)]
    checked_shaders: bool,
    /// How the kernels are built: auto (lanes-wide on CPU adapters with 8-wide subgroups and
    /// 64-bit integers, lanes without them, else portable), portable, lanes or lanes-wide
    /// (env WGPU_RNN_BUILD)
    #[arg(long, global = true, value_parser = ["auto", "portable", "lanes", "lanes-wide"])]
    build: Option<String>,
    /// How training passes walk through time: auto (persistent for small layers on GPUs,
    /// per-step kernels on CPU drivers), per-step, persistent (every layer up to H 128) or small
    /// (env WGPU_RNN_WALK); `bench --train --variant` overrides it
    #[arg(long, global = true, value_parser = ["auto", "per-step", "persistent", "small"])]
    walk: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the adapter, backend, driver, and the limits and features the engine uses.
    Info,
    /// Run conformance cases (files or directories of .safetensors) on the GPU and the CPU
    /// reference and compare both with the expected outputs. Gradient cases also check the
    /// backward, training cases (`format = "train"`) the K training steps, each on the GPU and
    /// the CPU reference.
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run a model file (`.onnx`: a recurrent stack as `torch.onnx.export` writes one) on the
    /// tensors of a safetensors file (x under the graph's input name, optional integer
    /// `lengths`), and write its outputs under the graph's output names, in its layouts.
    Run {
        /// The model file (`.onnx`)
        model: PathBuf,
        /// The inputs (`.safetensors`): x under the graph's input name, optional `lengths`
        #[arg(long)]
        input: PathBuf,
        /// Where to write the outputs (`.safetensors`)
        #[arg(long)]
        out: PathBuf,
    },
    /// Time forward calls, or with `--train` training steps, on the GPU (warm-up, median of
    /// repeats; progress on stderr).
    Bench(BenchArgs),
    /// List every kernel version (entry point, file, ROWS, builds, when the plan picks it), or
    /// print the WGSL module one would compile.
    Kernels {
        /// Print the joined WGSL module of this kernel (an entry point, e.g. lstm_step)
        #[arg(long)]
        source: Option<String>,
        /// Its batch rows per invocation (default: the first it is built for)
        #[arg(long)]
        rows: Option<u32>,
    },
    /// How far back the gradient reaches (vanishing and exploding gradients): ‖∂L/∂h_t‖ against
    /// the distance T - t for each cell at PyTorch's initialisation, with its recurrent weights
    /// scaled up, and for LSTM with a forget-gate bias; the weights' gradient norm before and
    /// after clipping. Prints the table, draws the plot.
    Gradients(GradientsArgs),
    /// Run a random LSTM and GRU on the GPU and check them against the CPU reference.
    Quickstart {
        #[arg(long, default_value_t = 128, value_parser = at_least_one)]
        hidden: usize,
        #[arg(long, default_value_t = 64, value_parser = at_least_one)]
        input: usize,
        #[arg(long, default_value_t = 8, value_parser = at_least_one)]
        batch: usize,
        #[arg(long, default_value_t = 100, value_parser = at_least_one)]
        steps: usize,
        #[arg(long, default_value_t = 2, value_parser = at_least_one)]
        layers: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(clap::Args)]
struct GradientsArgs {
    /// Cells, comma-separated: rnn, gru, lstm
    #[arg(long, default_value = "rnn,gru,lstm", value_delimiter = ',')]
    cell: Vec<String>,
    /// Sequence length T: the longest distance measured
    #[arg(long, default_value_t = 200)]
    steps: usize,
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    /// The scaled-up condition multiplies every recurrent weight by this (1: leave it out)
    #[arg(long, default_value_t = 3.0)]
    recurrent_scale: f32,
    /// The LSTM condition adds this to the forget gate's bias (0: leave it out)
    #[arg(long, default_value_t = 3.0)]
    forget_bias: f32,
    /// clip_grad_norm_'s max norm
    #[arg(long, default_value_t = 1.0)]
    clip: f32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the plot here (SVG)
    #[arg(long)]
    plot: Option<PathBuf>,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// lstm, gru, rnn or all (LSTM and GRU side by side)
    #[arg(long, default_value = "all")]
    cell: String,
    /// Hidden sizes, comma-separated
    #[arg(long, default_value = "256", value_delimiter = ',', value_parser = at_least_one)]
    hidden: Vec<usize>,
    /// Input size (default: the hidden size)
    #[arg(long, value_parser = at_least_one)]
    input: Option<usize>,
    /// Batch sizes, comma-separated
    #[arg(long, default_value = "1,4,16", value_delimiter = ',', value_parser = at_least_one)]
    batch: Vec<usize>,
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    steps: usize,
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    layers: usize,
    #[arg(long)]
    bidirectional: bool,
    /// LSTM projection size (PyTorch's proj_size; 0: none)
    #[arg(long, default_value_t = 0)]
    proj: usize,
    /// GRU with linear_before_reset = 0, ONNX's default (default: PyTorch's and cuDNN's GRU)
    #[arg(long)]
    gru_reset_before: bool,
    /// A predefined set instead of the sizes above: quick (about a minute on lavapipe),
    /// deepbench (DeepBench's inference sizes, batch 1-4) or deepbench-train (its training
    /// sizes, batch 8-128; with --train). Sizes the device cannot hold are skipped
    #[arg(long)]
    suite: Option<String>,
    /// Kernel version: auto, rows1, rows4, rows8, rows16, persistent, split1 or split4 (subgroups), tiled1, tiled4, sliced1 or sliced4 (LSTM, GRU); with --train: auto, rows4 (per-step kernels) or persistent
    #[arg(long, default_value = "auto")]
    variant: String,
    /// Run stacks of two or more one-direction layers with equal specs as one wavefront (T+L
    /// dispatches instead of L(T+1)): auto, on (other networks are skipped) or off
    #[arg(long, default_value = "auto", value_parser = ["auto", "on", "off"])]
    stacked: String,
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    #[arg(long, default_value_t = 5, value_parser = at_least_one)]
    repeats: usize,
    /// Time stream chunks whose input x is already in a GPU buffer (as an embedding application
    /// runs them) instead of forward calls that upload x from host memory; unidirectional only
    #[arg(long)]
    x_on_gpu: bool,
    /// Also time each kernel of the plan alone (GPU time where the adapter has timestamps)
    #[arg(long)]
    breakdown: bool,
    /// With --breakdown, time only these kernels (entry points, comma-separated:
    /// optimizer_update,sum_squares); every kernel of the plan when not given
    #[arg(long, value_delimiter = ',', requires = "breakdown")]
    kernels: Vec<String>,
    /// Time training steps (forward with a tape, a Linear head and MSE loss, backward, clipping,
    /// SGD update; one submit each) instead of forward calls
    #[arg(long)]
    train: bool,
    /// Write the records as a JSON array (read by cudnn_bench.py), rewritten after each size
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw throughput against batch and hidden size as SVG
    #[arg(long)]
    plot: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Kernels { source, rows } = &cli.command {
        // no device needed: the table and the WGSL are the crate's own
        let build = match cli.build.as_deref().filter(|b| *b != "auto").map(KernelBuild::parse).transpose() {
            Ok(b) => b,
            Err(e) => {
                eprintln!("wgpu-rnn: {e}");
                return ExitCode::from(2);
            }
        };
        return kernels(source.as_deref(), *rows, build);
    }
    let mut opts = match EngineOptions::from_env() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("wgpu-rnn: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.backend.is_some() || cli.adapter.is_some() {
        opts.gpu = GpuOptions {
            backend: cli.backend.clone().or(opts.gpu.backend),
            adapter: cli.adapter.clone().or(opts.gpu.adapter),
            ..opts.gpu
        };
    }
    opts.gpu.checked_shaders |= cli.checked_shaders;
    match cli.build.as_deref() {
        Some("auto") => opts.gpu.build = None,
        Some(b) => match KernelBuild::parse(b) {
            Ok(b) => opts.gpu.build = Some(b),
            Err(e) => {
                eprintln!("wgpu-rnn: {e}");
                return ExitCode::from(2);
            }
        },
        None => {}
    }
    if let Some(w) = cli.walk.as_deref() {
        match wgpu_rnn::plan::train::Walk::parse(w) {
            Ok(walk) => opts.gpu.walk = walk,
            Err(e) => {
                eprintln!("wgpu-rnn: {e}");
                return ExitCode::from(2);
            }
        }
    }
    opts.require_gpu |= cli.require_gpu;
    let engine = match Engine::with_options(&opts) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("wgpu-rnn: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Info => info(&engine),
        Command::Kernels { .. } => unreachable!("answered before the engine is made"),
        Command::Check { paths } => check(&engine, &paths),
        Command::Run { model, input, out } => match run(&engine, &model, &input, &out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wgpu-rnn run: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Quickstart { hidden, input, batch, steps, layers, seed } => {
            quickstart(&engine, hidden, input, batch, steps, layers, seed)
        }
        Command::Gradients(args) => match gradients(&engine, &args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wgpu-rnn gradients: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Bench(args) => match bench(&engine, &args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wgpu-rnn bench: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// A size or count of at least 1 (clap's parser for the arguments that must not be 0).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn bench_configs(a: &BenchArgs) -> wgpu_rnn::Result<Vec<BenchConfig>> {
    let cells: Vec<Cell> = match a.cell.as_str() {
        "all" => vec![Cell::Lstm, Cell::Gru],
        c => vec![Cell::parse(c)?],
    };
    if a.proj > 0 && !cells.contains(&Cell::Lstm) {
        return Err(wgpu_rnn::Error::invalid("--proj", format!("a projection is LSTM's; --cell is {}", a.cell)));
    }
    if let Some(name) = &a.suite {
        let all = a.cell == "all";
        return Ok(bench::suite(name)?.into_iter().filter(|c| all || cells.contains(&c.cell)).collect());
    }
    let mut v = Vec::new();
    for &hidden in &a.hidden {
        for &batch in &a.batch {
            for &cell in &cells {
                v.push(BenchConfig {
                    input: a.input.unwrap_or(hidden),
                    layers: a.layers,
                    bidirectional: a.bidirectional,
                    proj: if cell == Cell::Lstm { a.proj } else { 0 },
                    reset_before: a.gru_reset_before,
                    ..BenchConfig::new(cell, hidden, batch, a.steps)
                });
            }
        }
    }
    Ok(v)
}

/// Writes `records` as the JSON array `cudnn_bench.py` reads.
fn write_json(path: &std::path::Path, records: &[BenchRecord]) -> wgpu_rnn::Result<()> {
    let v: Vec<_> = records.iter().map(BenchRecord::to_json).collect();
    let text = serde_json::to_string_pretty(&v).map_err(|e| wgpu_rnn::Error::invalid("json", e.to_string()))?;
    std::fs::write(path, text)
        .map_err(|e| wgpu_rnn::Error::File { path: path.display().to_string(), why: e.to_string() })
}

/// Reports a measured size and keeps it; rewrites `json` (what ran so far survives a run cut
/// short).
fn push_record(records: &mut Vec<BenchRecord>, r: BenchRecord, json: Option<&std::path::Path>) -> wgpu_rnn::Result<()> {
    eprintln!("{:.3} ms", r.ms);
    records.push(r);
    json.map_or(Ok(()), |path| write_json(path, records))
}

fn bench(engine: &Engine, a: &BenchArgs) -> wgpu_rnn::Result<()> {
    let Some(adapter) = engine.adapter() else {
        return Err(wgpu_rnn::Error::NoAdapter("bench times the GPU; no adapter is available".into()));
    };
    let variant = match a.variant.as_str() {
        "auto" => None,
        "rows1" => Some(StepVariant::PerStep { rows: 1 }),
        "rows4" => Some(StepVariant::PerStep { rows: 4 }),
        "rows8" => Some(StepVariant::PerStep { rows: 8 }),
        "rows16" => Some(StepVariant::PerStep { rows: 16 }),
        "persistent" => Some(StepVariant::Persistent),
        "split1" => Some(StepVariant::Split { rows: 1 }),
        "split4" => Some(StepVariant::Split { rows: 4 }),
        "tiled1" => Some(StepVariant::Tiled { rows: 1 }),
        "tiled4" => Some(StepVariant::Tiled { rows: 4 }),
        "sliced1" => Some(StepVariant::Sliced { rows: 1 }),
        "sliced4" => Some(StepVariant::Sliced { rows: 4 }),
        other => {
            let all = "auto, rows1, rows4, rows8, rows16, persistent, split1, split4, tiled1, tiled4, sliced1, sliced4";
            return Err(wgpu_rnn::Error::invalid("variant", format!("`{other}` ({all})")));
        }
    };
    let breakdown = bench::Breakdown::new(a.breakdown, a.kernels.clone())?;
    // training steps: the per-step kernels (four rows per invocation) or the persistent walk
    let walk = match (a.train, a.variant.as_str()) {
        (false, _) | (true, "auto") => None,
        (true, "rows4") => Some(Walk::PerStep),
        (true, "persistent") => Some(Walk::Persistent),
        (true, other) => {
            let why = format!("`{other}`: bench --train runs auto, rows4 (per-step kernels) or persistent");
            return Err(wgpu_rnn::Error::invalid("variant", why));
        }
    };
    let configs = bench_configs(a)?;
    eprintln!("adapter: {} ({}, {})", adapter.name, adapter.backend, adapter.driver_info);
    let source = if a.x_on_gpu { bench::InputSource::Gpu } else { bench::InputSource::Host };
    let mut records = Vec::new();
    let mut skipped = None; // the last size the forced variant or the device cannot run
    for (n, c) in configs.iter().enumerate() {
        eprint!(
            "[{}/{}] {} H={} I={} B={} T={} L={}{} ... ",
            n + 1,
            configs.len(),
            c.cell.name(),
            c.hidden,
            c.input,
            c.batch,
            c.steps,
            c.layers,
            if c.bidirectional { " bidi" } else { "" }
        );
        // a size this device cannot hold is skipped, the rest of a suite still runs (a training
        // step checks its sizes itself; a forward call's are checked before its network is made)
        let measured = if a.train {
            bench::measure_train(engine, c, n as u64, (a.warmup, a.repeats), walk, &breakdown).map(Some)
        } else {
            engine.context().map_or(Ok(()), |ctx| c.check_fits(&ctx.device.limits())).map(|()| None)
        };
        match measured {
            Err(e @ wgpu_rnn::Error::TooLarge(_)) => {
                eprintln!("skipped: {e}");
                skipped = Some(e);
                continue;
            }
            Err(e) => return Err(e),
            Ok(Some(r)) => {
                push_record(&mut records, r, a.json.as_deref())?;
                continue;
            }
            Ok(None) => {}
        }
        let net = c.network(n as u64);
        let inputs = c.inputs(&net, n as u64);
        let mut model = engine.load(net)?;
        let stacked = match a.stacked.as_str() {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        };
        if let Err(e) = model.set_variant(variant).and_then(|()| model.set_stacked(stacked)) {
            eprintln!("skipped: {e}");
            skipped = Some(e);
            continue;
        }
        let mut r = bench::measure(&model, c, &inputs, a.warmup, a.repeats, source)?;
        if a.breakdown {
            r.kernels = bench::measure_kernels(&model, &inputs, a.repeats, &breakdown)?;
        }
        push_record(&mut records, r, a.json.as_deref())?;
    }
    if let (true, Some(e)) = (records.is_empty(), skipped) {
        return Err(e); // nothing ran
    }
    if a.x_on_gpu {
        println!("x already on the GPU: one stream chunk of T steps for B slots per call");
    }
    if a.train {
        println!("training steps: forward with a tape, Linear(W, 1) head, MSE, backward, clip, SGD; one submit each");
        println!("(GFLOP/s counts three times the recurrent layers' forward FLOPs)");
    }
    if a.proj > 0 && records.iter().any(|r| r.config.cell == Cell::Lstm) {
        println!("LSTM layers with a projection of {} (GFLOP/s count it)", a.proj);
    }
    if a.gru_reset_before && records.iter().any(|r| r.config.cell == Cell::Gru) {
        println!("GRU with linear_before_reset = 0 (ONNX's default; PyTorch's and cuDNN's GRU is the other)");
    }
    println!(
        "{:5} {:>5} {:>5} {:>4} {:>5} {:>2} {:>2} {:>10} {:>10} {:>10} {:>9} {:>10}  variant",
        "cell", "H", "I", "B", "T", "L", "D", "median ms", "gpu ms", "steps/s", "GFLOP/s", "dispatches"
    );
    for r in &records {
        let c = &r.config;
        println!(
            "{:5} {:>5} {:>5} {:>4} {:>5} {:>2} {:>2} {:>10.3} {:>10} {:>10.0} {:>9.2} {:>10}  {}",
            c.cell.name(),
            c.hidden,
            c.input,
            c.batch,
            c.steps,
            c.layers,
            if c.bidirectional { 2 } else { 1 },
            r.ms,
            r.gpu_ms.map_or("-".to_string(), |g| format!("{g:.3}")),
            r.steps_per_second(),
            r.gflops(),
            r.dispatches,
            r.variant
        );
    }
    if a.train {
        println!("\nSaved activations and dispatches per layer");
        for r in &records {
            if let Some(t) = r.train {
                let c = &r.config;
                println!(
                    "{:5} H{} B{} T{}: tape {:.2} MiB, {} dispatches per layer, {} in all",
                    c.cell.name(),
                    c.hidden,
                    c.batch,
                    c.steps,
                    t.tape_bytes as f64 / (1 << 20) as f64,
                    t.layer_dispatches,
                    r.dispatches
                );
            }
        }
    }
    if a.breakdown {
        println!("\nEach kernel alone (median ms; its dispatches only)");
        for r in &records {
            let c = &r.config;
            let parts: Vec<String> = r.kernels.iter().map(|(k, ms)| format!("{k} {ms:.3}")).collect();
            println!("{:5} H{} B{} T{}: {}", c.cell.name(), c.hidden, c.batch, c.steps, parts.join(", "));
        }
    }
    let same = |x: &BenchConfig, y: &BenchConfig| {
        (x.hidden, x.input, x.batch, x.steps, x.layers, x.bidirectional)
            == (y.hidden, y.input, y.batch, y.steps, y.layers, y.bidirectional)
    };
    let pairs: Vec<_> = records
        .iter()
        .filter(|r| r.config.cell == Cell::Lstm)
        .filter_map(|l| {
            records.iter().find(|g| g.config.cell == Cell::Gru && same(&g.config, &l.config)).map(|g| (l, g))
        })
        .collect();
    if !pairs.is_empty() {
        println!("\nLSTM vs GRU, same sizes");
        println!(
            "{:>5} {:>5} {:>4} {:>5} {:>10} {:>10} {:>14}",
            "H", "I", "B", "T", "LSTM ms", "GRU ms", "LSTM/GRU time"
        );
        for (l, g) in pairs {
            let c = &l.config;
            println!(
                "{:>5} {:>5} {:>4} {:>5} {:>10.3} {:>10.3} {:>14.2}",
                c.hidden,
                c.input,
                c.batch,
                c.steps,
                l.ms,
                g.ms,
                l.ms / g.ms
            );
        }
    }
    if let Some(path) = &a.json {
        write_json(path, &records)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &a.plot {
        bench::plot(&records, path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn info(engine: &Engine) -> ExitCode {
    let Some(ctx) = engine.context() else {
        println!("adapter: none (CPU reference)");
        return ExitCode::SUCCESS;
    };
    let a = &ctx.adapter;
    let l = ctx.limits();
    println!("adapter: {}", a.name);
    println!("backend: {}", a.backend);
    println!("device type: {}", a.device_type);
    println!("driver: {} {}", a.driver, a.driver_info);
    let (step, persistent) = (
        ctx.shader_checks(wgpu_rnn::kernels::Kernel::LstmStep),
        ctx.shader_checks(wgpu_rnn::kernels::Kernel::LayerPersistent),
    );
    println!(
        "shader runtime checks: bounds checks {}, loop bounding {} (layer_persistent: {})",
        step.bounds_checks, step.force_loop_bounding, persistent.force_loop_bounding
    );
    println!(
        "kernel build: {} ({})",
        ctx.build,
        match ctx.build {
            KernelBuild::Portable => "the portable kernels",
            KernelBuild::Lanes => "*_lanes kernels: loads shared across subgroup lanes",
            KernelBuild::LanesWide => "*_lanes kernels, floats read as 64-bit pairs",
        }
    );
    println!(
        "training walk: {} ({})",
        ctx.training_walk().name(),
        if ctx.walk.is_some() { "--walk or WGPU_RNN_WALK" } else { "by adapter" }
    );
    println!(
        "pipeline cache: {} ({} pipelines compiled so far: each kernel compiles on first use)",
        ctx.pipeline_cache_path().map_or_else(|| "none".to_string(), |p| p.display().to_string()),
        ctx.compiled_pipelines()
    );
    println!("limits:");
    println!("  max_storage_buffer_binding_size: {}", l.max_storage_buffer_binding_size);
    println!("  max_buffer_size: {}", l.max_buffer_size);
    println!("  max_storage_buffers_per_shader_stage: {}", l.max_storage_buffers_per_shader_stage);
    println!("  max_compute_workgroups_per_dimension: {}", l.max_compute_workgroups_per_dimension);
    println!("  max_compute_invocations_per_workgroup: {}", l.max_compute_invocations_per_workgroup);
    println!("  max_compute_workgroup_storage_size: {}", l.max_compute_workgroup_storage_size);
    println!("  min_uniform_buffer_offset_alignment: {}", l.min_uniform_buffer_offset_alignment);
    let f = ctx.adapter_features;
    println!("features:");
    for (name, feat) in [
        ("SHADER_F16", wgpu::Features::SHADER_F16),
        ("SUBGROUP", wgpu::Features::SUBGROUP),
        ("TIMESTAMP_QUERY", wgpu::Features::TIMESTAMP_QUERY),
        ("IMMEDIATES", wgpu::Features::IMMEDIATES),
        ("PIPELINE_CACHE", wgpu::Features::PIPELINE_CACHE),
    ] {
        println!("  {name}: {}", if f.contains(feat) { "yes" } else { "no" });
    }
    ExitCode::SUCCESS
}

/// Case files under `paths` (directories are searched recursively), sorted; unreadable paths
/// are kept so that they fail with a message.
fn case_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        match std::fs::read_dir(p) {
            Ok(entries) => {
                let mut v: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                v.sort();
                for e in v {
                    if e.is_dir() {
                        walk(&e, out);
                    } else if e.extension().is_some_and(|x| x == "safetensors" || x == "onnx") {
                        out.push(e);
                    }
                }
            }
            Err(_) => out.push(p.to_path_buf()),
        }
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() { walk(p, &mut out) } else { out.push(p.clone()) }
    }
    out
}

/// Runs a model file on a tensor file's inputs; writes the outputs.
fn run(engine: &Engine, model: &Path, input: &Path, out: &Path) -> wgpu_rnn::Result<()> {
    let m = OnnxModel::load(model)?;
    let inp = m.inputs(&TensorFile::read(input)?)?;
    let t0 = Instant::now();
    let y = engine.load(m.network.clone())?.forward(&inp)?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let f = m.outputs(&y, inp.steps, inp.batch);
    std::fs::write(out, f.to_bytes()?)
        .map_err(|e| wgpu_rnn::Error::File { path: out.display().to_string(), why: e.to_string() })?;
    let adapter = engine.adapter().map_or_else(|| "the CPU reference".to_string(), |a| a.name.clone());
    let mut names: Vec<&String> = f.floats.keys().collect();
    names.sort();
    println!(
        "{}: {} {} layer(s), T={} B={}, {ms:.1} ms on {adapter} ({} dispatches); wrote {:?} to {}",
        model.display(),
        m.network.cell().name().to_uppercase(),
        m.network.layers.len(),
        inp.steps,
        inp.batch,
        y.dispatches,
        names,
        out.display()
    );
    Ok(())
}

/// One case file of any kind, checked as the web page checks it ([`wgpu_rnn::case::check`]).
fn check_file(engine: &Engine, path: &Path) -> Result<Checked, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = path.file_name().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
    pollster::block_on(check::check_bytes(engine, &name, &bytes))
}

fn check(engine: &Engine, paths: &[PathBuf]) -> ExitCode {
    let (mut passed, mut failed) = (0, 0);
    for path in case_files(paths) {
        let name = path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
        let result = check_file(engine, &path);
        if result.is_ok() {
            passed += 1
        } else {
            failed += 1
        }
        println!("{}", check::line(&name, &result));
    }
    println!("{}", check::summary(passed, failed));
    if failed == 0 && passed > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn gradients(engine: &Engine, a: &GradientsArgs) -> wgpu_rnn::Result<()> {
    use wgpu_rnn::lessons::gradients::{self as lesson, ReachConfig};
    let adapter = engine.adapter().map_or_else(|| "CPU reference".to_string(), |a| a.name.clone());
    let mut conditions = Vec::new();
    for name in &a.cell {
        let base = ReachConfig {
            hidden: a.hidden,
            steps: a.steps,
            clip_norm: a.clip,
            seed: a.seed,
            ..ReachConfig::new(Cell::parse(name)?)
        };
        conditions.push(base.clone());
        if a.recurrent_scale != 1.0 {
            conditions.push(ReachConfig { recurrent_scale: a.recurrent_scale, ..base.clone() });
        }
        if a.forget_bias != 0.0 && base.cell == Cell::Lstm {
            conditions.push(ReachConfig { forget_bias: a.forget_bias, ..base });
        }
    }
    println!("L = u·h_T, T = {}, H = {}, one layer, on {adapter}", a.steps, a.hidden);
    let mut reaches = Vec::new();
    for (i, c) in conditions.iter().enumerate() {
        eprintln!("[{}/{}] {}", i + 1, conditions.len(), c.label());
        reaches.push(lesson::measure(engine, c)?);
    }
    print!("{}", lesson::table(&reaches));
    if let Some(path) = &a.plot {
        lesson::plot(&reaches, &adapter, path)?;
        println!("plot: {}", path.display());
    }
    Ok(())
}

fn quickstart(
    engine: &Engine,
    hidden: usize,
    input: usize,
    batch: usize,
    steps: usize,
    layers: usize,
    seed: u64,
) -> ExitCode {
    match engine.adapter() {
        Some(a) => println!("adapter: {} ({}, {})", a.name, a.backend, a.driver_info),
        None => println!("adapter: none, running the CPU reference only"),
    }
    let mut ok = true;
    for (cell, direction) in [(Cell::Lstm, Direction::Bidirectional), (Cell::Gru, Direction::Forward)] {
        let cfg =
            RandomConfig { direction, layers, merge: MergeMode::Concat, ..RandomConfig::simple(cell, input, hidden) };
        let net = random::pytorch_network(&cfg, seed);
        let inputs = random::inputs(&net, steps, batch, seed, true, true);
        let title = format!(
            "{} {layers} layer(s) {direction:?} I={input} H={hidden} B={batch} T={steps}",
            cell.name().to_uppercase()
        );
        let mut run = || -> wgpu_rnn::Result<()> {
            let model = engine.load(net.clone())?;
            model.forward(&inputs)?; // warm-up: workspace and first submission
            let t0 = Instant::now();
            let out = model.forward(&inputs)?;
            let engine_ms = t0.elapsed().as_secs_f64() * 1e3;
            let t1 = Instant::now();
            let reference = wgpu_rnn::cpu::forward(&net, &inputs)?;
            let cpu_ms = t1.elapsed().as_secs_f64() * 1e3;
            let shape = [steps, batch, net.merged_width()];
            let cmp = [
                Comparison::of("y", &shape, &out.y, &reference.y),
                Comparison::of("h_n", &[out.h_n.len()], &out.h_n, &reference.h_n),
            ];
            let pass = cmp.iter().all(Comparison::passed);
            let worst = cmp.iter().map(|c| c.rel).fold(0.0, f64::max);
            let max = cmp.iter().map(|c| c.max).fold(0.0, f64::max);
            let on = if model.is_gpu() { "GPU" } else { "CPU fallback" };
            println!(
                "{} {title}: {on} {engine_ms:.1} ms ({} dispatches), CPU reference {cpu_ms:.1} ms, rel={worst:.1e} max={max:.1e}",
                if pass { "PASS" } else { "FAIL" },
                out.dispatches
            );
            for c in cmp.iter().filter(|c| !c.passed()) {
                println!("  {}: {}", c.name, c.mismatches.join("; "));
            }
            ok &= pass;
            Ok(())
        };
        if let Err(e) = run() {
            println!("FAIL {title}: {e}");
            ok = false;
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// `wgpu-rnn kernels`: the table of kernel versions, or one kernel's joined module.
fn kernels(source: Option<&str>, rows: Option<u32>, build: Option<KernelBuild>) -> ExitCode {
    let Some(name) = source else {
        println!(
            "{:<24} {:<24} {:<12} {:<14} {:<26} when the plan picks it",
            "kernel", "file", "ROWS", "constant", "builds"
        );
        for v in KERNELS {
            let rows = v.rows.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            let builds = v.builds.iter().map(|b| b.name()).collect::<Vec<_>>().join(",");
            println!(
                "{:<24} {:<24} {:<12} {:<14} {:<26} {} [BENCHMARKS.md: {}]",
                v.entry_point,
                format!("{}.wgsl", v.file),
                rows,
                v.constant.unwrap_or("-"),
                builds,
                v.picked,
                v.benchmarks
            );
        }
        println!(
            "\nbuilds: portable (every adapter), lanes (CPU drivers with 8-wide subgroups), lanes-wide (lanes, floats read as u64 pairs)"
        );
        println!("wgpu-rnn kernels --source NAME [--rows N] [--build B] prints the WGSL module that would be compiled");
        return ExitCode::SUCCESS;
    };
    let Some(kernel) = Kernel::parse(name) else {
        let names: Vec<&str> = KERNELS.iter().map(|v| v.entry_point).collect();
        eprintln!("wgpu-rnn kernels: unknown kernel `{name}` (one of: {})", names.join(", "));
        return ExitCode::from(2);
    };
    let build = build.unwrap_or(kernel.builds()[0]);
    if !kernel.builds().contains(&build) {
        let builds: Vec<&str> = kernel.builds().iter().map(|b| b.name()).collect();
        eprintln!("wgpu-rnn kernels: {name} is not built in `{build}` (only in: {})", builds.join(", "));
        return ExitCode::from(2);
    }
    let rows = rows.unwrap_or(kernel.row_variants()[0]);
    if !kernel.row_variants().contains(&rows) {
        eprintln!("wgpu-rnn kernels: {name} is built for ROWS {:?}, not {rows}", kernel.row_variants());
        return ExitCode::from(2);
    }
    println!("// {name}, build {build}, ROWS = {rows}: the module `wgpu-rnn` compiles (entry point {name})");
    print!("{}", kernel.source(build, rows));
    ExitCode::SUCCESS
}
