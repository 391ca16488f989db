#!/usr/bin/env bash
# Checks otlp_receiver.js against OpenTelemetry JS's OTLP exporter, curl and a grpc-js client.
# Loopback only, deterministic, about two seconds. Needs `npm ci` here (scripts/setup.sh does it).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules ]; then
  echo "selftest.sh: tests/js/node_modules is missing: run scripts/setup.sh" >&2
  exit 1
fi
exec node --test otlp_receiver.test.js
