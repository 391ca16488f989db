// Self-telemetry of an exporter: what reached the backend and what did not. Shown by the CLI on
// exit and in the periodic stats line; kept as plain counters for the metrics work that follows.
#pragma once

#include <cstdint>
#include <string>

namespace zt::exporters {

struct ExportStats {
  std::uint64_t spans_exported = 0;      // accepted by the backend (rejected_spans not included)
  std::uint64_t spans_rejected = 0;      // accepted requests whose spans the backend dropped (partial success)
  std::uint64_t spans_failed = 0;        // dropped after a permanent error, or still failing at shutdown
  std::uint64_t spans_dropped = 0;       // refused at the door: the queue was full
  std::uint64_t batches_exported = 0;
  std::uint64_t export_attempts = 0;     // requests sent, retries included
  std::uint64_t retries = 0;
  std::uint64_t export_latency_us_total = 0;  // over successful requests
  std::uint64_t export_latency_us_max = 0;
  std::uint64_t queue_length = 0;        // spans waiting (the batch in flight included), now
  std::uint64_t queue_length_max = 0;    // highest seen
  std::uint64_t queue_capacity = 0;

  std::uint64_t average_latency_us() const {
    return batches_exported ? export_latency_us_total / batches_exported : 0;
  }
};

// "exported 1200 spans in 3 batches (avg 2.1 ms, max 4.0 ms), dropped 0 (queue full), failed 0,
// rejected 0, retries 0, queue 0/2048 (max 512)".
std::string format_stats(const ExportStats& stats);

}  // namespace zt::exporters
