#!/usr/bin/env bash
# What the CUDA uprobes cost a launching thread, measured in one run: tests/workloads/cuda's
# gpu_steps times its own <<<>>> launches (launch_ns = mean per launch) in rounds of LAUNCHES,
# alternating untraced and traced by `zerotrace attach` (U T U T ... U); the per-launch overhead is
# the traced mean minus the mean of the untraced rounds around it, and the median over ROUNDS is
# reported, with and without folding (folding changes what userspace does, not what the probes cost).
#   bench/cuda_overhead.sh [LAUNCHES (default 20000)] [ROUNDS (default 3)]
# Without a GPU every launch fails fast inside cudart, so the numbers are the probes' cost plus a
# failing launch's; docs/gpu.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
LAUNCHES=${1:-20000}
ROUNDS=${2:-3}
ZT=build/agent/zerotrace
STEPS=build/tests/workloads/cuda/cuda-bin/zt_gpu_steps_static
[ "$(id -u)" -eq 0 ] || { echo "cuda_overhead.sh: needs root (the agent loads eBPF programs)" >&2; exit 1; }
[ -x "$ZT" ] && [ -x "$STEPS" ] || { echo "cuda_overhead.sh: build first (./scripts/build.sh; needs nvcc)" >&2; exit 1; }

work=$(mktemp -d)
cleanup() { jobs -p | xargs -r kill 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# One round in a fresh process, traced or not; prints the mean launch time in ns.
round() {
  local traced=$1 fold=$2 in="$work/in" out="$work/out" log="$work/agent.log"
  rm -f "$in" "$out"; mkfifo "$in"
  "$STEPS" 1 "$LAUNCHES" <"$in" >"$out" &
  local steps=$!
  exec 3>"$in"
  until grep -q ready "$out" 2>/dev/null; do sleep 0.05; done
  local agent=""
  if [ "$traced" = 1 ]; then
    "$ZT" attach -p "$steps" --cuda-fold-rate "$fold" -o jsonl="$work/spans.jsonl" >/dev/null 2>"$log" 3>&- &
    agent=$!
    until grep -q "tracing pid" "$log" 2>/dev/null; do sleep 0.05; done
  fi
  echo go >&3
  until grep -q done "$out" 2>/dev/null; do sleep 0.05; done
  exec 3>&-
  wait "$steps"
  if [ -n "$agent" ]; then kill -INT "$agent"; wait "$agent" || true; fi
  awk '/^launch_ns/ {print $2}' "$out"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

measure() {
  local fold=$1 prev deltas=() t u
  prev=$(round 0 "$fold")
  local untraced=("$prev")
  for _ in $(seq "$ROUNDS"); do
    t=$(round 1 "$fold")
    u=$(round 0 "$fold")
    untraced+=("$u")
    deltas+=("$(awk -v t="$t" -v a="$prev" -v b="$u" 'BEGIN {printf "%.1f", t - (a + b) / 2}')")
    prev=$u
  done
  printf 'fold rate %-6s untraced %8.1f ns/launch   overhead (median of %d) %8.1f ns/launch\n' "$fold" \
    "$(printf '%s\n' "${untraced[@]}" | median)" "$ROUNDS" "$(printf '%s\n' "${deltas[@]}" | median)"
}

echo "gpu_steps: $LAUNCHES launches per round, $ROUNDS traced rounds, $(nproc) CPUs"
measure 200
measure 1000000000
