#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each for N seconds
# (default 60) over its seed corpus. A crash fails the script and leaves the input in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
BUILD_DIR=build-fuzz ./scripts/build.sh -DZEROTRACE_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
for target in build-fuzz/tests/fuzz/*_fuzz; do
  name=$(basename "$target" _fuzz)
  corpus=tests/fuzz/corpus/$name
  work=build-fuzz/corpus-$name
  mkdir -p "$work"
  echo "fuzz: $name for ${SECONDS_PER_TARGET}s"
  (cd build-fuzz && "../$target" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=0 \
      "corpus-$name" "../$corpus" 2>&1 | tail -n 3)
done
