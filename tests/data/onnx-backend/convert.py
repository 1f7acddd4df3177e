"""Writes the ONNX project's own backend node tests for RNN, GRU and LSTM (the test cases in
the `onnx` package, `onnx.backend.test.case.node`: test_lstm_defaults, test_gru_batchwise, ...)
as `onnx` conformance cases (FORMAT.md in tests/data/conformance): the node's attributes as
metadata, its inputs and the expected outputs the test gives under the node's names. Many give
`Y_h` alone; such a case is checked on the outputs it gives.

    pip install onnx safetensors numpy
    python tests/data/onnx-backend/convert.py tests/data/onnx-backend

Run once (onnx 1.23.2 made the committed files); not run by CI.
"""
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import helper
from onnx.backend.test.case.node import collect_testcases
from safetensors.numpy import save_file

INPUTS = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]
OUTPUTS = ["Y", "Y_h", "Y_c"]


def convert(case):
    node = case.model.graph.node[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    text = lambda v: v.decode() if isinstance(v, bytes) else str(v)
    meta = {
        "format": "onnx",
        "op": node.op_type,
        "direction": text(attrs.get("direction", "forward")),
        "hidden_size": str(attrs["hidden_size"]),
        "layout": str(attrs.get("layout", 0)),
        "activations": ",".join(text(a) for a in attrs.get("activations", [])),
        "activation_alpha": ",".join(str(a) for a in attrs.get("activation_alpha", [])),
        "activation_beta": ",".join(str(a) for a in attrs.get("activation_beta", [])),
        "clip": str(attrs["clip"]) if "clip" in attrs else "",
        "input_forget": str(attrs.get("input_forget", 0)),
        "linear_before_reset": str(attrs.get("linear_before_reset", 0)),
        "source": f"onnx {onnx.__version__} backend node test {case.name} (tests/data/onnx-backend/convert.py)",
    }
    (inputs, outputs), = case.data_sets
    tensors = {}
    given = [n for n in node.input]
    for name, value in zip(given, inputs):
        role = INPUTS[given.index(name)]
        tensors[role] = value.astype(np.int32 if role == "sequence_lens" else np.float32)
    produced = [(OUTPUTS[i], n) for i, n in enumerate(node.output) if n]
    for (role, _), value in zip(produced, outputs):
        tensors[role] = value.astype(np.float32)
    return meta, {k: np.ascontiguousarray(v) for k, v in tensors.items()}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    cases = [c for c in collect_testcases() if c.model.graph.node and c.model.graph.node[0].op_type in ("RNN", "GRU", "LSTM")]
    for case in cases:
        meta, tensors = convert(case)
        save_file(tensors, out / f"{case.name.removeprefix('test_')}.safetensors", metadata=meta)
        print(case.name, sorted(tensors))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
