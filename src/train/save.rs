//! Saving and loading a [`TrainModel`] and its optimizer state as safetensors under PyTorch's
//! `state_dict` names: `embedding.weight`, `rnn.weight_ih_l0`, ..., `head.weight`,
//! `head.bias` (children called `embedding`, `rnn`, `head`), so a model trained here loads into
//! `torch.nn.Embedding` + `torch.nn.LSTM`/`GRU`/`RNN` + `torch.nn.Linear`, and back. The
//! optimizer's moments go under `optimizer.<name>.exp_avg`, `.exp_avg_sq` (Adam, AdamW) or
//! `.momentum_buffer` (SGD), the names `torch.optim` keeps them under, in the same layout as
//! their parameter; the step count and the model's configuration are metadata. A
//! sequence-to-sequence model's encoder goes under `encoder.embedding.weight`,
//! `encoder.rnn.*`, its input size and vocabulary under the metadata `encoder_input_size`,
//! `encoder_vocab`.

use std::collections::HashMap;
use std::path::Path;

use super::model::{Embedding, Encoder, HeadMode, Linear, TrainModel};
use super::optim::OptimizerState;
use crate::error::{Error, Result};
use crate::import::{TorchConfig, torch_network};
use crate::network::{LayerWeights, Network};
use crate::spec::{Cell, MergeMode};
use crate::tensor::{Tensor, TensorFile};

/// `metadata["format"]` of a saved model.
pub const MODEL_FORMAT: &str = "wgpu-rnn-model";

/// The PyTorch configuration of `net`, if PyTorch's modules express it exactly (default
/// activations, RNN tanh or relu, no clip, no input_forget, no peepholes, GRU with
/// linear_before_reset, directions concatenated); else an error naming what they cannot hold.
pub fn torch_config(net: &Network) -> Result<TorchConfig> {
    net.validate()?;
    let first = &net.layers[0].spec;
    let relu = first.cell == Cell::Rnn
        && first.activations.first().and_then(|a| a.first()).is_some_and(|a| a.kind == crate::ActivationKind::Relu);
    let cfg = TorchConfig {
        cell: first.cell,
        input_size: first.input_size,
        hidden_size: first.hidden_size,
        num_layers: net.layers.len(),
        bidirectional: first.directions() == 2,
        proj_size: first.proj_size,
        relu,
        merge_mode: net.merge,
    };
    if net.merge != MergeMode::Concat && net.layers.len() > 1 {
        return Err(Error::invalid(
            "save",
            "PyTorch stacks concatenate directions; this network merges them otherwise",
        ));
    }
    let back = torch_network(&cfg, &state_dict_file(net, &weights_of(net), ""))?;
    for (k, (a, b)) in net.layers.iter().zip(&back.layers).enumerate() {
        if a.spec != b.spec {
            return Err(Error::invalid(
                "save",
                format!(
                    "layer {k} has options PyTorch's modules lack (activations, clip, input_forget or linear_before_reset)"
                ),
            ));
        }
        if a.weights != b.weights {
            return Err(Error::invalid("save", format!("layer {k} has weights PyTorch's modules lack (peepholes)")));
        }
    }
    Ok(cfg)
}

fn weights_of(net: &Network) -> Vec<LayerWeights> {
    net.layers.iter().map(|l| l.weights.clone()).collect()
}

/// `tensors` (ONNX layout, shaped as `net`'s weights) under PyTorch's names with `prefix`.
fn state_dict_file(net: &Network, tensors: &[LayerWeights], prefix: &str) -> TensorFile {
    let floats =
        crate::import::torch_state_dict(net, tensors).into_iter().map(|(n, t)| (format!("{prefix}{n}"), t)).collect();
    TensorFile { floats, ..Default::default() }
}

/// The tensors of a model's parameters, or of anything shaped as them (the optimizer's
/// moments, in `TrainModel::parameters_mut` order), under PyTorch's names with `prefix`.
fn named(model: &TrainModel, values: &[Vec<f32>], prefix: &str) -> Vec<(String, Tensor)> {
    let mut it = values.iter();
    let mut out = Vec::new();
    if let Some(enc) = &model.encoder {
        out.extend(stack_named(enc.embedding.as_ref(), &enc.stack, &mut it, &format!("{prefix}encoder.")));
    }
    out.extend(stack_named(model.embedding.as_ref(), &model.stack, &mut it, prefix));
    let mut next = || it.next().cloned().unwrap_or_default();
    let h = &model.head;
    out.push((format!("{prefix}head.weight"), Tensor { shape: vec![h.outputs, h.inputs], data: next() }));
    out.push((format!("{prefix}head.bias"), Tensor { shape: vec![h.outputs], data: next() }));
    out
}

/// An embedding's and a stack's tensors from `values`, as `named` lists them.
fn stack_named<'a>(
    embedding: Option<&Embedding>,
    stack: &Network,
    values: &mut impl Iterator<Item = &'a Vec<f32>>,
    prefix: &str,
) -> Vec<(String, Tensor)> {
    let mut next = || values.next().cloned().unwrap_or_default();
    let mut out = Vec::new();
    if let Some(e) = embedding {
        out.push((format!("{prefix}embedding.weight"), Tensor { shape: vec![e.vocab, e.dim], data: next() }));
    }
    let layers: Vec<LayerWeights> = stack
        .layers
        .iter()
        .map(|l| LayerWeights {
            w: next(),
            r: next(),
            b: next(),
            p: l.weights.p.as_ref().map(|_| next()),
            proj: l.weights.proj.as_ref().map(|_| next()),
        })
        .collect();
    out.extend(state_dict_file(stack, &layers, &format!("{prefix}rnn.")).floats);
    out
}

impl TrainModel {
    /// Writes the model, and the optimizer state if given, to a safetensors file (see the
    /// module's documentation for the names). Errors: a stack PyTorch cannot express
    /// ([`torch_config`]), or a file that cannot be written.
    pub fn save(&self, path: &Path, optimizer: Option<&OptimizerState>) -> Result<()> {
        self.validate()?;
        let cfg = torch_config(&self.stack)?;
        if let Some(enc) = &self.encoder {
            torch_config(&enc.stack)?;
        }
        let mut params = self.clone();
        let values: Vec<Vec<f32>> = params.parameters_mut().iter().map(|p| p.to_vec()).collect();
        let mut floats: HashMap<String, Tensor> = named(self, &values, "").into_iter().collect();
        let mut metadata: HashMap<String, String> = [
            ("format", MODEL_FORMAT.to_string()),
            ("op", cfg.cell.name().to_string()),
            ("input_size", cfg.input_size.to_string()),
            ("hidden_size", cfg.hidden_size.to_string()),
            ("num_layers", cfg.num_layers.to_string()),
            ("bidirectional", cfg.bidirectional.to_string()),
            ("proj_size", cfg.proj_size.to_string()),
            ("nonlinearity", if cfg.relu { "relu" } else { "tanh" }.to_string()),
            ("vocab", self.embedding.as_ref().map_or(0, |e| e.vocab).to_string()),
            ("classes", self.head.outputs.to_string()),
            ("head", if self.head_mode == HeadMode::Steps { "steps" } else { "last" }.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(enc) = &self.encoder {
            metadata.insert("encoder_input_size".into(), enc.stack.input_size().to_string());
            metadata.insert("encoder_vocab".into(), enc.embedding.as_ref().map_or(0, |e| e.vocab).to_string());
        }
        if let Some(state) = optimizer {
            state.check(self)?;
            let f32s =
                |v: &Vec<Vec<f64>>| v.iter().map(|t| t.iter().map(|&x| x as f32).collect()).collect::<Vec<Vec<f32>>>();
            floats.extend(named(self, &f32s(&state.m), "optimizer.m."));
            floats.extend(named(self, &f32s(&state.v), "optimizer.v."));
            metadata.insert("optimizer_step".into(), state.step.to_string());
        }
        let file = TensorFile { metadata, floats, ints: HashMap::new() };
        std::fs::write(path, file.to_bytes()?)
            .map_err(|e| Error::File { path: path.display().to_string(), why: e.to_string() })
    }

    /// Reads a model written by [`TrainModel::save`] (or by PyTorch with the same names and
    /// metadata), with its optimizer state when the file has one.
    pub fn load(path: &Path) -> Result<(TrainModel, Option<OptimizerState>)> {
        Self::from_file(&TensorFile::read(path)?, &path.display().to_string())
    }

    /// [`TrainModel::load`] from a file's bytes (a browser has no files): `source` names where
    /// they came from in errors.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<(TrainModel, Option<OptimizerState>)> {
        Self::from_file(&TensorFile::parse(bytes)?, source)
    }

    fn from_file(f: &TensorFile, source: &str) -> Result<(TrainModel, Option<OptimizerState>)> {
        if f.metadata.get("format").map(String::as_str) != Some(MODEL_FORMAT) {
            return Err(Error::invalid(
                "format",
                format!("{source} is not a saved model (`format` must be `{MODEL_FORMAT}`)"),
            ));
        }
        let cfg = TorchConfig::from_metadata(f)?;
        let vocab = f.meta_usize("vocab")?;
        let model = TrainModel::from_state_dict(
            &cfg,
            f,
            "",
            vocab,
            f.meta_usize("classes")?,
            HeadMode::parse(f.meta("head")?)?,
        )?;
        let state = match f.metadata.get("optimizer_step") {
            None => None,
            Some(step) => {
                let step = step
                    .trim()
                    .parse()
                    .map_err(|_| Error::invalid("optimizer_step", format!("`{step}` is not a count")))?;
                let moments = |prefix: &str| -> Result<Vec<Vec<f64>>> {
                    let m = TrainModel::from_state_dict(&cfg, f, prefix, vocab, model.head.outputs, model.head_mode)?;
                    Ok(m.clone().parameters_mut().iter().map(|p| p.iter().map(|&x| x as f64).collect()).collect())
                };
                let state = OptimizerState { step, m: moments("optimizer.m.")?, v: moments("optimizer.v.")? };
                state.check(&model)?;
                Some(state)
            }
        };
        Ok((model, state))
    }

    /// A model from the tensors of `f` under PyTorch's names with `prefix` (`embedding.weight`
    /// when `vocab > 0`, `rnn.*`, `head.weight`, `head.bias`), and an encoder
    /// (`encoder.embedding.weight`, `encoder.rnn.*`, shaped as `cfg` but for its input size)
    /// when the metadata has `encoder_input_size` (and `encoder_vocab`).
    pub fn from_state_dict(
        cfg: &TorchConfig,
        f: &TensorFile,
        prefix: &str,
        vocab: usize,
        classes: usize,
        head_mode: HeadMode,
    ) -> Result<TrainModel> {
        let sub = |p: &str| TensorFile {
            metadata: f.metadata.clone(),
            floats: f
                .floats
                .iter()
                .filter_map(|(n, t)| n.strip_prefix(p).map(|s| (s.to_string(), t.clone())))
                .collect(),
            ints: HashMap::new(),
        };
        let stack = torch_network(cfg, &sub(&format!("{prefix}rnn.")))?;
        let embedding_of = |name: String, vocab: usize, dim: usize| -> Result<Option<Embedding>> {
            if vocab == 0 {
                return Ok(None);
            }
            let e = f.float(&name)?;
            e.expect_shape(&name, &[vocab, dim])?;
            Ok(Some(Embedding { vocab, dim, weight: e.data.clone() }))
        };
        let embedding = embedding_of(format!("{prefix}embedding.weight"), vocab, cfg.input_size)?;
        let encoder = match f.metadata.get("encoder_input_size") {
            None => None,
            Some(_) => {
                let enc_cfg = TorchConfig { input_size: f.meta_usize("encoder_input_size")?, ..cfg.clone() };
                let stack = torch_network(&enc_cfg, &sub(&format!("{prefix}encoder.rnn.")))?;
                let name = format!("{prefix}encoder.embedding.weight");
                let embedding = embedding_of(name, f.meta_usize("encoder_vocab")?, enc_cfg.input_size)?;
                Some(Encoder { embedding, stack })
            }
        };
        let win = match head_mode {
            HeadMode::Steps => stack.merged_width(),
            HeadMode::Last => stack.directions() * stack.output_size(),
        };
        let (wn, bn) = (format!("{prefix}head.weight"), format!("{prefix}head.bias"));
        let (hw, hb) = (f.float(&wn)?, f.float(&bn)?);
        hw.expect_shape(&wn, &[classes, win])?;
        hb.expect_shape(&bn, &[classes])?;
        let model = TrainModel {
            embedding,
            stack,
            head: Linear { inputs: win, outputs: classes, weight: hw.data.clone(), bias: hb.data.clone() },
            head_mode,
            encoder,
        };
        model.validate()?;
        Ok(model)
    }
}
