//! Backpropagation through time over a whole stack, in f64: the reference the GPU backward is
//! checked against. Runs the forward with its tape, then walks layers from last to first and
//! each direction's steps in reverse order of how they ran.

use super::cells::GateInputs;
use super::cells_backward::{
    RecurrentGrads, gru_step_backward, lstm_project_backward, lstm_step_backward, rnn_step_backward,
};
use super::forward::{Masks, Run, run};
use super::merge_directions::merge_directions_backward;
use crate::error::Result;
use crate::network::{Gradients, Inputs, LayerWeights, Network, Upstream};
use crate::spec::Cell;

/// The gradients of `sum(outputs ⊙ upstream)` with respect to the inputs and every weight.
///
/// Positions of `upstream.y` past a sequence's length are ignored (those outputs are constant
/// zeros). Errors: everything [`forward`](super::forward) rejects, and upstream gradients whose
/// shapes do not match the outputs.
pub fn backward(net: &Network, inp: &Inputs, up: &Upstream) -> Result<Gradients> {
    net.validate_upstream(inp, up)?;
    let fwd = run(net, inp, true)?;
    let (ld, b) = (net.layers.len() * net.directions(), inp.batch);
    let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let dh_n = up.h_n.as_deref().map_or_else(|| vec![0.0; ld * b * net.output_size()], f64s);
    let dc_n = up.c_n.as_deref().map_or_else(|| vec![0.0; ld * b * net.layers[0].spec.hidden_size], f64s);
    let g64 = backward64(net, inp, &f64s(&up.y), &dh_n, &dc_n, &fwd, &Masks::none());
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    Ok(Gradients {
        x: f32s(&g64.x),
        h0: f32s(&g64.h0),
        c0: (net.cell() == Cell::Lstm).then(|| f32s(&g64.c0)),
        layers: g64
            .layers
            .iter()
            .map(|l| LayerWeights {
                w: f32s(&l.w),
                r: f32s(&l.r),
                b: f32s(&l.b),
                p: l.p.as_deref().map(f32s),
                proj: l.proj.as_deref().map(f32s),
            })
            .collect(),
    })
}

/// [`Gradients`] in f64.
pub(crate) struct Gradients64 {
    pub x: Vec<f64>,
    pub h0: Vec<f64>,
    pub c0: Vec<f64>,
    pub layers: Vec<LayerGrads64>,
}

/// One layer's weight gradients in f64, ONNX layout.
#[derive(Debug, Clone)]
pub(crate) struct LayerGrads64 {
    pub w: Vec<f64>,
    pub r: Vec<f64>,
    pub b: Vec<f64>,
    pub p: Option<Vec<f64>>,
    pub proj: Option<Vec<f64>>,
}

/// The backward of a forward [`Run`] that kept its tape, for upstream gradients `dy [T, B, W]`,
/// `dh_n [L*D, B, H_out]` and `dc_n [L*D, B, H]` whose sizes the caller checked. `masks` are
/// the forward's (`run_with`): the dropout between layers applies again to the gradient of
/// layer k's output, the recurrent masks inside the recurrent products' backward.
pub(crate) fn backward64(
    net: &Network,
    inp: &Inputs,
    dy: &[f64],
    dh_n: &[f64],
    dc_n: &[f64],
    fwd: &Run,
    masks: &Masks,
) -> Gradients64 {
    let (t_len, batch) = (inp.steps, inp.batch);
    let (d_count, out_w) = (net.directions(), net.output_size());
    let hidden = net.layers[0].spec.hidden_size;
    let lstm = net.cell() == Cell::Lstm;
    let ld = net.layers.len() * d_count;
    let mut dh0 = vec![0.0; ld * batch * out_w];
    let mut dc0 = vec![0.0; ld * batch * hidden];
    // d_merged: gradient of the current layer's merged output [T, B, W]
    let mut d_merged = dy.to_vec();
    let mut layers = vec![];
    for (k, layer) in net.layers.iter().enumerate().rev() {
        let (s, w, tape) = (&layer.spec, &layer.weights, &fwd.tape[k]);
        let (g, kin) = (s.cell.gates(), s.input_size);
        let gh = g * hidden;
        // dy: [T, B, D, H_out]
        let dy_layer = merge_directions_backward(&d_merged, &tape.y, t_len * batch, d_count, out_w, net.merge);
        let mut grads = LayerGrads64 {
            w: vec![0.0; d_count * gh * kin],
            r: vec![0.0; d_count * gh * out_w],
            b: vec![0.0; d_count * 2 * gh],
            p: w.p.as_ref().map(|_| vec![0.0; d_count * 3 * hidden]),
            proj: w.proj.as_ref().map(|_| vec![0.0; d_count * out_w * hidden]),
        };
        let mut d_in = vec![0.0; t_len * batch * kin];
        for d in 0..d_count {
            let wd = &w.w[d * gh * kin..(d + 1) * gh * kin];
            let rb = &w.b[d * 2 * gh + gh..(d + 1) * 2 * gh];
            let pd = w.p.as_ref().map(|p| &p[d * 3 * hidden..(d + 1) * 3 * hidden]);
            let projd = w.proj.as_ref().map(|p| &p[d * out_w * hidden..(d + 1) * out_w * hidden]);
            let (dwb, drb) = grads.b[d * 2 * gh..(d + 1) * 2 * gh].split_at_mut(gh);
            let mut acc = RecurrentGrads {
                r: &mut grads.r[d * gh * out_w..(d + 1) * gh * out_w],
                rb: drb,
                p: match &mut grads.p {
                    Some(p) => &mut p[d * 3 * hidden..(d + 1) * 3 * hidden],
                    None => &mut [],
                },
            };
            let state = k * d_count + d;
            for (b, row_steps) in tape.steps[d].iter().enumerate() {
                let mask = (masks.recurrent)(k, d, b);
                let mut dh = dh_n[(state * batch + b) * out_w..][..out_w].to_vec();
                let mut dc = dc_n[(state * batch + b) * hidden..][..hidden].to_vec();
                for rec in row_steps.iter().rev() {
                    let t = rec.t;
                    for (a, &v) in dh.iter_mut().zip(&dy_layer[((t * batch + b) * d_count + d) * out_w..][..out_w]) {
                        *a += v;
                    }
                    let dm = match (projd, &mut grads.proj) {
                        (Some(wr), Some(dproj)) => lstm_project_backward(
                            wr,
                            &rec.tape.m,
                            &dh,
                            &mut dproj[d * out_w * hidden..(d + 1) * out_w * hidden],
                        ),
                        _ => dh.clone(),
                    };
                    // The forward's input projection for this step: only its sum is read back.
                    let gi = GateInputs {
                        spec: s,
                        dir: d,
                        x: &[],
                        rb,
                        r: &w.r[d * gh * out_w..(d + 1) * gh * out_w],
                        mask: mask.as_deref(),
                    };
                    let sg = match s.cell {
                        Cell::Rnn => rnn_step_backward(&gi, &rec.tape, &rec.h, &dm, &mut acc),
                        Cell::Gru => gru_step_backward(&gi, &rec.tape, &rec.h, &dm, &mut acc),
                        Cell::Lstm => lstm_step_backward(&gi, pd, &rec.tape, &rec.h, &rec.c, &dm, &dc, &mut acc),
                    };
                    // Input projection backward: dW += dG xᵀ, dWb += dG, dx += Wᵀ dG.
                    let x = &tape.input[(t * batch + b) * kin..][..kin];
                    let dx = &mut d_in[(t * batch + b) * kin..][..kin];
                    for (row, &dgate) in sg.x.iter().enumerate() {
                        dwb[row] += dgate;
                        let (w_row, dw_row) =
                            (&wd[row * kin..(row + 1) * kin], &mut grads.w[(d * gh + row) * kin..][..kin]);
                        for i in 0..kin {
                            dw_row[i] += dgate * x[i];
                            dx[i] += dgate * w_row[i] as f64;
                        }
                    }
                    dh = sg.h;
                    dc = sg.c;
                }
                dh0[(state * batch + b) * out_w..][..out_w].copy_from_slice(&dh);
                if lstm {
                    dc0[(state * batch + b) * hidden..][..hidden].copy_from_slice(&dc);
                }
            }
        }
        layers.push(grads);
        if k > 0 {
            (masks.between)(k - 1, &mut d_in);
        }
        d_merged = d_in;
    }
    layers.reverse();
    Gradients64 { x: d_merged, h0: dh0, c0: dc0, layers }
}

#[cfg(test)]
mod tests {
    //! The backward against central finite differences of the f64 forward, over every cell,
    //! option, activation, direction, merge mode and packed lengths.

    use super::*;
    use crate::random::{self, RandomConfig, Rng};
    use crate::spec::{Activation, ActivationKind, Direction, LayerSpec, MergeMode};

    /// A tensor of the network or its inputs, by role.
    #[derive(Debug, Clone, Copy)]
    enum Which {
        X,
        H0,
        C0,
        W(usize),
        R(usize),
        B(usize),
        P(usize),
        Proj(usize),
    }

    fn tensor<'a>(net: &'a mut Network, inp: &'a mut Inputs, which: Which) -> Option<&'a mut Vec<f32>> {
        match which {
            Which::X => Some(&mut inp.x),
            Which::H0 => inp.h0.as_mut(),
            Which::C0 => inp.c0.as_mut(),
            Which::W(k) => Some(&mut net.layers[k].weights.w),
            Which::R(k) => Some(&mut net.layers[k].weights.r),
            Which::B(k) => Some(&mut net.layers[k].weights.b),
            Which::P(k) => net.layers[k].weights.p.as_mut(),
            Which::Proj(k) => net.layers[k].weights.proj.as_mut(),
        }
    }

    fn analytic(g: &Gradients64, which: Which) -> &[f64] {
        match which {
            Which::X => &g.x,
            Which::H0 => &g.h0,
            Which::C0 => &g.c0,
            Which::W(k) => &g.layers[k].w,
            Which::R(k) => &g.layers[k].r,
            Which::B(k) => &g.layers[k].b,
            Which::P(k) => g.layers[k].p.as_deref().expect("peephole gradients"),
            Which::Proj(k) => g.layers[k].proj.as_deref().expect("projection gradients"),
        }
    }

    /// `sum(outputs ⊙ upstream)` in f64.
    fn loss(net: &Network, inp: &Inputs, up: &Upstream, masks: &Masks) -> f64 {
        let r = super::super::forward::run_with(net, inp, false, masks).expect("valid");
        let dot = |a: &[f64], b: &[f32]| a.iter().zip(b).map(|(x, &y)| x * y as f64).sum::<f64>();
        dot(&r.y, &up.y)
            + up.h_n.as_deref().map_or(0.0, |u| dot(&r.h_n, u))
            + up.c_n.as_deref().map_or(0.0, |u| dot(&r.c_n, u))
    }

    /// Compares the backward with central differences at up to 16 entries of every tensor.
    fn check_against_finite_differences(label: &str, net: &Network, inp: &Inputs) {
        check_with_masks(label, net, inp, &Masks::none());
    }

    /// [`check_against_finite_differences`] with dropout masks fixed in the forward.
    fn check_with_masks(label: &str, net: &Network, inp: &Inputs, masks: &Masks) {
        let mut rng = Rng::new(7);
        let ld = net.layers.len() * net.directions();
        let (b, o, h) = (inp.batch, net.output_size(), net.layers[0].spec.hidden_size);
        let up = Upstream {
            y: rng.vec(inp.steps * b * net.merged_width(), 1.0),
            h_n: Some(rng.vec(ld * b * o, 1.0)),
            c_n: (net.cell() == Cell::Lstm).then(|| rng.vec(ld * b * h, 1.0)),
        };
        let fwd = super::super::forward::run_with(net, inp, true, masks).expect("valid");
        let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        let dc_n = up.c_n.as_deref().map_or_else(|| vec![0.0; ld * b * h], f64s);
        let grads = backward64(net, inp, &f64s(&up.y), &f64s(up.h_n.as_deref().expect("set")), &dc_n, &fwd, masks);
        let mut roles = vec![Which::X, Which::H0, Which::C0];
        for k in 0..net.layers.len() {
            roles.extend([Which::W(k), Which::R(k), Which::B(k), Which::P(k), Which::Proj(k)]);
        }
        let (mut net, mut inp) = (net.clone(), inp.clone());
        let mut checked = 0;
        for which in roles {
            let Some(len) = tensor(&mut net, &mut inp, which).map(|t| t.len()) else { continue };
            let want = analytic(&grads, which).to_vec();
            assert_eq!(want.len(), len, "{label} {which:?}: gradient size");
            for idx in (0..len).step_by(len.div_ceil(16)) {
                let orig = tensor(&mut net, &mut inp, which).expect("present")[idx];
                let eps = 1e-4f32;
                let mut at = |v: f32| {
                    tensor(&mut net, &mut inp, which).expect("present")[idx] = v;
                    loss(&net, &inp, &up, masks)
                };
                let (hi, lo) = (orig + eps, orig - eps);
                let fd = (at(hi) - at(lo)) / (hi as f64 - lo as f64);
                at(orig);
                let an = want[idx];
                assert!(
                    (fd - an).abs() <= 1e-6 + 1e-4 * an.abs(),
                    "{label} {which:?}[{idx}]: backward {an:.9} vs finite difference {fd:.9}"
                );
                checked += 1;
            }
        }
        assert!(checked > 20, "{label}: only {checked} entries checked");
    }

    #[test]
    fn dropout_masks_between_layers_and_in_the_recurrent_products() {
        let d = crate::train::Dropout { p: 0.3, seed: 5, recurrent: 0.4 };
        for (cell, lbr, proj) in
            [(Cell::Rnn, false, 0), (Cell::Gru, false, 0), (Cell::Gru, true, 0), (Cell::Lstm, false, 2)]
        {
            let mut cfg = config(cell, Direction::Bidirectional, 2, MergeMode::Concat);
            cfg.proj_size = proj;
            let net = random::network(&cfg, 3, |s| LayerSpec { linear_before_reset: lbr, ..s });
            let inp = random::inputs(&net, 4, 3, 3, true, true);
            let out_w = net.output_size();
            let between = |k: usize, v: &mut [f64]| d.apply(2, k as u32, v);
            let recurrent = |k: usize, dir: usize, b: usize| d.recurrent_mask(2, k, dir, b, out_w);
            let masks = Masks { between: &between, recurrent: &recurrent };
            check_with_masks(&format!("{cell:?} lbr {lbr} proj {proj} with dropout"), &net, &inp, &masks);
        }
    }

    fn config(cell: Cell, direction: Direction, layers: usize, merge: MergeMode) -> RandomConfig {
        RandomConfig { direction, layers, merge, ..RandomConfig::simple(cell, 3, 4) }
    }

    #[test]
    fn rnn_every_activation_with_and_without_clip() {
        for (n, kind) in ActivationKind::ALL.into_iter().enumerate() {
            for clip in [None, Some(0.7)] {
                let act = Activation { kind, alpha: 0.6, beta: 0.4 };
                let net =
                    random::network(&config(Cell::Rnn, Direction::Forward, 1, MergeMode::Concat), n as u64, |s| {
                        LayerSpec { activations: vec![vec![act]], clip, ..s }
                    });
                let inp = random::inputs(&net, 4, 2, n as u64, false, true);
                check_against_finite_differences(&format!("rnn {kind:?} clip {clip:?}"), &net, &inp);
            }
        }
    }

    #[test]
    fn gru_both_reset_placements_every_direction_and_merge() {
        for lbr in [false, true] {
            for (direction, merge) in [
                (Direction::Forward, MergeMode::Concat),
                (Direction::Reverse, MergeMode::Concat),
                (Direction::Bidirectional, MergeMode::Concat),
                (Direction::Bidirectional, MergeMode::Sum),
                (Direction::Bidirectional, MergeMode::Average),
                (Direction::Bidirectional, MergeMode::Mul),
            ] {
                let net = random::network(&config(Cell::Gru, direction, 2, merge), 3, |s| LayerSpec {
                    linear_before_reset: lbr,
                    clip: Some(2.0),
                    ..s
                });
                let inp = random::inputs(&net, 5, 3, 4, true, true);
                check_against_finite_differences(&format!("gru lbr {lbr} {direction:?} {merge:?}"), &net, &inp);
            }
        }
    }

    #[test]
    fn lstm_peepholes_input_forget_projection_and_activations() {
        for (peepholes, input_forget, proj) in
            [(false, false, 0), (true, false, 0), (true, true, 0), (false, false, 2), (true, false, 3)]
        {
            let cfg = RandomConfig {
                peepholes,
                proj_size: proj,
                ..config(Cell::Lstm, Direction::Bidirectional, 2, MergeMode::Mul)
            };
            let net = random::network(&cfg, 5, |s| LayerSpec { input_forget, ..s });
            let inp = random::inputs(&net, 5, 3, 6, true, true);
            check_against_finite_differences(&format!("lstm p {peepholes} if {input_forget} proj {proj}"), &net, &inp);
        }
        let odd = vec![
            Activation { kind: ActivationKind::HardSigmoid, alpha: 0.3, beta: 0.5 },
            Activation { kind: ActivationKind::Softsign, alpha: 0.0, beta: 0.0 },
            Activation { kind: ActivationKind::ScaledTanh, alpha: 1.2, beta: 0.8 },
        ];
        let net = random::network(&config(Cell::Lstm, Direction::Reverse, 1, MergeMode::Concat), 8, |s| LayerSpec {
            activations: vec![odd.clone()],
            clip: Some(0.9),
            ..s
        });
        let inp = random::inputs(&net, 6, 2, 9, true, false);
        check_against_finite_differences("lstm odd activations, clip", &net, &inp);
    }
}
