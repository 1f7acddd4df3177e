#!/usr/bin/env bash
# Everything a lent NVIDIA machine should run, in one command (a start costs minutes and a task
# gets about 15 minutes of device time). Outputs go to OUT. MODE picks what:
#   full   (default) forward: adapter, conformance on that GPU, the deepbench suite and large
#          batches against cuDNN, every kernel version side by side, the forward test binaries;
#   train  training: the gradient and training cases on that GPU, `bench --train` at DeepBench's
#          inference sizes (batch 1-4) and training sizes (batch 8-128) against cuDNN's forward +
#          backward, where a step's time goes (--breakdown), the training test binaries;
#   quick  both at small sizes, no cuDNN: a dry run on lavapipe (.ci/run runs it).
#
# Prepare `.gpu/` here first with benches/gpu-prep.sh (the release binary, the test binaries,
# Vulkan loader and GL client .debs, gpu-run.sh, cudnn_bench.py), then run on the device, with
# `.gpu` carried:
#
#     bash benches/gpu-session.sh "bash .gpu/gpu-run.sh" "$OUT" [train]
#
# The test binaries (`.gpu/tests.tgz`) run there too, so every kernel version meets its CPU
# reference on that GPU.
#
# To try it on lavapipe (small sizes, no cuDNN): bash benches/gpu-session.sh target/release/wgpu-rnn /tmp/out quick
set -uo pipefail
run=$1
out=$2
mode=${3:-full}
case $mode in full | train | quick) ;; *) echo "unknown mode '$mode' (full, train or quick)" >&2; exit 2 ;; esac
forward=0 train=0
[ "$mode" = train ] || forward=1
[ "$mode" = full ] || train=1
mkdir -p "$out"
failed=0 # every step runs; the exit code says whether any failed
step() { echo "== $* ($(date +%T))" >&2; }
# No step may hang the session: a lent machine's time is short. A whole training suite gets
# longer; its JSON is rewritten after each size, so a cut leaves the sizes that ran.
long="timeout 300 $run"
run="timeout 180 $run"
cudnn() { # cuDNN on OUT/$1.json, then both side by side, where CUDA PyTorch is here
  if [ -f .gpu/cudnn_bench.py ] && python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    step "cuDNN on $1.json"
    python3 .gpu/cudnn_bench.py "$out/$1.json" --out "$out/$1-cudnn.json" | tee "$out/$1-cudnn.txt" || failed=1
    python3 benches/side-by-side.py "$out/$1-cudnn.json" | tee "$out/$1-side-by-side.txt" || failed=1
  else
    step "cuDNN on $1.json: skipped (no .gpu/cudnn_bench.py or no CUDA PyTorch here)"
  fi
}

# GL client libraries for NVIDIA's Vulkan driver, where the machine lacks them (gpu-prep.sh)
if [ -d .gpu/gl ] && command -v nvidia-smi >/dev/null && ! ldconfig -p | grep -q 'libGLdispatch.so.0 '; then
  step "unpacking glvnd and GL client libraries"
  for f in .gpu/gl/*.deb; do
    lib=$(dpkg-deb -c "$f" | grep -o '[^/]*\.so\.[0-9]*$' | head -1)
    if [ -z "$lib" ] || ! ldconfig -p | grep -q "$lib "; then dpkg -x "$f" /; fi
  done
  ldconfig
fi

step info
$run info | tee "$out/info.txt" || failed=1

if [ "$forward" = 1 ]; then
  step "conformance cases on this GPU"
  $run --require-gpu check tests/data/conformance tests/data/conformance-extra >"$out/check.txt" 2>&1 || failed=1
  tail -2 "$out/check.txt"

  if [ "$mode" = quick ]; then
    suite=(--suite quick)
    split=(--cell all --hidden 64 --batch 1,4 --steps 10) # lavapipe runs the split kernels slowly
    big=(--hidden 64 --batch 8 --steps 10)
    versions=(--hidden 64 --batch 1,17 --steps 10)
    rnn_versions=(--hidden 32 --batch 1 --steps 10)
  else
    suite=(--suite deepbench)
    split=("${suite[@]}")
    big=(--hidden 512,1024 --batch 16,64,128 --steps 100)
    versions=(--hidden 64,128,512,1024,2048 --batch 1,2,4,16,64 --steps 50)
    rnn_versions=(--hidden 32,64,128 --batch 1,4,64 --steps 100)
  fi

  step "bench: ${suite[*]}"
  $run --require-gpu bench "${suite[@]}" --breakdown --json "$out/bench.json" --plot "$out/bench.svg" | tee "$out/bench.txt" || failed=1
  step "bench: large batches (goal: within 2x of cuDNN FP32)"
  $run --require-gpu bench --cell all "${big[@]}" --breakdown --json "$out/big.json" | tee "$out/big.txt" || failed=1
  step "bench: large batches with x already on the GPU (stream chunks), beside the host uploads above"
  $run --require-gpu bench --cell all "${big[@]}" --x-on-gpu --json "$out/big-x-on-gpu.json" | tee "$out/big-x-on-gpu.txt" || failed=1

  cudnn bench
  cudnn big

  step "bench: ${split[*]} with the split-K kernels, beside the default"
  $run --require-gpu bench "${split[@]}" --variant split1 --json "$out/bench-split1.json" >"$out/bench-split1.txt" || failed=1

  step "kernel versions (sizes a variant cannot run are skipped)"
  for v in auto rows1 persistent split1 sliced1 sliced4 tiled1 tiled4; do
    $run --require-gpu bench --cell all "${versions[@]}" --repeats 3 --variant "$v" 2>>"$out/versions.log" | tee -a "$out/versions.txt" || failed=1
  done
  for v in auto rows1 persistent split1; do
    $run --require-gpu bench --cell rnn "${rnn_versions[@]}" --repeats 3 --variant "$v" 2>>"$out/versions.log" | tee -a "$out/versions.txt" || failed=1
  done
fi

if [ "$train" = 1 ]; then
  if [ "$mode" = quick ]; then
    cases=(tests/data/train)
    small=(--cell all --hidden 32 --batch 1,4 --steps 10)
    large=(--cell all --hidden 64 --batch 16 --steps 10)
    where=(--cell all --hidden 32 --batch 1,16 --steps 10)
  else
    cases=(tests/data/grad tests/data/train)
    small=(--suite deepbench)
    large=(--suite deepbench-train)
    where=(--cell all --hidden 256,1024 --batch 1,64 --steps 25)
  fi
  step "gradient and training cases on this GPU"
  $run --require-gpu check "${cases[@]}" >"$out/check-train.txt" 2>&1 || failed=1
  tail -2 "$out/check-train.txt"
  step "bench --train: ${small[*]} (goal: faster than cuDNN's forward + backward at batch 1-4)"
  $long --require-gpu bench --train "${small[@]}" --repeats 3 --warmup 1 --json "$out/train.json" | tee "$out/train.txt" || failed=1
  step "bench --train: ${large[*]} (goal: within 2x of cuDNN at batch 64 and more)"
  $long --require-gpu bench --train "${large[@]}" --repeats 3 --warmup 1 --json "$out/train-big.json" | tee "$out/train-big.txt" || failed=1
  cudnn train
  cudnn train-big
  step "bench --train --breakdown: where a step's time goes"
  $run --require-gpu bench --train "${where[@]}" --repeats 3 --warmup 1 --breakdown | tee "$out/train-breakdown.txt" || failed=1
fi

if [ -f .gpu/tests.tgz ]; then
  step "test binaries on this GPU"
  tar xzf .gpu/tests.tgz -C .gpu
  # The binaries read tests/data under the path they were built in (CARGO_MANIFEST_DIR).
  built=$(cat .gpu/tests-root)
  if [ -n "$built" ] && [ ! -e "$built" ]; then mkdir -p "$(dirname "$built")" && ln -s "$PWD" "$built"; fi
  # The CLI tests run the binary cargo built (CARGO_BIN_EXE_wgpu-rnn).
  [ -x target/release/wgpu-rnn ] || { mkdir -p target/release && cp .gpu/wgpu-rnn target/release/; }
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json # the Vulkan driver gpu-run.sh picks
  [ -f "$icd" ] && export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"
  case $mode in # the binaries of what this session measures
    full) tests=(gpu_vs_cpu conformance streams host_device agents bad_input) ;;
    train) tests=(gpu_training gpu_gradients bad_input) ;;
    quick) tests=(gpu_vs_cpu conformance streams host_device agents bad_input gpu_training gpu_gradients) ;;
  esac
  for name in "${tests[@]}"; do
    t=.gpu/tests/$name
    [ -x "$t" ] || { echo "$name: missing from .gpu/tests.tgz" >&2; failed=1; continue; }
    timeout 120 "$t" --test-threads 4 >"$out/test-$(basename "$t").txt" 2>&1 || failed=1
    echo "$(basename "$t"): $(grep -E '^test result' "$out/test-$(basename "$t").txt" | tail -1)"
  done
fi

step "done (failed: $failed)"
exit $failed
