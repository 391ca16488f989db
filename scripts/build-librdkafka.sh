#!/usr/bin/env bash
# Builds librdkafka 2.15.1 (shared library + headers) for the Kafka test peers: its mock cluster
# speaks the flexible protocol versions (Produce v10, Fetch v16 with topic ids, Metadata v12) that
# Debian's librdkafka 2.0.2 does not. The source comes from the npm package
# @confluentinc/kafka-javascript@1.10.1 (it bundles librdkafka in deps/librdkafka), so the build
# needs only the npm registry and Debian's zlib/OpenSSL/zstd/lz4 headers. Nothing here is committed.
#   ZT_PEERS_DIR=dir   install root (default /opt/zerotrace-peers)
# Result: $ZT_PEERS_DIR/librdkafka-2.15.1/lib/librdkafka.so.1 and include/librdkafka/rdkafka{,_mock}.h
# (the layout of Debian's librdkafka-dev, so sources include <librdkafka/rdkafka_mock.h> for both).
# Does nothing when that result is already there. About 4 minutes on 2 cores.
set -euo pipefail

VERSION=2.15.1
NPM_PACKAGE=@confluentinc/kafka-javascript@1.10.1
PEERS_DIR=${ZT_PEERS_DIR:-/opt/zerotrace-peers}
PREFIX=$PEERS_DIR/librdkafka-$VERSION
CACHE_DIR=$PEERS_DIR/cache

if [ -e "$PREFIX/lib/librdkafka.so.1" ] && [ -e "$PREFIX/include/librdkafka/rdkafka_mock.h" ]; then
  echo "build-librdkafka.sh: librdkafka $VERSION present in $PREFIX"
  exit 0
fi

mkdir -p "$CACHE_DIR"
tarball=$(ls "$CACHE_DIR"/confluentinc-kafka-javascript-1.10.1.tgz 2>/dev/null || true)
if [ -z "$tarball" ]; then
  echo "build-librdkafka.sh: npm pack $NPM_PACKAGE"
  (cd "$CACHE_DIR" && npm pack --silent "$NPM_PACKAGE" >/dev/null)
  tarball=$CACHE_DIR/confluentinc-kafka-javascript-1.10.1.tgz
fi

work=$(mktemp -d "$CACHE_DIR/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work" package/deps/librdkafka
src=$work/package/deps/librdkafka
if ! grep -q "RD_KAFKA_VERSION  *0x020f01" "$src/src/rdkafka.h"; then
  echo "build-librdkafka.sh: $tarball does not hold librdkafka $VERSION" >&2
  exit 1
fi

echo "build-librdkafka.sh: building librdkafka $VERSION (a few minutes)"
start=$(date +%s)
# Only the library is needed (no GSSAPI/SASL/OIDC: the mock and kcat run without them); configure
# finds zlib, OpenSSL, zstd and lz4 from Debian.
(cd "$src" && ./configure --prefix="$PREFIX" --disable-gssapi --disable-curl --disable-sasl >"$work/configure.log" 2>&1) || {
  tail -n 30 "$work/configure.log" >&2
  exit 1
}
(cd "$src" && make -j"$(nproc)" libs >"$work/make.log" 2>&1) || {
  tail -n 30 "$work/make.log" >&2
  exit 1
}

# Install into a temporary sibling, then rename: an interrupted run leaves no half-made $PREFIX.
staging=$PREFIX.tmp
rm -rf "$staging"
mkdir -p "$staging/lib" "$staging/include/librdkafka"
cp "$src/src/librdkafka.so.1" "$staging/lib/"
ln -s librdkafka.so.1 "$staging/lib/librdkafka.so"
cp "$src/src/rdkafka.h" "$src/src/rdkafka_mock.h" "$staging/include/librdkafka/"
rm -rf "$PREFIX"
mv "$staging" "$PREFIX"
echo "build-librdkafka.sh: librdkafka $VERSION installed in $PREFIX ($(($(date +%s) - start)) s)"
