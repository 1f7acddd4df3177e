//! Training cases (FORMAT.md, `format = "train"`): a model, K batches and the optimizer, with
//! PyTorch's loss and gradient norm at each step and its parameters after the last.

use std::path::Path;

use super::{Comparison, swap01};
use crate::error::{Error, Result};
use crate::import::TorchConfig;
use crate::spec::{Cell, MergeMode};
use crate::tensor::{Tensor, TensorFile};
use crate::train::{Batch, BatchInputs, HeadMode, LossKind, Optimizer, StepStats, Targets, TrainConfig, TrainModel};

/// One training case.
#[derive(Debug, Clone)]
pub struct TrainCase {
    pub name: String,
    /// The model before the first step.
    pub model: TrainModel,
    pub config: TrainConfig,
    /// Step k trains on `batches[k]`.
    pub batches: Vec<Batch>,
    /// Truncated BPTT (metadata `carry`, this project's addition to the format; made by
    /// `tools/tbptt_cases.py`): step k starts from step k - 1's final state, detached
    /// (`Trainer::carry_state`).
    pub carry: bool,
    /// PyTorch's loss `[K]` before each update.
    pub loss: Vec<f32>,
    /// PyTorch's global gradient norm `[K]` before clipping.
    pub grad_norm: Vec<f32>,
    /// PyTorch's parameters after the last step, by `state_dict` name.
    pub final_params: Vec<(String, Tensor)>,
}

impl TrainCase {
    /// Reads and validates a training case file.
    pub fn load(path: &Path) -> Result<TrainCase> {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        Self::from_file(name, &TensorFile::read(path)?)
    }

    /// Whether a parsed file is a training case.
    pub fn is_train(f: &TensorFile) -> bool {
        f.metadata.get("format").is_some_and(|s| s == "train")
    }

    /// A training case from a parsed file.
    pub fn from_file(name: String, f: &TensorFile) -> Result<TrainCase> {
        if !Self::is_train(f) {
            return Err(Error::invalid("format", "not a training case (`format` must be `train`)"));
        }
        let meta_f32 = |k: &str| -> Result<f32> {
            let s = f.meta(k)?;
            s.trim().parse().map_err(|_| Error::invalid(k, format!("`{s}` is not a number")))
        };
        let (k_steps, b, t) = (f.meta_usize("K")?, f.meta_usize("B")?, f.meta_usize("T")?);
        let vocab = f.meta_usize("vocab")?;
        let x = f.floats.get("data.x").map(|x| x.shape.clone());
        let input_size = if vocab > 0 {
            f.meta_usize("E")?
        } else {
            match x.as_deref() {
                Some([_, _, _, i]) => *i,
                _ => return Err(Error::shape("data.x", "[K, B, T, I] floats or [K, B, T] ids", format!("{x:?}"))),
            }
        };
        let cfg = TorchConfig {
            cell: Cell::parse(f.meta("op")?)?,
            input_size,
            hidden_size: f.meta_usize("H")?,
            num_layers: f.meta_usize("L")?,
            bidirectional: f.meta_bool("bi", false)?,
            proj_size: f.meta_usize("P").unwrap_or(0),
            relu: f.metadata.get("nl").is_some_and(|s| s.trim() == "relu"),
            merge_mode: MergeMode::Concat,
        };
        let model = TrainModel::from_state_dict(
            &cfg,
            f,
            "init.",
            vocab,
            f.meta_usize("C")?,
            HeadMode::parse(f.meta("head")?)?,
        )?;
        let (lr, b1, b2, eps, wd) =
            (meta_f32("lr")?, meta_f32("beta1")?, meta_f32("beta2")?, meta_f32("eps")?, meta_f32("weight_decay")?);
        // The cases' SGD and Adam take no weight decay: PyTorch's were made without one.
        let optimizer = match f.meta("opt")?.trim() {
            "sgd" => Optimizer::Sgd { lr, momentum: meta_f32("momentum")?, weight_decay: 0.0 },
            "adam" => Optimizer::Adam { lr, beta1: b1, beta2: b2, eps, weight_decay: 0.0 },
            "adamw" => Optimizer::AdamW { lr, beta1: b1, beta2: b2, eps, weight_decay: wd },
            other => return Err(Error::invalid("opt", format!("unknown optimizer `{other}` (sgd, adam, adamw)"))),
        };
        let clip_norm = meta_f32("clip_norm")?;
        let config = TrainConfig {
            loss: LossKind::parse(f.meta("loss")?)?,
            optimizer,
            clip_norm: (clip_norm > 0.0).then_some(clip_norm),
            clip_value: None,
            dropout: Default::default(),
        };
        config.validate()?;
        let batches = (0..k_steps).map(|k| Self::batch(f, &model, &config, k, k_steps, b, t)).collect::<Result<_>>()?;
        let series = |n: &str| -> Result<Vec<f32>> {
            let s = f.float(n)?;
            s.expect_shape(n, &[k_steps])?;
            Ok(s.data.clone())
        };
        let mut final_params = Vec::new();
        for (n, want) in model.state_dict() {
            let key = format!("final.{n}");
            let got = f.float(&key)?;
            got.expect_shape(&key, &want.shape)?;
            final_params.push((n, got.clone()));
        }
        Ok(TrainCase {
            name,
            model,
            config,
            batches,
            carry: f.meta_bool("carry", false)?,
            loss: series("loss")?,
            grad_norm: series("grad_norm")?,
            final_params,
        })
    }

    /// Step `k`'s batch, time-major.
    fn batch(
        f: &TensorFile,
        model: &TrainModel,
        cfg: &TrainConfig,
        k: usize,
        steps: usize,
        b: usize,
        t: usize,
    ) -> Result<Batch> {
        let ints = |n: &str, shape: &[usize]| -> Result<Vec<i64>> {
            match f.ints.get(n) {
                Some((s, v)) if s == shape => Ok(v.clone()),
                Some((s, _)) => Err(Error::shape(n, format!("{shape:?}"), format!("{s:?}"))),
                None => Err(Error::MissingTensor(n.into())),
            }
        };
        let per = |total: usize| total / steps;
        let inputs = match &model.embedding {
            Some(_) => {
                let ids = ints("data.x", &[steps, b, t])?;
                let step = &ids[k * per(ids.len())..(k + 1) * per(ids.len())];
                let ids = step.iter().map(|&v| usize::try_from(v).unwrap_or(usize::MAX)).collect::<Vec<_>>();
                // [B, T] -> [T, B]
                BatchInputs::Tokens((0..t * b).map(|i| ids[(i % b) * t + i / b]).collect())
            }
            None => {
                let x = f.float("data.x")?;
                let i = model.stack.input_size();
                x.expect_shape("data.x", &[steps, b, t, i])?;
                BatchInputs::Features(swap01(&x.data[k * b * t * i..(k + 1) * b * t * i], b, t, i))
            }
        };
        let lengths = match f.ints.get("data.lengths") {
            None => None,
            Some(_) => {
                let l = ints("data.lengths", &[steps, b])?;
                let row = &l[k * b..(k + 1) * b];
                Some(
                    row.iter()
                        .enumerate()
                        .map(|(i, &v)| {
                            if v >= 1 && v as usize <= t {
                                Ok(v as usize)
                            } else {
                                Err(Error::Length { index: i, len: v.into(), steps: t })
                            }
                        })
                        .collect::<Result<Vec<_>>>()?,
                )
            }
        };
        let c = model.head.outputs;
        let rows_shape: Vec<usize> = match model.head_mode {
            HeadMode::Steps => vec![steps, b, t],
            HeadMode::Last => vec![steps, b],
        };
        let targets = match cfg.loss {
            LossKind::CrossEntropy => {
                let y = ints("data.y", &rows_shape)?;
                let step = &y[k * per(y.len())..(k + 1) * per(y.len())];
                let ids: Vec<usize> = step.iter().map(|&v| usize::try_from(v).unwrap_or(usize::MAX)).collect();
                Targets::Classes(match model.head_mode {
                    HeadMode::Steps => (0..t * b).map(|i| ids[(i % b) * t + i / b]).collect(),
                    HeadMode::Last => ids,
                })
            }
            LossKind::Mse => {
                let y = f.float("data.y")?;
                let mut shape = rows_shape.clone();
                shape.push(c);
                y.expect_shape("data.y", &shape)?;
                let step = &y.data[k * per(y.data.len())..(k + 1) * per(y.data.len())];
                Targets::Values(match model.head_mode {
                    HeadMode::Steps => swap01(step, b, t, c),
                    HeadMode::Last => step.to_vec(),
                })
            }
        };
        Ok(Batch { inputs, steps: t, batch: b, lengths, targets, source: None })
    }

    /// Compares a run's per-step statistics and final model with the case; one comparison for
    /// `loss`, one for `grad_norm` and one per parameter tensor.
    pub fn compare(&self, stats: &[StepStats], trained: &TrainModel) -> Vec<Comparison> {
        let k = self.loss.len();
        let loss: Vec<f32> = stats.iter().map(|s| s.loss as f32).collect();
        let norm: Vec<f32> = stats.iter().map(|s| s.grad_norm as f32).collect();
        let mut v = vec![
            Comparison::of_gradient("loss", &[k], &loss, &self.loss),
            Comparison::of_gradient("grad_norm", &[k], &norm, &self.grad_norm),
        ];
        let got = trained.state_dict();
        for (name, want) in &self.final_params {
            v.push(match got.iter().find(|(n, _)| n == name) {
                Some((_, t)) => Comparison::of_gradient(&format!("final.{name}"), &t.shape, &t.data, &want.data),
                None => Comparison::missing(name, "parameter not produced"),
            });
        }
        v
    }
}
