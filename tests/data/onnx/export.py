"""Makes the ONNX model files of tests/onnx.rs: PyTorch recurrent stacks exported with
torch.onnx.export (the TorchScript exporter, opset 17), each beside a `pytorch` conformance case
(FORMAT.md in tests/data/conformance) with the same weights, an input and torch's outputs.

    pip install torch onnx safetensors numpy
    python tests/data/onnx/export.py tests/data/onnx

Run once; the small files are committed. Not run by CI.
"""
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

MODELS = [
    # name, module class, kwargs, batch_first, (T, B), initial states given
    ("lstm_2layer_bidi_batchfirst", torch.nn.LSTM, dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True), True, (5, 2), False),
    ("gru_2layer", torch.nn.GRU, dict(input_size=5, hidden_size=6, num_layers=2), False, (4, 3), False),
    ("rnn_relu_bidi_batchfirst", torch.nn.RNN, dict(input_size=4, hidden_size=5, nonlinearity="relu", bidirectional=True), True, (6, 2), False),
    ("lstm_1layer", torch.nn.LSTM, dict(input_size=2, hidden_size=3), False, (3, 1), False),
    ("lstm_2layer_bidi_h0c0", torch.nn.LSTM, dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True), False, (4, 2), True),
    ("gru_2layer_h0_batchfirst", torch.nn.GRU, dict(input_size=3, hidden_size=5, num_layers=2), True, (3, 2), True),
]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for name, cls, kw, batch_first, (t, b), given in MODELS:
        m = cls(batch_first=batch_first, **kw).eval()
        x = torch.randn((b, t, kw["input_size"]) if batch_first else (t, b, kw["input_size"]))
        lstm = cls is torch.nn.LSTM
        names = ["output", "h_n"] + (["c_n"] if lstm else [])
        states = {}
        if given:
            rows = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
            states["h0"] = torch.randn(rows, b, kw["hidden_size"])
            if lstm:
                states["c0"] = torch.randn(rows, b, kw["hidden_size"])
        args = (x,) if not given else (x, (states["h0"], states["c0"]) if lstm else states["h0"])
        torch.onnx.export(m, args, out / f"{name}.onnx", dynamo=False, opset_version=17,
                          input_names=["input"] + list(states), output_names=names)
        with torch.no_grad():
            y = m(*args)
        outputs = dict(output=y[0], h_n=y[1][0] if lstm else y[1])
        if lstm:
            outputs["c_n"] = y[1][1]
        tensors = {k: v.detach().contiguous() for k, v in m.state_dict().items()}
        tensors["input"] = x.contiguous()
        tensors.update(states)
        tensors.update({k: v.contiguous() for k, v in outputs.items()})
        meta = dict(
            format="pytorch",
            op=cls.__name__,
            input_size=str(kw["input_size"]),
            hidden_size=str(kw["hidden_size"]),
            num_layers=str(kw.get("num_layers", 1)),
            proj_size="0",
            bidirectional=str(kw.get("bidirectional", False)).lower(),
            batch_first=str(batch_first).lower(),
            nonlinearity=kw.get("nonlinearity", "tanh"),
            merge_mode="concat",
            source=f"torch {torch.__version__}, torch.onnx.export opset 17 (tests/data/onnx/export.py)",
        )
        save_file(tensors, out / f"{name}.safetensors", metadata=meta)
        print(name)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
