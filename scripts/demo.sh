#!/usr/bin/env bash
# Runs zerotrace on a small real workload: a python3 HTTP server, attached by pid, answering a
# handful of curl requests (keep-alive, a route with ids, a 404, a 500, a POST, a chunked reply).
# Prints the traced requests as trees, then stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: zerotrace loads eBPF programs and needs root: sudo $0" >&2
  exit 1
fi
echo "== checking dependencies and building the agent (the first build takes a few minutes)"
./scripts/setup.sh >/dev/null
# Only what the demo runs: the agent (and the CUPTI library it depends on), not the tests.
BUILD_TARGETS=zerotrace ./scripts/build.sh >/dev/null

work=$(mktemp -d)
server_pid=""
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill -INT "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "== starting the workload: python3 tests/workloads/http_server.py $port"
python3 tests/workloads/http_server.py "$port" > "$work/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q READY "$work/server.out" 2>/dev/null && break; sleep 0.1; done

echo "== attaching: zerotrace attach --pid $server_pid"
build/agent/zerotrace attach --pid "$server_pid" --output console > "$work/trees.txt" 2> "$work/agent.log" &
agent_pid=$!
for _ in $(seq 100); do grep -q "tracing pid" "$work/agent.log" 2>/dev/null && break; sleep 0.1; done

base="http://127.0.0.1:$port"
echo "== sending requests with curl"
# One curl, one keep-alive connection, several requests.
curl -s "$base/users/42" "$base/users/7" "$base/nope" -o /dev/null -o /dev/null -o /dev/null
curl -s -X POST --data 'hello zerotrace' "$base/echo" -o /dev/null
curl -s "$base/chunked" -o /dev/null
curl -s "$base/error" -o /dev/null
sleep 0.5

kill -INT "$agent_pid"
wait "$agent_pid" || true
agent_pid=""
echo
cat "$work/trees.txt"
echo
grep -E "events|spans" "$work/agent.log" | sed 's/^/agent: /'
