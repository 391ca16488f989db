// The Chrome trace-event exporter: what Perfetto UI and chrome://tracing read, checked by parsing it.
#include "exporters/chrome_trace_exporter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

namespace zt::exporters {
namespace {

using nlohmann::json;

constexpr std::uint64_t kBase = 1'714'564'800'000'000'000ull;  // the trace's timestamp 0

std::shared_ptr<const trace::Resource> process(std::uint32_t pid, const std::string& service) {
  auto resource = std::make_shared<trace::Resource>();
  resource->pid = pid;
  resource->service_name = service;
  resource->attributes = {{"service.name", service}, {"process.pid", std::int64_t{pid}}};
  return resource;
}

trace::SpanId span_id(std::uint64_t n) {
  trace::SpanId id{};
  for (int i = 7; i >= 0; --i, n >>= 8) id[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n & 0xff);
  return id;
}

// A span of `pid`/`tid` from `start_us` to `end_us` after the base.
trace::Span make_span(std::uint64_t id, std::uint64_t parent, std::uint32_t pid, std::uint32_t tid,
                      std::uint64_t start_us, std::uint64_t end_us, trace::SpanKind kind = trace::SpanKind::Server) {
  trace::Span span;
  span.trace_id[0] = 0x4b;
  span.trace_id[15] = 0x36;
  span.span_id = span_id(id);
  if (parent != 0) span.parent_span_id = span_id(parent);
  span.name = "span " + std::to_string(id);
  span.kind = kind;
  span.start_unix_ns = kBase + start_us * 1000;
  span.end_unix_ns = kBase + end_us * 1000;
  span.resource = process(pid, "svc" + std::to_string(pid));
  span.tid = tid;
  return span;
}

// The document an encoder's output makes, as the exporter writes it.
json encode(const std::vector<trace::Span>& spans) {
  ChromeTraceEncoder encoder(kBase);
  std::string events;
  for (const auto& span : spans) encoder.append(events, span);
  std::string document(ChromeTraceEncoder::kHeader);
  if (!events.empty()) document.append(events.substr(1));
  document.append(ChromeTraceEncoder::kFooter);
  return json::parse(document);
}

std::vector<json> events_with(const json& trace, std::string_view phase) {
  std::vector<json> found;
  for (const auto& event : trace) {
    if (event["ph"] == phase) found.push_back(event);
  }
  return found;
}

TEST(TwoGenerationMap, KeepsTheRecentlyUsedAndHoldsAtMostTwiceItsCapacity) {
  TwoGenerationMap<int, int> map(3);
  for (int i = 0; i < 3; ++i) map[i] = i * 10;
  EXPECT_EQ(map.size(), 3u);
  map[3] = 30;  // the newer generation was full: it became the older one
  EXPECT_EQ(map.size(), 4u);
  ASSERT_NE(map.find(0), nullptr);
  EXPECT_EQ(*map.find(0), 0);
  EXPECT_EQ(map[1], 10);  // used again: moved to the newer generation, value kept
  map[4] = 40;
  map[5] = 50;  // full again: 0 and 2, not used since, are dropped
  EXPECT_EQ(map.find(0), nullptr);
  EXPECT_EQ(map.find(2), nullptr);
  for (const int kept : {1, 3, 4, 5}) EXPECT_NE(map.find(kept), nullptr) << kept;
  for (int i = 100; i < 200; ++i) map[i] = i;
  EXPECT_LE(map.size(), 6u);
  map.erase(199);
  EXPECT_EQ(map.find(199), nullptr);
}

TEST(ChromeTraceEncoder, ASpanIsACompleteEventOnItsProcessAndThread) {
  trace::Span span = make_span(0xa0a1a2a3a4a5a6a7, 0xb0b1b2b3b4b5b6b7, 4242, 4250, 0, 0);
  span.name = "GET /users/{id}";
  span.start_unix_ns = kBase + 1'500'000'123;  // 1.5 s and 123 ns after the base
  span.end_unix_ns = span.start_unix_ns + 12'345'678;
  span.status = trace::StatusCode::Error;
  span.status_message = "upstream timed out";
  span.attributes = {{"http.request.method", std::string("GET")},
                     {"http.response.status_code", std::int64_t{504}},
                     {"server.load", 0.75},
                     {"tls", true}};
  auto resource = std::make_shared<trace::Resource>();
  resource->pid = 4242;
  resource->service_name = "checkout";
  span.resource = resource;

  const json trace = encode({span});
  ASSERT_TRUE(trace.is_array());
  const auto complete = events_with(trace, "X");
  ASSERT_EQ(complete.size(), 1u) << trace.dump(1);
  const json& x = complete[0];
  EXPECT_DOUBLE_EQ(x["ts"].get<double>(), 1'500'000.123);
  EXPECT_DOUBLE_EQ(x["dur"].get<double>(), 12'345.678);
  EXPECT_EQ(x["pid"], 4242);
  EXPECT_EQ(x["tid"], 4250);
  EXPECT_EQ(x["name"], "GET /users/{id}");
  EXPECT_EQ(x["cat"], "server");
  EXPECT_EQ(x["args"]["trace_id"], "4b000000000000000000000000000036");
  EXPECT_EQ(x["args"]["span_id"], "a0a1a2a3a4a5a6a7");
  EXPECT_EQ(x["args"]["parent_span_id"], "b0b1b2b3b4b5b6b7");
  EXPECT_EQ(x["args"]["status"], "ERROR");
  EXPECT_EQ(x["args"]["status_message"], "upstream timed out");
  EXPECT_EQ(x["args"]["start_time_unix_nano"].get<std::uint64_t>(), kBase + 1'500'000'123);
  EXPECT_EQ(x["args"]["http.request.method"], "GET");
  EXPECT_EQ(x["args"]["http.response.status_code"], 504);
  EXPECT_EQ(x["args"]["server.load"], 0.75);
  EXPECT_EQ(x["args"]["tls"], true);
  EXPECT_FALSE(x["args"].contains("links"));  // only spans with links have them
  EXPECT_FALSE(x["args"].contains("dropped_links_count"));

  const auto metadata = events_with(trace, "M");
  ASSERT_EQ(metadata.size(), 1u);
  EXPECT_EQ(metadata[0]["name"], "process_name");
  EXPECT_EQ(metadata[0]["pid"], 4242);
  EXPECT_EQ(metadata[0]["args"]["name"], "checkout (pid 4242)");
}

TEST(ChromeTraceEncoder, TimesAreExactMicrosecondsWithThreeDecimals) {
  trace::Span span = make_span(1, 0, 7, 7, 0, 0);
  span.start_unix_ns = kBase + 1;
  span.end_unix_ns = kBase + 1'000'000'000'000;  // 1000 s later, to the nanosecond
  ChromeTraceEncoder encoder(kBase);
  std::string out;
  encoder.append(out, span);
  EXPECT_NE(out.find(R"("ts":0.001,"dur":999999999.999,)"), std::string::npos) << out;

  trace::Span before = make_span(2, 0, 7, 7, 0, 0);
  before.start_unix_ns = kBase - 2'500;  // a span that began before the base
  before.end_unix_ns = kBase - 3'000;    // and ended before it began: clock skew
  out.clear();
  encoder.append(out, before);
  EXPECT_NE(out.find(R"("ts":-2.500,"dur":0.000,)"), std::string::npos) << out;
}

TEST(ChromeTraceEncoder, EventsStartWithTheirTimestamp) {
  // Older Perfetto versions read the keys before "ts" with a parser that knows no \u escapes.
  trace::Span span = make_span(1, 0, 7, 7, 0, 10);
  span.name = std::string("evil\x01name");
  ChromeTraceEncoder encoder(kBase);
  std::string out;
  encoder.append(out, span);
  EXPECT_NE(out.find(R"({"ph":"X","ts":)"), std::string::npos) << out;
}

TEST(ChromeTraceEncoder, CategoryIsTheLowercaseKind) {
  std::vector<trace::Span> spans;
  const trace::SpanKind kinds[] = {trace::SpanKind::Internal, trace::SpanKind::Server, trace::SpanKind::Client,
                                   trace::SpanKind::Producer, trace::SpanKind::Consumer};
  std::uint64_t id = 1;
  for (const auto kind : kinds) {
    spans.push_back(make_span(id, 0, 7, 7, id * 10, id * 10 + 5, kind));
    ++id;
  }
  const auto complete = events_with(encode(spans), "X");
  ASSERT_EQ(complete.size(), 5u);
  EXPECT_EQ(complete[0]["cat"], "internal");
  EXPECT_EQ(complete[1]["cat"], "server");
  EXPECT_EQ(complete[2]["cat"], "client");
  EXPECT_EQ(complete[3]["cat"], "producer");
  EXPECT_EQ(complete[4]["cat"], "consumer");
  EXPECT_EQ(complete[0]["args"]["parent_span_id"], "");
  EXPECT_EQ(complete[0]["args"]["status"], "UNSET");
  EXPECT_FALSE(complete[0]["args"].contains("status_message"));
}

TEST(ChromeTraceEncoder, NamesEachProcessOnceAndAgainWhenItsServiceChanges) {
  trace::Span a1 = make_span(1, 0, 100, 100, 0, 10);
  trace::Span a2 = make_span(2, 0, 100, 101, 20, 30);
  trace::Span b = make_span(3, 0, 200, 200, 0, 10);
  trace::Span a3 = make_span(4, 0, 100, 100, 40, 50);
  a3.resource = process(100, "renamed");  // pid reused, or exec'd into another program
  const auto metadata = events_with(encode({a1, a2, b, a3}), "M");
  ASSERT_EQ(metadata.size(), 3u);
  EXPECT_EQ(metadata[0]["args"]["name"], "svc100 (pid 100)");
  EXPECT_EQ(metadata[1]["args"]["name"], "svc200 (pid 200)");
  EXPECT_EQ(metadata[2]["args"]["name"], "renamed (pid 100)");
  EXPECT_EQ(metadata[2]["pid"], 100);
}

TEST(ChromeTraceEncoder, ASpanWithoutResourceHasPidZeroAndNoName) {
  trace::Span span = make_span(1, 0, 7, 0, 0, 10);
  span.resource = nullptr;
  const json trace = encode({span});
  EXPECT_TRUE(events_with(trace, "M").empty());
  ASSERT_EQ(events_with(trace, "X").size(), 1u);
  EXPECT_EQ(events_with(trace, "X")[0]["pid"], 0);
}

TEST(ChromeTraceEncoder, UntrustedTextIsEscapedAndInvalidUtf8Replaced) {
  trace::Span span = make_span(1, 0, 7, 7, 0, 10);
  span.name = "GET /\"quoted\"\\\n\x1b[31m\xff\xc0\xaf";
  span.status = trace::StatusCode::Error;
  span.status_message = "bad \xc3";
  span.attributes = {{"key\xfe", std::string("v")}, {"ctl", std::string("a\x01\x7f\t")}};
  span.resource = process(7, "svc\"\n\xe2\x82");

  std::string out;
  ChromeTraceEncoder encoder(kBase);
  encoder.append(out, span);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << "one event per line, raw newlines escaped:\n" << out;
  const json trace = encode({span});  // throws, failing the test, on invalid JSON or UTF-8
  const json x = events_with(trace, "X").at(0);
  EXPECT_EQ(x["name"], "GET /\"quoted\"\\\n\x1b[31m\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(x["args"]["status_message"], "bad \xef\xbf\xbd");
  EXPECT_TRUE(x["args"].contains("key\xef\xbf\xbd"));
  EXPECT_EQ(x["args"]["ctl"], "a\x01\x7f\t");
  EXPECT_EQ(events_with(trace, "M").at(0)["args"]["name"], "svc\"\n\xef\xbf\xbd\xef\xbf\xbd (pid 7)");
}

TEST(ChromeTraceEncoder, NestedAndSeparateSpansShareTheirThreadsTrack) {
  // A server span holding the client call it made, then the next request on the same thread.
  const trace::Span client = make_span(2, 1, 7, 70, 10, 20, trace::SpanKind::Client);
  const trace::Span server = make_span(1, 0, 7, 70, 0, 30);
  const trace::Span next = make_span(3, 0, 7, 70, 30, 40);
  const json trace = encode({client, server, next});
  for (const auto& x : events_with(trace, "X")) EXPECT_EQ(x["tid"], 70) << x.dump();
  EXPECT_TRUE(events_with(trace, "s").empty()) << "a child drawn inside its parent needs no arrow";
  EXPECT_EQ(events_with(trace, "M").size(), 1u) << "no lane was named";
}

TEST(ChromeTraceEncoder, OverlappingSpansOfOneThreadGoToNamedLanes) {
  // An event loop serving three requests at once on one thread: none holds another.
  const trace::Span a = make_span(1, 0, 7, 70, 0, 20);
  const trace::Span b = make_span(2, 0, 7, 70, 10, 30);
  const trace::Span c = make_span(3, 0, 7, 70, 15, 35);
  const trace::Span d = make_span(4, 0, 7, 70, 40, 50);  // after all of them: back on the thread
  const json trace = encode({a, b, c, d});
  const auto complete = events_with(trace, "X");
  ASSERT_EQ(complete.size(), 4u);
  const std::uint32_t stride = ChromeTraceEncoder::kLaneTidStride;
  EXPECT_EQ(complete[0]["tid"], 70);
  EXPECT_EQ(complete[1]["tid"], 70 + stride);
  EXPECT_EQ(complete[2]["tid"], 70 + 2 * stride);
  EXPECT_EQ(complete[3]["tid"], 70);

  std::vector<json> thread_names;
  for (const auto& m : events_with(trace, "M")) {
    if (m["name"] == "thread_name") thread_names.push_back(m);
  }
  ASSERT_EQ(thread_names.size(), 2u);
  EXPECT_EQ(thread_names[0]["pid"], 7);
  EXPECT_EQ(thread_names[0]["tid"], 70 + stride);
  EXPECT_EQ(thread_names[0]["args"]["name"], "thread 70, lane 1");
  EXPECT_EQ(thread_names[1]["args"]["name"], "thread 70, lane 2");
}

TEST(ChromeTraceEncoder, LanesAreBounded) {
  std::vector<trace::Span> spans;
  for (std::uint64_t i = 0; i < ChromeTraceEncoder::kMaxLanesPerThread + 5; ++i) {
    spans.push_back(make_span(i + 1, 0, 7, 70, i, 1000 + i));  // each overlaps all others
  }
  const auto complete = events_with(encode(spans), "X");
  const std::uint32_t last_lane =
      70 + static_cast<std::uint32_t>(ChromeTraceEncoder::kMaxLanesPerThread - 1) * ChromeTraceEncoder::kLaneTidStride;
  EXPECT_EQ(complete.back()["tid"], last_lane);
}

// The flow pair that draws an arrow to `child_id`, checked for consistency.
std::pair<json, json> flow_to(const json& trace, std::string_view child_id) {
  json start, finish;
  for (const auto& event : trace) {
    if (event.value("id", "") != child_id) continue;
    if (event["ph"] == "s") start = event;
    if (event["ph"] == "f") finish = event;
  }
  return {start, finish};
}

TEST(ChromeTraceEncoder, ArrowLinksAClientToTheServerSpanItCausedInAnotherProcess) {
  // checkout (pid 100) calls payments (pid 200); the client span is the server span's parent.
  const trace::Span client = make_span(0xc1, 0, 100, 101, 1000, 1900, trace::SpanKind::Client);
  const trace::Span server = make_span(0x5e, 0xc1, 200, 201, 1200, 1800);
  for (const auto& order : {std::vector{client, server}, std::vector{server, client}}) {
    const json trace = encode(order);
    const auto [start, finish] = flow_to(trace, "000000000000005e");
    ASSERT_FALSE(start.is_null()) << trace.dump(1);
    ASSERT_FALSE(finish.is_null()) << trace.dump(1);
    EXPECT_EQ(start["pid"], 100);
    EXPECT_EQ(start["tid"], 101);
    EXPECT_DOUBLE_EQ(start["ts"].get<double>(), 1200.0);  // leaves the client where the server starts
    EXPECT_EQ(finish["pid"], 200);
    EXPECT_EQ(finish["tid"], 201);
    EXPECT_EQ(finish["bp"], "e");
    EXPECT_GT(finish["ts"].get<double>(), 1200.0);  // strictly inside the server span
    EXPECT_LT(finish["ts"].get<double>(), 1800.0);
    EXPECT_EQ(start["cat"], finish["cat"]);
    EXPECT_EQ(start["name"], finish["name"]);
    EXPECT_EQ(events_with(trace, "s").size(), 1u);
    EXPECT_EQ(events_with(trace, "f").size(), 1u);
  }
}

TEST(ChromeTraceEncoder, ArrowEndsStayInsideShortAndSkewedSpans) {
  // The child starts before its parent (clocks of two hosts, or a 0-length parent).
  const trace::Span parent = make_span(1, 0, 100, 100, 500, 500, trace::SpanKind::Client);
  const trace::Span child = make_span(2, 1, 200, 200, 400, 401);
  const auto [start, finish] = flow_to(encode({parent, child}), "0000000000000002");
  EXPECT_DOUBLE_EQ(start["ts"].get<double>(), 500.0);
  EXPECT_DOUBLE_EQ(finish["ts"].get<double>(), 400.5);
}

TEST(ChromeTraceEncoder, ParentNeverSeenDrawsNoArrow) {
  const trace::Span orphan = make_span(2, 0x99, 200, 200, 0, 10);
  const json trace = encode({orphan, make_span(3, 0, 200, 200, 20, 30)});
  EXPECT_TRUE(events_with(trace, "s").empty());
  EXPECT_TRUE(events_with(trace, "f").empty());
}

trace::Link link_to(std::uint64_t id, std::uint8_t trace_last_byte) {
  trace::Link link;
  link.trace_id[0] = 0x7a;
  link.trace_id[15] = trace_last_byte;
  link.span_id = span_id(id);
  return link;
}

std::vector<json> flow_events(const json& trace, std::string_view category) {
  std::vector<json> found;
  for (const auto& event : trace) {
    if ((event["ph"] == "s" || event["ph"] == "f") && event["cat"] == category) found.push_back(event);
  }
  return found;
}

TEST(ChromeTraceEncoder, LinksAreListedInArgs) {
  trace::Span span = make_span(0xc0, 0, 300, 301, 0, 10, trace::SpanKind::Consumer);
  span.links = {link_to(0xa1, 0x01), link_to(0xa2, 0x02)};
  span.dropped_links = 4;
  const auto complete = events_with(encode({span}), "X");
  ASSERT_EQ(complete.size(), 1u);
  EXPECT_EQ(complete[0]["args"]["links"], json({"7a000000000000000000000000000001/00000000000000a1",
                                                "7a000000000000000000000000000002/00000000000000a2"}));
  EXPECT_EQ(complete[0]["args"]["dropped_links_count"], 4);
}

TEST(ChromeTraceEncoder, ArrowLeadsFromALinkedSpanToTheSpanLinkingIt) {
  // A producer (pid 100, its own trace) sent what a consumer (pid 300, another trace) polled.
  const trace::Span producer = make_span(0xa1, 0, 100, 101, 1000, 1100, trace::SpanKind::Producer);
  trace::Span consumer = make_span(0xc0, 0, 300, 301, 2000, 2500, trace::SpanKind::Consumer);
  consumer.links = {link_to(0xa1, 0x01)};
  for (const auto& order : {std::vector{producer, consumer}, std::vector{consumer, producer}}) {
    const json trace = encode(order);
    const auto flows = flow_events(trace, "zerotrace.link");
    ASSERT_EQ(flows.size(), 2u) << trace.dump(1);
    const json& start = flows[0]["ph"] == "s" ? flows[0] : flows[1];
    const json& finish = flows[0]["ph"] == "s" ? flows[1] : flows[0];
    EXPECT_EQ(start["ph"], "s");
    EXPECT_EQ(finish["ph"], "f");
    EXPECT_EQ(start["id"], finish["id"]);
    EXPECT_EQ(start["name"], "link");
    EXPECT_EQ(finish["name"], "link");
    EXPECT_EQ(start["pid"], 100);  // leaves the linked span...
    EXPECT_EQ(start["tid"], 101);
    EXPECT_GT(start["ts"].get<double>(), 1000.0);  // ...from inside it
    EXPECT_LT(start["ts"].get<double>(), 1100.0);
    EXPECT_EQ(finish["pid"], 300);  // ...and enters the linking span just after its start
    EXPECT_EQ(finish["tid"], 301);
    EXPECT_EQ(finish["bp"], "e");
    EXPECT_GT(finish["ts"].get<double>(), 2000.0);
    EXPECT_LT(finish["ts"].get<double>(), 2500.0);
    EXPECT_TRUE(flow_events(trace, "zerotrace").empty());  // no parent arrow: both are roots
  }
}

TEST(ChromeTraceEncoder, EveryLinkArrowHasItsOwnIdAndNestingDoesNotHideIt) {
  // The consumer links to two producers; one of them is its own parent, on its own track.
  const trace::Span parent = make_span(0xa1, 0, 100, 100, 0, 1000, trace::SpanKind::Producer);
  const trace::Span other = make_span(0xa2, 0, 200, 200, 0, 1000, trace::SpanKind::Producer);
  trace::Span consumer = make_span(0xc0, 0xa1, 100, 100, 100, 200, trace::SpanKind::Consumer);
  consumer.links = {link_to(0xa1, 0x36), link_to(0xa2, 0x36), link_to(0xc0, 0x36) /* itself: no arrow */};
  const json trace = encode({parent, other, consumer});
  const auto flows = flow_events(trace, "zerotrace.link");
  ASSERT_EQ(flows.size(), 4u) << trace.dump(1);
  std::set<std::string> ids;
  for (const auto& flow : flows) ids.insert(flow["id"].get<std::string>());
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_TRUE(flow_events(trace, "zerotrace").empty());  // the parent arrow is left out as before
}

TEST(ChromeTraceEncoder, LinkedSpanNeverSeenDrawsNoArrow) {
  trace::Span consumer = make_span(0xc0, 0, 300, 301, 0, 10, trace::SpanKind::Consumer);
  consumer.links = {link_to(0x99, 0x01)};
  const json trace = encode({consumer, make_span(3, 0, 300, 301, 20, 30)});
  EXPECT_TRUE(events_with(trace, "s").empty());
  EXPECT_TRUE(events_with(trace, "f").empty());
}

class ChromeTraceExporterFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("zt_chrome_test_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".json"))
                .string();
    std::filesystem::remove(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  std::string read() const {
    std::ifstream in(path_);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  std::string path_;
};

TEST_F(ChromeTraceExporterFileTest, WritesAValidArrayAsSpansArriveAndClosesItAtShutdown) {
  auto exporter = make_exporter("chrome=" + path_, ExporterOptions{});
  ASSERT_TRUE(exporter) << exporter.error().message;
  EXPECT_EQ(exporter.value()->name(), "chrome");

  exporter.value()->export_spans({make_span(1, 0, 100, 100, 0, 10), make_span(2, 0, 100, 100, 20, 30)});
  exporter.value()->export_spans({});
  exporter.value()->export_spans({make_span(3, 0, 200, 200, 40, 50)});

  // As a killed agent leaves it: no closing bracket. chrome://tracing adds it; Perfetto needs none.
  const std::string unterminated = read();
  EXPECT_EQ(unterminated.front(), '[');
  EXPECT_FALSE(json::accept(unterminated));
  const json recovered = json::parse(unterminated + "]");
  EXPECT_EQ(events_with(recovered, "X").size(), 3u);

  exporter.value()->shutdown();
  exporter.value()->shutdown();
  exporter.value()->export_spans({make_span(4, 0, 100, 100, 60, 70)});  // dropped after shutdown
  const std::string text = read();
  const json trace = json::parse(text);
  EXPECT_EQ(events_with(trace, "X").size(), 3u);
  EXPECT_EQ(events_with(trace, "M").size(), 2u);
  EXPECT_EQ(text.substr(0, 2), "[\n");
  EXPECT_EQ(text.substr(text.size() - 3), "\n]\n");
  std::size_t lines = 0;
  for (const char c : text) lines += c == '\n';
  EXPECT_EQ(lines, 2u + 5u) << "one event per line:\n" << text;
}

TEST_F(ChromeTraceExporterFileTest, AnEmptyRunIsAnEmptyArray) {
  { auto exporter = ChromeTraceExporter::open(path_); }
  EXPECT_EQ(json::parse(read()), json::array());
}

TEST_F(ChromeTraceExporterFileTest, ReplacesAnExistingFile) {
  std::ofstream(path_) << "[{\"ph\":\"X\",\"name\":\"old run\"}]\n";
  {
    auto exporter = ChromeTraceExporter::open(path_);
    ASSERT_TRUE(exporter) << exporter.error().message;
    exporter.value()->export_spans({make_span(1, 0, 100, 100, 0, 10)});
  }
  const json trace = json::parse(read());
  const auto complete = events_with(trace, "X");
  ASSERT_EQ(complete.size(), 1u);
  EXPECT_EQ(complete[0]["name"], "span 1");
}

TEST_F(ChromeTraceExporterFileTest, TimestampsCountFromTheSecondTheFileWasOpened) {
  timespec before{};
  ::clock_gettime(CLOCK_REALTIME, &before);
  auto exporter = ChromeTraceExporter::open(path_);
  ASSERT_TRUE(exporter) << exporter.error().message;
  trace::Span span = make_span(1, 0, 100, 100, 0, 10);
  span.start_unix_ns = static_cast<std::uint64_t>(before.tv_sec) * 1'000'000'000ull + 5'000'000'000ull;
  span.end_unix_ns = span.start_unix_ns + 1000;
  exporter.value()->export_spans({span});
  exporter.value()->shutdown();
  const json x = events_with(json::parse(read()), "X").at(0);
  // Opened in the same second as `before`, or (rarely) the next one.
  EXPECT_GE(x["ts"].get<double>(), 4'000'000.0);
  EXPECT_LE(x["ts"].get<double>(), 5'000'000.0);
  EXPECT_DOUBLE_EQ(x["dur"].get<double>(), 1.0);
}

TEST_F(ChromeTraceExporterFileTest, AFailedBatchIsCutOffSoTheFileStaysValid) {
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ChromeTraceExporter exporter(fd, true, kBase);
  exporter.export_spans({make_span(1, 0, 100, 100, 0, 10)});
  // A batch that cannot be written whole, as on a full disk: the file size limit stops it midway.
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &limit), 0);
  const rlimit saved = limit;
  const auto size_now = static_cast<rlim_t>(std::filesystem::file_size(path_));
  limit.rlim_cur = size_now + 100;
  ::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  std::vector<trace::Span> big;
  for (std::uint64_t i = 0; i < 20; ++i) big.push_back(make_span(10 + i, 0, 300, 300, 100 + 10 * i, 105 + 10 * i));
  exporter.export_spans(big);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  ::signal(SIGXFSZ, SIG_DFL);
  EXPECT_EQ(exporter.write_errors(), 1u);
  EXPECT_EQ(std::filesystem::file_size(path_), size_now) << "the half-written batch is cut off";

  exporter.export_spans({make_span(2, 0, 300, 300, 500, 510)});  // writes succeed again
  exporter.shutdown();
  const json trace = json::parse(read());
  const auto complete = events_with(trace, "X");
  ASSERT_EQ(complete.size(), 2u);
  EXPECT_EQ(complete[1]["name"], "span 2");
  bool named_300 = false;
  for (const auto& m : events_with(trace, "M")) named_300 = named_300 || m["args"]["name"] == "svc300 (pid 300)";
  EXPECT_TRUE(named_300) << "the process name lost with the failed batch is written again";
  EXPECT_EQ(exporter.spans_written(), 2u);
}

TEST(ChromeTraceExporter, CountsWriteErrorsWithoutFailing) {
  const int fd = ::open("/dev/full", O_WRONLY);
  ASSERT_GE(fd, 0) << "/dev/full is not available";
  ChromeTraceExporter exporter(fd, true, kBase);
  exporter.export_spans({make_span(1, 0, 100, 100, 0, 10)});
  EXPECT_EQ(exporter.write_errors(), 2u);  // the opening bracket and the batch
  EXPECT_EQ(exporter.spans_written(), 0u);
  exporter.shutdown();
}

TEST(ChromeTraceExporter, MakeExporterReportsWhyAFileCannotBeOpened) {
  auto exporter = make_exporter("chrome=/nonexistent-dir/trace.json", ExporterOptions{});
  ASSERT_FALSE(exporter);
  EXPECT_EQ(exporter.error().message, "chrome: cannot open /nonexistent-dir/trace.json: No such file or directory");

  auto without_file = make_exporter("chrome", ExporterOptions{});
  ASSERT_FALSE(without_file);
  EXPECT_EQ(without_file.error().message,
            "output \"chrome\": chrome needs a FILE; accepted forms: console, console=FILE, jsonl=FILE, "
            "chrome=FILE (FILE \"-\" is standard output), otlp, otlp=ENDPOINT, zipkin, zipkin=URL");
}

}  // namespace
}  // namespace zt::exporters
