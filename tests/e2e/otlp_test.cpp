// The agent on a real workload exporting OTLP to the test receiver (tests/support), with every
// protocol and compression: each span the agent wrote to its JSONL file must arrive over OTLP
// with the same ids, name, kind, times, status, attributes and resource. Also: the collector
// down when the agent starts, and the counters the agent prints on exit.
#include <gtest/gtest.h>

#include <map>

#include "e2e/harness.h"
#include "support/otlp_receiver.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

using testing::OtlpReceiver;
namespace common = opentelemetry::proto::common::v1;

std::string hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) out += {kHex[c >> 4], kHex[c & 0xf]};
  return out;
}

Json any_value(const common::AnyValue& v) {
  switch (v.value_case()) {
    case common::AnyValue::kStringValue: return v.string_value();
    case common::AnyValue::kIntValue: return v.int_value();
    case common::AnyValue::kDoubleValue: return v.double_value();
    case common::AnyValue::kBoolValue: return v.bool_value();
    default: return "<unexpected value kind>";
  }
}

Json key_values(const google::protobuf::RepeatedPtrField<common::KeyValue>& kvs) {
  Json out = Json::object();
  for (const auto& kv : kvs) out[kv.key()] = any_value(kv.value());
  return out;
}

const char* kind_name(int kind) {
  static constexpr const char* kNames[] = {"UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"};
  return kind >= 0 && kind <= 5 ? kNames[kind] : "?";
}

// The OTLP spans received, in the JSONL exporter's shape (docs/span-schema.md), keyed by span id.
std::map<std::string, Json> received_spans(const OtlpReceiver& rx) {
  std::map<std::string, Json> spans;
  for (const auto& r : rx.requests()) {
    if (!r.accepted) continue;
    for (const auto& rs : r.request.resource_spans()) {
      const Json resource = key_values(rs.resource().attributes());
      for (const auto& ss : rs.scope_spans()) {
        EXPECT_EQ(ss.scope().name(), "zerotrace");
        for (const auto& s : ss.spans()) {
          static constexpr const char* kStatus[] = {"UNSET", "OK", "ERROR"};
          Json j = {{"trace_id", hex(s.trace_id())},
                    {"span_id", hex(s.span_id())},
                    {"parent_span_id", hex(s.parent_span_id())},
                    {"name", s.name()},
                    {"kind", kind_name(s.kind())},
                    {"start_time_unix_nano", s.start_time_unix_nano()},
                    {"end_time_unix_nano", s.end_time_unix_nano()},
                    {"status", {{"code", kStatus[s.status().code() % 3]}, {"message", s.status().message()}}},
                    {"attributes", key_values(s.attributes())},
                    {"resource", resource}};
          EXPECT_TRUE(spans.emplace(j["span_id"].get<std::string>(), j).second) << "span sent twice: " << j.dump();
        }
      }
    }
  }
  return spans;
}

struct Case {
  const char* protocol;
  const char* compression;
};

class OtlpE2e : public ::testing::TestWithParam<Case> {};

TEST_P(OtlpE2e, EverySpanArrivesIntact) {
  ZT_REQUIRE_ROOT();
  OtlpReceiver rx;
  const std::string protocol = GetParam().protocol;
  const std::string endpoint = protocol == "grpc" ? rx.grpc_url() : rx.http_url();
  ReadyServer server(ReadyServer::python());
  Agent agent = Agent::attach({server.pid()}, {"-o", "otlp=" + endpoint},
                              {{"OTEL_EXPORTER_OTLP_PROTOCOL", protocol},
                               {"OTEL_EXPORTER_OTLP_COMPRESSION", GetParam().compression},
                               {"OTEL_EXPORTER_OTLP_HEADERS", "x-scope-orgid=tenant-1"},
                               {"OTEL_BSP_SCHEDULE_DELAY", "200"}});
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  const auto curl = run_to_completion({"curl", "-s", "-o", "/dev/null", base + "/users/42", "-o", "/dev/null",
                                       base + "/missing", "-o", "/dev/null", base + "/error", "-o", "/dev/null",
                                       "-X", "POST", "-d", "hello", base + "/echo"});
  ASSERT_EQ(curl.status, 0);
  ASSERT_TRUE(agent.wait_for_spans(4));
  ASSERT_TRUE(rx.wait_for_accepted_spans(4, std::chrono::milliseconds(10000))) << agent.log();
  const auto jsonl = agent.stop();
  const auto otlp = received_spans(rx);
  ASSERT_EQ(jsonl.size(), 4u);
  ASSERT_EQ(otlp.size(), jsonl.size());
  for (Json want : jsonl) {
    const auto it = otlp.find(want["span_id"].get<std::string>());
    ASSERT_NE(it, otlp.end()) << "not received over OTLP: " << want.dump();
    want.erase("duration_ns");  // derived, not an OTLP field
    EXPECT_EQ(it->second, want);
  }
  // The resource names the traced process as the JSONL output does, with service.name first.
  EXPECT_EQ(otlp.begin()->second["resource"]["process.pid"], server.pid());
  const auto requests = rx.requests();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    EXPECT_EQ(r.headers.at("x-scope-orgid"), "tenant-1");
    if (protocol == "grpc") continue;  // the JS receiver test checks gRPC compression (see otlp_receiver.h)
    EXPECT_EQ(r.content_encoding, std::string(GetParam().compression) == "gzip" ? "gzip" : "identity")
        << "request " << i << " of " << requests.size() << " with " << testing::span_count(r.request) << " spans; headers: " << Json(r.headers).dump();
  }
  // The agent accounts for what it sent.
  const auto stats = agent.stats();
  ASSERT_TRUE(stats) << agent.log();
  EXPECT_EQ(stats->get("export.otlp.spans_exported"), 4u) << stats->json.dump();
}

INSTANTIATE_TEST_SUITE_P(Protocols, OtlpE2e,
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

TEST(OtlpE2eFaults, CollectorDownAtStartThenUpLosesNothing) {
  ZT_REQUIRE_ROOT();
  OtlpReceiver rx;
  rx.stop();
  ReadyServer server(ReadyServer::python());
  Agent agent = Agent::attach({server.pid()}, {"-o", "otlp=" + rx.http_url(), "--stats-interval", "0.1"},
                              {{"OTEL_BSP_SCHEDULE_DELAY", "100"}});
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/ping";
  for (int i = 0; i < 5; ++i) ASSERT_EQ(run_to_completion({"curl", "-s", "-o", "/dev/null", url}).status, 0);
  ASSERT_TRUE(agent.wait_for_spans(5));
  ASSERT_TRUE(agent.wait_for_stat("export.otlp.retries", 1)) << agent.log();  // a failed attempt, to be retried
  rx.start();
  ASSERT_TRUE(rx.wait_for_accepted_spans(5, std::chrono::milliseconds(15000))) << agent.log();
  agent.stop();
  EXPECT_EQ(received_spans(rx).size(), 5u);
  const auto stats = agent.stats();
  ASSERT_TRUE(stats) << agent.log();
  EXPECT_EQ(stats->get("export.otlp.spans_exported"), 5u) << stats->json.dump();
  EXPECT_EQ(stats->get("export.otlp.spans_dropped"), 0u) << stats->json.dump();
  EXPECT_EQ(stats->get("export.otlp.spans_failed"), 0u) << stats->json.dump();
  EXPECT_GE(stats->get("export.otlp.retries"), 1u) << stats->json.dump();
}

TEST(OtlpE2eFaults, BadOtlpSettingIsAOneLineError) {
  ZT_REQUIRE_ROOT();
  ReadyServer server(ReadyServer::python());
  Subprocess agent({agent_binary(), "attach", "--pid", std::to_string(server.pid()), "-o", "otlp"},
                   SubprocessOptions{.env = {{"OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"}}});
  const auto status = agent.wait(std::chrono::milliseconds(10000));
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(*status, 0);
  EXPECT_NE(agent.output(Stream::Err).find("protocol: expected grpc, http/protobuf or http/json, got \"thrift\""),
            std::string::npos)
      << agent.output(Stream::Err);
}

}  // namespace
}  // namespace zt::e2e
