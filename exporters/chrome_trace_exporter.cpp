#include "exporters/chrome_trace_exporter.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include "exporters/json_writer.h"

// Why the JSON Array Format (`[event, ...]`) and not the JSON Object Format
// (`{"traceEvents":[...], "displayTimeUnit":..., "otherData":...}`): an agent killed with SIGKILL
// (or out of memory, or on a node that lost power) never writes its closing brackets. A JSON array
// that lacks its `]` is part of the format's definition, so that tracers which cannot finish
// cleanly still leave a trace: chrome://tracing appends the `]`, Perfetto accepts the array as it
// is. Perfetto rejects an object format file that lacks its `]}` ("JSON trace file is
// incomplete"), and chrome://tracing cannot parse it. The object format's extras are not needed:
// `displayTimeUnit` only changes how chrome://tracing prints durations, and what `otherData` would
// hold is in the events (process names, `start_time_unix_nano` in every span's args).

namespace zt::exporters {
namespace {

std::uint64_t span_id_key(const trace::SpanId& id) {
  std::uint64_t key = 0;
  for (const std::uint8_t byte : id) key = key << 8 | byte;
  return key;
}

void append_u64(std::string& out, std::uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

// Nanoseconds as microseconds with three decimals, the unit of `ts` and `dur`, exactly.
void append_micros(std::string& out, std::uint64_t magnitude_ns, bool negative) {
  if (negative) out.push_back('-');
  append_u64(out, magnitude_ns / 1000);
  const auto fraction = static_cast<unsigned>(magnitude_ns % 1000);
  const char digits[] = {'.', static_cast<char>('0' + fraction / 100), static_cast<char>('0' + fraction / 10 % 10),
                         static_cast<char>('0' + fraction % 10)};
  out.append(digits, sizeof digits);
}

void append_span_hex(std::string& out, std::uint64_t id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kDigits[(id >> shift) & 0xf]);
}

const char* category_of(trace::SpanKind kind) {
  switch (kind) {
    case trace::SpanKind::Internal: return "internal";
    case trace::SpanKind::Server: return "server";
    case trace::SpanKind::Client: return "client";
    case trace::SpanKind::Producer: return "producer";
    case trace::SpanKind::Consumer: return "consumer";
  }
  return "unspecified";
}

}  // namespace

ChromeTraceEncoder::ChromeTraceEncoder(std::uint64_t time_base_unix_ns) : time_base_ns_(time_base_unix_ns) {}

void ChromeTraceEncoder::append(std::string& out, const trace::Span& span) {
  const std::uint32_t pid = span.resource ? span.resource->pid : 0;
  const std::uint32_t tid = span.tid != 0 ? span.tid : pid;
  const Interval time{span.start_unix_ns, std::max(span.start_unix_ns, span.end_unix_ns)};
  if (span.resource) append_process_name(out, span, pid);
  const Placement where{pid, place_on_lane(out, pid, tid, time), time};
  append_complete_event(out, span, where);

  // Arrows from parent to child and from a linked span to the span linking it: either end may be
  // written first (a parent usually ends, and so arrives, last), so whichever comes second draws it.
  const std::uint64_t id = span_id_key(span.span_id);
  placed_spans_[id] = where;
  if (!span.is_root()) draw_or_wait(out, Arrow::Parent, span_id_key(span.parent_span_id), id, where);
  for (const auto& link : span.links) {
    const std::uint64_t linked_id = span_id_key(link.span_id);
    if (linked_id != id) draw_or_wait(out, Arrow::Link, linked_id, id, where);
  }
  if (const auto* waiting = arrows_waiting_.find(id)) {
    for (const auto& arrow : *waiting) append_arrow(out, arrow.kind, where, arrow.placement, arrow.span_id);
    arrows_waiting_.erase(id);
  }
}

void ChromeTraceEncoder::draw_or_wait(std::string& out, Arrow kind, std::uint64_t from_id, std::uint64_t to_id,
                                      const Placement& to) {
  if (const Placement* from = placed_spans_.find(from_id)) {
    append_arrow(out, kind, *from, to, to_id);
  } else if (auto& waiting = arrows_waiting_[from_id]; waiting.size() < kMaxArrowsWaitingPerSpan) {
    waiting.push_back({to_id, to, kind});
  }
}

void ChromeTraceEncoder::forget_process_names() {
  process_names_ = TwoGenerationMap<std::uint32_t, std::string>(kMaxNamedProcesses);
}

void ChromeTraceEncoder::begin_event(std::string& out) { out.append(",\n"); }

void ChromeTraceEncoder::append_process_name(std::string& out, const trace::Span& span, std::uint32_t pid) {
  std::string_view service = service_name_of(span.resource.get());
  if (service.empty()) service = "unknown_service";
  // Once per pid, and again when another service has the pid (an exec, a reused pid).
  std::string& named = process_names_[pid];
  if (named == service) return;
  named = service;
  begin_event(out);
  out.append(R"({"ph":"M","pid":)");
  append_u64(out, pid);
  out.append(R"(,"name":"process_name","args":{"name":)");
  append_json_string(out, std::string(service) + " (pid " + std::to_string(pid) + ")");
  out.append("}}");
}

std::uint32_t ChromeTraceEncoder::place_on_lane(std::string& out, std::uint32_t pid, std::uint32_t tid, Interval time) {
  // Two spans can share a track when one holds the other or they do not overlap at all.
  const auto fits = [&](const Lane& lane) {
    return std::all_of(lane.begin(), lane.end(), [&](const Interval& other) {
      const bool apart = time.end_ns <= other.start_ns || other.end_ns <= time.start_ns;
      const bool inside = other.start_ns <= time.start_ns && time.end_ns <= other.end_ns;
      const bool around = time.start_ns <= other.start_ns && other.end_ns <= time.end_ns;
      return apart || inside || around;
    });
  };
  auto& lanes = lanes_by_thread_[std::uint64_t{pid} << 32 | tid];
  std::size_t lane = 0;
  while (lane < lanes.size() && !fits(lanes[lane])) ++lane;
  const auto lane_tid = [&](std::size_t n) { return tid + static_cast<std::uint32_t>(n) * kLaneTidStride; };
  if (lane == lanes.size()) {
    if (lanes.size() == kMaxLanesPerThread) {
      lane = lanes.size() - 1;
    } else {
      lanes.emplace_back();
      if (lane > 0) {
        begin_event(out);
        out.append(R"({"ph":"M","pid":)");
        append_u64(out, pid);
        out.append(R"(,"tid":)");
        append_u64(out, lane_tid(lane));
        out.append(R"(,"name":"thread_name","args":{"name":"thread )");
        append_u64(out, tid);
        out.append(", lane ");
        append_u64(out, lane);
        out.append("\"}}");
      }
    }
  }
  auto& recent = lanes[lane];
  if (recent.size() == kRecentSpansPerLane) recent.erase(recent.begin());
  recent.push_back(time);
  return lane_tid(lane);
}

void ChromeTraceEncoder::append_complete_event(std::string& out, const trace::Span& span, const Placement& where) {
  // `ts` comes first: older Perfetto versions read the keys before it with a parser that knows no
  // \u escapes, and the name may need them.
  begin_event(out);
  out.append(R"({"ph":"X","ts":)");
  append_ts(out, where.time.start_ns);
  out.append(R"(,"dur":)");
  append_micros(out, where.time.end_ns - where.time.start_ns, false);
  out.append(R"(,"pid":)");
  append_u64(out, where.pid);
  out.append(R"(,"tid":)");
  append_u64(out, where.tid);
  out.append(R"(,"cat":")").append(category_of(span.kind));
  out.append(R"(","name":)");
  append_json_string(out, span.name);
  out.append(R"(,"args":{"trace_id":")").append(trace::to_hex(span.trace_id));
  out.append(R"(","span_id":")").append(trace::to_hex(span.span_id));
  out.append(R"(","parent_span_id":")");
  if (!span.is_root()) out.append(trace::to_hex(span.parent_span_id));
  out.append(R"(","status":")").append(trace::to_string(span.status)).append("\"");
  if (!span.status_message.empty()) {
    out.append(R"(,"status_message":)");
    append_json_string(out, span.status_message);
  }
  out.append(R"(,"start_time_unix_nano":)");
  append_u64(out, span.start_unix_ns);
  if (!span.links.empty()) {
    out.append(R"(,"links":[)");
    for (std::size_t i = 0; i < span.links.size(); ++i) {
      if (i > 0) out.push_back(',');
      out.push_back('"');
      out.append(trace::to_hex(span.links[i].trace_id)).append("/").append(trace::to_hex(span.links[i].span_id));
      out.push_back('"');
    }
    out.push_back(']');
  }
  if (span.dropped_links != 0) {
    out.append(R"(,"dropped_links_count":)");
    append_u64(out, span.dropped_links);
  }
  for (const auto& attribute : span.attributes) {
    out.push_back(',');
    append_json_string(out, attribute.key);
    out.push_back(':');
    append_json_value(out, attribute.value);
  }
  out.append("}}");
}

void ChromeTraceEncoder::append_arrow(std::string& out, Arrow kind, const Placement& from, const Placement& to,
                                      std::uint64_t to_id) {
  const bool same_track = from.pid == to.pid && from.tid == to.tid;
  const bool nested = from.time.start_ns <= to.time.start_ns && to.time.end_ns <= from.time.end_ns;
  // A child drawn inside its parent needs no arrow; a link is not shown by nesting.
  if (kind == Arrow::Parent && same_track && nested) return;
  // Each end binds to the innermost slice around its timestamp, so both are put inside their span,
  // away from its edges (a timestamp on an edge could bind to a neighbour): the arrow leaves its
  // source where its target starts, and enters the target just after its start.
  const auto point_inside = [](Interval slice, std::uint64_t hint) {
    const std::uint64_t margin = std::min<std::uint64_t>((slice.end_ns - slice.start_ns) / 2, 1000);
    return std::clamp(hint, slice.start_ns + margin, slice.end_ns - margin);
  };
  // A child has one parent, so its span id is unique per parent arrow; link arrows are numbered.
  const std::uint64_t flow_id = kind == Arrow::Parent ? to_id : ++link_arrows_;
  append_flow_event(out, 's', kind, from, point_inside(from.time, to.time.start_ns), flow_id);
  append_flow_event(out, 'f', kind, to, point_inside(to.time, to.time.start_ns), flow_id);
}

void ChromeTraceEncoder::append_flow_event(std::string& out, char phase, Arrow kind, const Placement& where,
                                           std::uint64_t ts_ns, std::uint64_t flow_id) {
  // Start and end pair up by id, category and name: the two kinds of arrow differ in all three.
  begin_event(out);
  out.append(R"({"ph":")").push_back(phase);
  out.append(R"(","ts":)");
  append_ts(out, ts_ns);
  out.append(R"(,"pid":)");
  append_u64(out, where.pid);
  out.append(R"(,"tid":)");
  append_u64(out, where.tid);
  out.append(kind == Arrow::Parent ? R"(,"cat":"zerotrace","name":"parent span","id":")"
                                    : R"(,"cat":"zerotrace.link","name":"link","id":")");
  append_span_hex(out, flow_id);
  out.push_back('"');
  if (phase == 'f') out.append(R"(,"bp":"e")");  // bind to the enclosing slice, not the next one
  out.push_back('}');
}

void ChromeTraceEncoder::append_ts(std::string& out, std::uint64_t unix_ns) const {
  if (unix_ns >= time_base_ns_) {
    append_micros(out, unix_ns - time_base_ns_, false);
  } else {
    append_micros(out, time_base_ns_ - unix_ns, true);
  }
}

Result<std::unique_ptr<ChromeTraceExporter>> ChromeTraceExporter::open(const std::string& path) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const std::uint64_t time_base_ns = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000ull;
  if (path == "-") return std::make_unique<ChromeTraceExporter>(STDOUT_FILENO, false, time_base_ns);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return make_error("chrome: cannot open " + path + ": " + std::strerror(errno));
  return std::make_unique<ChromeTraceExporter>(fd, true, time_base_ns);
}

ChromeTraceExporter::ChromeTraceExporter(int fd, bool owns_fd, std::uint64_t time_base_unix_ns)
    : encoder_(time_base_unix_ns), fd_(fd), owns_fd_(owns_fd) {
  const std::lock_guard lock(mutex_);
  const off_t offset = ::lseek(fd_, 0, SEEK_CUR);
  bytes_committed_ = offset > 0 ? static_cast<std::uint64_t>(offset) : 0;
  write_or_undo(ChromeTraceEncoder::kHeader);
}

ChromeTraceExporter::~ChromeTraceExporter() { shutdown(); }

void ChromeTraceExporter::export_spans(const std::vector<trace::Span>& spans) {
  if (spans.empty()) return;
  batch_.clear();
  for (const auto& span : spans) encoder_.append(batch_, span);
  const std::lock_guard lock(mutex_);
  if (fd_ < 0) return;
  std::string_view text = batch_;
  if (!wrote_event_) text.remove_prefix(1);  // no comma between `[` and the first event
  if (!write_or_undo(text)) {
    encoder_.forget_process_names();  // the names went down with the batch: write them again
    return;
  }
  wrote_event_ = true;
  spans_written_ += spans.size();
}

void ChromeTraceExporter::shutdown() {
  const std::lock_guard lock(mutex_);
  if (fd_ < 0) return;
  write_or_undo(ChromeTraceEncoder::kFooter);
  if (owns_fd_ && ::close(fd_) != 0) record_write_error(errno);
  fd_ = -1;
}

std::uint64_t ChromeTraceExporter::spans_written() const {
  const std::lock_guard lock(mutex_);
  return spans_written_;
}

std::uint64_t ChromeTraceExporter::write_errors() const {
  const std::lock_guard lock(mutex_);
  return write_errors_;
}

bool ChromeTraceExporter::write_or_undo(std::string_view text) {
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      record_write_error(n < 0 ? errno : EIO);
      // Half an event would make the rest of the file unreadable: cut it off. Pipes cannot be cut.
      struct stat st {};
      if (rest.size() != text.size() && ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) {
        const auto committed = static_cast<off_t>(bytes_committed_);
        if (::ftruncate(fd_, committed) != 0 || ::lseek(fd_, committed, SEEK_SET) < 0) {
          spdlog::debug("chrome exporter: cannot cut the file back after a failed write: {}", std::strerror(errno));
        }
      }
      return false;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  bytes_committed_ += text.size();
  return true;
}

void ChromeTraceExporter::record_write_error(int error_number) {
  if (write_errors_++ == 0) {
    spdlog::error(
        "chrome exporter: writing spans failed: {}; spans are dropped until writes succeed again, "
        "further errors are counted, not logged",
        std::strerror(error_number));
  }
}

}  // namespace zt::exporters
