//! Rust mirrors of the WGSL uniform structs, and the flags the step kernels read. A test
//! (`kernels.rs`) compares each struct's layout with naga's of the WGSL one.

use bytemuck::{Pod, Zeroable};

use crate::kernels::{LAYER_PARAMS_SIZE, SMALL_PARAMS_SIZE};
use crate::plan::NetShape;
use crate::spec::{Cell, LayerSpec};

/// Keep in sync with `Act` in `shaders/shared/activations.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct Act {
    pub kind: u32,
    pub alpha: f32,
    pub beta: f32,
    pub _pad: u32,
}

/// Keep in sync with `LayerParams` in `shaders/shared/layer_params.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct LayerParams {
    pub steps: u32,
    pub batch: u32,
    pub hidden: u32,
    pub hidden_in: u32,
    pub dirs: u32,
    pub reverse_mask: u32,
    pub flags: u32,
    pub clip: f32,
    pub acts: [Act; 6],
}

/// `LayerParams::flags` bits (WGSL `FLAG_*`, written into every module by `kernels::prelude`).
pub const FLAG_CLIP: u32 = 1;
pub const FLAG_PEEPHOLE: u32 = 2;
pub const FLAG_INPUT_FORGET: u32 = 4;
pub const FLAG_PROJ: u32 = 8;
pub const FLAG_GRU: u32 = 16;
pub const FLAG_LSTM: u32 = 32;
pub const FLAG_LINEAR_BEFORE_RESET: u32 = 64;
/// A wavefront stack (`plan::Plan::stacked`): the direction slots are the layers of a
/// one-direction stack (shaders/shared/rows.wgsl `is_wave`).
pub const FLAG_WAVE: u32 = 128;

/// Four words: `StepParams {step}`, `MatmulParams {m, n, k}`, `MergeParams {rows, width, mode}`.
/// Keep in sync with those structs in the shaders.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct SmallParams(pub [u32; 4]);

const _: () = assert!(std::mem::size_of::<LayerParams>() as u64 == LAYER_PARAMS_SIZE);
const _: () = assert!(std::mem::size_of::<SmallParams>() as u64 == SMALL_PARAMS_SIZE);

impl LayerParams {
    /// The uniforms of one layer for `t` steps and batch `b`.
    pub fn new(spec: &LayerSpec, has_peepholes: bool, t: usize, b: usize) -> Self {
        let mut acts = [Act::zeroed(); 6];
        for (d, list) in spec.activations.iter().enumerate() {
            for (slot, a) in list.iter().enumerate() {
                acts[d * 3 + slot] = Act { kind: a.kind.code(), alpha: a.alpha, beta: a.beta, _pad: 0 };
            }
        }
        let mut flags = 0;
        if spec.clip.is_some() {
            flags |= FLAG_CLIP;
        }
        if has_peepholes {
            flags |= FLAG_PEEPHOLE;
        }
        if spec.input_forget {
            flags |= FLAG_INPUT_FORGET;
        }
        if spec.proj_size > 0 {
            flags |= FLAG_PROJ;
        }
        flags |= match spec.cell {
            Cell::Rnn => 0,
            Cell::Gru => FLAG_GRU,
            Cell::Lstm => FLAG_LSTM,
        };
        if spec.linear_before_reset {
            flags |= FLAG_LINEAR_BEFORE_RESET;
        }
        let reverse_mask =
            (0..spec.directions()).filter(|&d| spec.direction.is_reverse(d)).fold(0, |m, d| m | (1 << d));
        LayerParams {
            steps: t as u32,
            batch: b as u32,
            hidden: spec.hidden_size as u32,
            hidden_in: spec.output_size() as u32,
            dirs: spec.directions() as u32,
            reverse_mask,
            flags,
            clip: spec.clip.unwrap_or(0.0),
            acts,
        }
    }
}

/// `MatmulParams` of layer `l`'s input projection.
pub fn matmul_params(shape: &NetShape, l: usize, t: usize, b: usize) -> SmallParams {
    SmallParams([(t * b) as u32, (shape.hidden * shape.cell.gates()) as u32, shape.inputs[l] as u32, 0])
}

/// `MergeParams` shared by every layer.
pub fn merge_params(shape: &NetShape, t: usize, b: usize) -> SmallParams {
    SmallParams([(t * b) as u32, shape.out as u32, shape.merge.code(), 0])
}

/// Whether layer weights carry peepholes (only LSTM).
pub fn has_peepholes(cell: Cell, p: Option<&Vec<f32>>) -> bool {
    cell == Cell::Lstm && p.is_some()
}

#[cfg(test)]
mod tests {
    //! Each Rust mirror has the layout naga gives the WGSL struct it mirrors.

    use std::mem::{offset_of, size_of};

    use super::*;
    use crate::kernels::{Kernel, KernelBuild};

    /// `(size, member offsets)` of the WGSL struct `name` in `kernel`'s module.
    fn wgsl_layout(kernel: Kernel, name: &str) -> (u32, Vec<u32>) {
        let src = kernel.source(KernelBuild::Portable, 1);
        let module = naga::front::wgsl::parse_str(&src).expect("parses");
        let ty = module.types.iter().find(|(_, t)| t.name.as_deref() == Some(name)).expect("struct exists").1;
        match &ty.inner {
            naga::TypeInner::Struct { members, span } => (*span, members.iter().map(|m| m.offset).collect()),
            other => panic!("{name} is {other:?}"),
        }
    }

    #[test]
    fn uniform_structs_match_their_wgsl_layouts() {
        let layer = [
            offset_of!(LayerParams, steps),
            offset_of!(LayerParams, batch),
            offset_of!(LayerParams, hidden),
            offset_of!(LayerParams, hidden_in),
            offset_of!(LayerParams, dirs),
            offset_of!(LayerParams, reverse_mask),
            offset_of!(LayerParams, flags),
            offset_of!(LayerParams, clip),
            offset_of!(LayerParams, acts),
        ];
        let act = [offset_of!(Act, kind), offset_of!(Act, alpha), offset_of!(Act, beta), offset_of!(Act, _pad)];
        let small = [0, 4, 8, 12];
        let cases: [(Kernel, &str, usize, &[usize]); 5] = [
            (Kernel::LstmStep, "LayerParams", size_of::<LayerParams>(), &layer),
            (Kernel::LstmStep, "Act", size_of::<Act>(), &act),
            (Kernel::LstmStep, "StepParams", size_of::<SmallParams>(), &small),
            (Kernel::InputProjection, "MatmulParams", size_of::<SmallParams>(), &small),
            (Kernel::MergeDirections, "MergeParams", size_of::<SmallParams>(), &small),
        ];
        for (kernel, name, size, offsets) in cases {
            let (wgsl_size, wgsl_offsets) = wgsl_layout(kernel, name);
            assert_eq!(wgsl_size as usize, size, "{name}: size");
            let offsets: Vec<u32> = offsets.iter().map(|&o| o as u32).collect();
            assert_eq!(wgsl_offsets, offsets, "{name}: member offsets");
        }
        assert_eq!(wgsl_layout(Kernel::LstmStep, "LayerParams").0 as u64, crate::kernels::LAYER_PARAMS_SIZE);
    }
}
