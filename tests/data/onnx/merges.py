"""Makes the ONNX model files of tests/onnx.rs whose bidirectional layers' two directions are
merged by a sum, an average or a product written in PyTorch, as a model does it by hand (the
PyTorch seq2seq tutorial's encoder sums them: `out[:, :, :H] + out[:, :, H:]`):
torch.onnx.export writes each merge as two `Slice`s of the concatenated output and an `Add`
(a `Div` by 2 after it for the average, a `Mul` for the product). A stack is one-layer modules
with a merge after each. Each `NAME.onnx` is beside a `pytorch` conformance case (FORMAT.md in
tests/data/conformance) with the same weights (module k's `*_l0` as layer k's `*_l{k}`), its
`merge_mode`, an input and torch's outputs.

    pip install torch onnx safetensors numpy
    python tests/data/onnx/merges.py tests/data/onnx

Run once; the small files are committed. Not run by CI.
"""
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

MODELS = [
    # name, module class, input size, hidden size, layers, merge, (T, B), batch_first
    ("gru_bidi_sum", torch.nn.GRU, 3, 4, 1, "sum", (5, 2), False),
    ("lstm_2stack_bidi_average", torch.nn.LSTM, 3, 4, 2, "average", (4, 3), True),
    ("rnn_2stack_bidi_mul", torch.nn.RNN, 2, 3, 2, "mul", (6, 2), False),
]


class Stack(torch.nn.Module):
    def __init__(self, cls, i, h, layers, merge, batch_first):
        super().__init__()
        self.rnns = torch.nn.ModuleList(
            cls(i if k == 0 else h, h, bidirectional=True, batch_first=batch_first) for k in range(layers))
        self.h, self.merge, self.lstm = h, merge, cls is torch.nn.LSTM

    def merged(self, out):
        a, b = out[..., :self.h], out[..., self.h:]
        return {"sum": lambda: a + b, "average": lambda: (a + b) / 2, "mul": lambda: a * b}[self.merge]()

    def forward(self, x):
        hs, cs = [], []
        for rnn in self.rnns:
            out, state = rnn(x)
            h, c = state if self.lstm else (state, None)
            hs.append(h)
            cs.append(c)
            x = self.merged(out)
        return (x, torch.cat(hs, 0), torch.cat(cs, 0)) if self.lstm else (x, torch.cat(hs, 0))


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(1)
    for name, cls, i, h, layers, merge, (t, b), batch_first in MODELS:
        m = Stack(cls, i, h, layers, merge, batch_first).eval()
        x = torch.randn((b, t, i) if batch_first else (t, b, i))
        names = ["output", "h_n"] + (["c_n"] if m.lstm else [])
        torch.onnx.export(m, (x,), out / f"{name}.onnx", dynamo=False, opset_version=17,
                          input_names=["input"], output_names=names)
        with torch.no_grad():
            y = m(x)
        tensors = {}
        for k, rnn in enumerate(m.rnns):
            for key, v in rnn.state_dict().items():
                tensors[key.replace("_l0", f"_l{k}")] = v.detach().contiguous()
        tensors["input"] = x.contiguous()
        tensors.update({n: v.contiguous() for n, v in zip(names, y)})
        meta = dict(
            format="pytorch",
            op=cls.__name__,
            input_size=str(i),
            hidden_size=str(h),
            num_layers=str(layers),
            proj_size="0",
            bidirectional="true",
            batch_first=str(batch_first).lower(),
            nonlinearity="tanh",
            merge_mode=merge,
            source=f"torch {torch.__version__}, torch.onnx.export opset 17 (tests/data/onnx/merges.py)",
        )
        save_file(tensors, out / f"{name}.safetensors", metadata=meta)
        print(name)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
