#include "exporters/jsonl_exporter.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

namespace zt::exporters {
namespace {

// ordered_json keeps the documented field order, which makes lines easy to read and to diff.
using Json = nlohmann::ordered_json;

Json to_json(const trace::AttributeValue& value) {
  return std::visit([](const auto& v) { return Json(v); }, value);
}

Json attributes_to_json(const std::vector<trace::Attribute>& attributes) {
  Json object = Json::object();
  for (const auto& attribute : attributes) object[attribute.key] = to_json(attribute.value);
  return object;
}

// Resource attributes are the source of truth; the struct's pid and service name fill them in when
// whoever built the Resource set only those.
Json resource_to_json(const trace::Resource* resource) {
  if (resource == nullptr) return Json::object();
  Json object = attributes_to_json(resource->attributes);
  if (!object.contains("service.name") && !resource->service_name.empty()) {
    object["service.name"] = resource->service_name;
  }
  if (!object.contains("process.pid") && resource->pid != 0) {
    object["process.pid"] = static_cast<std::int64_t>(resource->pid);
  }
  return object;
}

}  // namespace

std::string span_to_json_line(const trace::Span& span) {
  Json line = Json::object();
  line["trace_id"] = trace::to_hex(span.trace_id);
  line["span_id"] = trace::to_hex(span.span_id);
  line["parent_span_id"] = span.is_root() ? std::string() : trace::to_hex(span.parent_span_id);
  line["name"] = span.name;
  line["kind"] = trace::to_string(span.kind);
  line["start_time_unix_nano"] = span.start_unix_ns;
  line["end_time_unix_nano"] = span.end_unix_ns;
  line["duration_ns"] = span.end_unix_ns > span.start_unix_ns ? span.end_unix_ns - span.start_unix_ns : 0;
  line["status"] = Json{{"code", trace::to_string(span.status)}, {"message", span.status_message}};
  line["attributes"] = attributes_to_json(span.attributes);
  line["resource"] = resource_to_json(span.resource.get());
  return line.dump(-1, ' ', false, Json::error_handler_t::replace);
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
  std::string batch;
  for (const auto& span : spans) {
    batch += span_to_json_line(span);
    batch += '\n';
  }
  const std::lock_guard lock(mutex_);
  if (out_ == nullptr) return;
  const std::size_t written = std::fwrite(batch.data(), 1, batch.size(), out_);
  if (written != batch.size() || std::fflush(out_) != 0) {
    record_write_error(errno);
    std::clearerr(out_);
    return;
  }
  spans_written_ += spans.size();
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
