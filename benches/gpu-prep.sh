#!/usr/bin/env bash
# Fills `.gpu/` (ignored by git) with what benches/gpu-session.sh needs on a lent NVIDIA machine,
# which has no Rust, no internet and maybe no Vulkan loader: the release binary, the stripped test
# binaries, ../shared/device's gpu-run.sh, cudnn_bench.py and Vulkan loader .deb, and the glvnd/GL
# client libraries (.gpu/gl) that NVIDIA's Vulkan driver (libGLX_nvidia.so.0) needs: without them
# the loader reported "Could not get 'vkCreateInstance' via 'vk_icdGetInstanceProcAddr'" and
# found no adapter. Run here, in the repository, then carry `.gpu`:
#
#     bash benches/gpu-prep.sh
#     (device) bash benches/gpu-session.sh "bash .gpu/gpu-run.sh" "$OUT" [train]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared/device
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >>.git/info/exclude
rm -rf .gpu && mkdir -p .gpu/gl
cp "$shared"/cudnn_bench.py "$shared"/gpu-run.sh "$shared"/gl/*.deb .gpu/
lists=$(mktemp -d)
apt=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists="$lists")
mkdir -p "$lists/partial"
apt-get "${apt[@]}" update >/dev/null
(cd .gpu/gl && apt-get "${apt[@]}" download libglvnd0 libglx0 libgl1 libegl1 libgles2 libopengl0 \
  libx11-6 libx11-data libxext6 libxcb1 libxau6 libxdmcp6 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
cargo build --release
strip -o .gpu/wgpu-rnn target/release/wgpu-rnn
# The test binaries that reach the GPU, stripped, under their target names.
mkdir -p .gpu/tests
cargo test --release --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["target"]["name"], m["executable"])
' | while read -r name exe; do
  case $name in gpu_vs_cpu | conformance | streams | host_device | agents | bad_input | gpu_training | gpu_gradients) strip -o ".gpu/tests/$name" "$exe" ;; esac
done
tar czf .gpu/tests.tgz -C .gpu tests && rm -r .gpu/tests
pwd >.gpu/tests-root
du -sh .gpu
