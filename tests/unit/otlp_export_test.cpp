// OTLP encoding and the three transports against the test receiver (tests/support): what is sent
// arrives intact with every protocol and compression, and every receiver answer (errors,
// Retry-After, partial success, slowness, absence) maps to the right outcome.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "exporters/batch_processor.h"
#include "exporters/http_client.h"
#include "exporters/otlp/otlp_encoder.h"
#include "exporters/otlp/otlp_exporter.h"
#include "support/otlp_receiver.h"

namespace zt::exporters::otlp {
namespace {

using namespace std::chrono_literals;
using testing::OtlpReceiver;
using testing::Reply;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
namespace tracepb = opentelemetry::proto::trace::v1;

std::shared_ptr<const trace::Resource> resource(std::uint32_t pid, const std::string& service) {
  auto r = std::make_shared<trace::Resource>();
  r->pid = pid;
  r->service_name = service;
  r->attributes = {{"service.name", service}, {"process.pid", std::int64_t{pid}}, {"host.name", std::string("node-1")}};
  return r;
}

// A remote, sampled link with trace state and attributes, and a local, unsampled bare one.
std::vector<trace::Link> sample_links(int i) {
  trace::Link remote;
  for (std::uint8_t k = 0; k < 16; ++k) remote.trace_id[k] = static_cast<std::uint8_t>(0x40 + k + i);
  for (std::uint8_t k = 0; k < 8; ++k) remote.span_id[k] = static_cast<std::uint8_t>(0x60 + k);
  remote.trace_state = "congo=t61rcWkgMzE";
  remote.attributes = {{"zerotrace.link.source", std::string("kafka")}, {"messaging.kafka.offset", std::int64_t{42}}};
  trace::Link local;
  for (std::uint8_t k = 0; k < 16; ++k) local.trace_id[k] = static_cast<std::uint8_t>(0x70 + k);
  for (std::uint8_t k = 0; k < 8; ++k) local.span_id[k] = static_cast<std::uint8_t>(0x80 + k);
  local.trace_flags = 0;
  local.is_remote = false;
  return {remote, local};
}

trace::Span make_span(int i, std::shared_ptr<const trace::Resource> res) {
  trace::Span s;
  for (std::uint8_t k = 0; k < 16; ++k) s.trace_id[k] = static_cast<std::uint8_t>(0x10 + k + i);
  for (std::uint8_t k = 0; k < 8; ++k) s.span_id[k] = static_cast<std::uint8_t>(0xa0 + k + i);
  if (i % 2 == 1) {
    for (std::uint8_t k = 0; k < 8; ++k) s.parent_span_id[k] = static_cast<std::uint8_t>(0xb0 + k);
    s.parent_is_remote = true;
    s.trace_state = "vendor=a,other=b";
    s.links = sample_links(i);
    s.dropped_links = 3;
  }
  s.name = "GET /items/{id}";
  s.kind = i % 2 ? trace::SpanKind::Server : trace::SpanKind::Client;
  s.start_unix_ns = 1'714'564'800'123'456'789ull + static_cast<std::uint64_t>(i) * 1000;
  s.end_unix_ns = s.start_unix_ns + 12'345'678;
  s.status = i % 3 == 0 ? trace::StatusCode::Error : trace::StatusCode::Unset;
  if (s.status == trace::StatusCode::Error) s.status_message = "upstream \"timed\" out";
  s.attributes = {{"http.request.method", std::string("GET")},
                  {"http.response.status_code", std::int64_t{200 + i}},
                  {"ratio", 0.25},
                  {"flag", true},
                  {"url.path", std::string("/items/\xff\x01")}};  // captured bytes, not UTF-8
  s.resource = std::move(res);
  return s;
}

std::vector<trace::Span> sample_batch() {
  const auto a = resource(100, "frontend");
  const auto b = resource(200, "backend");
  return {make_span(0, a), make_span(1, b), make_span(2, a), make_span(3, b)};
}

std::string hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) out += {kHex[c >> 4], kHex[c & 0xf]};
  return out;
}

void expect_same_links(const tracepb::Span& got, const trace::Span& want) {
  EXPECT_EQ(got.dropped_links_count(), want.dropped_links);
  ASSERT_EQ(got.links_size(), static_cast<int>(want.links.size()));
  for (int k = 0; k < got.links_size(); ++k) {
    const auto& link = got.links(k);
    const auto& expected = want.links[static_cast<std::size_t>(k)];
    EXPECT_EQ(hex(link.trace_id()), trace::to_hex(expected.trace_id));
    EXPECT_EQ(hex(link.span_id()), trace::to_hex(expected.span_id));
    EXPECT_EQ(link.trace_state(), expected.trace_state);
    // W3C flags in the low byte, "remote is known" always, "is remote" when it is.
    EXPECT_EQ(link.flags(), expected.trace_flags | 0x100u | (expected.is_remote ? 0x200u : 0u));
    EXPECT_EQ(link.dropped_attributes_count(), 0u);
    ASSERT_EQ(link.attributes_size(), static_cast<int>(expected.attributes.size()));
    for (int a = 0; a < link.attributes_size(); ++a) {
      EXPECT_EQ(link.attributes(a).key(), expected.attributes[static_cast<std::size_t>(a)].key);
    }
  }
  if (want.links.empty()) return;
  // The sample's remote link: its attribute values keep their types.
  ASSERT_EQ(got.links_size(), 2);
  EXPECT_EQ(got.links(0).flags(), 0x301u);
  EXPECT_EQ(got.links(0).attributes(0).value().string_value(), "kafka");
  EXPECT_EQ(got.links(0).attributes(1).value().int_value(), 42);
  EXPECT_EQ(got.links(1).flags(), 0x100u);
}

// Every field of our span model, as it must arrive.
void expect_same(const tracepb::Span& got, const trace::Span& want) {
  EXPECT_EQ(hex(got.trace_id()), trace::to_hex(want.trace_id));
  EXPECT_EQ(hex(got.span_id()), trace::to_hex(want.span_id));
  EXPECT_EQ(hex(got.parent_span_id()), want.is_root() ? "" : trace::to_hex(want.parent_span_id));
  EXPECT_EQ(got.trace_state(), want.trace_state);
  EXPECT_EQ(got.flags(), want.is_root() ? 0x01u : 0x301u);
  EXPECT_EQ(got.name(), want.name);
  EXPECT_EQ(static_cast<int>(got.kind()), static_cast<int>(want.kind));
  EXPECT_EQ(got.start_time_unix_nano(), want.start_unix_ns);
  EXPECT_EQ(got.end_time_unix_nano(), want.end_unix_ns);
  EXPECT_EQ(static_cast<int>(got.status().code()), static_cast<int>(want.status));
  EXPECT_EQ(got.status().message(), want.status_message);
  ASSERT_EQ(got.attributes_size(), static_cast<int>(want.attributes.size()));
  EXPECT_EQ(got.attributes(0).key(), "http.request.method");
  EXPECT_EQ(got.attributes(0).value().string_value(), "GET");
  EXPECT_EQ(got.attributes(1).value().int_value(), std::get<std::int64_t>(want.attributes[1].value));
  EXPECT_DOUBLE_EQ(got.attributes(2).value().double_value(), 0.25);
  EXPECT_TRUE(got.attributes(3).value().bool_value());
  EXPECT_EQ(got.attributes(4).value().string_value(), "/items/\xef\xbf\xbd\x01");
  expect_same_links(got, want);
}

// One ResourceSpans per resource, spans in order, the scope named zerotrace with our version.
void expect_request_matches(const ExportTraceServiceRequest& request, const std::vector<trace::Span>& spans) {
  ASSERT_EQ(request.resource_spans_size(), 2);
  for (int r = 0; r < 2; ++r) {
    const auto& rs = request.resource_spans(r);
    const std::string service = r == 0 ? "frontend" : "backend";
    ASSERT_GE(rs.resource().attributes_size(), 3);
    EXPECT_EQ(rs.resource().attributes(0).key(), "service.name");
    EXPECT_EQ(rs.resource().attributes(0).value().string_value(), service);
    EXPECT_EQ(rs.resource().attributes(1).value().int_value(), r == 0 ? 100 : 200);
    ASSERT_EQ(rs.scope_spans_size(), 1);
    EXPECT_EQ(rs.scope_spans(0).scope().name(), "zerotrace");
    EXPECT_EQ(rs.scope_spans(0).scope().version(), std::string(agent_version()));
    ASSERT_EQ(rs.scope_spans(0).spans_size(), 2);
    expect_same(rs.scope_spans(0).spans(0), spans[r]);
    expect_same(rs.scope_spans(0).spans(1), spans[r + 2]);
  }
}

TEST(OtlpEncoder, GroupsByResourceAndKeepsEveryField) {
  const auto spans = sample_batch();
  ExportTraceServiceRequest request;
  encode_request(spans, request);
  // Through the wire format and back, as a receiver sees it.
  ExportTraceServiceRequest decoded;
  ASSERT_TRUE(decoded.ParseFromString(request.SerializeAsString()));
  expect_request_matches(decoded, spans);
}

TEST(OtlpEncoder, JsonFollowsTheOtlpJsonMapping) {
  const auto spans = sample_batch();
  const auto j = nlohmann::json::parse(encode_json(spans));
  const auto& span = j["resourceSpans"][1]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(span["traceId"], trace::to_hex(spans[1].trace_id));  // hex, not base64
  EXPECT_EQ(span["spanId"], trace::to_hex(spans[1].span_id));
  EXPECT_EQ(span["parentSpanId"], trace::to_hex(spans[1].parent_span_id));
  EXPECT_EQ(span["kind"], 2);                                    // integer enum
  EXPECT_EQ(span["startTimeUnixNano"], std::to_string(spans[1].start_unix_ns));  // 64-bit as string
  EXPECT_EQ(span["traceState"], "vendor=a,other=b");
  EXPECT_EQ(span["flags"], 0x301);
  EXPECT_EQ(span["attributes"][1]["value"]["intValue"], "201");
  EXPECT_EQ(span["attributes"][2]["value"]["doubleValue"], 0.25);
  EXPECT_EQ(span["attributes"][3]["value"]["boolValue"], true);
  ASSERT_EQ(span["links"].size(), 2u);
  const auto& link = span["links"][0];
  EXPECT_EQ(link["traceId"], trace::to_hex(spans[1].links[0].trace_id));
  EXPECT_EQ(link["spanId"], trace::to_hex(spans[1].links[0].span_id));
  EXPECT_EQ(link["traceState"], "congo=t61rcWkgMzE");
  EXPECT_EQ(link["flags"], 0x301);
  EXPECT_EQ(link["attributes"][0]["key"], "zerotrace.link.source");
  EXPECT_EQ(link["attributes"][1]["value"]["intValue"], "42");
  EXPECT_EQ(span["links"][1]["flags"], 0x100);                     // local, not sampled
  EXPECT_FALSE(span["links"][1].contains("traceState"));
  EXPECT_FALSE(span["links"][1].contains("attributes"));
  EXPECT_EQ(span["droppedLinksCount"], 3);
  const auto& root = j["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_FALSE(root.contains("links"));
  EXPECT_FALSE(root.contains("droppedLinksCount"));
  EXPECT_FALSE(root.contains("parentSpanId"));
  EXPECT_EQ(root["status"]["code"], 2);
  EXPECT_EQ(j["resourceSpans"][0]["scopeSpans"][0]["scope"]["name"], "zerotrace");
}

TEST(OtlpEncoder, EmptyBatchIsAnEmptyRequest) {
  ExportTraceServiceRequest request;
  encode_request({}, request);
  EXPECT_EQ(request.resource_spans_size(), 0);
  EXPECT_EQ(encode_json({}), "{\"resourceSpans\":[]}");
}

struct Case {
  const char* protocol;
  bool gzip;
};

class OtlpTransportTest : public ::testing::TestWithParam<Case> {
 protected:
  OtlpOptions options_for(const OtlpReceiver& rx) {
    Settings s{{"protocol", GetParam().protocol}, {"compression", GetParam().gzip ? "gzip" : "none"},
               {"headers", "authorization=Bearer%20secret,x-tenant=acme"}};
    const bool grpc = std::string(GetParam().protocol) == "grpc";
    s["endpoint"] = grpc ? rx.grpc_url() : rx.http_url();
    auto o = resolve(s, std::nullopt);
    EXPECT_TRUE(o.ok());
    return *o;
  }
};

TEST_P(OtlpTransportTest, EverythingArrivesIntact) {
  OtlpReceiver rx;
  auto transport = make_otlp_transport(options_for(rx));
  ASSERT_TRUE(transport.ok()) << transport.error().message;
  const auto spans = sample_batch();
  const auto result = (*transport)->send(spans, 5000ms);
  ASSERT_EQ(result.outcome, ExportResult::Outcome::Success) << result.message;
  const auto requests = rx.requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& r = requests[0];
  const std::string protocol = GetParam().protocol;
  EXPECT_EQ(r.transport, protocol == "grpc" ? "grpc" : "http");
  if (protocol == "http/protobuf") {
    EXPECT_EQ(r.content_type, "application/x-protobuf");
  } else if (protocol == "http/json") {
    EXPECT_EQ(r.content_type, "application/json");
  }
  if (protocol != "grpc") {
    EXPECT_EQ(r.content_encoding, GetParam().gzip ? "gzip" : "identity");
  }
  EXPECT_EQ(r.headers.at("authorization"), "Bearer secret");
  EXPECT_EQ(r.headers.at("x-tenant"), "acme");
  EXPECT_NE(r.headers.at("user-agent").find("zerotrace/"), std::string::npos);
  expect_request_matches(r.request, spans);
}

TEST_P(OtlpTransportTest, ErrorsMapToRetryableOrPermanent) {
  OtlpReceiver rx;
  auto transport = make_otlp_transport(options_for(rx));
  ASSERT_TRUE(transport.ok());
  const bool grpc = std::string(GetParam().protocol) == "grpc";
  const auto spans = sample_batch();
  if (grpc) {
    rx.script({Reply{.grpc_code = 14, .message = "unavailable"},
               Reply{.grpc_code = 8, .retry_after_seconds = 3, .message = "slow down"},
               Reply{.grpc_code = 8, .message = "quota exceeded for good"},
               Reply{.grpc_code = 3, .message = "bad data"}});
  } else {
    rx.script({Reply{.http_status = 503, .message = "unavailable"},
               Reply{.http_status = 429, .retry_after_seconds = 3, .message = "slow down"},
               Reply{.http_status = 502}, Reply{.http_status = 400, .message = "bad data"}});
  }
  auto r = (*transport)->send(spans, 5000ms);
  EXPECT_EQ(r.outcome, ExportResult::Outcome::Retryable) << r.message;
  r = (*transport)->send(spans, 5000ms);
  EXPECT_EQ(r.outcome, ExportResult::Outcome::Retryable) << r.message;
  ASSERT_TRUE(r.retry_after.has_value());
  EXPECT_EQ(*r.retry_after, 3000ms);
  r = (*transport)->send(spans, 5000ms);
  // gRPC RESOURCE_EXHAUSTED without RetryInfo is permanent; HTTP 502 is retryable.
  EXPECT_EQ(r.outcome, grpc ? ExportResult::Outcome::Failed : ExportResult::Outcome::Retryable) << r.message;
  r = (*transport)->send(spans, 5000ms);
  EXPECT_EQ(r.outcome, ExportResult::Outcome::Failed) << r.message;
  EXPECT_NE(r.message.find(grpc ? "INVALID_ARGUMENT" : "400"), std::string::npos) << r.message;
}

TEST_P(OtlpTransportTest, PartialSuccessIsReported) {
  OtlpReceiver rx;
  auto transport = make_otlp_transport(options_for(rx));
  ASSERT_TRUE(transport.ok());
  rx.script({Reply{.rejected_spans = 2, .message = "2 spans too old"}});
  const auto r = (*transport)->send(sample_batch(), 5000ms);
  ASSERT_EQ(r.outcome, ExportResult::Outcome::Success);
  EXPECT_EQ(r.rejected_spans, 2);
  EXPECT_EQ(r.message, "2 spans too old");
}

TEST_P(OtlpTransportTest, SlowCollectorTimesOutAsRetryable) {
  OtlpReceiver rx;
  auto transport = make_otlp_transport(options_for(rx));
  ASSERT_TRUE(transport.ok());
  constexpr auto kAnswerDelay = 3000ms;
  rx.script({Reply{.delay = kAnswerDelay}});
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = (*transport)->send(sample_batch(), 200ms);
  // Back before the collector could have answered: the send gave up at its timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, kAnswerDelay);
  EXPECT_EQ(r.outcome, ExportResult::Outcome::Retryable) << r.message;
}

TEST_P(OtlpTransportTest, CollectorDownThenRestartedLosesNothingThatFitsTheQueue) {
  OtlpReceiver rx;
  auto options = options_for(rx);
  options.batch.max_queue_size = 40;
  options.batch.max_export_batch_size = 8;
  options.batch.schedule_delay = 50ms;
  options.batch.initial_backoff = 50ms;
  options.batch.max_backoff = 200ms;
  options.batch.request_timeout = 1000ms;
  rx.stop();  // the collector is down when the agent starts
  auto exporter = make_otlp_exporter(options);
  ASSERT_TRUE(exporter.ok()) << exporter.error().message;
  const auto a = resource(1, "svc");
  std::vector<trace::Span> batch;
  for (int i = 0; i < 30; ++i) batch.push_back(make_span(i, a));
  (*exporter)->export_spans(batch);
  const auto deadline = std::chrono::steady_clock::now() + 10000ms;
  while ((*exporter)->stats()->retries == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_GT((*exporter)->stats()->retries, 0u);
  rx.start();  // back, on the same ports
  ASSERT_TRUE(rx.wait_for_accepted_spans(30, 10000ms)) << rx.accepted_span_count();
  // The receiver counts a request before the exporter has read its answer: until then that batch
  // is still in flight and takes room in the queue.
  const auto drained_by = std::chrono::steady_clock::now() + 10000ms;
  while ((*exporter)->stats()->queue_length != 0 && std::chrono::steady_clock::now() < drained_by) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ((*exporter)->stats()->queue_length, 0u);
  // Down again mid-run, with more spans than the queue holds: exactly the overflow is dropped.
  rx.stop();
  std::vector<trace::Span> more;
  for (int i = 0; i < 50; ++i) more.push_back(make_span(100 + i, a));
  (*exporter)->export_spans(more);
  EXPECT_EQ((*exporter)->stats()->spans_dropped, 10u);
  rx.start();
  ASSERT_TRUE(rx.wait_for_accepted_spans(70, 10000ms)) << rx.accepted_span_count();
  (*exporter)->shutdown();
  const auto s = *(*exporter)->stats();
  EXPECT_EQ(s.spans_exported, 70u);
  EXPECT_EQ(s.spans_dropped, 10u);
  EXPECT_EQ(s.spans_failed, 0u);
  // No span delivered twice.
  std::set<std::string> ids;
  std::size_t total = 0;
  for (const auto& r : rx.requests()) {
    if (!r.accepted) continue;
    for (const auto& rs : r.request.resource_spans()) {
      for (const auto& s2 : rs.scope_spans(0).spans()) {
        ids.insert(s2.span_id());
        ++total;
      }
    }
  }
  EXPECT_EQ(total, 70u);
  EXPECT_EQ(ids.size(), 70u);
}

INSTANTIATE_TEST_SUITE_P(Protocols, OtlpTransportTest,
                         ::testing::Values(Case{"grpc", false}, Case{"grpc", true}, Case{"http/protobuf", false},
                                           Case{"http/protobuf", true}, Case{"http/json", false},
                                           Case{"http/json", true}),
                         [](const auto& param_info) {
                           std::string name = param_info.param.protocol;
                           for (auto& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name + (param_info.param.gzip ? "_gzip" : "");
                         });

TEST(OtlpTransport, UnreadableCertificateIsAClearError) {
  for (const char* protocol : {"grpc", "http/protobuf"}) {
    auto o = resolve({{"protocol", protocol}, {"endpoint", "https://c:4317"}, {"certificate", "/nonexistent/ca.pem"}},
                     std::nullopt);
    ASSERT_TRUE(o.ok());
    auto t = make_otlp_transport(*o);
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.error().message.find("/nonexistent/ca.pem"), std::string::npos);
  }
}

TEST(HttpClient, GzipRoundTripsAndRejectsCorruptInput) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "span " + std::to_string(i) + "\n";
  auto z = gzip_compress(text);
  ASSERT_TRUE(z.ok());
  EXPECT_LT(z->size(), text.size() / 3);
  auto back = gzip_decompress(*z);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text);
  EXPECT_FALSE(gzip_decompress(z->substr(0, z->size() / 2)).ok());
  EXPECT_FALSE(gzip_decompress("not gzip at all").ok());
  EXPECT_FALSE(gzip_decompress(*z, 100).ok());  // bomb guard
}

TEST(HttpClient, RetryAfterInSecondsOrAsAnHttpDate) {
  EXPECT_EQ(parse_retry_after("7"), std::chrono::milliseconds(7000));
  EXPECT_EQ(parse_retry_after(" 0 "), std::chrono::milliseconds(0));
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), std::chrono::milliseconds(0));  // in the past
  EXPECT_FALSE(parse_retry_after("soon").has_value());
  EXPECT_FALSE(parse_retry_after("-3").has_value());
  EXPECT_FALSE(parse_retry_after("").has_value());
}

}  // namespace
}  // namespace zt::exporters::otlp
