#!/usr/bin/env bash
# Builds the PTX of the CUDA kernels: kernels/cuda/src/<name>.cu -> kernels/cuda/ptx/<name>.ptx.
# Usage: scripts/build-kernels.sh [OUT_DIR]   (default: kernels/cuda/ptx, the committed, embedded PTX)
#
# PTX for compute_80 (JIT-compiled by the driver on Ampere and Hopper), -O3, and no
# fast-math flags: the kernels are checked against the CPU reference. Idempotent: a file
# whose PTX did not change is not rewritten. Files in src/ other than *.cu (headers,
# *.cuh) are shared includes.
#
# Reproducibility: nvcc 11.8 is not deterministic on every source. For some kernels
# (attention.cu, with its large unrolled loops) NVVM numbers registers in an order that
# depends on heap addresses, so two runs differ unless address-space randomisation is
# off, and the addresses also shift with the length of the working directory's path.
# So nvcc runs under `setarch -R` (no ASLR) in a staging directory whose path has a fixed
# length (/tmp/baton-ptx.XXXXXXXX, TMPDIR inside it). Where setarch -R is refused (some
# container seccomp profiles), the build still works but warns that the PTX of such
# sources may not match scripts/check-ptx.sh byte for byte.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kdir=$root/kernels/cuda

NVCC=${NVCC:-nvcc}
if ! command -v "$NVCC" >/dev/null 2>&1; then
	echo "build-kernels: nvcc not found (set NVCC, or install CUDA: apt-get install nvidia-cuda-toolkit, see GPU.md)" >&2
	exit 1
fi

out=${1:-$kdir/ptx}
mkdir -p "$out"
out=$(cd "$out" && pwd)

shopt -s nullglob
srcs=("$kdir"/src/*.cu)
if [ ${#srcs[@]} -eq 0 ]; then
	echo "build-kernels: no kernels/cuda/src/*.cu" >&2
	exit 1
fi

stage=$(TMPDIR=/tmp mktemp -d /tmp/baton-ptx.XXXXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/tmp" "$stage/out"
cp -R "$kdir/src" "$stage/src"
cd "$stage"

norand=(setarch "$(uname -m)" -R)
if ! "${norand[@]}" true >/dev/null 2>&1; then
	echo "build-kernels: warning: setarch -R refused; nvcc runs with address randomisation and its PTX may not be reproducible" >&2
	norand=()
fi

for src in "${srcs[@]}"; do
	name=$(basename "$src" .cu)
	if ! TMPDIR="$stage/tmp" "${norand[@]}" "$NVCC" -ptx -arch=compute_80 -O3 -I src -o "out/$name.ptx" "src/$name.cu"; then
		echo "build-kernels: nvcc failed on kernels/cuda/src/$name.cu" >&2
		exit 1
	fi
	if ! cmp -s "out/$name.ptx" "$out/$name.ptx"; then
		cp "out/$name.ptx" "$out/.$name.ptx.tmp"
		mv "$out/.$name.ptx.tmp" "$out/$name.ptx"
		echo "build-kernels: wrote $out/$name.ptx"
	fi
done
