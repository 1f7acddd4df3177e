#!/usr/bin/env bash
# Checks that the blocking API does not exist on wasm32 (a compile-time choice): the
# `blocking-probe` feature calls each blocking form, and the build must fail naming every one.
set -uo pipefail
cd "$(dirname "$0")"
out=$(cargo check --target wasm32-unknown-unknown --features blocking-probe --message-format short 2>&1)
if [ $? -eq 0 ]; then
  echo "web: the blocking API compiled for wasm32" >&2
  exit 1
fi
status=0
for call in "function or associated item named \`new\`" "function or associated item named \`gpu\`" \
  "method named \`forward\`" "method named \`push\`" "method named \`step\`" "method named \`evaluate\`"; do
  if ! grep -q "no $call" <<<"$out"; then
    echo "web: expected 'no $call' on wasm32" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "web: the blocking API is absent on wasm32 (6 calls refused at compile time)"
[ $status -eq 0 ] || echo "$out" | tail -20 >&2
exit $status
