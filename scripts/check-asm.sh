#!/usr/bin/env bash
# Checks that kernels/cpu's committed assembly and its Go stubs (simd_amd64.s,
# simd_amd64.go) are what its avo generator (kernels/cpu/_asm, a module of its
# own) makes today, byte for byte. It runs the package's //go:generate line in a
# copy of the generator, so the working tree is never written.
# Exit 0: identical. Exit 1: prints the diff and names the files that differ.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pkg=$root/kernels/cpu

gen=$(grep -h '^//go:generate ' "$pkg"/*.go | sed 's|^//go:generate ||')
if [ "$(printf '%s\n' "$gen" | wc -l)" -ne 1 ]; then
	echo "check-asm: want exactly one //go:generate line in kernels/cpu, found:" >&2
	printf '%s\n' "$gen" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -R "$pkg/_asm" "$tmp/_asm"
(cd "$tmp" && eval "$gen")

bad=()
for f in simd_amd64.s simd_amd64.go; do
	if ! diff -u "$pkg/$f" "$tmp/$f"; then
		bad+=("kernels/cpu/$f")
	fi
done
if [ ${#bad[@]} -gt 0 ]; then
	echo "check-asm: not what kernels/cpu/_asm generates (run go generate ./kernels/cpu): ${bad[*]}" >&2
	exit 1
fi
echo "check-asm: kernels/cpu/simd_amd64.{s,go} match their generator"
