//! Randomized GPU-versus-CPU-reference tests: every cell and option, every direction and merge
//! mode, stacks of 1-3 layers, odd sizes (1, 3, 17, 33, 65, 130) and multiples of 4 (state
//! rows on vec4s: 4, 8, 36, 64), ragged batches, initial states, and long sequences (T >= 300).

mod common;

use wgpu_rnn::case::Comparison;
use wgpu_rnn::plan::StepVariant;
use wgpu_rnn::random::{self, RandomConfig, Rng};
use wgpu_rnn::spec::{Activation, ActivationKind};
use wgpu_rnn::{Cell, Direction, Engine, Inputs, MergeMode, Network, Outputs};

const ODD: [usize; 6] = [1, 3, 17, 33, 65, 130];
const ALIGNED: [usize; 4] = [4, 8, 36, 64];

/// Runs both paths and returns a description of every output that differs.
fn compare(label: &str, net: &Network, inputs: &Inputs) -> Vec<String> {
    compare_with(label, net, inputs, false)
}

/// As `compare`; `unbounded`: the activations let values grow without bound, so the absolute
/// bound scales with the largest expected magnitude (the relative bound is unchanged).
fn compare_with(label: &str, net: &Network, inputs: &Inputs, unbounded: bool) -> Vec<String> {
    compare_on(common::gpu(), label, net, inputs, unbounded)
}

/// As `compare_with`, on `engine`.
fn compare_on(engine: &Engine, label: &str, net: &Network, inputs: &Inputs, unbounded: bool) -> Vec<String> {
    let cpu = wgpu_rnn::cpu::forward(net, inputs).expect("cpu runs");
    let mut failures = Vec::new();
    let probe = engine.load(net.clone()).unwrap_or_else(|e| panic!("{label}: {e}"));
    let stackable = wgpu_rnn::plan::NetShape::of(net).stackable();
    // every kernel version that can run this network on this device is checked, per-step ones
    // both layer by layer and as a wavefront stack where the layers stack
    for variant in StepVariant::ALL.into_iter().filter(|&v| probe.supports_variant(v)) {
        let per_step = matches!(variant, StepVariant::PerStep { .. });
        let stackings: &[bool] = if stackable && per_step { &[false, true] } else { &[false] };
        for &stacked in stackings {
            let mut model = engine.load(net.clone()).unwrap_or_else(|e| panic!("{label}: {e}"));
            model.set_variant(Some(variant)).expect("supported");
            model.set_stacked(Some(stacked)).expect("stackable");
            assert!(model.is_gpu(), "{label}: not on the GPU");
            let gpu = model.forward(inputs).unwrap_or_else(|e| panic!("{label} {variant:?}: {e}"));
            assert!(gpu.dispatches > 0, "{label}: no dispatches");
            let name = format!("{label} {variant:?}{}", if stacked { " stacked" } else { "" });
            failures.extend(differences(&name, net, inputs, &gpu, &cpu, unbounded));
        }
    }
    failures
}

fn differences(
    label: &str,
    net: &Network,
    inputs: &Inputs,
    gpu: &Outputs,
    cpu: &Outputs,
    unbounded: bool,
) -> Vec<String> {
    let mut cmps = vec![
        Comparison::of("y", &[inputs.steps, inputs.batch, net.merged_width()], &gpu.y, &cpu.y),
        Comparison::of("h_n", &[gpu.h_n.len()], &gpu.h_n, &cpu.h_n),
    ];
    if let (Some(g), Some(c)) = (&gpu.c_n, &cpu.c_n) {
        cmps.push(Comparison::of("c_n", &[g.len()], g, c));
    }
    let scale = |c: &Comparison| {
        let want = match c.name.as_str() {
            "y" => &cpu.y,
            "h_n" => &cpu.h_n,
            _ => cpu.c_n.as_ref().expect("lstm"),
        };
        if unbounded { want.iter().fold(1.0f64, |m, v| m.max(v.abs() as f64)) } else { 1.0 }
    };
    cmps.iter()
        .filter(|c| !(c.rel <= wgpu_rnn::case::REL_TOL && c.max <= wgpu_rnn::case::ABS_TOL * scale(c)))
        .map(|c| format!("{label}: {} rel={:.2e} max={:.2e} {}", c.name, c.rel, c.max, c.mismatches.join("; ")))
        .collect()
}

fn pick<T: Copy>(rng: &mut Rng, v: &[T]) -> T {
    v[rng.range(0, v.len() - 1)]
}

#[test]
fn random_configurations_match_the_reference() {
    let mut failures = Vec::new();
    let mut rng = Rng::new(2026);
    let cells = [Cell::Rnn, Cell::Gru, Cell::Lstm];
    let dirs = [Direction::Forward, Direction::Reverse, Direction::Bidirectional];
    let merges = [MergeMode::Concat, MergeMode::Sum, MergeMode::Average, MergeMode::Mul];
    let mut aligned_states = [0; 2]; // configurations whose state rows are (not) vec4-aligned
    for i in 0..72 {
        let cell = cells[i % 3];
        let direction = dirs[(i / 3) % 3];
        let hidden = pick(&mut rng, if i % 2 == 0 { &ODD[..] } else { &ALIGNED[..] });
        let proj = if cell == Cell::Lstm && hidden > 3 && rng.range(0, 3) == 0 { rng.range(1, hidden - 1) } else { 0 };
        let cfg = RandomConfig {
            cell,
            direction,
            input_size: pick(&mut rng, &ODD),
            hidden_size: hidden,
            layers: rng.range(1, 3),
            proj_size: proj,
            merge: if direction == Direction::Bidirectional { merges[(i / 9) % 4] } else { MergeMode::Concat },
            peepholes: cell == Cell::Lstm && rng.range(0, 1) == 1,
        };
        let lbr = rng.range(0, 1) == 1;
        let input_forget = rng.range(0, 3) == 0;
        let clip = (rng.range(0, 3) == 0).then_some(0.5 + rng.uniform(0.4));
        let relu = rng.range(0, 2) == 0;
        let net = random::network(&cfg, i as u64, |mut s| {
            s.linear_before_reset = s.cell == Cell::Gru && lbr;
            s.input_forget = s.cell == Cell::Lstm && input_forget;
            s.clip = clip;
            if s.cell == Cell::Rnn && relu {
                s.activations = vec![vec![Activation::with_defaults(ActivationKind::Relu)]; s.directions()];
            }
            s
        });
        aligned_states[usize::from(wgpu_rnn::plan::NetShape::of(&net).state_aligned())] += 1;
        let steps = pick(&mut rng, &[1, 2, 3, 17, 33]);
        let batch = pick(&mut rng, &[1, 3, 17]);
        let inputs = random::inputs(&net, steps, batch, i as u64, rng.range(0, 1) == 1, rng.range(0, 1) == 1);
        let label = format!(
            "#{i} {cfg:?} lbr={lbr} if={input_forget} clip={clip:?} T={steps} B={batch} lens={:?}",
            inputs.lengths
        );
        failures.extend(compare(&label, &net, &inputs));
    }
    assert!(aligned_states.iter().all(|&n| n >= 12), "aligned/unaligned state rows: {aligned_states:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn kernels_with_all_runtime_checks_match_the_reference() {
    // the default engine on Vulkan drops wgpu's bounds checks and loop bounding; these are the
    // kernels other backends run
    let ctx = common::gpu().context().expect("GPU");
    assert!(!ctx.shader_checks(wgpu_rnn::kernels::Kernel::LstmStep).force_loop_bounding, "default drops loop bounding");
    let mut failures = Vec::new();
    for (i, cell) in [Cell::Rnn, Cell::Gru, Cell::Lstm].into_iter().enumerate() {
        for (input, hidden, batch) in [(17, 33, 3), (8, 132, 9)] {
            let cfg = RandomConfig { direction: Direction::Bidirectional, ..RandomConfig::simple(cell, input, hidden) };
            let net = random::network(&cfg, i as u64, |s| s);
            let inputs = random::inputs(&net, 7, batch, i as u64, true, true);
            let label = format!("checked {cell:?} I{input} H{hidden} B{batch}");
            failures.extend(compare_on(common::checked_gpu(), &label, &net, &inputs, false));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn kernels_with_and_without_lane_sharing_match_the_reference() {
    // The default engine shares loads across subgroup lanes wherever the adapter's subgroups are
    // 8 wide (lavapipe, the CI adapter), and there also reads weights as 64-bit pairs where the
    // device has 64-bit integers (lavapipe does); the sizes take the shared chunks of 32 inputs,
    // the vec4 and scalar tails after them, partial input quads, and invocations past H and N;
    // H 35 (B 5) and 66 start state rows at every offset from a vec4, which the shared chunks
    // read as two vec4s each. The unshared engine runs the plain kernels every other adapter runs.
    let shared = common::gpu().context().expect("GPU");
    let info = shared.device.adapter_info();
    let possible = shared.device.features().contains(wgpu::Features::SUBGROUP)
        && info.subgroup_min_size == 8
        && info.subgroup_max_size == 8
        && info.device_type == wgpu::DeviceType::Cpu;
    assert_eq!(shared.build.shares_lanes(), possible, "lane sharing on exactly where the adapter allows it: {info:?}");
    let wide = possible && shared.device.features().contains(wgpu::Features::SHADER_INT64);
    assert_eq!(
        shared.build == wgpu_rnn::kernels::KernelBuild::LanesWide,
        wide,
        "wide loads on exactly where lanes are shared and u64 exists: {info:?}"
    );
    let mut failures = Vec::new();
    for (i, cell) in [Cell::Rnn, Cell::Gru, Cell::Lstm].into_iter().enumerate() {
        for (input, hidden, batch, lbr) in
            [(44, 36, 3, false), (32, 66, 9, true), (36, 64, 17, true), (40, 35, 5, false)]
        {
            let cfg = RandomConfig {
                direction: Direction::Bidirectional,
                layers: 2,
                ..RandomConfig::simple(cell, input, hidden)
            };
            let net = random::network(&cfg, i as u64, |mut s| {
                s.linear_before_reset = s.cell == Cell::Gru && lbr;
                s
            });
            let inputs = random::inputs(&net, 5, batch, i as u64, true, true);
            for (engine, name) in [(common::gpu(), "shared"), (common::unshared_gpu(), "unshared")] {
                let label = format!("{name} {cell:?} I{input} H{hidden} B{batch} lbr={lbr}");
                failures.extend(compare_on(engine, &label, &net, &inputs, false));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn wavefront_stacks_match_the_reference() {
    // Stacks of 2-4 layers of one direction run as one wavefront (plan.rs `Plan::stacked`):
    // T + L dispatches (2 (T + L - 1) + 1 for reset-before GRU and projected LSTM), layer d at
    // step s - d. Every cell and both kinds of GRU, forward and reverse, odd and aligned sizes, input
    // width apart from H, ragged batches (rows that finish before the others, one after a step),
    // initial states, clip, relu, peepholes in some layers only, coupled gates; with and
    // without lane sharing.
    let mut failures = Vec::new();
    let mut rng = Rng::new(77);
    let mut stacked_runs = 0;
    for i in 0..24 {
        let cell = [Cell::Rnn, Cell::Gru, Cell::Lstm][i % 3];
        // reset-before GRU and projected LSTM (two kernels per step) at every other size
        let two_kernels = (i / 3) % 4 >= 2;
        let direction = if (i / 3) % 2 == 0 { Direction::Forward } else { Direction::Reverse };
        let hidden = pick(&mut rng, if i % 2 == 0 { &ODD[..] } else { &ALIGNED[..] });
        let layers = 2 + i % 3;
        let proj = if cell == Cell::Lstm && two_kernels && hidden > 1 { hidden / 2 + 1 } else { 0 };
        let cfg = RandomConfig {
            direction,
            layers,
            proj_size: proj,
            peepholes: cell == Cell::Lstm,
            ..RandomConfig::simple(cell, pick(&mut rng, &ODD), hidden)
        };
        let clip = (i % 4 == 1).then_some(0.7);
        let mut net = random::network(&cfg, i as u64, |mut s| {
            s.linear_before_reset = s.cell == Cell::Gru && !two_kernels;
            s.input_forget = s.cell == Cell::Lstm && i % 4 == 2;
            s.clip = clip;
            if s.cell == Cell::Rnn && i % 2 == 1 {
                s.activations = vec![vec![Activation::with_defaults(ActivationKind::Relu)]; 1];
            }
            s
        });
        if cell == Cell::Lstm && i % 2 == 0 {
            net.layers[1].weights.p = None; // the stack runs peepholes with zeros for this layer
        }
        assert!(wgpu_rnn::plan::NetShape::of(&net).stackable(), "#{i} stacks");
        let steps = pick(&mut rng, &[1, 2, 7, 20]);
        let batch = pick(&mut rng, &[1, 3, 17]);
        let mut inputs = random::inputs(&net, steps, batch, i as u64, i % 2 == 0, i % 3 != 0);
        if batch > 1 && i % 5 == 0 {
            let lens = inputs.lengths.get_or_insert_with(|| vec![steps; batch]);
            lens[1] = 1; // a row whose upper layers run one step while the others run on
        }
        let max_len = inputs.lengths.as_ref().map_or(steps, |l| l.iter().copied().max().unwrap_or(0));
        for (engine, name) in [(common::gpu(), "shared"), (common::unshared_gpu(), "unshared")] {
            let cpu = wgpu_rnn::cpu::forward(&net, &inputs).expect("cpu runs");
            for rows in [1, 4, 8, 16] {
                let mut model = engine.load(net.clone()).expect("loads");
                model.set_variant(Some(StepVariant::PerStep { rows })).expect("per-step kernels run everywhere");
                model.set_stacked(Some(true)).expect("stackable");
                assert!(model.is_gpu(), "not on the GPU");
                let gpu = model.forward(&inputs).unwrap_or_else(|e| panic!("#{i}: {e}"));
                let waves = if max_len == 0 { 0 } else { max_len + layers - 1 };
                let per_wave = if proj > 0 || (cell == Cell::Gru && two_kernels) { 2 } else { 1 };
                assert_eq!(gpu.dispatches, 1 + per_wave * waves, "#{i} rows {rows}: one projection, then the waves");
                stacked_runs += 1;
                let label = format!(
                    "#{i} {name} rows{rows} {cell:?} {direction:?} L{layers} I{} H{hidden} P{proj} two_kernels={two_kernels} clip={clip:?} T={steps} B={batch} lens={:?}",
                    cfg.input_size, inputs.lengths
                );
                failures.extend(differences(&label, &net, &inputs, &gpu, &cpu, i % 2 == 1 && cell == Cell::Rnn));
            }
        }
    }
    assert_eq!(stacked_runs, 24 * 2 * 4);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_stack_forced_after_a_call_runs_and_matches() {
    // above the default's hidden size the stack's weights are not uploaded until a stack is
    // forced; the workspace of the call before has no bind groups for it
    let hidden = wgpu_rnn::plan::STACKED_HIDDEN + 8;
    let cfg = RandomConfig { layers: 2, ..RandomConfig::simple(Cell::Lstm, 12, hidden) };
    let net = random::network(&cfg, 5, |s| s);
    let inputs = random::inputs(&net, 6, 3, 5, true, true);
    let cpu = wgpu_rnn::cpu::forward(&net, &inputs).expect("cpu runs");
    let mut model = common::gpu().load(net.clone()).expect("loads");
    let layer_by_layer = model.forward(&inputs).expect("runs");
    assert_eq!(layer_by_layer.dispatches, 2 * (1 + 6), "the default: layer by layer");
    model.set_stacked(Some(true)).expect("stackable");
    let stacked = model.forward(&inputs).expect("runs");
    assert_eq!(stacked.dispatches, 1 + 6 + 1, "T + L");
    let mut failures = differences("layer by layer", &net, &inputs, &layer_by_layer, &cpu, false);
    failures.extend(differences("stacked", &net, &inputs, &stacked, &cpu, false));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_activation_matches_the_reference() {
    let mut failures = Vec::new();
    for (i, kind) in ActivationKind::ALL.into_iter().enumerate() {
        for cell in [Cell::Rnn, Cell::Gru, Cell::Lstm] {
            let cfg = RandomConfig { direction: Direction::Bidirectional, ..RandomConfig::simple(cell, 17, 33) };
            let net = random::network(&cfg, i as u64, |mut s| {
                let a = Activation { kind, alpha: 0.3, beta: 0.6 };
                // the activation in every slot of the forward direction, the defaults backwards
                s.activations[0] = vec![a; s.cell.activation_count()];
                s
            });
            let inputs = random::inputs(&net, 9, 3, i as u64, true, true);
            let unbounded = matches!(
                kind,
                ActivationKind::Relu
                    | ActivationKind::Affine
                    | ActivationKind::LeakyRelu
                    | ActivationKind::ThresholdedRelu
                    | ActivationKind::Elu
                    | ActivationKind::Softplus
            );
            failures.extend(compare_with(&format!("{kind:?} {cell:?}"), &net, &inputs, unbounded));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn projections_of_many_rows_match_the_reference() {
    // T * B = 270 rows: blocks of 32 rows on CPU drivers (the CI's lavapipe; a partial last
    // block), else 16. I and 4H (or 3H) multiples of 4, then I = 37 and H = 35 (rows of x that
    // start at every offset from a vec4, a partial last input quad, 105 columns; the second
    // layer's 70 inputs), then 34 and 99 columns: a last column quad of 1, 2 and 3 columns.
    let mut failures = Vec::new();
    for (i, (cell, input, hidden)) in
        [(Cell::Lstm, 40, 36), (Cell::Gru, 40, 36), (Cell::Gru, 37, 35), (Cell::Rnn, 45, 34), (Cell::Gru, 30, 33)]
            .into_iter()
            .enumerate()
    {
        let cfg = RandomConfig {
            direction: Direction::Bidirectional,
            layers: 2,
            ..RandomConfig::simple(cell, input, hidden)
        };
        let net = random::network(&cfg, 90 + i as u64, |mut s| {
            s.linear_before_reset = s.cell == Cell::Gru;
            s
        });
        let inputs = random::inputs(&net, 30, 9, i as u64, true, true);
        let model = common::gpu().load(net.clone()).expect("loads");
        let ctx = common::gpu().context().expect("GPU");
        let plan = model.plan(&inputs).expect("on the GPU").expect("plans");
        let rows: Vec<u32> = plan
            .commands
            .iter()
            .filter_map(|c| match c {
                // (or its *_lanes version, where the device shares lanes)
                wgpu_rnn::plan::Command::Dispatch(d)
                    if d.kernel.portable() == wgpu_rnn::kernels::Kernel::InputProjection =>
                {
                    Some(d.rows)
                }
                _ => None,
            })
            .collect();
        let want = if ctx.fit().wide_tiles { 32 } else { 16 };
        assert_eq!(rows, vec![want; 2], "{cell:?}: each layer's projection in blocks of {want}");
        failures.extend(compare(&format!("{cell:?} T=30 B=9 I={input} H={hidden}"), &net, &inputs));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn long_sequences_match_the_reference() {
    let mut failures = Vec::new();
    for (i, (cell, steps, hidden, direction)) in [
        (Cell::Lstm, 300, 65, Direction::Bidirectional),
        (Cell::Gru, 333, 33, Direction::Reverse),
        (Cell::Rnn, 400, 17, Direction::Forward),
        (Cell::Lstm, 301, 130, Direction::Forward),
        // more steps than one persistent dispatch's loops may take on lavapipe
        (Cell::Gru, 1100, 128, Direction::Bidirectional),
    ]
    .into_iter()
    .enumerate()
    {
        let layers = if steps > 1000 { 1 } else { 2 };
        let cfg = RandomConfig { direction, layers, ..RandomConfig::simple(cell, 3, hidden) };
        let net = random::network(&cfg, 77 + i as u64, |mut s| {
            s.linear_before_reset = i == 1;
            s
        });
        let inputs = random::inputs(&net, steps, 3, i as u64, true, true);
        failures.extend(compare(&format!("{cell:?} T={steps} H={hidden} {direction:?}"), &net, &inputs));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn repeated_calls_reuse_the_workspace_and_agree() {
    let cfg = RandomConfig { direction: Direction::Bidirectional, ..RandomConfig::simple(Cell::Lstm, 5, 17) };
    let net = random::network(&cfg, 3, |s| s);
    let model = common::gpu().load(net.clone()).expect("loads");
    let a = random::inputs(&net, 12, 3, 1, true, true);
    let b = random::inputs(&net, 12, 3, 2, false, false);
    let c = random::inputs(&net, 5, 4, 3, true, false); // another shape in between
    let first = model.forward(&a).expect("runs");
    model.forward(&b).expect("runs");
    model.forward(&c).expect("runs");
    let again = model.forward(&a).expect("runs");
    assert_eq!(first, again, "state from earlier calls leaked into a later one");
    assert!(compare("reused workspace", &net, &a).is_empty());
}

#[test]
fn resident_outputs_stay_on_the_gpu_and_hold_the_result() {
    let cfg = RandomConfig::simple(Cell::Gru, 4, 9);
    let net = random::network(&cfg, 5, |s| s);
    let model = common::gpu().load(net.clone()).expect("loads");
    let inputs = random::inputs(&net, 6, 2, 5, false, false);
    let resident = model.forward_resident(&inputs).expect("runs");
    assert_eq!(resident.y.size(), (6 * 2 * 9 * 4) as u64);
    assert!(resident.y.usage().contains(wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC));
    let host = model.forward(&inputs).expect("runs");
    assert_eq!(resident.dispatches, host.dispatches);
}

#[test]
fn an_overflowing_sequence_leaves_the_others_alone() {
    // A Relu RNN whose first sequence overflows to infinity in layer 0. Layer 1 has 5 inputs,
    // so its projection reads each row's last, partial quad as a vec4 that reaches into the next
    // row (time-major: sequence 1 at step 0 is followed by sequence 0 at step 1): those inputs
    // must be zeroed, not multiplied by zero weights (inf * 0 is NaN).
    let cfg = RandomConfig { layers: 2, ..RandomConfig::simple(Cell::Rnn, 3, 5) };
    let mut net = random::network(&cfg, 11, |mut s| {
        s.activations = vec![vec![Activation::with_defaults(ActivationKind::Relu)]; s.directions()];
        s
    });
    net.layers[0].weights.w.iter_mut().for_each(|w| *w = 1e30);
    let (steps, batch) = (2, 2);
    let mut x = vec![0.0; steps * batch * 3];
    x[6..9].copy_from_slice(&[1e30; 3]); // sequence 0, step 1: its layer-0 output is +inf
    let inputs = Inputs { x, steps, batch, lengths: None, h0: None, c0: None };
    let cpu = wgpu_rnn::cpu::forward(&net, &inputs).expect("cpu runs");
    let gpu = common::gpu().load(net.clone()).expect("loads").forward(&inputs).expect("runs");
    let w = net.merged_width();
    assert!(cpu.y[2 * w..3 * w].iter().any(|v| !v.is_finite()), "sequence 0 overflows: {:?}", &cpu.y[2 * w..3 * w]);
    for t in 0..steps {
        let row = (t * batch + 1) * w; // sequence 1
        let (g, c) = (&gpu.y[row..row + w], &cpu.y[row..row + w]);
        assert!(c.iter().all(|v| v.is_finite()), "the reference keeps sequence 1 finite: {c:?}");
        assert!(g.iter().zip(c).all(|(g, c)| (g - c).abs() <= 1e-4 * c.abs().max(1.0)), "step {t}: {g:?} want {c:?}");
    }
}
