#!/usr/bin/env bash
# The browser test, from a fresh machine: installs Chromium (Debian's) and playwright-core when
# missing, builds the page (build.sh: the wasm32 target and the wasm-bindgen CLI too), then runs
# test/run.mjs: the conformance suite and the demo in headless Chromium on WebGPU.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v chromium >/dev/null; then
  echo "web: installing Chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }
fi
[ -d test/node_modules/playwright-core ] || (cd test && npm ci --no-audit --no-fund)
./build.sh
node test/run.mjs "$@"
