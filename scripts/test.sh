#!/usr/bin/env bash
# Sets up, builds and runs every test tier: unit (no root), bpf and e2e (root), plus a short
# fuzzing run of every fuzz target. With CI=true the root tiers must run: nothing is skipped.
#   FUZZ_SECONDS=N   seconds per fuzz target (default 20; 0 skips fuzzing)
#   CTEST_ARGS=...   extra arguments for ctest (e.g. "-L unit")
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
  ./scripts/setup.sh
elif [ "${CI:-}" = "true" ]; then
  echo "test.sh: CI=true but not root: the bpf and e2e tiers need root" >&2
  exit 1
else
  echo "test.sh: *** not root: dependencies not checked; bpf and e2e tests will be SKIPPED ***" >&2
fi

./scripts/build.sh

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
if [ "$FUZZ_SECONDS" -gt 0 ]; then
  ./scripts/fuzz.sh "$FUZZ_SECONDS"
fi

# One ctest run over every tier, so the summary line covers them all.
ctest --test-dir build --output-on-failure --timeout 600 ${CTEST_ARGS:-}
