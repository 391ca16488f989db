// `zerotrace run --config FILE`: node mode selects processes by rule, at start and at exec.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

std::filesystem::path write_config(const TempDir& dir, const std::string& yaml) {
  auto path = dir / "zerotrace.yaml";
  std::ofstream(path) << yaml;
  return path;
}

std::set<std::int64_t> pids_of(const std::vector<Json>& spans) {
  std::set<std::int64_t> pids;
  for (const auto& s : spans) pids.insert(s["resource"]["process.pid"].get<std::int64_t>());
  return pids;
}

TEST(Run, PortRuleSelectsOnlyTheServerListeningThere) {
  ZT_REQUIRE_ROOT();
  ReadyServer chosen(ReadyServer::python());
  ReadyServer other(ReadyServer::python());
  TempDir dir;
  const auto config =
      write_config(dir, "select:\n  - port: " + std::to_string(chosen.port()) + "\noutputs: [console]\n");
  Agent agent = Agent::run(config, std::regex("selecting processes by 1 rule"));
  EXPECT_NE(agent.log().find("tracing pid " + std::to_string(chosen.pid())), std::string::npos) << agent.log();

  ASSERT_EQ(run_to_completion({"curl", "-s", "-o", "/dev/null", chosen.url("/users/1")}).status, 0);
  ASSERT_EQ(run_to_completion({"curl", "-s", "-o", "/dev/null", other.url("/users/2")}).status, 0);
  ASSERT_EQ(run_to_completion({"curl", "-s", "-o", "/dev/null", chosen.url("/users/3")}).status, 0);
  ASSERT_TRUE(agent.wait_for_spans(2));
  const auto spans = agent.stop();

  // Only the chosen server; curl matches no rule, so no CLIENT spans either.
  ASSERT_EQ(spans.size(), 2u) << agent.log();
  EXPECT_EQ(pids_of(spans), (std::set<std::int64_t>{chosen.pid()}));
  for (const auto& s : spans) {
    EXPECT_EQ(s["kind"], "SERVER");
    EXPECT_EQ(s["name"], "GET /users/{id}");
    EXPECT_EQ(attr(s, "server.port"), chosen.port());
  }
}

TEST(Run, ExecutableRuleSelectsAProcessStartedAfterTheAgent) {
  ZT_REQUIRE_ROOT();
  TempDir dir;
  const auto config = write_config(dir, "select:\n  - exe_name: \"node\"\n");
  Agent agent = Agent::run(config, std::regex("selecting processes by 1 rule"));

  // Started after the agent: selected at its exec, before it serves anything.
  ReadyServer server(ReadyServer::node());
  ASSERT_TRUE(poll_until([&] { return agent.log().find("tracing pid " + std::to_string(server.pid())) != std::string::npos; },
                         Millis(5000)))
      << agent.log();
  ASSERT_EQ(run_to_completion({"curl", "-s", "-o", "/dev/null", server.url("/health")}).status, 0);
  ASSERT_TRUE(agent.wait_for_spans(1));
  const auto spans = agent.stop();
  ASSERT_EQ(spans.size(), 1u) << agent.log();
  EXPECT_EQ(spans[0]["kind"], "SERVER");
  EXPECT_EQ(spans[0]["resource"]["process.pid"], server.pid());
  EXPECT_EQ(spans[0]["resource"]["process.executable.name"], "node");
}

TEST(Run, BadConfigValueFailsWithOneLineNamingTheKey) {
  TempDir dir;
  const auto config = write_config(dir, "select:\n  - port: http\n");
  const auto r = run_to_completion({agent_binary(), "run", "--config", config.string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("select[0].port"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace zt::e2e
