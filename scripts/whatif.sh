#!/usr/bin/env bash
# What-if replay, checked: predict other schedules and splits from one measured run, then run each and compare;
# then make the changes the run's diagnosis suggests (the measured split, the planner's best) and compare their gains.
# Usage: scripts/whatif.sh [OUT_DIR]   (default: a temporary directory); prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
mkdir -p "$out"
go build -o "$out/baton" ./cmd/baton
baton="$out/baton"
common=(--devices cpu:0..3 --steps 30 --batch 8 --eval-every 0 --eval-batches 1 --save-every 0 --quiet --overwrite)

"$baton" train "${common[@]}" --schedule 1f1b --microbatches 4 --out "$out/base"

# Each change: a name, then the flags both for the prediction and for the run.
changes=(
  "gpipe|--schedule gpipe --microbatches 4"
  "1f1b, 8 micro-batches|--schedule 1f1b --microbatches 8"
  "1f1b, split 3,2,2,1|--schedule 1f1b --microbatches 4 --split 3,2,2,1"
  "interleaved, 2 chunks|--schedule interleaved --chunks 2 --microbatches 4"
  "zb-h1|--schedule zb-h1 --microbatches 4"
)
echo "| change | predicted ms | measured ms | error |"
echo "| --- | ---: | ---: | ---: |"
i=0
for c in "${changes[@]}"; do
  name=${c%%|*}
  read -r -a flags <<<"${c#*|}"
  predicted=$("$baton" plan --replay "$out/base" "${flags[@]}" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["predicted"]["pipeline_s"]*1e3)')
  "$baton" train "${common[@]}" "${flags[@]}" --out "$out/run$i"
  measured=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pipeline_s"]*1e3)' "$out/run$i/summary.json")
  python3 -c 'import sys; p,m=float(sys.argv[2]),float(sys.argv[3]); print(f"| {sys.argv[1]} | {p:.1f} | {m:.1f} | {100*(p-m)/m:+.0f}% |")' "$name" "$predicted" "$measured"
  i=$((i+1))
done

# The diagnosis's suggestions, made: its predicted gain beside the gain measured by running the change.
echo
echo "| the diagnosis suggests | predicted ms | gain predicted | measured ms | gain measured |"
echo "| --- | ---: | ---: | ---: | ---: |"
suggestions=$(python3 - "$out/base/summary.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])).get("diagnosis") or {}
for key in ("rebalanced", "best"):
    c = d.get(key)
    if c:
        flags = f"--schedule {c['schedule']} --microbatches {c['microbatches']} --chunks {max(c['chunks'], 1)} --split {','.join(map(str, c['split']))}"
        print(f"{key}|{c['pipeline_s']*1e3}|{flags}")
PY
)
replayed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["diagnosis"]["replayed"]["pipeline_s"]*1e3)' "$out/base/summary.json")
base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pipeline_s"]*1e3)' "$out/base/summary.json")
while IFS='|' read -r key predicted flagline; do
  [ -n "$key" ] || continue
  read -r -a flags <<<"$flagline"
  "$baton" train "${common[@]}" "${flags[@]}" --out "$out/diag-$key"
  measured=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pipeline_s"]*1e3)' "$out/diag-$key/summary.json")
  python3 -c 'import sys; k,f,p,m,r,b=sys.argv[1],sys.argv[2],*map(float,sys.argv[3:]); print(f"| {k}: {f} | {p:.1f} | {100*(1-p/r):.0f}% | {m:.1f} | {100*(1-m/b):.0f}% |")' \
    "$key" "$flagline" "$predicted" "$measured" "$replayed" "$base"
done <<<"$suggestions"
