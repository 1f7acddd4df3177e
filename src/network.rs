//! A stack of recurrent layers with their weights in ONNX layout, the inputs of a forward call
//! and its outputs. Importers (ONNX attributes, PyTorch `state_dict`) produce a [`Network`].

use crate::error::{Error, Result};
use crate::spec::{Cell, LayerSpec, MergeMode};
use crate::tensor::{all_finite, elements};

/// One layer's weights in ONNX layout and gate order (`i,o,f,c` / `z,r,h`).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerWeights {
    /// `W [D, G*H, I]`
    pub w: Vec<f32>,
    /// `R [D, G*H, H_out]`
    pub r: Vec<f32>,
    /// `B [D, 2*G*H]`: input biases then recurrent biases (zeros when the model has none).
    pub b: Vec<f32>,
    /// `P [D, 3*H]` LSTM peepholes in order `i,o,f`, if any.
    pub p: Option<Vec<f32>>,
    /// `W_hr [D, P, H]` LSTM projection, present exactly when `proj_size > 0`.
    pub proj: Option<Vec<f32>>,
}

/// A layer: what it computes and its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub spec: LayerSpec,
    pub weights: LayerWeights,
}

/// A stack of layers. Layer k+1 reads layer k's output, its directions merged by `merge`.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub layers: Vec<Layer>,
    pub merge: MergeMode,
}

/// Inputs of one forward call. Layouts are time-major (`[T, B, ...]`). Every value must be
/// finite: a NaN or infinity in `x`, `h0` or `c0` is an error naming the tensor and index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inputs {
    /// `x [T, B, I]`
    pub x: Vec<f32>,
    /// Time steps T.
    pub steps: usize,
    /// Batch size B.
    pub batch: usize,
    /// Per-sequence lengths in `1..=T` (all T when absent).
    pub lengths: Option<Vec<usize>>,
    /// `h0 [L*D, B, H_out]` (zeros when absent).
    pub h0: Option<Vec<f32>>,
    /// `c0 [L*D, B, H]` for LSTM stacks (zeros when absent).
    pub c0: Option<Vec<f32>>,
}

/// Outputs of one forward call, time-major.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outputs {
    /// `y [T, B, W]`: the last layer's merged output (`W = D*H_out` for concat, else `H_out`);
    /// zero past each sequence's length.
    pub y: Vec<f32>,
    /// `h_n [L*D, B, H_out]`: each layer's and direction's state at its sequence's end.
    pub h_n: Vec<f32>,
    /// `c_n [L*D, B, H]` for LSTM stacks.
    pub c_n: Option<Vec<f32>>,
    /// GPU compute dispatches the call used (0 on the CPU reference).
    pub dispatches: usize,
}

/// Gradients arriving at a forward call's outputs, in the layouts of [`Outputs`]: the
/// gradient of some scalar loss with respect to each output. A missing state gradient is zero.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Upstream {
    /// `dy [T, B, W]`. Entries past a sequence's length are ignored: those outputs are constant
    /// zeros, so nothing flows back from them.
    pub y: Vec<f32>,
    /// `dh_n [L*D, B, H_out]`
    pub h_n: Option<Vec<f32>>,
    /// `dc_n [L*D, B, H]` (LSTM stacks)
    pub c_n: Option<Vec<f32>>,
}

/// Gradients of a forward call's inputs and of every weight, in the layouts they came in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Gradients {
    /// `dx [T, B, I]`
    pub x: Vec<f32>,
    /// `dh0 [L*D, B, H_out]`
    pub h0: Vec<f32>,
    /// `dc0 [L*D, B, H]` (LSTM stacks)
    pub c0: Option<Vec<f32>>,
    /// Per layer, the weights' gradients in ONNX layout and gate order (`dW`, `dR`, `dB`, `dP`
    /// when the layer has peepholes, `dW_hr` when it has a projection).
    pub layers: Vec<LayerWeights>,
}

impl Network {
    /// The cell shared by every layer.
    pub fn cell(&self) -> Cell {
        self.layers[0].spec.cell
    }
    /// Directions D (the same for every layer).
    pub fn directions(&self) -> usize {
        self.layers[0].spec.directions()
    }
    /// Width of `h` of every layer (H_out).
    pub fn output_size(&self) -> usize {
        self.layers[0].spec.output_size()
    }
    /// Width of the merged output a layer hands to the next.
    pub fn merged_width(&self) -> usize {
        let d = self.directions();
        if self.merge == MergeMode::Concat { d * self.output_size() } else { self.output_size() }
    }
    /// Width of the first layer's input (I).
    pub fn input_size(&self) -> usize {
        self.layers[0].spec.input_size
    }

    /// Checks every layer's configuration and weight sizes, and that layers chain.
    pub fn validate(&self) -> Result<()> {
        let Some(first) = self.layers.first() else {
            return Err(Error::invalid("network", "no layers"));
        };
        for (k, layer) in self.layers.iter().enumerate() {
            let s = &layer.spec;
            s.validate().map_err(|e| Error::invalid(format!("layer {k}"), e.to_string()))?;
            if s.cell != first.spec.cell || s.direction != first.spec.direction {
                return Err(Error::invalid(format!("layer {k}"), "all layers must share cell and direction"));
            }
            if s.output_size() != first.spec.output_size() || s.hidden_size != first.spec.hidden_size {
                return Err(Error::invalid(format!("layer {k}"), "all layers must share hidden and projection sizes"));
            }
            if k > 0 && s.input_size != self.merged_width() {
                return Err(Error::invalid(
                    format!("layer {k}"),
                    format!(
                        "input size {} but the previous layer's merged output has width {}",
                        s.input_size,
                        self.merged_width()
                    ),
                ));
            }
            let (d, g, h, o) = (s.directions(), s.cell.gates(), s.hidden_size, s.output_size());
            let gh = s.cell.gate_rows(h).ok_or_else(|| {
                Error::TooLarge(format!("layer {k}: {g} gates of {h} units overflow a tensor's size"))
            })?;
            let w = &layer.weights;
            let check = |name: &str, len: usize, dims: &[usize]| -> Result<()> {
                let want = elements(dims);
                if want != Some(len) {
                    let values = want.map_or("more values than a usize counts".to_string(), |n| format!("{n} values"));
                    return Err(Error::shape(
                        format!("layer {k} {name}"),
                        format!("{dims:?} ({values})"),
                        format!("{len} values"),
                    ));
                }
                Ok(())
            };
            check("W", w.w.len(), &[d, gh, s.input_size])?;
            check("R", w.r.len(), &[d, gh, o])?;
            check("B", w.b.len(), &[d, 2 * gh])?;
            if let Some(p) = &w.p {
                if s.cell != Cell::Lstm {
                    return Err(Error::invalid(format!("layer {k} P"), "peepholes exist only for LSTM"));
                }
                check("P", p.len(), &[d, 3 * h])?;
            }
            match (&w.proj, s.proj_size) {
                (None, 0) => {}
                (Some(p), ps) if ps > 0 => check("W_hr", p.len(), &[d, ps, h])?,
                _ => return Err(Error::invalid(format!("layer {k}"), "projection weights and proj_size disagree")),
            }
            for (name, v) in [("W", &w.w), ("R", &w.r), ("B", &w.b)] {
                all_finite(format!("layer {k} {name}"), v)?;
            }
        }
        Ok(())
    }

    /// Checks per-sequence lengths for `t` steps and batch `b`; returns them (all `t` when
    /// absent).
    pub fn validate_lengths(t: usize, b: usize, lengths: Option<&[usize]>) -> Result<Vec<usize>> {
        let Some(l) = lengths else { return Ok(vec![t; b]) };
        if l.len() != b {
            return Err(Error::shape("lengths", format!("[{b}]"), format!("[{}]", l.len())));
        }
        for (i, &len) in l.iter().enumerate() {
            if len == 0 || len > t {
                return Err(Error::Length { index: i, len: len as i128, steps: t });
            }
        }
        Ok(l.to_vec())
    }

    /// Checks a forward call's inputs against the network; returns the resolved lengths.
    pub fn validate_inputs(&self, inp: &Inputs) -> Result<Vec<usize>> {
        let (t, b) = (inp.steps, inp.batch);
        if t == 0 || b == 0 {
            return Err(Error::invalid("inputs", format!("steps and batch must be at least 1 (got T={t}, B={b})")));
        }
        let want = elements(&[t, b, self.input_size()]);
        if want != Some(inp.x.len()) {
            return Err(Error::shape(
                "x",
                format!("[T={t}, B={b}, I={}]", self.input_size()),
                format!("{} values", inp.x.len()),
            ));
        }
        all_finite("x", &inp.x)?;
        let lengths = Self::validate_lengths(t, b, inp.lengths.as_deref())?;
        let (l, d) = (self.layers.len(), self.directions());
        let hs = l * d * b * self.output_size();
        if let Some(h0) = &inp.h0 {
            if h0.len() != hs {
                return Err(Error::shape(
                    "h0",
                    format!("[{}, {b}, {}]", l * d, self.output_size()),
                    format!("{} values", h0.len()),
                ));
            }
            all_finite("h0", h0)?;
        }
        if let Some(c0) = &inp.c0 {
            if self.cell() != Cell::Lstm {
                return Err(Error::invalid("c0", "only LSTM has a cell state"));
            }
            let cs = l * d * b * self.layers[0].spec.hidden_size;
            if c0.len() != cs {
                return Err(Error::shape(
                    "c0",
                    format!("[{}, {b}, {}]", l * d, self.layers[0].spec.hidden_size),
                    format!("{} values", c0.len()),
                ));
            }
            all_finite("c0", c0)?;
        }
        Ok(lengths)
    }

    /// Checks upstream gradients against a forward call's inputs (their output shapes).
    pub fn validate_upstream(&self, inp: &Inputs, up: &Upstream) -> Result<()> {
        let (t, b, ld) = (inp.steps, inp.batch, self.layers.len() * self.directions());
        let check = |name: &str, v: &[f32], dims: [usize; 3]| -> Result<()> {
            if Some(v.len()) != elements(&dims) {
                return Err(Error::shape(
                    format!("upstream {name}"),
                    format!("{dims:?}"),
                    format!("{} values", v.len()),
                ));
            }
            all_finite(format!("upstream {name}"), v)
        };
        check("y", &up.y, [t, b, self.merged_width()])?;
        if let Some(h) = &up.h_n {
            check("h_n", h, [ld, b, self.output_size()])?;
        }
        if let Some(c) = &up.c_n {
            if self.cell() != Cell::Lstm {
                return Err(Error::invalid("upstream c_n", "only LSTM has a cell state"));
            }
            check("c_n", c, [ld, b, self.layers[0].spec.hidden_size])?;
        }
        Ok(())
    }
}
