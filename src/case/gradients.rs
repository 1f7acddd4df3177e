//! Gradient cases (FORMAT.md, "Gradients"): upstream gradients read into the engine's layouts,
//! and the engine's [`Gradients`] put back into the file's names and layouts to compare.

use super::{Case, CaseLayout, Comparison, swap01};
use crate::error::{Error, Result};
use crate::import::torch_state_dict;
use crate::network::{Gradients, LayerWeights, Upstream};
use crate::tensor::{Tensor, TensorFile};

/// The gradient part of a case.
#[derive(Debug, Clone)]
pub struct GradientCheck {
    /// The gradients arriving at the outputs, in the engine's layouts.
    pub upstream: Upstream,
    /// Expected gradients by file name (`grad.X`, `grad.weight_ih_l0`, ...), in file layout.
    pub expected: Vec<(String, Tensor)>,
}

impl Case {
    /// Reads `upstream.*` and `grad.*`, checking every shape against what the engine produces.
    pub(super) fn gradient_check(&self, f: &TensorFile) -> Result<GradientCheck> {
        let zeros = self.zero_outputs();
        let mut upstream = Upstream::default();
        for (name, want) in self.to_file_layout(&zeros) {
            let key = format!("upstream.{name}");
            let Some(t) = f.float_opt(&key)? else {
                if name == "Y" || name == "output" {
                    return Err(Error::MissingTensor(key));
                }
                continue;
            };
            t.expect_shape(&key, &want.shape)?;
            let engine = self.to_engine_layout(&name, &t.data);
            match name.as_str() {
                "Y" | "output" => upstream.y = engine,
                "Y_h" | "h_n" => upstream.h_n = Some(engine),
                _ => upstream.c_n = Some(engine),
            }
        }
        let produced = self.gradients_to_file_layout(&self.zero_gradients());
        let mut names: Vec<&String> = f.floats.keys().filter(|n| n.starts_with("grad.")).collect();
        names.sort();
        if names.is_empty() {
            return Err(Error::MissingTensor("grad.* (a gradient case gives at least one gradient)".into()));
        }
        let mut expected = Vec::new();
        for name in names {
            let Some((_, shape)) = produced.iter().find(|(n, _)| n == name) else {
                return Err(Error::invalid(name.clone(), "the case's network has no such tensor"));
            };
            let t = f.float(name)?;
            t.expect_shape(name, &shape.shape)?;
            expected.push((name.clone(), t.clone()));
        }
        Ok(GradientCheck { upstream, expected })
    }

    /// An output tensor in file layout (`Y`, `output`, `Y_h`, ...) in the engine's layout.
    fn to_engine_layout(&self, name: &str, data: &[f32]) -> Vec<f32> {
        let net = &self.network;
        let (t, b, d, o) = (self.inputs.steps, self.inputs.batch, net.directions(), net.output_size());
        let width = data.len() / (t * b).max(1);
        match (self.layout, name) {
            // ONNX Y: [B, T, D, H] (layout 1) or [T, D, B, H] (layout 0); engine [T, B, D, H]
            (CaseLayout::Onnx { batch_major: true }, "Y") => swap01(data, b, t, d * o),
            (CaseLayout::Onnx { batch_major: false }, "Y") => {
                data.chunks(d * b * o).flat_map(|step| swap01(step, d, b, o)).collect()
            }
            // ONNX states: [B, D, W] (layout 1) or [D, B, W]; engine [D, B, W]
            (CaseLayout::Onnx { batch_major: true }, _) => swap01(data, b, d, data.len() / (b * d)),
            (CaseLayout::Torch { batch_first: true }, "output") => swap01(data, b, t, width),
            _ => data.to_vec(),
        }
    }

    /// Gradients of the right sizes, all zero.
    fn zero_gradients(&self) -> Gradients {
        let net = &self.network;
        let out = self.zero_outputs();
        let zero = |v: &[f32]| vec![0.0; v.len()];
        Gradients {
            x: zero(&self.inputs.x),
            h0: zero(&out.h_n),
            c0: out.c_n.as_deref().map(zero),
            layers: net
                .layers
                .iter()
                .map(|l| LayerWeights {
                    w: zero(&l.weights.w),
                    r: zero(&l.weights.r),
                    b: zero(&l.weights.b),
                    p: l.weights.p.as_deref().map(zero),
                    proj: l.weights.proj.as_deref().map(zero),
                })
                .collect(),
        }
    }

    /// The engine's gradients under the case file's names (`grad.X`, `grad.weight_ih_l0`, ...)
    /// and layouts.
    pub fn gradients_to_file_layout(&self, g: &Gradients) -> Vec<(String, Tensor)> {
        let net = &self.network;
        let (t, b, i) = (self.inputs.steps, self.inputs.batch, net.input_size());
        let (d, o, h) = (net.directions(), net.output_size(), net.layers[0].spec.hidden_size);
        let tensor = |shape: Vec<usize>, data: Vec<f32>| Tensor { shape, data };
        let mut v = Vec::new();
        match self.layout {
            CaseLayout::Onnx { batch_major } => {
                let x = if batch_major {
                    tensor(vec![b, t, i], swap01(&g.x, t, b, i))
                } else {
                    tensor(vec![t, b, i], g.x.clone())
                };
                v.push(("grad.X".to_string(), x));
                let state = |s: &[f32], w: usize| {
                    if batch_major {
                        tensor(vec![b, d, w], swap01(s, d, b, w))
                    } else {
                        tensor(vec![d, b, w], s.to_vec())
                    }
                };
                v.push(("grad.initial_h".to_string(), state(&g.h0, o)));
                if let Some(c) = &g.c0 {
                    v.push(("grad.initial_c".to_string(), state(c, h)));
                }
                let (l, gh) = (&g.layers[0], net.cell().gates() * h);
                v.push(("grad.W".to_string(), tensor(vec![d, gh, i], l.w.clone())));
                v.push(("grad.R".to_string(), tensor(vec![d, gh, o], l.r.clone())));
                v.push(("grad.B".to_string(), tensor(vec![d, 2 * gh], l.b.clone())));
                if let Some(p) = &l.p {
                    v.push(("grad.P".to_string(), tensor(vec![d, 3 * h], p.clone())));
                }
            }
            CaseLayout::Torch { batch_first } => {
                let x = if batch_first {
                    tensor(vec![b, t, i], swap01(&g.x, t, b, i))
                } else {
                    tensor(vec![t, b, i], g.x.clone())
                };
                v.push(("grad.input".to_string(), x));
                let ld = net.layers.len() * d;
                v.push(("grad.h0".to_string(), tensor(vec![ld, b, o], g.h0.clone())));
                if let Some(c) = &g.c0 {
                    v.push(("grad.c0".to_string(), tensor(vec![ld, b, h], c.clone())));
                }
                v.extend(torch_state_dict(net, &g.layers).into_iter().map(|(n, t)| (format!("grad.{n}"), t)));
            }
        }
        v
    }

    /// Compares gradients with the case's expected ones; empty for a case without gradients.
    pub fn compare_gradients(&self, g: &Gradients) -> Vec<Comparison> {
        let Some(check) = &self.gradients else { return vec![] };
        let got = self.gradients_to_file_layout(g);
        check
            .expected
            .iter()
            .map(|(name, want)| match got.iter().find(|(n, _)| n == name) {
                Some((_, t)) => Comparison::of_gradient(name, &t.shape, &t.data, &want.data),
                None => Comparison::missing(name, "gradient not produced"),
            })
            .collect()
    }
}
