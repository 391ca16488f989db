// Command-line failures: each ends the agent with a non-zero status and one line that says why.
#include <signal.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

// A pid no process has right now.
pid_t unused_pid() {
  pid_t pid_max = 32768;
  std::ifstream("/proc/sys/kernel/pid_max") >> pid_max;
  for (pid_t pid = pid_max - 1; pid > 1; --pid) {
    if (kill(pid, 0) != 0 && errno == ESRCH) return pid;
  }
  return -1;
}

std::vector<std::string> non_empty_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// The agent exited by itself with a failure status: not killed by a signal (the harness reports
// a signal as 128 + its number), not successful.
void expect_failed_exit(const Completed& r) {
  EXPECT_GT(r.status, 0) << r.out << r.err;
  EXPECT_LT(r.status, 128) << "killed by signal " << r.status - 128 << "; stderr: " << r.err;
}

TEST(Cli, AttachToAMissingPidFailsWithOneLine) {
  ZT_REQUIRE_ROOT();
  const pid_t pid = unused_pid();
  ASSERT_GT(pid, 0);
  TempDir dir;
  const auto r = run_to_completion(
      {agent_binary(), "attach", "--pid", std::to_string(pid), "-o", "jsonl=" + (dir / "spans.jsonl").string()});
  expect_failed_exit(r);
  const auto lines = non_empty_lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("no process with pid " + std::to_string(pid)), std::string::npos) << lines[0];
  EXPECT_EQ(r.out, "");
}

// Parse errors are found before anything needs root: these run as any user.
TEST(Cli, UnknownFlagFails) {
  const auto r = run_to_completion({agent_binary(), "attach", "--pid", "1", "--no-such-flag"});
  expect_failed_exit(r);
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.out << r.err;
}

TEST(Cli, MissingSubcommandFails) {
  const auto r = run_to_completion({agent_binary()});
  expect_failed_exit(r);
  EXPECT_NE(r.err.find("A subcommand is required"), std::string::npos) << r.out << r.err;
}

TEST(Cli, CaptureBytesMustBeAPowerOfTwo) {
  const auto r = run_to_completion({agent_binary(), "attach", "--pid", "1", "--capture-bytes", "1000"});
  EXPECT_EQ(r.status, 2) << r.err;
  const auto lines = non_empty_lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("power of two"), std::string::npos) << lines[0];
}

// attach takes a config file for everything but selection: its outputs apply, its select rules
// are ignored with a warning (the processes are the ones named).
TEST(Cli, AttachTakesAConfigFileButNotItsSelection) {
  ZT_REQUIRE_ROOT();
  ReadyServer server(ReadyServer::python());
  TempDir dir;
  const auto spans = dir / "spans.jsonl";
  std::ofstream(dir / "zerotrace.yaml") << "select:\n  - exe_name: nothing-like-this\noutputs: [jsonl="
                                        << spans.string() << "]\n";
  Subprocess agent({agent_binary(), "attach", "--pid", std::to_string(server.pid()), "--config",
                    (dir / "zerotrace.yaml").string(), "--assembly-wait", "0"});
  ASSERT_TRUE(agent.wait_for_line(Stream::Err, "tracing pid " + std::to_string(server.pid())))
      << agent.output(Stream::Err);
  EXPECT_NE(agent.output(Stream::Err).find("its select rules are ignored"), std::string::npos)
      << agent.output(Stream::Err);
  ASSERT_EQ(run_to_completion({"curl", "-s", "-o", "/dev/null", server.url("/users/1")}).status, 0);
  bool written = false;
  for (int i = 0; i < 100 && !written; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(spans);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    written = text.find("/users/1") != std::string::npos;
  }
  EXPECT_TRUE(written) << "the config's output got the span; agent log:\n" << agent.output(Stream::Err);
}

}  // namespace
}  // namespace zt::e2e
