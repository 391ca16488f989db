#include "exporters/jsonl_exporter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

namespace zt::exporters {
namespace {

using nlohmann::json;

trace::Span sample_span() {
  trace::Span span;
  for (std::uint8_t i = 0; i < 16; ++i) span.trace_id[i] = static_cast<std::uint8_t>(0x10 + i);
  for (std::uint8_t i = 0; i < 8; ++i) span.span_id[i] = static_cast<std::uint8_t>(0xa0 + i);
  for (std::uint8_t i = 0; i < 8; ++i) span.parent_span_id[i] = static_cast<std::uint8_t>(0xb0 + i);
  span.name = "GET /users/{id}";
  span.kind = trace::SpanKind::Server;
  span.start_unix_ns = 1'714'564'800'123'456'789ull;
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
  resource->attributes = {{"service.name", std::string("checkout")},
                          {"process.pid", std::int64_t{4242}},
                          {"host.name", std::string("node-1")}};
  span.resource = resource;
  span.tid = 99;
  return span;
}

TEST(SpanToJsonLine, WritesEveryFieldOfTheSchema) {
  const std::string line = span_to_json_line(sample_span());
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const json j = json::parse(line);

  EXPECT_EQ(j.size(), 11u);
  EXPECT_EQ(j["trace_id"], "101112131415161718191a1b1c1d1e1f");
  EXPECT_EQ(j["span_id"], "a0a1a2a3a4a5a6a7");
  EXPECT_EQ(j["parent_span_id"], "b0b1b2b3b4b5b6b7");
  EXPECT_EQ(j["name"], "GET /users/{id}");
  EXPECT_EQ(j["kind"], "SERVER");
  EXPECT_EQ(j["start_time_unix_nano"].get<std::uint64_t>(), 1'714'564'800'123'456'789ull);
  EXPECT_EQ(j["end_time_unix_nano"].get<std::uint64_t>(), 1'714'564'800'135'802'467ull);
  EXPECT_EQ(j["duration_ns"].get<std::uint64_t>(), 12'345'678u);
  EXPECT_EQ(j["status"], json({{"code", "ERROR"}, {"message", "upstream timed out"}}));
  EXPECT_EQ(
      j["attributes"],
      json({{"http.request.method", "GET"}, {"http.response.status_code", 504}, {"server.load", 0.75}, {"tls", true}}));
  EXPECT_TRUE(j["attributes"]["http.response.status_code"].is_number_integer());
  EXPECT_TRUE(j["attributes"]["server.load"].is_number_float());
  EXPECT_TRUE(j["attributes"]["tls"].is_boolean());
  EXPECT_EQ(j["resource"], json({{"service.name", "checkout"}, {"process.pid", 4242}, {"host.name", "node-1"}}));
}

TEST(SpanToJsonLine, KeepsTheDocumentedFieldOrder) {
  const std::string line = span_to_json_line(sample_span());
  const char* fields[] = {"\"trace_id\"",
                          "\"span_id\"",
                          "\"parent_span_id\"",
                          "\"name\"",
                          "\"kind\"",
                          "\"start_time_unix_nano\"",
                          "\"end_time_unix_nano\"",
                          "\"duration_ns\"",
                          "\"status\"",
                          "\"attributes\"",
                          "\"resource\""};
  std::size_t previous = 0;
  for (const char* field : fields) {
    const std::size_t at = line.find(field);
    ASSERT_NE(at, std::string::npos) << field;
    EXPECT_GE(at, previous) << field;
    previous = at;
  }
  EXPECT_EQ(line.rfind("{\"trace_id\":", 0), 0u) << line;
}

TEST(SpanToJsonLine, RootSpanHasAnEmptyParentAndEmptyObjects) {
  trace::Span span;
  span.kind = trace::SpanKind::Client;
  span.start_unix_ns = 10;
  span.end_unix_ns = 5;  // clock skew must not wrap around
  const json j = json::parse(span_to_json_line(span));
  EXPECT_EQ(j["parent_span_id"], "");
  EXPECT_EQ(j["kind"], "CLIENT");
  EXPECT_EQ(j["duration_ns"], 0);
  EXPECT_EQ(j["status"], json({{"code", "UNSET"}, {"message", ""}}));
  EXPECT_TRUE(j["attributes"].is_object() && j["attributes"].empty());
  EXPECT_TRUE(j["resource"].is_object() && j["resource"].empty());
  EXPECT_FALSE(j.contains("links"));  // only spans with links have them
  EXPECT_FALSE(j.contains("dropped_links_count"));
}

TEST(SpanToJsonLine, WritesLinksAndTheDroppedLinkCount) {
  trace::Span span = sample_span();
  trace::Link remote;
  for (std::uint8_t i = 0; i < 16; ++i) remote.trace_id[i] = static_cast<std::uint8_t>(0x40 + i);
  for (std::uint8_t i = 0; i < 8; ++i) remote.span_id[i] = static_cast<std::uint8_t>(0x60 + i);
  remote.trace_state = "congo=t61rcWkgMzE";
  remote.attributes = {{"zerotrace.link.source", std::string("kafka")}, {"messaging.kafka.offset", std::int64_t{42}}};
  trace::Link local;
  local.trace_id = span.trace_id;
  for (std::uint8_t i = 0; i < 8; ++i) local.span_id[i] = static_cast<std::uint8_t>(0x80 + i);
  local.trace_flags = 0;
  local.is_remote = false;
  span.links = {remote, local};
  span.dropped_links = 5;

  const std::string line = span_to_json_line(span);
  const json j = json::parse(line);
  EXPECT_EQ(j.size(), 13u);
  ASSERT_TRUE(j["links"].is_array());
  ASSERT_EQ(j["links"].size(), 2u);
  EXPECT_EQ(j["links"][0], json({{"trace_id", "404142434445464748494a4b4c4d4e4f"},
                                 {"span_id", "6061626364656667"},
                                 {"trace_state", "congo=t61rcWkgMzE"},
                                 {"trace_flags", 1},
                                 {"is_remote", true},
                                 {"attributes", {{"zerotrace.link.source", "kafka"}, {"messaging.kafka.offset", 42}}}}));
  EXPECT_EQ(j["links"][1], json({{"trace_id", "101112131415161718191a1b1c1d1e1f"},
                                 {"span_id", "8081828384858687"},
                                 {"trace_flags", 0},
                                 {"is_remote", false},
                                 {"attributes", json::object()}}));
  EXPECT_EQ(j["dropped_links_count"], 5);
  // Between the span's attributes and its resource, link fields in the order written above.
  const std::size_t attributes = line.find("\"attributes\"");
  const std::size_t links = line.find("\"links\"");
  const std::size_t dropped = line.find("\"dropped_links_count\"");
  const std::size_t resource = line.find("\"resource\"");
  EXPECT_LT(attributes, links);
  EXPECT_LT(links, dropped);
  EXPECT_LT(dropped, resource);
  EXPECT_NE(line.find(R"({"trace_id":"4041)"), std::string::npos) << line;
}

TEST(SpanToJsonLine, LinkTraceStateFromCapturedBytesStaysValidJson) {
  trace::Span span;
  trace::Link link;
  link.trace_state = "k=\xff\"v";
  span.links = {link};
  const json j = json::parse(span_to_json_line(span));
  EXPECT_EQ(j["links"][0]["trace_state"], "k=\xef\xbf\xbd\"v");
  EXPECT_FALSE(j.contains("dropped_links_count"));
}

TEST(SpanToJsonLine, FillsResourceFromTheStructFieldsWhenAttributesLackThem) {
  trace::Span span;
  auto resource = std::make_shared<trace::Resource>();
  resource->pid = 7;
  resource->service_name = "db";
  span.resource = resource;
  const json j = json::parse(span_to_json_line(span));
  EXPECT_EQ(j["resource"], json({{"service.name", "db"}, {"process.pid", 7}}));
}

TEST(SpanToJsonLine, ReplacesInvalidUtf8WithTheReplacementCharacter) {
  trace::Span span;
  span.name = "GET /caf\xc3\xa9";
  span.status_message = "bad \xc3";
  span.attributes = {{"http.request.header.x-raw", std::string("a\xff"
                                                               "b\xc0\xaf"
                                                               "c")},
                     {"key\xfe", std::string("v")},
                     {"ctl", std::string("line\nbreak\x01\"q\"")}};

  const std::string line = span_to_json_line(span);
  const json j = json::parse(line);  // throws, failing the test, on invalid UTF-8

  EXPECT_EQ(j["name"], "GET /caf\xc3\xa9");
  EXPECT_EQ(j["status"]["message"], "bad \xef\xbf\xbd");
  const std::string raw = j["attributes"]["http.request.header.x-raw"];
  EXPECT_EQ(raw.substr(0, 1), "a");
  EXPECT_NE(raw.find("\xef\xbf\xbd"), std::string::npos);
  EXPECT_EQ(raw.find('\xff'), std::string::npos);
  EXPECT_EQ(raw.find('\xc0'), std::string::npos);
  EXPECT_TRUE(j["attributes"].contains("key\xef\xbf\xbd"));
  EXPECT_EQ(j["attributes"]["ctl"], "line\nbreak\x01\"q\"");
  EXPECT_NE(line.find("line\\nbreak\\u0001\\\"q\\\""), std::string::npos) << line;
}

TEST(SpanToJsonLine, NonFiniteDoublesBecomeNull) {
  trace::Span span;
  span.attributes = {{"nan", std::numeric_limits<double>::quiet_NaN()},
                     {"inf", std::numeric_limits<double>::infinity()}};
  const json j = json::parse(span_to_json_line(span));
  EXPECT_TRUE(j["attributes"]["nan"].is_null());
  EXPECT_TRUE(j["attributes"]["inf"].is_null());
}

class JsonlExporterFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("zt_jsonl_test_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".jsonl"))
                .string();
    std::filesystem::remove(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  std::vector<json> read_lines() const {
    std::ifstream in(path_);
    std::vector<json> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    return lines;
  }

  std::string path_;
};

TEST_F(JsonlExporterFileTest, WritesOneLinePerSpanVisibleAfterEachBatch) {
  auto exporter = JsonlExporter::open(path_);
  ASSERT_TRUE(exporter) << exporter.error().message;
  trace::Span first = sample_span();
  trace::Span second = sample_span();
  second.name = "second";
  second.kind = trace::SpanKind::Consumer;

  exporter.value()->export_spans({first, second});
  auto lines = read_lines();  // no flush() call: each batch is flushed
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["name"], "GET /users/{id}");
  EXPECT_EQ(lines[1]["name"], "second");
  EXPECT_EQ(lines[1]["kind"], "CONSUMER");

  exporter.value()->export_spans({});
  exporter.value()->export_spans({first});
  EXPECT_EQ(read_lines().size(), 3u);
  EXPECT_EQ(exporter.value()->spans_written(), 3u);
  EXPECT_EQ(exporter.value()->write_errors(), 0u);
}

TEST_F(JsonlExporterFileTest, AppendsToAnExistingFile) {
  std::ofstream(path_) << "{\"existing\":true}\n";
  {
    auto exporter = JsonlExporter::open(path_);
    ASSERT_TRUE(exporter) << exporter.error().message;
    exporter.value()->export_spans({sample_span()});
  }
  const auto lines = read_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["existing"], true);
  EXPECT_EQ(lines[1]["span_id"], "a0a1a2a3a4a5a6a7");
}

TEST_F(JsonlExporterFileTest, ShutdownIsIdempotentAndLaterSpansAreDropped) {
  auto exporter = JsonlExporter::open(path_);
  ASSERT_TRUE(exporter) << exporter.error().message;
  exporter.value()->export_spans({sample_span()});
  exporter.value()->shutdown();
  exporter.value()->shutdown();
  exporter.value()->export_spans({sample_span()});
  exporter.value()->flush();
  EXPECT_EQ(read_lines().size(), 1u);
  EXPECT_EQ(exporter.value()->spans_written(), 1u);
}

TEST(JsonlExporter, CountsWriteErrorsWithoutFailing) {
  std::FILE* full = std::fopen("/dev/full", "w");
  if (full == nullptr) GTEST_SKIP() << "/dev/full is not available";
  JsonlExporter exporter(full, true);
  exporter.export_spans({sample_span()});
  exporter.export_spans({sample_span(), sample_span()});
  EXPECT_EQ(exporter.write_errors(), 2u);
  EXPECT_EQ(exporter.spans_written(), 0u);
  exporter.shutdown();
}

TEST(JsonlExporter, OpenReportsWhyAFileCannotBeOpened) {
  auto exporter = JsonlExporter::open("/nonexistent-dir/x.jsonl");
  ASSERT_FALSE(exporter);
  EXPECT_EQ(exporter.error().message, "jsonl: cannot open /nonexistent-dir/x.jsonl: No such file or directory");
}

}  // namespace
}  // namespace zt::exporters
