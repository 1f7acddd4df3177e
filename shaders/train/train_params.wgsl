// Per-layer constants of the training step kernels besides LayerParams: where each tensor lives
// in the layer's weight buffer, its tape record, its state and its backward's carry. Keep in sync
// with `gpu::train::params::TrainParams` (Rust; a test compares the layouts).
// uses: shared/layer_params

struct TrainParams {
    w_off: u32,        // wts: W [D, G*H, I]
    r_off: u32,        // wts: R [D, G*H, H_out]
    b_off: u32,        // wts: B [D, 2*G*H] (Wb then Rb per direction)
    p_off: u32,        // wts: P [D, 3*H] (FLAG_PEEPHOLE)
    proj_off: u32,     // wts: W_hr [D, H_out, H] (FLAG_PROJ)
    record: u32,       // floats per tape record (one step of one row of one direction)
    hprev_off: u32,    // record: h before the step [H_out]
    ext_off: u32,      // record: LSTM c', GRU Rh h + Rbh (linear_before_reset) or r ⊙ h [H]
    state_m: u32,      // state: m = o ⊙ h(c') [D, B, H] of the running step, the projection's input (FLAG_PROJ)
    merge: u32,        // MERGE_* of the layer's output (MERGE_CONCAT for one direction)
    width: u32,        // floats per row of the merged output and its gradient dy
    state_c: u32,      // state: where c [D, B, H] starts after h_n [D, B, H_out]
    carry_c: u32,      // carry: dc [D, B, H] after dh_n [D, B, H_out]
    carry_dh0: u32,    // carry: dh0 [D, B, H_out], the last dispatch's result
    carry_direct: u32, // carry: GRU's share of dh_prev that skips R [2, D, B, H_out] (by step parity)
    carry_c0: u32,     // carry: the layer's c0 [D, B, H]
    dgr_off: u32,      // dgates: the recurrent half dGr [D, T, B, G*H] (GRU linear_before_reset 1; else 0, dGx serves)
    dp_off: u32,       // extras: peephole partial sums [D, B, 3*H] after dh per step [D, T, B, H_out]
    state_h0: u32,     // state: h0 [D, B, H_out] after c
    layer: u32,        // the layer's index (its recurrent dropout masks)
    fold: u32,         // 1: a projected LSTM's steps read m_prev through R' = R·W_hr (TrainLayer::folded)
    rt_fold: u32,      // rt: where R'ᵀ starts, after Rᵀ, in the same vec4 layout (fold)
    fold_off: u32,     // extras: R' [D, G*H, H] after the peephole partials (fold)
    walk_steps: u32,   // steps per train_persistent dispatch (TrainLayer::walk_steps)
    row_quads: u32,    // 1: the backward reads R in quads of rows from extras (TrainLayer::row_quads)
    rq_off: u32,       // extras: those quads, on a vec4, after R' (TrainLayer::rq_off)
    _pad0: u32,
    _pad1: u32,
}

// Whether the layer is a folded projected LSTM: one dispatch per step each way.
fn folded(tp: TrainParams) -> bool {
    return tp.fold != 0u;
}

// Whether a step takes a second dispatch each way (train_step_finish, train_step_backward_finish;
// plan::train::TrainLayer::two_phase): GRU with linear_before_reset 0, a projected LSTM that is
// not folded.
fn two_phase(lp: LayerParams, tp: TrainParams) -> bool {
    let proj = (lp.flags & FLAG_PROJ) != 0u && !folded(tp);
    return proj || (lp.flags & (FLAG_GRU | FLAG_LINEAR_BEFORE_RESET)) == FLAG_GRU;
}

// Index of row (d, t, b)'s record in the tape and of its gates in xp and dgates.
fn record_row(lp: LayerParams, d: u32, t: u32, b: u32) -> u32 {
    return (d * lp.steps + t) * lp.batch + b;
}

// Batch rows b0 .. b0 + 3 of a TRAIN_ROWS quad, the ones past the batch clamped to its last row
// (they read valid memory and are not stored).
fn quad_rows(lp: LayerParams, b0: u32) -> vec4<u32> {
    return min(b0 + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(lp.batch - 1u));
}

// The recurrent-weight row `row` of direction d, R[d, row, :], starts here in wts.
fn r_row(tp: TrainParams, lp: LayerParams, d: u32, row: u32) -> u32 {
    return tp.r_off + (d * lp.hidden * gates(lp) + row) * lp.hidden_in;
}

// Gates per unit: 1 (RNN), 3 (GRU), 4 (LSTM).
fn gates(lp: LayerParams) -> u32 {
    if ((lp.flags & FLAG_LSTM) != 0u) {
        return 4u;
    }
    if ((lp.flags & FLAG_GRU) != 0u) {
        return 3u;
    }
    return 1u;
}

// An activation's values and derivatives at four inputs.
struct Slopes {
    value: vec4<f32>,
    slope: vec4<f32>,
}

// Activation a of four gate inputs x, clipped as the forward clips them, and its derivative,
// zero where the layer's clip bound the input. One switch serves four inputs and both results:
// a kernel's functions are inlined at every call, and a switch of eleven cases at each of the
// backward's dozen activations made SwiftShader (Chromium's WebGPU without a GPU) take minutes
// to compile it (BENCHMARKS.md, "In the browser").
fn gate_slopes(lp: LayerParams, a: Act, x: vec4<f32>) -> Slopes {
    if ((lp.flags & FLAG_CLIP) == 0u) {
        return act_slopes(a, x);
    }
    var s = act_slopes(a, clamp(x, vec4<f32>(-lp.clip), vec4<f32>(lp.clip)));
    s.slope = select(s.slope, vec4<f32>(0.0), abs(x) > vec4<f32>(lp.clip));
    return s;
}

// `activate(a, x)` of four inputs and its derivative. At a kink the derivative takes the value
// torch autograd takes (spec::Activation::derivative is the CPU twin).
fn act_slopes(a: Act, x: vec4<f32>) -> Slopes {
    let zero = vec4<f32>(0.0);
    let one = vec4<f32>(1.0);
    switch a.kind {
        case ACT_RELU: { return Slopes(max(x, zero), select(zero, one, x > zero)); }
        case ACT_TANH: {
            let t = stable_tanh4(x);
            return Slopes(t, 1.0 - t * t);
        }
        case ACT_SIGMOID: {
            let s = stable_sigmoid4(x);
            return Slopes(s, s * (1.0 - s));
        }
        case ACT_AFFINE: { return Slopes(a.alpha * x + a.beta, vec4<f32>(a.alpha)); }
        case ACT_LEAKY_RELU: { return Slopes(select(a.alpha * x, x, x >= zero), select(vec4<f32>(a.alpha), one, x > zero)); }
        case ACT_THRESHOLDED_RELU: {
            let on = x >= vec4<f32>(a.alpha);
            return Slopes(select(zero, x, on), select(zero, one, on));
        }
        case ACT_SCALED_TANH: {
            let t = stable_tanh4(a.beta * x);
            return Slopes(a.alpha * t, a.alpha * a.beta * (1.0 - t * t));
        }
        case ACT_HARD_SIGMOID: {
            let v = a.alpha * x + a.beta;
            return Slopes(clamp(v, zero, one), select(zero, vec4<f32>(a.alpha), (v > zero) & (v < one)));
        }
        case ACT_ELU: {
            let e = exp(x);
            return Slopes(select(a.alpha * (e - 1.0), x, x >= zero), select(a.alpha * e, one, x > zero));
        }
        case ACT_SOFTSIGN: {
            let q = 1.0 + abs(x);
            return Slopes(x / q, 1.0 / (q * q));
        }
        default: { return Slopes(max(x, zero) + log(1.0 + exp(-abs(x))), stable_sigmoid4(x)); } // ACT_SOFTPLUS
    }
}
