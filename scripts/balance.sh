#!/usr/bin/env bash
# Balancing, measured: virtual CPU devices with the second made 2× slower, trained on the FLOPs split, on the measured split (--balance measured) and rebalancing itself (--rebalance auto), the three alternated over rounds.
# The replay prices devices as independent: give each device a core of its own (DEVICES=4 needs 4 cores) or the
# measured gain falls short of the prediction by the cores the devices share.
# Usage: [DEVICES=4] scripts/balance.sh [OUT_DIR] [ROUNDS]   (default: a temporary directory, 3 rounds); prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
rounds=${2:-3}
mkdir -p "$out"
go build -o "$out/baton" ./cmd/baton
p=${DEVICES:-4}
devices=cpu:0,cpu:1~2
if [ "$p" -gt 2 ]; then devices+=",cpu:2..$((p - 1))"; fi
common=(--devices "$devices" --steps 40 --batch 8 --microbatches 4 --eval-every 0 --eval-batches 1 --save-every 0 --quiet --overwrite)
configs=(
  "flops|"
  "measured|--balance measured --rebalance-warmup 5"
  "auto|--rebalance auto --rebalance-warmup 5 --rebalance-every 100"
)
for r in $(seq "$rounds"); do
  for c in "${configs[@]}"; do
    read -r -a flags <<<"${c#*|}"
    "$out/baton" train "${common[@]}" "${flags[@]}" --out "$out/${c%%|*}-$r"
  done
done
python3 - "$out" "$rounds" "$p" <<'PY'
import json, os, statistics, sys
out, rounds, p = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def runs(name):
    return [json.load(open(f"{out}/{name}-{r}/summary.json")) for r in range(1, rounds + 1)]
flops = runs("flops")
base = statistics.median(s["pipeline_s"] for s in flops)
pred = statistics.median(s["diagnosis"]["rebalanced"]["pipeline_s"] for s in flops if s["diagnosis"].get("rebalanced"))
print(f"{p} virtual CPU devices on {os.cpu_count()} cores, cpu:1 2× slower, small model, batch 8, 1f1b, 4 micro-batches; medians of {rounds} alternated rounds")
print()
print("| run | split | step ms | bubble | vs FLOPs split | predicted gain | in-run measured gain |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
print(f"| FLOPs split | {','.join(map(str, flops[0]['plan']['stages'] and [st['last_layer']-st['first_layer']+1 for st in flops[0]['plan']['stages']]))} | {base*1e3:.1f} | {statistics.median(s['bubble_measured'] for s in flops)*100:.1f}% | 1.00× | measured split: {pred*1e3:.1f} ms ({base/pred:.2f}×) | |")
for name, label in (("measured", "--balance measured"), ("auto", "--rebalance auto")):
    ss = runs(name)
    step = statistics.median(s["pipeline_s"] for s in ss)
    splits = {",".join(map(str, s["rebalances"][-1]["to"])) if s.get("rebalances") else "unchanged" for s in ss}
    gains = [s["rebalances"][0]["predicted_gain"] for s in ss if s.get("rebalances")]
    g = f"{statistics.median(gains)*100:.0f}%" if gains else "no move"
    # the steps after the move against those that priced it, in the same run: less exposed to a shared machine's drift
    after = [s["rebalances"][0]["measured_gain"] for s in ss if s.get("rebalances") and "measured_gain" in s["rebalances"][0]]
    a = f"{statistics.median(after)*100:.0f}%" if after else "-"
    print(f"| {label} | {' / '.join(sorted(splits))} | {step*1e3:.1f} | {statistics.median(s['bubble_measured'] for s in ss)*100:.1f}% | {base/step:.2f}× | {g} | {a} |")
PY
