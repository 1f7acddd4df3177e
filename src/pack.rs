//! The engine's weight layout, converted once from ONNX layout (see `network::LayerWeights`).
//! Gates are interleaved per hidden unit (column `j*G + g`) and matrices pre-transposed, so one
//! invocation reads all gates of its unit with one (vec4 for LSTM) load per input.
//!
//! Weight matrices are then *blocked*: the columns of `[K, N]` are cut into blocks of
//! `UNIT_BLOCK` units (a unit is a hidden unit's gates, or a vec4 of the matmul's columns), and
//! each block stores its `K` rows one after the other: `[ceil(units/UNIT_BLOCK), K, UNIT_BLOCK,
//! unit width]`. Neighbouring invocations still read neighbouring addresses (coalesced on a GPU),
//! and the run of invocations a SIMD CPU driver such as lavapipe executes together walks memory
//! sequentially instead of jumping one full row (often a page) per input.

use crate::network::Layer;
use crate::spec::Cell;

/// Units per block of the blocked weight layout: keep in sync with `UNIT_BLOCK` in
/// `shaders/shared/blocked.wgsl`.
pub const UNIT_BLOCK: usize = 8;

/// Blocks the matrices `[D, K, cols]` of `src` by units of `width` columns (the last unit and
/// block padded with zeros): `[D, ceil(units/UNIT_BLOCK), K, UNIT_BLOCK, width]`.
pub fn block_units(src: &[f32], d_count: usize, k_count: usize, cols: usize, width: usize) -> Vec<f32> {
    let blocks = cols.div_ceil(width).div_ceil(UNIT_BLOCK);
    let block_len = UNIT_BLOCK * width;
    let mut dst = vec![0.0; d_count * blocks * k_count * block_len];
    for d in 0..d_count {
        for k in 0..k_count {
            for (n, &v) in src[(d * k_count + k) * cols..][..cols].iter().enumerate() {
                dst[((d * blocks + n / block_len) * k_count + k) * block_len + n % block_len] = v;
            }
        }
    }
    dst
}

/// One layer's weights in kernel layout.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedLayer {
    /// `W` transposed and gate-interleaved, in k-quads for `input_projection`: a column
    /// quad's weights of four inputs in a row, `[D, ceil(K/4), ceil(H*G/4)*16]` (zeros past K and
    /// H*G), blocked with unit width 16.
    pub wx: Vec<f32>,
    /// `[D, H*G]`: biases folded into the input projection: `Wb + Rb`, except the GRU
    /// candidate's `Rbh` under linear_before_reset (it sits inside `r ⊙ (...)`).
    pub bx: Vec<f32>,
    /// `R` transposed, gate-interleaved, blocked by hidden unit, inputs taken four at a time
    /// ("input quads"): a unit's G weights for four inputs in a row (one vec4 for RNN, three for
    /// GRU, four for LSTM): `[D, ceil(H_out/4), H*4G]` blocked with unit width 4G. See
    /// `recurrent_len`.
    pub wh: Vec<f32>,
    /// LSTM: peepholes `[D, H, 3]` (i, o, f; zeros when absent). GRU: `Rbh [D, H]` (zeros unless
    /// linear_before_reset). RNN: empty.
    pub aux: Vec<f32>,
    /// `W_hr` transposed for a projection, in input quads (four inputs of an output per vec4):
    /// `[D, ceil(H/4), P*4]` blocked with unit width 4.
    pub wr: Option<Vec<f32>>,
    /// GRU with linear_before_reset = 0: the candidate gate's `R` alone, packed like an RNN's
    /// `wh` (four inputs of a unit per vec4), for `gru_candidate`, which reads it a third as
    /// much as the three gates' quads.
    pub wn: Option<Vec<f32>>,
}

/// Length of the packed `wh` for `d_count` directions, `k_count` inputs (H_out) and `h` units
/// (keep in sync with `blocked_unit`/`quad_weight` in `shaders/shared/blocked.wgsl`).
pub fn recurrent_len(cell: Cell, d_count: usize, k_count: usize, h: usize) -> usize {
    let units = h.next_multiple_of(UNIT_BLOCK);
    d_count * k_count.div_ceil(4) * units * 4 * cell.gates()
}

/// `[D, K, H*G]` as input quads: `[D, ceil(K/4), H*4G]`, row q holding, per unit, the G gate
/// weights of inputs 4q..4q+4, one input after the other (zeros past K).
fn input_quads(src: &[f32], d_count: usize, k_count: usize, h: usize, g_count: usize) -> Vec<f32> {
    let quads = k_count.div_ceil(4);
    let quad = 4 * g_count;
    let mut dst = vec![0.0; d_count * quads * h * quad];
    for d in 0..d_count {
        for k in 0..k_count {
            for j in 0..h {
                for g in 0..g_count {
                    dst[((d * quads + k / 4) * h + j) * quad + (k % 4) * g_count + g] =
                        src[((d * k_count + k) * h + j) * g_count + g];
                }
            }
        }
    }
    dst
}

/// `[D, G*H, cols]` (ONNX rows) -> `[D, cols, H*G]`, gates interleaved per unit.
fn transpose_interleave(src: &[f32], d_count: usize, g_count: usize, h: usize, cols: usize) -> Vec<f32> {
    let gh = g_count * h;
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
}

/// A matrix `[D, G*H, K]` in ONNX layout packed as `PackedLayer::wh` packs `R`.
fn pack_recurrent(src: &[f32], d_count: usize, g_count: usize, h: usize, k_count: usize) -> Vec<f32> {
    let quads = input_quads(&transpose_interleave(src, d_count, g_count, h, k_count), d_count, k_count, h, g_count);
    block_units(&quads, d_count, k_count.div_ceil(4), h * 4 * g_count, 4 * g_count)
}

/// The weights of a wavefront stack (`plan::Plan::stacked`, `Buf::StackWh`, `StackAux`,
/// `StackWr`).
#[derive(Debug, Clone, PartialEq)]
pub struct PackedStack {
    /// The layers' `wh`, then the input weights `W` of layers 1.. packed the same way (their
    /// input is the layer below's h), so that the kernels find layer d's recurrent weights as
    /// direction d and its input weights as direction L + d - 1.
    pub wh: Vec<f32>,
    /// The layers' `aux` one after the other.
    pub aux: Vec<f32>,
    /// The layers' `wr` one after the other (LSTM with projection).
    pub wr: Option<Vec<f32>>,
    /// The layers' `wn` one after the other (GRU with linear_before_reset = 0).
    pub wn: Option<Vec<f32>>,
}

/// Packs a stack of layers with equal specs and one direction (`plan::NetShape::stackable`).
pub fn pack_stack(layers: &[Layer]) -> PackedStack {
    let mut wh = Vec::new();
    let mut aux = Vec::new();
    let mut wr = Vec::new();
    let mut wn = Vec::new();
    for layer in layers {
        let packed = pack_layer(layer);
        wh.extend(packed.wh);
        aux.extend(packed.aux);
        wr.extend(packed.wr.unwrap_or_default());
        wn.extend(packed.wn.unwrap_or_default());
    }
    for layer in &layers[1..] {
        let s = &layer.spec;
        wh.extend(pack_recurrent(&layer.weights.w, 1, s.cell.gates(), s.hidden_size, s.input_size));
    }
    PackedStack { wh, aux, wr: (!wr.is_empty()).then_some(wr), wn: (!wn.is_empty()).then_some(wn) }
}

/// Converts one layer to kernel layout.
pub fn pack_layer(layer: &Layer) -> PackedLayer {
    let s = &layer.spec;
    let w = &layer.weights;
    let (d_count, g_count, h, k_in, h_out) =
        (s.directions(), s.cell.gates(), s.hidden_size, s.input_size, s.output_size());
    let gh = g_count * h;
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
        let quads = input_quads(&dst, d_count, h, h_out, 1);
        block_units(&quads, d_count, h.div_ceil(4), h_out * 4, 4)
    });
    PackedLayer {
        wx: {
            // columns padded to whole quads, each quad a unit of 4 "gates": each unit's 16
            // weights of a k-quad in a row
            let gh4 = gh.next_multiple_of(4);
            let wt = transpose_interleave(&w.w, d_count, g_count, h, k_in);
            let mut padded = vec![0.0; d_count * k_in * gh4];
            for (row, src) in padded.chunks_mut(gh4).zip(wt.chunks(gh)) {
                row[..gh].copy_from_slice(src);
            }
            let quads = input_quads(&padded, d_count, k_in, gh4 / 4, 4);
            block_units(&quads, d_count, k_in.div_ceil(4), gh4 * 4, 16)
        },
        bx,
        wh: pack_recurrent(&w.r, d_count, g_count, h, h_out),
        aux,
        wr,
        wn: (s.cell == Cell::Gru && !s.linear_before_reset).then(|| {
            // rows 2H..3H of each direction's R [3H, H_out]
            let rows = h * h_out;
            let rh: Vec<f32> = (0..d_count).flat_map(|d| &w.r[(d * 3 + 2) * rows..][..rows]).copied().collect();
            pack_recurrent(&rh, d_count, 1, h, h_out)
        }),
    }
}
