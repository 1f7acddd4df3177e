"""Load a model trained by `cargo run --example char_rnn` into torch.nn.Embedding,
torch.nn.LSTM (or GRU, RNN) and torch.nn.Linear, and sample from the same prompt.

    pip install torch safetensors
    python examples/char_rnn/sample_torch.py target/char_rnn

Not run by CI. The state_dict names are PyTorch's (embedding.weight, rnn.weight_ih_l0, ...,
head.weight); the optimizer's moments (optimizer.m.*, optimizer.v.*) are left out.
"""
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


class CharModel(torch.nn.Module):
    def __init__(self, cell, vocab, embed, hidden, layers):
        super().__init__()
        rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
        self.embedding = torch.nn.Embedding(vocab, embed)
        self.rnn = rnn(embed, hidden, num_layers=layers)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, ids, state=None):  # ids: [T, 1]
        y, state = self.rnn(self.embedding(ids), state)
        return self.head(y), state


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "target/char_rnn")
    meta = json.loads((out / "char_rnn.json").read_text())
    vocab = meta["vocab"]
    tensors = load_file(str(out / "char_rnn.safetensors"))
    weights = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    model = CharModel(meta["cell"], len(vocab), meta["embed"], meta["hidden"], meta["layers"])
    model.load_state_dict(weights)  # strict: every name and shape must match
    model.eval()
    prompt, temperature = meta["prompt"], meta["temperature"]
    missing = [c for c in prompt if c not in vocab]
    if missing:
        sys.exit(f"the prompt's characters {missing!r} are not in the vocabulary")
    torch.manual_seed(1)
    ids = torch.tensor([[vocab.index(c)] for c in prompt])
    text, state = prompt, None
    with torch.no_grad():
        for _ in range(400):
            logits, state = model(ids, state)
            p = torch.softmax(logits[-1, 0] / temperature, dim=-1)
            nxt = int(torch.multinomial(p, 1))
            text += vocab[nxt]
            ids = torch.tensor([[nxt]])
    print(text)


if __name__ == "__main__":
    main()
