// `zerotrace exec`: the command is traced from its first instruction, the agent ends with it and
// exits with its status, and stopping the agent stops the command.
#include <signal.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <regex>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

pid_t traced_command_pid(const Agent& agent) {
  std::smatch m;
  const std::string log = agent.log();
  if (!std::regex_search(log, m, std::regex(R"(zerotrace I tracing \S+ \(pid (\d+)\))"))) return -1;
  return std::stoi(m[1]);
}

bool process_gone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

TEST(Exec, ServerTracedFromTheStartAgentEndsWithIt) {
  ZT_REQUIRE_ROOT();
  const std::uint16_t port = free_port();
  const TimeWindow window_start{unix_now_ns()};
  // "python3" as PATH has it: under pyenv a shell script that execs more programs before python.
  Agent agent = Agent::exec({"python3", workload("http_server.py"), std::to_string(port)});
  const pid_t server = traced_command_pid(agent);
  ASSERT_GT(server, 0) << agent.log();
  // The command inherits the agent's stdout.
  ASSERT_TRUE(agent.process().wait_for_line(Stream::Out, "READY " + std::to_string(port))) << agent.log();
  const ProcessFacts facts = process_facts(server);

  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  const auto curl = run_to_completion({"curl", "-s", base + "/users/5", "-o", "/dev/null", base + "/error", "-o",
                                       "/dev/null"});
  ASSERT_EQ(curl.status, 0) << curl.err;
  ASSERT_TRUE(agent.wait_for_spans(2)) << "spans so far: " << agent.spans().size();

  kill(server, SIGTERM);  // http_server.py exits 0 on SIGTERM
  const auto spans = sorted_by_start(agent.wait_exit());
  const TimeWindow window{window_start.begin_ns, unix_now_ns()};
  EXPECT_EQ(agent.exit_status(), 0) << agent.log();
  EXPECT_NE(agent.log().find("the traced processes have exited"), std::string::npos) << agent.log();

  ASSERT_EQ(spans.size(), 2u);
  expect_well_formed(spans, window, {server});
  EXPECT_EQ(names(spans), (std::vector<std::string>{"GET /users/{id}", "GET /error"}));
  EXPECT_EQ(attr(spans[0], "http.response.status_code"), 200);
  EXPECT_EQ(spans[0]["status"]["code"], "UNSET");
  EXPECT_EQ(attr(spans[1], "http.response.status_code"), 500);
  EXPECT_EQ(spans[1]["status"]["code"], "ERROR");
  EXPECT_EQ(attr(spans[1], "error.type"), "500");
  for (const auto& s : spans) {
    EXPECT_EQ(s["kind"], "SERVER");
    EXPECT_EQ(attr(s, "server.port"), port);
    expect_resource(s, facts, facts.exe_name);
  }
}

TEST(Exec, ClientTracedFromItsFirstRequestAndItsExitStatusPropagates) {
  ZT_REQUIRE_ROOT();
  ReadyServer server(ReadyServer::python());  // not traced
  const TimeWindow window_start{unix_now_ns()};
  // curl connects within milliseconds of its start: only a command traced from its first
  // instruction yields this span. --fail makes curl exit 22 on the 500.
  Agent agent = Agent::exec({"curl", "-s", "--fail", "-o", "/dev/null", server.url("/error?attempt=1")});
  const pid_t curl = traced_command_pid(agent);
  const auto spans = agent.wait_exit();
  const TimeWindow window{window_start.begin_ns, unix_now_ns()};
  EXPECT_EQ(agent.exit_status(), 22) << "the agent exits with the command's status";

  ASSERT_EQ(spans.size(), 1u) << agent.log();
  expect_well_formed(spans, window, {curl});
  const auto& s = spans[0];
  EXPECT_EQ(s["kind"], "CLIENT");
  EXPECT_EQ(s["name"], "GET /error");
  EXPECT_EQ(attr(s, "url.full"), server.url("/error?attempt=1"));
  EXPECT_EQ(attr(s, "url.path"), "/error");
  EXPECT_EQ(attr(s, "url.query"), "attempt=1");
  EXPECT_EQ(attr(s, "server.address"), "127.0.0.1");
  EXPECT_EQ(attr(s, "server.port"), server.port());
  EXPECT_EQ(attr(s, "network.peer.port"), server.port());
  EXPECT_EQ(attr(s, "http.response.status_code"), 500);
  EXPECT_EQ(s["status"]["code"], "ERROR");
  EXPECT_EQ(attr(s, "error.type"), "500");
  const std::string curl_exe = std::filesystem::canonical(which("curl")).filename().string();
  EXPECT_EQ(res(s, "service.name"), curl_exe);
  EXPECT_EQ(res(s, "process.executable.name"), curl_exe);
}

TEST(Exec, StoppingTheAgentStopsTheCommand) {
  ZT_REQUIRE_ROOT();
  const std::uint16_t port = free_port();
  Agent agent = Agent::exec({python3(), workload("http_server.py"), std::to_string(port)});
  const pid_t server = traced_command_pid(agent);
  ASSERT_GT(server, 0) << agent.log();
  ASSERT_TRUE(agent.process().wait_for_line(Stream::Out, "READY " + std::to_string(port))) << agent.log();

  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/users/9";
  const auto curl = run_to_completion({"curl", "-s", "-o", "/dev/null", url});
  ASSERT_EQ(curl.status, 0) << curl.err;
  ASSERT_TRUE(agent.wait_for_spans(1));

  const auto spans = agent.stop();
  EXPECT_TRUE(process_gone(server)) << "the agent left its command running";
  EXPECT_EQ(agent.exit_status(), 0) << "the command exited 0 on the agent's SIGTERM";
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0]["name"], "GET /users/{id}");
  EXPECT_EQ(res(spans[0], "process.pid"), server);
}

}  // namespace
}  // namespace zt::e2e
