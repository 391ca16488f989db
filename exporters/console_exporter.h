// Console exporter: one readable tree per trace, printed once the trace has gone quiet.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "exporters/exporter.h"
#include "trace/span.h"

namespace zt::exporters {

// How one trace is drawn; see docs/span-schema.md for an example.
struct TreeStyle {
  bool color = false;           // ANSI escape sequences
  bool show_attributes = true;  // an indented `key=value` line under each span
};

// Renders the spans of one trace as a header line and a tree: children under their parent ordered
// by start time, spans whose parent is absent ("orphans") under the earliest root with a marker.
// Text from captured traffic is made terminal-safe (invalid UTF-8 and control characters escaped).
std::string render_trace_tree(const std::vector<trace::Span>& spans, const TreeStyle& style);

// "850ns", "12.3us", "1.25ms", "3.00s": three significant digits, the largest unit below 1000.
std::string format_duration(std::uint64_t ns);

// Reads a monotonic clock in nanoseconds.
using MonotonicClock = std::function<std::uint64_t()>;

struct ConsoleTiming {
  MonotonicClock clock;            // empty: CLOCK_MONOTONIC; tests inject one to control expiry
  bool background_printer = true;  // false: the owner calls print_expired() itself (tests)
};

class ConsoleExporter final : public SpanExporter {
 public:
  // Writes to `out`, which must outlive the exporter.
  ConsoleExporter(std::ostream& out, const ExporterOptions& opts, ConsoleTiming timing = {});
  // Writes to a stream it owns (console=FILE); `owned_out` must not be null.
  ConsoleExporter(std::unique_ptr<std::ostream> owned_out, const ExporterOptions& opts, ConsoleTiming timing = {});
  ~ConsoleExporter() override;
  ConsoleExporter(const ConsoleExporter&) = delete;
  ConsoleExporter& operator=(const ConsoleExporter&) = delete;

  void export_spans(const std::vector<trace::Span>& spans) override;
  void flush() override;
  void shutdown() override;
  std::string_view name() const override { return "console"; }

  // Prints the traces that have been quiet for console_hold_ms. The background printer calls it.
  void print_expired();
  std::size_t pending_trace_count() const;

 private:
  struct PendingTrace {
    trace::TraceId trace_id{};
    std::vector<trace::Span> spans;
    std::uint64_t last_arrival_ns = 0;
  };
  struct TraceIdHash {
    std::size_t operator()(const trace::TraceId& id) const;
  };
  using PendingList = std::list<PendingTrace>;

  ConsoleExporter(std::unique_ptr<std::ostream>&& owned_out, std::ostream& out, const ExporterOptions& opts,
                  ConsoleTiming timing);
  std::uint64_t now_ns() const;
  // The four below expect state_mutex_ held; each appends traces ready to print to `ready`.
  void hold_span(const trace::Span& span, std::uint64_t now, std::vector<PendingTrace>& ready);
  void take_expired(std::uint64_t now, std::vector<PendingTrace>& ready);
  void take_all(std::vector<PendingTrace>& ready);
  void take(PendingList::iterator it, std::vector<PendingTrace>& ready);
  void print(const std::vector<PendingTrace>& ready);
  void run_background_printer(const std::stop_token& stop);
  void stop_background_printer();

  std::unique_ptr<std::ostream> owned_out_;
  std::ostream& out_;
  const ExporterOptions opts_;
  const TreeStyle style_;
  const MonotonicClock clock_;

  mutable std::mutex state_mutex_;
  PendingList by_last_arrival_;  // front: the trace quiet for longest
  std::unordered_map<trace::TraceId, PendingList::iterator, TraceIdHash> pending_by_id_;
  bool shut_down_ = false;

  std::mutex output_mutex_;  // keeps each tree contiguous when two threads print
  bool reported_write_error_ = false;

  std::mutex wake_mutex_;
  std::condition_variable_any wake_;  // lets shutdown interrupt the printer's sleep
  std::jthread background_printer_;
};

}  // namespace zt::exporters
