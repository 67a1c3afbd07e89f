#!/usr/bin/env bash
# GPU check: on a machine with a GPU and no Go toolchain, runs the prebuilt
# CUDA test binaries and CLI (scripts/build-cuda.sh [--compressed] .gpu builds
# them: kernels.test, device.test, runtime.test, cpu.test, baton; compressed,
# 36 MB instead of 146, unpacked here), PyTorch's peer figures, and the
# benchmarks whose reports are committed, and writes what they said under
# OUT_DIR in at most 8 files:
#
#   gpu-check.txt     one line per step: status, seconds, log
#   devices.txt       baton devices (the GPUs, SMs, memory, peer access) and
#                     the kernel module's version line
#   kernels-test.log  kernels/cuda: the conformance suite against the CPU kernels
#                     (fp32, tf32), then every kernel's benchmark (GB/s, TFLOP/s)
#   runtime-test.log  the CUDA device tests (device.test: waits, copy paths,
#                     partitions, schedules' idle against analytic, 300 steps),
#                     the copy benchmark, and training on them (runtime.test:
#                     20 steps against cpu:0, 100 executor steps)
#   peer.log          scripts/torch_peer.py: gpt2-124m, B=8, T=1024 in PyTorch
#   bench.log         baton bench: gpt2-124m on cuda:0 (fp32, tf32) beside
#                     PyTorch; the schedules on cuda:0/4
#   train.log         baton train: gpt2-124m on cuda:0 (the batch at once) and on
#                     cuda:0/4 (1f1b, m=8), tf32, 30 steps
#   ranks.log         two ranks (baton launch) on the one GPU, gpt2-124m, tf32: through
#                     NCCL (NCCL_MULTI_RANK_GPU_ENABLE=1 for NCCL 2.30's two ranks on one
#                     GPU), then through the host (BATON_NCCL=off), against one process
#   balance.log       balancing on cuda:0/4, tf32, m=8: 1f1b and zb-h1 on the FLOPs
#                     split (timing every layer) and with --balance measured; the
#                     replay's predictions of three other runs beside the runs
#   bf16.log          bf16 (issue 16): gpt2-124m on cuda:0 in tf32 and bf16 beside
#                     PyTorch's bf16 rows at B=8, 16, 32; the schedules on cuda:0/4
#                     in bf16; and (step bf16loss, issue 18) bf16 against fp32 from one
#                     initialisation for 300 steps on GPT-2 tokens (the evaluations
#                     within 2%)
#   graphs.log        CUDA graphs (issue 16): tokens/s of gpt2-124m in bf16 on one partition
#                     (cuda:0/4#0, 1f1b) at m = 1, 4, 8, 16 with graphs on and off
#   cpu.log           the host CPU (issue 15), where it has AVX-512F: the avx512 GEMM
#                     against avx2 bit for bit and the CPU kernels' conformance
#                     (cpu.test), then GEMM and training-step benchmarks, avx2 beside
#                     avx512; where it has not, one line saying so
#   results.tar.gz    bench/results/: the two reports (Markdown, CSV, charts),
#                     PyTorch's CSV, and the two runs' summary, trace and
#                     timeline, laid out to be untarred at the repository root
#
# Steps run in the order named; by default all of them, the open issues'
# figures first: devices kernels bf16loss bf16 graphs balance ranks runtime train
# peer bench cpu (bench shows PyTorch's rows when peer ran before it). Each test runs
# in a process of its own, time-boxed. devices kernels runtime peer bench train
# took 2 minutes 20 seconds on an H100 (the tests under 1, PyTorch about 1);
# the rest is longer (two 300-step runs, PyTorch at three batches), and the
# steps' limits add up to more still, so where a lease is short set
# GPU_CHECK_BUDGET: the steps left when it runs out are skipped, named as such.
# gpu-check.txt is appended to, not replaced, so a second call can take the
# rest. Exit status: 0 when every step passed, 1 otherwise (every step runs
# regardless).
# GPU_CHECK_BUDGET (seconds, default none) bounds the whole check: each step's
# limit is cut to what is left, and a step with under 10 seconds left is
# skipped, so a check that must fit a lease ends in time to pack its results.
# GPU_CHECK_MODEL (default gpt2-124m) sets the model of peer, bench and train:
# GPU_CHECK_MODEL=tiny with cudaemu's directory on LD_LIBRARY_PATH
# (scripts/build-cudaemu.sh) is a dry run of the whole check without a GPU.
# Usage: scripts/gpu-check.sh OUT_DIR [STEP...]
set -u

if [ $# -lt 1 ]; then
  echo "usage: $0 OUT_DIR [devices|kernels|runtime|peer|bench|train|ranks|balance|bf16|bf16loss|graphs|cpu ...]" >&2
  exit 2
fi
out=$1
shift
steps=${*:-devices kernels bf16loss bf16 graphs balance ranks runtime train peer bench cpu}
for s in $steps; do
  case $s in
    devices | kernels | runtime | peer | bench | train | ranks | balance | bf16 | bf16loss | graphs | cpu) ;;
    *)
      echo "unknown step $s: choose from devices kernels runtime peer bench train ranks balance bf16 bf16loss graphs cpu" >&2
      exit 2
      ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/.gpu
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
status=$out/gpu-check.txt
: >>"$status"

# scripts/build-cuda.sh --compressed gzips the binaries for the copy to this
# machine (146 MB would not travel where 64 MiB may): unpack them in place.
for gz in "$bin"/*.gz; do
  if [ -e "$gz" ] && ! gunzip -f "$gz"; then
    echo "cannot unpack $gz" | tee -a "$status" >&2
    exit 2
  fi
done
for f in kernels.test device.test runtime.test cpu.test baton; do
  if [ ! -x "$bin/$f" ]; then
    echo "missing $bin/$f: build it where Go is (scripts/build-cuda.sh --compressed .gpu)" | tee -a "$status" >&2
    exit 2
  fi
done

# baton's binaries find the driver and cuBLAS where the H100 machine keeps
# them (GPU.md); PyTorch keeps its own cuBLAS, which this must not shadow.
libs=/usr/local/nvidia/lib64:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# The driver's JIT cache of the embedded PTX: every process, and every
# context, would compile it again without a cache it can write.
export CUDA_CACHE_PATH=${CUDA_CACHE_PATH:-/tmp/baton-cuda-cache} CUDA_CACHE_MAXSIZE=1073741824

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$work/bench/results
day=$(date -u +%Y-%m-%d)
runs=$results/$day-gpu-runs
mkdir -p "$runs"
# The repository's own text (the machine has no Go sources), named relative
# to the root, where every step runs, so that the reports' commands hold anywhere.
data=(--data . --data-limit 4194304)
model=${GPU_CHECK_MODEL:-gpt2-124m}
deep=() # what the model needs for 4 stages: the dry run's tiny has 2 layers
if [ "$model" = tiny ]; then
  deep=(--layers 8)
fi

failed=0
deadline=
if [ -n "${GPU_CHECK_BUDGET:-}" ]; then
  deadline=$(($(date +%s) + GPU_CHECK_BUDGET))
fi
# status_line NAME VERDICT SECONDS LOG: a step's line in gpu-check.txt, and on the terminal.
status_line() { printf '%-40s %-20s %4ds  %s\n' "$1" "$2" "$3" "$(basename "$4")" | tee -a "$status"; }

# step NAME SECONDS LOG COMMAND...: runs COMMAND with a time limit, its output appended to LOG.
step() {
  local name=$1 limit=$2 log=$3
  shift 3
  local t0 rc
  t0=$(date +%s)
  if [ -n "$deadline" ]; then
    if [ $((deadline - t0)) -lt 10 ]; then
      status_line "$name" "SKIPPED (budget)" 0 "$log"
      failed=1
      return
    fi
    if [ $((deadline - t0)) -lt "$limit" ]; then
      limit=$((deadline - t0))
    fi
  fi
  echo "\$ $*" >>"$log"
  (cd "$root" && timeout --kill-after=5 "$limit" "$@") >>"$log" 2>&1
  rc=$?
  local verdict=ok
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    verdict="TIMEOUT after ${limit}s"
    failed=1
  elif [ "$rc" -ne 0 ]; then
    verdict="FAIL (exit $rc)"
    failed=1
  fi
  status_line "$name" "$verdict" "$(($(date +%s) - t0))" "$log"
}

# tests BINARY PATTERN SECONDS LOG: each test of BINARY matching PATTERN in a
# process of its own, in source order, so that a crash (a device fault
# panics on a goroutine of its own) costs that test alone. A binary that
# lists none has tested nothing (it could not start CUDA, or its TestMain
# found no GPU and skips everything): a failure, not a pass.
tests() {
  local bin=$1 pattern=$2 limit=$3 log=$4 name names
  names=$(env LD_LIBRARY_PATH="$libs" "$bin" -test.list "$pattern" 2>>"$log" | grep '^Test')
  if [ -z "$names" ]; then
    status_line "${bin##*/} -test.list $pattern" "FAIL (no tests)" 0 "$log"
    failed=1
    return
  fi
  for name in $names; do
    step "${bin##*/} $name" "$limit" "$log" env LD_LIBRARY_PATH="$libs" "$bin" -test.v -test.count=1 \
      -test.run "^$name\$" -test.timeout="$((limit - 5))s"
  done
}

# pack writes what the benchmarks and runs left so far into results.tar.gz,
# so that a check cut short still brings back what it did.
pack() {
  if [ -n "$(find "$results" -type f | head -1)" ]; then
    tar -C "$work" -czf "$out/results.tar.gz" bench
  fi
}

wants() { case " $steps " in *" $1 "*) return 0 ;; esac; return 1; }

{
  echo "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname): $steps"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: unavailable"
} | tee -a "$status"

check_devices() {
  step devices 20 "$out/devices.txt" env LD_LIBRARY_PATH="$libs" "$bin/baton" devices
  step "driver version" 5 "$out/devices.txt" cat /proc/driver/nvidia/version
}

check_kernels() {
  tests "$bin/kernels.test" . 60 "$out/kernels-test.log"
  step "kernels benchmarks" 240 "$out/kernels-test.log" env LD_LIBRARY_PATH="$libs" "$bin/kernels.test" \
    -test.run=NONE -test.bench=. -test.benchtime=10x -test.timeout=235s
}

check_runtime() {
  tests "$bin/device.test" CUDA 60 "$out/runtime-test.log"
  step "device benchmarks" 40 "$out/runtime-test.log" env LD_LIBRARY_PATH="$libs" "$bin/device.test" \
    -test.run=NONE -test.bench=CUDA -test.benchtime=20x -test.timeout=35s
  tests "$bin/runtime.test" CUDA 60 "$out/runtime-test.log"
}

# PyTorch's CSV is written where the report names it (bench/results/, from
# the root), and packed beside the reports.
peer=bench/results/$day-torch-peer.csv
check_peer() {
  # Rows are written after each mode, so a timeout keeps the modes done.
  step "torch peer" 150 "$out/peer.log" python3 scripts/torch_peer.py --model "$model" --batch 8 --steps 10 \
    --warmup-iters 3 --modes eager-fp32,eager-tf32,eager-bf16,compile-bf16 --out "$peer"
  if [ -s "$root/$peer" ]; then
    cp "$root/$peer" "$results/"
  fi
  pack
}

check_bench() {
  peerflag=()
  if [ -s "$root/$peer" ]; then # this check's (an earlier one of the day was removed)
    peerflag=(--peer "$peer")
  fi
  step "bench $model cuda:0" 90 "$out/bench.log" env LD_LIBRARY_PATH="$libs" "$bin/baton" bench --devices cuda:0 \
    --devices-max 1 --model "$model" --batch 8 --schedules naive --precision fp32,tf32 --steps 5 "${data[@]}" \
    "${peerflag[@]}" --tag "$model" --out "$results"
  pack
  step "bench $model cuda:0/4" 180 "$out/bench.log" env LD_LIBRARY_PATH="$libs" "$bin/baton" bench --devices cuda:0/4 \
    --devices-max 4 --model "$model" "${deep[@]}" --batch 8 --schedules naive,gpipe,1f1b,zb-h1 --microbatches 8 --precision tf32 \
    --steps 3 "${data[@]}" --tag "$model-partitions" --out "$results"
  pack
}

check_train() {
  # The whole GPU as PyTorch runs it (the batch at once), then the 4-partition pipeline.
  for run in "cuda:0 naive 1" "cuda:0/4 1f1b 8"; do
    read -r devs sched m <<<"$run"
    tag=${devs//[:\/]/-}-$sched
    step "train $devs $sched" 60 "$out/train.log" env LD_LIBRARY_PATH="$libs" "$bin/baton" train --devices "$devs" \
      --model "$model" "${deep[@]}" --batch 8 --schedule "$sched" --microbatches "$m" --precision tf32 --steps 30 \
      --eval-batches 2 --save-every 0 --quiet "${data[@]}" --out "$work/$tag"
    mkdir -p "$runs/$tag"
    for f in summary.json trace.json timeline.svg; do
      if [ -f "$work/$tag/$f" ]; then
        cp "$work/$tag/$f" "$runs/$tag/"
      fi
    done
    pack
  done
}

# keep copies a run's summary, trace and timeline beside the reports.
keep() {
  mkdir -p "$runs/$1"
  for f in summary.json trace.json timeline.svg; do
    if [ -f "$work/$1/$f" ]; then
      cp "$work/$1/$f" "$runs/$1/"
    fi
  done
}

check_ranks() {
  # Two processes on the one GPU (cuda:0/2's stages), against one process on cuda:0/2.
  common=(--model "$model" --batch 8 --microbatches 8 --precision tf32 --steps 20 --eval-batches 1 --save-every 0 --quiet "${data[@]}")
  step "ranks one process" 60 "$out/ranks.log" env LD_LIBRARY_PATH="$libs" "$bin/baton" train "${common[@]}" \
    --devices cuda:0/2 --out "$work/ranks-one"
  keep ranks-one
  step "ranks through NCCL" 90 "$out/ranks.log" env LD_LIBRARY_PATH="$libs" NCCL_MULTI_RANK_GPU_ENABLE=1 "$bin/baton" launch \
    --nproc-per-node 2 -- train "${common[@]}" --devices cuda:0 --out "$work/ranks-nccl"
  keep ranks-nccl
  step "ranks through the host" 90 "$out/ranks.log" env LD_LIBRARY_PATH="$libs" BATON_NCCL=off "$bin/baton" launch \
    --nproc-per-node 2 -- train "${common[@]}" --devices cuda:0 --out "$work/ranks-host"
  keep ranks-host
  pack
}

check_balance() {
  # The FLOPs split against the measured one (issue 17): measured bubble
  # beside analytic, and the replay's what-ifs beside the runs they predict.
  common=(--devices cuda:0/4 --model "$model" "${deep[@]}" --batch 8 --microbatches 8 --precision tf32 --steps 30
    --eval-batches 1 --save-every 0 --quiet "${data[@]}")
  for sched in 1f1b zb-h1; do
    step "balance $sched flops" 60 "$out/balance.log" env LD_LIBRARY_PATH="$libs" "$bin/baton" train "${common[@]}" \
      --schedule "$sched" --profile-layers --out "$work/balance-$sched-flops"
    keep "balance-$sched-flops"
    step "balance $sched measured" 60 "$out/balance.log" env LD_LIBRARY_PATH="$libs" "$bin/baton" train "${common[@]}" \
      --schedule "$sched" --balance measured --rebalance-warmup 5 --out "$work/balance-$sched-measured"
    keep "balance-$sched-measured"
    pack
  done
  base=$work/balance-1f1b-flops
  if [ -f "$base/summary.json" ]; then
    step "balance replay" 20 "$out/balance.log" env LD_LIBRARY_PATH="$libs" "$bin/baton" plan --replay "$base" --balance measured
    for change in "gpipe 8" "1f1b 4" "zb-h2 8"; do
      read -r sched m <<<"$change"
      step "what-if $sched m=$m" 10 "$out/balance.log" env LD_LIBRARY_PATH="$libs" "$bin/baton" plan --replay "$base" \
        --schedule "$sched" --microbatches "$m"
      step "run $sched m=$m" 60 "$out/balance.log" env LD_LIBRARY_PATH="$libs" "$bin/baton" train "${common[@]}" \
        --schedule "$sched" --microbatches "$m" --out "$work/whatif-$sched-$m"
      keep "whatif-$sched-$m"
    done
    pack
  fi
}

check_bf16() {
  # bf16 beside tf32 and PyTorch's bf16 (eager, torch.compile) at three batches.
  for b in 8 16 32; do
    peerb=bench/results/$day-torch-peer-bf16-b$b.csv
    rm -f "$root/$peerb"
    step "torch peer bf16 B=$b" 150 "$out/bf16.log" python3 scripts/torch_peer.py --model "$model" --batch "$b" --steps 10 \
      --warmup-iters 3 --modes eager-bf16,compile-bf16 --out "$peerb"
    peerflag=()
    if [ -s "$root/$peerb" ]; then
      cp "$root/$peerb" "$results/"
      peerflag=(--peer "$peerb")
    fi
    step "bench $model cuda:0 bf16 B=$b" 90 "$out/bf16.log" env LD_LIBRARY_PATH="$libs" "$bin/baton" bench --devices cuda:0 \
      --devices-max 1 --model "$model" --batch "$b" --schedules naive --precision tf32,bf16 --steps 5 "${data[@]}" \
      "${peerflag[@]}" --tag "$model-bf16-b$b" --out "$results"
    pack
  done
  step "bench $model cuda:0/4 bf16" 180 "$out/bf16.log" env LD_LIBRARY_PATH="$libs" "$bin/baton" bench --devices cuda:0/4 \
    --devices-max 4 --model "$model" "${deep[@]}" --batch 8 --schedules gpipe,1f1b,zb-h1 --microbatches 8 --precision bf16 \
    --steps 3 "${data[@]}" --tag "$model-partitions-bf16" --out "$results"
  pack
}

check_bf16loss() {
  # bf16 against fp32 (issue 18): one seed, GPT-2 tokens of the repository's
  # text (the dry run's tiny model reads its bytes), the validation loss
  # every 50 steps (GPU_CHECK_BF16_STEPS shortens the dry run).
  bsteps=${GPU_CHECK_BF16_STEPS:-300}
  cmpdata=("${data[@]}")
  if [ "$model" != tiny ]; then
    step "tokenize" 60 "$out/bf16.log" env LD_LIBRARY_PATH="$libs" "$bin/baton" tokenize --out "$work/tokens" .
    cmpdata=(--data "$work/tokens")
  fi
  for prec in fp32 bf16; do
    step "train $model $prec $bsteps steps" 240 "$out/bf16.log" env LD_LIBRARY_PATH="$libs" "$bin/baton" train \
      --devices cuda:0 --model "$model" --batch 8 --precision "$prec" --steps "$bsteps" --eval-every $((bsteps / 6)) \
      --eval-batches 4 --seed 1 --save-every 0 --quiet "${cmpdata[@]}" --out "$work/bf16-vs-$prec"
    keep "bf16-vs-$prec"
    cp "$work/bf16-vs-$prec/metrics.jsonl" "$runs/bf16-vs-$prec/" 2>/dev/null
  done
  step "bf16 within 2% of fp32" 10 "$out/bf16.log" python3 scripts/compare_losses.py --within 0.02 \
    "$work/bf16-vs-fp32/metrics.jsonl" "$work/bf16-vs-bf16/metrics.jsonl"
  pack
}

check_graphs() {
  # Launch overhead: one partition, 1f1b, m = 1, 4, 8, 16 (batch 16), graphs on and off, in bf16.
  step "graphs benchmark" 240 "$out/graphs.log" env LD_LIBRARY_PATH="$libs" BATON_GRAPHS_DEVICE=cuda:0/4#0 \
    BATON_GRAPHS_MODEL="$model" BATON_GRAPHS_BATCH=16 BATON_GRAPHS_PRECISION=bf16 "$bin/runtime.test" -test.run '^$' -test.bench CUDAGraphs \
    -test.benchtime 5x -test.timeout 235s
}

check_cpu() {
  {
    echo "host CPU: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) CPUs"
    grep -m1 '^flags' /proc/cpuinfo | grep -o -w 'avx2\|fma\|avx512f\|avx512bw\|avx512_bf16' | tr '\n' ' '
    echo
  } >>"$out/cpu.log"
  if grep -q -w avx512f /proc/cpuinfo; then
    # On a host with AVX-512F the package's tests run the avx512 set beside
    # avx2 and generic; TestAVX512GemmBits holds it to avx2's bits.
    tests "$bin/cpu.test" 'AVX512|PackPanel32|Gemm|Packed|Triangles|Conformance|Determinism|NoAllocs' 60 "$out/cpu.log"
    step "cpu benchmarks" 150 "$out/cpu.log" "$bin/cpu.test" -test.run=NONE \
      -test.bench='Gemm/avx(2|512)/(small|b|gpt2-124m)/' -test.benchtime=10x -test.timeout=145s
    step "cpu training steps" 90 "$out/cpu.log" "$bin/cpu.test" -test.run=NONE \
      -test.bench='TrainingStep' -test.benchtime=10x -test.timeout=85s
  else
    echo "cpu: the host has no avx512f; the avx512 GEMM stays unverified" | tee -a "$status"
  fi
}

if wants peer || wants bench; then
  rm -f "$root/$peer" # torch_peer appends, and bench reads it: a committed file of the same day must not mix in
fi
for s in $steps; do
  "check_$s"
done

if [ -f "$out/results.tar.gz" ]; then
  echo "results.tar.gz: $(tar -tzf "$out/results.tar.gz" | grep -c -v '/$') files" | tee -a "$status"
fi

if [ "$failed" -ne 0 ]; then
  echo "gpu-check: FAILED (see $status)" | tee -a "$status"
  exit 1
fi
echo "gpu-check: passed" | tee -a "$status"
