// OTLP exporter settings and where they come from: defaults < config file < environment
// (OTEL_EXPORTER_OTLP_*, OTEL_BSP_*) < command line (`-o otlp=ENDPOINT`). Signal-specific
// variables (OTEL_EXPORTER_OTLP_TRACES_*) win over the generic ones. docs/configuration.md.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "exporters/batch_processor.h"
#include "exporters/http_client.h"

namespace zt::exporters::otlp {

enum class Protocol { Grpc, HttpProtobuf, HttpJson };
std::string_view to_string(Protocol protocol);  // "grpc", "http/protobuf", "http/json"

struct OtlpOptions {
  Protocol protocol = Protocol::HttpProtobuf;
  // http/*: the full URL requests go to (".../v1/traces"). grpc: "host:port" for the channel.
  std::string endpoint;
  bool use_tls = false;  // grpc: https:// endpoint, or no scheme and not insecure
  Headers headers;
  bool gzip = false;
  std::chrono::milliseconds timeout{10000};
  TlsOptions tls;
  BatchOptions batch;
};

// One layer of settings as text, keyed like the environment variables without their prefix:
// "endpoint", "traces_endpoint", "protocol", "headers", "compression", "timeout", "certificate",
// "client_key", "client_certificate", "insecure", and "bsp.max_queue_size",
// "bsp.max_export_batch_size", "bsp.schedule_delay", "bsp.export_timeout". Later layers overwrite.
using Settings = std::map<std::string, std::string>;

using Getenv = std::function<std::optional<std::string>(const char*)>;
std::optional<std::string> process_getenv(const char* name);

// The environment's layer: OTEL_EXPORTER_OTLP_X, then OTEL_EXPORTER_OTLP_TRACES_X over it, and OTEL_BSP_*.
// An empty variable counts as unset (as the OpenTelemetry spec asks).
Settings settings_from_environment(const Getenv& getenv = process_getenv);

// Validates and resolves the merged settings. `cli_endpoint` (from `-o otlp=ENDPOINT`) replaces the
// endpoint of every other layer; like OTEL_EXPORTER_OTLP_ENDPOINT it is a base URL to which
// "/v1/traces" is added for http/*, unless it already has a path. Errors name the setting and what
// it accepts.
Result<OtlpOptions> resolve(const Settings& settings, const std::optional<std::string>& cli_endpoint);

// OTEL_EXPORTER_OTLP_HEADERS syntax: "k1=v1,k2=v2", values percent-decoded, keys and values trimmed.
Result<Headers> parse_headers(std::string_view text);

}  // namespace zt::exporters::otlp
