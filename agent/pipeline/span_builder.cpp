#include "pipeline/span_builder.h"

#include <variant>

#include "trace/ids.h"

namespace zt::pipeline {
namespace {

void assign_identity(trace::Span& span, const protocols::RequestIdentity& identity,
                     const protocols::RequestView& request, context::ExtractStats& stats) {
  if (identity.assigned) {
    span.trace_id = identity.trace_id;
    span.span_id = identity.span_id;
    span.parent_span_id = identity.parent_span_id;
    span.trace_flags = identity.trace_flags;
    span.trace_state = identity.trace_state;
    span.parent_is_remote = identity.parent_is_remote;
    return;
  }
  span.span_id = trace::new_span_id();
  if (auto caller = span.kind == trace::SpanKind::Server ? context::extract(request.headers, &stats) : std::nullopt) {
    span.trace_id = caller->trace_id;
    span.parent_span_id = caller->span_id;
    span.parent_is_remote = true;
    span.trace_flags = caller->sampled ? trace::kTraceFlagSampled : 0;
    span.trace_state = std::move(caller->trace_state);
  } else {
    span.trace_id = trace::new_trace_id();
  }
}

}  // namespace

trace::Span SpanBuilder::build(const protocols::Record& record, const ConnectionInfo& conn, FlushCause cause) {
  const protocols::SpanInput in{conn, cause, *clock_, resources_ ? resources_(conn.pid) : nullptr};
  // One overload of to_span and request_view per registered protocol (protocols/registry.h): a
  // protocol without them fails to compile here.
  return std::visit(
      [&](const auto& exchange) {
        trace::Span span = to_span(exchange, in);
        assign_identity(span, exchange.identity, request_view(exchange), context_stats_);
        return span;
      },
      record);
}

}  // namespace zt::pipeline
