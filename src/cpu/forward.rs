//! The forward pass in f64 over a whole stack, optionally keeping the tape its backward reads.

use super::cells::{GateInputs, StepTape, gru_step, lstm_project, lstm_step, rnn_step};
use super::input_projection::input_projection;
use super::merge_directions::merge_directions;
use crate::error::Result;
use crate::network::{Inputs, Network};
use crate::spec::Cell;

/// A forward pass in f64: outputs in the layouts of [`crate::Outputs`], and the tape if kept.
pub(crate) struct Run {
    /// `y [T, B, W]`, the last layer's merged output.
    pub y: Vec<f64>,
    /// `h_n [L*D, B, H_out]`
    pub h_n: Vec<f64>,
    /// `c_n [L*D, B, H]` (zeros for cells without one)
    pub c_n: Vec<f64>,
    /// Per layer, what its backward reads (empty unless asked for).
    pub tape: Vec<LayerTape>,
}

/// What one layer's forward kept.
pub(crate) struct LayerTape {
    /// The layer's input `[T, B, K]`.
    pub input: Vec<f64>,
    /// Its unmerged output `[T, B, D, H_out]` (merge `mul` reads it back).
    pub y: Vec<f64>,
    /// `steps[d][b]`: each step of direction `d` for row `b`, in the order it ran.
    pub steps: Vec<Vec<Vec<StepRecord>>>,
}

/// One step as it ran.
pub(crate) struct StepRecord {
    /// The time index it read and wrote.
    pub t: usize,
    /// The state before the step: `h [H_out]`, `c [H]` (LSTM).
    pub h: Vec<f64>,
    pub c: Vec<f64>,
    pub tape: StepTape,
}

/// Runs the network in f64, keeping the tape when `keep_tape`.
pub(crate) fn run(net: &Network, inp: &Inputs, keep_tape: bool) -> Result<Run> {
    run_with(net, inp, keep_tape, &Masks::none())
}

/// Dropout masks of a training pass (`train::Dropout`); none outside training.
pub(crate) struct Masks<'a> {
    /// `between(k, out)`: applied to layer k's merged output before layer k+1 reads it.
    pub between: &'a dyn Fn(usize, &mut [f64]),
    /// `recurrent(k, d, b)`: the recurrent dropout mask `[H_out]` of layer k, direction d,
    /// row b, the same at every step.
    pub recurrent: &'a dyn Fn(usize, usize, usize) -> Option<Vec<f64>>,
}

impl Masks<'_> {
    /// No dropout.
    pub fn none() -> Masks<'static> {
        Masks { between: &|_, _| {}, recurrent: &|_, _, _| None }
    }
}

/// [`run`] with dropout masks: `masks.between` on each layer's merged output but the last's,
/// `masks.recurrent` inside the recurrent products.
pub(crate) fn run_with(net: &Network, inp: &Inputs, keep_tape: bool, masks: &Masks) -> Result<Run> {
    net.validate()?;
    let lengths = net.validate_inputs(inp)?;
    let (t_len, batch) = (inp.steps, inp.batch);
    let (d_count, out_w) = (net.directions(), net.output_size());
    let hidden = net.layers[0].spec.hidden_size;
    // layer_in: [T, B, K] of the current layer
    let mut layer_in: Vec<f64> = inp.x.iter().map(|&v| v as f64).collect();
    let ld = net.layers.len() * d_count;
    let mut h_n = vec![0.0; ld * batch * out_w];
    let mut c_n = vec![0.0; ld * batch * hidden];
    let mut tape = Vec::new();
    for (k, layer) in net.layers.iter().enumerate() {
        let s = &layer.spec;
        let w = &layer.weights;
        let (g, kin) = (s.cell.gates(), s.input_size);
        let gh = g * s.hidden_size;
        // y: [T, B, D, H_out], zero past each length
        let mut y = vec![0.0f64; t_len * batch * d_count * out_w];
        let mut steps = Vec::new();
        for d in 0..d_count {
            let wd = &w.w[d * gh * kin..(d + 1) * gh * kin];
            let (wb, rb) = w.b[d * 2 * gh..(d + 1) * 2 * gh].split_at(gh);
            let pd = w.p.as_ref().map(|p| &p[d * 3 * hidden..(d + 1) * 3 * hidden]);
            let projd = w.proj.as_ref().map(|p| &p[d * out_w * hidden..(d + 1) * out_w * hidden]);
            // xp: [T*B, G*H] = layer_in · Wᵀ + Wb
            let xp = input_projection(&layer_in, t_len * batch, kin, wd, wb);
            let state = k * d_count + d;
            let mut dir_steps = Vec::new();
            for b in 0..batch {
                let mut hv: Vec<f64> = match &inp.h0 {
                    Some(h0) => h0[(state * batch + b) * out_w..][..out_w].iter().map(|&v| v as f64).collect(),
                    None => vec![0.0; out_w],
                };
                let mut cv: Vec<f64> = match &inp.c0 {
                    Some(c0) => c0[(state * batch + b) * hidden..][..hidden].iter().map(|&v| v as f64).collect(),
                    None => vec![0.0; hidden],
                };
                let len = lengths[b];
                let mask = (masks.recurrent)(k, d, b);
                let mut row_steps = Vec::new();
                for step in 0..len {
                    let t = if s.direction.is_reverse(d) { len - 1 - step } else { step };
                    let gi = GateInputs {
                        spec: s,
                        dir: d,
                        x: &xp[(t * batch + b) * gh..][..gh],
                        rb,
                        r: &w.r[d * gh * out_w..(d + 1) * gh * out_w],
                        mask: mask.as_deref(),
                    };
                    let st = match s.cell {
                        Cell::Rnn => rnn_step(&gi, &hv),
                        Cell::Gru => gru_step(&gi, &hv),
                        Cell::Lstm => lstm_step(&gi, pd, &hv, &cv),
                    };
                    let h_new = match projd {
                        Some(wr) => lstm_project(wr, &st.m),
                        None => st.m.clone(),
                    };
                    let c_new = if s.cell == Cell::Lstm { st.c.clone() } else { vec![] };
                    y[((t * batch + b) * d_count + d) * out_w..][..out_w].copy_from_slice(&h_new);
                    let (h_prev, c_prev) = (std::mem::replace(&mut hv, h_new), std::mem::replace(&mut cv, c_new));
                    if keep_tape {
                        row_steps.push(StepRecord { t, h: h_prev, c: c_prev, tape: st });
                    }
                }
                h_n[(state * batch + b) * out_w..][..out_w].copy_from_slice(&hv);
                if s.cell == Cell::Lstm {
                    c_n[(state * batch + b) * hidden..][..hidden].copy_from_slice(&cv);
                }
                dir_steps.push(row_steps);
            }
            steps.push(dir_steps);
        }
        let mut merged = merge_directions(&y, t_len * batch, d_count, out_w, net.merge);
        if k + 1 < net.layers.len() {
            (masks.between)(k, &mut merged);
        }
        if keep_tape {
            tape.push(LayerTape { input: std::mem::replace(&mut layer_in, merged), y, steps });
        } else {
            layer_in = merged;
        }
    }
    Ok(Run { y: layer_in, h_n, c_n, tape })
}
