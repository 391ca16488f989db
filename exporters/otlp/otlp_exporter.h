// OTLP transports (gRPC TraceService/Export, HTTP POST /v1/traces with protobuf or JSON) and the
// factory that puts one behind a BatchSpanProcessor.
#pragma once

#include <memory>

#include "core/result.h"
#include "exporters/exporter.h"
#include "exporters/http_client.h"
#include "exporters/otlp/otlp_options.h"
#include "exporters/transport.h"

namespace zt::exporters::otlp {

// The transport alone (tests drive it directly). Fails when a certificate or key file cannot be read.
Result<std::unique_ptr<BatchTransport>> make_otlp_transport(const OtlpOptions& options);

// The transport behind a batch processor, ready to take spans.
Result<std::unique_ptr<SpanExporter>> make_otlp_exporter(const OtlpOptions& options);

// How an OTLP/HTTP response maps onto a result: 2xx success (with partial success decoded from the
// body), 429/502/503/504 retryable with Retry-After, anything else permanent. Exposed for tests.
ExportResult classify_http_response(const exporters::HttpResponse& response, bool json);

// gRPC status code -> retryable per the OTLP specification. RESOURCE_EXHAUSTED is retryable only
// when the server sent RetryInfo (`has_retry_info`).
bool grpc_code_is_retryable(int code, bool has_retry_info);

}  // namespace zt::exporters::otlp
