// JSONL exporter: one JSON object per span and line, the schema in docs/span-schema.md.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "exporters/exporter.h"
#include "trace/span.h"

namespace zt::exporters {

// One span as one line of JSON, without the trailing newline. Never throws: bytes that are not
// valid UTF-8 (captured traffic) become U+FFFD, non-finite doubles become null.
std::string span_to_json_line(const trace::Span& span);
// The resource object of a span line (`{}` for none).
std::string resource_to_json(const trace::Resource* resource);

class JsonlExporter final : public SpanExporter {
 public:
  // Opens `path` for appending; "-" is standard output.
  static Result<std::unique_ptr<JsonlExporter>> open(const std::string& path);
  // Writes to `out`, which must stay open while the exporter is used; closes it only if `owns_file`.
  JsonlExporter(std::FILE* out, bool owns_file);
  ~JsonlExporter() override;
  JsonlExporter(const JsonlExporter&) = delete;
  JsonlExporter& operator=(const JsonlExporter&) = delete;

  // Writes the batch and flushes it, so a reader tailing the file sees whole batches.
  void export_spans(const std::vector<trace::Span>& spans) override;
  void flush() override;
  void shutdown() override;
  std::string_view name() const override { return "jsonl"; }

  std::uint64_t spans_written() const;
  // Batches (or flushes) that failed to reach the file, e.g. disk full. Only the first is logged.
  std::uint64_t write_errors() const;

 private:
  struct CachedResource {
    std::shared_ptr<const trace::Resource> resource;
    std::string json;
  };
  static constexpr std::size_t kMaxCachedResources = 4096;

  void record_write_error(int error_number);
  const std::string& cached_resource_json(const std::shared_ptr<const trace::Resource>& resource);

  std::string batch_;  // reused between batches; pipeline thread only
  std::unordered_map<const trace::Resource*, CachedResource> resource_cache_;

  mutable std::mutex mutex_;  // export_spans runs on the pipeline thread, shutdown on another
  std::FILE* out_;
  bool owns_file_;
  std::uint64_t spans_written_ = 0;
  std::uint64_t write_errors_ = 0;
};

}  // namespace zt::exporters
