//! The CPU reference: the executable spec of every shader. Plain loops, f64 accumulation, the
//! ONNX equations read directly off ONNX-layout weights (so it shares no packing with the GPU).
//! Each kernel has a twin here with the same name: `input_projection`, `rnn_step`, `gru_step`,
//! `lstm_step`, `lstm_project`, `merge_directions`.

mod cells;
mod input_projection;
mod merge_directions;

pub use cells::{GateInputs, gru_step, lstm_project, lstm_step, rnn_step};
pub use input_projection::input_projection;
pub use merge_directions::merge_directions;

use crate::error::Result;
use crate::network::{Inputs, Network, Outputs};
use crate::spec::Cell;

/// Runs the network on the CPU. Same semantics and layouts as the GPU engine.
pub fn forward(net: &Network, inp: &Inputs) -> Result<Outputs> {
    net.validate()?;
    let lengths = net.validate_inputs(inp)?;
    let (t_len, batch) = (inp.steps, inp.batch);
    let (d_count, out_w) = (net.directions(), net.output_size());
    let hidden = net.layers[0].spec.hidden_size;
    let lstm = net.cell() == Cell::Lstm;
    // layer_in: [T, B, K] of the current layer
    let mut layer_in: Vec<f64> = inp.x.iter().map(|&v| v as f64).collect();
    let ld = net.layers.len() * d_count;
    let mut h_n = vec![0.0f32; ld * batch * out_w];
    let mut c_n = vec![0.0f32; ld * batch * hidden];
    for (k, layer) in net.layers.iter().enumerate() {
        let s = &layer.spec;
        let w = &layer.weights;
        let (g, h, kin) = (s.cell.gates(), s.hidden_size, s.input_size);
        let gh = g * h;
        // y: [T, B, D, H_out], zero past each length
        let mut y = vec![0.0f64; t_len * batch * d_count * out_w];
        for d in 0..d_count {
            let wd = &w.w[d * gh * kin..(d + 1) * gh * kin];
            let rd = &w.r[d * gh * out_w..(d + 1) * gh * out_w];
            let bd = &w.b[d * 2 * gh..(d + 1) * 2 * gh];
            let (wb, rb) = bd.split_at(gh);
            let pd = w.p.as_ref().map(|p| &p[d * 3 * h..(d + 1) * 3 * h]);
            let projd = w.proj.as_ref().map(|p| &p[d * out_w * h..(d + 1) * out_w * h]);
            // xp: [T*B, G*H] = layer_in · Wᵀ + Wb
            let xp = input_projection(&layer_in, t_len * batch, kin, wd, wb);
            let state = k * d_count + d;
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
                for step in 0..len {
                    let t = if s.direction.is_reverse(d) { len - 1 - step } else { step };
                    let gi = GateInputs { spec: s, dir: d, x: &xp[(t * batch + b) * gh..][..gh], rb, r: rd };
                    hv = match s.cell {
                        Cell::Rnn => rnn_step(&gi, &hv),
                        Cell::Gru => gru_step(&gi, &hv),
                        Cell::Lstm => {
                            let (m, c) = lstm_step(&gi, pd, &hv, &cv);
                            cv = c;
                            match projd {
                                Some(wr) => lstm_project(wr, &m),
                                None => m,
                            }
                        }
                    };
                    y[((t * batch + b) * d_count + d) * out_w..][..out_w].copy_from_slice(&hv);
                }
                for (dst, &v) in h_n[(state * batch + b) * out_w..][..out_w].iter_mut().zip(&hv) {
                    *dst = v as f32;
                }
                for (dst, &v) in c_n[(state * batch + b) * hidden..][..hidden].iter_mut().zip(&cv) {
                    *dst = v as f32;
                }
            }
        }
        layer_in = merge_directions(&y, t_len * batch, d_count, out_w, net.merge);
    }
    Ok(Outputs { y: layer_in.iter().map(|&v| v as f32).collect(), h_n, c_n: lstm.then_some(c_n), dispatches: 0 })
}
