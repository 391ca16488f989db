// Turns protocol records into spans with OpenTelemetry semantic-convention attributes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "context/propagation.h"
#include "context/trace_context.h"
#include "core/clock.h"
#include "pipeline/connection_info.h"
#include "protocols/protocol.h"
#include "trace/span.h"

namespace zt::pipeline {

class SpanBuilder {
 public:
  using ResourceLookup = std::function<std::shared_ptr<const trace::Resource>(std::uint32_t pid)>;

  // With a propagator, spans take the identity their request got when it was seen, late pairings
  // are applied, and a finished SERVER span stops being the parent of its thread's calls.
  SpanBuilder(ResourceLookup resources, const MonotonicToRealtime* clock, context::Propagator* propagator = nullptr)
      : resources_(std::move(resources)), clock_(clock), propagator_(propagator) {}

  trace::Span build(const protocols::Record& record, const ConnectionInfo& conn, FlushCause cause);
  // A SERVER span whose request carries a trace context (W3C, B3, Jaeger) joins that trace with
  // the caller's span as parent; otherwise it starts a trace of its own.
  trace::Span build_http(const protocols::HttpExchange& exchange, const ConnectionInfo& conn, FlushCause cause);

  // HTTP/2: HTTP semantic conventions, or for gRPC the RPC ones (`package.Service/Method`,
  // rpc.*, status per the gRPC conventions: server side only for server faults).
  trace::Span build_http2(const protocols::Http2Exchange& exchange, const ConnectionInfo& conn, FlushCause cause);

  const context::ExtractStats& context_stats() const { return context_stats_; }

 private:
  // Ids and parent from the request's identity (the propagation model), else from its headers.
  void assign_identity(trace::Span& span, const protocols::RequestIdentity& identity,
                       const std::vector<std::pair<std::string, std::string>>& headers, bool server,
                       std::uint32_t tid);

  context::ExtractStats context_stats_;
  ResourceLookup resources_;
  const MonotonicToRealtime* clock_;
  context::Propagator* propagator_;
};

}  // namespace zt::pipeline
