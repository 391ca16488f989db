// Turns protocol records into spans: the record's own protocol decides name, attributes and status
// (`to_span` in protocols/<name>/), this adds the resource and the identity the request was given
// when it was seen. Pure: building a span changes no propagation state (the trace assembler,
// pipeline/trace_assembler.h, owns that).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "context/trace_context.h"
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

  // Ids and parent come from the request's identity (assigned by propagation when the request was
  // seen); a record without one (no propagation hook: tests, tools) gets fresh ids, and a SERVER
  // span whose request carries a trace context (W3C, B3, Jaeger) joins that trace.
  trace::Span build(const protocols::Record& record, const ConnectionInfo& conn, FlushCause cause);

  const context::ExtractStats& context_stats() const { return context_stats_; }

 private:
  context::ExtractStats context_stats_;
  ResourceLookup resources_;
  const MonotonicToRealtime* clock_;
};

}  // namespace zt::pipeline
