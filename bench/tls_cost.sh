#!/usr/bin/env bash
# What the TLS uprobes cost an OpenSSL call, measured in one run: zt_tls_pingpong (bench/
# tls_pingpong.c: a TLS 1.3 client and server in one process over a BIO pair, no network; each
# iteration is 4 calls of 100 bytes: write, read, write, read) is run in fresh processes of
# ITERATIONS iterations, alternating untraced and traced (U E U I U N U ... per round), where
#   U  untraced;
#   E  traced, `tls: {internal_sites: false}`: uprobes on the exported SSL_read_ex/SSL_write_ex
#      (and SSL_read/SSL_write); Debian's start with `sub $8,%rsp`, which the kernel single-steps;
#   I  traced, `tls: {internal_sites: true}` (the default): uprobes on ssl_read_internal/
#      ssl_write_internal where the site plan finds them (they start with `push`: emulated);
#   N  traced with --no-tls (the syscall programs only; the loop makes no syscall): the control;
#   A  (optional) `zerotrace attach --pid` with its defaults, to compare attach with node mode.
# Traced means `zerotrace run --config FILE` selecting the ping-pong's pid (`attach` has no
# --config); the process holds a socket, so node mode probes it at once. Each traced process's
# us/call is compared with the mean of the untraced processes on either side; the medians over
# ROUNDS are printed, every round's values beside them. Also per call, for traced kinds: the TLS
# programs' run time (kernel.bpf_stats_enabled=1 during the run; tls_enter*/tls_exit* of the
# agent just started) and program runs, and the agent's CPU (schedstat run time of its threads while the loop ran).
# What remains of the added cost after the programs' run time is the kernel's uprobe path (trap,
# single-step or emulation, uretprobe return).
#   bench/tls_cost.sh [ITERATIONS (default 20000)] [ROUNDS (default 5)] [KINDS (default "E I N")]
# Extra ping-pong arguments: PINGPONG_ARGS=--plain-api (SSL_read/SSL_write instead of the _ex forms).
# The agent's messages of each traced process are kept in $KEEP_LOGS/ when that is set.
set -euo pipefail
cd "$(dirname "$0")/.."
ITERATIONS=${1:-20000}
ROUNDS=${2:-5}
KINDS=${3:-E I N}
ZT=${ZT:-build/agent/zerotrace}
PINGPONG=${PINGPONG:-build/bench/zt_tls_pingpong}
WARMUP=200
[ "$(id -u)" -eq 0 ] || { echo "tls_cost.sh: needs root (the agent loads eBPF programs)" >&2; exit 1; }
if [ ! -x "$ZT" ] || [ ! -x "$PINGPONG" ]; then
  echo "tls_cost.sh: build $ZT and $PINGPONG first (BUILD_TARGETS=\"zerotrace zt_tls_pingpong\" ./scripts/build.sh)" >&2
  exit 1
fi
command -v bpftool >/dev/null || { echo "tls_cost.sh: needs bpftool" >&2; exit 1; }
if pgrep -x zerotrace >/dev/null; then
  echo "tls_cost.sh: warning: another zerotrace runs (its programs' counters may be mixed in)" >&2
fi

work=$(mktemp -d)
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
  sysctl -q kernel.bpf_stats_enabled="$old_stats" || true
  jobs -p | xargs -r kill 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
sysctl -q kernel.bpf_stats_enabled=1

cpu_ns() {  # CPU time of a process, all threads, in ns (schedstat: finer than the stat ticks)
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}'
}

max_prog_id() { bpftool prog show -j | python3 -c 'import json,sys; print(max([p["id"] for p in json.load(sys.stdin)] or [0]))'; }

# "tls_ns tls_runs syscall_ns syscall_runs": run_time_ns and run_cnt summed over the TLS programs
# (tls_enter*, tls_exit*) and over the syscall/process programs loaded after program id $1. The
# syscall programs run for every process's syscalls (the loop makes none itself, but a uretprobe
# returns through the `uretprobe` syscall on x86-64).
prog_totals() {
  bpftool prog show -j | python3 -c '
import json, sys
floor = int(sys.argv[1]); t = [0, 0, 0, 0]
syscall = {"sys_enter", "sys_exit", "on_fork", "on_exec", "on_exit"}
for p in json.load(sys.stdin):
    name = p.get("name", "")
    if p["id"] <= floor:
        continue
    i = 0 if name.startswith(("tls_enter", "tls_exit")) else 2 if name in syscall else -1
    if i >= 0:
        t[i] += p.get("run_time_ns", 0); t[i + 1] += p.get("run_cnt", 0)
print(*t)' "$1"
}

# One process: kind -> "kind us_per_call tls_ns tls_runs agent_ns functions syscall_ns syscall_runs".
round() {
  local kind=$1 in="$work/in" out="$work/out" log="$work/agent.log" cfg="$work/config.yaml"
  rm -f "$in" "$out" "$log"
  mkfifo "$in"
  # shellcheck disable=SC2086
  "$PINGPONG" --iterations "$ITERATIONS" --warmup "$WARMUP" ${PINGPONG_ARGS:-} <"$in" >"$out" &
  local pp=$!
  exec 3>"$in"
  until grep -q '^ready' "$out" 2>/dev/null; do sleep 0.02; done
  local agent="" floor=0 wait_for="probing [0-9]* TLS functions"
  if [ "$kind" != U ]; then
    floor=$(max_prog_id)
    local internal=true
    [ "$kind" = E ] && internal=false
    printf 'select:\n  - pid: %d\ntls:\n  internal_sites: %s\n' "$pp" "$internal" > "$cfg"
    local -a cmd=("$ZT" run --config "$cfg" -o "jsonl=$work/spans.jsonl" --stats-interval 0)
    [ "$kind" = N ] && { cmd+=(--no-tls); wait_for="tracing pid"; }
    [ "$kind" = A ] && cmd=("$ZT" attach --pid "$pp" -o "jsonl=$work/spans.jsonl" --stats-interval 0)
    "${cmd[@]}" >/dev/null 2>"$log" 3>&- &
    agent=$!
    local tries=0
    until grep -q "$wait_for" "$log" 2>/dev/null; do
      sleep 0.05
      tries=$((tries + 1))
      [ "$tries" -lt 400 ] || { echo "tls_cost.sh: the agent did not start ($kind):" >&2; cat "$log" >&2; exit 1; }
    done
    sleep 0.2  # the rest of the agent's start-up (the syscall programs are attached by now)
  fi
  local a0=0 a1=0 b0="0 0 0 0" b1="0 0 0 0"
  [ -n "$agent" ] && { a0=$(cpu_ns "$agent"); b0=$(prog_totals "$floor"); }
  echo go >&3
  until grep -q '^calls_per_iteration' "$out" 2>/dev/null; do sleep 0.02; done
  [ -n "$agent" ] && { a1=$(cpu_ns "$agent"); b1=$(prog_totals "$floor"); }
  exec 3>&-
  wait "$pp"
  local functions=0
  if [ -n "$agent" ]; then
    kill -INT "$agent"
    wait "$agent" || true
    functions=$(sed -n 's/.*probing \([0-9]*\) TLS functions.*/\1/p' "$log" | head -1)
    if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS"; cp "$log" "$KEEP_LOGS/agent-$kind-$pp.log"; fi
  fi
  local us t0 r0 s0 q0 t1 r1 s1 q1
  us=$(sed -n 's/.*us_per_call=\([0-9.]*\).*/\1/p' "$out")
  read -r t0 r0 s0 q0 <<<"$b0"
  read -r t1 r1 s1 q1 <<<"$b1"
  echo "$kind $us $((t1 - t0)) $((r1 - r0)) $((a1 - a0)) ${functions:-0} $((s1 - s0)) $((q1 - q0))"
}

echo "zt_tls_pingpong: $ITERATIONS iterations (4 calls each) per process, $ROUNDS rounds of: U ${KINDS// / U } U;" \
  "$(nproc) CPUs, $(uname -r), $(dpkg-query -W -f='libssl3 ${Version}' libssl3 2>/dev/null || true)${PINGPONG_ARGS:+, $PINGPONG_ARGS}"
results=$work/results
round U > "$results"
for _ in $(seq "$ROUNDS"); do
  for k in $KINDS; do
    round "$k" >> "$results"
    round U >> "$results"
  done
done
[ -z "${KEEP_LOGS:-}" ] || cp "$results" "$KEEP_LOGS/results"

python3 - "$ITERATIONS" "$WARMUP" "$results" <<'PY'
import statistics, sys
iterations, warmup, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
runs = [line.split() for line in open(path)]
calls = 4 * (iterations + warmup)  # calls the agent saw while the counters ran
labels = {"U": "untraced", "E": "exported sites", "I": "internal sites", "N": "--no-tls (control)",
          "A": "attach, default sites"}
rows = {}
for i, r in enumerate(runs):
    m = {"us": float(r[1])}
    if r[0] != "U":
        m["added"] = m["us"] - (float(runs[i - 1][1]) + float(runs[i + 1][1])) / 2
        m["bpf_us"] = int(r[2]) / 1e3 / calls
        m["runs"] = int(r[3]) / calls
        m["agent_us"] = int(r[4]) / 1e3 / calls
        m["functions"] = r[5]
        m["sys_us"] = int(r[6]) / 1e3 / calls
        m["sys_runs"] = int(r[7]) / calls
    rows.setdefault(r[0], []).append(m)
fmt = lambda xs, k, f=".2f": ", ".join(format(x[k], f) for x in xs)
for kind in ["U"] + [k for k in labels if k != "U" and k in rows]:
    xs = rows[kind]
    med = lambda k: statistics.median(x[k] for x in xs)
    line = f"{labels[kind]:<22} us/call {med('us'):7.2f} (rounds: {fmt(xs, 'us')})"
    if kind != "U":
        line += (f"\n{'':<22} added   {med('added'):7.2f} (rounds: {fmt(xs, 'added')}); TLS programs "
                 f"{med('bpf_us'):.2f} us in {med('runs'):.2f} runs; syscall programs {med('sys_us'):.2f} us in "
                 f"{med('sys_runs'):.2f} runs; agent {med('agent_us'):.2f} us; "
                 f"TLS functions probed: {'/'.join(sorted({x['functions'] for x in xs}))}")
    print(line)
PY
