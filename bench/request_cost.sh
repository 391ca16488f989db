#!/usr/bin/env bash
# Per-request CPU split of tracing, measured in one run: each server is loaded with wrk in
# alternating untraced and traced phases (U T U T ... U, ROUNDS traced phases). For every phase it
# records, per request: the server's CPU (utime+stime of every server process, /proc/PID/stat),
# the BPF programs' run time (kernel.bpf_stats_enabled=1; run_time_ns of the agent's programs,
# which run for every syscall of every process, wrk's included), the agent's CPU, and the
# throughput; each traced phase is compared with the mean of the untraced phases on either side.
#   bench/request_cost.sh [WORKLOAD (nginx|python|nginx-post|python-post|all; default nginx)]
#                         [SECONDS_PER_PHASE (default 8)] [CONNECTIONS (default 16)] [ROUNDS (default 3)]
# nginx: one worker, a small static file. python: tests/workloads/http_server.py.
# *-post: POST of 1 MiB bodies (nginx reads and discards them behind `return 204`; python reads
# them in the handler); each of these runs a third phase kind, K, traced with kernel control off
# (--no-kernel-control: every body byte's prefix is copied, as before issue 11).
# Extra agent arguments: ZT_ARGS="--capture-bytes 1024" bench/request_cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORKLOAD=${1:-nginx}
DUR=${2:-8}
CONNS=${3:-16}
ROUNDS=${4:-3}
ZT=${ZT:-build/agent/zerotrace}
[ "$(id -u)" -eq 0 ] || { echo "request_cost.sh: needs root (the agent loads eBPF programs)" >&2; exit 1; }
[ -x "$ZT" ] || { echo "request_cost.sh: build $ZT first (./scripts/build.sh)" >&2; exit 1; }
command -v bpftool >/dev/null || { echo "request_cost.sh: needs bpftool" >&2; exit 1; }

work=$(mktemp -d)
chmod 755 "$work"  # nginx workers run as nobody
pids=()
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
  sysctl -q kernel.bpf_stats_enabled="$old_stats" || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
sysctl -q kernel.bpf_stats_enabled=1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks_per_s=$(getconf CLK_TCK)

# CPU ticks (utime+stime) of the given pids and of all their threads.
cpu_ticks() {
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the parenthesised command: utime is the 12th, stime the 13th.
    total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

# Sum of run_time_ns and run_cnt over the agent's programs (none loaded: 0 0).
bpf_totals() {
  bpftool prog show -j 2>/dev/null | python3 -c '
import json, sys
ours = {"sys_enter", "sys_exit", "on_fork", "on_exec", "on_exit", "cuda_enter", "cuda_exit", "cupti_deliver"}
ns = cnt = 0
for p in json.load(sys.stdin):
    if p.get("name") in ours:
        ns += p.get("run_time_ns", 0); cnt += p.get("run_cnt", 0)
print(ns, cnt)'
}

agent=""
start_agent() {  # server-pid jsonl-file extra-args...
  local spid=$1 out=$2
  shift 2
  # shellcheck disable=SC2086
  "$ZT" attach --pid "$spid" -o "jsonl=$out" ${ZT_ARGS:-} "$@" 2> "$work/agent.log" &
  agent=$!
  for _ in $(seq 100); do grep -q "tracing pid" "$work/agent.log" && break; sleep 0.1; done
}

stop_agent() {
  kill -INT "$agent"
  wait "$agent" || true
  agent=""
}

# One phase: kind (U, T or K), url, wrk script or "", server pids... -> a line of results.
phase() {
  local kind=$1 url=$2 script=$3
  shift 3
  local -a server=("$@")
  local wrk_args=(-t1 -c"$CONNS" -d"${DUR}s")
  [ -n "$script" ] && wrk_args+=(-s "$script")
  case $kind in
    T) start_agent "${server[0]}" "$work/spans.jsonl" ;;
    K) start_agent "${server[0]}" "$work/spans.jsonl" --no-kernel-control ;;
  esac
  local s0 a0 b0 out s1 a1 b1
  s0=$(cpu_ticks "${server[@]}")
  a0=0; [ -n "$agent" ] && a0=$(cpu_ticks "$agent")
  b0=$(bpf_totals)
  out=$(wrk "${wrk_args[@]}" "$url")
  s1=$(cpu_ticks "${server[@]}")
  a1=0; [ -n "$agent" ] && a1=$(cpu_ticks "$agent")
  b1=$(bpf_totals)
  [ -n "$agent" ] && stop_agent
  local reqs rps errors
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  # Untraced: no programs of ours run. Those of the agent stopped just before may still be listed
  # for a moment (freed after a grace period), which would count their totals as negative work.
  if [ "$kind" = U ]; then b0="0 0"; b1="0 0"; fi
  echo "$kind $rps $reqs $((s1 - s0)) $((a1 - a0)) ${b0% *} ${b0#* } ${b1% *} ${b1#* } ${errors:-0}"
}

measure() {  # name url script kinds server-pids...
  local name=$1 url=$2 script=$3 kinds=$4
  shift 4
  local results=$work/$name.results
  local -a wrk_args=(-t1 -c"$CONNS" -d2s)
  [ -n "$script" ] && wrk_args+=(-s "$script")
  wrk "${wrk_args[@]}" "$url" >/dev/null  # warm-up
  : > "$results"
  phase U "$url" "$script" "$@" >> "$results"
  for _ in $(seq "$ROUNDS"); do
    for k in $kinds; do
      phase "$k" "$url" "$script" "$@" >> "$results"
      phase U "$url" "$script" "$@" >> "$results"
    done
  done
  python3 - "$name" "$ticks_per_s" "$results" <<'PY'
import statistics, sys
name, hz, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = [line.split() for line in open(path)]
def per_req(r):
    reqs = max(int(r[2]), 1)
    return {
        "rps": float(r[1]),
        "server_us": int(r[3]) / hz * 1e6 / reqs,
        "agent_us": int(r[4]) / hz * 1e6 / reqs,
        "bpf_us": (int(r[7]) - int(r[5])) / 1e3 / reqs,
        "bpf_runs": (int(r[8]) - int(r[6])) / reqs,
        "errors": int(r[9]),
    }
labels = {"U": "untraced", "T": "traced", "K": "traced, kernel control off"}
rows = {}
for i, r in enumerate(runs):
    m = per_req(r)
    if r[0] != "U":
        m["ratio"] = m["rps"] / ((float(runs[i - 1][1]) + float(runs[i + 1][1])) / 2)
    rows.setdefault(r[0], []).append(m)
print(f"{name}:")
for kind in ("U", "T", "K"):
    if kind not in rows:
        continue
    med = lambda k: statistics.median(x[k] for x in rows[kind])
    line = (f"  {labels[kind]:<27} req/s {med('rps'):8.0f}  per request: server {med('server_us'):6.2f} us, "
            f"BPF {med('bpf_us'):5.2f} us ({med('bpf_runs'):.1f} runs), agent {med('agent_us'):5.2f} us")
    if kind != "U":
        rounds = ", ".join(format(x["ratio"], ".3f") for x in rows[kind])
        line += f"; ratio {med('ratio'):.3f} (rounds: {rounds})"
    if any(x["errors"] for x in rows[kind]):
        line += f"; non-2xx responses: {sum(x['errors'] for x in rows[kind])}"
    print(line)
PY
}

start_nginx() {
  nport=$(free_port)
  mkdir -p "$work/nginx/html" "$work/nginx/logs" "$work/nginx/tmp"
  printf 'zerotrace overhead benchmark\n' > "$work/nginx/html/index.html"
  cat > "$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp;
  scgi_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$nport;
    root $work/nginx/html;
    # `return` makes nginx read the request body and discard it: every byte still crosses recv.
    location = /upload { client_max_body_size 2m; return 204; }
  }
}
CONF
  /usr/sbin/nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
  npid=$!
  pids+=("$npid")
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$nport/index.html" >/dev/null && break; sleep 0.1; done
  nginx_pids=("$npid" $(pgrep -P "$npid"))
}

start_python() {
  pport=$(free_port)
  python3 tests/workloads/http_server.py "$pport" > "$work/py.out" 2>&1 &
  ppid_=$!
  pids+=("$ppid_")
  for _ in $(seq 50); do grep -q READY "$work/py.out" && break; sleep 0.1; done
}

post_script=$work/post.lua
cat > "$post_script" <<'LUA'
wrk.method = "POST"
wrk.body = string.rep("z", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
LUA

echo "zerotrace request cost: $(nproc) cores, wrk -t1 -c$CONNS -d${DUR}s, $(uname -r)"
case $WORKLOAD in
  nginx|nginx-post|all) start_nginx ;;
esac
case $WORKLOAD in
  python|python-post|all) start_python ;;
esac
case $WORKLOAD in nginx|all) measure nginx "http://127.0.0.1:$nport/index.html" "" "T" "${nginx_pids[@]}" ;; esac
case $WORKLOAD in python|all) measure python "http://127.0.0.1:$pport/users/42" "" "T" "$ppid_" ;; esac
case $WORKLOAD in nginx-post|all) measure nginx-post-1MiB "http://127.0.0.1:$nport/upload" "$post_script" "T K" "${nginx_pids[@]}" ;; esac
case $WORKLOAD in python-post|all) measure python-post-1MiB "http://127.0.0.1:$pport/upload" "$post_script" "T K" "$ppid_" ;; esac
