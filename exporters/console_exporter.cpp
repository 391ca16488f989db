#include "exporters/console_exporter.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "core/clock.h"

namespace zt::exporters {
namespace {

using trace::Span;

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

namespace ansi {
constexpr std::string_view kReset = "\x1b[0m";
constexpr std::string_view kBold = "\x1b[1m";
constexpr std::string_view kDim = "\x1b[2m";
constexpr std::string_view kRed = "\x1b[31m";
constexpr std::string_view kGreen = "\x1b[32m";
constexpr std::string_view kYellow = "\x1b[33m";
constexpr std::string_view kMagenta = "\x1b[35m";
constexpr std::string_view kCyan = "\x1b[36m";
}  // namespace ansi

// A UTF-8 lead byte (RFC 3629): sequence length, its payload bits, and the smallest code point a
// sequence of that length may encode (anything smaller is an overlong encoding).
struct Utf8Lead {
  std::size_t length;
  unsigned char payload_mask;
  char32_t min_code_point;
};

std::optional<Utf8Lead> utf8_lead(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return Utf8Lead{2, 0x1F, 0x80};
  if (lead >= 0xE0 && lead <= 0xEF) return Utf8Lead{3, 0x0F, 0x800};
  if (lead >= 0xF0 && lead <= 0xF4) return Utf8Lead{4, 0x07, 0x10000};
  return std::nullopt;
}

// Length of the well-formed UTF-8 sequence starting at text[i] (no overlongs, no surrogates,
// nothing above U+10FFFF), or 0 when the byte there does not start one.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i, char32_t& code_point) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  if (byte(i) < 0x80) {
    code_point = byte(i);
    return 1;
  }
  const auto lead = utf8_lead(byte(i));
  if (!lead || i + lead->length > text.size()) return 0;
  code_point = byte(i) & lead->payload_mask;
  for (std::size_t k = 1; k < lead->length; ++k) {
    if ((byte(i + k) & 0xC0u) != 0x80u) return 0;
    code_point = (code_point << 6) | (byte(i + k) & 0x3Fu);
  }
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  if (code_point < lead->min_code_point || code_point > 0x10FFFF || surrogate) return 0;
  return lead->length;
}

bool is_control(char32_t code_point) {
  return code_point < 0x20 || code_point == 0x7F || (code_point >= 0x80 && code_point <= 0x9F);
}

void append_hex_escape(std::string& out, char32_t code_point) {
  char buf[12];
  const int n = code_point < 0x80 ? std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(code_point))
                                  : std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(code_point));
  out.append(buf, static_cast<std::size_t>(n));
}

// Appends text from captured traffic so that a terminal shows it and never interprets it:
// control characters (escape sequences included) become \xNN, invalid UTF-8 bytes become U+FFFD.
void append_terminal_safe(std::string& out, std::string_view text, bool inside_quotes) {
  for (std::size_t i = 0; i < text.size();) {
    char32_t code_point = 0;
    const std::size_t length = utf8_sequence_length(text, i, code_point);
    if (length == 0) {
      out += kReplacementCharacter;
      ++i;
      continue;
    }
    if (code_point == '\n') {
      out += "\\n";
    } else if (code_point == '\t') {
      out += "\\t";
    } else if (code_point == '\r') {
      out += "\\r";
    } else if (is_control(code_point)) {
      append_hex_escape(out, code_point);
    } else if (inside_quotes && (code_point == '"' || code_point == '\\')) {
      out += '\\';
      out += static_cast<char>(code_point);
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
}

std::string terminal_safe(std::string_view text) {
  std::string out;
  append_terminal_safe(out, text, false);
  return out;
}

bool needs_quotes(std::string_view text) {
  if (text.empty()) return true;
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b <= 0x20 || b == 0x7F || c == '"';
  });
}

void append_attribute_value(std::string& out, const trace::AttributeValue& value) {
  if (const auto* text = std::get_if<std::string>(&value)) {
    if (!needs_quotes(*text)) {
      append_terminal_safe(out, *text, false);
      return;
    }
    out += '"';
    append_terminal_safe(out, *text, true);
    out += '"';
  } else if (const auto* integer = std::get_if<std::int64_t>(&value)) {
    out += std::to_string(*integer);
  } else if (const auto* real = std::get_if<double>(&value)) {
    char buf[32];
    const auto result = std::to_chars(buf, buf + sizeof buf, *real);
    out.append(buf, result.ptr);
  } else {
    out += std::get<bool>(value) ? "true" : "false";
  }
}

// Wraps `text` in an ANSI color when the style asks for colors.
class Painter {
 public:
  explicit Painter(bool enabled) : enabled_(enabled) {}
  void append(std::string& out, std::string_view color, std::string_view text) const {
    if (!enabled_) {
      out += text;
      return;
    }
    out += color;
    out += text;
    out += ansi::kReset;
  }

 private:
  bool enabled_;
};

std::string format_utc_timestamp(std::uint64_t unix_ns) {
  const auto seconds = static_cast<std::time_t>(unix_ns / 1'000'000'000u);
  const auto micros = static_cast<unsigned>(unix_ns % 1'000'000'000u / 1000u);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%06uZ", date, micros);
  return out;
}

std::string service_of(const Span& span) {
  if (!span.resource) return "?";
  if (!span.resource->service_name.empty()) return terminal_safe(span.resource->service_name);
  for (const auto& attribute : span.resource->attributes) {
    if (attribute.key == "service.name") {
      if (const auto* name = std::get_if<std::string>(&attribute.value)) return terminal_safe(*name);
    }
  }
  return "?";
}

// Where a span is drawn, and why when it is not under its own parent.
enum class Placement { Root, UnderParent, Orphan, CycleCut };

struct TraceTree {
  std::vector<std::vector<std::size_t>> children;  // per span, indices of spans drawn under it
  std::vector<std::size_t> top_level;              // drawn without a parent
  std::vector<Placement> placement;
};

constexpr std::size_t kNoParent = static_cast<std::size_t>(-1);

// Index of each span's parent among `spans`, or kNoParent for roots and orphans.
std::vector<std::size_t> find_parents(const std::vector<Span>& spans) {
  std::map<trace::SpanId, std::size_t> index_by_span_id;
  for (std::size_t i = 0; i < spans.size(); ++i) index_by_span_id.emplace(spans[i].span_id, i);
  std::vector<std::size_t> parents(spans.size(), kNoParent);
  for (std::size_t i = 0; i < spans.size(); ++i) {
    if (spans[i].is_root()) continue;
    const auto parent = index_by_span_id.find(spans[i].parent_span_id);
    if (parent != index_by_span_id.end() && parent->second != i) parents[i] = parent->second;
  }
  return parents;
}

void mark_subtree(const TraceTree& tree, std::size_t top, std::vector<bool>& reached) {
  std::vector<std::size_t> stack{top};
  while (!stack.empty()) {
    const std::size_t span = stack.back();
    stack.pop_back();
    reached[span] = true;
    stack.insert(stack.end(), tree.children[span].begin(), tree.children[span].end());
  }
}

// Parent links that loop (corrupt or colliding ids) reach no root: cut each loop at one span and
// draw that span as an orphan, so that every span is printed exactly once.
void cut_parent_cycles(TraceTree& tree, const std::vector<std::size_t>& parents,
                       std::vector<std::size_t>& orphan_home) {
  std::vector<bool> reached(parents.size(), false);
  for (const std::size_t top : tree.top_level) mark_subtree(tree, top, reached);
  for (std::size_t i = 0; i < parents.size(); ++i) {
    if (reached[i]) continue;
    auto& siblings = tree.children[parents[i]];
    siblings.erase(std::find(siblings.begin(), siblings.end(), i));
    tree.placement[i] = Placement::CycleCut;
    orphan_home.push_back(i);
    mark_subtree(tree, i, reached);
  }
}

TraceTree build_tree(const std::vector<Span>& spans) {
  const std::vector<std::size_t> parents = find_parents(spans);
  TraceTree tree;
  tree.children.resize(spans.size());
  tree.placement.resize(spans.size(), Placement::Root);
  std::vector<std::size_t> orphans;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    if (spans[i].is_root()) {
      tree.top_level.push_back(i);
    } else if (parents[i] != kNoParent) {
      tree.children[parents[i]].push_back(i);
      tree.placement[i] = Placement::UnderParent;
    } else {
      orphans.push_back(i);
      tree.placement[i] = Placement::Orphan;
    }
  }

  const auto by_start = [&](std::size_t a, std::size_t b) {
    return std::pair(spans[a].start_unix_ns, spans[a].span_id) < std::pair(spans[b].start_unix_ns, spans[b].span_id);
  };
  // Orphans go under the earliest root, the best guess for where they belong; with no root, to the top.
  const auto earliest_root = std::min_element(tree.top_level.begin(), tree.top_level.end(), by_start);
  auto& orphan_home = earliest_root == tree.top_level.end() ? tree.top_level : tree.children[*earliest_root];
  orphan_home.insert(orphan_home.end(), orphans.begin(), orphans.end());
  cut_parent_cycles(tree, parents, orphan_home);

  for (auto& siblings : tree.children) std::sort(siblings.begin(), siblings.end(), by_start);
  std::sort(tree.top_level.begin(), tree.top_level.end(), by_start);
  return tree;
}

void append_summary_line(std::string& out, const Span& span, Placement placement, const Painter& paint) {
  paint.append(out, ansi::kCyan, trace::to_string(span.kind));
  out += ' ';
  paint.append(out, ansi::kBold, terminal_safe(span.name));
  out += "  ";
  const std::uint64_t duration = span.end_unix_ns > span.start_unix_ns ? span.end_unix_ns - span.start_unix_ns : 0;
  paint.append(out, ansi::kYellow, format_duration(duration));
  out += "  ";
  switch (span.status) {
    case trace::StatusCode::Ok: paint.append(out, ansi::kGreen, "OK"); break;
    case trace::StatusCode::Error: paint.append(out, ansi::kRed, "ERROR"); break;
    case trace::StatusCode::Unset: paint.append(out, ansi::kDim, "UNSET"); break;
  }
  if (!span.status_message.empty()) {
    out += " \"";
    append_terminal_safe(out, span.status_message, true);
    out += '"';
  }
  out += "  ";
  out += service_of(span);
  out += " (pid ";
  out += span.resource ? std::to_string(span.resource->pid) : "?";
  out += ')';
  if (placement == Placement::Orphan) {
    out += "  ";
    paint.append(out, ansi::kMagenta, "[orphan: parent " + trace::to_hex(span.parent_span_id) + " not seen]");
  } else if (placement == Placement::CycleCut) {
    out += "  ";
    paint.append(out, ansi::kMagenta,
                 "[orphan: parent " + trace::to_hex(span.parent_span_id) + " is its own descendant]");
  }
  out += '\n';
}

// Every attribute as `key=value`, sorted by key, separated by spaces.
std::string format_attributes(const std::vector<trace::Attribute>& attributes) {
  std::vector<const trace::Attribute*> sorted;
  sorted.reserve(attributes.size());
  for (const auto& attribute : attributes) sorted.push_back(&attribute);
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->key < b->key; });
  std::string line;
  for (const auto* attribute : sorted) {
    if (!line.empty()) line += ' ';
    append_terminal_safe(line, attribute->key, false);
    line += '=';
    append_attribute_value(line, attribute->value);
  }
  return line;
}

void append_attribute_line(std::string& out, const Span& span, const Painter& paint) {
  if (span.attributes.empty()) return;
  paint.append(out, ansi::kDim, format_attributes(span.attributes));
  out += '\n';
}

// One `↳ link` line per link below the span. A link into the printed trace names the span by id
// (and kind and name when it is among the printed spans); a link into another trace gives both ids,
// the form to search for in the other trace's tree.
void append_link_lines(std::string& out, std::string_view prefix, const Span& span, const std::vector<Span>& spans,
                       const std::map<trace::SpanId, std::size_t>& index_by_span_id, const TreeStyle& style,
                       const Painter& paint) {
  for (const auto& link : span.links) {
    out += prefix;
    std::string target = "↳ link ";
    if (link.trace_id == span.trace_id) {
      target += trace::to_hex(link.span_id);
      const auto linked = index_by_span_id.find(link.span_id);
      if (linked == index_by_span_id.end()) {
        target += " (this trace)";
      } else {
        target += " (this trace: ";
        target += trace::to_string(spans[linked->second].kind);
        target += ' ';
        target += terminal_safe(spans[linked->second].name);
        target += ')';
      }
    } else {
      target += trace::to_hex(link.trace_id) + "/" + trace::to_hex(link.span_id);
    }
    paint.append(out, ansi::kCyan, target);
    if (style.show_attributes && !link.attributes.empty()) {
      out += "  ";
      paint.append(out, ansi::kDim, format_attributes(link.attributes));
    }
    out += '\n';
  }
  if (span.dropped_links != 0) {
    out += prefix;
    paint.append(out, ansi::kCyan,
                 "↳ " + std::to_string(span.dropped_links) + (span.dropped_links == 1 ? " link" : " links") + " dropped");
    out += '\n';
  }
}

void append_header(std::string& out, const std::vector<Span>& spans, const Painter& paint) {
  std::uint64_t start = spans.front().start_unix_ns;
  for (const auto& span : spans) start = std::min(start, span.start_unix_ns);
  std::string header = "trace " + trace::to_hex(spans.front().trace_id) + "  " + format_utc_timestamp(start) + "  " +
                       std::to_string(spans.size()) + (spans.size() == 1 ? " span" : " spans");
  paint.append(out, ansi::kBold, header);
  out += '\n';
}

// Draws the tree depth-first without recursion, so a long parent chain cannot exhaust the stack.
void append_tree(std::string& out, const std::vector<Span>& spans, const TraceTree& tree, const TreeStyle& style) {
  const Painter paint(style.color);
  struct Pending {
    std::size_t span;
    std::string own_prefix;      // drawn before the span's summary line
    std::string subtree_prefix;  // drawn before everything beneath it
  };
  std::map<trace::SpanId, std::size_t> index_by_span_id;  // for links within the trace
  for (std::size_t i = 0; i < spans.size(); ++i) {
    if (!spans[i].links.empty()) {
      for (std::size_t k = 0; k < spans.size(); ++k) index_by_span_id.emplace(spans[k].span_id, k);
      break;
    }
  }
  std::vector<Pending> stack;
  for (auto it = tree.top_level.rbegin(); it != tree.top_level.rend(); ++it) stack.push_back({*it, "", ""});
  while (!stack.empty()) {
    Pending current = std::move(stack.back());
    stack.pop_back();
    const auto& children = tree.children[current.span];
    const Span& span = spans[current.span];
    out += current.own_prefix;
    append_summary_line(out, span, tree.placement[current.span], paint);
    const std::string detail_prefix = current.subtree_prefix + (children.empty() ? "   " : "│  ");
    if (style.show_attributes && !span.attributes.empty()) {
      out += detail_prefix;
      append_attribute_line(out, span, paint);
    }
    append_link_lines(out, detail_prefix, span, spans, index_by_span_id, style, paint);
    for (std::size_t k = children.size(); k-- > 0;) {
      const bool last = k + 1 == children.size();
      stack.push_back({children[k], current.subtree_prefix + (last ? "└── " : "├── "),
                       current.subtree_prefix + (last ? "    " : "│   ")});
    }
  }
}

}  // namespace

std::string format_duration(std::uint64_t ns) {
  if (ns < 1000) return std::to_string(ns) + "ns";
  struct Unit {
    double scale;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {{1e3, "us"}, {1e6, "ms"}, {1e9, "s"}};
  for (std::size_t i = 0; i < std::size(kUnits); ++i) {
    const double value = static_cast<double>(ns) / kUnits[i].scale;
    const bool largest_unit = i + 1 == std::size(kUnits);
    if (!largest_unit && value >= 999.5) continue;  // would print as "1000": use the next unit
    const int decimals = value < 9.995 ? 2 : value < 99.95 ? 1 : 0;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f%s", decimals, value, kUnits[i].suffix);
    return buf;
  }
  return {};
}

std::string render_trace_tree(const std::vector<trace::Span>& spans, const TreeStyle& style) {
  if (spans.empty()) return {};
  std::string out;
  append_header(out, spans, Painter(style.color));
  append_tree(out, spans, build_tree(spans), style);
  return out;
}

std::size_t ConsoleExporter::TraceIdHash::operator()(const trace::TraceId& id) const {
  // Trace ids are random: any eight of their bytes already make a good hash.
  std::size_t hash = 0;
  for (std::size_t i = 0; i < sizeof hash; ++i) hash = (hash << 8) | id[i];
  return hash;
}

ConsoleExporter::ConsoleExporter(std::ostream& out, const ExporterOptions& opts, ConsoleTiming timing)
    : ConsoleExporter(nullptr, out, opts, std::move(timing)) {}

ConsoleExporter::ConsoleExporter(std::unique_ptr<std::ostream> owned_out, const ExporterOptions& opts,
                                 ConsoleTiming timing)
    : ConsoleExporter(std::move(owned_out), *owned_out, opts, std::move(timing)) {}

ConsoleExporter::ConsoleExporter(std::unique_ptr<std::ostream>&& owned_out, std::ostream& out,
                                 const ExporterOptions& opts, ConsoleTiming timing)
    : owned_out_(std::move(owned_out)),
      out_(out),
      opts_(opts),
      style_{opts.color, opts.console_show_attributes},
      clock_(timing.clock ? std::move(timing.clock) : MonotonicClock(monotonic_now_ns)) {
  if (timing.background_printer) {
    background_printer_ = std::jthread([this](const std::stop_token& stop) { run_background_printer(stop); });
  }
}

ConsoleExporter::~ConsoleExporter() { shutdown(); }

std::uint64_t ConsoleExporter::now_ns() const { return clock_(); }

void ConsoleExporter::export_spans(const std::vector<trace::Span>& spans) {
  std::vector<PendingTrace> ready;
  {
    const std::lock_guard lock(state_mutex_);
    if (shut_down_) return;
    const std::uint64_t now = now_ns();
    for (const auto& span : spans) hold_span(span, now, ready);
  }
  print(ready);
}

void ConsoleExporter::print_expired() {
  std::vector<PendingTrace> ready;
  {
    const std::lock_guard lock(state_mutex_);
    take_expired(now_ns(), ready);
  }
  print(ready);
}

void ConsoleExporter::flush() {
  std::vector<PendingTrace> ready;
  {
    const std::lock_guard lock(state_mutex_);
    take_all(ready);
  }
  print(ready);
}

void ConsoleExporter::shutdown() {
  stop_background_printer();
  std::vector<PendingTrace> ready;
  {
    const std::lock_guard lock(state_mutex_);
    if (shut_down_) return;
    shut_down_ = true;
    take_all(ready);
  }
  print(ready);
}

std::size_t ConsoleExporter::pending_trace_count() const {
  const std::lock_guard lock(state_mutex_);
  return pending_by_id_.size();
}

void ConsoleExporter::hold_span(const trace::Span& span, std::uint64_t now, std::vector<PendingTrace>& ready) {
  auto found = pending_by_id_.find(span.trace_id);
  if (found == pending_by_id_.end()) {
    by_last_arrival_.push_back(PendingTrace{span.trace_id, {}, now});
    found = pending_by_id_.emplace(span.trace_id, std::prev(by_last_arrival_.end())).first;
  } else {
    by_last_arrival_.splice(by_last_arrival_.end(), by_last_arrival_, found->second);
    found->second->last_arrival_ns = now;
  }
  found->second->spans.push_back(span);
  if (found->second->spans.size() >= opts_.console_max_spans_per_trace) take(found->second, ready);
  if (pending_by_id_.size() > opts_.console_max_pending_traces) take(by_last_arrival_.begin(), ready);
}

void ConsoleExporter::take_expired(std::uint64_t now, std::vector<PendingTrace>& ready) {
  const std::uint64_t hold_ns = opts_.console_hold_ms * 1'000'000u;
  while (!by_last_arrival_.empty() && now - by_last_arrival_.front().last_arrival_ns >= hold_ns) {
    take(by_last_arrival_.begin(), ready);
  }
}

void ConsoleExporter::take_all(std::vector<PendingTrace>& ready) {
  while (!by_last_arrival_.empty()) take(by_last_arrival_.begin(), ready);
}

void ConsoleExporter::take(PendingList::iterator it, std::vector<PendingTrace>& ready) {
  pending_by_id_.erase(it->trace_id);
  ready.push_back(std::move(*it));
  by_last_arrival_.erase(it);
}

void ConsoleExporter::print(const std::vector<PendingTrace>& ready) {
  if (ready.empty()) return;
  std::string text;
  for (const auto& trace : ready) {
    text += render_trace_tree(trace.spans, style_);
    text += '\n';
  }
  const std::lock_guard lock(output_mutex_);
  out_ << text;
  out_.flush();
  if (!out_ && !reported_write_error_) {
    reported_write_error_ = true;
    spdlog::error("console exporter: writing spans failed; further write errors are not reported");
  }
  out_.clear();
}

void ConsoleExporter::run_background_printer(const std::stop_token& stop) {
  // A tenth of the hold keeps the print delay close to the hold without busy waking.
  const auto period = std::chrono::milliseconds(std::clamp<std::uint64_t>(opts_.console_hold_ms / 10, 10, 100));
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock(wake_mutex_);
      wake_.wait_for(lock, stop, period, [] { return false; });
    }
    print_expired();
  }
}

void ConsoleExporter::stop_background_printer() {
  if (!background_printer_.joinable()) return;
  background_printer_.request_stop();
  background_printer_.join();
}

}  // namespace zt::exporters
