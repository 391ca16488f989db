#!/usr/bin/env bash
# Installs every build and test dependency of zerotrace: Debian's packages, the npm packages of
# the Node.js test peers in tests/js, and librdkafka 2.15.1 for the Kafka mock cluster
# (scripts/build-librdkafka.sh: a few minutes, the first time only).
# Idempotent: when everything is present it returns in about a second without touching apt.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages): sudo $0" >&2
  exit 1
fi

# Packages from bookworm itself.
MAIN_PKGS=(
  build-essential cmake ninja-build pkg-config git ccache
  clang llvm lld libclang-rt-14-dev libfuzzer-14-dev
  # scripts/lint.sh
  clang-format clang-tidy
  libelf-dev zlib1g-dev uuid-dev
  # symbols/x86_decode: whole-function decoding (the `ret` sites of Go functions)
  libcapstone-dev
  libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # exporters: OTLP protobuf/gRPC, HTTP transports
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc libcurl4-openssl-dev
  # protocols: HPACK (HTTP/2); Kafka record batch codecs (zlib above, zstd, lz4, snappy)
  libnghttp2-dev libzstd-dev liblz4-dev libsnappy-dev
  # test peers and workloads
  python3 nginx-light wrk curl iproute2 procps nghttp2-client nghttp2-server
  # TLS peers: openssl (certificates, s_server), Java's own TLS (not readable: a negative test),
  # libseccomp (a sandboxed server)
  openssl openjdk-17-jdk-headless libseccomp2
  # Kafka peers: librdkafka's mock cluster (tests/workloads/kafka) and clients that speak to it
  librdkafka-dev kcat python3-kafka python3-confluent-kafka
  # scripts/build-librdkafka.sh (zlib1g-dev is above)
  libssl-dev libzstd-dev liblz4-dev
)
# bookworm's libbpf 1.1 lacks BPF_UPROBE and uprobe_multi; 1.4 and bpftool 7.5 come from backports.
# golang-1.22-go: Go test peers (crypto/tls servers and clients built by tests/CMakeLists.txt)
BACKPORTS_PKGS=(libbpf-dev bpftool golang-1.22-go)

# tests/js pins its npm packages in package-lock.json; install them when node_modules is missing or
# older than the lockfile. Install scripts are skipped: none in that tree is needed (protobufjs's
# only prints a version warning), and so no package code runs as root.
install_js_test_packages() {
  local js_dir
  js_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/js"
  if [ -d "$js_dir/node_modules" ] && [ "$js_dir/node_modules" -nt "$js_dir/package-lock.json" ]; then
    echo "setup.sh: tests/js npm packages up to date"
    return
  fi
  echo "setup.sh: tests/js: npm ci"
  (cd "$js_dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  touch "$js_dir/node_modules"
}

# librdkafka 2.15.1 under /opt/zerotrace-peers, whose mock speaks the flexible Kafka versions that
# Debian's 2.0.2 does not; the script returns at once when it is already built.
build_librdkafka_peer() {
  "$(dirname "$0")/build-librdkafka.sh"
}

missing=()
for p in "${MAIN_PKGS[@]}" "${BACKPORTS_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js may come from Debian or from another packaging with npm bundled: ask for the commands.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
# An old libbpf-dev from bookworm main counts as missing.
if dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null | grep -q '^1:1\.[0-3]\.'; then
  missing+=(libbpf-dev)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup.sh: all dependencies present"
  install_js_test_packages
  build_librdkafka_peer
  exit 0
fi

echo "setup.sh: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
bpo=/etc/apt/sources.list.d/zerotrace-backports.list
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" > "$bpo"
fi
apt-get update -qq
extra=()
command -v node >/dev/null 2>&1 || extra+=(nodejs)
command -v npm >/dev/null 2>&1 || extra+=(npm)
apt-get install -y -qq --no-install-recommends "${MAIN_PKGS[@]}" "${extra[@]}" >/dev/null
apt-get install -y -qq --no-install-recommends -t bookworm-backports "${BACKPORTS_PKGS[@]}" >/dev/null
# nginx-light enables itself as a service on install; our tests start their own instances.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
pkill -x nginx 2>/dev/null || true
install_js_test_packages
build_librdkafka_peer
echo "setup.sh: done"
