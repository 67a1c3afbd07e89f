#!/usr/bin/env bash
# The eager optimizer step, measured: default against eager, alternated over rounds, while every step clips (--max-grad-norm 1
# early in training: each eager step is undone and redone) and with clipping off (past the clipping phase: nothing is redone).
# Usage: [DEVICES=2] scripts/optimizer-step.sh [OUT_DIR] [ROUNDS]   (default: a temporary directory, 3 rounds); prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
rounds=${2:-3}
p=${DEVICES:-2}
mkdir -p "$out"
go build -o "$out/baton" ./cmd/baton
common=(--devices "cpu:0..$((p - 1))" --steps 30 --batch 8 --microbatches 4 --eval-every 0 --eval-batches 1 --save-every 0 --quiet --overwrite)
for r in $(seq "$rounds"); do
  for clip in 1 0; do
    for mode in default eager; do
      "$out/baton" train "${common[@]}" --max-grad-norm "$clip" --optimizer-step "$mode" --out "$out/$mode-clip$clip-$r"
    done
  done
done
python3 - "$out" "$rounds" "$p" <<'PY'
import json, os, statistics, sys
out, rounds, p = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(f"{p} virtual CPU devices on {os.cpu_count()} cores, small model, batch 8, 1f1b, 4 micro-batches, 30 steps; medians of {rounds} alternated rounds")
print()
print("| clipping | optimizer step | step ms | optimizer idle ms (last device) | redone steps | redo ms per step |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
for clip, label in (("1", "--max-grad-norm 1 (every step clips)"), ("0", "off (none clips)")):
    for mode in ("default", "eager"):
        ss = [json.load(open(f"{out}/{mode}-clip{clip}-{r}/summary.json")) for r in range(1, rounds + 1)]
        med = lambda f: statistics.median(f(s) for s in ss)
        redone = med(lambda s: s.get("optimizer_redone_steps", 0))
        redo = med(lambda s: s.get("optimizer_redo_s", 0) / max(s.get("optimizer_redone_steps", 0), 1))
        print(f"| {label} | {mode} | {med(lambda s: s['step_s'])*1e3:.1f} | {med(lambda s: s['per_device'][-1]['optimizer_in_span_s'])*1e3:.1f} | {redone:.0f} | {redo*1e3:.1f} |")
PY
