#!/usr/bin/env python3
"""Training cases with truncated backpropagation through time, from PyTorch in float64.

Each case is a training case as tests/data/conformance/FORMAT.md ("train") describes, with the
metadata key `carry` = "true": step k trains on chunk k of the same B long sequences, starting
from the final state of chunk k - 1 (h_n, and c_n for an LSTM) detached, as a TBPTT loop in
PyTorch does (`state = tuple(s.detach() for s in state)`); chunk 0 starts from zeros. The
engine runs them with `Trainer::carry_state(true)` (`wgpu-rnn check`, tests/training.rs,
tests/gpu_training.rs). Cases whose float32 run misses the comparison's tolerance are left out.

    python3 tools/tbptt_cases.py OUT_DIR [--seed N] [--count K]

Needs torch, numpy and safetensors (`pip install torch numpy safetensors`, outside the repo).
"""
import argparse
import os
import random
import sys

import numpy as np
import torch
from safetensors.numpy import save_file
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def build(c, dtype):
    """The model's three parts as torch modules: embedding (or None), recurrent stack, head."""
    inputs = c["E"] if c["vocab"] else c["I"]
    common = dict(input_size=inputs, hidden_size=c["H"], num_layers=c["L"], bidirectional=c["bi"],
                  batch_first=True, dtype=dtype)
    if c["op"] == "LSTM":
        rnn = torch.nn.LSTM(proj_size=c["P"], **common)
    elif c["op"] == "GRU":
        rnn = torch.nn.GRU(**common)
    else:
        rnn = torch.nn.RNN(nonlinearity=c["nl"], **common)
    dirs = 2 if c["bi"] else 1
    head = torch.nn.Linear(dirs * (c["P"] or c["H"]), c["C"], dtype=dtype)
    emb = torch.nn.Embedding(c["vocab"], c["E"], dtype=dtype) if c["vocab"] else None
    return torch.nn.ModuleDict({"embedding": emb, "rnn": rnn, "head": head} if emb else {"rnn": rnn, "head": head})


def chunk_loss(c, m, x, y, lengths, state):
    """One chunk: the loss and the stack's final state (to carry)."""
    if c["vocab"]:
        x = m["embedding"](x)
    steps = x.shape[1]
    seq = x if lengths is None else pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, final = m["rnn"](seq, state)
    if lengths is not None:
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
    if c["head"] == "steps":
        logits = m["head"](out)  # [B, T, C]
        keep = torch.ones(out.shape[:2], dtype=torch.bool) if lengths is None else \
            torch.arange(steps)[None, :] < lengths[:, None]
        logits, y = logits[keep], y[keep]
    else:
        h_n = final[0] if c["op"] == "LSTM" else final
        dirs = 2 if c["bi"] else 1
        logits = m["head"](h_n[-dirs:].transpose(0, 1).reshape(x.shape[0], -1))  # [B, C]
    if c["loss"] == "cross_entropy":
        return torch.nn.functional.cross_entropy(logits, y.long()), final
    return ((logits - y) ** 2).mean(), final


def train(c, init, data, dtype):
    """K steps, each on the next chunk from the carried state; losses, norms, final parameters."""
    m = build(c, dtype)
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(torch.from_numpy(init[name]).to(dtype))
    params = list(m.parameters())
    if c["opt"] == "sgd":
        opt = torch.optim.SGD(params, lr=c["lr"], momentum=c["momentum"])
    elif c["opt"] == "adam":
        opt = torch.optim.Adam(params, lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"])
    else:
        opt = torch.optim.AdamW(params, lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"],
                                weight_decay=c["weight_decay"])
    state, losses, norms = None, [], []
    for k in range(c["K"]):
        x = torch.from_numpy(data["x"][k])
        x = x if c["vocab"] else x.to(dtype)
        y = torch.from_numpy(data["y"][k])
        y = y if c["loss"] == "cross_entropy" else y.to(dtype)
        lengths = torch.from_numpy(data["lengths"][k]).long() if "lengths" in data else None
        opt.zero_grad()
        loss, final = chunk_loss(c, m, x, y, lengths, state)
        loss.backward()
        norms.append(torch.sqrt(sum((p.grad ** 2).sum() for p in params)).item())
        if c["clip_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(params, c["clip_norm"])
        opt.step()
        losses.append(loss.item())
        # the state crosses into the next chunk, its gradient does not
        state = tuple(s.detach() for s in final) if isinstance(final, tuple) else final.detach()
    return np.array(losses), np.array(norms), {n: p.detach().numpy().copy() for n, p in m.named_parameters()}


def config(rng):
    op = rng.choice(["RNN", "GRU", "LSTM"])
    c = dict(op=op, vocab=rng.choice([0, 9, 30]), E=rng.choice([4, 8]), I=rng.choice([2, 5]),
             H=rng.choice([4, 7, 16]), L=rng.choice([1, 2]), bi=rng.random() < 0.3, P=0,
             nl=rng.choice(["tanh", "relu"]) if op == "RNN" else "tanh",
             head=rng.choice(["steps", "last"]), loss=rng.choice(["cross_entropy", "mse"]), C=rng.choice([2, 6]),
             opt=rng.choice(["sgd", "adam", "adamw"]), momentum=rng.choice([0.0, 0.9]), beta1=0.9, beta2=0.999,
             eps=1e-8, weight_decay=rng.choice([0.0, 0.01]), clip_norm=rng.choice([0.0, 1.0]),
             K=rng.choice([3, 5]), B=rng.choice([2, 3]), T=rng.choice([4, 7]), packed=rng.random() < 0.25,
             carry=True)
    if op == "LSTM" and rng.random() < 0.3:
        c["P"] = max(1, c["H"] // 2)
    c["lr"] = 0.1 if c["opt"] == "sgd" else 0.01
    return c


def tensors(c, rng_np):
    torch.manual_seed(int(rng_np.integers(1 << 30)))
    # float32 values, so the engine starts from exactly these
    init = {n: p.detach().numpy().astype(np.float32).astype(np.float64)
            for n, p in build(c, torch.float64).named_parameters()}
    K, B, T = c["K"], c["B"], c["T"]
    data = {"x": rng_np.integers(0, c["vocab"], (K, B, T)).astype(np.int32) if c["vocab"] else
            rng_np.standard_normal((K, B, T, c["I"])).astype(np.float32)}
    rows = (K, B, T) if c["head"] == "steps" else (K, B)
    data["y"] = rng_np.integers(0, c["C"], rows).astype(np.int32) if c["loss"] == "cross_entropy" else \
        rng_np.standard_normal(rows + (c["C"],)).astype(np.float32)
    if c["packed"]:
        lengths = rng_np.integers(1, T + 1, (K, B)).astype(np.int32)
        lengths[:, 0] = T
        data["lengths"] = lengths
    return init, data


def close(got, want):
    """Within the bounds the engine's comparison applies (rel 1e-4, max 1e-3 of the scale)."""
    scale = max(1.0, float(np.abs(want).max()))
    rel = float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))
    return rel <= 1e-4 and float(np.abs(got - want).max()) <= 1e-3 * scale


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--count", type=int, default=6)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng, rng_np = random.Random(a.seed), np.random.default_rng(a.seed)
    written = tries = 0
    while written < a.count and tries < 4 * a.count:
        tries += 1
        c = config(rng)
        init, data = tensors(c, rng_np)
        losses, norms, final = train(c, init, data, torch.float64)
        l32, _, f32 = train(c, init, data, torch.float32)
        if not close(l32, losses) or not all(close(f32[n], final[n]) for n in final):
            print("left out: its float32 run misses the tolerance", file=sys.stderr)
            continue
        t = {f"init.{n}": v.astype(np.float32) for n, v in init.items()}
        t.update({f"final.{n}": v.astype(np.float32) for n, v in final.items()})
        t.update({f"data.{n}": v for n, v in data.items()})
        t["loss"], t["grad_norm"] = losses.astype(np.float32), norms.astype(np.float32)
        meta = {"format": "train", "source": f"torch {torch.__version__}, float64, tools/tbptt_cases.py"}
        meta.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in c.items()})
        name = (f"train_tbptt_{a.seed}_{written:02d}_{c['op'].lower()}{'_emb' if c['vocab'] else ''}_h{c['H']}_l{c['L']}"
                f"{'_bi' if c['bi'] else ''}{'_p%d' % c['P'] if c['P'] else ''}_{c['head']}_{c['loss']}_{c['opt']}"
                f"{'_packed' if c['packed'] else ''}")
        save_file({k: np.ascontiguousarray(v) for k, v in t.items()}, os.path.join(a.out, name + ".safetensors"),
                  metadata=meta)
        print(f"{name}: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
        written += 1
    print(f"{written} TBPTT training cases in {a.out} ({tries - written} left out)")


if __name__ == "__main__":
    main()
