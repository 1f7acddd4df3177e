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
    /// Variational (recurrent) dropout, as Keras' `recurrent_dropout`: the probability of
    /// zeroing a unit of h where the recurrent products read it, one mask per sequence, layer
    /// and direction, the same at every time step; in [0, 1).
    pub recurrent: f32,
}

impl Dropout {
    /// Checks both probabilities.
    pub fn validate(&self) -> Result<()> {
        for (what, p) in [("dropout", self.p), ("recurrent dropout", self.recurrent)] {
            if !(p.is_finite() && (0.0..1.0).contains(&p)) {
                return Err(Error::invalid(what, format!("probability {p} is outside [0, 1)")));
            }
        }
        Ok(())
    }

    /// The dropout site of the recurrent mask of layer `layer`, direction `dir` (the layers'
    /// outputs are sites 0, 1, ...).
    pub fn recurrent_site(layer: usize, dir: usize) -> u32 {
        RECURRENT_SITES + 2 * layer as u32 + dir as u32
    }

    /// The recurrent mask `[H_out]` of layer `layer`, direction `dir`, row `b` at `step`; `None`
    /// without recurrent dropout.
    pub fn recurrent_mask(&self, step: u64, layer: usize, dir: usize, b: usize, width: usize) -> Option<Vec<f64>> {
        if self.recurrent == 0.0 {
            return None;
        }
        let recurrent = Dropout { p: self.recurrent, ..*self };
        let site = Self::recurrent_site(layer, dir);
        Some((0..width).map(|k| recurrent.mask(step, site, (b * width + k) as u32) as f64).collect())
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

/// The first dropout site of the recurrent masks (WGSL `RECURRENT_SITES`).
pub const RECURRENT_SITES: u32 = 0x0001_0000;

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
            let d = Dropout { p, seed: 42, recurrent: 0.0 };
            let n = 100_000u32;
            let kept = (0..n).filter(|&i| d.mask(3, 1, i) != 0.0).count() as f64 / n as f64;
            assert!((kept - (1.0 - p as f64)).abs() < 0.01, "p={p}: kept {kept}");
            assert!((0..100).map(|i| d.mask(3, 1, i)).all(|m| m == 0.0 || m == 1.0 / (1.0 - p)));
            // masks differ by step, site and seed, and repeat for the same ones
            let pattern = |d: &Dropout, step, site| (0..64).map(|i| d.mask(step, site, i) != 0.0).collect::<Vec<_>>();
            assert_eq!(pattern(&d, 3, 1), pattern(&d, 3, 1));
            assert_ne!(pattern(&d, 3, 1), pattern(&d, 4, 1));
            assert_ne!(pattern(&d, 3, 1), pattern(&d, 3, 2));
            assert_ne!(pattern(&d, 3, 1), pattern(&Dropout { seed: 43, ..d }, 3, 1));
        }
        let none = Dropout::default();
        assert!((0..1000).all(|i| none.mask(1, 0, i) == 1.0), "p = 0 keeps everything");
        assert!(none.recurrent_mask(1, 0, 0, 0, 8).is_none());
        let rec = Dropout { recurrent: 0.5, seed: 9, ..none };
        let m = rec.recurrent_mask(1, 0, 1, 2, 1000).expect("a mask");
        let kept = m.iter().filter(|&&x| x != 0.0).count();
        assert!((400..600).contains(&kept) && m.iter().all(|&x| x == 0.0 || x == 2.0), "kept {kept}");
        assert_ne!(Some(m), rec.recurrent_mask(1, 0, 1, 3, 1000), "one mask per sequence");
        for bad in [
            Dropout { p: 1.0, ..none },
            Dropout { p: -0.1, ..none },
            Dropout { p: f32::NAN, ..none },
            Dropout { recurrent: 1.0, ..none },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
