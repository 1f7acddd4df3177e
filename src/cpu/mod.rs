//! The CPU reference: the executable spec of every shader. Plain loops, f64 accumulation, the
//! ONNX equations read directly off ONNX-layout weights (so it shares no packing with the GPU).
//! Each kernel has a twin here with the same name: `input_projection`, `rnn_step`, `gru_step`,
//! `lstm_step`, `lstm_project`, `merge_directions`, and each step its backward
//! (`lstm_step_backward`, ...), which [`backward`] walks in reverse time.

mod backward;
mod cells;
mod cells_backward;
mod forward;
mod input_projection;
mod merge_directions;

pub use backward::backward;
pub(crate) use backward::{LayerGrads64, backward64};
pub use cells::{GateInputs, StepTape, gru_step, lstm_project, lstm_step, rnn_step};
pub use cells_backward::{
    RecurrentGrads, StepGrads, gru_step_backward, lstm_project_backward, lstm_step_backward, rnn_step_backward,
};
pub(crate) use forward::{Masks, run_with};
pub use input_projection::input_projection;
pub use merge_directions::{merge_directions, merge_directions_backward};

use crate::error::Result;
use crate::network::{Inputs, Network, Outputs};
use crate::spec::Cell;

/// Runs the network on the CPU. Same semantics and layouts as the GPU engine.
pub fn forward(net: &Network, inp: &Inputs) -> Result<Outputs> {
    let run = forward::run(net, inp, false)?;
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    Ok(Outputs {
        y: f32s(&run.y),
        h_n: f32s(&run.h_n),
        c_n: (net.cell() == Cell::Lstm).then(|| f32s(&run.c_n)),
        dispatches: 0,
    })
}
