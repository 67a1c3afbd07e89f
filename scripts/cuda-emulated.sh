#!/usr/bin/env bash
# Runs baton's CUDA path where there is no GPU, on cudaemu
# (scripts/build-cudaemu.sh): the driver API and cuBLAS on the host, with
# every kernel compiled for the host from the .cu source of its PTX. What it
# shows: the kernels/cuda conformance suite (fp32, tf32) passes, the CUDA
# devices' streams, events, copies (same context, partitions, peer, staged)
# and green-context partitions work, no Go data race (the tests run under
# -race), `baton train` runs on cuda: devices, a step allocates nothing and
# reads back 3 buffers, and a failure of any driver call baton makes ends the
# run with one clear error, never a crash. What it cannot show: the
# PTX as a GPU compiles it, and any time (the tests that time GPU hardware
# skip themselves). scripts/gpu-check.sh does that on a GPU.
#
# Needs Go, g++ and cuda.h (scripts/install-cuda-headers.sh). CI runs it.
# Usage: scripts/cuda-emulated.sh [WORK_DIR]   (default .emu: the emulator and binaries)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=${1:-.emu}
mkdir -p "$work"
work=$(cd "$work" && pwd)

# say TITLE: a part's heading with the seconds since this script began, so
# that CI's log shows which part of the emulated CUDA path is slow.
say() { printf '== [+%ds] %s\n' "$SECONDS" "$*"; }

scripts/build-cudaemu.sh "$work"
export CGO_ENABLED=1
go test -c -race -tags cuda -o "$work/kernels.test" ./kernels/cuda
go test -c -race -tags cuda -o "$work/device.test" ./runtime/device/cuda
go test -c -race -tags cuda -o "$work/runtime.test" ./runtime
go build -tags cuda -o "$work/baton" ./cmd/baton
go build -o "$work/samecheckpoint" ./scripts/samecheckpoint
emu=(env LD_LIBRARY_PATH="$work" BATON_CUBLAS="$work/libcublas.so.13")

say "cudaemu's own test: the CUDA semantics it keeps, the misuse it catches"
"$work/cudaemu-selftest" 2>/dev/null
say "kernels/cuda on cudaemu: conformance (fp32, tf32, bf16), launches, allocator, GEMMs, epilogues"
"${emu[@]}" "$work/kernels.test" -test.count=1
say "the CUDA devices on cudaemu: waits, copy paths, partitions, stand-in schedules, 300 steps without growth"
"${emu[@]}" "$work/device.test" -test.count=1 -test.run 'CUDA' -test.v | grep -E '^(--- |PASS|FAIL|ok)'
say "NCCL on cudaemu: its libnccl.so.2 between two processes, and the NCCL device tests (two processes; none may skip)"
"$work/cudaemu-nccl-selftest" 2>/dev/null
"${emu[@]}" "$work/device.test" -test.count=1 -test.run 'NCCL' -test.v | grep -E '^(--- |PASS|FAIL|ok)' | awk '{ print } /^--- SKIP/ { s = 1 } END { exit s }'
say "training on CUDA devices on cudaemu: against cpu:0, bf16 against fp32, graphs against none, 100 executor steps, out of memory"
"${emu[@]}" "$work/runtime.test" -test.count=1 -test.run 'CUDA' -test.v | grep -E '^(--- |PASS|FAIL|ok)'

# The CLI's tests drive a baton they build without tags, the same in either
# build: the CUDA CLI's runs are the ones below.
say "the benchmark's tests in the CUDA build, on cudaemu"
"${emu[@]}" go test -count=1 -tags cuda ./bench/...

say "baton train on cudaemu"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# train NAME ENV FLAGS...: a few steps of the tiny model, ENV (VAR=value
# words, or "") set for the emulator.
train() {
  local name=$1 envs=$2
  shift 2
  # shellcheck disable=SC2086 # ENV is words on purpose
  "${emu[@]}" $envs "$work/baton" train --quiet --model tiny --steps 4 --batch 4 --microbatches 2 --eval-every 4 \
    --out "$out/$name" "$@"
  grep -q '"last_loss"' "$out/$name/summary.json" || { echo "$name: no summary.json"; exit 1; }
  echo "$name ($*): $(grep -o '"last_loss": *[0-9.]*' "$out/$name/summary.json")"
}
train partitions "" --devices cuda:0/2 --schedule zb-h1
train peer-tf32 "CUDAEMU_DEVICES=2" --devices cuda:0,cuda:1 --precision tf32
train staged "CUDAEMU_DEVICES=2 CUDAEMU_PEER=0" --devices cuda:0,cuda:1
train bf16 "" --devices cuda:0/2 --schedule zb-h1 --precision bf16 --bf16-rounding stochastic
say "devices this machine cannot give are a bad setting (exit 2, named), not a driver's failure"
for devs in cuda:5 "cuda:0/[100,100]"; do
  rc=0
  msg=$("${emu[@]}" "$work/baton" train --quiet --model tiny --steps 1 --devices "$devs" --out "$out/bad" 2>&1) || rc=$?
  if [ "$rc" -ne 2 ] || ! grep -qF -- "--devices $devs" <<<"$msg"; then
    echo "--devices $devs: exit $rc, want 2 naming it: $msg"
    exit 1
  fi
  echo "--devices $devs: $msg"
done
say "a BATON_CUBLAS that does not load is refused in one line naming it, for a GPU and its partitions, not passed over"
for devs in cuda:0 cuda:0/2; do
  rc=0
  msg=$(env LD_LIBRARY_PATH="$work" BATON_CUBLAS=/nonexistent/libcublas.so "$work/baton" train --quiet --model tiny --steps 1 --devices "$devs" --out "$out/nocublas" 2>&1) || rc=$?
  if [ "$rc" -ne 1 ] || ! grep -qF "BATON_CUBLAS=/nonexistent/libcublas.so does not load" <<<"$msg" || grep -q "PrimeCublas\|cuBLAS handle" <<<"$msg"; then
    echo "BATON_CUBLAS=/nonexistent/libcublas.so on $devs: exit $rc, want 1 and one line naming it: $msg"
    exit 1
  fi
  echo "$devs: $msg"
done
say "a bf16 run's checkpoint (its float32 masters) resumed in fp32 on CPU devices, and the reverse"
"${emu[@]}" "$work/baton" train --quiet --resume --devices cpu:0,cpu:1 --precision fp32 --bf16-rounding nearest --steps 6 --out "$out/bf16"
grep -q '"precision": "fp32"' "$out/bf16/summary.json" || { echo "bf16 resumed in fp32: summary.json says otherwise"; exit 1; }
"${emu[@]}" "$work/baton" train --quiet --resume --devices cuda:0 --precision bf16 --bf16-rounding stochastic --steps 8 --out "$out/bf16"
grep -q '"precision": "bf16"' "$out/bf16/summary.json" || { echo "fp32 resumed in bf16: summary.json says otherwise"; exit 1; }
echo "bf16 → fp32 → bf16 on other layouts: $(grep -o '"last_loss": *[0-9.]*' "$out/bf16/summary.json")"
say "two ranks (baton launch) against one process: through NCCL (cudaemu's), and through the host (BATON_NCCL=off)"
# ranks NAME ONE EACH FLAGS...: one process on the devices ONE, then 2 ranks each on EACH of its own process;
# the same stages, so their checkpoints must hold the same tensors, bit for bit.
ranks() {
  local name=$1 one=$2 each=$3
  shift 3
  local common=(--quiet --model tiny --layers 4 --steps 3 --batch 4 --microbatches 2 --eval-every 3 "$@")
  "${emu[@]}" "$work/baton" train "${common[@]}" --devices "$one" --out "$out/one-$name"
  "${emu[@]}" "$work/baton" launch --nproc-per-node 2 -- train "${common[@]}" --devices "$each" --out "$out/ranks-$name"
  "$work/samecheckpoint" "$out/ranks-$name/checkpoint" "$out/one-$name/checkpoint" || { echo "$name: two ranks' checkpoint differs from one process's"; exit 1; }
  echo "$name: two ranks, the same checkpoint as one process"
}
ranks 1f1b cuda:0/2 cuda:0
ranks zb-h1 cuda:0/2 cuda:0 --schedule zb-h1
ranks interleaved cuda:0/2 cuda:0 --schedule interleaved --chunks 2
ranks two-each cuda:0/4 cuda:0/2
export BATON_NCCL=off
ranks host cuda:0/2 cuda:0
unset BATON_NCCL
say "driver calls per step (tiny on cuda:0/2, 2 micro-batches): 8 steps less 4"
for n in 4 8; do
  train "steps$n" "CUDAEMU_STATS=$out/stats$n" --devices cuda:0/2 --steps "$n" --eval-every 1000 >/dev/null
done
join "$out/stats4" "$out/stats8" | awk '{printf "  %-22s %7.1f\n", $1, ($3 - $2) / 4}' | tee "$out/per-step"
# The step loop allocates nothing (the caching allocator) and reads back one
# buffer of losses plus one of gradient sums of squares per stage: 3 copies.
awk '$1 ~ /^(cuMemAlloc|cuMemHostAlloc|cuStreamCreate|cuModuleLoadData)$/ && $2 != 0 { print "per step: " $0; bad = 1 }
     $1 == "cuMemcpyDtoHAsync" && $2 != 3 { print "per step: " $0 " (want 3)"; bad = 1 }
     END { exit bad }' "$out/per-step"

say "every driver call baton makes, failed once at a time: one clear error, never a crash"
# CUDAEMU_FAIL=NAME:N fails the Nth call of NAME. A run must then end with
# exit status 1 and a "baton: ..." line, or succeed; a panic trace, a fatal
# error or a signal is a defect. A first run counts the calls (CUDAEMU_STATS),
# so that no run fails a call past the last, which would test nothing; the
# runs go side by side, one per CPU.
# fault NAME N: one run of tiny on cuda:0/2, with call N of NAME failed
# (none where NAME is ""); on a defect, the status and stderr go to
# $out/NAME:N.defect.
fault() {
  local dir=$out/${1:-count}:${2:-0} rc=0
  env LD_LIBRARY_PATH="$work" BATON_CUBLAS="$work/libcublas.so.13" ${1:+CUDAEMU_FAIL="$1:$2"} CUDAEMU_STATS="$dir.calls" \
    "$work/baton" train --quiet --model tiny --devices cuda:0/2 --steps 2 --batch 4 --microbatches 2 --eval-every 1 \
    --eval-batches 1 --overwrite --out "$dir" >/dev/null 2>"$dir.err" || rc=$?
  if { [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; } || grep -qE '^(panic|fatal error|goroutine |SIG)' "$dir.err" ||
    { [ "$rc" -eq 1 ] && ! grep -q '^baton: ' "$dir.err"; } || { [ -z "${1:-}" ] && [ "$rc" -ne 0 ]; }; then
    { echo "${1:-no failure}:${2:-}: exit $rc"; cat "$dir.err"; } >"$dir.defect"
  fi
  rm -rf "$dir"
}
export -f fault
export out work
fault "" 0
for call in cuMemAlloc cuMemHostAlloc cuStreamCreate cuEventCreate cuEventRecord cuStreamWaitEvent \
  cuStreamSynchronize cuModuleLoadData cuLaunchKernel cuMemcpyPeerAsync cuMemcpyHtoDAsync cuMemcpyDtoHAsync \
  cuMemcpyDtoDAsync; do
  calls=$(awk -v c="$call" '$1 == c { print $2 }' "$out/count:0.calls")
  if [ -z "$calls" ]; then
    echo "cuda-emulated: the counting run made no $call call"
    exit 1
  fi
  for n in 1 3 10 30 100 300 1000; do
    if [ "$n" -le "$calls" ]; then
      echo "$call $n"
    fi
  done
done >"$out/cases"
xargs -P "$(nproc)" -n 2 bash -c 'fault "$@"' _ <"$out/cases"
faults=$(find "$out" -maxdepth 1 -name '*.defect' | wc -l)
if [ "$faults" -ne 0 ]; then
  cat "$out"/*.defect
  echo "cuda-emulated: $faults of $(wc -l <"$out/cases") injected failures were not handled"
  exit 1
fi
echo "cuda-emulated: passed ($(wc -l <"$out/cases") injected failures handled)"
