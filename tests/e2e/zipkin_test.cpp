// The Zipkin exporter on a real workload: spans POSTed as Zipkin v2 JSON to /api/v2/spans (a
// stand-in server, tests/workloads/zipkin_sink.py: no Zipkin server is packaged for Debian),
// matching the agent's JSONL output; a 503 with Retry-After is retried and nothing is lost.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

TEST(Zipkin, SpansArriveAsZipkinV2AfterARetry) {
  ZT_REQUIRE_ROOT();
  Subprocess sink({python3(), workload("zipkin_sink.py"), "1"});
  const auto ready = sink.wait_for_line(Stream::Out, std::regex("^READY [0-9]+"));
  ASSERT_TRUE(ready.has_value()) << sink.output(Stream::Err);
  const std::string url = "http://127.0.0.1:" + ready->substr(6);

  ReadyServer server(ReadyServer::python());
  Agent agent = Agent::attach({server.pid()}, {"-o", "zipkin=" + url}, {{"OTEL_BSP_SCHEDULE_DELAY", "100"}});
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  ASSERT_EQ(run_to_completion({"curl", "-s", "-o", "/dev/null", base + "/users/3", "-o", "/dev/null", base + "/error"})
                .status,
            0);
  ASSERT_TRUE(agent.wait_for_spans(2));
  ASSERT_TRUE(poll_until([&] { return sink.output(Stream::Out).find("\"answered\": 202") != std::string::npos; },
                         Millis(10000)))
      << agent.log();
  const auto jsonl = agent.stop();
  std::vector<Json> zipkin;
  std::istringstream lines(sink.output(Stream::Out));
  int refused = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("READY")) continue;
    const Json request = Json::parse(line);
    EXPECT_EQ(request["path"], "/api/v2/spans");
    if (request["answered"] == 503) {
      ++refused;
      continue;
    }
    EXPECT_EQ(request["content_type"], "application/json");
    for (const auto& s : request["spans"]) zipkin.push_back(s);
  }
  EXPECT_EQ(refused, 1);
  ASSERT_EQ(jsonl.size(), 2u);
  ASSERT_EQ(zipkin.size(), 2u);  // the refused batch was sent again, once
  for (const auto& want : jsonl) {
    const auto it = std::find_if(zipkin.begin(), zipkin.end(), [&](const Json& z) { return z["id"] == want["span_id"]; });
    ASSERT_NE(it, zipkin.end()) << want.dump();
    EXPECT_EQ((*it)["traceId"], want["trace_id"]);
    EXPECT_EQ((*it)["name"], want["name"]);
    EXPECT_EQ((*it)["kind"], "SERVER");
    EXPECT_EQ((*it)["timestamp"], want["start_time_unix_nano"].get<std::uint64_t>() / 1000);
    EXPECT_EQ((*it)["localEndpoint"]["serviceName"], want["resource"]["service.name"]);
    EXPECT_EQ((*it)["tags"]["http.response.status_code"],
              std::to_string(want["attributes"]["http.response.status_code"].get<int>()));
    EXPECT_EQ((*it)["tags"].contains("error"), want["status"]["code"] == "ERROR");
  }
  const auto stats = agent.stats();
  ASSERT_TRUE(stats) << agent.log();
  EXPECT_EQ(stats->get("export.zipkin.spans_exported"), 2u) << stats->json.dump();
  EXPECT_EQ(stats->get("export.zipkin.retries"), 1u) << stats->json.dump();
}

}  // namespace
}  // namespace zt::e2e
