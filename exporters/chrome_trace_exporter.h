// Chrome trace exporter: spans as a Trace Event Format file for Perfetto UI and chrome://tracing.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "exporters/exporter.h"
#include "trace/span.h"

namespace zt::exporters {

// A map that forgets what has not been used for long: entries live in a newer and an older
// generation; when the newer one is full it becomes the older one and the older one is dropped.
// The `capacity` most recently used keys are always kept, and at most 2 * capacity are held.
template <typename Key, typename Value>
class TwoGenerationMap {
 public:
  explicit TwoGenerationMap(std::size_t capacity) : capacity_(capacity) {}
  Value* find(const Key& key) {
    if (auto it = newer_.find(key); it != newer_.end()) return &it->second;
    if (auto it = older_.find(key); it != older_.end()) return &it->second;
    return nullptr;
  }
  // The entry for `key`, moved to the newer generation, created empty if absent. The reference is
  // valid until the next call that changes the map.
  Value& operator[](const Key& key) {
    if (auto it = newer_.find(key); it != newer_.end()) return it->second;
    Value value{};
    if (auto it = older_.find(key); it != older_.end()) {
      value = std::move(it->second);
      older_.erase(it);
    }
    if (newer_.size() >= capacity_) {
      older_ = std::move(newer_);
      newer_.clear();
    }
    return newer_.emplace(key, std::move(value)).first->second;
  }
  void erase(const Key& key) {
    newer_.erase(key);
    older_.erase(key);
  }
  std::size_t size() const { return newer_.size() + older_.size(); }

 private:
  std::size_t capacity_;
  std::unordered_map<Key, Value> newer_;
  std::unordered_map<Key, Value> older_;
};

// Turns spans into trace events of the JSON Array Format: `[` then one event per line. Each span
// is a complete event ("ph":"X") on its process and thread, with metadata events naming
// processes, and flow events ("s"/"f") drawing an arrow from a parent to a child span on another
// thread or process, and from a linked span to the span that links to it. State that outlives a
// span is bounded (see the constants).
class ChromeTraceEncoder {
 public:
  // Timestamp 0 of the trace. Viewers show times relative to the first event anyway, and small
  // numbers keep nanoseconds exact: microseconds since 1970 in a double (as viewers parse `ts`)
  // are rounded to 0.25 us.
  explicit ChromeTraceEncoder(std::uint64_t time_base_unix_ns);

  // The file is `kHeader`, what the append calls wrote less its first character, `kFooter`.
  static constexpr std::string_view kHeader = "[";
  static constexpr std::string_view kFooter = "\n]\n";

  // Appends the events of one span, each as ",\n{...}": one event per line, and the comma that
  // the writer leaves out before the first event of a file.
  void append(std::string& out, const trace::Span& span);
  // Names processes again in later events (the events that named them were lost).
  void forget_process_names();

  // Spans that overlap another span of their thread without nesting in it are drawn on a lane
  // (an extra track next to the thread, named after it): viewers require the slices of one track
  // to nest and drop or cut those that do not. Lane n > 0 of thread T has tid T + n * kLaneTidStride,
  // which no real thread has (Linux pids stay below 2^22).
  static constexpr std::uint32_t kLaneTidStride = 1u << 22;
  static constexpr std::size_t kMaxLanesPerThread = 32;      // a further overlap shares the last lane
  static constexpr std::size_t kRecentSpansPerLane = 16;     // spans a new one is checked against
  static constexpr std::size_t kMaxTrackedThreads = 4096;    // per generation
  static constexpr std::size_t kMaxTrackedSpans = 65536;     // per generation, for arrows
  static constexpr std::size_t kMaxArrowsWaitingPerSpan = 64;  // for a parent or linked span not seen yet
  static constexpr std::size_t kMaxNamedProcesses = 4096;    // per generation; beyond, names repeat

 private:
  struct Interval {
    std::uint64_t start_ns;
    std::uint64_t end_ns;
  };
  // Where a span was drawn.
  struct Placement {
    std::uint32_t pid = 0;
    std::uint32_t tid = 0;  // the lane's tid
    Interval time{};
  };
  enum class Arrow { Parent, Link };
  // An arrow to a placed span from one that has not arrived yet.
  struct WaitingArrow {
    std::uint64_t span_id;  // where the arrow ends: the child, or the span that has the link
    Placement placement;
    Arrow kind;
  };
  using Lane = std::vector<Interval>;

  void begin_event(std::string& out);
  void append_process_name(std::string& out, const trace::Span& span, std::uint32_t pid);
  std::uint32_t place_on_lane(std::string& out, std::uint32_t pid, std::uint32_t tid, Interval time);
  void append_complete_event(std::string& out, const trace::Span& span, const Placement& where);
  // Draws an arrow, or keeps it until the span it leaves from (`from_id`) is placed.
  void draw_or_wait(std::string& out, Arrow kind, std::uint64_t from_id, std::uint64_t to_id, const Placement& to);
  void append_arrow(std::string& out, Arrow kind, const Placement& from, const Placement& to, std::uint64_t to_id);
  void append_flow_event(std::string& out, char phase, Arrow kind, const Placement& where, std::uint64_t ts_ns,
                         std::uint64_t flow_id);
  void append_ts(std::string& out, std::uint64_t unix_ns) const;

  const std::uint64_t time_base_ns_;
  TwoGenerationMap<std::uint32_t, std::string> process_names_{kMaxNamedProcesses};
  TwoGenerationMap<std::uint64_t, std::vector<Lane>> lanes_by_thread_{kMaxTrackedThreads};  // key: pid << 32 | tid
  TwoGenerationMap<std::uint64_t, Placement> placed_spans_{kMaxTrackedSpans};              // key: span id
  TwoGenerationMap<std::uint64_t, std::vector<WaitingArrow>> arrows_waiting_{kMaxTrackedSpans};  // key: from id
  std::uint64_t link_arrows_ = 0;  // numbers link arrows: a span may link to many, so its id is not unique
};

class ChromeTraceExporter final : public SpanExporter {
 public:
  // Creates `path`, or empties it (a JSON document cannot be appended to), and writes the opening
  // bracket; "-" is standard output. Timestamps count from the second the file was opened.
  static Result<std::unique_ptr<ChromeTraceExporter>> open(const std::string& path);
  // Writes to `fd`, which must stay open while the exporter is used; closes it only if `owns_fd`.
  ChromeTraceExporter(int fd, bool owns_fd, std::uint64_t time_base_unix_ns);
  ~ChromeTraceExporter() override;
  ChromeTraceExporter(const ChromeTraceExporter&) = delete;
  ChromeTraceExporter& operator=(const ChromeTraceExporter&) = delete;

  // Writes the batch's events at once, so the file always ends after a whole event.
  void export_spans(const std::vector<trace::Span>& spans) override;
  // Nothing is buffered: every batch is written when it arrives.
  void flush() override {}
  // Writes the closing bracket and closes the file. Without it (the agent was killed) the file
  // still opens: both viewers accept a JSON array that lacks its closing bracket.
  void shutdown() override;
  std::string_view name() const override { return "chrome"; }

  std::uint64_t spans_written() const;
  // Batches that failed to reach the file, e.g. disk full. Only the first is logged.
  std::uint64_t write_errors() const;

 private:
  // Expects mutex_ held. On failure cuts a regular file back to its last whole batch, so that
  // later batches still continue valid JSON.
  bool write_or_undo(std::string_view text);
  void record_write_error(int error_number);

  ChromeTraceEncoder encoder_;  // pipeline thread only
  std::string batch_;           // reused between batches; pipeline thread only

  mutable std::mutex mutex_;  // export_spans runs on the pipeline thread, shutdown on another
  int fd_;
  bool owns_fd_;
  std::uint64_t bytes_committed_ = 0;  // file size after the last whole write
  bool wrote_event_ = false;
  std::uint64_t spans_written_ = 0;
  std::uint64_t write_errors_ = 0;
};

}  // namespace zt::exporters
