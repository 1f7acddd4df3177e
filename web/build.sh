#!/usr/bin/env bash
# Builds the page into web/www: the library and web/src compiled to wasm32 with wasm-bindgen's
# JS glue in www/pkg, and the repository's case files in www/cases (with cases/index.json).
# Needs the wasm32-unknown-unknown target and the wasm-bindgen CLI of the same version as the
# wasm-bindgen crate (web/Cargo.toml); it installs both when missing.
set -euo pipefail
cd "$(dirname "$0")"
want=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$want" ]; then
  echo "installing wasm-bindgen-cli $want (about 2 minutes)"
  cargo install --quiet wasm-bindgen-cli --version "=$want"
fi
cargo build --release --target wasm32-unknown-unknown
rm -rf www/pkg www/cases
wasm-bindgen --target web --no-typescript --out-dir www/pkg target/wasm32-unknown-unknown/release/wgpu_rnn_web.wasm
# the case files, by set; index.json lists them for the page
for set in conformance onnx-backend grad train onnx; do
  mkdir -p "www/cases/$set"
  find "../tests/data/$set" -maxdepth 1 \( -name '*.safetensors' -o -name '*.onnx' \) -exec cp {} "www/cases/$set/" \;
done
(cd www/cases && find . -type f \( -name '*.safetensors' -o -name '*.onnx' \) | sed 's|^\./||' | sort |
  python3 -c 'import json,sys; print(json.dumps({"files": [l.strip() for l in sys.stdin]}, indent=0))' > index.json)
echo "built web/www: $(grep -c '"' www/cases/index.json) entries in cases/index.json; serve it with web/serve.sh"
