// TLS as a registered protocol (protocols/registry.h), for one record only: a TLS connection whose
// plaintext was never seen (Java's own TLS, a stripped Go binary, a library that is not probed).
// TLS sockets are recognised by the connection tracker from their handshake, never by a detector
// (their bytes go to the record reader, tls_handshake.h, not to a protocol parser), so `detect`
// finds nothing; the tracker makes the record at the connection's close when
// `tls.handshake_spans` is on (docs/protocols.md, TLS).
#pragma once

#include <cstdint>
#include <memory>

#include "protocols/common.h"
#include "protocols/span_setup.h"

namespace zt::protocols {

class ConnectionParser;

// What is known of a TLS connection without its plaintext: when it was used and by which thread;
// the handshake's facts are in the connection's TlsSession.
struct TlsConnectionRecord {
  RequestIdentity identity;
  std::uint32_t tid = 0;       // the thread of its first TLS bytes
  std::uint64_t start_ns = 0;  // its first TLS bytes (the ClientHello where seen), CLOCK_MONOTONIC
  std::uint64_t end_ns = 0;    // its close (or when the agent stopped watching it)
};

inline RequestView request_view(const TlsConnectionRecord& record) {
  RequestView view;
  view.protocol = "tls";
  view.start_ns = record.start_ns;
  view.tid = record.tid;
  return view;
}

struct TlsProtocol {
  using Record = TlsConnectionRecord;
  // Never: TLS is the tracker's to recognise (above).
  static std::unique_ptr<ConnectionParser> detect(Direction dir, const Chunk& chunk, Role role, bool midstream);
};

// A span for the connection: CLIENT (the traced process connected) or SERVER, named "TLS" and the
// server name where the client sent one, with the network.*, server.* and tls.* attributes of the
// handshake and `zerotrace.tls.plaintext_seen` false. The application protocol is named from ALPN
// ("h2", "http/1.1") where it was negotiated, and left out otherwise.
trace::Span to_span(const TlsConnectionRecord& record, const SpanInput& in);

}  // namespace zt::protocols
