//! Deterministic random networks and inputs, for the quickstart, tests and benchmarks.
//! Weights are scaled like PyTorch's default init (`U(-1/sqrt(H), 1/sqrt(H))`), so long
//! sequences stay well conditioned.

use crate::network::{Inputs, Layer, LayerWeights, Network};
use crate::spec::{Activation, ActivationKind, Cell, Direction, LayerSpec, MergeMode};

/// A small, fast, seedable generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[-scale, scale)`.
    pub fn uniform(&mut self, scale: f32) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    }
    /// Uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(scale)).collect()
    }
    /// A class drawn from softmax(logits / temperature) (sampling a model's next token).
    pub fn draw(&mut self, logits: &[f32], temperature: f32) -> usize {
        let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let p: Vec<f64> = logits.iter().map(|&l| (((l - top) / temperature) as f64).exp()).collect();
        let mut u = (self.uniform(1.0) as f64 + 1.0) / 2.0 * p.iter().sum::<f64>();
        for (k, &pk) in p.iter().enumerate() {
            u -= pk;
            if u <= 0.0 {
                return k;
            }
        }
        p.len() - 1
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomConfig {
    pub cell: Cell,
    pub direction: Direction,
    pub input_size: usize,
    pub hidden_size: usize,
    pub layers: usize,
    pub proj_size: usize,
    pub merge: MergeMode,
    pub peepholes: bool,
}

impl RandomConfig {
    /// A single forward layer of `cell` with input and hidden size `h`.
    pub fn simple(cell: Cell, input_size: usize, hidden_size: usize) -> Self {
        RandomConfig {
            cell,
            direction: Direction::Forward,
            input_size,
            hidden_size,
            layers: 1,
            proj_size: 0,
            merge: MergeMode::Concat,
            peepholes: false,
        }
    }
}

/// A layer's options beside its sizes, drawn by [`any_stack`]: what `network`'s `spec_of` sets.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerOptions {
    pub linear_before_reset: bool,
    pub input_forget: bool,
    pub clip: Option<f32>,
    /// One list for every direction; None keeps the cell's defaults.
    pub activations: Option<Vec<Activation>>,
}

impl LayerOptions {
    /// `spec` with these options (each only where its cell has it).
    pub fn apply(&self, mut spec: LayerSpec) -> LayerSpec {
        spec.linear_before_reset = spec.cell == Cell::Gru && self.linear_before_reset;
        spec.input_forget = spec.cell == Cell::Lstm && self.input_forget;
        spec.clip = self.clip;
        if let Some(a) = &self.activations {
            spec.activations = vec![a.clone(); spec.directions()];
        }
        spec
    }
}

/// A stack drawn over every attribute at once, for sweeps against the CPU reference: cell, an
/// input size of `inputs` and a hidden size of `hiddens`, 1 to 3 layers, direction, merge,
/// projection, peepholes, `linear_before_reset`, `input_forget`, clip and, where
/// `any_activations`, any activations with their alpha and beta. Build it with
/// `network(&cfg, seed, |s| options.apply(s))`.
pub fn any_stack(
    rng: &mut Rng,
    inputs: &[usize],
    hiddens: &[usize],
    any_activations: bool,
) -> (RandomConfig, LayerOptions) {
    let mut pick = |n: usize| rng.range(0, n - 1);
    let cell = [Cell::Rnn, Cell::Gru, Cell::Lstm][pick(3)];
    let (input, hidden) = (inputs[pick(inputs.len())], hiddens[pick(hiddens.len())]);
    let cfg = RandomConfig {
        cell,
        direction: [Direction::Forward, Direction::Reverse, Direction::Bidirectional][pick(3)],
        input_size: input,
        hidden_size: hidden,
        layers: [1, 1, 2, 3][pick(4)],
        proj_size: if cell == Cell::Lstm && hidden > 1 && pick(3) == 0 { 1 + pick(hidden - 1) } else { 0 },
        merge: MergeMode::ALL[pick(4)],
        peepholes: cell == Cell::Lstm && pick(2) == 1,
    };
    let options = LayerOptions {
        linear_before_reset: pick(2) == 1,
        input_forget: pick(4) == 0,
        clip: (pick(4) == 0).then(|| 0.5 + pick(21) as f32 * 0.1),
        activations: (any_activations && pick(3) == 0).then(|| {
            (0..cell.activation_count())
                .map(|_| Activation {
                    kind: ActivationKind::ALL[pick(11)],
                    alpha: 0.2 + pick(11) as f32 * 0.1,
                    beta: 0.1,
                })
                .collect()
        }),
    };
    (cfg, options)
}

/// A random network; `spec_of(layer_spec)` may adjust each layer's options (activations,
/// clip, ...) before weights are drawn.
pub fn network(cfg: &RandomConfig, seed: u64, spec_of: impl Fn(LayerSpec) -> LayerSpec) -> Network {
    let mut rng = Rng::new(seed);
    let d = cfg.direction.count();
    let out = if cfg.proj_size > 0 { cfg.proj_size } else { cfg.hidden_size };
    let merged = if cfg.merge == MergeMode::Concat { d * out } else { out };
    let g = cfg.cell.gates();
    let h = cfg.hidden_size;
    let scale = 1.0 / (h as f32).sqrt();
    let layers = (0..cfg.layers)
        .map(|k| {
            let input = if k == 0 { cfg.input_size } else { merged };
            let mut spec = LayerSpec::new(cfg.cell, cfg.direction, input, h);
            spec.proj_size = cfg.proj_size;
            let spec = spec_of(spec);
            let weights = LayerWeights {
                w: rng.vec(d * g * h * input, scale),
                r: rng.vec(d * g * h * out, scale),
                b: rng.vec(d * 2 * g * h, scale),
                p: cfg.peepholes.then(|| rng.vec(d * 3 * h, scale)),
                proj: (cfg.proj_size > 0).then(|| rng.vec(d * cfg.proj_size * h, scale)),
            };
            Layer { spec, weights }
        })
        .collect();
    Network { layers, merge: cfg.merge }
}

/// A random network as PyTorch builds it: its initialisation and, for GRU layers, its GRU
/// (`linear_before_reset`, as `torch.nn.GRU` and cuDNN compute it).
pub fn pytorch_network(cfg: &RandomConfig, seed: u64) -> Network {
    network(cfg, seed, |s| LayerSpec { linear_before_reset: s.cell == Cell::Gru, ..s })
}

/// Random inputs for `net`: `x` in `[-1, 1)`, and when asked, random lengths and initial states.
pub fn inputs(net: &Network, steps: usize, batch: usize, seed: u64, ragged: bool, initial_state: bool) -> Inputs {
    let mut rng = Rng::new(seed ^ 0xA5A5);
    let ld = net.layers.len() * net.directions();
    let lengths = ragged.then(|| {
        let mut l: Vec<usize> = (0..batch).map(|_| rng.range(1, steps)).collect();
        l[0] = steps; // keep one full-length sequence, as packed batches have
        l
    });
    Inputs {
        x: rng.vec(steps * batch * net.input_size(), 1.0),
        steps,
        batch,
        lengths,
        h0: initial_state.then(|| rng.vec(ld * batch * net.output_size(), 0.5)),
        c0: (initial_state && net.cell() == Cell::Lstm)
            .then(|| rng.vec(ld * batch * net.layers[0].spec.hidden_size, 0.5)),
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn draw_follows_the_softmax_at_the_temperature() {
        let mut rng = Rng::new(3);
        let logits = [0.0, 3f32.ln()];
        let ones = (0..20_000).filter(|_| rng.draw(&logits, 1.0) == 1).count();
        assert!((ones as f64 / 20_000.0 - 0.75).abs() < 0.02, "{ones} of 20000, want 3/4");
        // a low temperature sharpens it towards the largest logit
        assert!((0..1000).all(|_| rng.draw(&[0.5, 2.0, 1.0], 0.01) == 1));
    }
}
