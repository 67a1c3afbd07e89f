#!/usr/bin/env bash
# Runs `baton train` on the GPUs of this host.
#
#   scripts/launch.sh [--gpus 0,1] [--split K] [--out DIR] [--dry-run] [--] [baton train flags...]
#
# Finds the GPUs with nvidia-smi and builds --devices from them:
#   (default)    every GPU, one pipeline stage each: cuda:0,cuda:1,...
#   --gpus LIST  only these GPU indices (as nvidia-smi numbers them), in this order
#   --split K    one GPU split into K SM partitions (cuda:N/K): the first GPU, or the
#                single GPU given with --gpus
# The run directory is --out, or runs/<host>-<date-time>. The baton binary is $BATON,
# else `baton` on PATH, else ./baton. --dry-run prints the command instead of running
# it. Launch options come first; everything after them (or after --) goes to
# `baton train` unchanged, e.g. --model gpt2-124m --precision tf32 --schedule 1f1b.
# NVIDIA_SMI names another nvidia-smi (the tests use a fake one). Without nvidia-smi,
# --dry-run --gpus LIST still prints the command, taking LIST unchecked.
set -euo pipefail

die() { echo "launch.sh: $*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

gpus="" split="" out="" dry_run=0
need_value() {
  if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi
}
while [ "$#" -gt 0 ]; do
  case "$1" in
    --gpus) need_value "$@"; gpus=$2; shift 2 ;;
    --gpus=*) gpus=${1#--gpus=}; [ -n "$gpus" ] || die "--gpus needs a value"; shift ;;
    --split) need_value "$@"; split=$2; shift 2 ;;
    --split=*) split=${1#--split=}; shift ;;
    --out) need_value "$@"; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; [ -n "$out" ] || die "--out needs a value"; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done

# The devices are this script's job: a --devices among the pass-through flags would
# silently override (or fight with) the list built here.
for arg in "$@"; do
  case "$arg" in
    --devices|--devices=*) die "do not pass --devices; choose GPUs with --gpus and --split" ;;
    --out|--out=*) die "give --out before the baton train flags, so launch.sh sees it" ;;
  esac
done

if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
  # CUDA renumbers the visible GPUs from 0, nvidia-smi does not: the indices would disagree.
  die "CUDA_VISIBLE_DEVICES is set ($CUDA_VISIBLE_DEVICES); unset it and choose GPUs with --gpus"
fi
# Number CUDA devices the way nvidia-smi does (by PCI bus), so cuda:N is nvidia-smi's GPU N.
export CUDA_DEVICE_ORDER=PCI_BUS_ID

smi=${NVIDIA_SMI:-nvidia-smi}
indices=() names=()
# list_gpus fills indices and names from nvidia-smi.
list_gpus() {
  local listing line idx name
  if ! listing=$("$smi" --query-gpu=index,name --format=csv,noheader 2>&1); then
    die "$smi failed: $listing"
  fi
  while IFS= read -r line; do
    [ -n "${line//[[:space:]]/}" ] || continue
    idx=${line%%,*}
    idx=${idx//[[:space:]]/}
    name=${line#*,}
    name=${name#"${name%%[![:space:]]*}"}
    [[ $idx =~ ^[0-9]+$ ]] || die "unexpected line from $smi: $line"
    indices+=("$idx")
    names+=("$name")
  done <<<"$listing"
  [ "${#indices[@]}" -gt 0 ] || die "$smi lists no GPUs"
}

checked=1 # whether --gpus is checked against the GPUs nvidia-smi lists
if command -v "$smi" >/dev/null 2>&1; then
  list_gpus
elif [ "$dry_run" -eq 1 ] && [ -n "$gpus" ]; then
  # A dry run only prints the command, so it may be prepared on a machine
  # without GPUs (a laptop, a login node): the GPUs asked for are taken on trust.
  echo "launch.sh: $smi not found; --dry-run takes --gpus $gpus as given, unchecked" >&2
  checked=0
else
  msg="$smi not found: install the NVIDIA driver (in Docker: run with --gpus all), or run baton train --devices cpu:0..3 without GPUs"
  [ "$dry_run" -eq 0 ] || msg+="; --dry-run without nvidia-smi needs --gpus LIST"
  die "$msg"
fi

has_gpu() {
  local i
  for i in "${indices[@]}"; do [ "$i" = "$1" ] && return 0; done
  return 1
}

selected=()
if [ -n "$gpus" ]; then
  IFS=, read -r -a wanted <<<"$gpus"
  for g in "${wanted[@]}"; do
    g=${g//[[:space:]]/}
    [[ $g =~ ^[0-9]+$ ]] || die "--gpus $gpus: '$g' is not a GPU index"
    [ "$checked" -eq 0 ] || has_gpu "$g" || die "--gpus $gpus: there is no GPU $g (this host has GPUs ${indices[*]})"
    for s in "${selected[@]}"; do
      [ "$s" != "$g" ] || die "--gpus $gpus: GPU $g is listed twice"
    done
    selected+=("$g")
  done
  [ "${#selected[@]}" -gt 0 ] || die "--gpus $gpus selects no GPU"
else
  selected=("${indices[@]}")
fi

if [ -n "$split" ]; then
  [[ $split =~ ^[1-9][0-9]*$ ]] || die "--split $split: want a positive number of partitions"
  if [ -n "$gpus" ] && [ "${#selected[@]}" -ne 1 ]; then
    die "--split splits one GPU; give a single index with --gpus (got $gpus)"
  fi
  devices="cuda:${selected[0]}/$split"
else
  devices=$(printf 'cuda:%s,' "${selected[@]}")
  devices=${devices%,}
fi

if [ -z "$out" ]; then
  host=$(hostname -s 2>/dev/null || hostname 2>/dev/null || echo host)
  out="runs/$host-$(date +%Y%m%d-%H%M%S)"
fi

baton=${BATON:-}
if [ -z "$baton" ]; then
  if command -v baton >/dev/null 2>&1; then
    baton=baton
  elif [ -x ./baton ]; then
    baton=./baton
  elif [ "$dry_run" -eq 0 ]; then
    die "no baton binary: set BATON, put baton on PATH, or build ./baton (scripts/build-cuda.sh OUT_DIR)"
  else
    baton=baton
  fi
fi

cmd=("$baton" train --devices "$devices" --out "$out" "$@")
for s in "${selected[@]}"; do
  for k in "${!indices[@]}"; do
    if [ "${indices[$k]}" = "$s" ]; then echo "launch.sh: GPU $s: ${names[$k]}" >&2; fi
  done
done
if [ "$dry_run" -eq 1 ]; then
  # Shell-quoted only where needed, so the line can be pasted back into a shell.
  line=""
  for a in "${cmd[@]}"; do
    if [[ $a =~ ^[A-Za-z0-9_./:,=+@%-]+$ ]]; then line+="$a "; else line+="$(printf '%q' "$a") "; fi
  done
  echo "${line% }"
  exit 0
fi
echo "launch.sh: ${cmd[*]}" >&2
exec "${cmd[@]}"
