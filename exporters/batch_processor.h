// The OpenTelemetry batch span processor in front of a network transport: a bounded queue, a
// worker thread that sends batches on size or schedule, retries with backoff, and exact counts of
// everything that did not arrive.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "exporters/export_stats.h"
#include "exporters/exporter.h"
#include "exporters/transport.h"

namespace zt::exporters {

// Defaults are the OpenTelemetry SDK's (OTEL_BSP_*) and the OTLP exporter's retry guidance.
struct BatchOptions {
  std::size_t max_queue_size = 2048;        // OTEL_BSP_MAX_QUEUE_SIZE; the batch in flight counts
  std::size_t max_export_batch_size = 512;  // OTEL_BSP_MAX_EXPORT_BATCH_SIZE
  std::chrono::milliseconds schedule_delay{5000};   // OTEL_BSP_SCHEDULE_DELAY
  std::chrono::milliseconds export_timeout{30000};  // OTEL_BSP_EXPORT_TIMEOUT: one request, and shutdown's flush
  std::chrono::milliseconds request_timeout{10000};  // OTEL_EXPORTER_OTLP_TIMEOUT, capped by export_timeout
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{5000};
  double backoff_multiplier = 1.5;
};

// Checks the options against each other (batch <= queue, nonzero sizes and delays).
Result<void> validate(const BatchOptions& options);

// Retry model: a batch that fails with a retryable result stays at the head of the queue and is
// sent again after a backoff (exponential, jittered, capped; the receiver's Retry-After or
// RetryInfo wins) for as long as it takes. Meanwhile new spans queue up to max_queue_size and the
// rest are dropped and counted, so an outage of any length loses exactly the spans that did not
// fit. A permanent failure drops the batch (counted as failed). Shutdown sends what is queued until
// export_timeout runs out; spans still unsent then are counted as failed.
class BatchSpanProcessor final : public SpanExporter {
 public:
  BatchSpanProcessor(std::unique_ptr<BatchTransport> transport, BatchOptions options);
  ~BatchSpanProcessor() override;
  BatchSpanProcessor(const BatchSpanProcessor&) = delete;
  BatchSpanProcessor& operator=(const BatchSpanProcessor&) = delete;

  // Copies the spans into the queue; never blocks on the network.
  void export_spans(const std::vector<trace::Span>& spans) override;
  // Sends everything queued now (waits at most export_timeout).
  void flush() override;
  void shutdown() override;
  std::string_view name() const override { return name_; }
  std::optional<ExportStats> stats() const override;

  const BatchTransport& transport() const { return *transport_; }

 private:
  using Clock = std::chrono::steady_clock;

  void run();
  // Sends one batch until it succeeds, fails for good, or (when stopping) the deadline passes.
  void send_with_retries(std::vector<trace::Span>& batch);
  std::chrono::milliseconds next_backoff(int attempt);
  void log_failure(const ExportResult& result, std::size_t spans, bool final);

  std::unique_ptr<BatchTransport> transport_;
  const BatchOptions options_;
  const std::string name_;

  mutable std::mutex mutex_;
  std::condition_variable wake_worker_;
  std::condition_variable flushed_;
  std::deque<trace::Span> queue_;
  std::size_t in_flight_ = 0;
  std::uint64_t flush_requests_ = 0;  // flush() calls not yet served by the worker
  bool stopping_ = false;
  Clock::time_point stop_deadline_{};
  ExportStats stats_;
  std::uint64_t failures_logged_ = 0;

  std::mt19937_64 rng_;  // worker thread only
  std::thread worker_;
};

}  // namespace zt::exporters
