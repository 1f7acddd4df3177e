//! Dropout between a stack's layers, as PyTorch applies it (`nn.LSTM(dropout=p)`): on every
//! layer's output except the last, kept elements scaled by 1/(1-p), nothing in evaluation.
//!
//! Masks come from a counter-based generator: element `i` of dropout site `site` at optimizer
//! step `step` is kept when `hash(seed, step, site, i) >= p·2³²`. Nothing is stored or drawn in
//! order, so the CPU reference and every adapter get the same masks
//! (`shaders/train/dropout.wgsl` is the GPU twin of [`keep`]).

use crate::error::{Error, Result};

/// Dropout of a training run.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Dropout {
    /// Probability of zeroing an element of a layer's output before the next layer, in [0, 1).
    pub p: f32,
    /// Seeds the masks: the same seed gives the same masks on every adapter.
    pub seed: u64,
}

impl Dropout {
    /// Checks `p`.
    pub fn validate(&self) -> Result<()> {
        if !(self.p.is_finite() && (0.0..1.0).contains(&self.p)) {
            return Err(Error::invalid("dropout", format!("probability {} is outside [0, 1)", self.p)));
        }
        Ok(())
    }

    /// The threshold a hash must reach to keep an element: `p·2³²` (WGSL `DropoutParams`).
    pub fn threshold(&self) -> u32 {
        (self.p as f64 * 4294967296.0).min(u32::MAX as f64) as u32
    }

    /// The scale of kept elements, `1 / (1 - p)`.
    pub fn scale(&self) -> f32 {
        1.0 / (1.0 - self.p)
    }

    /// The mask value of element `i` of `site` at `step`: `scale` where kept, else 0.
    pub fn mask(&self, step: u64, site: u32, i: u32) -> f32 {
        if keep(self.seed, step, site, i, self.threshold()) { self.scale() } else { 0.0 }
    }

    /// Multiplies `v` (the output of the layer `site` names) by its mask at `step`.
    pub fn apply(&self, step: u64, site: u32, v: &mut [f64]) {
        if self.p == 0.0 {
            return;
        }
        for (i, x) in v.iter_mut().enumerate() {
            *x *= self.mask(step, site, i as u32) as f64;
        }
    }
}

/// A 32-bit integer hash with good avalanche (Chris Wellons' `lowbias32`).
pub fn hash(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// Whether element `i` of `site` at `step` is kept: its hash reaches `threshold`.
pub fn keep(seed: u64, step: u64, site: u32, i: u32, threshold: u32) -> bool {
    let key = hash(hash(hash(hash(seed as u32) ^ (seed >> 32) as u32) ^ step as u32) ^ site);
    hash(key ^ i) >= threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_one_minus_p_and_scale_what_they_keep() {
        for p in [0.1f32, 0.5, 0.8] {
            let d = Dropout { p, seed: 42 };
            let n = 100_000u32;
            let kept = (0..n).filter(|&i| d.mask(3, 1, i) != 0.0).count() as f64 / n as f64;
            assert!((kept - (1.0 - p as f64)).abs() < 0.01, "p={p}: kept {kept}");
            assert!((0..100).map(|i| d.mask(3, 1, i)).all(|m| m == 0.0 || m == 1.0 / (1.0 - p)));
            // masks differ by step, site and seed, and repeat for the same ones
            let pattern = |d: &Dropout, step, site| (0..64).map(|i| d.mask(step, site, i) != 0.0).collect::<Vec<_>>();
            assert_eq!(pattern(&d, 3, 1), pattern(&d, 3, 1));
            assert_ne!(pattern(&d, 3, 1), pattern(&d, 4, 1));
            assert_ne!(pattern(&d, 3, 1), pattern(&d, 3, 2));
            assert_ne!(pattern(&d, 3, 1), pattern(&Dropout { p, seed: 43 }, 3, 1));
        }
        assert!((0..1000).all(|i| Dropout { p: 0.0, seed: 1 }.mask(1, 0, i) == 1.0), "p = 0 keeps everything");
        assert!(Dropout { p: 1.0, seed: 1 }.validate().is_err());
        assert!(Dropout { p: -0.1, seed: 1 }.validate().is_err());
        assert!(Dropout { p: f32::NAN, seed: 1 }.validate().is_err());
    }
}
