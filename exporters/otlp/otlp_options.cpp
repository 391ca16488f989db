#include "exporters/otlp/otlp_options.h"

#include "core/key_value_list.h"
#include "core/text.h"

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace zt::exporters::otlp {
namespace {


std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<std::chrono::milliseconds> parse_ms(const Settings& s, const std::string& key, std::string_view name,
                                           std::chrono::milliseconds fallback, bool allow_zero) {
  const auto it = s.find(key);
  if (it == s.end()) return fallback;
  std::int64_t v = -1;
  const std::string_view text = zt::text::trim(it->second);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0 || (v == 0 && !allow_zero)) {
    return make_error(std::string(name) + ": expected a " + (allow_zero ? "non-negative" : "positive") +
                      " integer of milliseconds, got \"" + it->second + "\"");
  }
  return std::chrono::milliseconds(v);
}

Result<std::size_t> parse_count(const Settings& s, const std::string& key, std::string_view name, std::size_t fallback) {
  const auto it = s.find(key);
  if (it == s.end()) return fallback;
  std::size_t v = 0;
  const std::string_view text = zt::text::trim(it->second);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v == 0 || v > (1u << 24)) {
    return make_error(std::string(name) + ": expected a positive integer, got \"" + it->second + "\"");
  }
  return v;
}

struct Url {
  std::string scheme;  // lowercase, empty when absent
  std::string authority;
  std::string path;  // "" or starting with '/'
};

Url split_url(std::string_view text) {
  Url url;
  if (const auto p = text.find("://"); p != std::string_view::npos) {
    url.scheme = lower(text.substr(0, p));
    text.remove_prefix(p + 3);
  }
  const auto slash = text.find('/');
  url.authority = std::string(text.substr(0, slash));
  if (slash != std::string_view::npos) url.path = std::string(text.substr(slash));
  return url;
}

bool has_port(const std::string& authority, std::string_view port) {
  const auto colon = authority.rfind(':');
  return colon != std::string::npos && authority.substr(colon + 1) == port;
}

}  // namespace

std::string_view to_string(Protocol protocol) {
  switch (protocol) {
    case Protocol::Grpc: return "grpc";
    case Protocol::HttpProtobuf: return "http/protobuf";
    case Protocol::HttpJson: return "http/json";
  }
  return "?";
}

std::optional<std::string> process_getenv(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

Settings settings_from_environment(const Getenv& getenv) {
  Settings s;
  static constexpr const char* kKeys[] = {"ENDPOINT", "PROTOCOL", "HEADERS", "COMPRESSION", "TIMEOUT",
                                          "CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE", "INSECURE"};
  for (const char* key : kKeys) {
    const std::string generic = std::string("OTEL_EXPORTER_OTLP_") + key;
    const std::string traces = std::string("OTEL_EXPORTER_OTLP_TRACES_") + key;
    const std::string name = lower(key);
    if (auto v = getenv(generic.c_str()); v && !zt::text::trim(*v).empty()) s[name] = *v;
    if (auto v = getenv(traces.c_str()); v && !zt::text::trim(*v).empty()) {
      // The traces endpoint is a full URL, used as is; the other traces variables just override.
      s[std::string(key) == "ENDPOINT" ? "traces_endpoint" : name] = *v;
    }
  }
  static constexpr std::pair<const char*, const char*> kBsp[] = {
      {"OTEL_BSP_MAX_QUEUE_SIZE", "bsp.max_queue_size"},
      {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "bsp.max_export_batch_size"},
      {"OTEL_BSP_SCHEDULE_DELAY", "bsp.schedule_delay"},
      {"OTEL_BSP_EXPORT_TIMEOUT", "bsp.export_timeout"}};
  for (const auto& [var, key] : kBsp) {
    if (auto v = getenv(var); v && !zt::text::trim(*v).empty()) s[key] = *v;
  }
  return s;
}

Result<Headers> parse_headers(std::string_view text) {
  auto members = parse_key_value_list(text, "headers");
  if (!members) return members.error();
  Headers headers;
  for (auto& [key, value] : *members) {
    for (const char c : key) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
        return make_error("headers: \"" + key + "\" is not a valid header name");
      }
    }
    for (const char c : value) {
      if (c == '\r' || c == '\n' || c == '\0') return make_error("headers: the value of \"" + key + "\" has a line break");
    }
    headers.emplace_back(lower(key), std::move(value));
  }
  return headers;
}

Result<OtlpOptions> resolve(const Settings& s, const std::optional<std::string>& cli_endpoint) {
  OtlpOptions o;
  const auto get = [&](const char* key) -> std::optional<std::string> {
    const auto it = s.find(key);
    if (it == s.end()) return std::nullopt;
    return std::string(zt::text::trim(it->second));
  };

  // Endpoint: the command line's, else the traces-specific one (a full URL), else the generic base URL.
  std::optional<std::string> base = get("endpoint");
  std::optional<std::string> full = get("traces_endpoint");
  if (cli_endpoint && !zt::text::trim(*cli_endpoint).empty()) {
    base = std::string(zt::text::trim(*cli_endpoint));
    full.reset();
  }
  const std::string chosen = full ? *full : base.value_or("");

  if (auto p = get("protocol")) {
    const auto v = lower(*p);
    if (v == "grpc") o.protocol = Protocol::Grpc;
    else if (v == "http/protobuf") o.protocol = Protocol::HttpProtobuf;
    else if (v == "http/json") o.protocol = Protocol::HttpJson;
    else return make_error("protocol: expected grpc, http/protobuf or http/json, got \"" + *p + "\"");
  } else if (!chosen.empty() && has_port(split_url(chosen).authority, "4317")) {
    o.protocol = Protocol::Grpc;  // 4317 is OTLP/gRPC's registered port; nothing else speaks HTTP there
  }

  bool insecure = false;
  if (auto v = get("insecure")) {
    const auto l = lower(*v);
    if (l == "true" || l == "1") insecure = true;
    else if (l == "false" || l == "0") insecure = false;
    else return make_error("insecure: expected true or false, got \"" + *v + "\"");
  }
  o.tls.insecure = insecure;
  if (auto v = get("certificate")) o.tls.ca_file = *v;
  if (auto v = get("client_certificate")) o.tls.client_certificate = *v;
  if (auto v = get("client_key")) o.tls.client_key = *v;
  if (o.tls.client_certificate.empty() != o.tls.client_key.empty()) {
    return make_error("client_certificate and client_key: set both or neither");
  }

  const std::string endpoint_text =
      chosen.empty() ? (o.protocol == Protocol::Grpc ? "http://localhost:4317" : "http://localhost:4318") : chosen;
  Url url = split_url(endpoint_text);
  if (url.authority.empty()) return make_error("endpoint: no host in \"" + endpoint_text + "\"");
  if (!url.scheme.empty() && url.scheme != "http" && url.scheme != "https") {
    return make_error("endpoint: expected an http:// or https:// URL, got \"" + endpoint_text + "\"");
  }
  if (o.protocol == Protocol::Grpc) {
    o.endpoint = url.authority;
    if (url.scheme == "https") o.use_tls = true;
    else if (url.scheme == "http") o.use_tls = false;
    else o.use_tls = !insecure;
  } else {
    const std::string scheme = url.scheme.empty() ? "http" : url.scheme;
    std::string path = url.path;
    const bool from_cli = cli_endpoint && !zt::text::trim(*cli_endpoint).empty();
    if (full || (from_cli && path.size() > 1)) {
      // A traces-specific URL, or a command-line URL with a path: used as is.
    } else if (path.empty() || path == "/") {
      path = "/v1/traces";
    } else {
      // A base URL with a path prefix (OTEL_EXPORTER_OTLP_ENDPOINT): the signal path is appended.
      path += path.back() == '/' ? "v1/traces" : "/v1/traces";
    }
    o.endpoint = scheme + "://" + url.authority + path;
    o.use_tls = scheme == "https";
  }

  if (auto h = get("headers")) {
    auto parsed = parse_headers(*h);
    if (!parsed) return parsed.error();
    o.headers = std::move(parsed).value();
  }
  if (auto c = get("compression")) {
    const auto l = lower(*c);
    if (l == "gzip") o.gzip = true;
    else if (l == "none" || l.empty()) o.gzip = false;
    else return make_error("compression: expected gzip or none, got \"" + *c + "\"");
  }
  auto timeout = parse_ms(s, "timeout", "timeout", o.timeout, false);
  if (!timeout) return timeout.error();
  o.timeout = *timeout;
  o.batch.request_timeout = o.timeout;

  auto queue = parse_count(s, "bsp.max_queue_size", "OTEL_BSP_MAX_QUEUE_SIZE", o.batch.max_queue_size);
  if (!queue) return queue.error();
  o.batch.max_queue_size = *queue;
  auto batch = parse_count(s, "bsp.max_export_batch_size", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", o.batch.max_export_batch_size);
  if (!batch) return batch.error();
  o.batch.max_export_batch_size = *batch;
  auto delay = parse_ms(s, "bsp.schedule_delay", "OTEL_BSP_SCHEDULE_DELAY", o.batch.schedule_delay, true);
  if (!delay) return delay.error();
  o.batch.schedule_delay = *delay;
  auto export_timeout = parse_ms(s, "bsp.export_timeout", "OTEL_BSP_EXPORT_TIMEOUT", o.batch.export_timeout, false);
  if (!export_timeout) return export_timeout.error();
  o.batch.export_timeout = *export_timeout;
  if (auto r = validate(o.batch); !r) return r.error();
  return o;
}

}  // namespace zt::exporters::otlp
