#!/usr/bin/env bash
# GPU check: on a machine with a GPU and no Go toolchain, runs the prebuilt
# CUDA test binaries and CLI (built by .ci/run into .gpu/: kernels.test,
# runtime.test, baton) and writes what they said under OUT_DIR, in at most 8
# files:
#
#   gpu-check.txt         one line per step: status, seconds, log
#   devices.txt           baton devices (the GPUs, SMs, memory, peer access)
#   kernels-test.log      kernels/cuda tests against the CPU kernels, and a short benchmark
#   runtime-test.log      the CUDA device tests (waits, copy paths, partitions,
#                         schedules' idle against analytic, 1000 steps) and the copy benchmark
#   train-cuda0-4.log     baton train --devices cuda:0/4 (4 SM partitions), 20 steps of the small model
#   train-cuda0.log       the same on the whole GPU
#   summary-cuda0-4.json  the two runs' summary.json (losses, idle report)
#   summary-cuda0.json
#
# Every step is time-boxed so the whole check ends within 5 minutes. Exit
# status: 0 when every step passed, 1 otherwise (every step runs regardless).
# Usage: scripts/gpu-check.sh OUT_DIR
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/.gpu
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
status=$out/gpu-check.txt
: >"$status"

for f in runtime.test baton; do
  if [ ! -x "$bin/$f" ]; then
    echo "missing $bin/$f: build it where Go is (.ci/run's CUDA section)" | tee -a "$status" >&2
    exit 2
  fi
done

# The driver and cuBLAS where the H100 machine keeps them (GPU.md).
export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

failed=0
# step NAME SECONDS LOG COMMAND...: runs COMMAND with a time limit, its output in LOG.
step() {
  local name=$1 limit=$2 log=$3
  shift 3
  local t0 rc
  t0=$(date +%s)
  (cd "$root" && timeout --kill-after=5 "$limit" "$@") >"$log" 2>&1
  rc=$?
  local verdict=ok
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    verdict="TIMEOUT after ${limit}s"
    failed=1
  elif [ "$rc" -ne 0 ]; then
    verdict="FAIL (exit $rc)"
    failed=1
  fi
  printf '%-15s %-22s %4ds  %s\n' "$name" "$verdict" "$(($(date +%s) - t0))" "$(basename "$log")" | tee -a "$status"
}

{
  echo "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: unavailable"
} | tee -a "$status"

step devices 20 "$out/devices.txt" "$bin/baton" devices

if [ -x "$bin/kernels.test" ]; then
  step kernels 80 "$out/kernels-test.log" "$bin/kernels.test" -test.v -test.count=1 \
    -test.bench=. -test.benchtime=5x -test.timeout=75s
else
  echo "kernels    skipped: no $bin/kernels.test (kernels/cuda had no tests when it was built)" | tee -a "$status"
fi

step runtime 100 "$out/runtime-test.log" "$bin/runtime.test" -test.v -test.count=1 -test.run=CUDA \
  -test.bench=CUDA -test.benchtime=20x -test.timeout=95s

runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
for devs in cuda:0/4 cuda:0; do
  tag=${devs//[:\/]/-}
  tag=${tag/cuda-0/cuda0}
  step "train $devs" 45 "$out/train-$tag.log" "$bin/baton" train --devices "$devs" --model small --steps 20 \
    --batch 8 --microbatches 4 --save-every 0 --eval-batches 2 --data "$root/runtime" --data-limit 4194304 \
    --out "$runs/$tag"
  if [ -f "$runs/$tag/summary.json" ]; then
    cp "$runs/$tag/summary.json" "$out/summary-$tag.json"
  fi
done

if [ "$failed" -ne 0 ]; then
  echo "gpu-check: FAILED (see $status)" | tee -a "$status"
  exit 1
fi
echo "gpu-check: passed" | tee -a "$status"
