#!/usr/bin/env python3
"""Engine against cuDNN from the JSON that ../shared/device/cudnn_bench.py writes (the engine's
`bench --json` records, each with `cudnn_ms` added), with two ratios:

  wall:   cuDNN ms / the engine's wall ms (uploading x, recording, submitting, waiting included)
  kernel: cuDNN ms / the engine's GPU time between timestamps around the whole forward call
          (what CUDA events around cuDNN's forward measure: x already on the GPU)

A training record (`bench --train`, "train": true) compares the engine's whole training step
(forward with a tape, Linear head and MSE, backward, clipping, SGD update; no gradient of x,
which is data) with cuDNN's forward in training mode plus the backward into x and every weight
(no optimizer): its variant is printed with "train:" in front.

Above 1 the engine is faster.   python3 benches/side-by-side.py OUT/bench-cudnn.json [...]
"""
import json
import sys


def main(paths):
    print(f"{'cell':5} {'H':>5} {'B':>4} {'T':>5} {'variant':22} {'wall ms':>9} {'gpu ms':>9} "
          f"{'cuDNN ms':>9} {'wall x':>7} {'kernel x':>8}")
    for path in paths:
        for r in json.load(open(path)):
            gpu = r.get("gpu_ms")
            kernel = f"{r['cudnn_ms'] / gpu:8.2f}" if gpu else f"{'-':>8}"
            gpu_s = f"{gpu:9.3f}" if gpu else f"{'-':>9}"
            variant = ("train:" if r.get("train") else "") + r["variant"]
            print(f"{r['cell']:5} {r['hidden']:5d} {r['batch']:4d} {r['steps']:5d} {variant:22} "
                  f"{r['ms']:9.3f} {gpu_s} {r['cudnn_ms']:9.3f} {r['cudnn_ms'] / r['ms']:7.2f} {kernel}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
