// The agent's span model: what every protocol produces and every exporter consumes.
// Field meanings follow the OpenTelemetry trace data model (OTLP enum values included).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace zt::trace {

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

enum class SpanKind : std::uint8_t { Internal = 1, Server = 2, Client = 3, Producer = 4, Consumer = 5 };
enum class StatusCode : std::uint8_t { Unset = 0, Ok = 1, Error = 2 };

using AttributeValue = std::variant<std::string, std::int64_t, double, bool>;

struct Attribute {
  std::string key;
  AttributeValue value;
};

// Identity of the process a span was observed in (OpenTelemetry resource attributes).
struct Resource {
  std::uint32_t pid = 0;
  std::string service_name;
  std::vector<Attribute> attributes;  // service.name, process.*, host.name, ...
};

inline constexpr std::uint8_t kTraceFlagSampled = 0x01;

// A span as a parent: what work done on its behalf needs to join its trace.
struct SpanContext {
  TraceId trace_id{};
  SpanId span_id{};
  std::uint8_t trace_flags = kTraceFlagSampled;
  std::string trace_state;
};

// A link from a span to another span's context (OpenTelemetry span links): the creation context
// of a message a fetch delivered, a producer's send matched to the records a consumer read.
struct Link {
  TraceId trace_id{};
  SpanId span_id{};
  std::uint8_t trace_flags = kTraceFlagSampled;
  std::string trace_state;
  bool is_remote = true;              // the linked span was observed in another process
  std::vector<Attribute> attributes;  // why the link exists (e.g. zerotrace.link.source)
};

// Links a span carries at most; the rest are counted in `dropped_links`.
inline constexpr std::size_t kMaxLinksPerSpan = 32;

struct Span {
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};  // all zero: a root span
  // W3C trace flags of the span's context (bit 0: sampled). Spans the agent starts are sampled;
  // a span that joins a caller's trace keeps the caller's decision.
  std::uint8_t trace_flags = kTraceFlagSampled;
  std::string trace_state;          // W3C tracestate carried from the caller, verbatim
  bool parent_is_remote = false;    // the parent was observed in another process (header or pairing)
  std::string name;
  SpanKind kind = SpanKind::Internal;
  std::uint64_t start_unix_ns = 0;
  std::uint64_t end_unix_ns = 0;
  StatusCode status = StatusCode::Unset;
  std::string status_message;
  std::vector<Attribute> attributes;
  std::vector<Link> links;            // at most kMaxLinksPerSpan
  std::uint32_t dropped_links = 0;    // links not kept (over the bound)
  std::shared_ptr<const Resource> resource;
  std::uint32_t tid = 0;      // thread that did the work (not exported as an attribute)
  std::uint64_t conn_id = 0;  // connection it was observed on, 0 if none

  const AttributeValue* find_attribute(std::string_view key) const {
    for (const auto& a : attributes) {
      if (a.key == key) return &a.value;
    }
    return nullptr;
  }
  bool is_root() const { return parent_span_id == SpanId{}; }
  bool sampled() const { return (trace_flags & kTraceFlagSampled) != 0; }
};

std::string to_hex(const TraceId& id);
std::string to_hex(const SpanId& id);
// The same, appended to `out` (no temporary string: exporters write ids of every span).
void append_hex(std::string& out, const TraceId& id);
void append_hex(std::string& out, const SpanId& id);
const char* to_string(SpanKind kind);      // "SERVER", "CLIENT", ...
const char* to_string(StatusCode code);    // "UNSET", "OK", "ERROR"

}  // namespace zt::trace
