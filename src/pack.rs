//! The engine's weight layout, converted once from ONNX layout (see `network::LayerWeights`).
//! Gates are interleaved per hidden unit (column `j*G + g`) and matrices pre-transposed, so one
//! invocation reads all gates of its unit with one (vec4 for LSTM) load per input.

use crate::network::Layer;
use crate::spec::Cell;

/// One layer's weights in kernel layout.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedLayer {
    /// `[D, K, H*G]`: `W` transposed, gate-interleaved.
    pub wx: Vec<f32>,
    /// `[D, H*G]`: biases folded into the input projection: `Wb + Rb`, except the GRU
    /// candidate's `Rbh` under linear_before_reset (it sits inside `r ⊙ (...)`).
    pub bx: Vec<f32>,
    /// `[D, H_out, H*G]`: `R` transposed, gate-interleaved.
    pub wh: Vec<f32>,
    /// LSTM: peepholes `[D, H, 3]` (i, o, f; zeros when absent). GRU: `Rbh [D, H]` (zeros unless
    /// linear_before_reset). RNN: empty.
    pub aux: Vec<f32>,
    /// `[D, H, P]`: `W_hr` transposed, for a projection.
    pub wr: Option<Vec<f32>>,
}

/// Converts one layer to kernel layout.
pub fn pack_layer(layer: &Layer) -> PackedLayer {
    let s = &layer.spec;
    let w = &layer.weights;
    let (d_count, g_count, h, k_in, h_out) =
        (s.directions(), s.cell.gates(), s.hidden_size, s.input_size, s.output_size());
    let gh = g_count * h;
    // [D, G*H, cols] (ONNX rows) -> [D, cols, H*G] interleaved
    let transpose_interleave = |src: &[f32], cols: usize| {
        let mut dst = vec![0.0; d_count * cols * gh];
        for d in 0..d_count {
            for g in 0..g_count {
                for j in 0..h {
                    let row = &src[(d * gh + g * h + j) * cols..][..cols];
                    for (k, &v) in row.iter().enumerate() {
                        dst[(d * cols + k) * gh + j * g_count + g] = v;
                    }
                }
            }
        }
        dst
    };
    let lbr_gru = s.cell == Cell::Gru && s.linear_before_reset;
    let mut bx = vec![0.0; d_count * gh];
    let mut aux = Vec::new();
    for d in 0..d_count {
        let (wb, rb) = w.b[d * 2 * gh..(d + 1) * 2 * gh].split_at(gh);
        for g in 0..g_count {
            for j in 0..h {
                let keep_recurrent_apart = lbr_gru && g == 2;
                bx[d * gh + j * g_count + g] = wb[g * h + j] + if keep_recurrent_apart { 0.0 } else { rb[g * h + j] };
            }
        }
        match s.cell {
            Cell::Gru => aux.extend((0..h).map(|j| if lbr_gru { rb[2 * h + j] } else { 0.0 })),
            Cell::Lstm => {
                for j in 0..h {
                    for k in 0..3 {
                        aux.push(w.p.as_ref().map_or(0.0, |p| p[d * 3 * h + k * h + j]));
                    }
                }
            }
            Cell::Rnn => {}
        }
    }
    let wr = w.proj.as_ref().map(|p| {
        // [D, P, H] -> [D, H, P]
        let mut dst = vec![0.0; p.len()];
        for d in 0..d_count {
            for row in 0..h_out {
                for k in 0..h {
                    dst[(d * h + k) * h_out + row] = p[(d * h_out + row) * h + k];
                }
            }
        }
        dst
    });
    PackedLayer { wx: transpose_interleave(&w.w, k_in), bx, wh: transpose_interleave(&w.r, h_out), aux, wr }
}
