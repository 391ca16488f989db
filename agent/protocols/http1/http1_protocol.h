// HTTP/1.x as a registered protocol (protocols/registry.h): its record, its detector, its spans.
#pragma once

#include <memory>

#include "protocols/http1/http1_types.h"
#include "protocols/span_setup.h"

namespace zt::protocols {

class ConnectionParser;

struct Http1Protocol {
  using Record = HttpExchange;
  // A parser when `chunk` begins with a request line (or, midstream or with the role unknown, a
  // status line), else nullptr.
  static std::unique_ptr<ConnectionParser> detect(Direction dir, const Chunk& chunk, Role role, bool midstream);
};

// The span of one exchange: HTTP semantic conventions; a SERVER span for requests the traced
// process read, CLIENT for those it wrote.
trace::Span to_span(const HttpExchange& exchange, const SpanInput& in);

}  // namespace zt::protocols
