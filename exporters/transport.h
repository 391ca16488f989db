// What a network exporter does with one batch, and how it reports the outcome. The
// BatchSpanProcessor (batch_processor.h) owns queueing, retries and counting; a transport only
// encodes and sends.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "trace/span.h"

namespace zt::exporters {

struct ExportResult {
  enum class Outcome : std::uint8_t {
    Success,    // accepted (possibly partially: see rejected_spans)
    Retryable,  // transient: collector down, overloaded, timed out; send the same batch again
    Failed,     // permanent: the collector refused the data; retrying cannot help
  };
  Outcome outcome = Outcome::Success;
  // The receiver's own wait hint (gRPC RetryInfo, HTTP Retry-After). Overrides the backoff.
  std::optional<std::chrono::milliseconds> retry_after;
  // Partial success: spans the receiver accepted the request but dropped, and its message.
  std::int64_t rejected_spans = 0;
  std::string message;  // why it failed, or the partial-success message

  static ExportResult success() { return {}; }
  static ExportResult retryable(std::string why, std::optional<std::chrono::milliseconds> after = std::nullopt) {
    return {Outcome::Retryable, after, 0, std::move(why)};
  }
  static ExportResult failed(std::string why) { return {Outcome::Failed, std::nullopt, 0, std::move(why)}; }
};

class BatchTransport {
 public:
  virtual ~BatchTransport() = default;
  // Encodes and sends one batch; returns no later than `timeout` after it was called (a network
  // timeout is a Retryable result). Called from the processor's worker thread only.
  virtual ExportResult send(std::span<const trace::Span> spans, std::chrono::milliseconds timeout) = 0;
  // Where the data goes, for logs ("otlp http/protobuf http://collector:4318/v1/traces").
  virtual std::string describe() const = 0;
  virtual std::string_view name() const = 0;
};

}  // namespace zt::exporters
