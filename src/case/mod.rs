//! Conformance cases (`tests/data/conformance/*.safetensors`, format in its `FORMAT.md`):
//! loading a case into a [`Network`] and [`Inputs`], putting outputs back into the file's
//! layouts, and comparing them with the expected tensors.

use std::path::Path;

use crate::error::{Error, Result};
use crate::import::{OnnxAttributes, TorchConfig, onnx_layer, torch_network};
use crate::network::{Inputs, Network, Outputs};
use crate::spec::Cell;
use crate::tensor::{Tensor, TensorFile};

pub mod check;
mod gradients;
mod train;
pub use gradients::GradientCheck;
pub use train::TrainCase;

/// Relative L2 error allowed by FORMAT.md.
pub const REL_TOL: f64 = 1e-4;
/// Largest absolute element difference allowed by FORMAT.md.
pub const ABS_TOL: f64 = 1e-3;

/// Which file layout a case uses for its inputs and outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseLayout {
    /// ONNX `layout` 0 (time-major) or 1 (batch-major).
    Onnx { batch_major: bool },
    /// PyTorch, `batch_first` or not.
    Torch { batch_first: bool },
}

/// One conformance case.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub network: Network,
    pub inputs: Inputs,
    pub layout: CaseLayout,
    /// Expected outputs by name (`Y`, `Y_h`, `Y_c` or `output`, `h_n`, `c_n`), in file layout.
    pub expected: Vec<(String, Tensor)>,
    /// For gradient cases (`metadata["gradients"] = "1"`): the upstream gradients and the
    /// expected gradients.
    pub gradients: Option<GradientCheck>,
}

/// Swaps the first two axes of a `[a, b, rest]` row-major array.
pub fn swap01(data: &[f32], a: usize, b: usize, rest: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for i in 0..a {
        for j in 0..b {
            let (src, dst) = ((i * b + j) * rest, (j * a + i) * rest);
            out[dst..dst + rest].copy_from_slice(&data[src..src + rest]);
        }
    }
    out
}

fn lengths(f: &TensorFile, name: &str, batch: usize, steps: usize) -> Result<Option<Vec<usize>>> {
    match f.ints_opt(name, batch)? {
        None => Ok(None),
        Some(v) => v
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                if l >= 1 && l as usize <= steps {
                    Ok(l as usize)
                } else {
                    Err(Error::Length { index: i, len: l.into(), steps })
                }
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
    }
}

impl Case {
    /// Reads and validates a case file; any problem is an error naming it.
    pub fn load(path: &Path) -> Result<Case> {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let f = TensorFile::read(path)?;
        Self::from_file(name, &f)
    }

    /// A case from an already parsed file.
    pub fn from_file(name: String, f: &TensorFile) -> Result<Case> {
        let mut case = match f.meta("format")? {
            "onnx" => Self::onnx(name, f)?,
            "pytorch" => Self::torch(name, f)?,
            other => return Err(Error::invalid("format", format!("unknown case format `{other}` (onnx or pytorch)"))),
        };
        if f.meta_bool("gradients", false)? {
            case.gradients = Some(case.gradient_check(f)?);
        }
        Ok(case)
    }

    fn onnx(name: String, f: &TensorFile) -> Result<Case> {
        let attrs = OnnxAttributes::from_metadata(f)?;
        let network = onnx_layer(&attrs, f)?;
        let batch_major = match f.meta("layout").unwrap_or("0").trim() {
            "0" | "" => false,
            "1" => true,
            other => return Err(Error::invalid("layout", format!("`{other}` (0 or 1)"))),
        };
        let x = f.float("X")?;
        if x.shape.len() != 3 {
            return Err(Error::shape("X", "[T, B, I] or [B, T, I]", format!("{:?}", x.shape)));
        }
        let (t, b) = if batch_major { (x.shape[1], x.shape[0]) } else { (x.shape[0], x.shape[1]) };
        let i = network.input_size();
        x.expect_shape("X", &if batch_major { [b, t, i] } else { [t, b, i] })?;
        let (d, h) = (network.directions(), network.output_size());
        let state = |n: &str| -> Result<Option<Vec<f32>>> {
            let Some(s) = f.float_opt(n)? else { return Ok(None) };
            s.expect_shape(n, &if batch_major { [b, d, h] } else { [d, b, h] })?;
            Ok(Some(if batch_major { swap01(&s.data, b, d, h) } else { s.data.clone() }))
        };
        let inputs = Inputs {
            x: if batch_major { swap01(&x.data, b, t, i) } else { x.data.clone() },
            steps: t,
            batch: b,
            lengths: lengths(f, "sequence_lens", b, t)?,
            h0: state("initial_h")?,
            c0: if network.cell() == Cell::Lstm { state("initial_c")? } else { None },
        };
        let mut names = vec!["Y", "Y_h"];
        if network.cell() == Cell::Lstm {
            names.push("Y_c");
        }
        let case =
            Case { name, network, inputs, layout: CaseLayout::Onnx { batch_major }, expected: vec![], gradients: None };
        case.with_expected(f, &names)
    }

    fn torch(name: String, f: &TensorFile) -> Result<Case> {
        let cfg = TorchConfig::from_metadata(f)?;
        let network = torch_network(&cfg, f)?;
        let batch_first = f.meta_bool("batch_first", false)?;
        let x = f.float("input")?;
        if x.shape.len() != 3 || x.shape[2] != cfg.input_size {
            return Err(Error::shape("input", format!("[T, B, {}]", cfg.input_size), format!("{:?}", x.shape)));
        }
        let (t, b) = if batch_first { (x.shape[1], x.shape[0]) } else { (x.shape[0], x.shape[1]) };
        let ld = cfg.num_layers * network.directions();
        let state = |n: &str, w: usize| -> Result<Option<Vec<f32>>> {
            let Some(s) = f.float_opt(n)? else { return Ok(None) };
            s.expect_shape(n, &[ld, b, w])?;
            Ok(Some(s.data.clone()))
        };
        let inputs = Inputs {
            x: if batch_first { swap01(&x.data, b, t, cfg.input_size) } else { x.data.clone() },
            steps: t,
            batch: b,
            lengths: lengths(f, "lengths", b, t)?,
            h0: state("h0", network.output_size())?,
            c0: if cfg.cell == Cell::Lstm { state("c0", cfg.hidden_size)? } else { None },
        };
        let mut names = vec!["output", "h_n"];
        if cfg.cell == Cell::Lstm {
            names.push("c_n");
        }
        let case = Case {
            name,
            network,
            inputs,
            layout: CaseLayout::Torch { batch_first },
            expected: vec![],
            gradients: None,
        };
        case.with_expected(f, &names)
    }

    /// The expected outputs the file gives among `names` (a case may give only some of them,
    /// as the ONNX backend tests often give `Y_h` alone; it is checked on those). A file with
    /// none of them is an error.
    fn with_expected(mut self, f: &TensorFile, names: &[&str]) -> Result<Case> {
        // Shapes come from the engine's own outputs, so a wrong expected shape is caught here.
        let zeros = self.zero_outputs();
        for (n, want_shape) in self.to_file_layout(&zeros).into_iter().map(|(n, t)| (n, t.shape)) {
            if !names.contains(&n.as_str()) {
                continue;
            }
            if let Some(t) = f.float_opt(&n)? {
                t.expect_shape(&n, &want_shape)?;
                self.expected.push((n, t.clone()));
            }
        }
        if self.expected.is_empty() {
            return Err(Error::invalid(
                "case",
                format!("no expected output: a case gives at least one of {}", names.join(", ")),
            ));
        }
        Ok(self)
    }

    fn zero_outputs(&self) -> Outputs {
        let net = &self.network;
        let (t, b, ld) = (self.inputs.steps, self.inputs.batch, net.layers.len() * net.directions());
        Outputs {
            y: vec![0.0; t * b * net.merged_width()],
            h_n: vec![0.0; ld * b * net.output_size()],
            c_n: (net.cell() == Cell::Lstm).then(|| vec![0.0; ld * b * net.layers[0].spec.hidden_size]),
            dispatches: 0,
        }
    }

    /// Puts engine outputs (time-major) into the case file's names and layouts.
    pub fn to_file_layout(&self, out: &Outputs) -> Vec<(String, Tensor)> {
        let net = &self.network;
        let (t, b, d, o) = (self.inputs.steps, self.inputs.batch, net.directions(), net.output_size());
        let hcell = net.layers[0].spec.hidden_size;
        let mut v = Vec::new();
        match self.layout {
            CaseLayout::Onnx { batch_major } => {
                // engine y: [T, B, D, H]; ONNX: [T, D, B, H] (layout 0) or [B, T, D, H] (layout 1)
                let y = if batch_major {
                    Tensor { shape: vec![b, t, d, o], data: swap01(&out.y, t, b, d * o) }
                } else {
                    let mut y = vec![0.0; out.y.len()];
                    for ti in 0..t {
                        y[ti * b * d * o..(ti + 1) * b * d * o].copy_from_slice(&swap01(
                            &out.y[ti * b * d * o..(ti + 1) * b * d * o],
                            b,
                            d,
                            o,
                        ));
                    }
                    Tensor { shape: vec![t, d, b, o], data: y }
                };
                v.push(("Y".to_string(), y));
                let state = |s: &[f32], w: usize| {
                    if batch_major {
                        Tensor { shape: vec![b, d, w], data: swap01(s, d, b, w) }
                    } else {
                        Tensor { shape: vec![d, b, w], data: s.to_vec() }
                    }
                };
                v.push(("Y_h".to_string(), state(&out.h_n, o)));
                if let Some(c) = &out.c_n {
                    v.push(("Y_c".to_string(), state(c, hcell)));
                }
            }
            CaseLayout::Torch { batch_first } => {
                let w = net.merged_width();
                let y = if batch_first {
                    Tensor { shape: vec![b, t, w], data: swap01(&out.y, t, b, w) }
                } else {
                    Tensor { shape: vec![t, b, w], data: out.y.clone() }
                };
                v.push(("output".to_string(), y));
                let ld = net.layers.len() * d;
                v.push(("h_n".to_string(), Tensor { shape: vec![ld, b, o], data: out.h_n.clone() }));
                if let Some(c) = &out.c_n {
                    v.push(("c_n".to_string(), Tensor { shape: vec![ld, b, hcell], data: c.clone() }));
                }
            }
        }
        v
    }

    /// Compares outputs with the expected tensors; one [`Comparison`] per expected output.
    pub fn compare(&self, out: &Outputs) -> Vec<Comparison> {
        let got = self.to_file_layout(out);
        self.expected
            .iter()
            .map(|(name, want)| match got.iter().find(|(n, _)| n == name) {
                Some((_, g)) => Comparison::of(name, &g.shape, &g.data, &want.data),
                None => Comparison::missing(name, "output not produced"),
            })
            .collect()
    }
}

/// How one output compares with its expected value.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub name: String,
    /// `‖got − want‖₂ / ‖want‖₂` (the absolute norm when `want` is all zeros).
    pub rel: f64,
    /// Largest absolute element difference.
    pub max: f64,
    /// The first few mismatching elements, `name[i, j, ...]: got vs want`.
    pub mismatches: Vec<String>,
    /// The largest absolute difference allowed for this output.
    pub abs_tol: f64,
}

impl Comparison {
    /// Compares an output `got` with `want` (same shape); NaN never passes.
    pub fn of(name: &str, shape: &[usize], got: &[f32], want: &[f32]) -> Comparison {
        Self::within(name, shape, got, want, ABS_TOL)
    }
    /// Compares a gradient: as [`Self::of`], with the absolute bound scaled by
    /// `max(1, max |want|)` as FORMAT.md says for gradients and training results.
    pub fn of_gradient(name: &str, shape: &[usize], got: &[f32], want: &[f32]) -> Comparison {
        let scale = want.iter().fold(1.0f64, |m, &w| m.max((w as f64).abs()));
        Self::within(name, shape, got, want, ABS_TOL * scale)
    }
    /// A result that was not produced at all: never passes.
    pub fn missing(name: &str, why: impl Into<String>) -> Comparison {
        Comparison {
            name: name.into(),
            rel: f64::INFINITY,
            max: f64::INFINITY,
            mismatches: vec![why.into()],
            abs_tol: 0.0,
        }
    }
    fn within(name: &str, shape: &[usize], got: &[f32], want: &[f32], abs_tol: f64) -> Comparison {
        if got.len() != want.len() {
            return Self::missing(name, format!("{} values, expected {}", got.len(), want.len()));
        }
        let (mut num, mut den, mut max) = (0.0f64, 0.0f64, 0.0f64);
        let mut mismatches = Vec::new();
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let diff = (g as f64 - w as f64).abs();
            let diff = if diff.is_nan() { f64::INFINITY } else { diff };
            num += diff * diff;
            den += (w as f64) * (w as f64);
            max = max.max(diff);
            if diff > abs_tol && mismatches.len() < 5 {
                mismatches.push(format!("{name}{:?}: got {g} want {w}", unravel(i, shape)));
            }
        }
        let rel = if den > 0.0 { num.sqrt() / den.sqrt() } else { num.sqrt() };
        Comparison { name: name.into(), rel, max, mismatches, abs_tol }
    }
    /// Whether the output is within FORMAT.md's tolerance.
    pub fn passed(&self) -> bool {
        self.rel <= REL_TOL && self.max <= self.abs_tol
    }
}

/// Multi-index of flat index `i` in `shape`.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (k, &s) in shape.iter().enumerate().rev() {
        if s > 0 {
            idx[k] = i % s;
            i /= s;
        }
    }
    idx
}
