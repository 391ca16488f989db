#include "exporters/zipkin_exporter.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>
#include <utility>
#include <variant>

#include "exporters/exporter.h"
#include "exporters/http_client.h"
#include "exporters/json_writer.h"

namespace zt::exporters {
namespace {

struct Endpoint {
  std::string_view service_name;
  std::string_view ipv4;
  std::string_view ipv6;
  std::int64_t port = 0;  // 0: unknown
  bool empty() const { return service_name.empty() && ipv4.empty() && ipv6.empty() && port == 0; }
};

const std::string* string_attribute(const trace::Span& span, std::string_view key) {
  const auto* value = span.find_attribute(key);
  return value != nullptr ? std::get_if<std::string>(value) : nullptr;
}

std::int64_t port_attribute(const trace::Span& span, std::string_view key) {
  const auto* value = span.find_attribute(key);
  const auto* port = value != nullptr ? std::get_if<std::int64_t>(value) : nullptr;
  return port != nullptr && *port > 0 && *port <= 65535 ? *port : 0;
}

// Puts `address` into the endpoint's ipv4 or ipv6 field when it is an IP literal (Zipkin accepts
// nothing else there); returns whether it was one.
bool set_ip(Endpoint& endpoint, const std::string& address) {
  in6_addr scratch{};
  if (::inet_pton(AF_INET, address.c_str(), &scratch) == 1) {
    endpoint.ipv4 = address;
    return true;
  }
  if (::inet_pton(AF_INET6, address.c_str(), &scratch) == 1) {
    endpoint.ipv6 = address;
    return true;
  }
  return false;
}

Endpoint local_endpoint(const trace::Span& span) {
  Endpoint local;
  local.service_name = service_name_of(span.resource.get());
  if (local.service_name.empty()) local.service_name = "unknown_service";
  if (span.kind == trace::SpanKind::Server) {
    if (const auto* address = string_attribute(span, "server.address")) set_ip(local, *address);
    local.port = port_attribute(span, "server.port");
  }
  return local;
}

Endpoint remote_endpoint(const trace::Span& span) {
  Endpoint remote;
  switch (span.kind) {
    case trace::SpanKind::Server:
      if (const auto* address = string_attribute(span, "client.address")) set_ip(remote, *address);
      remote.port = port_attribute(span, "client.port");
      break;
    case trace::SpanKind::Client:
    case trace::SpanKind::Producer: {
      // Zipkin draws a dependency only for a remote endpoint: name the service when we can.
      const auto* server = string_attribute(span, "server.address");
      if (server == nullptr || !set_ip(remote, *server)) {
        if (server != nullptr) remote.service_name = *server;  // a host name, e.g. from the Host header
        if (const auto* peer = string_attribute(span, "network.peer.address")) set_ip(remote, *peer);
      }
      if (const auto* peer_service = string_attribute(span, "peer.service"); peer_service && !peer_service->empty()) {
        remote.service_name = *peer_service;
      }
      remote.port = port_attribute(span, "server.port");
      if (remote.port == 0) remote.port = port_attribute(span, "network.peer.port");
      break;
    }
    case trace::SpanKind::Consumer:
      if (const auto* peer = string_attribute(span, "network.peer.address")) set_ip(remote, *peer);
      remote.port = port_attribute(span, "network.peer.port");
      break;
    case trace::SpanKind::Internal:
      break;
  }
  return remote;
}

void append_endpoint(std::string& out, std::string_view field, const Endpoint& endpoint) {
  out.append(",\"").append(field).append("\":{");
  bool first = true;
  const auto append_key = [&](std::string_view key) {
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out.append(key).append("\":");
  };
  if (!endpoint.service_name.empty()) {
    append_key("serviceName");
    append_json_string(out, endpoint.service_name);
  }
  if (!endpoint.ipv4.empty()) {
    append_key("ipv4");
    append_json_string(out, endpoint.ipv4);
  }
  if (!endpoint.ipv6.empty()) {
    append_key("ipv6");
    append_json_string(out, endpoint.ipv6);
  }
  if (endpoint.port != 0) {
    append_key("port");
    out.append(std::to_string(endpoint.port));
  }
  out.push_back('}');
}

// Zipkin tag values are strings.
std::string tag_value(const trace::AttributeValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          if (std::isnan(v)) return "NaN";
          if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
          char buf[32];
          auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
          return std::string(buf, ec == std::errc() ? end : buf);
        } else {
          return std::to_string(v);
        }
      },
      value);
}

void append_tags(std::string& out, const trace::Span& span) {
  // Keys are compared as written (escaped), so two raw keys that sanitise alike stay one tag.
  std::vector<std::pair<std::string, std::string>> tags;
  tags.reserve(span.attributes.size() + 3);
  const auto put = [&](std::string_view key, std::string value) {
    std::string json_key;
    append_json_string(json_key, key);
    for (auto& tag : tags) {
      if (tag.first == json_key) {
        tag.second = std::move(value);
        return;
      }
    }
    tags.emplace_back(std::move(json_key), std::move(value));
  };
  for (const auto& attribute : span.attributes) {
    if (!attribute.key.empty()) put(attribute.key, tag_value(attribute.value));
  }
  put("otel.scope.name", "zerotrace");
  if (span.status != trace::StatusCode::Unset) put("otel.status_code", trace::to_string(span.status));
  if (span.status == trace::StatusCode::Error) {
    put("error", span.status_message);
  } else {
    // Zipkin counts any span with an `error` tag as failed; the status alone decides that.
    std::erase_if(tags, [](const auto& tag) { return tag.first == "\"error\""; });
  }
  out.append(",\"tags\":{");
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(tags[i].first).push_back(':');
    append_json_string(out, tags[i].second);
  }
  out.push_back('}');
}

void append_span(std::string& out, const trace::Span& span) {
  out.append("{\"traceId\":\"").append(trace::to_hex(span.trace_id)).push_back('"');
  if (!span.is_root()) out.append(",\"parentId\":\"").append(trace::to_hex(span.parent_span_id)).push_back('"');
  out.append(",\"id\":\"").append(trace::to_hex(span.span_id)).push_back('"');
  if (span.kind != trace::SpanKind::Internal) {
    out.append(",\"kind\":\"").append(trace::to_string(span.kind)).push_back('"');
  }
  out.append(",\"name\":");
  append_json_string(out, span.name);
  // Both ends are truncated to microseconds first, so that timestamp + duration is the end.
  const std::uint64_t start_us = span.start_unix_ns / 1000;
  const std::uint64_t end_us = span.end_unix_ns / 1000;
  out.append(",\"timestamp\":").append(std::to_string(start_us));
  out.append(",\"duration\":").append(std::to_string(end_us > start_us ? end_us - start_us : 1));
  append_endpoint(out, "localEndpoint", local_endpoint(span));
  if (const Endpoint remote = remote_endpoint(span); !remote.empty()) append_endpoint(out, "remoteEndpoint", remote);
  append_tags(out, span);
  out.push_back('}');
}

}  // namespace

std::string encode_zipkin_v2(const std::vector<trace::Span>& spans) {
  std::string out;
  out.reserve(2 + spans.size() * 1024);
  out.push_back('[');
  for (std::size_t i = 0; i < spans.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_span(out, spans[i]);
  }
  out.push_back(']');
  return out;
}

namespace {

class ZipkinTransport final : public BatchTransport {
 public:
  explicit ZipkinTransport(ZipkinOptions options) : options_(std::move(options)), client_(TlsOptions{}) {}
  ExportResult send(std::span<const trace::Span> spans, std::chrono::milliseconds timeout) override {
    const std::vector<trace::Span> batch(spans.begin(), spans.end());
    const auto response = client_.post(options_.endpoint, encode_zipkin_v2(batch), "application/json", {}, false,
                                       std::min(timeout, options_.timeout));
    if (response.status == 0) {
      return ExportResult::retryable(response.timed_out ? "request timed out" : response.transport_error);
    }
    if (response.status / 100 == 2) return ExportResult::success();
    std::string why = "HTTP " + std::to_string(response.status);
    if (!response.body.empty()) why += ": " + response.body.substr(0, 200);
    if (response.status == 429 || response.status == 502 || response.status == 503 || response.status == 504) {
      return ExportResult::retryable(std::move(why), response.retry_after);
    }
    return ExportResult::failed(std::move(why));
  }
  std::string describe() const override { return "zipkin " + options_.endpoint; }
  std::string_view name() const override { return "zipkin"; }

 private:
  ZipkinOptions options_;
  HttpClient client_;
};

}  // namespace

Result<ZipkinOptions> zipkin_options(const std::optional<std::string>& url, const std::optional<std::string>& env_endpoint,
                                     const std::optional<std::string>& env_timeout) {
  ZipkinOptions o;
  std::string endpoint = url ? *url : (env_endpoint && !env_endpoint->empty() ? *env_endpoint : o.endpoint);
  const auto scheme = endpoint.find("://");
  if (scheme == std::string::npos || (endpoint.compare(0, scheme, "http") != 0 && endpoint.compare(0, scheme, "https") != 0)) {
    return make_error("zipkin: expected an http:// or https:// URL, got \"" + endpoint + "\"");
  }
  if (endpoint.find('/', scheme + 3) == std::string::npos) endpoint += "/api/v2/spans";
  o.endpoint = endpoint;
  if (env_timeout && !env_timeout->empty()) {
    std::int64_t ms = 0;
    const auto [end, ec] = std::from_chars(env_timeout->data(), env_timeout->data() + env_timeout->size(), ms);
    if (ec != std::errc() || end != env_timeout->data() + env_timeout->size() || ms <= 0) {
      return make_error("OTEL_EXPORTER_ZIPKIN_TIMEOUT: expected a positive integer of milliseconds, got \"" +
                        *env_timeout + "\"");
    }
    o.timeout = std::chrono::milliseconds(ms);
  }
  return o;
}

std::unique_ptr<SpanExporter> make_zipkin_exporter(const ZipkinOptions& options) {
  return std::make_unique<BatchSpanProcessor>(std::make_unique<ZipkinTransport>(options), options.batch);
}

}  // namespace zt::exporters
