#!/usr/bin/env bash
# Per-request CPU split of tracing HTTPS, measured in one run (bench/request_cost.sh over TLS):
# nginx (one worker, a small static file, `listen ... ssl` with a P-256 certificate made in the
# work directory) is loaded by `wrk -t1 -cCONNECTIONS https://...` in alternating phases, per round
#   U T U [E U] [N U]
# where
#   U  untraced;
#   T  `zerotrace attach --pid <master>` (defaults: TLS probes on the internal ssl_read_internal/
#      ssl_write_internal, which start with an emulated `push`);
#   E  `zerotrace run --config FILE` selecting nginx's master and worker pids, with
#      `tls: {internal_sites: false}`: the exported SSL_read/SSL_write (single-stepped `sub`);
#   N  `zerotrace attach --pid <master> --no-tls`: syscall programs only (the requests are not
#      seen: their bytes are ciphertext; the control for what the TLS probes add).
# For every phase, per request: the server's CPU (utime+stime of nginx's processes), the BPF
# programs' run time (kernel.bpf_stats_enabled=1; run_time_ns of the programs the phase's agent
# loaded, split into the syscall/process programs, which run for every syscall of every process
# wrk's included, and the TLS uprobe programs tls_enter*/tls_exit*), the agent's CPU, the
# requests/s, and for traced phases the spans written (JSONL lines) over the requests wrk
# completed; each traced phase's ratio is its requests/s over the mean of the untraced phases on
# either side. Medians over ROUNDS, every round's ratio beside them.
#   bench/tls_request_cost.sh [SECONDS_PER_PHASE (default 6)] [CONNECTIONS (default 16)]
#                             [ROUNDS (default 3)] [KINDS (default "T E N")]
# Extra agent arguments (every traced kind): ZT_ARGS="--capture-bytes 1024".
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-6}
CONNS=${2:-16}
ROUNDS=${3:-3}
KINDS=${4:-T E N}
ZT=${ZT:-build/agent/zerotrace}
[ "$(id -u)" -eq 0 ] || { echo "tls_request_cost.sh: needs root (the agent loads eBPF programs)" >&2; exit 1; }
[ -x "$ZT" ] || { echo "tls_request_cost.sh: build $ZT first (./scripts/build.sh)" >&2; exit 1; }
for tool in bpftool wrk openssl curl /usr/sbin/nginx; do
  command -v "$tool" >/dev/null || { echo "tls_request_cost.sh: needs $tool" >&2; exit 1; }
done
if pgrep -x zerotrace >/dev/null; then
  echo "tls_request_cost.sh: warning: another zerotrace runs (it may trace wrk or nginx too)" >&2
fi

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

cpu_ticks() {  # utime+stime of the given processes, all threads
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

max_prog_id() { bpftool prog show -j | python3 -c 'import json,sys; print(max([p["id"] for p in json.load(sys.stdin)] or [0]))'; }

# "syscall_ns syscall_runs tls_ns tls_runs" over the agent's programs loaded after program id $1.
bpf_totals() {
  bpftool prog show -j 2>/dev/null | python3 -c '
import json, sys
floor = int(sys.argv[1]); t = [0, 0, 0, 0]
syscall = {"sys_enter", "sys_exit", "on_fork", "on_exec", "on_exit"}
for p in json.load(sys.stdin):
    name = p.get("name", "")
    if p["id"] <= floor:
        continue
    i = 0 if name in syscall else 2 if name.startswith(("tls_enter", "tls_exit")) else -1
    if i >= 0:
        t[i] += p.get("run_time_ns", 0); t[i + 1] += p.get("run_cnt", 0)
print(*t)' "$1"
}

agent=""
start_agent() {  # kind jsonl-file
  local kind=$1 out=$2 log=$work/agent.log wait_for="probing [0-9]* TLS functions"
  local -a cmd
  case $kind in
    T) cmd=("$ZT" attach --pid "${server[0]}") ;;
    N) cmd=("$ZT" attach --pid "${server[0]}" --no-tls); wait_for="tracing pid" ;;
    E)
      { echo "select:"; for p in "${server[@]}"; do echo "  - pid: $p"; done
        printf 'tls:\n  internal_sites: false\n'; } > "$work/config.yaml"
      cmd=("$ZT" run --config "$work/config.yaml") ;;
  esac
  # shellcheck disable=SC2086
  "${cmd[@]}" -o "jsonl=$out" --stats-file "$work/stats.json" --stats-interval 0 ${ZT_ARGS:-} 2> "$log" &
  agent=$!
  local tries=0
  until grep -q "$wait_for" "$log" 2>/dev/null; do
    sleep 0.05
    tries=$((tries + 1))
    [ "$tries" -lt 400 ] || { echo "tls_request_cost.sh: the agent did not start ($kind):" >&2; cat "$log" >&2; exit 1; }
  done
  sleep 0.3  # the worker's probes (a forked child: attached after the master's)
}

stop_agent() {
  kill -INT "$agent"
  wait "$agent" || true
  agent=""
}

# One phase: kind -> a line of results.
phase() {
  local kind=$1 floor=0 spans=-1 functions=0
  rm -f "$work/spans.jsonl" "$work/stats.json"
  if [ "$kind" != U ]; then
    floor=$(max_prog_id)
    start_agent "$kind" "$work/spans.jsonl"
  fi
  local s0 a0=0 b0="0 0 0 0" out s1 a1=0 b1="0 0 0 0" a
  s0=$(cpu_ticks "${server[@]}")
  [ -n "$agent" ] && { a0=$(cpu_ticks "$agent"); b0=$(bpf_totals "$floor"); }
  out=$(wrk -t1 -c"$CONNS" -d"${DUR}s" "$url")
  s1=$(cpu_ticks "${server[@]}")
  [ -n "$agent" ] && { a1=$(cpu_ticks "$agent"); b1=$(bpf_totals "$floor"); }
  if [ -n "$agent" ]; then
    a=$agent
    stop_agent
    spans=$(wc -l < "$work/spans.jsonl" 2>/dev/null || echo 0)
    functions=$({ grep -o 'probing [0-9]* TLS functions' "$work/agent.log" || true; } | awk '{s += $2} END {print s + 0}')
    [ -z "${KEEP_LOGS:-}" ] || { mkdir -p "$KEEP_LOGS"; cp "$work/agent.log" "$KEEP_LOGS/agent-$kind-$a.log";
                                 cp "$work/stats.json" "$KEEP_LOGS/stats-$kind-$a.json" 2>/dev/null || true; }
  fi
  local reqs rps errors
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {print $0}' <<<"$out" | tr ' \n' '__')
  local bs0 bn0 bt0 btn0 bs1 bn1 bt1 btn1
  read -r bs0 bn0 bt0 btn0 <<<"$b0"
  read -r bs1 bn1 bt1 btn1 <<<"$b1"
  echo "$kind $rps $reqs $((s1 - s0)) $((a1 - a0)) $((bs1 - bs0)) $((bn1 - bn0)) $((bt1 - bt0)) $((btn1 - btn0)) $spans $functions ${errors:--}"
}

nport=$(free_port)
mkdir -p "$work/nginx/html" "$work/nginx/logs" "$work/nginx/tmp"
printf 'zerotrace overhead benchmark\n' > "$work/nginx/html/index.html"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -keyout "$work/nginx/key.pem" -out "$work/nginx/cert.pem" 2>/dev/null
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
    listen 127.0.0.1:$nport ssl;
    ssl_certificate $work/nginx/cert.pem;
    ssl_certificate_key $work/nginx/key.pem;
    root $work/nginx/html;
  }
}
CONF
/usr/sbin/nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
npid=$!
pids+=("$npid")
url="https://127.0.0.1:$nport/index.html"
for _ in $(seq 50); do curl -skf "$url" >/dev/null && break; sleep 0.1; done
curl -skf "$url" >/dev/null || { echo "tls_request_cost.sh: nginx did not answer over HTTPS" >&2; cat "$work/nginx/logs/error.log" >&2; exit 1; }
mapfile -t workers < <(pgrep -P "$npid")
server=("$npid" "${workers[@]}")

echo "zerotrace TLS request cost: nginx 1.22 HTTPS (${#server[@]} processes), wrk -t1 -c$CONNS -d${DUR}s, $ROUNDS rounds" \
  "of U ${KINDS// / U } U; $(nproc) CPUs, $(uname -r), $(dpkg-query -W -f='libssl3 ${Version}' libssl3 2>/dev/null || true)"
wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null  # warm-up
results=$work/results
phase U > "$results"
for _ in $(seq "$ROUNDS"); do
  for k in $KINDS; do
    phase "$k" >> "$results"
    phase U >> "$results"
  done
done
[ -z "${KEEP_RESULTS:-}" ] || cp "$results" "$KEEP_RESULTS"

python3 - "$ticks_per_s" "$results" <<'PY'
import statistics, sys
hz, path = int(sys.argv[1]), sys.argv[2]
runs = [line.split() for line in open(path)]
labels = {"U": "untraced", "T": "traced (internal sites)", "E": "traced, exported sites", "N": "traced, --no-tls"}
rows = {}
for i, r in enumerate(runs):
    reqs = max(int(r[2]), 1)
    m = {"rps": float(r[1]), "reqs": int(r[2]),
         "server_us": int(r[3]) / hz * 1e6 / reqs, "agent_us": int(r[4]) / hz * 1e6 / reqs,
         "sys_us": int(r[5]) / 1e3 / reqs, "sys_runs": int(r[6]) / reqs,
         "tls_us": int(r[7]) / 1e3 / reqs, "tls_runs": int(r[8]) / reqs,
         "spans": int(r[9]), "functions": r[10], "errors": r[11]}
    if r[0] != "U":
        m["ratio"] = m["rps"] / ((float(runs[i - 1][1]) + float(runs[i + 1][1])) / 2)
    rows.setdefault(r[0], []).append(m)
for kind in [k for k in labels if k in rows]:
    xs = rows[kind]
    med = lambda k: statistics.median(x[k] for x in xs)
    line = f"{labels[kind]:<24} req/s {med('rps'):7.0f}  per request: server {med('server_us'):6.2f} us"
    if kind != "U":
        rounds = ", ".join(format(x["ratio"], ".3f") for x in xs)
        spans = sum(x["spans"] for x in xs); reqs = sum(x["reqs"] for x in xs)
        line += (f", BPF {med('sys_us') + med('tls_us'):5.2f} us (syscall programs {med('sys_us'):.2f} in "
                 f"{med('sys_runs'):.1f} runs, TLS programs {med('tls_us'):.2f} in {med('tls_runs'):.1f} runs), "
                 f"agent {med('agent_us'):5.2f} us\n{'':<24} ratio {med('ratio'):.3f} (rounds: {rounds}); "
                 f"spans {spans} for {reqs} requests ({100 * spans / max(reqs, 1):.1f}%); TLS functions probed "
                 f"(all processes): {'/'.join(sorted({x['functions'] for x in xs}))}")
        line += "\n" + " " * 24 + " server us/req by round: " + ", ".join(format(x["server_us"], ".1f") for x in xs)
    errs = [x["errors"] for x in xs if x["errors"] != "-"]
    if errs:
        line += "\n" + " " * 24 + " wrk reported: " + "; ".join(e.replace("_", " ") for e in errs)
    print(line)
PY
