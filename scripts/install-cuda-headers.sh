#!/usr/bin/env bash
# Installs what the -tags cuda build needs on a machine without a GPU: CUDA's
# headers (cuda.h), a libcuda.so to link against and nvcc, from Debian's
# non-free component (CUDA 11.8 on bookworm). Does nothing when cuda.h and
# nvcc are already there. Run as root (CI) or with sudo available.
set -euo pipefail

if [ -e /usr/include/cuda.h ] && command -v nvcc >/dev/null 2>&1; then
  echo "CUDA headers and nvcc present: $(nvcc --version | tail -n 1)"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  as_root=(sudo)
fi

codename=bookworm
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
fi

sources=/etc/apt/sources.list.d/nonfree.sources
if [ ! -e "$sources" ]; then
  echo "adding Debian's contrib and non-free components ($sources)"
  "${as_root[@]}" tee "$sources" >/dev/null <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: $codename
Components: contrib non-free non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
fi

"${as_root[@]}" apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nvidia-cuda-dev nvidia-cuda-toolkit

test -e /usr/include/cuda.h || { echo "install-cuda-headers: /usr/include/cuda.h is still missing" >&2; exit 1; }
echo "installed: $(nvcc --version | tail -n 1)"
