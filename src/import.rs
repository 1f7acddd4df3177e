//! Importers: ONNX `RNN`/`GRU`/`LSTM` attributes and tensors, and PyTorch `state_dict`s.
//! Both produce a validated [`Network`] in ONNX layout and gate order.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::network::{Layer, LayerWeights, Network};
use crate::spec::{Activation, ActivationKind, Cell, Direction, LayerSpec, MergeMode, resolve_activations};
use crate::tensor::{Tensor, TensorFile};

/// The attributes of one ONNX recurrent node, as strings (the conformance format's metadata).
#[derive(Debug, Clone, Default)]
pub struct OnnxAttributes {
    pub op: String,
    pub direction: String,
    pub hidden_size: usize,
    pub activations: Vec<String>,
    pub activation_alpha: Vec<f32>,
    pub activation_beta: Vec<f32>,
    pub clip: Option<f32>,
    pub input_forget: bool,
    pub linear_before_reset: bool,
}

fn float_list(key: &str, s: &str) -> Result<Vec<f32>> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| x.parse::<f32>().map_err(|_| Error::invalid(key, format!("`{x}` is not a number"))))
        .collect()
}

impl OnnxAttributes {
    /// Reads the attributes from a conformance file's metadata.
    pub fn from_metadata(f: &TensorFile) -> Result<Self> {
        let get = |k: &str| f.metadata.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
        let clip = get("clip");
        Ok(OnnxAttributes {
            op: f.meta("op")?.to_string(),
            direction: get("direction"),
            hidden_size: f.meta_usize("hidden_size")?,
            activations: get("activations")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            activation_alpha: float_list("activation_alpha", &get("activation_alpha"))?,
            activation_beta: float_list("activation_beta", &get("activation_beta"))?,
            clip: if clip.is_empty() {
                None
            } else {
                Some(float_list("clip", &clip)?.first().copied().unwrap_or(f32::NAN))
            },
            input_forget: f.meta_bool("input_forget", false)?,
            linear_before_reset: f.meta_bool("linear_before_reset", false)?,
        })
    }

    /// The layer spec these attributes describe, for an input of width `input_size`.
    pub fn layer_spec(&self, input_size: usize) -> Result<LayerSpec> {
        let cell = Cell::parse(&self.op)?;
        let direction = Direction::parse(&self.direction)?;
        if self.hidden_size == 0 {
            return Err(Error::invalid("hidden_size", "must be at least 1"));
        }
        let activations = resolve_activations(
            cell,
            direction.count(),
            &self.activations,
            &self.activation_alpha,
            &self.activation_beta,
        )?;
        let spec = LayerSpec {
            activations,
            clip: self.clip,
            input_forget: self.input_forget,
            linear_before_reset: self.linear_before_reset,
            ..LayerSpec::new(cell, direction, input_size, self.hidden_size)
        };
        spec.validate()?;
        Ok(spec)
    }
}

/// G·H rows of a layer of `hidden` units read from a file ([`Cell::gate_rows`]), or
/// [`Error::TooLarge`] where its tensors could not be counted.
fn gate_rows(cell: Cell, hidden: usize) -> Result<usize> {
    cell.gate_rows(hidden).ok_or_else(|| {
        Error::TooLarge(format!("{} gates of hidden_size {hidden} overflow a tensor's size", cell.gates()))
    })
}

/// A one-layer network from ONNX tensors `W [D, G*H, I]`, `R [D, G*H, H]`, optional
/// `B [D, 2*G*H]` and `P [D, 3*H]`.
pub fn onnx_layer(attrs: &OnnxAttributes, f: &TensorFile) -> Result<Network> {
    let w = f.float("W")?;
    if w.shape.len() != 3 {
        return Err(Error::shape("W", "[D, G*H, I]", format!("{:?}", w.shape)));
    }
    let spec = attrs.layer_spec(w.shape[2])?;
    let (d, h) = (spec.directions(), spec.hidden_size);
    let gh = gate_rows(spec.cell, h)?;
    w.expect_shape("W", &[d, gh, spec.input_size])?;
    let r = f.float("R")?;
    r.expect_shape("R", &[d, gh, h])?;
    let b = match f.float_opt("B")? {
        Some(b) => {
            b.expect_shape("B", &[d, 2 * gh])?;
            b.data.clone()
        }
        None => vec![0.0; d * 2 * gh],
    };
    let p = match f.float_opt("P")? {
        Some(p) => {
            if spec.cell != Cell::Lstm {
                return Err(Error::invalid("P", "peepholes exist only for LSTM"));
            }
            p.expect_shape("P", &[d, 3 * h])?;
            Some(p.data.clone())
        }
        None => None,
    };
    let net = Network {
        layers: vec![Layer { spec, weights: LayerWeights { w: w.data.clone(), r: r.data.clone(), b, p, proj: None } }],
        merge: MergeMode::Concat,
    };
    net.validate()?;
    Ok(net)
}

/// The configuration of a `torch.nn.RNN` / `GRU` / `LSTM` module.
#[derive(Debug, Clone, PartialEq)]
pub struct TorchConfig {
    pub cell: Cell,
    pub input_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub bidirectional: bool,
    /// LSTM `proj_size` (0: none).
    pub proj_size: usize,
    /// RNN `nonlinearity`: Tanh or Relu.
    pub relu: bool,
    pub merge_mode: MergeMode,
}

impl TorchConfig {
    /// Reads the configuration from a conformance file's metadata.
    pub fn from_metadata(f: &TensorFile) -> Result<Self> {
        let nl = f.metadata.get("nonlinearity").map(|s| s.trim()).unwrap_or("tanh");
        let relu = match nl {
            "tanh" | "" => false,
            "relu" => true,
            other => {
                return Err(Error::invalid("nonlinearity", format!("unknown nonlinearity `{other}` (tanh or relu)")));
            }
        };
        Ok(TorchConfig {
            cell: Cell::parse(f.meta("op")?)?,
            input_size: f.meta_usize("input_size")?,
            hidden_size: f.meta_usize("hidden_size")?,
            num_layers: f.meta_usize("num_layers")?,
            bidirectional: f.meta_bool("bidirectional", false)?,
            proj_size: match f.metadata.get("proj_size").map(|s| s.trim()) {
                None | Some("") => 0,
                Some(_) => f.meta_usize("proj_size")?,
            },
            relu,
            merge_mode: MergeMode::parse(f.metadata.get("merge_mode").map(|s| s.trim()).unwrap_or(""))?,
        })
    }
}

/// PyTorch gate blocks in ONNX order: the PyTorch block index for each ONNX block.
fn torch_gate_order(cell: Cell) -> &'static [usize] {
    match cell {
        Cell::Lstm => &[0, 3, 1, 2], // torch i,f,g,o -> onnx i,o,f,c
        Cell::Gru => &[1, 0, 2],     // torch r,z,n -> onnx z,r,h
        Cell::Rnn => &[0],
    }
}

/// Reorders `rows = G*h` blocks of `cols` columns from PyTorch into ONNX gate order.
fn reorder_gates(cell: Cell, data: &[f32], h: usize, cols: usize) -> Vec<f32> {
    let block = h * cols;
    torch_gate_order(cell).iter().flat_map(|&g| data[g * block..(g + 1) * block].iter().copied()).collect()
}

/// Reorders `G*h` rows of `cols` columns from ONNX gate order back into PyTorch's.
fn reorder_gates_to_torch(cell: Cell, data: &[f32], h: usize, cols: usize) -> Vec<f32> {
    let block = h * cols;
    let order = torch_gate_order(cell);
    (0..order.len())
        .flat_map(|tb| {
            let ob = order.iter().position(|&o| o == tb).expect("the order is a permutation");
            data[ob * block..(ob + 1) * block].iter().copied()
        })
        .collect()
}

/// The PyTorch `state_dict` tensors (`weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`,
/// `bias_hh_l{k}`, `weight_hr_l{k}`, suffix `_reverse`) of `weights`, which are `net`'s own
/// weights or anything of their shapes (their gradients), in ONNX layout. The inverse of
/// [`torch_network`] for networks PyTorch can express.
pub fn torch_state_dict(net: &Network, weights: &[LayerWeights]) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for (k, (layer, w)) in net.layers.iter().zip(weights).enumerate() {
        let s = &layer.spec;
        let (cell, h, o, kin) = (s.cell, s.hidden_size, s.output_size(), s.input_size);
        let gh = cell.gates() * h;
        for d in 0..s.directions() {
            let name = |base: &str| format!("{base}_l{k}{}", if d == 1 { "_reverse" } else { "" });
            let t = |shape: Vec<usize>, data: Vec<f32>| Tensor { shape, data };
            let bias = &w.b[d * 2 * gh..(d + 1) * 2 * gh];
            out.push((
                name("weight_ih"),
                t(vec![gh, kin], reorder_gates_to_torch(cell, &w.w[d * gh * kin..][..gh * kin], h, kin)),
            ));
            out.push((
                name("weight_hh"),
                t(vec![gh, o], reorder_gates_to_torch(cell, &w.r[d * gh * o..][..gh * o], h, o)),
            ));
            out.push((name("bias_ih"), t(vec![gh], reorder_gates_to_torch(cell, &bias[..gh], h, 1))));
            out.push((name("bias_hh"), t(vec![gh], reorder_gates_to_torch(cell, &bias[gh..], h, 1))));
            if let Some(p) = &w.proj {
                out.push((name("weight_hr"), t(vec![o, h], p[d * o * h..][..o * h].to_vec())));
            }
        }
    }
    out
}

/// A network from a PyTorch `state_dict` (`weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`,
/// `bias_hh_l{k}`, `weight_hr_l{k}`, suffix `_reverse`). Biases are optional (`bias=False`), but
/// a layer has both or neither. Any other `weight_*` / `bias_*` tensor is an error.
pub fn torch_network(cfg: &TorchConfig, f: &TensorFile) -> Result<Network> {
    if cfg.num_layers == 0 || cfg.hidden_size == 0 || cfg.input_size == 0 {
        return Err(Error::invalid("config", "input_size, hidden_size and num_layers must be at least 1"));
    }
    let (cell, h) = (cfg.cell, cfg.hidden_size);
    let direction = if cfg.bidirectional { Direction::Bidirectional } else { Direction::Forward };
    // the layers' rules (a projection only on LSTM, below hidden_size), before any tensor is
    // shaped by them
    let mut first = LayerSpec::new(cell, direction, cfg.input_size, h);
    first.proj_size = cfg.proj_size;
    first.validate()?;
    let gh = gate_rows(cell, h)?;
    let d = if cfg.bidirectional { 2 } else { 1 };
    let out = if cfg.proj_size > 0 { cfg.proj_size } else { h };
    let merged = if cfg.merge_mode == MergeMode::Concat { d * out } else { out };
    let mut used = HashSet::new();
    let mut layers = Vec::new();
    for k in 0..cfg.num_layers {
        let input = if k == 0 { cfg.input_size } else { merged };
        let mut wts = LayerWeights { w: vec![], r: vec![], b: vec![], p: None, proj: None };
        let mut proj = Vec::new();
        for dir in 0..d {
            let sfx = format!("_l{k}{}", if dir == 1 { "_reverse" } else { "" });
            let name = |base: &str| format!("{base}{sfx}");
            let wih = f.float(&name("weight_ih"))?;
            wih.expect_shape(&name("weight_ih"), &[gh, input])?;
            let whh = f.float(&name("weight_hh"))?;
            whh.expect_shape(&name("weight_hh"), &[gh, out])?;
            wts.w.extend(reorder_gates(cell, &wih.data, h, input));
            wts.r.extend(reorder_gates(cell, &whh.data, h, out));
            let (bih, bhh) = (f.float_opt(&name("bias_ih"))?, f.float_opt(&name("bias_hh"))?);
            match (bih, bhh) {
                (Some(bi), Some(bh)) => {
                    bi.expect_shape(&name("bias_ih"), &[gh])?;
                    bh.expect_shape(&name("bias_hh"), &[gh])?;
                    wts.b.extend(reorder_gates(cell, &bi.data, h, 1));
                    wts.b.extend(reorder_gates(cell, &bh.data, h, 1));
                }
                (None, None) => wts.b.extend(std::iter::repeat_n(0.0, 2 * gh)),
                _ => return Err(Error::MissingTensor(format!("bias_ih{sfx} and bias_hh{sfx} come together"))),
            }
            if cfg.proj_size > 0 {
                let whr = f.float(&name("weight_hr"))?;
                whr.expect_shape(&name("weight_hr"), &[cfg.proj_size, h])?;
                proj.extend_from_slice(&whr.data);
            }
            for base in ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"] {
                used.insert(name(base));
            }
        }
        if cfg.proj_size > 0 {
            wts.proj = Some(proj);
        }
        let mut spec = LayerSpec::new(cell, direction, input, h);
        spec.proj_size = cfg.proj_size;
        spec.linear_before_reset = cell == Cell::Gru;
        if cell == Cell::Rnn && cfg.relu {
            spec.activations = vec![vec![Activation::with_defaults(ActivationKind::Relu)]; d];
        }
        layers.push(Layer { spec, weights: wts });
    }
    if let Some(extra) =
        f.floats.keys().filter(|n| (n.starts_with("weight_") || n.starts_with("bias_")) && !used.contains(*n)).min()
    {
        return Err(Error::invalid("state_dict", format!("unexpected tensor `{extra}` for this configuration")));
    }
    let net = Network { layers, merge: cfg.merge_mode };
    net.validate()?;
    Ok(net)
}
