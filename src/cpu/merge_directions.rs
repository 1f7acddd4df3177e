//! CPU twin of `shaders/merge_directions.wgsl`.

use crate::spec::MergeMode;

/// `y [R, D, W]` (R = T*B rows) to the merged `[R, D*W]` (concat) or `[R, W]`.
pub fn merge_directions(y: &[f64], rows: usize, d: usize, w: usize, mode: MergeMode) -> Vec<f64> {
    if d == 1 || mode == MergeMode::Concat {
        return y.to_vec();
    }
    let mut out = vec![0.0; rows * w];
    for r in 0..rows {
        for j in 0..w {
            let (a, b) = (y[(r * 2) * w + j], y[(r * 2 + 1) * w + j]);
            out[r * w + j] = match mode {
                MergeMode::Sum => a + b,
                MergeMode::Average => (a + b) * 0.5,
                MergeMode::Mul => a * b,
                MergeMode::Concat => unreachable!("handled above"),
            };
        }
    }
    out
}

/// Backward of [`merge_directions`]: `dm` arrives at the merged `[R, D*W]` or `[R, W]`; returns
/// the gradient of `y [R, D, W]`. `y` is the forward's input (`mul` needs it).
pub fn merge_directions_backward(dm: &[f64], y: &[f64], rows: usize, d: usize, w: usize, mode: MergeMode) -> Vec<f64> {
    if d == 1 || mode == MergeMode::Concat {
        return dm.to_vec();
    }
    let mut dy = vec![0.0; rows * 2 * w];
    for r in 0..rows {
        for j in 0..w {
            let g = dm[r * w + j];
            let (fwd, rev) = ((r * 2) * w + j, (r * 2 + 1) * w + j);
            (dy[fwd], dy[rev]) = match mode {
                MergeMode::Sum => (g, g),
                MergeMode::Average => (g * 0.5, g * 0.5),
                MergeMode::Mul => (g * y[rev], g * y[fwd]),
                MergeMode::Concat => unreachable!("handled above"),
            };
        }
    }
    dy
}
