// Trace context carried by requests: W3C Trace Context, B3 (single and multi header) and Jaeger.
// Parsers take header values as they came off the wire (untrusted) and never throw.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trace/span.h"

namespace zt::context {

enum class Format : std::uint8_t { W3C, B3Single, B3Multi, Jaeger };

struct TraceContext {
  trace::TraceId trace_id{};
  trace::SpanId span_id{};    // the caller's span: parent of the span that receives it
  bool sampled = true;        // sampling decision carried (W3C flag 01, B3 1/d, Jaeger bit 0)
  std::string trace_state;    // W3C tracestate, kept verbatim when well-formed
  Format format = Format::W3C;
};

// `traceparent: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`. Later versions are read
// by their first four fields as the specification asks; version ff and all-zero ids are invalid.
std::optional<TraceContext> parse_traceparent(std::string_view value);
// True when `value` is a well-formed tracestate list (at most 32 key=value members).
bool valid_tracestate(std::string_view value);
// `b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]`, trace id of 16 or 32 hex digits.
// A lone sampling state ("0", "1", "d") carries no ids and gives nothing.
std::optional<TraceContext> parse_b3_single(std::string_view value);
// X-B3-TraceId, X-B3-SpanId, X-B3-Sampled, X-B3-Flags (debug implies sampled).
std::optional<TraceContext> parse_b3_multi(std::string_view trace_id, std::string_view span_id,
                                           std::string_view sampled, std::string_view flags);
// `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}`, ids in hex of up to 32 and 16
// digits (shorter ones are zero-padded on the left), flags in hex.
std::optional<TraceContext> parse_jaeger(std::string_view value);

struct ExtractStats {
  std::uint64_t extracted = 0;
  std::uint64_t malformed = 0;  // a propagation header was present but unusable
};

// The context of a request whose header names are lower-case, by precedence: W3C, B3 single,
// B3 multi, Jaeger. A malformed header is counted and the next format is tried.
std::optional<TraceContext> extract(std::span<const std::pair<std::string, std::string>> headers,
                                    ExtractStats* stats = nullptr);
inline std::optional<TraceContext> extract(const std::vector<std::pair<std::string, std::string>>& headers,
                                           ExtractStats* stats = nullptr) {
  return extract(std::span<const std::pair<std::string, std::string>>(headers), stats);
}

}  // namespace zt::context
