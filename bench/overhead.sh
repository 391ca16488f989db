#!/usr/bin/env bash
# Overhead of tracing, measured in one run: each server is loaded with wrk in alternating
# untraced and traced runs (U T U T ... U, ROUNDS traced runs); each traced run is compared with
# the mean of the untraced runs on either side of it, and the median of those ratios is reported
# (this VM's throughput drifts by 10-20% between runs, so a single pair is not enough). Also
# reports the share of requests that became spans and wrk's latency percentiles.
#   bench/overhead.sh [SECONDS_PER_RUN (default 8)] [CONNECTIONS (default 8)] [ROUNDS (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
CONNS=${2:-8}
ROUNDS=${3:-3}
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
  local results=$work/$name.results
  wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null  # warm-up
  : > "$results"
  echo "U $(run_wrk "$url")" >> "$results"
  for _ in $(seq "$ROUNDS"); do
    start_agent "$spid" "$work/$name.jsonl"
    echo "T $(run_wrk "$url")" >> "$results"
    sleep 1
    stop_agent
    echo "U $(run_wrk "$url")" >> "$results"
  done
  local spans
  spans=$(wc -l < "$work/$name.jsonl")
  python3 - "$name" "$spans" "$results" <<'PY'
import statistics, sys
name, spans, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = [line.split() for line in open(path)]
ratios, traced_reqs, untraced, traced = [], 0, [], []
for i, r in enumerate(runs):
    if r[0] == "T":
        before, after = float(runs[i - 1][1]), float(runs[i + 1][1])
        ratios.append(float(r[1]) / ((before + after) / 2))
        traced_reqs += int(r[5])
        traced.append(r)
    else:
        untraced.append(r)
def usec(text):  # wrk prints 95.00us, 1.52ms, 1.02s
    for suffix, scale in (("us", 1), ("ms", 1e3), ("s", 1e6)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale
    return float(text)
med = lambda rows, k: statistics.median(usec(x[k]) for x in rows)
print(f"{name}: ratio {statistics.median(ratios):.3f} (rounds: {', '.join(f'{x:.3f}' for x in ratios)}); "
      f"req/s untraced {statistics.median(float(x[1]) for x in untraced):.0f}, traced {statistics.median(float(x[1]) for x in traced):.0f}; "
      f"spans {spans} of {traced_reqs} traced requests ({100.0 * spans / max(traced_reqs, 1):.1f}%); "
      f"median latency p50/p90/p99 us: untraced {med(untraced,2):.0f}/{med(untraced,3):.0f}/{med(untraced,4):.0f}, "
      f"traced {med(traced,2):.0f}/{med(traced,3):.0f}/{med(traced,4):.0f}")
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
  sendfile on;
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
