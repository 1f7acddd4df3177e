#!/usr/bin/env bash
# Everything a lent NVIDIA machine should run, in one command (a start costs minutes and a task
# gets about 15 minutes of device time): adapter, conformance on that GPU, the deepbench suite
# and large batches against cuDNN, and every kernel version side by side. Outputs go to OUT.
#
# Prepare `.gpu/` here first, as ../shared/device/README.md says (loader .debs, gpu-run.sh,
# cudnn_bench.py, the release binary), then run on the device, with `.gpu` carried:
#
#     bash benches/gpu-session.sh "bash .gpu/gpu-run.sh" "$OUT"
#
# To try it on lavapipe (small sizes, no cuDNN): bash benches/gpu-session.sh target/release/wgpu-rnn /tmp/out quick
set -uo pipefail
run=$1
out=$2
mode=${3:-full}
mkdir -p "$out"
failed=0 # every step runs; the exit code says whether any failed
step() { echo "== $* ($(date +%T))" >&2; }

step info
$run info | tee "$out/info.txt" || failed=1

step "conformance cases on this GPU"
$run --require-gpu check tests/data/conformance tests/data/conformance-extra >"$out/check.txt" 2>&1 || failed=1
tail -2 "$out/check.txt"

if [ "$mode" = quick ]; then
  suite=(--suite quick)
  big=(--hidden 64 --batch 8 --steps 10)
  versions=(--hidden 64 --batch 1,8 --steps 10)
else
  suite=(--suite deepbench)
  big=(--hidden 512,1024 --batch 64,128 --steps 100)
  versions=(--hidden 128,512 --batch 1,4,64 --steps 100)
fi

step "bench: ${suite[*]}"
$run --require-gpu bench "${suite[@]}" --json "$out/bench.json" --plot "$out/bench.svg" | tee "$out/bench.txt" || failed=1
step "bench: large batches (goal: within 2x of cuDNN FP32)"
$run --require-gpu bench --cell all "${big[@]}" --json "$out/big.json" | tee "$out/big.txt" || failed=1

if [ -f .gpu/cudnn_bench.py ] && python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  for f in bench big; do
    step "cuDNN on $f.json"
    python3 .gpu/cudnn_bench.py "$out/$f.json" --out "$out/$f-cudnn.json" | tee "$out/$f-cudnn.txt" || failed=1
  done
else
  step "cuDNN: skipped (no .gpu/cudnn_bench.py or no CUDA PyTorch here)"
fi

step "kernel versions"
for v in auto rows1 rows4 rows8 rows16 persistent split1 split4; do
  $run --require-gpu bench --cell all "${versions[@]}" --repeats 3 --variant "$v" 2>"$out/versions-$v.log" | tee -a "$out/versions.txt" || failed=1
done
step "done (failed: $failed)"
exit $failed
