#include "exporters/jsonl_exporter.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <charconv>

#include "exporters/json_writer.h"
#include <utility>

namespace zt::exporters {
namespace {

bool has_key(const std::vector<trace::Attribute>& attributes, std::string_view key) {
  for (const auto& a : attributes) {
    if (a.key == key) return true;
  }
  return false;
}

// `,"links":[...]`: ids in hex as the span's own, trace state only when there is one.
void append_links(std::string& out, const std::vector<trace::Link>& links) {
  out.append(",\"links\":[");
  for (std::size_t i = 0; i < links.size(); ++i) {
    const auto& link = links[i];
    if (i > 0) out.push_back(',');
    out.append("{\"trace_id\":\"");
    trace::append_hex(out, link.trace_id);
    out.append("\",\"span_id\":\"");
    trace::append_hex(out, link.span_id);
    out.push_back('"');
    if (!link.trace_state.empty()) {
      out.append(",\"trace_state\":");
      append_json_string(out, link.trace_state);
    }
    out.append(",\"trace_flags\":").append(std::to_string(link.trace_flags));
    out.append(",\"is_remote\":").append(link.is_remote ? "true" : "false");
    out.append(",\"attributes\":");
    append_json_attributes(out, link.attributes);
    out.push_back('}');
  }
  out.push_back(']');
}

// Writes every span field except the resource, up to and including `"resource":`.
void append_span_fields(std::string& out, const trace::Span& span) {
  char buf[24];
  const auto append_u64 = [&](std::uint64_t v) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
  };
  out.append("{\"trace_id\":\"");
  trace::append_hex(out, span.trace_id);
  out.append("\",\"span_id\":\"");
  trace::append_hex(out, span.span_id);
  out.append("\",\"parent_span_id\":\"");
  if (!span.is_root()) trace::append_hex(out, span.parent_span_id);
  out.append("\",\"name\":");
  append_json_string(out, span.name);
  out.append(",\"kind\":\"").append(trace::to_string(span.kind));
  out.append("\",\"start_time_unix_nano\":");
  append_u64(span.start_unix_ns);
  out.append(",\"end_time_unix_nano\":");
  append_u64(span.end_unix_ns);
  out.append(",\"duration_ns\":");
  append_u64(span.end_unix_ns > span.start_unix_ns ? span.end_unix_ns - span.start_unix_ns : 0);
  out.append(",\"status\":{\"code\":\"").append(trace::to_string(span.status)).append("\",\"message\":");
  append_json_string(out, span.status_message);
  out.append("},\"attributes\":");
  append_json_attributes(out, span.attributes);
  if (!span.links.empty()) append_links(out, span.links);
  if (span.dropped_links != 0) {
    out.append(",\"dropped_links_count\":");
    append_u64(span.dropped_links);
  }
  out.append(",\"resource\":");
}

}  // namespace

// Resource attributes are the source of truth; the struct's pid and service name fill them in when
// whoever built the Resource set only those. A key given twice keeps its last value.
std::string resource_to_json(const trace::Resource* resource) {
  if (resource == nullptr) return "{}";
  std::vector<trace::Attribute> unique;
  unique.reserve(resource->attributes.size() + 2);
  for (std::size_t i = 0; i < resource->attributes.size(); ++i) {
    const auto& a = resource->attributes[i];
    bool overridden = false;
    for (std::size_t j = i + 1; j < resource->attributes.size() && !overridden; ++j) {
      overridden = resource->attributes[j].key == a.key;
    }
    if (!overridden) unique.push_back(a);
  }
  if (!has_key(unique, "service.name") && !resource->service_name.empty()) {
    unique.push_back({"service.name", resource->service_name});
  }
  if (!has_key(unique, "process.pid") && resource->pid != 0) {
    unique.push_back({"process.pid", static_cast<std::int64_t>(resource->pid)});
  }
  std::string out;
  append_json_attributes(out, unique);
  return out;
}

std::string span_to_json_line(const trace::Span& span) {
  std::string out;
  out.reserve(1024);
  append_span_fields(out, span);
  out.append(resource_to_json(span.resource.get()));
  out.push_back('}');
  return out;
}

Result<std::unique_ptr<JsonlExporter>> JsonlExporter::open(const std::string& path) {
  if (path == "-") return std::make_unique<JsonlExporter>(stdout, false);
  std::FILE* file = std::fopen(path.c_str(), "a");
  if (file == nullptr) return make_error("jsonl: cannot open " + path + ": " + std::strerror(errno));
  return std::make_unique<JsonlExporter>(file, true);
}

JsonlExporter::JsonlExporter(std::FILE* out, bool owns_file) : out_(out), owns_file_(owns_file) {}

JsonlExporter::~JsonlExporter() { shutdown(); }

void JsonlExporter::export_spans(const std::vector<trace::Span>& spans) {
  if (spans.empty()) return;
  batch_.clear();
  for (const auto& span : spans) {
    append_span_fields(batch_, span);
    batch_.append(cached_resource_json(span.resource));
    batch_.append("}\n");
  }
  const std::lock_guard lock(mutex_);
  if (out_ == nullptr) return;
  const std::size_t written = std::fwrite(batch_.data(), 1, batch_.size(), out_);
  if (written != batch_.size() || std::fflush(out_) != 0) {
    record_write_error(errno);
    std::clearerr(out_);
    return;
  }
  spans_written_ += spans.size();
}

const std::string& JsonlExporter::cached_resource_json(const std::shared_ptr<const trace::Resource>& resource) {
  // Resources are immutable and shared by every span of a process: serialise each once. The
  // cache holds a reference, so a pointer cannot be reused by another resource while cached.
  if (resource_cache_.size() > kMaxCachedResources) resource_cache_.clear();
  auto [it, inserted] = resource_cache_.try_emplace(resource.get());
  if (inserted) it->second = {resource, resource_to_json(resource.get())};
  return it->second.json;
}

void JsonlExporter::flush() {
  const std::lock_guard lock(mutex_);
  if (out_ != nullptr && std::fflush(out_) != 0) {
    record_write_error(errno);
    std::clearerr(out_);
  }
}

void JsonlExporter::shutdown() {
  const std::lock_guard lock(mutex_);
  if (out_ == nullptr) return;
  const bool flushed = std::fflush(out_) == 0;
  if (!flushed) record_write_error(errno);
  if (owns_file_ && std::fclose(out_) != 0 && flushed) record_write_error(errno);
  out_ = nullptr;
}

std::uint64_t JsonlExporter::spans_written() const {
  const std::lock_guard lock(mutex_);
  return spans_written_;
}

std::uint64_t JsonlExporter::write_errors() const {
  const std::lock_guard lock(mutex_);
  return write_errors_;
}

void JsonlExporter::record_write_error(int error_number) {
  if (write_errors_++ == 0) {
    spdlog::error(
        "jsonl exporter: writing spans failed: {}; spans are dropped until writes succeed again, "
        "further errors are counted, not logged",
        std::strerror(error_number));
  }
}

}  // namespace zt::exporters
