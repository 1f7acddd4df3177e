#!/usr/bin/env bash
# Builds the page (web/build.sh) and serves it on http://localhost:${PORT:-8080}/ ; open that in
# a browser with WebGPU (see README.md, "In the browser").
set -euo pipefail
cd "$(dirname "$0")"
./build.sh
echo "open http://localhost:${PORT:-8080}/"
exec node test/serve.mjs www "${PORT:-8080}"
