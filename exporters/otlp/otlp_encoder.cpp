#include "exporters/otlp/otlp_encoder.h"

#include <charconv>
#include <cmath>
#include <unordered_map>
#include <variant>

#include "core/version.h"
#include "exporters/json_writer.h"

namespace zt::exporters::otlp {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace tracepb = opentelemetry::proto::trace::v1;
using ExportRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

constexpr std::uint32_t kHasIsRemote = 0x100;
constexpr std::uint32_t kIsRemote = 0x200;

void set_string(std::string* field, std::string_view text) {
  if (is_valid_utf8(text)) {
    field->assign(text);
  } else {
    *field = to_valid_utf8(text);
  }
}

void fill_value(common::AnyValue& out, const trace::AttributeValue& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          set_string(out.mutable_string_value(), v);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          out.set_int_value(v);
        } else if constexpr (std::is_same_v<T, double>) {
          out.set_double_value(v);
        } else {
          out.set_bool_value(v);
        }
      },
      value);
}

void fill_attributes(google::protobuf::RepeatedPtrField<common::KeyValue>& out,
                     const std::vector<trace::Attribute>& attributes) {
  out.Reserve(static_cast<int>(attributes.size()));
  for (const auto& a : attributes) {
    auto* kv = out.Add();
    set_string(kv->mutable_key(), a.key);
    fill_value(*kv->mutable_value(), a.value);
  }
}

void fill_links(tracepb::Span& out, const trace::Span& s) {
  out.mutable_links()->Reserve(static_cast<int>(s.links.size()));
  for (const auto& link : s.links) {
    auto* l = out.add_links();
    l->set_trace_id(link.trace_id.data(), link.trace_id.size());
    l->set_span_id(link.span_id.data(), link.span_id.size());
    if (!link.trace_state.empty()) set_string(l->mutable_trace_state(), link.trace_state);
    fill_attributes(*l->mutable_attributes(), link.attributes);
    l->set_flags(link_flags(link));
  }
  out.set_dropped_links_count(s.dropped_links);
}

void fill_span(tracepb::Span& out, const trace::Span& s) {
  out.set_trace_id(s.trace_id.data(), s.trace_id.size());
  out.set_span_id(s.span_id.data(), s.span_id.size());
  if (!s.is_root()) out.set_parent_span_id(s.parent_span_id.data(), s.parent_span_id.size());
  if (!s.trace_state.empty()) set_string(out.mutable_trace_state(), s.trace_state);
  out.set_flags(span_flags(s));
  set_string(out.mutable_name(), s.name);
  out.set_kind(static_cast<tracepb::Span::SpanKind>(s.kind));
  out.set_start_time_unix_nano(s.start_unix_ns);
  out.set_end_time_unix_nano(s.end_unix_ns);
  fill_attributes(*out.mutable_attributes(), s.attributes);
  fill_links(out, s);
  if (s.status != trace::StatusCode::Unset || !s.status_message.empty()) {
    auto* status = out.mutable_status();
    status->set_code(static_cast<tracepb::Status::StatusCode>(s.status));
    if (!s.status_message.empty()) set_string(status->mutable_message(), s.status_message);
  }
}

// Groups spans by resource, in first-seen order.
template <typename Visit>
void for_each_resource_group(std::span<const trace::Span> spans, Visit&& visit) {
  std::unordered_map<const trace::Resource*, std::size_t> index;
  std::vector<std::pair<const trace::Resource*, std::vector<const trace::Span*>>> groups;
  for (const auto& s : spans) {
    const auto [it, inserted] = index.try_emplace(s.resource.get(), groups.size());
    if (inserted) groups.push_back({s.resource.get(), {}});
    groups[it->second].second.push_back(&s);
  }
  for (const auto& [resource, members] : groups) visit(resource, members);
}

// --- JSON -----------------------------------------------------------------------------------

void append_hex(std::string& out, const std::uint8_t* bytes, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0xf]);
  }
  out.push_back('"');
}

void append_u64_string(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.push_back('"');
  out.append(buf, end);
  out.push_back('"');
}

void append_json_any_value(std::string& out, const trace::AttributeValue& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          out.append("{\"stringValue\":");
          append_json_string(out, v);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          // proto3 JSON: 64-bit integers are strings.
          out.append("{\"intValue\":\"");
          out.append(std::to_string(v));
          out.push_back('"');
        } else if constexpr (std::is_same_v<T, double>) {
          out.append("{\"doubleValue\":");
          if (std::isnan(v)) {
            out.append("\"NaN\"");
          } else if (std::isinf(v)) {
            out.append(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
          } else {
            append_json_value(out, v);
          }
        } else {
          out.append("{\"boolValue\":");
          out.append(v ? "true" : "false");
        }
      },
      value);
  out.push_back('}');
}

void append_json_key_values(std::string& out, const std::vector<trace::Attribute>& attributes) {
  out.push_back('[');
  bool first = true;
  for (const auto& a : attributes) {
    if (!first) out.push_back(',');
    first = false;
    out.append("{\"key\":");
    append_json_string(out, a.key);
    out.append(",\"value\":");
    append_json_any_value(out, a.value);
    out.push_back('}');
  }
  out.push_back(']');
}

void append_json_links(std::string& out, const std::vector<trace::Link>& links) {
  out.push_back('[');
  bool first = true;
  for (const auto& link : links) {
    if (!first) out.push_back(',');
    first = false;
    out.append("{\"traceId\":");
    append_hex(out, link.trace_id.data(), link.trace_id.size());
    out.append(",\"spanId\":");
    append_hex(out, link.span_id.data(), link.span_id.size());
    if (!link.trace_state.empty()) {
      out.append(",\"traceState\":");
      append_json_string(out, link.trace_state);
    }
    if (!link.attributes.empty()) {
      out.append(",\"attributes\":");
      append_json_key_values(out, link.attributes);
    }
    out.append(",\"flags\":");
    out.append(std::to_string(link_flags(link)));
    out.push_back('}');
  }
  out.push_back(']');
}

void append_json_span(std::string& out, const trace::Span& s) {
  out.append("{\"traceId\":");
  append_hex(out, s.trace_id.data(), s.trace_id.size());
  out.append(",\"spanId\":");
  append_hex(out, s.span_id.data(), s.span_id.size());
  if (!s.trace_state.empty()) {
    out.append(",\"traceState\":");
    append_json_string(out, s.trace_state);
  }
  if (!s.is_root()) {
    out.append(",\"parentSpanId\":");
    append_hex(out, s.parent_span_id.data(), s.parent_span_id.size());
  }
  out.append(",\"flags\":");
  out.append(std::to_string(span_flags(s)));
  out.append(",\"name\":");
  append_json_string(out, s.name);
  out.append(",\"kind\":");
  out.append(std::to_string(static_cast<int>(s.kind)));
  out.append(",\"startTimeUnixNano\":");
  append_u64_string(out, s.start_unix_ns);
  out.append(",\"endTimeUnixNano\":");
  append_u64_string(out, s.end_unix_ns);
  if (!s.attributes.empty()) {
    out.append(",\"attributes\":");
    append_json_key_values(out, s.attributes);
  }
  if (!s.links.empty()) {
    out.append(",\"links\":");
    append_json_links(out, s.links);
  }
  if (s.dropped_links != 0) {
    out.append(",\"droppedLinksCount\":");
    out.append(std::to_string(s.dropped_links));
  }
  out.append(",\"status\":{");
  bool need_comma = false;
  if (!s.status_message.empty()) {
    out.append("\"message\":");
    append_json_string(out, s.status_message);
    need_comma = true;
  }
  if (s.status != trace::StatusCode::Unset) {
    if (need_comma) out.push_back(',');
    out.append("\"code\":");
    out.append(std::to_string(static_cast<int>(s.status)));
  }
  out.append("}}");
}

}  // namespace

std::string_view agent_version() { return kVersion; }

std::uint32_t span_flags(const trace::Span& span) {
  std::uint32_t flags = span.trace_flags;
  if (!span.is_root()) flags |= kHasIsRemote | (span.parent_is_remote ? kIsRemote : 0);
  return flags;
}

std::uint32_t link_flags(const trace::Link& link) {
  // Unlike a parent, a link always says whether its span was remote.
  return link.trace_flags | kHasIsRemote | (link.is_remote ? kIsRemote : 0);
}

void encode_request(std::span<const trace::Span> spans, ExportRequest& out) {
  for_each_resource_group(spans, [&](const trace::Resource* resource, const std::vector<const trace::Span*>& members) {
    auto* rs = out.add_resource_spans();
    if (resource) fill_attributes(*rs->mutable_resource()->mutable_attributes(), resource->attributes);
    auto* ss = rs->add_scope_spans();
    ss->mutable_scope()->set_name(std::string(kScopeName));
    ss->mutable_scope()->set_version(std::string(agent_version()));
    ss->mutable_spans()->Reserve(static_cast<int>(members.size()));
    for (const auto* s : members) fill_span(*ss->add_spans(), *s);
  });
}

std::string encode_json(std::span<const trace::Span> spans) {
  std::string out;
  out.reserve(512 + spans.size() * 700);
  out.append("{\"resourceSpans\":[");
  bool first_group = true;
  for_each_resource_group(spans, [&](const trace::Resource* resource, const std::vector<const trace::Span*>& members) {
    if (!first_group) out.push_back(',');
    first_group = false;
    out.append("{\"resource\":{\"attributes\":");
    append_json_key_values(out, resource ? resource->attributes : std::vector<trace::Attribute>{});
    out.append("},\"scopeSpans\":[{\"scope\":{\"name\":");
    append_json_string(out, kScopeName);
    out.append(",\"version\":");
    append_json_string(out, agent_version());
    out.append("},\"spans\":[");
    bool first = true;
    for (const auto* s : members) {
      if (!first) out.push_back(',');
      first = false;
      append_json_span(out, *s);
    }
    out.append("]}]}");
  });
  out.append("]}");
  return out;
}

}  // namespace zt::exporters::otlp
