#!/usr/bin/env bash
# Checks that the committed PTX (kernels/cuda/ptx/*.ptx) is what scripts/build-kernels.sh
# makes from kernels/cuda/src/*.cu today, byte for byte (nvcc is deterministic), and
# that the test kernels' PTX (*/testdata/*.ptx) is their .cu's; then that ptxas
# assembles every entry for sm_90 (H100, H200), naming any that spill registers.
# Exit 0: identical and assembled, or nvcc is absent (skipped, with a message). Exit 1:
# lists the files that differ, are missing, or have no source, or ptxas's error.
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

# What the GPU's driver does when it loads the modules, done here: assemble every
# entry for the H100/H200 (sm_90), which no emulator shows. An error fails; a
# register spill (slow local memory) is named.
PTXAS=${PTXAS:-$(dirname "$(command -v "$NVCC")")/ptxas}
if [ ! -x "$PTXAS" ]; then
	echo "check-ptx: ptxas not found beside nvcc: the sm_90 assembly is skipped"
	exit 0
fi
entries=0
spills=()
for f in "$kdir"/ptx/*.ptx; do
	if ! info=$("$PTXAS" -arch=sm_90 -v "$f" -o "$tmp/sm90.cubin" 2>&1); then
		echo "check-ptx: ptxas cannot assemble kernels/cuda/ptx/$(basename "$f") for sm_90:" >&2
		echo "$info" >&2
		exit 1
	fi
	entries=$((entries + $(grep -c 'Compiling entry function' <<<"$info")))
	while read -r entry; do
		spills+=("$entry")
	done < <(awk '/Compiling entry function/ { name = $0; sub(/.*function \047/, "", name); sub(/\047.*/, "", name) }
		/bytes spill stores/ && $5 != "0" { print name ": " $5 " bytes of spill stores" }' <<<"$info")
done
echo "check-ptx: all $entries entries assemble for sm_90 ($("$PTXAS" --version | grep -o 'release [0-9.]*'))"
if [ ${#spills[@]} -gt 0 ]; then
	echo "check-ptx: spills (slow local memory):"
	printf '  %s\n' "${spills[@]}"
fi
