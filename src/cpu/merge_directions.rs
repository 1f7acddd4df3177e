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
