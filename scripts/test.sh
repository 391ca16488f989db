#!/usr/bin/env bash
# Sets up, builds and runs every test tier: unit (no root), bpf and e2e (root), plus a short
# fuzzing run of every fuzz target. With CI=true the root tiers must run: nothing is skipped.
# Stages, each in its own build directory (docs/testing.md):
#   default   build/          RelWithDebInfo, every tier
#   fuzz      build-fuzz/     clang + libFuzzer, FUZZ_SECONDS per target
#   release   build-release/  Release (-O3), every tier                      (ZT_TEST_RELEASE=1)
#   sanitize  build-asan/     ASan + UBSan, the unit and bpf tiers           (ZT_TEST_SANITIZE=1)
#   FUZZ_SECONDS=N      seconds per fuzz target (default 20; 0 skips fuzzing)
#   ZT_TEST_RELEASE=0|1, ZT_TEST_SANITIZE=0|1   default 1 under CI=true, 0 otherwise
#   CTEST_ARGS=...      extra arguments for every ctest run (e.g. "-L unit")
# Every stage runs even when an earlier one failed; the script exits non-zero if any failed.
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

in_ci=0
[ "${CI:-}" = "true" ] && in_ci=1
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
ZT_TEST_RELEASE=${ZT_TEST_RELEASE:-$in_ci}
ZT_TEST_SANITIZE=${ZT_TEST_SANITIZE:-$in_ci}

failed=()
timings=()
# stage <name> <command...>: runs a step, records its time and whether it failed.
stage() {
  local name=$1 start=$SECONDS
  shift
  echo "== test.sh: $name"
  if "$@"; then
    timings+=("$name: $((SECONDS - start)) s")
  else
    timings+=("$name: $((SECONDS - start)) s, FAILED")
    failed+=("$name")
  fi
}
# A build whose tests then cannot run is one failure, not two.
build_and_test() {
  local dir=$1 targets=$2 labels=$3
  shift 3
  local start=$SECONDS
  if ! BUILD_DIR=$dir BUILD_TARGETS=$targets ./scripts/build.sh "$@"; then
    timings+=("$dir build: $((SECONDS - start)) s, FAILED")
    failed+=("$dir build")
    return
  fi
  timings+=("$dir build: $((SECONDS - start)) s")
  # shellcheck disable=SC2086  # CTEST_ARGS and the label filter are lists of words
  stage "$dir ctest" ctest --test-dir "$dir" --output-on-failure --timeout 600 $labels ${CTEST_ARGS:-}
}

if [ "$ZT_TEST_RELEASE" = 1 ]; then
  echo "== test.sh: Release build (-O3) in build-release/, every tier"
  build_and_test build-release "" "" -DCMAKE_BUILD_TYPE=Release
fi
if [ "$ZT_TEST_SANITIZE" = 1 ]; then
  echo "== test.sh: ASan + UBSan build in build-asan/, the unit and bpf tiers"
  # Only what those tiers run: not the agent binary, the e2e tests or the benchmarks.
  build_and_test build-asan "zt_unit_tests zt_bpf_tests" "-L ^(unit|bpf)$" -DZEROTRACE_SANITIZE=ON -DZEROTRACE_BENCH=OFF
fi
if [ "$FUZZ_SECONDS" -gt 0 ]; then
  stage fuzz ./scripts/fuzz.sh "$FUZZ_SECONDS"
fi
# The default build last, in one ctest run over every tier, so the closing summary covers them all.
echo "== test.sh: default build (RelWithDebInfo) in build/, every tier"
build_and_test build "" ""

echo
echo "test.sh: stage times"
printf '  %s\n' "${timings[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "test.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
