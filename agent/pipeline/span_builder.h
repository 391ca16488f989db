// Turns protocol records into spans with OpenTelemetry semantic-convention attributes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "core/clock.h"
#include "pipeline/connection_info.h"
#include "protocols/protocol.h"
#include "trace/span.h"

namespace zt::pipeline {

class SpanBuilder {
 public:
  using ResourceLookup = std::function<std::shared_ptr<const trace::Resource>(std::uint32_t pid)>;

  SpanBuilder(ResourceLookup resources, const MonotonicToRealtime* clock)
      : resources_(std::move(resources)), clock_(clock) {}

  trace::Span build(const protocols::Record& record, const ConnectionInfo& conn, FlushCause cause) const;
  trace::Span build_http(const protocols::HttpExchange& exchange, const ConnectionInfo& conn,
                         FlushCause cause) const;

 private:
  ResourceLookup resources_;
  const MonotonicToRealtime* clock_;
};

}  // namespace zt::pipeline
