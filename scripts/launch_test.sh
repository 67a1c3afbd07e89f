#!/usr/bin/env bash
# Tests scripts/launch.sh against a fake nvidia-smi (scripts/testdata/nvidia-smi) that
# reports FAKE_GPUS GPUs: the --dry-run command for 0, 1 and 4 GPUs, --gpus, --split,
# --out, --dry-run with no nvidia-smi at all, and the errors. Needs no GPU; CI runs it (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
ln -s "$PWD/scripts/testdata/nvidia-smi" "$fake/nvidia-smi"
# No real baton or nvidia-smi may leak in: the fake directory comes first, and BATON is
# fixed so the printed command does not depend on what is installed here.
export PATH="$fake:$PATH" BATON=baton
unset CUDA_VISIBLE_DEVICES NVIDIA_SMI FAKE_SMI_FAIL

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect_ok GPUS WANT ARGS...: launch.sh --dry-run ARGS succeeds and prints exactly WANT.
expect_ok() {
  local n=$1 want=$2 got
  shift 2
  if ! got=$(FAKE_GPUS=$n scripts/launch.sh --dry-run "$@" 2>/dev/null); then
    fail "$n GPUs, launch.sh $*: exited non-zero"; return
  fi
  [ "$got" = "$want" ] || fail "$n GPUs, launch.sh $*:
   got: $got
  want: $want"
}

# expect_err GPUS MESSAGE ARGS...: launch.sh ARGS fails with MESSAGE on stderr.
expect_err() {
  local n=$1 msg=$2 err
  shift 2
  if err=$(FAKE_GPUS=$n scripts/launch.sh "$@" 2>&1 >/dev/null); then
    fail "$n GPUs, launch.sh $*: succeeded, want an error with '$msg'"; return
  fi
  [[ $err == *"$msg"* ]] || fail "$n GPUs, launch.sh $*: error '$err' does not say '$msg'"
}

# The default run directory: runs/<host>-<date-time>.
got=$(FAKE_GPUS=1 scripts/launch.sh --dry-run 2>/dev/null)
host=$(hostname -s 2>/dev/null || hostname)
[[ $got =~ ^baton\ train\ --devices\ cuda:0\ --out\ runs/${host}-[0-9]{8}-[0-9]{6}$ ]] ||
  fail "default --out: got '$got'"

# 1 GPU
expect_ok 1 "baton train --devices cuda:0 --out r" --out r
expect_ok 1 "baton train --devices cuda:0/4 --out r --schedule 1f1b --microbatches 8" \
  --split 4 --out r --schedule 1f1b --microbatches 8
expect_ok 1 "baton train --devices cuda:0 --out r --model gpt2-124m" --gpus 0 --out=r -- --model gpt2-124m
# 4 GPUs
expect_ok 4 "baton train --devices cuda:0,cuda:1,cuda:2,cuda:3 --out r --model gpt2-124m --precision tf32" \
  --out r --model gpt2-124m --precision tf32
expect_ok 4 "baton train --devices cuda:0,cuda:1 --out r" --gpus 0,1 --out r
expect_ok 4 "baton train --devices cuda:3,cuda:1 --out r" --gpus=3,1 --out r
expect_ok 4 "baton train --devices cuda:0/2 --out r" --split 2 --out r
expect_ok 4 "baton train --devices cuda:2/4 --out r" --gpus 2 --split 4 --out r
expect_ok 4 "baton train --devices cuda:0 --out my\\ runs/a --steps 10" --gpus 0 --out "my runs/a" --steps 10
# The binary: $BATON wins.
got=$(BATON=/opt/b/baton FAKE_GPUS=1 scripts/launch.sh --dry-run --out r 2>/dev/null)
[ "$got" = "/opt/b/baton train --devices cuda:0 --out r" ] || fail "BATON: got '$got'"
# It really runs the command (a stand-in baton that prints its arguments).
printf '#!/usr/bin/env bash\necho "ran: $*"\n' >"$fake/baton-stub"
chmod +x "$fake/baton-stub"
got=$(BATON="$fake/baton-stub" FAKE_GPUS=2 scripts/launch.sh --out r --steps 3 2>/dev/null)
[ "$got" = "ran: train --devices cuda:0,cuda:1 --out r --steps 3" ] || fail "run: got '$got'"

# Errors
expect_err 0 "lists no GPUs" --dry-run
expect_err 4 "there is no GPU 4 (this host has GPUs 0 1 2 3)" --dry-run --gpus 0,4
expect_err 1 "there is no GPU 1" --dry-run --gpus 1
expect_err 4 "'x' is not a GPU index" --dry-run --gpus 0,x
expect_err 4 "GPU 1 is listed twice" --dry-run --gpus 1,1
expect_err 4 "give a single index with --gpus" --dry-run --gpus 0,1 --split 2
expect_err 1 "want a positive number of partitions" --dry-run --split 0
expect_err 1 "--gpus needs a value" --dry-run --gpus
expect_err 1 "do not pass --devices" --dry-run --devices cuda:0
expect_err 1 "give --out before the baton train flags" --dry-run --model small --out r
err=$(NVIDIA_SMI=no-such-nvidia-smi scripts/launch.sh --dry-run 2>&1 >/dev/null) && fail "no nvidia-smi: succeeded"
[[ $err == *"no-such-nvidia-smi not found"* ]] || fail "no nvidia-smi: error '$err'"
# --dry-run needs no nvidia-smi when --gpus says which GPUs (none on PATH here).
nosmi=$(mktemp -d)
ln -s "$(command -v bash)" "$nosmi/bash"
got=$(PATH="$nosmi" scripts/launch.sh --dry-run --gpus 0,1 --out r 2>/dev/null) ||
  fail "dry-run without nvidia-smi: exited non-zero"
[ "$got" = "baton train --devices cuda:0,cuda:1 --out r" ] || fail "dry-run without nvidia-smi: got '$got'"
err=$(PATH="$nosmi" scripts/launch.sh --dry-run --gpus 0 --split 2 --out r 2>&1 >/dev/null) ||
  fail "dry-run --split without nvidia-smi: exited non-zero"
[[ $err == *"takes --gpus 0 as given, unchecked"* ]] || fail "dry-run without nvidia-smi: stderr '$err'"
err=$(PATH="$nosmi" scripts/launch.sh --dry-run --gpus 0,0 2>&1 >/dev/null) && fail "dry-run without nvidia-smi, GPU twice: succeeded"
[[ $err == *"GPU 0 is listed twice"* ]] || fail "dry-run without nvidia-smi, GPU twice: error '$err'"
err=$(PATH="$nosmi" scripts/launch.sh --dry-run 2>&1 >/dev/null) && fail "dry-run without nvidia-smi or --gpus: succeeded"
[[ $err == *"--dry-run without nvidia-smi needs --gpus LIST"* ]] || fail "dry-run without nvidia-smi or --gpus: error '$err'"
err=$(PATH="$nosmi" scripts/launch.sh --gpus 0 2>&1 >/dev/null) && fail "run without nvidia-smi: succeeded"
[[ $err == *"nvidia-smi not found"* ]] || fail "run without nvidia-smi: error '$err'"
rm -rf "$nosmi"
err=$(FAKE_SMI_FAIL=1 scripts/launch.sh --dry-run 2>&1 >/dev/null) && fail "failing nvidia-smi: succeeded"
[[ $err == *"failed: NVIDIA-SMI has failed"* ]] || fail "failing nvidia-smi: error '$err'"
err=$(CUDA_VISIBLE_DEVICES=1 scripts/launch.sh --dry-run 2>&1 >/dev/null) && fail "CUDA_VISIBLE_DEVICES: succeeded"
[[ $err == *"CUDA_VISIBLE_DEVICES is set"* ]] || fail "CUDA_VISIBLE_DEVICES: error '$err'"
# (run from the fake directory, so a ./baton built in the repository is not found)
launch=$PWD/scripts/launch.sh
err=$(cd "$fake" && BATON="" PATH="$fake:/usr/bin:/bin" FAKE_GPUS=1 "$launch" --out r 2>&1 >/dev/null) && fail "no baton: succeeded"
[[ $err == *"no baton binary"* ]] || fail "no baton: error '$err'"

if [ "$failures" -gt 0 ]; then
  echo "launch_test: $failures failure(s)" >&2
  exit 1
fi
echo "launch_test: ok"
