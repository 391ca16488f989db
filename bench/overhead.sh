#!/usr/bin/env bash
# Overhead of tracing, measured in one run: each server is loaded with wrk without the agent,
# with the agent tracing it, and without again; the ratio compares requests/s traced against the
# mean of the two untraced runs. Also reports the share of requests that became spans and wrk's
# latency percentiles.
#   bench/overhead.sh [SECONDS_PER_RUN (default 10)] [CONNECTIONS (default 8)]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=${2:-8}
ZT=build/agent/zerotrace
[ "$(id -u)" -eq 0 ] || { echo "overhead.sh: needs root (the agent loads eBPF programs)" >&2; exit 1; }
[ -x "$ZT" ] || ./scripts/build.sh >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wrk -> "rps p50 p90 p99 requests"
run_wrk() {
  local url=$1 out
  out=$(wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "$url")
  local rps p50 p90 p99 reqs
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p90=$(awk '$1=="90%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  echo "$rps $p50 $p90 $p99 $reqs"
}

start_agent() {  # pid jsonl-file
  "$ZT" attach --pid "$1" -o "jsonl=$2" 2> "$work/agent.log" &
  agent=$!
  for _ in $(seq 100); do grep -q "tracing pid" "$work/agent.log" && break; sleep 0.1; done
}

stop_agent() {
  kill -INT "$agent"
  wait "$agent" || true
  grep -E "events" "$work/agent.log" | sed 's/^zerotrace I /  agent: /'
}

measure() {  # name url server-pid
  local name=$1 url=$2 spid=$3
  wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null  # warm-up
  read -r b1 b1p50 b1p90 b1p99 _ < <(run_wrk "$url")
  start_agent "$spid" "$work/$name.jsonl"
  read -r t tp50 tp90 tp99 treqs < <(run_wrk "$url")
  sleep 1
  stop_agent
  read -r b2 b2p50 b2p90 b2p99 _ < <(run_wrk "$url")
  local spans
  spans=$(wc -l < "$work/$name.jsonl")
  python3 - "$name" "$b1" "$b2" "$t" "$treqs" "$spans" "$b1p50" "$b1p90" "$b1p99" "$tp50" "$tp90" "$tp99" <<'PY'
import sys
name, b1, b2, t, reqs, spans = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
lat = sys.argv[7:]
base = (b1 + b2) / 2
print(f"{name}: untraced {b1:.0f} / {b2:.0f} req/s, traced {t:.0f} req/s, ratio {t/base:.3f}; "
      f"spans {spans} of {reqs} requests ({100.0*spans/max(reqs,1):.1f}%); "
      f"latency p50/p90/p99 untraced {lat[0]}/{lat[1]}/{lat[2]}, traced {lat[3]}/{lat[4]}/{lat[5]}")
PY
}

# nginx: one worker, a small static file, keep-alive.
nport=$(free_port)
mkdir -p "$work/nginx/html" "$work/nginx/logs"
printf 'zerotrace overhead benchmark\n' > "$work/nginx/html/index.html"
cat > "$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp;
  scgi_temp_path $work/nginx/tmp;
  server { listen 127.0.0.1:$nport; root $work/nginx/html; }
}
CONF
mkdir -p "$work/nginx/tmp"
/usr/sbin/nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
npid=$!
pids+=("$npid")
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$nport/index.html" >/dev/null && break; sleep 0.1; done

# python3 ThreadingHTTPServer (tests/workloads/http_server.py).
pport=$(free_port)
python3 tests/workloads/http_server.py "$pport" > "$work/py.out" 2>&1 &
ppid_=$!
pids+=("$ppid_")
for _ in $(seq 50); do grep -q READY "$work/py.out" && break; sleep 0.1; done

echo "zerotrace overhead: $(nproc) cores, wrk -t1 -c$CONNS -d${DUR}s, $(uname -r)"
measure nginx "http://127.0.0.1:$nport/index.html" "$npid"
measure python "http://127.0.0.1:$pport/users/42" "$ppid_"
