//! ONNX model files (`.onnx`): the recurrent stack a graph holds, as a [`Network`].
//!
//! Decoded with `prost` from the few messages of `onnx.proto` the importer reads
//! ([`proto`]; field numbers as in onnx/onnx's `onnx.proto`). A graph is accepted when it is
//! what `torch.onnx.export` makes of an `nn.RNN`, `nn.GRU` or `nn.LSTM`: its `RNN`, `GRU` or
//! `LSTM` nodes in order, each reading the one before through the exporter's glue
//! (`Transpose`/`Reshape` that concatenate the directions, `Squeeze`), their weights as
//! initializers or constants, initial states that are zero, absent, or slices of graph inputs
//! `h0`/`c0` (one slice per layer, as the exporter writes them), and the outputs `y` (time-major,
//! or batch-first when the graph transposes its input), `h_n` and `c_n` concatenated over the
//! layers. Anything else is an error naming the first node it cannot take and its op type.

use std::collections::HashMap;

use prost::Message;

use crate::error::{Error, Result};
use crate::import::{OnnxAttributes, onnx_layer};
use crate::network::Network;
use crate::spec::MergeMode;
use crate::tensor::{Tensor, TensorFile};

/// The messages of `onnx.proto` the importer reads (a subset; unknown fields are skipped).
/// Keep in sync with the field numbers of onnx/onnx's `onnx/onnx.proto`.
pub mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelProto {
        #[prost(int64, tag = "1")]
        pub ir_version: i64,
        #[prost(string, tag = "2")]
        pub producer_name: String,
        #[prost(message, optional, tag = "7")]
        pub graph: Option<GraphProto>,
        #[prost(message, repeated, tag = "8")]
        pub opset_import: Vec<OperatorSetIdProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OperatorSetIdProto {
        #[prost(string, tag = "1")]
        pub domain: String,
        #[prost(int64, tag = "2")]
        pub version: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<NodeProto>,
        #[prost(string, tag = "2")]
        pub name: String,
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<TensorProto>,
        #[prost(message, repeated, tag = "11")]
        pub input: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "12")]
        pub output: Vec<ValueInfoProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NodeProto {
        #[prost(string, repeated, tag = "1")]
        pub input: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub output: Vec<String>,
        #[prost(string, tag = "3")]
        pub name: String,
        #[prost(string, tag = "4")]
        pub op_type: String,
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<AttributeProto>,
        #[prost(string, tag = "7")]
        pub domain: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttributeProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(float, tag = "2")]
        pub f: f32,
        #[prost(int64, tag = "3")]
        pub i: i64,
        #[prost(bytes = "vec", tag = "4")]
        pub s: Vec<u8>,
        #[prost(message, optional, tag = "5")]
        pub t: Option<TensorProto>,
        #[prost(float, repeated, tag = "7")]
        pub floats: Vec<f32>,
        #[prost(int64, repeated, tag = "8")]
        pub ints: Vec<i64>,
        #[prost(bytes = "vec", repeated, tag = "9")]
        pub strings: Vec<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorProto {
        #[prost(int64, repeated, tag = "1")]
        pub dims: Vec<i64>,
        #[prost(int32, tag = "2")]
        pub data_type: i32,
        #[prost(float, repeated, tag = "4")]
        pub float_data: Vec<f32>,
        #[prost(int32, repeated, tag = "5")]
        pub int32_data: Vec<i32>,
        #[prost(int64, repeated, tag = "7")]
        pub int64_data: Vec<i64>,
        #[prost(string, tag = "8")]
        pub name: String,
        #[prost(bytes = "vec", tag = "9")]
        pub raw_data: Vec<u8>,
        #[prost(double, repeated, tag = "10")]
        pub double_data: Vec<f64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueInfoProto {
        #[prost(string, tag = "1")]
        pub name: String,
    }
}

use proto::{NodeProto, TensorProto};

/// `TensorProto.data_type` values the importer reads.
const FLOAT: i32 = 1;
const INT32: i32 = 6;
const INT64: i32 = 7;
const DOUBLE: i32 = 11;

/// Ops the exporters put around recurrent nodes: shape arithmetic, zero initial states, the
/// concatenation of directions and layers, and a merge of directions written by hand (`Add`,
/// `Mul`, `Div`: only as `Graph::halves_merge` reads them).
const GLUE: [&str; 16] = [
    "Transpose",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Concat",
    "Shape",
    "Gather",
    "Constant",
    "ConstantOfShape",
    "Expand",
    "Slice",
    "Identity",
    "Cast",
    "Add",
    "Mul",
    "Div",
];

/// How the graph's `y` output is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputLayout {
    /// `[T, B, D*H]` (PyTorch's `output`), or `[B, T, D*H]` when `batch_first`.
    Merged,
    /// ONNX's raw `Y` of a single node: `[T, D, B, H]`, or `[B, T, D, H]` for `layout = 1`.
    OnnxY,
}

/// A `.onnx` recurrent model: the network and how the graph's inputs and outputs map onto it.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxModel {
    pub network: Network,
    /// The graph input that carries x.
    pub input: String,
    /// Whether x (and y) are batch-major (`[B, T, I]`): the graph transposes its input, or
    /// its one node has `layout = 1`.
    pub batch_first: bool,
    /// The nodes' ONNX `layout`: 0, or 1 for a graph of one node whose X, Y and states are
    /// batch-major (`[B, T, I]`, `[B, T, D, H]`, `[B, D, H]`).
    pub layout: i64,
    /// The graph input that gives the nodes' `sequence_lens [B]`, when they take one.
    pub lengths: Option<String>,
    /// Graph inputs that give the initial states `h0 [L*D, B, H_out]` and `c0 [L*D, B, H]`
    /// (each layer reading its slice; `[B, D, H]` for `layout = 1`), when the graph has them;
    /// else the states start at zero.
    pub h0: Option<String>,
    pub c0: Option<String>,
    /// Graph outputs: y (and its layout), h_n and c_n (`[L*D, B, H]`), those the graph has.
    pub y: Option<(String, OutputLayout)>,
    pub h_n: Option<String>,
    pub c_n: Option<String>,
    /// What made the file (`producer_name`) and its default-domain opset.
    pub producer: String,
    pub opset: i64,
}

impl OnnxModel {
    /// Reads and imports a `.onnx` file.
    pub fn load(path: &std::path::Path) -> Result<OnnxModel> {
        crate::error::parse_file(path, Self::parse)
    }

    /// Imports a model from the bytes of a `.onnx` file.
    pub fn parse(bytes: &[u8]) -> Result<OnnxModel> {
        let model = proto::ModelProto::decode(bytes)
            .map_err(|e| Error::File { path: "<bytes>".into(), why: format!("not an ONNX model: {e}") })?;
        let graph = model.graph.as_ref().ok_or_else(|| Error::invalid("onnx", "the model has no graph"))?;
        let opset =
            model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(0, |o| o.version);
        Graph::new(graph)?.import(model.producer_name.clone(), opset)
    }
}

impl OnnxModel {
    /// The inputs of a forward call from tensors named as the graph names them: x under
    /// [`Self::input`] (`[T, B, I]`, or `[B, T, I]` when batch-first; the file's only float
    /// tensor also serves), the initial states when the graph takes them, and the lengths
    /// `[B]` (integers) under [`Self::lengths`] when the graph takes them, else optionally as
    /// `lengths`.
    pub fn inputs(&self, f: &TensorFile) -> Result<crate::network::Inputs> {
        let x = match f.float_opt(&self.input)? {
            Some(x) => x,
            None if f.floats.len() == 1 => f.floats.values().next().expect("one tensor"),
            None => return Err(Error::MissingTensor(self.input.clone())),
        };
        let i = self.network.input_size();
        let layout = if self.batch_first { "[B, T, I]" } else { "[T, B, I]" };
        if x.shape.len() != 3 || x.shape[2] != i || x.shape[0] == 0 || x.shape[1] == 0 {
            return Err(Error::shape(&self.input, layout.replace('I', &i.to_string()), format!("{:?}", x.shape)));
        }
        let (t, b) = if self.batch_first { (x.shape[1], x.shape[0]) } else { (x.shape[0], x.shape[1]) };
        let data = if self.batch_first { crate::case::swap01(&x.data, b, t, i) } else { x.data.clone() };
        let lengths = match &self.lengths {
            Some(name) => Some(f.ints_opt(name, b)?.ok_or_else(|| Error::MissingTensor(name.clone()))?),
            None => f.ints_opt("lengths", b)?,
        };
        let lengths = lengths.map(|v| v.into_iter().map(|l| usize::try_from(l).unwrap_or(usize::MAX)).collect());
        let net = &self.network;
        let rows = net.layers.len() * net.directions();
        let state = |name: &Option<String>, width: usize| -> Result<Option<Vec<f32>>> {
            let Some(n) = name else { return Ok(None) };
            let s = f.float(n)?;
            let want = if self.layout == 1 { [b, rows, width] } else { [rows, b, width] };
            if s.shape != want {
                let dims = if self.layout == 1 { "[B, D, H]" } else { "[L*D, B, H]" };
                return Err(Error::shape(n, format!("{dims} = {want:?}"), format!("{:?}", s.shape)));
            }
            // the engine's states are [L*D, B, H]
            Ok(Some(if self.layout == 1 { crate::case::swap01(&s.data, b, rows, width) } else { s.data.clone() }))
        };
        let (h0, c0) = (state(&self.h0, net.output_size())?, state(&self.c0, net.layers[0].spec.hidden_size)?);
        let inp = crate::network::Inputs { x: data, steps: t, batch: b, lengths, h0, c0 };
        self.network.validate_inputs(&inp)?;
        Ok(inp)
    }

    /// A forward call's outputs under the graph's output names and in its layouts: y as the
    /// graph gives it (batch-first when the input is), `h_n`, `c_n` `[L*D, B, H]`.
    pub fn outputs(&self, out: &crate::network::Outputs, t: usize, b: usize) -> TensorFile {
        let net = &self.network;
        let (d, h, ld) = (net.directions(), net.output_size(), net.layers.len() * net.directions());
        let mut f = TensorFile::default();
        if let Some((name, layout)) = &self.y {
            let w = net.merged_width();
            let tensor = match layout {
                OutputLayout::Merged if self.batch_first => {
                    Tensor { shape: vec![b, t, w], data: crate::case::swap01(&out.y, t, b, w) }
                }
                OutputLayout::Merged => Tensor { shape: vec![t, b, w], data: out.y.clone() },
                // [T, B, D, H] -> [B, T, D, H]
                OutputLayout::OnnxY if self.layout == 1 => {
                    Tensor { shape: vec![b, t, d, h], data: crate::case::swap01(&out.y, t, b, d * h) }
                }
                OutputLayout::OnnxY => {
                    // [T, B, D, H] -> [T, D, B, H]
                    let mut y = vec![0.0; out.y.len()];
                    for s in 0..t {
                        y[s * b * d * h..][..b * d * h].copy_from_slice(&crate::case::swap01(
                            &out.y[s * b * d * h..][..b * d * h],
                            b,
                            d,
                            h,
                        ));
                    }
                    Tensor { shape: vec![t, d, b, h], data: y }
                }
            };
            f.floats.insert(name.clone(), tensor);
        }
        // [L*D, B, H], or [B, D, H] for layout 1
        let state = |data: &[f32], width: usize| match self.layout {
            1 => Tensor { shape: vec![b, ld, width], data: crate::case::swap01(data, ld, b, width) },
            _ => Tensor { shape: vec![ld, b, width], data: data.to_vec() },
        };
        if let Some(name) = &self.h_n {
            f.floats.insert(name.clone(), state(&out.h_n, h));
        }
        if let (Some(name), Some(c)) = (&self.c_n, &out.c_n) {
            f.floats.insert(name.clone(), state(c, net.layers[0].spec.hidden_size));
        }
        f.metadata.insert("source".into(), format!("wgpu-rnn {}", env!("CARGO_PKG_VERSION")));
        f
    }
}

/// A graph's nodes by what they produce, and its constants.
struct Graph<'a> {
    g: &'a proto::GraphProto,
    producer: HashMap<&'a str, usize>,
    constants: HashMap<&'a str, &'a TensorProto>,
}

impl<'a> Graph<'a> {
    fn new(g: &'a proto::GraphProto) -> Result<Graph<'a>> {
        let mut producer = HashMap::new();
        let mut constants: HashMap<&str, &TensorProto> = g.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
        for (i, n) in g.node.iter().enumerate() {
            let recurrent = matches!(n.op_type.as_str(), "RNN" | "GRU" | "LSTM");
            if !(n.domain.is_empty() || n.domain == "ai.onnx") || !(recurrent || GLUE.contains(&n.op_type.as_str())) {
                return Err(Error::invalid(
                    "onnx",
                    format!(
                        "node `{}` ({}{}) is not supported: a model file may hold RNN, GRU and LSTM nodes and the \
                         exporters' glue between them ({})",
                        n.name,
                        if n.domain.is_empty() { String::new() } else { format!("{}.", n.domain) },
                        n.op_type,
                        GLUE.join(", ")
                    ),
                ));
            }
            for o in &n.output {
                producer.insert(o.as_str(), i);
            }
            if n.op_type == "Constant" {
                if let (Some(out), Some(t)) = (n.output.first(), n.attribute.iter().find(|a| a.name == "value")) {
                    if let Some(t) = &t.t {
                        constants.insert(out.as_str(), t);
                    }
                }
            }
        }
        Ok(Graph { g, producer, constants })
    }

    fn node_of(&self, value: &str) -> Option<&'a NodeProto> {
        self.producer.get(value).map(|&i| &self.g.node[i])
    }

    fn is_graph_input(&self, value: &str) -> bool {
        self.g.input.iter().any(|i| i.name == value) && !self.constants.contains_key(value)
    }

    fn import(&self, producer: String, opset: i64) -> Result<OnnxModel> {
        let recurrent: Vec<&NodeProto> =
            self.g.node.iter().filter(|n| matches!(n.op_type.as_str(), "RNN" | "GRU" | "LSTM")).collect();
        if recurrent.is_empty() {
            return Err(Error::invalid("onnx", "the graph has no RNN, GRU or LSTM node"));
        }
        // every Add, Mul and Div is a merge of a bidirectional output's halves
        for n in self.g.node.iter().filter(|n| matches!(n.op_type.as_str(), "Add" | "Mul" | "Div")) {
            self.halves_merge(n)?;
        }
        let mut layers = Vec::new();
        let mut states: [Vec<Option<String>>; 2] = [vec![], vec![]];
        let mut lengths = Vec::new();
        // how each bidirectional node's directions reach what reads them: (node, merge)
        let mut merges: Vec<(&str, MergeMode)> = Vec::new();
        let mut widths = Vec::new();
        let layout = Self::layout(recurrent[0])?;
        for (k, n) in recurrent.iter().enumerate() {
            if Self::layout(n)? != layout || (layout == 1 && recurrent.len() > 1) {
                return Err(Error::invalid(
                    "onnx",
                    format!(
                        "node `{}`: layout 1 is supported for a graph of one node, not in a stack of {}",
                        n.name,
                        recurrent.len()
                    ),
                ));
            }
            lengths.push(self.sequence_lens(n)?);
            let layer = self.layer(n)?;
            let d = layer.directions();
            widths.push((d, layer.output_size()));
            for (i, s) in states.iter_mut().enumerate() {
                s.push(self.initial_state(n, 5 + i, k * d, d)?);
            }
            layers.extend(layer.layers);
            if k > 0 {
                // layer k reads layer k-1's y, its directions concatenated
                let x = n.input.first().map(String::as_str).unwrap_or("");
                if !self.derives_from(x, &recurrent[k - 1].output[0]) {
                    return Err(Error::invalid(
                        "onnx",
                        format!("node `{}` does not read the output of `{}` before it", n.name, recurrent[k - 1].name),
                    ));
                }
                let merge = self.merge_between(x, recurrent[k - 1], widths[k - 1])?;
                merges.push((&recurrent[k - 1].name, merge));
            }
        }
        // every layer's initial state from one graph input, or none from any
        let [h0, c0] = states.map(|s| {
            let first = s[0].clone();
            if s.iter().all(|x| *x == first) {
                Ok(first)
            } else {
                Err(Error::invalid(
                    "onnx",
                    format!("the layers' initial states come from different places (graph inputs {s:?}; None: zeros)"),
                ))
            }
        });
        let (h0, c0) = (h0?, c0?);
        if lengths.iter().any(|l| *l != lengths[0]) {
            return Err(Error::invalid(
                "onnx",
                format!("the nodes read sequence_lens from different graph inputs ({lengths:?}; None: full length)"),
            ));
        }
        let lengths = lengths.swap_remove(0);
        let (input, batch_first) = self.graph_input(recurrent[0], layout)?;
        let last = recurrent[recurrent.len() - 1];
        let mut out = OnnxModel {
            network: Network { layers, merge: MergeMode::Concat },
            input,
            batch_first,
            layout,
            lengths,
            h0,
            c0,
            y: None,
            h_n: None,
            c_n: None,
            producer,
            opset,
        };
        for o in &self.g.output {
            let name = o.name.clone();
            if last.output.first() == Some(&name) {
                out.y = Some((name, OutputLayout::OnnxY));
            } else if self.derives_from(&name, &last.output[0]) {
                out.y = Some((name, OutputLayout::Merged));
            } else if recurrent.iter().all(|r| r.output.get(1).is_some_and(|h| self.derives_from(&name, h))) {
                out.h_n = Some(name);
            } else if recurrent.iter().all(|r| r.output.get(2).is_some_and(|c| self.derives_from(&name, c))) {
                out.c_n = Some(name);
            } else {
                return Err(Error::invalid(
                    "onnx",
                    format!("graph output `{name}` is none of y, h_n and c_n of the recurrent stack"),
                ));
            }
        }
        if let Some((name, OutputLayout::Merged)) = &out.y {
            merges.push((&last.name, self.merge_between(name, last, widths[widths.len() - 1])?));
        }
        // one network merges every bidirectional layer's directions one way
        let bidirectional: Vec<_> = merges.iter().zip(&widths).filter(|(_, (d, _))| *d == 2).map(|(m, _)| *m).collect();
        if let Some(&(_, merge)) = bidirectional.first() {
            if let Some((node, other)) = bidirectional.iter().find(|(_, m)| *m != merge) {
                return Err(Error::invalid(
                    "onnx",
                    format!(
                        "the directions of `{}` are merged by {merge:?} and those of `{node}` by {other:?}; a \
                         network merges every layer's directions one way",
                        bidirectional[0].0
                    ),
                ));
            }
            out.network.merge = merge;
        }
        out.network.validate()?;
        Ok(out)
    }

    /// How the directions of `source` (`(directions, H)`) are merged on the way to `value`:
    /// by a merge of its output's halves (`halves_merge`) on the path, or else concatenated.
    fn merge_between(&self, value: &str, source: &NodeProto, (d, h): (usize, usize)) -> Result<MergeMode> {
        let mut todo = vec![value];
        let mut found: Option<(&NodeProto, MergeMode)> = None;
        let mut seen = 0;
        while let Some(v) = todo.pop() {
            seen += 1;
            if seen > 10_000 || v == source.output[0] {
                continue;
            }
            let Some(n) = self.node_of(v).filter(|n| !matches!(n.op_type.as_str(), "RNN" | "GRU" | "LSTM")) else {
                continue;
            };
            if matches!(n.op_type.as_str(), "Add" | "Mul" | "Div") {
                let (merge, width, data) = self.halves_merge(n)?;
                if self.derives_from(data, &source.output[0]) {
                    if d != 2 || width != h {
                        return Err(Error::invalid(
                            "onnx",
                            format!(
                                "node `{}` merges halves of width {width} of `{}`, which has {d} direction(s) of {h}",
                                n.name, source.name
                            ),
                        ));
                    }
                    // the outermost merge names the mode (a Div by 2 after the Add: average)
                    if found.is_none_or(|(f, _)| f.op_type != "Div") {
                        found = Some((n, merge));
                    }
                    continue;
                }
            }
            todo.extend(n.input.iter().map(String::as_str).filter(|s| !s.is_empty()));
        }
        Ok(found.map_or(MergeMode::Concat, |(_, m)| m))
    }

    /// A merge of a bidirectional output's two halves as a model writes it by hand and
    /// `torch.onnx.export` records it (`out[..., :H] + out[..., H:]`): `Slice`s `[0, H)` and
    /// `[H, end)` of the last axis of one tensor, then `Add` (sum), `Mul` (product), or `Add`
    /// and a `Div` by 2 (average). Returns the merge, H and the tensor sliced; anything else is an
    /// error naming the node.
    fn halves_merge(&self, n: &NodeProto) -> Result<(MergeMode, usize, &str)> {
        let bad = || {
            Error::invalid(
                "onnx",
                format!(
                    "node `{}` ({}) is not a merge of a bidirectional output's two halves (`Slice`s [0, H) and \
                     [H, 2H) of its last axis, then Add, Mul, or Add and a Div by 2), the only {} a model file may \
                     hold",
                    n.name, n.op_type, n.op_type
                ),
            )
        };
        let input = |i: usize| n.input.get(i).map(String::as_str).filter(|s| !s.is_empty()).ok_or_else(bad);
        if n.op_type == "Div" {
            let two = self.constants.get(input(1)?).and_then(|t| floats(t, "divisor").ok());
            let sum = self.node_of(input(0)?).filter(|a| a.op_type == "Add").ok_or_else(bad)?;
            if two.is_none_or(|t| t.data != [2.0]) {
                return Err(bad());
            }
            let (_, h, data) = self.halves_merge(sum)?;
            return Ok((MergeMode::Average, h, data));
        }
        let merge = match n.op_type.as_str() {
            "Add" => MergeMode::Sum,
            "Mul" => MergeMode::Mul,
            _ => return Err(bad()),
        };
        // each input: (data, start, end) of a Slice along the last axis of a 3-d tensor
        let half = |v: &str| -> Option<(&str, i64, i64)> {
            let s = self.node_of(v).filter(|s| s.op_type == "Slice")?;
            let one = |k: usize| -> Option<i64> {
                match self.ints(s.input.get(k)?)?.as_slice() {
                    [x] => Some(*x),
                    _ => None,
                }
            };
            let steps_ok = s.input.get(4).is_none_or(|v| v.is_empty() || one(4) == Some(1));
            let axis = one(3)?;
            ((axis == 2 || axis == -1) && steps_ok).then_some((s.input.first()?.as_str(), one(1)?, one(2)?))
        };
        let (a, b) = (half(input(0)?).ok_or_else(bad)?, half(input(1)?).ok_or_else(bad)?);
        let (first, second) = if a.1 == 0 { (a, b) } else { (b, a) };
        let h = first.2;
        if first.0 != second.0 || first.1 != 0 || h <= 0 || second.1 != h || second.2 < 2 * h {
            return Err(bad());
        }
        Ok((merge, h as usize, first.0))
    }

    /// An integer constant's values (an initializer's or a `Constant` node's).
    fn ints(&self, value: &str) -> Option<Vec<i64>> {
        let t = self.constants.get(value)?;
        Some(match t.data_type {
            INT64 if t.raw_data.is_empty() => t.int64_data.clone(),
            INT64 => t.raw_data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect(),
            INT32 if t.raw_data.is_empty() => t.int32_data.iter().map(|&x| i64::from(x)).collect(),
            INT32 => t
                .raw_data
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))))
                .collect(),
            _ => return None,
        })
    }

    /// Whether `value` is computed from `source` (through any nodes).
    fn derives_from(&self, value: &str, source: &str) -> bool {
        let mut todo = vec![value];
        let mut seen = 0;
        while let Some(v) = todo.pop() {
            if v == source {
                return true;
            }
            seen += 1;
            if seen > 10_000 {
                return false;
            }
            if let Some(n) = self.node_of(v) {
                if !matches!(n.op_type.as_str(), "RNN" | "GRU" | "LSTM") {
                    todo.extend(n.input.iter().map(String::as_str).filter(|s| !s.is_empty()));
                }
            }
        }
        false
    }

    /// The graph input x comes from, and whether it is batch-major: the node has `layout = 1`,
    /// or the graph transposes x from batch-major.
    fn graph_input(&self, first: &NodeProto, layout: i64) -> Result<(String, bool)> {
        let x = first.input.first().cloned().unwrap_or_default();
        if self.is_graph_input(&x) {
            return Ok((x, layout == 1));
        }
        if let Some(n) = self.node_of(&x).filter(|_| layout == 0) {
            let perm = n.attribute.iter().find(|a| a.name == "perm").map(|a| a.ints.clone());
            if n.op_type == "Transpose" && perm.as_deref() == Some(&[1, 0, 2]) {
                if let Some(src) = n.input.first().filter(|s| self.is_graph_input(s)) {
                    return Ok((src.clone(), true));
                }
            }
        }
        Err(Error::invalid(
            "onnx",
            format!("node `{}` reads `{x}`, neither a graph input nor one transposed from batch-first", first.name),
        ))
    }

    /// One recurrent node as a one-layer network (its weights from constants; its initial
    /// states zero or absent).
    fn layer(&self, n: &NodeProto) -> Result<Network> {
        let attr = |name: &str| n.attribute.iter().find(|a| a.name == name);
        let strings = |name: &str| -> Vec<String> {
            attr(name).map_or(vec![], |a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
        };
        let attrs = OnnxAttributes {
            op: n.op_type.clone(),
            direction: attr("direction").map_or("forward".into(), |a| String::from_utf8_lossy(&a.s).into_owned()),
            hidden_size: attr("hidden_size")
                .map(|a| a.i)
                .filter(|&h| h > 0)
                .ok_or_else(|| Error::invalid("onnx", format!("node `{}` has no hidden_size", n.name)))?
                as usize,
            activations: strings("activations"),
            activation_alpha: attr("activation_alpha").map_or(vec![], |a| a.floats.clone()),
            activation_beta: attr("activation_beta").map_or(vec![], |a| a.floats.clone()),
            clip: attr("clip").map(|a| a.f),
            input_forget: attr("input_forget").is_some_and(|a| a.i != 0),
            linear_before_reset: attr("linear_before_reset").is_some_and(|a| a.i != 0),
        };
        let input = |i: usize| n.input.get(i).map(String::as_str).filter(|s| !s.is_empty());
        let mut f = TensorFile::default();
        for (i, name) in [(1, "W"), (2, "R"), (3, "B"), (7, "P")] {
            if let Some(v) = input(i) {
                let t = self.constants.get(v).ok_or_else(|| {
                    Error::invalid(
                        "onnx",
                        format!("node `{}`: {name} (`{v}`) is not an initializer or constant", n.name),
                    )
                })?;
                f.floats.insert(name.to_string(), floats(t, &format!("{} {name}", n.name))?);
            }
        }
        onnx_layer(&attrs, &f).map_err(|e| Error::invalid("onnx", format!("node `{}`: {e}", n.name)))
    }

    /// Node `n`'s `layout` attribute: 0 (time-major, the default) or 1 (batch-major).
    fn layout(n: &NodeProto) -> Result<i64> {
        match n.attribute.iter().find(|a| a.name == "layout").map_or(0, |a| a.i) {
            l @ (0 | 1) => Ok(l),
            l => Err(Error::invalid("onnx", format!("node `{}`: layout {l} is neither 0 nor 1", n.name))),
        }
    }

    /// The graph input node `n` reads its `sequence_lens` from, or `None` when it has none.
    fn sequence_lens(&self, n: &NodeProto) -> Result<Option<String>> {
        match n.input.get(4).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(v) if self.is_graph_input(v) => Ok(Some(v.clone())),
            Some(v) => Err(Error::invalid(
                "onnx",
                format!(
                    "node `{}`: sequence_lens (`{v}`) is not a graph input (computed or constant lengths are not \
                     supported)",
                    n.name
                ),
            )),
        }
    }

    /// Where node `n`'s initial state (input `i`: 5 `initial_h`, 6 `initial_c`) comes from:
    /// `None` when absent or zero, else the graph input whose rows `[row, row + d)` (this
    /// layer's directions) it is, as `torch.onnx.export` slices `h0` and `c0`.
    fn initial_state(&self, n: &NodeProto, i: usize, row: usize, d: usize) -> Result<Option<String>> {
        let name = if i == 5 { "initial_h" } else { "initial_c" };
        let Some(v) = n.input.get(i).filter(|s| !s.is_empty()) else { return Ok(None) };
        if self.is_zero(v) {
            return Ok(None);
        }
        let bad = || {
            Error::invalid(
                "onnx",
                format!(
                    "node `{}`: {name} (`{v}`) is neither zero nor rows {row}..{} of a graph input",
                    n.name,
                    row + d
                ),
            )
        };
        if self.is_graph_input(v) {
            return if row == 0 { Ok(Some(v.clone())) } else { Err(bad()) };
        }
        let slice = self.node_of(v).filter(|s| s.op_type == "Slice").ok_or_else(bad)?;
        let source = slice.input.first().filter(|s| self.is_graph_input(s)).ok_or_else(bad)?;
        let ints = |k: usize| self.ints(slice.input.get(k)?);
        let (starts, ends) = (ints(1).ok_or_else(bad)?, ints(2).ok_or_else(bad)?);
        let axes = ints(3).unwrap_or_else(|| vec![0]);
        let steps_ok = slice.input.get(4).is_none_or(|s| s.is_empty() || ints(4).is_some_and(|v| v == [1]));
        if starts == [row as i64] && ends == [(row + d) as i64] && axes == [0] && steps_ok {
            Ok(Some(source.clone()))
        } else {
            Err(bad())
        }
    }

    /// Whether `value` is all zeros: a zero constant, `ConstantOfShape` of zero, or an
    /// `Expand` (or `Identity`, `Cast`) of such.
    fn is_zero(&self, value: &str) -> bool {
        if let Some(t) = self.constants.get(value) {
            return floats(t, value).is_ok_and(|t| t.data.iter().all(|&x| x == 0.0));
        }
        match self.node_of(value) {
            Some(n) if n.op_type == "ConstantOfShape" => n
                .attribute
                .iter()
                .find(|a| a.name == "value")
                .and_then(|a| a.t.as_ref())
                .is_none_or(|t| floats(t, value).is_ok_and(|t| t.data.iter().all(|&x| x == 0.0))),
            Some(n) if matches!(n.op_type.as_str(), "Expand" | "Identity" | "Cast") => {
                n.input.first().is_some_and(|v| self.is_zero(v))
            }
            _ => false,
        }
    }
}

/// A float tensor's values, checked against its dims before anything is allocated.
fn floats(t: &TensorProto, what: &str) -> Result<Tensor> {
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| Error::invalid("onnx", format!("{what}: dimension {d}"))))
        .collect::<Result<_>>()?;
    let count = crate::tensor::elements(&shape)
        .ok_or_else(|| Error::invalid("onnx", format!("{what}: dims {:?} overflow", t.dims)))?;
    let wrong = |have: usize| Error::shape(what, format!("{count} values for dims {:?}", t.dims), format!("{have}"));
    let data: Vec<f32> = match t.data_type {
        FLOAT if !t.raw_data.is_empty() => {
            if t.raw_data.len() != count.saturating_mul(4) {
                return Err(wrong(t.raw_data.len() / 4));
            }
            t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        }
        FLOAT => t.float_data.clone(),
        DOUBLE if !t.raw_data.is_empty() => {
            if t.raw_data.len() != count.saturating_mul(8) {
                return Err(wrong(t.raw_data.len() / 8));
            }
            t.raw_data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect()
        }
        DOUBLE => t.double_data.iter().map(|&x| x as f32).collect(),
        INT32 => t.int32_data.iter().map(|&x| x as f32).collect(),
        INT64 if t.raw_data.is_empty() => t.int64_data.iter().map(|&x| x as f32).collect(),
        other => {
            return Err(Error::DType {
                name: what.to_string(),
                dtype: format!("ONNX data type {other}"),
                expected: "FLOAT or DOUBLE".into(),
            });
        }
    };
    if data.len() != count {
        return Err(wrong(data.len()));
    }
    Ok(Tensor { shape, data })
}
