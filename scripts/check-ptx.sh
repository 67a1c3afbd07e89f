#!/usr/bin/env bash
# Checks that the committed PTX (kernels/cuda/ptx/*.ptx) is what scripts/build-kernels.sh
# makes from kernels/cuda/src/*.cu today, byte for byte (nvcc is deterministic), and
# that the test kernels' PTX (*/testdata/*.ptx) is their .cu's.
# Exit 0: identical, or nvcc is absent (skipped, with a message). Exit 1: lists the files
# that differ, are missing, or have no source.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kdir=$root/kernels/cuda

NVCC=${NVCC:-nvcc}
if ! command -v "$NVCC" >/dev/null 2>&1; then
	echo "check-ptx: nvcc not found: skipped (install nvidia-cuda-toolkit to check the PTX)"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$root/scripts/build-kernels.sh" "$tmp" >/dev/null

bad=()
shopt -s nullglob
for f in "$tmp"/*.ptx; do
	name=$(basename "$f")
	if [ ! -f "$kdir/ptx/$name" ]; then
		bad+=("kernels/cuda/ptx/$name (missing)")
	elif ! cmp -s "$f" "$kdir/ptx/$name"; then
		bad+=("kernels/cuda/ptx/$name (differs)")
	fi
done
for f in "$kdir"/ptx/*.ptx; do
	name=$(basename "$f")
	if [ ! -f "$tmp/$name" ]; then
		bad+=("kernels/cuda/ptx/$name (no src/${name%.ptx}.cu)")
	fi
done

for cu in "$root"/kernels/cuda/testdata/*.cu "$root"/runtime/device/cuda/testdata/*.cu; do
	ptx=${cu%.cu}.ptx
	"$NVCC" -ptx -arch=compute_80 -O3 -o "$tmp/test.ptx" "$cu"
	if ! cmp -s "$tmp/test.ptx" "$ptx"; then
		bad+=("${ptx#"$root"/} (differs from its .cu: see the command in the .cu)")
	fi
done

if [ ${#bad[@]} -gt 0 ]; then
	echo "check-ptx: the committed PTX is stale; run scripts/build-kernels.sh and commit:" >&2
	printf '  %s\n' "${bad[@]}" >&2
	have=$("$NVCC" --version | grep -o 'release [0-9.]*' || true)
	was=$(grep -ho -m1 'release [0-9.]*' "$kdir"/ptx/*.ptx 2>/dev/null | sort -u | tr '\n' ' ' || true)
	if [ -n "$was" ] && [ "$have " != "$was" ]; then
		echo "  (note: local nvcc is $have; the committed PTX says $was)" >&2
	fi
	exit 1
fi
echo "check-ptx: kernels/cuda/ptx matches kernels/cuda/src (${NVCC} $("$NVCC" --version | grep -o 'release [0-9.]*'))"
