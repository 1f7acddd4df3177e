//! The training pass's plan, without a GPU: dispatches per layer and step, saved activations
//! within (G + 2)·T·B·H floats per layer and direction, every buffer the kernels index sized
//! for them, and which version of `matmul` runs each product.

use wgpu_rnn::plan::train::{TBuf, TCommand, TrainPlan, Walk};
use wgpu_rnn::plan::train_step::{
    Initial, LOSS_WIDE_CLASSES, LOSS_WORKGROUP, NORM_PARTS, NORM_SHARE, OPT_WORKGROUP, StepShape, group_quads,
    norm_parts,
};
use wgpu_rnn::random::{self, RandomConfig};
use wgpu_rnn::spec::{Cell, Direction, MergeMode};

fn plan(
    cell: Cell,
    direction: Direction,
    layers: usize,
    proj: usize,
    merge: MergeMode,
    t: usize,
    b: usize,
) -> TrainPlan {
    let mut cfg = RandomConfig::simple(cell, 5, 7);
    cfg.direction = direction;
    cfg.layers = layers;
    cfg.proj_size = proj;
    cfg.merge = merge;
    cfg.peepholes = cell == Cell::Lstm;
    TrainPlan::new(&random::network(&cfg, 1, |s| s), t, b)
}

/// A training step's shape: an embedding of (vocab, width) or data in front, a head of
/// `classes` outputs at every step over `head_in` features, cross-entropy, no dropout, zero
/// initial state, per-step kernels.
fn step_shape(embedding: Option<(usize, usize)>, head_in: usize, classes: usize) -> StepShape {
    StepShape {
        embedding,
        head_in,
        classes,
        head_mode: wgpu_rnn::train::HeadMode::Steps,
        loss: wgpu_rnn::train::LossKind::CrossEntropy,
        dropout: false,
        recurrent_dropout: false,
        initial: Initial::Zero,
        walk: Walk::PerStep,
    }
}

#[test]
fn each_layer_takes_two_dispatches_per_step_and_a_few_matmuls() {
    for cell in [Cell::Rnn, Cell::Gru, Cell::Lstm] {
        for lbr in [false, true] {
            if lbr && cell != Cell::Gru {
                continue;
            }
            for (direction, merge) in
                [(Direction::Forward, MergeMode::Concat), (Direction::Bidirectional, MergeMode::Sum)]
            {
                for t in [1, 9, 40] {
                    let mut p = plan(cell, direction, 3, 0, merge, t, 4);
                    if lbr {
                        let mut net = random::network(&RandomConfig::simple(cell, 5, 7), 1, |mut s| {
                            s.linear_before_reset = true;
                            s
                        });
                        net.layers.truncate(1);
                        p = TrainPlan::new(&net, t, 4);
                        assert!(!p.layers[0].two_phase(), "PyTorch's GRU takes one dispatch per step");
                    }
                    for l in 0..p.layers.len() {
                        let n = p.layer_dispatches(l);
                        let steps = step_dispatches(&p, l);
                        // one dispatch per step each way (two for a two-phase layer), and dh0
                        let phases = if p.layers[l].two_phase() { 2 } else { 1 };
                        assert_eq!(steps, 2 * phases * t + 1, "{cell:?} {direction:?}: dispatches per step");
                        // per direction: Rᵀ (a copy per gate), xp, dW, dWb, dR (2 for reset-before
                        // GRU), dRb, dP, dX; a merge
                        let most = 2 * phases * t + 1 + (cell.gates() + 8) * p.layers[l].dirs + 1;
                        assert!(n <= most, "{cell:?} {direction:?} T={t}: {n} dispatches in layer {l}");
                    }
                    assert_eq!(p.dispatches(), (0..p.layers.len()).map(|l| p.layer_dispatches(l)).sum::<usize>());
                }
            }
        }
    }
}

/// Layer l's dispatches of the step kernels, both ways.
fn step_dispatches(p: &TrainPlan, l: usize) -> usize {
    p.commands
        .iter()
        .filter(|c| {
            matches!(c, TCommand::Step { layer, .. } | TCommand::StepFinish { layer, .. }
            | TCommand::StepBackward { layer, .. } | TCommand::StepBackwardFinish { layer, .. }
            | TCommand::StepInitial { layer } if *layer == l)
        })
        .count()
}

#[test]
fn a_projected_lstm_folds_into_one_dispatch_per_step_each_way() {
    for direction in [Direction::Forward, Direction::Bidirectional] {
        for t in [1, 9, 40] {
            let p = plan(Cell::Lstm, direction, 2, 3, MergeMode::Concat, t, 4);
            for (l, ly) in p.layers.iter().enumerate() {
                assert!(ly.folded() && !ly.two_phase(), "{direction:?}: layer {l} folds");
                // T steps and the last step's projection, T backward steps and dh0
                assert_eq!(step_dispatches(&p, l), 2 * t + 2, "{direction:?} T={t}: layer {l}");
                // per direction: Rᵀ and R'ᵀ (a product per gate each), xp, R in row quads, R',
                // dW, dWb, dR, dRb, dP, dW_hr, dX
                let n = p.layer_dispatches(l);
                assert!(n <= 2 * t + 2 + 18 * ly.dirs, "{direction:?} T={t}: {n} dispatches in layer {l}");
            }
            // every dispatch belongs to a layer (R', into extras, too)
            assert_eq!(p.dispatches(), (0..p.layers.len()).map(|l| p.layer_dispatches(l)).sum::<usize>());
        }
    }
    // recurrent dropout masks h_prev between R and W_hr, row by row: no fold, two dispatches
    // per step each way
    let mut cfg = RandomConfig::simple(Cell::Lstm, 5, 7);
    cfg.proj_size = 3;
    let net = random::network(&cfg, 1, |s| s);
    let shape = |recurrent_dropout| StepShape {
        loss: wgpu_rnn::train::LossKind::Mse,
        recurrent_dropout,
        ..step_shape(None, 3, 2)
    };
    let t = 9;
    let folded = TrainPlan::training_step(&net, shape(false), t, 4);
    assert_eq!(step_dispatches(&folded, 0), 2 * t + 2);
    let masked = TrainPlan::training_step(&net, shape(true), t, 4);
    assert!(!masked.layers[0].folded() && masked.layers[0].two_phase());
    assert_eq!(step_dispatches(&masked, 0), 4 * t + 1);
}

/// The persistent walk: a few dispatches per layer each way instead of one or two per step,
/// `walk_steps` steps each (the first from step 0 up, the backward's from the last step down),
/// for every cell (the two-phase ones too, a projected LSTM unfolded); the rest of a layer's
/// plan as with per-step kernels. Layers over `PERSISTENT_UNITS` units keep the per-step
/// kernels. `Walk::Small` takes it for the layers the forward's persistent kernel serves on GPUs.
#[test]
fn a_persistent_walk_takes_a_few_dispatches_per_layer_each_way() {
    let gru = |lbr: bool, hidden: usize| {
        random::network(&RandomConfig::simple(Cell::Gru, 5, hidden), 1, move |mut s| {
            s.linear_before_reset = lbr;
            s
        })
    };
    let mut nets = vec![gru(false, 7), gru(true, 7), gru(false, 128)];
    for (cell, hidden, proj) in [(Cell::Rnn, 7, 0), (Cell::Lstm, 7, 0), (Cell::Lstm, 7, 3), (Cell::Lstm, 128, 96)] {
        let mut cfg = RandomConfig::simple(cell, 5, hidden);
        cfg.direction = Direction::Bidirectional;
        cfg.layers = 2;
        cfg.proj_size = proj;
        cfg.peepholes = cell == Cell::Lstm;
        nets.push(random::network(&cfg, 1, |s| s));
    }
    for net in &nets {
        for t in [1, 9, 40, 1000] {
            let per_step = TrainPlan::new(net, t, 6);
            let p = TrainPlan::with_walk(net, t, 6, Walk::Persistent);
            for (l, ly) in p.layers.iter().enumerate() {
                let label = format!("{:?} H {} proj {} T {t} layer {l}", ly.cell, ly.hidden, ly.proj);
                assert!(ly.persistent && !ly.folded(), "{label}: a persistent layer does not fold");
                assert_eq!(step_dispatches(&p, l), 0, "{label}: per-step dispatches");
                let k = ly.walk_steps();
                assert!(k >= 70, "{label}: {k} steps per walk dispatch");
                // the first step of each walk dispatch, forward or backward
                let walks = |forward: bool| -> Vec<usize> {
                    let first = |c: &TCommand| match *c {
                        TCommand::Persistent { layer, step } if forward && layer == l => Some(step),
                        TCommand::PersistentBackward { layer, step } if !forward && layer == l => Some(step),
                        _ => None,
                    };
                    p.commands.iter().filter_map(first).collect()
                };
                let (first, tops) = (walks(true), walks(false));
                assert_eq!(first, (0..t).step_by(k).collect::<Vec<_>>(), "{label}: forward walks");
                assert_eq!(tops, (0..t).rev().step_by(k).collect::<Vec<_>>(), "{label}: backward walks");
                // what is not per step is the per-step plan's (less the fold's products)
                let fold_products = if per_step.layers[l].folded() { (ly.cell.gates() + 1) * ly.dirs } else { 0 };
                let others = per_step.layer_dispatches(l) - step_dispatches(&per_step, l) - fold_products;
                assert_eq!(p.layer_dispatches(l), others + 2 * t.div_ceil(k), "{label}: dispatches");
            }
        }
    }
    // T 100 in one walk dispatch each way for layers whose recurrent rows come in quads; a
    // GRU of H 126 (3·126 rows, not whole quads) reads R row by row, and walks fewer steps
    let walks = |net: &wgpu_rnn::Network| {
        let p = TrainPlan::with_walk(net, 100, 4, Walk::Persistent);
        p.commands.iter().filter(|c| matches!(c, TCommand::Persistent { .. })).count()
    };
    let lstm = |hidden| random::network(&RandomConfig::simple(Cell::Lstm, 5, hidden), 1, |s| s);
    assert_eq!((walks(&lstm(64)), walks(&lstm(128)), walks(&gru(false, 128))), (1, 1, 1));
    assert!(walks(&gru(false, 126)) > 1);
    let too_wide = TrainPlan::with_walk(&gru(false, 129), 9, 2, Walk::Persistent);
    assert!(!too_wide.layers[0].persistent && step_dispatches(&too_wide, 0) == 4 * 9 + 1);
    // the default on GPUs: persistent for RNN layers and two-phase cells up to 128 units, the
    // others up to 64
    let small = |net: &wgpu_rnn::Network| TrainPlan::with_walk(net, 5, 2, Walk::Small).layers[0].persistent;
    assert!(small(&gru(false, 128)) && !small(&gru(false, 129)));
    assert!(small(&gru(true, 64)) && !small(&gru(true, 65)));
    let net = |cell, hidden, proj| {
        let mut cfg = RandomConfig::simple(cell, 5, hidden);
        cfg.proj_size = proj;
        random::network(&cfg, 1, |s| s)
    };
    assert!(small(&net(Cell::Rnn, 128, 0)) && !small(&net(Cell::Rnn, 129, 0)));
    assert!(small(&net(Cell::Lstm, 64, 0)) && !small(&net(Cell::Lstm, 65, 0)));
    assert!(small(&net(Cell::Lstm, 128, 32)) && !small(&net(Cell::Lstm, 129, 32)));
    assert!(!TrainPlan::with_walk(&net(Cell::Rnn, 8, 0), 5, 2, Walk::PerStep).layers[0].persistent);
}

#[test]
fn saved_activations_stay_within_g_plus_two_per_unit() {
    for (cell, proj) in [(Cell::Rnn, 0), (Cell::Gru, 0), (Cell::Lstm, 0), (Cell::Lstm, 3)] {
        let (t, b) = (6, 3);
        let p = plan(cell, Direction::Bidirectional, 2, proj, MergeMode::Concat, t, b);
        for (l, ly) in p.layers.iter().enumerate() {
            let per_row = p.size(TBuf::Tape(l)) / (ly.dirs * t * b);
            assert!(per_row <= (cell.gates() + 2) * ly.hidden, "{cell:?}: {per_row} floats per step and row");
            assert_eq!(p.size(TBuf::Tape(l)), ly.dirs * t * b * ly.record());
        }
    }
}

/// What the plan's copies (`FLAG_MM_COPY`) from `src` into `dst` read, sorted, and where each
/// element lands with its row; asserts that no place is written twice.
fn copies(p: &TrainPlan, src: TBuf, dst: TBuf) -> (Vec<usize>, Vec<(usize, usize)>) {
    let (mut sources, mut places) = (vec![], std::collections::HashSet::new());
    let mut landed = vec![];
    for c in &p.commands {
        if let TCommand::Matmul { p: m, a, c: out, .. } = *c {
            if a == src && out == dst && m.flags & wgpu_rnn::plan::train::FLAG_MM_COPY != 0 {
                for i in 0..m.m {
                    for j in 0..m.n {
                        sources.push(m.a_off + i * m.a_m + j * m.a_k);
                        let at = m.c_at(i, j);
                        assert!(places.insert(at), "{dst:?} written twice at {at}");
                        landed.push((i, at));
                    }
                }
            }
        }
    }
    sources.sort();
    (sources, landed)
}

#[test]
fn buffers_hold_what_the_commands_address() {
    for cell in [Cell::Rnn, Cell::Gru, Cell::Lstm] {
        for proj in [0, if cell == Cell::Lstm { 3 } else { 0 }] {
            let p = plan(cell, Direction::Bidirectional, 2, proj, MergeMode::Average, 5, 3);
            for c in &p.commands {
                match *c {
                    TCommand::Copy { src, src_off, dst, dst_off, len } => {
                        assert!(src_off + len <= p.size(src), "{c:?}: source");
                        assert!(dst_off + len <= p.size(dst), "{c:?}: destination");
                    }
                    TCommand::Matmul { p: m, a, b, c: out } => {
                        let last = |off: usize, s1: usize, n1: usize, s2: usize, n2: usize| {
                            off + s1 * (n1 - 1) + s2 * (n2 - 1)
                        };
                        assert!(last(m.a_off, m.a_m, m.m, m.a_k, m.k) < p.size(a), "{c:?}: A");
                        assert!(last(m.b_off, m.b_k, m.k, m.b_n, m.n) < p.size(b), "{c:?}: B");
                        assert!(m.c_at(m.m - 1, m.n - 1) < p.size(out), "{c:?}: C");
                    }
                    _ => {}
                }
            }
            for (l, ly) in p.layers.iter().enumerate() {
                let r: Vec<usize> = (ly.r_off()..ly.b_off()).collect();
                // the copies into RT(l) place every recurrent weight once, each in its own place
                let (sources, _) = copies(&p, TBuf::Wts(l), TBuf::RT(l));
                assert_eq!(sources, r, "{cell:?} proj {proj}: layer {l} Rᵀ copies");
                // where G·H is a multiple of 4, one copy per direction puts R's rows into extras
                // in quads (row i in lane i % 4), each once
                let (sources, places) = copies(&p, TBuf::Wts(l), TBuf::Extras(l));
                let want = if ly.row_quads() { r } else { vec![] };
                assert_eq!(sources, want, "{cell:?} proj {proj}: layer {l} R's row quads");
                for (i, at) in places {
                    assert!(at >= ly.rq_off(5, 3) && at % 4 == i % 4, "{cell:?}: layer {l} quads");
                }
            }
            // every weight gradient is written: the matmuls into Grads(l) cover it exactly once
            for (l, ly) in p.layers.iter().enumerate() {
                let mut covered = vec![0u32; ly.weights_len()];
                for c in &p.commands {
                    if let TCommand::Matmul { p: m, c: TBuf::Grads(x), .. } = *c {
                        if x == l {
                            for i in 0..m.m {
                                for j in 0..m.n {
                                    covered[m.c_at(i, j)] += 1;
                                }
                            }
                        }
                    }
                }
                assert!(
                    covered.iter().all(|&n| n == 1),
                    "{cell:?} proj {proj}: layer {l} gradients written {covered:?}"
                );
            }
        }
    }
}

#[test]
fn products_read_vec4s_where_their_layouts_allow() {
    use wgpu_rnn::kernels::TrainKernel;
    use wgpu_rnn::kernels::TrainKernel::{Matmul, MatmulKk, MatmulKn, MatmulMn};
    // (I, H, the products' kernels: x·Wᵀ + Wb, dX = dG·W, dW = dGᵀ·X, dR = dGᵀ·H_prev)
    let cases = [
        (8, 12, [MatmulKk, MatmulKn, MatmulMn, MatmulMn]),
        // H 7: dG's rows of 28 floats still fit vec4s; the tape's records of 42 do not
        (8, 7, [MatmulKk, MatmulKn, MatmulMn, Matmul]),
        (5, 7, [Matmul, Matmul, Matmul, Matmul]),
    ];
    for (input, hidden, [proj, dx, dw, dr]) in cases {
        let mut cfg = RandomConfig::simple(Cell::Lstm, input, hidden);
        cfg.direction = Direction::Bidirectional;
        let p = TrainPlan::new(&random::network(&cfg, 1, |s| s), 3, 5);
        for c in &p.commands {
            let TCommand::Matmul { p, a, b, c } = *c else { continue };
            let expected: TrainKernel = match (a, b, c) {
                // the transposed copy of R and the column sums (B = ones) stay scalar
                (_, TBuf::Ones, _) => Matmul,
                (TBuf::X, TBuf::Wts(0), TBuf::Xp(0)) => proj,
                (TBuf::DGates(0), TBuf::Wts(0), TBuf::DIn(0)) => dx,
                (TBuf::DGates(0), TBuf::X, TBuf::Grads(0)) => dw,
                (TBuf::DGates(0), TBuf::Tape(0), TBuf::Grads(0)) => dr,
                other => panic!("unexpected product {other:?}"),
            };
            assert_eq!(p.kernel(), expected, "I {input} H {hidden}: {a:?}·{b:?} -> {c:?}");
            // the workgroups cover C and no more: 8 x 8 blocks in the vec4 versions, 8 x 4 in
            // the scalar one, 8 x 8 invocations a workgroup
            let cols = if expected == Matmul { 32 } else { 64 };
            let [x, y] = p.workgroups();
            assert!(x * cols >= p.n && (x - 1) * cols < p.n, "{x} x {cols} columns for N {}", p.n);
            assert!(y * 64 >= p.m && (y - 1) * 64 < p.m, "{y} x 64 rows for M {}", p.m);
        }
    }
}

/// Products over more than `MATMUL_K_CHUNK` rows of k become chunks over consecutive rows: the
/// first as the product was (its bias with it), the others adding to C without the bias; an
/// evaluation keeps every chunk of the loss sum.
#[test]
fn long_products_are_split_into_accumulating_chunks() {
    use wgpu_rnn::plan::train::{FLAG_MM_ACCUMULATE, FLAG_MM_BIAS, MATMUL_K_CHUNK, Matmul};
    let net = random::network(&RandomConfig::simple(Cell::Lstm, 5, 7), 1, |s| s);
    let (t, b) = (MATMUL_K_CHUNK / 10 + 3, 25); // T*B = 2.5 chunks and some
    let rows = t * b;
    let shape = StepShape { loss: wgpu_rnn::train::LossKind::Mse, ..step_shape(None, 7, 2) };
    let products = |p: &TrainPlan| -> Vec<(Matmul, TBuf)> {
        p.commands
            .iter()
            .filter_map(|c| if let TCommand::Matmul { p, c, .. } = c { Some((*p, *c)) } else { None })
            .collect()
    };
    let step = TrainPlan::training_step(&net, shape, t, b);
    let all = products(&step);
    assert!(all.iter().all(|(p, _)| p.k <= MATMUL_K_CHUNK));
    // the products over the T*B rows: dW (its chunks), a bias's column sum, the loss sum
    let chunks: Vec<&Matmul> = all.iter().filter(|(p, c)| *c == TBuf::Grads(0) && p.n == 5).map(|(p, _)| p).collect();
    assert_eq!(chunks.len(), rows.div_ceil(MATMUL_K_CHUNK), "dW in chunks");
    assert_eq!(chunks.iter().map(|p| p.k).sum::<usize>(), rows, "the chunks cover every row once");
    for (i, p) in chunks.iter().enumerate() {
        assert_eq!(
            p.a_off,
            chunks[0].a_off + i * MATMUL_K_CHUNK * p.a_k,
            "chunk {i} starts where {} ended",
            i.max(1) - 1
        );
        assert_eq!(p.flags & FLAG_MM_ACCUMULATE != 0, i > 0, "chunk {i} accumulates");
    }
    let xp: Vec<&Matmul> = all.iter().filter(|(_, c)| *c == TBuf::Xp(0)).map(|(p, _)| p).collect();
    assert_eq!(xp.len(), 1, "x·Wᵀ sums over the input width, not the rows");
    assert!(xp[0].flags & FLAG_MM_BIAS != 0);
    let eval = TrainPlan::evaluation(&net, shape, t, b, &[]);
    let loss: Vec<Matmul> = products(&eval).into_iter().filter(|(_, c)| *c == TBuf::Stats).map(|(p, _)| p).collect();
    assert_eq!(loss.iter().map(|p| p.k).sum::<usize>(), rows, "the evaluation sums every row's loss");
    assert!(matches!(eval.commands.last(), Some(TCommand::Matmul { c: TBuf::Stats, .. })));
}

/// The bias gradients' column sums over the T·B rows: dWb and dRb come from one product (two
/// columns of C, GH floats apart) where the recurrent gate gradients are the input's (RNN,
/// LSTM, GRU linear_before_reset 0), from two where they differ (GRU linear_before_reset 1,
/// whose dgates hold dGr beside dGx).
#[test]
fn bias_gradients_share_one_column_sum_where_dgr_is_dgx() {
    for (cell, lbr) in [(Cell::Rnn, false), (Cell::Lstm, false), (Cell::Gru, false), (Cell::Gru, true)] {
        let cfg = RandomConfig { direction: Direction::Bidirectional, ..RandomConfig::simple(cell, 5, 8) };
        let net = random::network(&cfg, 1, |mut s| {
            s.linear_before_reset = lbr;
            s
        });
        let (t, b) = (3, 2);
        let plan = TrainPlan::new(&net, t, b);
        let ly = &plan.layers[0];
        let (gh, own) = (ly.gh(), cell == Cell::Gru && lbr);
        let sums: Vec<_> = plan
            .commands
            .iter()
            .filter_map(|c| match *c {
                TCommand::Matmul { p, b: TBuf::Ones, c: TBuf::Grads(0), .. } => Some(p),
                _ => None,
            })
            .collect();
        let label = format!("{cell:?} linear_before_reset {lbr}");
        assert_eq!(sums.len(), 2 * if own { 2 } else { 1 }, "{label}: column sums");
        for (i, p) in sums.iter().enumerate() {
            let (dir, second) = if own { (i / 2, i % 2) } else { (i, 0) };
            assert_eq!(p.k, t * b, "{label}: over every row");
            assert_eq!(p.c_at(0, 0), ly.b_off() + dir * 2 * gh + second * gh, "{label}: sum {i} writes its bias");
            if own {
                assert_eq!(p.n, 1, "{label}: dWb and dRb apart");
            } else {
                assert_eq!((p.n, p.c_at(0, 1)), (2, ly.b_off() + dir * 2 * gh + gh), "{label}: dRb beside dWb");
            }
        }
        assert_eq!(ly.dgates_len(t, b), 2 * t * b * gh * if own { 2 } else { 1 }, "{label}: dgates");
    }
}

/// The loops the plan cannot split (the loss over the classes, the norm over a parameter group)
/// are named where they pass a driver's limit; the embedding's gradient over T*B positions is
/// split into dispatches of `EMBED_ROWS` positions.
#[test]
fn loops_past_a_drivers_limit_are_named() {
    use wgpu_rnn::plan::train::EMBED_ROWS;
    let net = random::network(&RandomConfig::simple(Cell::Gru, 4, 6), 1, |s| s);
    let shape = |embedding, classes| step_shape(embedding, 6, classes);
    let (t, b) = (10, 12);
    let what = |p: &TrainPlan, limit| p.longest_loop_beyond(limit).map(|(what, _)| what);
    let wide = TrainPlan::training_step(&net, shape(None, 50), t, b);
    assert_eq!(what(&wide, 149), Some("classes"));
    assert_eq!(what(&wide, 150), None);
    let (_, why) = wide.longest_loop_beyond(149).expect("beyond");
    assert!(why.contains("50 classes"), "{why}");
    // heads past LOSS_WIDE_CLASSES take a workgroup per row: three passes in strides of it, and
    // a reduction's log2 twice
    let loss_of = |p: &TrainPlan| p.commands.iter().find(|c| matches!(c, TCommand::Loss { .. })).cloned();
    assert_eq!(loss_of(&wide), Some(TCommand::Loss { wide: false }));
    let at_most = TrainPlan::training_step(&net, shape(None, LOSS_WIDE_CLASSES), t, b);
    assert_eq!(loss_of(&at_most), Some(TCommand::Loss { wide: false }));
    let vocab = TrainPlan::training_step(&net, shape(None, 30000), t, b);
    assert_eq!(loss_of(&vocab), Some(TCommand::Loss { wide: true }));
    let loops = 3 * 30000usize.div_ceil(LOSS_WORKGROUP as usize) + 2 * LOSS_WORKGROUP.ilog2() as usize;
    assert_eq!(what(&vocab, loops - 1), Some("classes"));
    assert_eq!(what(&vocab, loops), None);
    assert_eq!(what(&vocab, 65535), None, "lavapipe's limit");
    let (t, b) = (3, EMBED_ROWS); // 3 * EMBED_ROWS positions
    let embedded = TrainPlan::training_step(&net, shape(Some((9, 4)), 5), t, b);
    let firsts: Vec<usize> = embedded
        .commands
        .iter()
        .filter_map(|c| if let TCommand::EmbedBackward { first } = c { Some(*first) } else { None })
        .collect();
    assert_eq!(firsts, [0, EMBED_ROWS, 2 * EMBED_ROWS], "one dispatch per EMBED_ROWS positions");
    assert_eq!(what(&embedded, 65535), None);
    // the norm over the widest group: its strides of OPT_WORKGROUP * norm_parts, and log2 of
    // the workgroup for the reduction
    let one_class = TrainPlan::training_step(&net, shape(None, 1), 10, 12);
    let widest = one_class.groups.iter().map(|g| g.2).max().expect("groups");
    let stride = OPT_WORKGROUP as usize * norm_parts(widest) as usize;
    let loops = widest.div_ceil(stride) + OPT_WORKGROUP.ilog2() as usize;
    assert!(loops > 3, "beyond the loss's loops over one class");
    assert_eq!(what(&one_class, loops - 1), Some("model"));
    assert_eq!(what(&one_class, loops), None);
}

/// The gradient norm takes up to NORM_PARTS workgroups per parameter group (a share of at least
/// NORM_SHARE gradients per invocation) into partial sums that one `sum_squares_finish` adds up
/// before any update reads them; the updates back up what they overwrite, with no copies.
#[test]
fn norms_take_workgroups_by_group_size_and_one_finish() {
    // the norm reads gradients four at a time: NORM_SHARE quads per invocation
    assert_eq!((group_quads(0), group_quads(1), group_quads(4), group_quads(5)), (0, 1, 1, 2));
    let share = 4 * OPT_WORKGROUP as usize * NORM_SHARE;
    assert_eq!(norm_parts(0), 1);
    assert_eq!(norm_parts(share), 1);
    assert_eq!(norm_parts(share + 1), 2);
    assert_eq!(norm_parts(100 * share), 100);
    assert_eq!(norm_parts(NORM_PARTS as usize * share * 7), NORM_PARTS, "at most NORM_PARTS");
    let net = random::network(&RandomConfig::simple(Cell::Lstm, 5, 7), 1, |s| s);
    let p = TrainPlan::training_step(&net, step_shape(Some((40, 5)), 7, 3), 4, 2);
    let groups = p.groups.len();
    assert!(groups >= 3, "embedding, layer and head: {groups}");
    let at = |f: &dyn Fn(&TCommand) -> bool| p.commands.iter().position(f).expect("present");
    let finish = at(&|c| *c == TCommand::SumSquaresFinish);
    let sums: Vec<usize> = (0..groups).map(|g| at(&|c| *c == TCommand::SumSquares { group: g })).collect();
    let first_update = at(&|c| matches!(c, TCommand::Update { .. }));
    assert!(sums.iter().all(|&s| s < finish) && finish < first_update, "sums, finish, updates");
    // the partial sums of workgroups a small group does not dispatch are zero: Stats is cleared
    let clear = at(&|c| *c == TCommand::Clear(TBuf::Stats));
    assert!(clear < sums[0]);
    // the update keeps what it overwrites itself: no copies of parameters or moments
    let backups = p
        .commands
        .iter()
        .filter(|c| matches!(c, TCommand::Copy { dst: TBuf::BackP(_) | TBuf::BackM(_) | TBuf::BackV(_), .. }));
    assert_eq!(backups.count(), 0);
    assert_eq!(p.commands.iter().filter(|c| **c == TCommand::SumSquaresFinish).count(), 1);
    // the loss, a failure flag, the sums per group, then every group's partial sums
    assert_eq!(p.size(TBuf::Stats), 2 + 2 * groups + 2 * groups * NORM_PARTS as usize);
    assert_eq!(p.stats_read(), 2 + 2 * groups, "a step reads back the sums, not the partial sums");
    // every dispatch names its entry point (bench --train --breakdown times them by it)
    for c in &p.commands {
        assert_eq!(c.entry_point().is_some(), c.is_dispatch(), "{c:?}");
    }
    assert_eq!(TCommand::SumSquaresFinish.entry_point(), Some("sum_squares_finish"));
    assert_eq!(TCommand::StepInitial { layer: 0 }.entry_point(), Some("train_step_backward"));
    assert_eq!(TCommand::Merge { layer: 0 }.entry_point(), Some("merge_directions"));
}

/// A step that carries its final state copies it in first and, last of all, dispatches
/// `state_restore`, which puts it back where the step failed; a step from zeros clears the
/// initial state and restores nothing.
#[test]
fn a_carried_step_restores_its_state_after_everything_else() {
    let net = random::network(&RandomConfig::simple(Cell::Lstm, 5, 7), 1, |s| s);
    let carried =
        TrainPlan::training_step(&net, StepShape { initial: Initial::Carried, ..step_shape(None, 7, 3) }, 4, 2);
    let zero = TrainPlan::training_step(&net, step_shape(None, 7, 3), 4, 2);
    assert_eq!(carried.commands.last(), Some(&TCommand::StateRestore));
    assert_eq!(carried.commands.iter().filter(|c| **c == TCommand::StateRestore).count(), 1);
    let last_restore = carried.commands.iter().rposition(|c| matches!(c, TCommand::Restore { .. }));
    assert_eq!(last_restore, Some(carried.commands.len() - 2), "after every group's restore");
    assert_eq!(carried.dispatches(), zero.dispatches() + 1);
    assert!(!zero.commands.contains(&TCommand::StateRestore));
    let copy_in =
        |p: &TrainPlan| p.commands.iter().any(|c| matches!(c, TCommand::Copy { src: TBuf::HN, dst: TBuf::H0, .. }));
    assert!(copy_in(&carried) && !copy_in(&zero));
    assert!(zero.commands.contains(&TCommand::Clear(TBuf::H0)) && zero.commands.contains(&TCommand::Clear(TBuf::C0)));
    assert_eq!(TCommand::StateRestore.entry_point(), Some("state_restore"));
}

/// The gradient of the stack's input is computed where something takes it: a bare pass returns
/// it, an embedding's gradient sums it; a step whose input is data leaves its product out.
#[test]
fn the_input_gradient_is_computed_only_where_it_is_used() {
    let net = random::network(
        &RandomConfig { direction: Direction::Bidirectional, ..RandomConfig::simple(Cell::Gru, 5, 7) },
        1,
        |s| s,
    );
    let shape = |embedding| step_shape(embedding, 14, 3);
    let into_din0 =
        |p: &TrainPlan| p.commands.iter().filter(|c| matches!(c, TCommand::Matmul { c: TBuf::DIn(0), .. })).count();
    let bare = TrainPlan::new(&net, 4, 2);
    assert!(bare.input_gradient());
    assert_eq!(into_din0(&bare), 2, "one product per direction");
    let embedded = TrainPlan::training_step(&net, shape(Some((9, 5))), 4, 2);
    assert!(embedded.input_gradient());
    assert_eq!(into_din0(&embedded), 2);
    let on_data = TrainPlan::training_step(&net, shape(None), 4, 2);
    assert!(!on_data.input_gradient());
    assert_eq!(into_din0(&on_data), 0);
}
