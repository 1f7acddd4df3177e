//! Losses on the head's outputs, in f64 (the reference the GPU's loss kernel is checked
//! against): softmax cross-entropy and mean squared error, each averaged over the rows a mask
//! keeps, as PyTorch's `cross_entropy(out[mask], target[mask])` and `((out - y)[mask]**2).mean()`.

use crate::error::{Error, Result};

/// What the loss compares the head's outputs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    /// Softmax cross-entropy against class ids, averaged over the kept rows.
    CrossEntropy,
    /// Mean squared error against values, averaged over every element of the kept rows.
    Mse,
}

impl LossKind {
    /// Parses `cross_entropy` or `mse`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim() {
            "cross_entropy" | "ce" => Ok(LossKind::CrossEntropy),
            "mse" => Ok(LossKind::Mse),
            other => Err(Error::invalid("loss", format!("unknown loss `{other}` (cross_entropy or mse)"))),
        }
    }
}

/// Targets of one batch, row for row with the head's outputs.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Class ids `[rows]` in `0..C` (cross-entropy).
    Classes(Vec<usize>),
    /// Values `[rows, C]` (mean squared error).
    Values(Vec<f32>),
}

/// The loss over `out [rows, C]` where `keep[row]`, and its gradient with respect to `out`
/// (zero on rows not kept). Errors: targets that do not fit the loss or the outputs, no row
/// kept, a class id `>= C`.
pub fn loss_and_grad(
    kind: LossKind,
    out: &[f64],
    classes: usize,
    targets: &Targets,
    keep: &[bool],
) -> Result<(f64, Vec<f64>)> {
    let kept = check_targets(kind, targets, classes, keep)?;
    let mut grad = vec![0.0; out.len()];
    let mut total = 0.0;
    match (kind, targets) {
        (LossKind::CrossEntropy, Targets::Classes(ids)) => {
            for (row, (&id, _)) in ids.iter().zip(keep).enumerate().filter(|(_, (_, k))| **k) {
                let z = &out[row * classes..(row + 1) * classes];
                let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = z.iter().map(|&v| (v - max).exp()).sum();
                total += max + sum.ln() - z[id];
                for (c, g) in grad[row * classes..(row + 1) * classes].iter_mut().enumerate() {
                    *g = ((z[c] - max).exp() / sum - f64::from(c == id)) / kept as f64;
                }
            }
            Ok((total / kept as f64, grad))
        }
        (LossKind::Mse, Targets::Values(y)) => {
            let rows = keep.len();
            let n = (kept * classes) as f64;
            for row in (0..rows).filter(|&r| keep[r]) {
                for i in row * classes..(row + 1) * classes {
                    let d = out[i] - y[i] as f64;
                    total += d * d;
                    grad[i] = 2.0 * d / n;
                }
            }
            Ok((total / n, grad))
        }
        _ => unreachable!("check_targets matched the targets to the loss"),
    }
}

/// Checks targets for `keep.len()` rows of `classes` outputs: their kind fits the loss, their
/// count the rows, each kept row's class id is below `classes`, and some row is kept. Returns
/// the number of kept rows.
pub fn check_targets(kind: LossKind, targets: &Targets, classes: usize, keep: &[bool]) -> Result<usize> {
    let rows = keep.len();
    let kept = keep.iter().filter(|&&k| k).count();
    if kept == 0 {
        return Err(Error::invalid("loss", "no position inside the sequences' lengths"));
    }
    match (kind, targets) {
        (LossKind::CrossEntropy, Targets::Classes(ids)) => {
            if ids.len() != rows {
                return Err(Error::shape("targets", format!("[{rows}] class ids"), format!("[{}]", ids.len())));
            }
            for (row, (&id, _)) in ids.iter().zip(keep).enumerate().filter(|(_, (_, k))| **k) {
                if id >= classes {
                    return Err(Error::invalid(
                        "targets",
                        format!("class id {id} at row {row} is not below C = {classes}"),
                    ));
                }
            }
        }
        (LossKind::Mse, Targets::Values(y)) => {
            if y.len() != rows * classes {
                return Err(Error::shape(
                    "targets",
                    format!("[{rows}, {classes}] values"),
                    format!("{} values", y.len()),
                ));
            }
        }
        (LossKind::CrossEntropy, _) => return Err(Error::invalid("targets", "cross-entropy takes class ids")),
        (LossKind::Mse, _) => return Err(Error::invalid("targets", "mean squared error takes values")),
    }
    Ok(kept)
}
