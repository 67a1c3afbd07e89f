#!/usr/bin/env bash
# Builds the -tags cuda CLI and the CUDA test binaries into OUT_DIR:
#   OUT_DIR/baton          the CLI
#   OUT_DIR/kernels.test   go test -c of ./kernels/cuda
#   OUT_DIR/device.test    go test -c of ./runtime/device/cuda (the CUDA devices)
#   OUT_DIR/runtime.test   go test -c of ./runtime (training on CUDA devices)
#   OUT_DIR/cpu.test       go test -c of ./kernels/cpu, without cgo (the AVX-512
#                          GEMM's tests and benchmarks, on the GPU machine's host CPU)
# The one place both CI (.ci/run) and Dockerfile.cuda build the CUDA path, so
# the two cannot drift apart. Needs Go, a C compiler and CUDA's headers (cuda.h,
# a libcuda.so to link against): scripts/install-cuda-headers.sh on Debian, or
# any NVIDIA CUDA devel image. The binary links only libcuda.so.1; cuBLAS is
# loaded with dlopen at run time.
# --compressed strips the symbol tables (stack traces keep their function names
# and lines) and gzips each file, for copying to a GPU machine: 36 MB instead of
# 146; scripts/gpu-check.sh unpacks them there.
# Usage: scripts/build-cuda.sh [--compressed] OUT_DIR
set -euo pipefail

compressed=0
if [ "${1:-}" = --compressed ]; then
  compressed=1
  shift
fi
if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 [--compressed] OUT_DIR" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
mkdir -p "$1"
out=$(cd "$1" && pwd)

flags=()
if [ "$compressed" = 1 ]; then
  flags=(-ldflags='-s -w')
fi
names=(baton kernels.test device.test runtime.test cpu.test)
for f in "${names[@]}"; do
  rm -f "$out/$f" "$out/$f.gz" # neither a stale binary nor a stale archive may shadow the new one
done
export CGO_ENABLED=1
echo "build-cuda: $(go version), output in $out"
go build "${flags[@]}" -tags cuda -o "$out/baton" ./cmd/baton
go test -c "${flags[@]}" -tags cuda -o "$out/kernels.test" ./kernels/cuda
go test -c "${flags[@]}" -tags cuda -o "$out/device.test" ./runtime/device/cuda
go test -c "${flags[@]}" -tags cuda -o "$out/runtime.test" ./runtime
CGO_ENABLED=0 go test -c "${flags[@]}" -o "$out/cpu.test" ./kernels/cpu
built=()
for f in "${names[@]}"; do
  if [ "$compressed" = 1 ]; then
    gzip -9 "$out/$f"
    f=$f.gz
  fi
  built+=("$out/$f")
done
ls -l "${built[@]}"
