#!/usr/bin/env bash
# wgpu-rnn against Burn (benches/peers/burn, opt-in) on the same adapter, in interleaved rounds:
# for each size, one side runs and then the other (Burn first in odd rounds, ours first in even
# ones), so a machine whose speed drifts over minutes slows both alike. Prints, per size, each
# side's best round and the ratio (BENCHMARKS.md "against Burn").
# TRAIN=1 times training steps instead (forward, MSE through a Linear(H, 1) head, backward,
# clipping, SGD; `wgpu-rnn bench --train` against Burn's autodiff, `burn-peer --train`).
#
#     (cd benches/peers/burn && cargo build --release) && cargo build --release
#     bash benches/peer-rounds.sh 3 /tmp/peers        # rounds, output folder; about 12 min a round
#     HIDDEN=1024 BATCH=16 bash benches/peer-rounds.sh 3 /tmp/peers   # some sizes only
#     TRAIN=1 HIDDEN="256 512" REPEATS=2 bash benches/peer-rounds.sh 2 /tmp/peers-train
set -euo pipefail
rounds=${1:-3}
out=${2:-/tmp/wgpu-rnn-peers}
here=$(cd "$(dirname "$0")/.." && pwd)
ours="$here/target/release/wgpu-rnn"
burn="$here/benches/peers/burn/target/release/burn-peer"
for bin in "$ours" "$burn"; do
  [ -x "$bin" ] || { echo "missing $bin (build it first, see the header)" >&2; exit 2; }
done
mkdir -p "$out"
repeats=${REPEATS:-3}
train=() goal=20
if [ "${TRAIN:-0}" = 1 ]; then train=(--train) goal=10; fi
for r in $(seq 1 "$rounds"); do
  : >"$out/burn-$r.jsonl"
  : >"$out/ours-$r.txt"
  for h in ${HIDDEN:-256 512 1024}; do for b in ${BATCH:-1 4 16}; do for c in lstm gru; do
    echo "round $r/$rounds: $c H$h B$b" >&2
    run_burn() { (cd "$here/benches/peers/burn" && "$burn" --cell $c --hidden $h --batch $b --steps 100 --warmup 1 --repeats "$repeats" "${train[@]}" 2>/dev/null) >>"$out/burn-$r.jsonl"; }
    run_ours() { "$ours" bench "${train[@]}" --cell $c --hidden $h --batch $b --steps 100 --warmup 1 --repeats "$repeats" 2>/dev/null | grep -E "^$c +[0-9]+ " | tail -1 >>"$out/ours-$r.txt"; }
    if [ $((r % 2)) -eq 1 ]; then run_burn; run_ours; else run_ours; run_burn; fi
  done; done; done
done
python3 - "$out" "$rounds" "$goal" <<'PY'
import json, sys
out, rounds, goal = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
best = {}
for r in range(1, rounds + 1):
    burn = [json.loads(l) for l in open(f"{out}/burn-{r}.jsonl")]
    ours = [l.split() for l in open(f"{out}/ours-{r}.txt")]
    for b, o in zip(burn, ours):
        key = (b["cell"], b["hidden"], b["batch"])
        assert key == (o[0], int(o[1]), int(o[3])), f"round {r}: {key} against {o[:4]}"
        prev = best.get(key, (float("inf"), float("inf"), o[11]))
        best[key] = (min(prev[0], float(o[7])), min(prev[1], b["ms"]), o[11])
print("| cell | H | B | T | wgpu-rnn ms | Burn ms | speedup | dispatches |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for (c, h, b), (om, bm, disp) in best.items():
    r = bm / om
    met = " (goal met)" if r >= goal else ""
    print(f"| {c.upper()} | {h} | {b} | 100 | {om:.1f} | {bm:.1f} | {r:.1f}x{met} | {disp} |")
PY
