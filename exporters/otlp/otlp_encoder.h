// Spans -> OTLP ExportTraceServiceRequest, as protobuf (for gRPC and http/protobuf) and as the
// OTLP JSON mapping (http/json): one ResourceSpans per traced service instance, one ScopeSpans
// named "zerotrace" with the agent's version.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "trace/span.h"

namespace zt::exporters::otlp {

inline constexpr std::string_view kScopeName = "zerotrace";
std::string_view agent_version();

// Spans of the same Resource (the same shared_ptr) share one ResourceSpans, in first-seen order;
// spans keep their order within it. Strings that are not valid UTF-8 (captured bytes) have the
// offending bytes replaced by U+FFFD, as protobuf string fields require.
void encode_request(std::span<const trace::Span> spans,
                    opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& out);

// The same request in the OTLP JSON encoding: lowerCamelCase field names, trace and span ids as
// lowercase hex, enums as integers, 64-bit integers as decimal strings, empty fields left out.
std::string encode_json(std::span<const trace::Span> spans);

// OTLP span flags: W3C trace flags in bits 0-7, "is remote parent known" (bit 8) and "parent is
// remote" (bit 9).
std::uint32_t span_flags(const trace::Span& span);
// OTLP link flags: the link's W3C trace flags in bits 0-7, bit 8 always set (a link knows whether
// its span is remote), bit 9 when it is.
std::uint32_t link_flags(const trace::Link& link);

}  // namespace zt::exporters::otlp
