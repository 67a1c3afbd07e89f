#!/usr/bin/env bash
# Builds cudaemu (scripts/cudaemu/): the CUDA driver API and the cuBLAS entry
# points baton uses, on the host CPU, with every kernel of kernels/cuda/src
# (and the tests' kernels in */testdata) compiled for the host from the same source
# as its PTX. It lets the -tags cuda binaries and tests run on a machine
# without a GPU, so CI exercises the CUDA path's launches, streams, events,
# copies and partitions on every run (timings mean nothing there):
#
#   OUT_DIR/libcudaemu.so   the library
#   OUT_DIR/libcuda.so.1    link to it: put OUT_DIR on LD_LIBRARY_PATH
#   OUT_DIR/libcublas.so.13 link to it: found by baton's dlopen of cuBLAS
#   OUT_DIR/cudaemu-selftest the emulator's own test (scripts/cudaemu/selftest.cpp)
#   OUT_DIR/libnccl.so.2    NCCL's point-to-point calls between processes (nccl.cpp)
#   OUT_DIR/cudaemu-nccl-selftest its test: two processes (nccl-selftest.cpp)
#
# Settings (environment, read at run time): CUDAEMU_DEVICES (GPUs, 1),
# CUDAEMU_SMS (SMs per GPU, 32: four partitions of 8), CUDAEMU_MEMORY_MIB (per GPU, 81920),
# CUDAEMU_PEER (0: no peer access between GPUs).
# Needs g++ and cuda.h (scripts/install-cuda-headers.sh); x86-64 only.
# Usage: scripts/build-cudaemu.sh OUT_DIR
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
src=$root/scripts/cudaemu
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT

flags=(-std=c++17 -O3 -g -fPIC -ftls-model=initial-exec -Wall -Wno-unknown-pragmas -I/usr/local/cuda/include -I"$src")
objs=()
# kernel PTX CU: compiles CU for the host, registering every entry of PTX.
kernel() {
  local ptx=$1 cu=$2 name
  name=$(basename "$cu" .cu)
  {
    printf '#include "%s"\n' "$cu"
    grep -oE '\.entry [A-Za-z_0-9]+' "$ptx" | awk '{print "CUDAEMU_KERNEL(" $2 ")"}'
  } >"$gen/$name.cpp"
  g++ "${flags[@]}" -include "$src/kernel.h" -I"$(dirname "$cu")" -c "$gen/$name.cpp" -o "$gen/$name.o"
  objs+=("$gen/$name.o")
}
for ptx in "$root"/kernels/cuda/ptx/*.ptx; do
  kernel "$ptx" "$root/kernels/cuda/src/$(basename "$ptx" .ptx).cu"
done
for cu in "$root"/kernels/cuda/testdata/*.cu "$root"/runtime/device/cuda/testdata/*.cu; do
  kernel "${cu%.cu}.ptx" "$cu"
done
for f in driver block registry green cublas; do
  g++ "${flags[@]}" -c "$src/$f.cpp" -o "$gen/$f.o"
  objs+=("$gen/$f.o")
done
g++ -shared -Wl,-soname,libcuda.so.1 -o "$out/libcudaemu.so" "${objs[@]}" -lpthread
# shellcheck disable=SC2016 # $ORIGIN is for the dynamic linker, not the shell
g++ "${flags[@]}" "$src/selftest.cpp" -L"$out" -lcudaemu -Wl,-rpath,'$ORIGIN' -o "$out/cudaemu-selftest"
ln -sf libcudaemu.so "$out/libcuda.so.1"
ln -sf libcudaemu.so "$out/libcublas.so.13"
# A library of its own, as NCCL is, on libcudaemu's streams; dlopened, so its
# thread-locals take the general TLS model.
# shellcheck disable=SC2016 # $ORIGIN is for the dynamic linker, not the shell
g++ "${flags[@]}" -ftls-model=global-dynamic -shared -Wl,-soname,libnccl.so.2 -o "$out/libnccl.so.2" "$src/nccl.cpp" \
  -L"$out" -l:libcudaemu.so -Wl,-rpath,'$ORIGIN' -lpthread
# shellcheck disable=SC2016
g++ "${flags[@]}" "$src/nccl-selftest.cpp" -L"$out" -l:libnccl.so.2 -l:libcudaemu.so -Wl,-rpath,'$ORIGIN' \
  -o "$out/cudaemu-nccl-selftest"
echo "build-cudaemu: $out/libcudaemu.so ($(grep -c 'CUDAEMU_KERNEL' "$gen"/*.cpp | awk -F: '{s += $2} END {print s}') kernels)"
