// Zipkin v2 JSON encoding of spans: the body of `POST /api/v2/spans`. The HTTP transport that
// sends it is separate (the shared HTTP client), so the encoding is a pure function.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "exporters/batch_processor.h"
#include "exporters/exporter.h"
#include "trace/span.h"

namespace zt::exporters {

// The spans as one JSON array of Zipkin v2 spans (zipkin2-api.yaml), following the OpenTelemetry
// to Zipkin mapping:
// - traceId: 32 lowercase hex digits; id: 16; parentId: left out for a root span;
// - name: the span name as it is; kind: SERVER, CLIENT, PRODUCER or CONSUMER, left out for INTERNAL;
// - timestamp: start in whole microseconds since the epoch; duration: whole microseconds, at least 1;
// - localEndpoint: serviceName (the resource's service.name, else "unknown_service"); on a SERVER
//   span also the server's ipv4/ipv6 (server.address, when an IP literal) and port (server.port);
// - remoteEndpoint: SERVER: client.address and client.port; CLIENT and PRODUCER: server.port, the
//   ip of server.address (or of network.peer.address when server.address is a host name) and that
//   host name as serviceName (peer.service when set); CONSUMER: network.peer.address and port;
//   left out when nothing is known;
// - tags: every span attribute as a string (integers in decimal, doubles shortest round-trip,
//   NaN and infinities as "NaN", "Infinity", "-Infinity", booleans "true"/"false"); when a key
//   is repeated the last value wins; otel.scope.name "zerotrace"; otel.status_code "OK" or "ERROR"
//   unless the status is UNSET; error: the status message ("" when none) on an ERROR span only.
// Untrusted text is escaped and invalid UTF-8 replaced, as in every JSON output. Span links are
// left out: Zipkin v2 has no field for them (nor a tag convention worth inventing).
std::string encode_zipkin_v2(const std::vector<trace::Span>& spans);

// Where `zipkin` and `zipkin=URL` send: URL as given (a URL without a path gets /api/v2/spans),
// else OTEL_EXPORTER_ZIPKIN_ENDPOINT, else http://localhost:9411/api/v2/spans.
// OTEL_EXPORTER_ZIPKIN_TIMEOUT (ms, default 10000) bounds each request.
struct ZipkinOptions {
  std::string endpoint = "http://localhost:9411/api/v2/spans";
  std::chrono::milliseconds timeout{10000};
  BatchOptions batch;
};
Result<ZipkinOptions> zipkin_options(const std::optional<std::string>& url, const std::optional<std::string>& env_endpoint,
                                     const std::optional<std::string>& env_timeout);

// The Zipkin HTTP transport (JSON v2 over POST; 2xx accepted, 429/502/503/504 and connection
// failures retried, anything else dropped) behind a batch processor.
std::unique_ptr<SpanExporter> make_zipkin_exporter(const ZipkinOptions& options);

}  // namespace zt::exporters
