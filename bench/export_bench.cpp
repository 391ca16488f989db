// What exporting costs per span, off the pipeline thread: OTLP protobuf encoding and
// serialisation, OTLP JSON encoding, Zipkin JSON, gzip of a batch. Spans look like the agent's
// HTTP SERVER spans (18 attributes) from 4 processes. Numbers in docs/performance.md.
//   cmake --build build --target zt_export_bench && ./build/bench/zt_export_bench
#include <benchmark/benchmark.h>

#include "exporters/http_client.h"
#include "exporters/otlp/otlp_encoder.h"
#include "exporters/zipkin_exporter.h"
#include "trace/ids.h"

namespace {

using namespace zt;

std::vector<trace::Span> make_batch(std::size_t n) {
  std::vector<std::shared_ptr<const trace::Resource>> resources;
  for (std::uint32_t p = 0; p < 4; ++p) {
    auto r = std::make_shared<trace::Resource>();
    r->pid = 1000 + p;
    r->service_name = "service-" + std::to_string(p);
    r->attributes = {{"service.name", r->service_name},
                     {"service.instance.id", std::string("6f1c7e0a-2b4d-5e8f-9a1b-3c5d7e9f1a2b")},
                     {"process.pid", std::int64_t{1000 + p}},
                     {"process.executable.name", std::string("python3.11")},
                     {"process.command_line", std::string("python3 app.py --port 8080")},
                     {"host.name", std::string("node-1")},
                     {"host.id", std::string("0123456789abcdef0123456789abcdef")},
                     {"os.type", std::string("linux")},
                     {"telemetry.sdk.name", std::string("zerotrace")}};
    resources.push_back(std::move(r));
  }
  std::vector<trace::Span> spans(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto& s = spans[i];
    s.trace_id = trace::new_trace_id();
    s.span_id = trace::new_span_id();
    s.parent_span_id = trace::new_span_id();
    s.name = "GET /users/{id}";
    s.kind = trace::SpanKind::Server;
    s.start_unix_ns = 1'763'870'000'000'000'000ull + i * 1000;
    s.end_unix_ns = s.start_unix_ns + 250'000;
    s.attributes = {{"http.request.method", std::string("GET")},
                    {"url.path", std::string("/users/" + std::to_string(i))},
                    {"url.scheme", std::string("http")},
                    {"http.route", std::string("/users/{id}")},
                    {"http.response.status_code", std::int64_t{200}},
                    {"network.protocol.name", std::string("http")},
                    {"network.protocol.version", std::string("1.1")},
                    {"network.transport", std::string("tcp")},
                    {"network.type", std::string("ipv4")},
                    {"network.peer.address", std::string("10.0.0.7")},
                    {"network.peer.port", std::int64_t{51234}},
                    {"client.address", std::string("10.0.0.7")},
                    {"client.port", std::int64_t{51234}},
                    {"server.address", std::string("10.0.0.1")},
                    {"server.port", std::int64_t{8080}},
                    {"user_agent.original", std::string("curl/7.88.1")},
                    {"http.request.body.size", std::int64_t{0}},
                    {"http.response.body.size", std::int64_t{512}}};
    s.resource = resources[i % resources.size()];
  }
  return spans;
}

void OtlpProtobuf(benchmark::State& state) {
  const auto spans = make_batch(static_cast<std::size_t>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
    exporters::otlp::encode_request(spans, request);
    request.SerializeToString(&out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["bytes_per_span"] = static_cast<double>(out.size()) / static_cast<double>(state.range(0));
}
BENCHMARK(OtlpProtobuf)->Arg(512);

// What the transports do: the request built on an arena, freed in one go.
void OtlpProtobufArena(benchmark::State& state) {
  const auto spans = make_batch(static_cast<std::size_t>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    google::protobuf::Arena arena;
    auto* request =
        google::protobuf::Arena::CreateMessage<opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest>(&arena);
    exporters::otlp::encode_request(spans, *request);
    request->SerializeToString(&out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(OtlpProtobufArena)->Arg(512);

void OtlpJson(benchmark::State& state) {
  const auto spans = make_batch(static_cast<std::size_t>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    out = exporters::otlp::encode_json(spans);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["bytes_per_span"] = static_cast<double>(out.size()) / static_cast<double>(state.range(0));
}
BENCHMARK(OtlpJson)->Arg(512);

void ZipkinJson(benchmark::State& state) {
  const auto spans = make_batch(static_cast<std::size_t>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    out = exporters::encode_zipkin_v2(spans);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(ZipkinJson)->Arg(512);

void GzipOtlpProtobuf(benchmark::State& state) {
  const auto spans = make_batch(static_cast<std::size_t>(state.range(0)));
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
  exporters::otlp::encode_request(spans, request);
  const std::string body = request.SerializeAsString();
  std::size_t compressed = 0;
  for (auto _ : state) {
    auto z = exporters::gzip_compress(body);
    compressed = z->size();
    benchmark::DoNotOptimize(compressed);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["ratio"] = static_cast<double>(body.size()) / static_cast<double>(compressed);
}
BENCHMARK(GzipOtlpProtobuf)->Arg(512);

}  // namespace

BENCHMARK_MAIN();
