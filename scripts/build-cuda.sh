#!/usr/bin/env bash
# Builds the -tags cuda CLI and the CUDA test binaries into OUT_DIR:
#   OUT_DIR/baton          the CLI
#   OUT_DIR/kernels.test   go test -c of ./kernels/cuda
#   OUT_DIR/device.test    go test -c of ./runtime/device/cuda (the CUDA devices)
#   OUT_DIR/runtime.test   go test -c of ./runtime (training on CUDA devices)
# The one place both CI (.ci/run) and Dockerfile.cuda build the CUDA path, so
# the two cannot drift apart. Needs Go, a C compiler and CUDA's headers (cuda.h,
# a libcuda.so to link against): scripts/install-cuda-headers.sh on Debian, or
# any NVIDIA CUDA devel image. The binary links only libcuda.so.1; cuBLAS is
# loaded with dlopen at run time.
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
mkdir -p "$1"
out=$(cd "$1" && pwd)

export CGO_ENABLED=1
echo "build-cuda: $(go version), output in $out"
go build -tags cuda -o "$out/baton" ./cmd/baton
go test -c -tags cuda -o "$out/kernels.test" ./kernels/cuda
go test -c -tags cuda -o "$out/device.test" ./runtime/device/cuda
go test -c -tags cuda -o "$out/runtime.test" ./runtime
ls -l "$out/baton" "$out/kernels.test" "$out/device.test" "$out/runtime.test"
