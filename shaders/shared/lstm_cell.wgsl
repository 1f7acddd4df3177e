// The LSTM cell update shared by lstm_step (and the kernels that end as it does) and
// layer_persistent: ONNX gates i, o, f, c; peepholes i, o, f; clip; input_forget. `a` holds the
// four gate pre-activations without peepholes. Needs the kernel's `lp: LayerParams`.
// uses: shared/activations shared/layer_params
struct LstmCell {
    c: f32,
    h: f32, // o ⊙ h(c): h itself, or m before a projection
}

fn lstm_cell(d: u32, a: vec4<f32>, pv: vec3<f32>, c_prev: f32) -> LstmCell {
    let f_act = lp.acts[act_index(lp.flags, d, 0u)];
    let i = activate(f_act, clip_gate(lp, a.x + pv.x * c_prev));
    var f = 1.0 - i;
    if ((lp.flags & FLAG_INPUT_FORGET) == 0u) {
        f = activate(f_act, clip_gate(lp, a.z + pv.z * c_prev));
    }
    let g = activate(lp.acts[act_index(lp.flags, d, 1u)], clip_gate(lp, a.w));
    let c_new = f * c_prev + i * g;
    let o = activate(f_act, clip_gate(lp, a.y + pv.y * c_new));
    return LstmCell(c_new, o * activate(lp.acts[act_index(lp.flags, d, 2u)], c_new));
}
