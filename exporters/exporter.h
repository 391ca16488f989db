// One interface for every span sink, and the factory that turns an `--output` spec into one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "exporters/export_stats.h"
#include "trace/span.h"

namespace zt::exporters {

// Settings shared by the exporters; each exporter reads the fields that concern it.
struct ExporterOptions {
  // Console: how long a trace's spans wait after its latest span arrived before the tree is
  // printed, so that parents finishing after their children still make one tree.
  std::uint64_t console_hold_ms = 1000;
  // Console: most traces held at once; when exceeded, the least recently active trace is printed
  // early. Bounds memory under a flood of traces.
  std::size_t console_max_pending_traces = 10000;
  // Console: most spans held for one trace; when reached, what is held is printed at once (a trace
  // that never goes quiet, e.g. a long-lived stream, still shows up and memory stays bounded).
  std::size_t console_max_spans_per_trace = 1000;
  // Console: print the attribute line under each span.
  bool console_show_attributes = true;
  // Console on stdout: ANSI colors. The CLI sets it when stdout is a terminal; console=FILE
  // never uses colors.
  bool color = false;
  // OTLP: settings from the config file's `otlp:` section, keyed as in otlp/otlp_options.h. The
  // environment (OTEL_EXPORTER_OTLP_*, OTEL_BSP_*) overrides them when `read_environment`.
  std::map<std::string, std::string> otlp_settings;
  bool read_environment = true;
};

class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  // Called from one pipeline thread. Must not throw; sink errors are counted and logged.
  virtual void export_spans(const std::vector<trace::Span>& spans) = 0;
  // Writes out anything buffered (the console exporter holds spans briefly to build trees).
  virtual void flush() = 0;
  // Flushes and releases the sink. Idempotent; spans exported afterwards are dropped.
  virtual void shutdown() = 0;
  virtual std::string_view name() const = 0;
  // Delivery counters, for exporters that send over a network (nullopt for local sinks).
  virtual std::optional<ExportStats> stats() const { return std::nullopt; }
};

// Accepted specs: "console", "console=FILE", "jsonl=FILE", "chrome=FILE" (FILE "-" means standard
// output); "otlp", "otlp=ENDPOINT" (settings from the environment and `otlp_settings`); "zipkin",
// "zipkin=URL". Console and JSONL files are opened for appending, a Chrome trace file is written
// anew. A bad spec or an unopenable file gives an Error that says why and lists the accepted forms.
Result<std::unique_ptr<SpanExporter>> make_exporter(std::string_view spec, const ExporterOptions& opts);

// The service name of the process a span was observed in: the resource's service_name, else its
// service.name attribute; empty when neither is known (or there is no resource).
std::string_view service_name_of(const trace::Resource* resource);

}  // namespace zt::exporters
