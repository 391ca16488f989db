// HTTP/2 (h2c) and gRPC over it as a registered protocol (protocols/registry.h): its record, its
// detector, its spans.
#pragma once

#include <memory>

#include "protocols/http2/http2_types.h"
#include "protocols/span_setup.h"

namespace zt::protocols {

class ConnectionParser;

struct Http2Protocol {
  using Record = Http2Exchange;
  // The client preface (prior knowledge), an HTTP/1.1 request asking for `Upgrade: h2c`, the
  // server's first SETTINGS frame, and, midstream only, a chunk made exactly of plausible frames.
  static std::unique_ptr<ConnectionParser> detect(Direction dir, const Chunk& chunk, Role role, bool midstream);
};

// The span of one stream: HTTP semantic conventions, or for gRPC the RPC ones
// (`package.Service/Method`, rpc.*, status per the gRPC conventions: server side only for server
// faults).
trace::Span to_span(const Http2Exchange& exchange, const SpanInput& in);

}  // namespace zt::protocols
