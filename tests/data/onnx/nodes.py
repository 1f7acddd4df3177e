"""Makes the single-node ONNX model files of tests/onnx.rs that PyTorch's exporter never
writes: `layout = 1` (batch-major X, Y and states) and `sequence_lens` as a graph input. Each
`NAME.onnx` is one RNN, GRU or LSTM node built with onnx.helper, with random weights as
initializers; `NAME.safetensors` is the same node as an `onnx` conformance case (FORMAT.md in
tests/data/conformance): its weights, an input under the graph's input names (X,
sequence_lens, initial_h, initial_c) and ONNX Runtime's outputs under its output names (Y, Y_h,
Y_c).

    pip install onnx onnxruntime safetensors numpy
    python tests/data/onnx/nodes.py tests/data/onnx [SEED]

Run once; the small files are committed. Not run by CI.
"""
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from safetensors.numpy import save_file

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}

NODES = [
    # name, op, direction, layout, (T, B, I, H), extra attributes, states given, sequence_lens given
    ("lstm_layout1_bidi_seqlens", "LSTM", "bidirectional", 1, (5, 3, 4, 3), {}, True, True),
    ("gru_layout1_lbr_seqlens", "GRU", "forward", 1, (4, 3, 3, 5), {"linear_before_reset": 1}, True, True),
    ("rnn_layout0_reverse_seqlens", "RNN", "reverse", 0, (6, 2, 3, 4), {"activations": ["Relu"]}, False, True),
    ("lstm_layout1_peephole", "LSTM", "forward", 1, (3, 2, 2, 3), {}, True, False),
]


def run_ort(model, layout, outs, feeds):
    """ONNX Runtime's outputs. Its CPU kernels take layout 0 only, so a layout-1 node runs as the
    same node with layout 0 on inputs transposed to time-major, and its outputs are transposed
    back: what the ONNX spec defines layout 1 to be."""
    if layout == 1:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        node = model.graph.node[0]
        for a in node.attribute:
            if a.name == "layout":
                a.i = 0
        feeds = {k: (v.transpose(1, 0, 2) if v.ndim == 3 else v) for k, v in feeds.items()}
        for v in list(model.graph.input) + list(model.graph.output):
            dims = v.type.tensor_type.shape.dim
            if len(dims) == 3:
                d0, d1 = dims[0].dim_value, dims[1].dim_value
                dims[0].dim_value, dims[1].dim_value = d1, d0
            if len(dims) == 4:  # Y [B, T, D, H] -> [T, D, B, H]
                b, t, d, h = (x.dim_value for x in dims)
                for x, n in zip(dims, (t, d, b, h)):
                    x.dim_value = n
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(outs, feeds)
    if layout == 1:
        got = [g.transpose(2, 0, 1, 3) if g.ndim == 4 else g.transpose(1, 0, 2) for g in got]
    return got


def make(name, op, direction, layout, dims, attrs, states, seqlens, rng):
    t, b, i, h = dims
    d = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    w = rng.uniform(-0.5, 0.5, (d, g * h, i)).astype(np.float32)
    r = rng.uniform(-0.5, 0.5, (d, g * h, h)).astype(np.float32)
    bias = rng.uniform(-0.5, 0.5, (d, 2 * g * h)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"), numpy_helper.from_array(bias, "B")]
    x_shape = [b, t, i] if layout else [t, b, i]
    s_shape = [b, d, h] if layout else [d, b, h]
    graph_inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)]
    feeds = {"X": rng.standard_normal(x_shape).astype(np.float32)}
    node_inputs = ["X", "W", "R", "B", "", "", ""]
    if seqlens:
        graph_inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [b]))
        feeds["sequence_lens"] = rng.integers(1, t + 1, b).astype(np.int32)
        feeds["sequence_lens"][0] = t
        node_inputs[4] = "sequence_lens"
    state_names = ["initial_h"] + (["initial_c"] if op == "LSTM" else [])
    if states:
        for k, s in enumerate(state_names):
            graph_inputs.append(helper.make_tensor_value_info(s, TensorProto.FLOAT, s_shape))
            feeds[s] = rng.standard_normal(s_shape).astype(np.float32)
            node_inputs[5 + k] = s
    if name.endswith("peephole"):
        inits.append(numpy_helper.from_array(rng.uniform(-0.5, 0.5, (d, 3 * h)).astype(np.float32), "P"))
        node_inputs.append("P")
    while node_inputs and node_inputs[-1] == "":
        node_inputs.pop()
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    y_shape = [b, t, d, h] if layout else [t, d, b, h]
    graph_outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_shape)] + [
        helper.make_tensor_value_info(o, TensorProto.FLOAT, s_shape) for o in outs[1:]
    ]
    node = helper.make_node(op, node_inputs, outs, name=f"{op.lower()}0", hidden_size=h, direction=direction,
                            layout=layout, **attrs)
    graph = helper.make_graph([node], name, graph_inputs, graph_outputs, inits)
    model = helper.make_model(graph, producer_name="wgpu-rnn tests/data/onnx/nodes.py",
                              opset_imports=[helper.make_opsetid("", 22)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    got = run_ort(model, layout, outs, feeds)
    if layout == 1:
        # a check of the transposes: onnx's reference evaluator runs the layout-1 node as it is
        # (it ignores sequence_lens, so it runs the same node without them)
        plain = onnx.ModelProto.FromString(model.SerializeToString())
        if len(plain.graph.node[0].input) > 4:
            plain.graph.node[0].input[4] = ""
        kept = [v for v in plain.graph.input if v.name != "sequence_lens"]
        del plain.graph.input[:]
        plain.graph.input.extend(kept)
        ref = ReferenceEvaluator(plain).run(outs, feeds)
        full = {k: v for k, v in feeds.items() if k != "sequence_lens"}
        for o, a, e in zip(outs, run_ort(plain, layout, outs, full), ref):
            assert np.abs(a - e).max() < 1e-5, (name, o, np.abs(a - e).max())
    tensors = dict(feeds)
    tensors.update(dict(zip(outs, got)))
    tensors.update({t.name: numpy_helper.to_array(t) for t in inits})
    meta = {
        "format": "onnx",
        "op": op,
        "direction": direction,
        "hidden_size": str(h),
        "layout": str(layout),
        "activations": ",".join(attrs.get("activations", [])),
        "activation_alpha": "",
        "activation_beta": "",
        "clip": "",
        "input_forget": "0",
        "linear_before_reset": str(attrs.get("linear_before_reset", 0)),
    }
    return model, tensors, meta


def main(out: Path, seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for spec in NODES:
        model, tensors, meta = make(*spec, rng)
        onnx.save(model, out / f"{spec[0]}.onnx")
        meta.update({"source": f"onnxruntime {ort.__version__}, tests/data/onnx/nodes.py", "seed": str(seed)})
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, out / f"{spec[0]}.safetensors",
                  metadata=meta)
        print(spec[0], {k: list(v.shape) for k, v in tensors.items()})


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0)
