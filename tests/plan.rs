//! The plan of GPU work, checked without a GPU: dispatch counts, order, and state copies.

use wgpu_rnn::kernels::Kernel;
use wgpu_rnn::plan::{Buf, Command, DeviceFit, Dispatch, NetShape, Plan, STATE_HALF_ALIGN, StepVariant};

const ONE_ROW: StepVariant = StepVariant::PerStep { rows: 1 };
const ON_GPU: DeviceFit = DeviceFit {
    persistent: true,
    split: true,
    wide_tiles: false,
    row_tiles: false,
    workgroup_tiles: true,
    lanes: false,
};
const ON_CPU: DeviceFit = DeviceFit {
    persistent: false,
    split: false,
    wide_tiles: true,
    row_tiles: true,
    workgroup_tiles: false,
    lanes: true,
};
use wgpu_rnn::random::{self, RandomConfig};
use wgpu_rnn::{Cell, Direction, MergeMode};

fn shape(cell: Cell, direction: Direction, layers: usize, proj: usize, merge: MergeMode, lbr: bool) -> NetShape {
    let cfg = RandomConfig { direction, layers, proj_size: proj, merge, ..RandomConfig::simple(cell, 5, 8) };
    let net = random::network(&cfg, 1, |mut s| {
        s.linear_before_reset = lbr && s.cell == Cell::Gru;
        s
    });
    net.validate().expect("valid");
    NetShape::of(&net)
}

#[test]
fn one_projection_and_one_fused_step_per_time_step() {
    for cell in [Cell::Rnn, Cell::Lstm] {
        for dir in [Direction::Forward, Direction::Reverse, Direction::Bidirectional] {
            let plan =
                Plan::forward(&shape(cell, dir, 1, 0, MergeMode::Concat, false), 10, 3, 10, false, ONE_ROW, ON_GPU);
            assert_eq!(plan.dispatches(), 1 + 10, "{cell:?} {dir:?}");
            // both directions share each dispatch: z spans D
            let d = dir.count() as u32;
            assert!(plan.commands.iter().all(|c| !matches!(c, Command::Dispatch(x) if x.workgroups[2] != d)));
        }
    }
    let gru_pytorch = Plan::forward(
        &shape(Cell::Gru, Direction::Bidirectional, 1, 0, MergeMode::Concat, true),
        10,
        3,
        10,
        false,
        ONE_ROW,
        ON_GPU,
    );
    assert_eq!(gru_pytorch.dispatches(), 11);
}

#[test]
fn reset_before_gru_and_projected_lstm_take_two_dispatches_per_step() {
    let gru = Plan::forward(
        &shape(Cell::Gru, Direction::Forward, 1, 0, MergeMode::Concat, false),
        7,
        2,
        7,
        false,
        ONE_ROW,
        ON_GPU,
    );
    assert_eq!(gru.dispatches(), 1 + 2 * 7);
    let lstm = Plan::forward(
        &shape(Cell::Lstm, Direction::Forward, 1, 4, MergeMode::Concat, false),
        7,
        2,
        7,
        false,
        ONE_ROW,
        ON_GPU,
    );
    assert_eq!(lstm.dispatches(), 1 + 2 * 7);
    let kernels: Vec<Kernel> =
        lstm.commands.iter().filter_map(|c| if let Command::Dispatch(d) = c { Some(d.kernel) } else { None }).collect();
    assert_eq!(&kernels[..3], &[Kernel::InputProjection, Kernel::LstmStep, Kernel::LstmProject]);
}

#[test]
fn stacks_merge_and_copy_final_states() {
    let s = shape(Cell::Lstm, Direction::Bidirectional, 3, 0, MergeMode::Sum, false);
    let plan = Plan::forward(&s, 5, 2, 4, true, ONE_ROW, ON_GPU);
    // per layer: projection + 4 steps (longest sequence) + merge
    assert_eq!(plan.dispatches(), 3 * (1 + 4 + 1));
    let clears = plan.commands.iter().filter(|c| matches!(c, Command::Clear(Buf::LayerOut(_)))).count();
    assert_eq!(clears, 3, "ragged batches zero each layer's output first");
    let copies: Vec<_> = plan
        .commands
        .iter()
        .filter_map(|c| {
            if let Command::Copy { src, src_offset, dst, dst_offset, .. } = c {
                Some((*src, *src_offset, *dst, *dst_offset))
            } else {
                None
            }
        })
        .collect();
    let state = (2 * 2 * 8 * 4) as u64; // D*B*H floats
    assert_eq!(copies[0], (Buf::H(0), 0, Buf::Hn, 0), "after 4 steps the state is in half 0");
    assert_eq!(copies[1], (Buf::C(0), 0, Buf::Cn, 0));
    assert_eq!(copies[2], (Buf::H(1), 0, Buf::Hn, state));
    assert_eq!(s.layer_input(1), Buf::Merged(0));
    assert_eq!(s.output(), Buf::Merged(2));
}

#[test]
fn concat_stacks_read_the_previous_output_directly() {
    let s = shape(Cell::Gru, Direction::Bidirectional, 2, 0, MergeMode::Concat, true);
    let plan = Plan::forward(&s, 6, 1, 6, false, ONE_ROW, ON_GPU);
    assert_eq!(plan.dispatches(), 2 * (1 + 6));
    assert_eq!(s.layer_input(1), Buf::LayerOut(0));
    assert!(!plan.commands.iter().any(|c| matches!(c, Command::Clear(_))), "full-length batches need no clearing");
    assert_eq!(s.bindings(Kernel::InputProjection, 1)[1], Buf::LayerOut(0));
    assert_eq!(plan.bind_sets().len(), 4);
}

#[test]
fn odd_final_step_reads_the_second_half() {
    let s = shape(Cell::Rnn, Direction::Forward, 1, 0, MergeMode::Concat, false);
    let plan = Plan::forward(&s, 3, 1, 3, false, ONE_ROW, ON_GPU);
    let off = plan
        .commands
        .iter()
        .find_map(|c| if let Command::Copy { src: Buf::H(0), src_offset, .. } = c { Some(*src_offset) } else { None });
    // the second half starts STATE_HALF_ALIGN bytes in, where a dynamic offset can bind it
    assert_eq!(s.state_half(1), 64, "8 floats padded to 256 bytes");
    assert_eq!(off, Some(STATE_HALF_ALIGN));
    assert_eq!(s.elements(Buf::H(0), 3, 1), 2 * 64);
    assert_eq!(s.state_half(40) * 4 % STATE_HALF_ALIGN as usize, 0);
}

/// The projection and one persistent dispatch per `PERSISTENT_STEPS` steps, each starting where
/// the one before stopped (its `StepParams`).
#[test]
fn the_persistent_kernel_runs_a_layer_in_a_few_dispatches() {
    for (cell, lbr, proj) in
        [(Cell::Gru, false, 0), (Cell::Lstm, false, 4), (Cell::Rnn, false, 0), (Cell::Gru, true, 0)]
    {
        let s = shape(cell, Direction::Bidirectional, 2, proj, MergeMode::Concat, lbr);
        assert!(s.supports(StepVariant::Persistent));
        assert_eq!(s.default_variant(1, ON_GPU), StepVariant::Persistent, "H <= 128 picks the persistent kernel");
        assert_eq!(s.default_variant(1, ON_CPU), StepVariant::PerStep { rows: 1 }, "not on a CPU driver");
        assert_eq!(s.default_variant(16, ON_CPU), StepVariant::PerStep { rows: 16 }, "not on a CPU driver");
        let plan = Plan::forward(&s, 300, 3, 300, false, StepVariant::Persistent, ON_GPU);
        let every = wgpu_rnn::kernels::PERSISTENT_STEPS as usize;
        let walks = 300usize.div_ceil(every);
        assert!(walks > 1, "300 steps take more than one persistent dispatch");
        assert_eq!(plan.dispatches(), 2 * (1 + walks), "{cell:?}: projection + persistent per layer");
        let firsts: Vec<Option<u32>> = plan
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Dispatch(d) if d.kernel == Kernel::LayerPersistent && d.layer == 1 => Some(d.step),
                _ => None,
            })
            .collect();
        let want: Vec<Option<u32>> = (0..300).step_by(every).map(|s| Some(s as u32)).collect();
        assert_eq!(firsts, want, "{cell:?}: each dispatch's first step");
        let short = Plan::forward(&s, 300, 3, 100, false, StepVariant::Persistent, ON_GPU);
        assert_eq!(short.dispatches(), 2 * 2, "{cell:?}: the longest sequence sets the dispatches");
        let copy = plan.commands.iter().find_map(|c| {
            if let Command::Copy { src: Buf::H(0), src_offset, .. } = c { Some(*src_offset) } else { None }
        });
        assert_eq!(copy, Some(0), "the persistent kernel leaves the final state in half 0");
    }
}

/// The plan's first dispatch of `kernel`.
/// The first dispatch of `kernel` or its `*_lanes` version.
fn first_dispatch(plan: &Plan, kernel: Kernel) -> Dispatch {
    plan.commands
        .iter()
        .find_map(|c| match c {
            Command::Dispatch(d) if d.kernel.portable() == kernel => Some(*d),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {kernel:?} in the plan"))
}

#[test]
fn large_layers_use_batch_tiled_step_kernels() {
    let net = random::network(&RandomConfig::simple(Cell::Lstm, 8, 129), 1, |s| s);
    let s = NetShape::of(&net);
    assert!(!s.supports(StepVariant::Persistent));
    assert_eq!(s.default_variant(1, ON_CPU), StepVariant::PerStep { rows: 1 });
    assert_eq!(s.default_variant(3, ON_CPU), StepVariant::PerStep { rows: 4 });
    assert_eq!(s.default_variant(4, ON_CPU), StepVariant::PerStep { rows: 4 });
    assert_eq!(s.default_variant(5, ON_CPU), StepVariant::PerStep { rows: 8 });
    assert_eq!(s.default_variant(8, ON_CPU), StepVariant::PerStep { rows: 8 });
    assert_eq!(s.default_variant(9, ON_CPU), StepVariant::PerStep { rows: 16 }, "CPU drivers: 16 rows above 8");
    assert_eq!(s.default_variant(16, ON_GPU), StepVariant::Sliced { rows: 1 }, "GPUs: sliced up to 16 rows");
    assert_eq!(s.default_variant(17, ON_GPU), StepVariant::Tiled { rows: 1 }, "GPUs: workgroup tiles above");
    let plan = Plan::forward(&s, 10, 16, 10, false, StepVariant::PerStep { rows: 4 }, ON_GPU);
    assert_eq!(plan.dispatches(), 11);
    let d = first_dispatch(&plan, Kernel::LstmStep);
    assert_eq!(d.workgroups, [3, 4, 1], "129 units in workgroups of 64, 16 rows in tiles of 4");
    assert_eq!(d.rows, 4);
    // the projection: 10 steps x 16 rows = 160 rows in blocks of 16, 516 columns in workgroups
    // of 64 x 4 columns
    let p = first_dispatch(&plan, Kernel::InputProjection);
    assert_eq!((p.rows, p.workgroups), (16, [3, 10, 1]));
    let few = first_dispatch(
        &Plan::forward(&s, 1, 16, 1, false, StepVariant::PerStep { rows: 4 }, ON_GPU),
        Kernel::InputProjection,
    );
    assert_eq!((few.rows, few.workgroups), (8, [3, 2, 1]), "under 64 rows: blocks of 8");
    // CPU drivers: from 256 rows, blocks of 32 (20 steps x 16 rows = 320 rows: 10 blocks);
    // GPUs keep 16
    let many = |fit| first_dispatch(&Plan::forward(&s, 20, 16, 20, false, ONE_ROW, fit), Kernel::InputProjection);
    // (and two column quads per invocation: 129 quads in 9 pairs of blocks of 8, 72 invocations)
    assert_eq!((many(ON_CPU).rows, many(ON_CPU).workgroups), (32, [2, 10, 1]), "CPU driver: blocks of 32");
    assert_eq!((many(ON_GPU).rows, many(ON_GPU).workgroups), (16, [3, 20, 1]), "GPU: blocks of 16");
    let below = first_dispatch(&Plan::forward(&s, 15, 16, 15, false, ONE_ROW, ON_CPU), Kernel::InputProjection);
    assert_eq!(below.rows, 16, "240 rows: blocks of 16 on a CPU driver too");
}

#[test]
fn paired_kernels_take_half_the_invocations_where_lanes_are_shared() {
    // the *_lanes kernels: invocation i computes unit (i / 8) * 16 + i % 8 and the one 8 after
    // it (paired_unit in shaders/shared/lanes.wgsl): ceil(units / 16) * 8 invocations in
    // workgroups of 64
    let x_groups_rows = |cell, hidden, lbr, kernel: Kernel, fit: DeviceFit, rows| {
        let net = random::network(&RandomConfig::simple(cell, 8, hidden), 1, |mut s| {
            s.linear_before_reset = lbr;
            s
        });
        let d = first_dispatch(
            &Plan::forward(&NetShape::of(&net), 4, 16, 4, false, StepVariant::PerStep { rows }, fit),
            kernel,
        );
        let want = if fit.lanes { kernel.lanes().expect("a lanes version") } else { kernel };
        assert_eq!(d.kernel, want, "the lanes version exactly where lanes are shared");
        d.workgroups[0]
    };
    let x_groups = |cell, hidden, lbr, kernel, fit| x_groups_rows(cell, hidden, lbr, kernel, fit, 16);
    for (kernel, lbr) in [(Kernel::GruStep, true), (Kernel::GruGates, false), (Kernel::GruCandidate, false)] {
        assert_eq!(x_groups(Cell::Gru, 1024, lbr, kernel, ON_CPU), 8, "{kernel:?}: 512 invocations");
        assert_eq!(x_groups(Cell::Gru, 1024, lbr, kernel, ON_GPU), 16, "{kernel:?}: one unit each");
        // 1030 units: 65 pairs of blocks, the last with 6 units in its first block only
        assert_eq!(x_groups(Cell::Gru, 1030, lbr, kernel, ON_CPU), 9, "{kernel:?}: 520 invocations");
    }
    assert_eq!(x_groups(Cell::Lstm, 1024, false, Kernel::LstmStep, ON_CPU), 8, "lstm_step: 512 invocations");
    assert_eq!(
        x_groups_rows(Cell::Lstm, 1024, false, Kernel::LstmStep, ON_CPU, 1),
        16,
        "lstm_step with one row per invocation is not paired"
    );
    // the projection's 768 column quads (GRU H1024): 384 invocations paired
    assert_eq!(x_groups(Cell::Gru, 1024, true, Kernel::InputProjection, ON_CPU), 6);
    assert_eq!(x_groups(Cell::Gru, 1024, true, Kernel::InputProjection, ON_GPU), 12);
    let paired: Vec<_> = Kernel::ALL.into_iter().filter(|k| k.pairs_units(16)).collect();
    let want = [
        Kernel::InputProjectionLanes,
        Kernel::RnnStepLanes,
        Kernel::GruStepLanes,
        Kernel::GruGatesLanes,
        Kernel::GruCandidateLanes,
        Kernel::LstmStepLanes,
    ];
    assert_eq!(paired, want);
    assert_eq!(x_groups(Cell::Rnn, 1024, false, Kernel::RnnStep, ON_CPU), 8, "rnn_step: 512 invocations");
}

#[test]
fn small_lstm_batches_on_gpus_slice_the_recurrent_product() {
    let net = random::network(&RandomConfig::simple(Cell::Lstm, 8, 300), 1, |s| s);
    let s = NetShape::of(&net);
    assert_eq!(s.default_variant(1, ON_GPU), StepVariant::Sliced { rows: 1 });
    assert_eq!(s.default_variant(4, ON_GPU), StepVariant::Sliced { rows: 1 }, "38 blocks x 4 rows: 1 row each");
    assert_eq!(s.default_variant(16, ON_GPU), StepVariant::Sliced { rows: 1 }, "608 workgroups");
    assert_eq!(s.default_variant(17, ON_GPU), StepVariant::Tiled { rows: 1 }, "more than 16 rows: workgroup tiles");
    let wide = NetShape::of(&random::network(&RandomConfig::simple(Cell::Lstm, 8, 1024), 1, |s| s));
    assert_eq!(wide.default_variant(8, ON_GPU), StepVariant::Sliced { rows: 1 }, "128 blocks x 8 rows");
    assert_eq!(wide.default_variant(9, ON_GPU), StepVariant::Sliced { rows: 4 }, "over 1024 workgroups: 4 rows each");
    assert_eq!(s.default_variant(4, ON_CPU), StepVariant::PerStep { rows: 4 }, "a CPU adapter");
    let sliced = Plan::forward(&s, 10, 3, 10, false, StepVariant::Sliced { rows: 4 }, ON_GPU);
    assert_eq!(sliced.dispatches(), 11);
    let d = first_dispatch(&sliced, Kernel::LstmStepSliced);
    assert_eq!(d.workgroups, [38, 1, 1], "one workgroup per block of 8 units, 3 rows in one");
    let plan = Plan::forward(&s, 10, 4, 10, false, StepVariant::Split { rows: 4 }, ON_GPU);
    assert_eq!(plan.dispatches(), 11);
    let d = first_dispatch(&plan, Kernel::LstmStepSplit);
    assert_eq!(d.workgroups, [300, 1, 1], "one workgroup per hidden unit");
    let gru = NetShape::of(&random::network(&RandomConfig::simple(Cell::Gru, 8, 300), 1, |s| s));
    assert!(!gru.supports(StepVariant::Split { rows: 1 }), "reset-before GRU needs r of every unit first");
    let pytorch_gru = NetShape::of(&random::network(&RandomConfig::simple(Cell::Gru, 8, 300), 1, |mut s| {
        s.linear_before_reset = true;
        s
    }));
    assert_eq!(pytorch_gru.split_kernel(), Some(wgpu_rnn::kernels::Kernel::GruStepSplit));
    assert_eq!(pytorch_gru.default_variant(17, ON_GPU), StepVariant::Tiled { rows: 1 });
    let rnn = NetShape::of(&random::network(&RandomConfig::simple(Cell::Rnn, 8, 300), 1, |s| s));
    assert_eq!(rnn.default_variant(4, ON_GPU), StepVariant::Split { rows: 1 }, "RNN: no sliced kernel");
    assert_eq!(rnn.default_variant(5, ON_GPU), StepVariant::PerStep { rows: 1 });
    assert_eq!(pytorch_gru.default_variant(1, ON_GPU), StepVariant::Sliced { rows: 1 });
    assert_eq!(gru.default_variant(9, ON_GPU), StepVariant::PerStep { rows: 1 }, "no tiled reset-before GRU");
    assert_eq!(gru.default_variant(1, ON_GPU), StepVariant::PerStep { rows: 1 }, "nor a sliced or split one");
    let projected = NetShape::of(&random::network(
        &RandomConfig { proj_size: 7, ..RandomConfig::simple(Cell::Lstm, 8, 300) },
        1,
        |s| s,
    ));
    assert!(!projected.supports(StepVariant::Split { rows: 4 }));
    assert!(!projected.supports(StepVariant::Tiled { rows: 4 }));
    assert_eq!(projected.default_variant(16, ON_GPU), StepVariant::PerStep { rows: 1 }, "GPUs: one row per invocation");
}

#[test]
fn large_lstm_batches_on_gpus_use_workgroup_tiles() {
    let s = NetShape::of(&random::network(&RandomConfig::simple(Cell::Lstm, 8, 300), 1, |s| s));
    let plan = Plan::forward(&s, 10, 40, 10, false, StepVariant::Tiled { rows: 4 }, ON_GPU);
    assert_eq!(plan.dispatches(), 11, "one dispatch per step");
    let d = first_dispatch(&plan, Kernel::LstmStepTiled);
    assert_eq!(d.workgroups, [19, 3, 1], "300 units in tiles of 16, 40 rows in tiles of 16");
    assert_eq!(d.rows, 4);
}

#[test]
fn gpus_keep_the_persistent_kernel_for_small_layers_and_rnn() {
    for cell in [Cell::Lstm, Cell::Gru] {
        let s = NetShape::of(&random::network(&RandomConfig::simple(cell, 8, 100), 1, |mut s| {
            s.linear_before_reset = true;
            s
        }));
        assert_eq!(s.default_variant(1, ON_GPU), StepVariant::Sliced { rows: 1 }, "{cell:?} H100 B1");
        assert_eq!(s.default_variant(64, ON_GPU), StepVariant::Sliced { rows: 1 }, "{cell:?} H100 B64");
        assert_eq!(s.default_variant(128, ON_GPU), StepVariant::Sliced { rows: 4 }, "{cell:?} H100 B128");
        let small = NetShape::of(&random::network(&RandomConfig::simple(cell, 8, 64), 1, |s| s));
        for b in [1, 4, 64] {
            assert_eq!(small.default_variant(b, ON_GPU), StepVariant::Persistent, "{cell:?} H64 B{b}");
        }
    }
    // reset-before GRU at H100 has neither a sliced nor a tiled kernel: the persistent one
    let gru = NetShape::of(&random::network(&RandomConfig::simple(Cell::Gru, 8, 100), 1, |s| s));
    assert_eq!(gru.default_variant(16, ON_GPU), StepVariant::Persistent);
    let rnn = NetShape::of(&random::network(&RandomConfig::simple(Cell::Rnn, 8, 128), 1, |s| s));
    assert_eq!(rnn.default_variant(1, ON_GPU), StepVariant::Persistent, "RNN keeps the persistent kernel");
    let no_subgroups = DeviceFit { split: false, ..ON_GPU };
    assert_eq!(rnn.default_variant(1, no_subgroups), StepVariant::Persistent);
}

#[test]
fn packed_weights_fill_the_buffers_the_plan_sizes() {
    use wgpu_rnn::pack::pack_layer;
    for cell in [Cell::Rnn, Cell::Gru, Cell::Lstm] {
        for (input, hidden, proj) in [(5, 7, 0), (8, 16, 0), (3, 9, 5), (13, 33, 0)] {
            let proj = if cell == Cell::Lstm { proj } else { 0 };
            let cfg = RandomConfig {
                direction: Direction::Bidirectional,
                proj_size: proj,
                ..RandomConfig::simple(cell, input, hidden)
            };
            let net = random::network(&cfg, 3, |s| s);
            let shape = NetShape::of(&net);
            let packed = pack_layer(&net.layers[0]);
            let what = format!("{cell:?} I{input} H{hidden} P{proj}");
            assert_eq!(packed.wx.len(), shape.elements(Buf::Wx(0), 1, 1), "wx of {what}");
            assert_eq!(packed.wh.len(), shape.elements(Buf::Wh(0), 1, 1), "wh of {what}");
            assert_eq!(packed.bx.len(), shape.elements(Buf::Bx(0), 1, 1), "bx of {what}");
            if let Some(wr) = &packed.wr {
                assert_eq!(wr.len(), shape.elements(Buf::Wr(0), 1, 1), "wr of {what}");
            }
            assert_eq!(packed.wn.is_some(), cell == Cell::Gru, "only reset-before GRU has wn: {what}");
            if let Some(wn) = &packed.wn {
                assert_eq!(wn.len(), shape.elements(Buf::Wn(0), 1, 1), "wn of {what}");
            }
        }
    }
}

#[test]
fn blocked_layout_keeps_each_unit_block_contiguous_over_k() {
    use wgpu_rnn::pack::{UNIT_BLOCK, block_units};
    // [D=2, K=3, cols=10], unit width 2 -> 5 units, one block of 8 (3 padded)
    let (d_count, k_count, cols, width) = (2, 3, 10, 2);
    let src: Vec<f32> = (0..d_count * k_count * cols).map(|i| i as f32 + 1.0).collect();
    let dst = block_units(&src, d_count, k_count, cols, width);
    let block = UNIT_BLOCK * width;
    assert_eq!(dst.len(), d_count * k_count * block);
    for d in 0..d_count {
        for k in 0..k_count {
            for n in 0..block {
                let want = if n < cols { src[(d * k_count + k) * cols + n] } else { 0.0 };
                assert_eq!(dst[(d * k_count + k) * block + n], want, "d {d} k {k} column {n}");
            }
        }
    }
    // two blocks: units 8.. start after all K rows of the first block
    let cols = UNIT_BLOCK + 1;
    let src: Vec<f32> = (0..k_count * cols).map(|i| i as f32 + 1.0).collect();
    let dst = block_units(&src, 1, k_count, cols, 1);
    assert_eq!(dst[k_count * UNIT_BLOCK], src[UNIT_BLOCK], "unit 8 at k 0");
    assert_eq!(dst[(k_count + 1) * UNIT_BLOCK], src[cols + UNIT_BLOCK], "unit 8 at k 1");
}

#[test]
fn wavefront_stacks_take_t_plus_l_dispatches() {
    let s = shape(Cell::Lstm, Direction::Forward, 3, 0, MergeMode::Concat, false);
    assert!(s.stackable());
    let (t, b, max_len, hg) = (6, 2, 5, 8 * 4);
    let layer_by_layer = Plan::forward(&s, t, b, max_len, true, ONE_ROW, ON_CPU);
    assert_eq!(layer_by_layer.dispatches(), 3 * (1 + max_len));
    let plan = Plan::stacked(&s, t, b, max_len, true, 4, ON_CPU);
    // layer 0's projection, then one dispatch per wave: layer d runs its step s - d
    assert_eq!(plan.dispatches(), 1 + max_len + 3 - 1);
    let dispatches: Vec<Dispatch> =
        plan.commands.iter().filter_map(|c| if let Command::Dispatch(d) = c { Some(*d) } else { None }).collect();
    // (on a CPU driver that shares lanes, the *_lanes kernels)
    assert_eq!((dispatches[0].kernel, dispatches[0].layer), (Kernel::InputProjectionLanes, 0));
    for (s_index, d) in dispatches[1..].iter().enumerate() {
        assert_eq!((d.kernel, d.layer, d.step, d.rows), (Kernel::LstmStepLanes, s.stack(), Some(s_index as u32), 4));
        assert_eq!(d.workgroups[2], 3, "z spans the layers");
    }
    let copies: Vec<_> = plan
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Copy { src, src_offset, dst, dst_offset, size } => {
                Some((*src, *src_offset, *dst, *dst_offset, *size))
            }
            _ => None,
        })
        .collect();
    let f32s = |n: usize| (n * 4) as u64;
    // layers 1 and 2 read their folded biases after layer 0's T*B rows of xp (rows.wgsl xp_row)
    assert_eq!(copies[0], (Buf::Bx(1), 0, Buf::Xp, f32s(t * b * hg), f32s(hg)));
    assert_eq!(copies[1], (Buf::Bx(2), 0, Buf::Xp, f32s((t * b + 1) * hg), f32s(hg)));
    assert_eq!(s.elements(Buf::Xp, t, b), (t * b + 2) * hg);
    // after 7 waves the states are in the second half, [L, B, H] as h_n wants them
    assert_eq!(copies[2], (Buf::StackH, f32s(s.stack_half(b)), Buf::Hn, 0, f32s(3 * b * 8)));
    assert_eq!(copies[3], (Buf::StackC, 0, Buf::Cn, 0, f32s(3 * b * 8)));
    let clears: Vec<_> = plan.commands.iter().filter(|c| matches!(c, Command::Clear(_))).collect();
    assert_eq!(clears, [&Command::Clear(Buf::LayerOut(2))], "only the last layer writes y");
    let bindings = s.bindings(Kernel::LstmStep, s.stack());
    assert_eq!(bindings.len(), Kernel::LstmStep.binding_kinds().len());
    assert_eq!(bindings[6..], [Buf::StackH, Buf::StackH, Buf::StackC, Buf::LayerOut(2)]);
    assert_eq!(plan.bind_sets(), vec![(Kernel::InputProjectionLanes, 0), (Kernel::LstmStepLanes, 3)]);
    // every sequence empty: no waves, the initial states come back
    assert_eq!(Plan::stacked(&s, t, b, 0, true, 4, ON_CPU).dispatches(), 1);
    // cells with two kernels per step run both per wave: 2 (T + L - 1) + 1
    for (cell, proj, lbr, kernels) in [
        (Cell::Gru, 0, false, [Kernel::GruGates, Kernel::GruCandidate]),
        (Cell::Lstm, 3, false, [Kernel::LstmStep, Kernel::LstmProject]),
    ] {
        let s = shape(cell, Direction::Forward, 3, proj, MergeMode::Concat, lbr);
        let plan = Plan::stacked(&s, t, b, t, false, 1, ON_GPU);
        assert_eq!(plan.dispatches(), 1 + 2 * (t + 2), "{cell:?}");
        let kinds: Vec<Kernel> = plan
            .commands
            .iter()
            .filter_map(|c| if let Command::Dispatch(d) = c { Some(d.kernel) } else { None })
            .collect();
        assert_eq!(kinds[1..3], kernels, "{cell:?}");
        for k in kernels {
            assert_eq!(s.bindings(k, s.stack()).len(), k.binding_kinds().len(), "{k:?}");
        }
    }
    let projected = shape(Cell::Lstm, Direction::Forward, 3, 3, MergeMode::Concat, false);
    assert_eq!(projected.bindings(Kernel::LstmStep, 3)[9], Buf::Scratch, "m, for lstm_project");
    assert_eq!(projected.elements(Buf::Scratch, t, b), 3 * b * 8, "m of every layer");
    let reset_before = shape(Cell::Gru, Direction::Forward, 3, 0, MergeMode::Concat, false);
    assert_eq!(reset_before.elements(Buf::Scratch, t, b), 3 * b * 8 * 3, "z, r ⊙ h and x·W_hᵀ");
}

#[test]
fn only_equal_layers_of_one_direction_stack() {
    let stackable = |cell, dir, layers, proj, lbr| shape(cell, dir, layers, proj, MergeMode::Concat, lbr).stackable();
    for cell in [Cell::Rnn, Cell::Gru, Cell::Lstm] {
        assert!(stackable(cell, Direction::Forward, 2, 0, true), "{cell:?}");
        assert!(stackable(cell, Direction::Reverse, 4, 0, true), "{cell:?} reverse");
        assert!(!stackable(cell, Direction::Forward, 1, 0, true), "{cell:?}: one layer");
        assert!(!stackable(cell, Direction::Bidirectional, 2, 0, true), "{cell:?}: two directions");
    }
    assert!(stackable(Cell::Gru, Direction::Forward, 2, 0, false), "reset-before GRU");
    assert!(stackable(Cell::Lstm, Direction::Forward, 2, 3, false), "projected LSTM");
    let cfg = RandomConfig { layers: 2, ..RandomConfig::simple(Cell::Rnn, 5, 8) };
    let mut net = random::network(&cfg, 1, |s| s);
    assert!(NetShape::of(&net).stackable());
    net.layers[1].spec.clip = Some(2.0);
    assert!(!NetShape::of(&net).stackable(), "layers with different options");
}

#[test]
fn stack_weights_fill_the_buffers_the_plan_sizes() {
    let cfg = RandomConfig { layers: 3, proj_size: 5, ..RandomConfig::simple(Cell::Lstm, 6, 9) };
    let net = random::network(&cfg, 2, |s| s);
    let packed = wgpu_rnn::pack::pack_stack(&net.layers);
    let shape = NetShape::of(&net);
    assert_eq!(packed.wh.len(), shape.elements(Buf::StackWh, 1, 1), "projected: W and R have 5 inputs");
    assert_eq!(packed.wr.map(|w| w.len()), Some(shape.elements(Buf::StackWr, 1, 1)));
    for cell in [Cell::Rnn, Cell::Gru, Cell::Lstm] {
        for (input, hidden, layers) in [(5, 7, 2), (13, 33, 3), (8, 16, 4)] {
            let cfg =
                RandomConfig { layers, peepholes: cell == Cell::Lstm, ..RandomConfig::simple(cell, input, hidden) };
            let net = random::network(&cfg, 2, |s| s);
            let shape = NetShape::of(&net);
            let packed = wgpu_rnn::pack::pack_stack(&net.layers);
            let what = format!("{cell:?} I{input} H{hidden} L{layers}");
            assert_eq!(packed.wh.len(), shape.elements(Buf::StackWh, 1, 1), "wh of {what}");
            if cell != Cell::Rnn {
                assert_eq!(packed.aux.len(), shape.elements(Buf::StackAux, 1, 1), "aux of {what}");
            }
            assert!(packed.wr.is_none());
            assert_eq!(
                packed.wn.as_ref().map(|w| w.len()),
                (cell == Cell::Gru).then(|| shape.elements(Buf::StackWn, 1, 1))
            );
        }
    }
}

#[test]
fn cpu_drivers_stack_small_layers_by_default() {
    let small = shape(Cell::Gru, Direction::Forward, 2, 0, MergeMode::Concat, true);
    assert!(small.default_stacked(ONE_ROW, ON_CPU));
    assert!(!small.default_stacked(ONE_ROW, ON_GPU), "unmeasured on GPUs");
    assert!(!small.default_stacked(StepVariant::Persistent, ON_CPU), "stacks run per-step kernels");
    let cfg = RandomConfig { layers: 2, ..RandomConfig::simple(Cell::Gru, 5, wgpu_rnn::plan::STACKED_HIDDEN + 1) };
    let large = NetShape::of(&random::network(&cfg, 1, |mut s| {
        s.linear_before_reset = true;
        s
    }));
    assert!(large.stackable() && !large.default_stacked(ONE_ROW, ON_CPU), "above STACKED_HIDDEN, layer by layer");
    let many = wgpu_rnn::plan::STACKED_HIDDEN_MANY_DISPATCHES;
    for (cell, proj, lbr) in [(Cell::Rnn, 0, false), (Cell::Gru, 0, false), (Cell::Lstm, 100, false)] {
        for (hidden, stacks) in [(many, true), (many + 1, false)] {
            let cfg = RandomConfig { layers: 2, proj_size: proj, ..RandomConfig::simple(cell, 5, hidden) };
            let s = NetShape::of(&random::network(&cfg, 1, |mut s| {
                s.linear_before_reset = lbr;
                s
            }));
            assert_eq!(
                s.default_stacked(ONE_ROW, ON_CPU),
                stacks,
                "{cell:?} H{hidden}: more dispatches per unit of work"
            );
        }
    }
}
