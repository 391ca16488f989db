// Independent decoding: the agent's OTLP output, over every protocol and compression, decoded by a
// receiver built on OpenTelemetry JS's own generated protobuf code (tests/js/otlp_receiver.js),
// must say exactly what the agent's JSONL output says. A mistake in our hand-written schema
// (a field number, a wire type, a JSON name) cannot hide from it.
#include <gtest/gtest.h>

#include <filesystem>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

Json any_value(const Json& v) {
  if (v.contains("stringValue")) return v["stringValue"];
  if (v.contains("intValue")) return std::stoll(v["intValue"].get<std::string>());
  if (v.contains("doubleValue")) return v["doubleValue"];
  if (v.contains("boolValue")) return v["boolValue"];
  return "<unexpected value kind: " + v.dump() + ">";
}

Json key_values(const Json& list) {
  Json out = Json::object();
  for (const auto& kv : list) out[kv["key"].get<std::string>()] = any_value(kv["value"]);
  return out;
}

struct Case {
  const char* protocol;
  const char* compression;
};

class OtlpIndependentDecoding : public ::testing::TestWithParam<Case> {};

TEST_P(OtlpIndependentDecoding, OpenTelemetryJsDecodesWhatTheAgentSends) {
  ZT_REQUIRE_ROOT();
  ASSERT_TRUE(std::filesystem::exists(js_dir() / "node_modules" / "@opentelemetry" / "otlp-transformer"))
      << "tests/js/node_modules is missing: run scripts/setup.sh (it runs npm ci there)";
  const std::string protocol = GetParam().protocol;
  const bool gzip = std::string(GetParam().compression) == "gzip";
  JsReceiver rx;
  ReadyServer server(ReadyServer::python());
  Agent agent = Agent::attach({server.pid()}, {"-o", "otlp=" + rx.url(protocol == "grpc")},
                              {{"OTEL_EXPORTER_OTLP_PROTOCOL", protocol},
                               {"OTEL_EXPORTER_OTLP_COMPRESSION", GetParam().compression},
                               {"OTEL_BSP_SCHEDULE_DELAY", "200"}});
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  ASSERT_EQ(run_to_completion({"curl", "-s", "-o", "/dev/null", base + "/users/7", "-o", "/dev/null",
                               base + "/error", "-o", "/dev/null", "-H", "traceparent: "
                               "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", base + "/missing"})
                .status,
            0);
  ASSERT_TRUE(agent.wait_for_spans(3));
  ASSERT_TRUE(poll_until([&] { return rx.spans().size() >= 3; }, Millis(10000)))
      << rx.log() << agent.log();
  const auto jsonl = agent.stop();

  std::map<std::string, Json> decoded;
  for (const auto& r : rx.requests()) {
    ASSERT_FALSE(r.contains("error")) << r.dump();
    EXPECT_EQ(r["transport"], protocol == "grpc" ? "grpc" : "http");
    EXPECT_EQ(r["content_encoding"], gzip ? "gzip" : "identity");
    EXPECT_EQ(r["unknown_fields"], Json::array()) << "fields the OpenTelemetry schema does not have";
    if (protocol != "grpc") {
      EXPECT_EQ(r["content_type"], protocol == "http/json" ? "application/json" : "application/x-protobuf");
    }
    for (const auto& rs : r["request"]["resourceSpans"]) {
      const Json resource = key_values(rs["resource"]["attributes"]);
      for (const auto& ss : rs["scopeSpans"]) {
        EXPECT_EQ(ss["scope"]["name"], "zerotrace");
        for (const auto& s : ss["spans"]) decoded[s["spanId"].get<std::string>()] = {{"span", s}, {"resource", resource}};
      }
    }
  }
  ASSERT_EQ(jsonl.size(), 3u);
  ASSERT_EQ(decoded.size(), 3u);
  static const std::map<std::string, int> kKinds = {{"INTERNAL", 1}, {"SERVER", 2}, {"CLIENT", 3}};
  static const std::map<std::string, int> kStatus = {{"UNSET", 0}, {"OK", 1}, {"ERROR", 2}};
  for (const auto& want : jsonl) {
    const auto it = decoded.find(want["span_id"].get<std::string>());
    ASSERT_NE(it, decoded.end()) << want.dump();
    const Json& got = it->second["span"];
    EXPECT_EQ(got["traceId"], want["trace_id"]);
    EXPECT_EQ(got["parentSpanId"], want["parent_span_id"]);
    EXPECT_EQ(got["name"], want["name"]);
    EXPECT_EQ(got["kind"], kKinds.at(want["kind"].get<std::string>()));
    EXPECT_EQ(got["startTimeUnixNano"], std::to_string(want["start_time_unix_nano"].get<std::uint64_t>()));
    EXPECT_EQ(got["endTimeUnixNano"], std::to_string(want["end_time_unix_nano"].get<std::uint64_t>()));
    EXPECT_EQ(got["status"]["code"], kStatus.at(want["status"]["code"].get<std::string>()));
    EXPECT_EQ(got["status"]["message"], want["status"]["message"]);
    EXPECT_EQ(key_values(got["attributes"]), want["attributes"]);
    EXPECT_EQ(it->second["resource"], want["resource"]);
    // Sampled, and for the request that carried a traceparent: the parent is remote (bits 8, 9).
    EXPECT_EQ(got["flags"], want["parent_span_id"] == "" ? 0x01 : 0x301) << got.dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Protocols, OtlpIndependentDecoding,
                         ::testing::Values(Case{"grpc", "none"}, Case{"grpc", "gzip"}, Case{"http/protobuf", "none"},
                                           Case{"http/protobuf", "gzip"}, Case{"http/json", "none"},
                                           Case{"http/json", "gzip"}),
                         [](const auto& param_info) {
                           std::string name = std::string(param_info.param.protocol) + "_" +
                                              param_info.param.compression;
                           for (auto& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace zt::e2e
