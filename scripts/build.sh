#!/usr/bin/env bash
# Configures and builds zerotrace into build/ (or $BUILD_DIR). Extra arguments go to cmake and
# come after the defaults, so they override them (e.g. -DCMAKE_BUILD_TYPE=Release,
# -DZEROTRACE_WERROR=OFF).
#   BUILD_DIR=dir        build directory (default build)
#   BUILD_TARGETS="a b"  build only these targets (default: all)
# Warnings are errors here (-DZEROTRACE_WERROR=ON): these scripts are the developers' and CI's
# builds. A plain `cmake` build leaves them warnings. ccache is used when installed.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}

defaults=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZEROTRACE_WERROR=ON)
if command -v ccache >/dev/null 2>&1; then
  defaults+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Paths relative to the checkout, so that another clone of the tree (a CI run) hits the cache.
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
fi
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" "${defaults[@]}" "$@" >/dev/null
fi

targets=()
for t in ${BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j"$(nproc)" "${targets[@]}"
