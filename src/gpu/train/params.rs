//! Rust mirrors of the training kernels' uniforms.

use bytemuck::{Pod, Zeroable};

use crate::plan::train::{Matmul, TrainLayer, TrainPlan};
use crate::spec::MergeMode;

/// Size of `TrainParams` in WGSL.
pub const TRAIN_PARAMS_SIZE: u64 = 112;
/// Size of `MatmulParams` (shaders/train/matmul.wgsl) in WGSL.
pub const MATMUL_PARAMS_SIZE: u64 = 64;

/// Keep in sync with `TrainParams` in shaders/train/train_params.wgsl (a test compares).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct TrainParams {
    pub w_off: u32,
    pub r_off: u32,
    pub b_off: u32,
    pub p_off: u32,
    pub proj_off: u32,
    pub record: u32,
    pub hprev_off: u32,
    pub ext_off: u32,
    pub state_m: u32,
    pub merge: u32,
    pub width: u32,
    pub state_c: u32,
    pub carry_c: u32,
    pub carry_dh0: u32,
    pub carry_direct: u32,
    pub carry_c0: u32,
    pub dgr_off: u32,
    pub dp_off: u32,
    pub state_h0: u32,
    pub layer: u32,
    pub fold: u32,
    pub rt_fold: u32,
    pub fold_off: u32,
    pub walk_steps: u32,
    pub row_quads: u32,
    pub rq_off: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// Keep in sync with `MatmulParams` in shaders/train/matmul.wgsl (a test compares).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct MatmulParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub flags: u32,
    pub a_off: u32,
    pub a_m: u32,
    pub a_k: u32,
    pub bias_off: u32,
    pub b_off: u32,
    pub b_k: u32,
    pub b_n: u32,
    pub _pad0: u32,
    pub c_off: u32,
    pub c_m: u32,
    pub c_n: u32,
    pub _pad1: u32,
}

/// Size of `DropoutParams` (shaders/train/dropout.wgsl) in WGSL.
pub const DROPOUT_PARAMS_SIZE: u64 = 32;

/// Keep in sync with `DropoutParams` in shaders/train/dropout.wgsl (a test compares).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct DropoutParams {
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub step: u32,
    pub threshold: u32,
    pub scale: f32,
    pub rec_threshold: u32,
    pub rec_scale: f32,
    pub flags: u32,
}

const _: () = assert!(std::mem::size_of::<DropoutParams>() as u64 == DROPOUT_PARAMS_SIZE);

/// Size of `LossParams` (shaders/train/loss.wgsl) in WGSL.
pub const LOSS_PARAMS_SIZE: u64 = 32;
/// Size of `OptimizerParams` (shaders/train/optimizer.wgsl) in WGSL.
pub const OPTIMIZER_PARAMS_SIZE: u64 = 48;

/// Keep in sync with `LossParams` in shaders/train/loss.wgsl (a test compares).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct LossParams {
    pub rows: u32,
    pub classes: u32,
    pub kind: u32,
    pub batch: u32,
    pub steps: u32,
    pub scale: f32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// Keep in sync with `OptimizerParams` in shaders/train/optimizer.wgsl (a test compares).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct OptimizerParams {
    pub kind: u32,
    pub flags: u32,
    pub lr: f32,
    pub momentum: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub bias1: f32,
    pub bias2: f32,
    pub clip_norm: f32,
    pub clip_value: f32,
}

const _: () = assert!(std::mem::size_of::<LossParams>() as u64 == LOSS_PARAMS_SIZE);
const _: () = assert!(std::mem::size_of::<OptimizerParams>() as u64 == OPTIMIZER_PARAMS_SIZE);
const _: () = assert!(std::mem::size_of::<TrainParams>() as u64 == TRAIN_PARAMS_SIZE);
const _: () = assert!(std::mem::size_of::<MatmulParams>() as u64 == MATMUL_PARAMS_SIZE);

fn u(v: usize) -> u32 {
    v as u32
}

impl TrainParams {
    /// Layer l's training uniforms in `plan` (sizes checked to fit u32 by `gpu::train`).
    pub fn new(plan: &TrainPlan, l: usize) -> TrainParams {
        let (ly, t, b): (TrainLayer, usize, usize) = (plan.layers[l], plan.steps, plan.batch);
        let merge = if ly.dirs == 2 { plan.merge } else { MergeMode::Concat };
        TrainParams {
            w_off: 0,
            r_off: u(ly.r_off()),
            b_off: u(ly.b_off()),
            p_off: u(ly.p_off()),
            proj_off: u(ly.proj_off()),
            record: u(ly.record()),
            hprev_off: u(ly.hprev_off()),
            ext_off: u(ly.ext_off()),
            state_m: u(ly.state_m(b)),
            merge: merge.code(),
            width: u(plan.merged_width(l)),
            state_c: u(ly.dirs * b * ly.out),
            carry_c: u(ly.carry_c(b)),
            carry_dh0: u(ly.carry_dh0(b)),
            carry_direct: u(ly.carry_direct(b)),
            carry_c0: u(ly.carry_c0(b)),
            dgr_off: u(ly.dgr_off(t, b)),
            dp_off: u(ly.dp_off(t, b)),
            state_h0: u(ly.state_h0(b)),
            layer: u(l),
            fold: u(ly.folded() as usize),
            rt_fold: u(ly.rt_fold()),
            fold_off: u(ly.fold_off(t, b)),
            walk_steps: u(ly.walk_steps()),
            row_quads: u(ly.row_quads() as usize),
            rq_off: u(ly.rq_off(t, b)),
            _pad0: 0,
            _pad1: 0,
        }
    }
}

impl From<&Matmul> for MatmulParams {
    fn from(p: &Matmul) -> Self {
        MatmulParams {
            m: u(p.m),
            n: u(p.n),
            k: u(p.k),
            flags: p.flags,
            a_off: u(p.a_off),
            a_m: u(p.a_m),
            a_k: u(p.a_k),
            bias_off: u(p.bias_off),
            b_off: u(p.b_off),
            b_k: u(p.b_k),
            b_n: u(p.b_n),
            _pad0: 0,
            c_off: u(p.c_off),
            c_m: u(p.c_m),
            c_n: u(p.c_n),
            _pad1: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::kernels::TrainKernel;

    /// `(size, member offsets)` of the WGSL struct `name` in `kernel`'s module.
    fn wgsl_layout(kernel: TrainKernel, name: &str) -> (u64, Vec<u32>) {
        let module = naga::front::wgsl::parse_str(&kernel.source()).expect("parses");
        let ty = module.types.iter().find(|(_, t)| t.name.as_deref() == Some(name)).expect("struct exists").1;
        match &ty.inner {
            naga::TypeInner::Struct { members, span } => (*span as u64, members.iter().map(|m| m.offset).collect()),
            other => panic!("{name} is {other:?}"),
        }
    }

    #[test]
    fn training_uniforms_match_their_wgsl_layouts() {
        // every member is 4 bytes wide, in the same order: offsets 0, 4, 8, ...
        for (kernel, name, size) in [
            (TrainKernel::TrainStep, "TrainParams", super::TRAIN_PARAMS_SIZE),
            (TrainKernel::Matmul, "MatmulParams", super::MATMUL_PARAMS_SIZE),
            (TrainKernel::Loss, "LossParams", super::LOSS_PARAMS_SIZE),
            (TrainKernel::OptimizerUpdate, "OptimizerParams", super::OPTIMIZER_PARAMS_SIZE),
            (TrainKernel::Embed, "EmbedParams", crate::kernels::SMALL_PARAMS_SIZE),
            (TrainKernel::Dropout, "DropoutParams", super::DROPOUT_PARAMS_SIZE),
            (TrainKernel::TrainStep, "DropoutParams", super::DROPOUT_PARAMS_SIZE),
            (TrainKernel::Dropout, "DropoutSite", crate::kernels::SMALL_PARAMS_SIZE),
            (TrainKernel::OptimizerUpdate, "GroupParams", crate::kernels::SMALL_PARAMS_SIZE),
        ] {
            let (wgsl_size, offsets) = wgsl_layout(kernel, name);
            assert_eq!(wgsl_size, size, "{name}: size");
            let expect: Vec<u32> = (0..size as u32 / 4).map(|i| 4 * i).collect();
            assert_eq!(offsets, expect, "{name}: member offsets");
        }
    }
}
