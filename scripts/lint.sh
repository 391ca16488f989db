#!/usr/bin/env bash
# Checks first-party C, C++ and BPF code with clang-format (.clang-format, bpf/.clang-format) and
# clang-tidy (.clang-tidy).
#   scripts/lint.sh            the lines and files changed since ZT_LINT_BASE: fails on any finding
#   scripts/lint.sh --all      every file: clang-format differences are WARNINGS (the tree predates
#                              .clang-format and is not reformatted wholesale), clang-tidy findings fail
#   ZT_LINT_BASE=<commit>      what "changed" is measured from (default: the merge-base with main)
#   BUILD_DIR=dir              where compile_commands.json is (default build; run scripts/build.sh first)
#   ZT_LINT_TIDY=0             clang-format only
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
all=0
[ "${1:-}" = "--all" ] && all=1

for tool in clang-format clang-tidy git-clang-format; do
  command -v "$tool" >/dev/null 2>&1 || { echo "lint.sh: $tool missing: run scripts/setup.sh" >&2; exit 1; }
done

paths=(agent exporters symbols bpf tests bench)
is_code() { [[ $1 =~ \.(c|h|cpp|cc)$ && ! $1 =~ ^tests/(fixtures|js)/ && -f $1 ]]; }

if [ $all = 1 ]; then
  mapfile -t files < <(git ls-files -- "${paths[@]}")
else
  base=${ZT_LINT_BASE:-$(git merge-base HEAD main 2>/dev/null || git rev-parse HEAD)}
  # Committed since base, staged, unstaged and new files.
  mapfile -t files < <({ git diff --name-only "$base" -- "${paths[@]}"; git ls-files --others --exclude-standard -- "${paths[@]}"; } | sort -u)
fi
code=()
for f in "${files[@]}"; do is_code "$f" && code+=("$f"); done
if [ ${#code[@]} -eq 0 ]; then
  echo "lint.sh: no C/C++ files to check"
  exit 0
fi
status=0

if [ $all = 1 ]; then
  unformatted=()
  for f in "${code[@]}"; do
    [ -n "$(clang-format --dry-run "$f" 2>&1)" ] && unformatted+=("$f")
  done
  echo "lint.sh: clang-format: WARNING: ${#unformatted[@]} of ${#code[@]} files differ from .clang-format (not an error; see 'clang-format --dry-run FILE')"
else
  # Only the changed lines: code written before .clang-format existed stays as it is. New files
  # that git does not track yet are checked whole.
  out=$(git clang-format --diff "$base" -- "${code[@]}" 2>&1 || true)
  for f in "${code[@]}"; do
    git ls-files --error-unmatch "$f" >/dev/null 2>&1 || out+=$'\n'$(clang-format --dry-run "$f" 2>&1)
  done
  if grep -qE '^[-+]|: warning:' <<<"$out"; then
    echo "$out"
    echo "lint.sh: clang-format: changed lines are not formatted (fix: git clang-format $base)" >&2
    status=1
  else
    echo "lint.sh: clang-format: changed lines formatted (${#code[@]} files)"
  fi
fi

if [ "${ZT_LINT_TIDY:-1}" != 0 ]; then
  db=$BUILD_DIR/compile_commands.json
  if [ ! -f "$db" ]; then
    echo "lint.sh: $db missing: run scripts/build.sh first" >&2
    exit 1
  fi
  # clang-tidy reads the compile commands: only sources in them; headers are checked through them.
  mapfile -t sources < <(python3 - "$db" "${code[@]}" <<'EOF'
import json, os, sys
known = {os.path.realpath(e["file"]) for e in json.load(open(sys.argv[1]))}
for f in sys.argv[2:]:
    if os.path.realpath(f) in known:
        print(f)
EOF
)
  if [ ${#sources[@]} -eq 0 ]; then
    echo "lint.sh: clang-tidy: no changed source is in $db"
  else
    echo "lint.sh: clang-tidy: ${#sources[@]} sources (this takes a while)"
    # The compile commands are GCC's: clang must not fail on GCC-only warning options.
    out=$(printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -n 1 clang-tidy -p "$BUILD_DIR" --quiet \
            --extra-arg=-Wno-unknown-warning-option 2>/dev/null || true)
    if grep -qE ': (warning|error):' <<<"$out"; then
      echo "$out"
      echo "lint.sh: clang-tidy: $(grep -cE ': (warning|error):' <<<"$out") findings" >&2
      status=1
    else
      echo "lint.sh: clang-tidy: clean"
    fi
  fi
fi
exit $status
