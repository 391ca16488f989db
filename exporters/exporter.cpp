#include "exporters/exporter.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <variant>

#include "exporters/chrome_trace_exporter.h"
#include "exporters/console_exporter.h"
#include "exporters/jsonl_exporter.h"
#include "exporters/otlp/otlp_exporter.h"
#include "exporters/zipkin_exporter.h"

namespace zt::exporters {
namespace {

constexpr std::string_view kAcceptedForms =
    "accepted forms: console, console=FILE, jsonl=FILE, chrome=FILE (FILE \"-\" is standard output), "
    "otlp, otlp=ENDPOINT, zipkin, zipkin=URL";

Error bad_spec(std::string_view spec, std::string_view why) {
  return make_error("output \"" + std::string(spec) + "\": " + std::string(why) + "; " + std::string(kAcceptedForms));
}

Result<std::unique_ptr<SpanExporter>> make_console_exporter(const std::string& path, const ExporterOptions& opts) {
  if (path == "-") return std::unique_ptr<SpanExporter>(std::make_unique<ConsoleExporter>(std::cout, opts));
  auto file = std::make_unique<std::ofstream>(path, std::ios::app);
  if (!file->is_open()) return make_error("console: cannot open " + path + ": " + std::strerror(errno));
  ExporterOptions file_opts = opts;
  file_opts.color = false;  // `color` describes the terminal on stdout; escape codes would litter a file
  return std::unique_ptr<SpanExporter>(std::make_unique<ConsoleExporter>(std::move(file), file_opts));
}

Result<std::unique_ptr<SpanExporter>> make_jsonl_exporter(const std::string& path) {
  auto exporter = JsonlExporter::open(path);
  if (!exporter) return exporter.error();
  return std::unique_ptr<SpanExporter>(std::move(exporter).value());
}

Result<std::unique_ptr<SpanExporter>> make_chrome_trace_exporter(const std::string& path) {
  auto exporter = ChromeTraceExporter::open(path);
  if (!exporter) return exporter.error();
  return std::unique_ptr<SpanExporter>(std::move(exporter).value());
}

}  // namespace

Result<std::unique_ptr<SpanExporter>> make_exporter(std::string_view spec, const ExporterOptions& opts) {
  const std::size_t equals = spec.find('=');
  const std::string_view kind = spec.substr(0, equals);
  const bool has_target = equals != std::string_view::npos;
  const std::string target(has_target ? spec.substr(equals + 1) : std::string_view());
  if (has_target && target.empty()) return bad_spec(spec, "missing value after '='");

  if (kind == "console") return make_console_exporter(has_target ? target : "-", opts);
  if (kind == "jsonl") {
    if (!has_target) return bad_spec(spec, "jsonl needs a FILE");
    return make_jsonl_exporter(target);
  }
  if (kind == "otlp") {
    // Layers: config file < environment < the endpoint given here.
    otlp::Settings settings = opts.otlp_settings;
    if (opts.read_environment) {
      for (auto& [key, value] : otlp::settings_from_environment()) settings[key] = value;
    }
    auto options = otlp::resolve(settings, has_target ? std::optional<std::string>(target) : std::nullopt);
    if (!options) return make_error("output \"" + std::string(spec) + "\": otlp " + options.error().message);
    return otlp::make_otlp_exporter(*options);
  }
  if (kind == "chrome") {
    if (!has_target) return bad_spec(spec, "chrome needs a FILE");
    return make_chrome_trace_exporter(target);
  }
  if (kind == "zipkin") {
    const auto env = [&](const char* name) -> std::optional<std::string> {
      if (!opts.read_environment) return std::nullopt;
      return otlp::process_getenv(name);
    };
    auto options = zipkin_options(has_target ? std::optional<std::string>(target) : std::nullopt,
                                  env("OTEL_EXPORTER_ZIPKIN_ENDPOINT"), env("OTEL_EXPORTER_ZIPKIN_TIMEOUT"));
    if (!options) return make_error("output \"" + std::string(spec) + "\": " + options.error().message);
    return make_zipkin_exporter(*options);
  }
  return bad_spec(spec, "unknown exporter \"" + std::string(kind) + "\"");
}

std::string_view service_name_of(const trace::Resource* resource) {
  if (resource == nullptr) return {};
  if (!resource->service_name.empty()) return resource->service_name;
  for (const auto& attribute : resource->attributes) {
    if (attribute.key != "service.name") continue;
    if (const auto* name = std::get_if<std::string>(&attribute.value)) return *name;
  }
  return {};
}

}  // namespace zt::exporters
