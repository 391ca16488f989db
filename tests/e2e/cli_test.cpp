// Command-line failures: each ends the agent with a non-zero status and one line that says why.
#include <signal.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <sstream>

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

TEST(Cli, AttachToAMissingPidFailsWithOneLine) {
  ZT_REQUIRE_ROOT();
  const pid_t pid = unused_pid();
  ASSERT_GT(pid, 0);
  TempDir dir;
  const auto r = run_to_completion({agent_binary(), "attach", "--pid", std::to_string(pid), "-o",
                                    "jsonl=" + (dir / "spans.jsonl").string()});
  EXPECT_NE(r.status, 0);
  const auto lines = non_empty_lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("no process with pid " + std::to_string(pid)), std::string::npos) << lines[0];
  EXPECT_EQ(r.out, "");
}

TEST(Cli, UnknownFlagFails) {
  ZT_REQUIRE_ROOT();
  const auto r = run_to_completion({agent_binary(), "attach", "--pid", "1", "--no-such-flag"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE((r.out + r.err).find("--no-such-flag"), std::string::npos) << r.out << r.err;
}

TEST(Cli, MissingSubcommandFails) {
  ZT_REQUIRE_ROOT();
  const auto r = run_to_completion({agent_binary()});
  EXPECT_NE(r.status, 0) << r.out << r.err;
}

TEST(Cli, CaptureBytesMustBeAPowerOfTwo) {
  ZT_REQUIRE_ROOT();
  const auto r = run_to_completion({agent_binary(), "attach", "--pid", "1", "--capture-bytes", "1000"});
  EXPECT_NE(r.status, 0);
  const auto lines = non_empty_lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("power of two"), std::string::npos) << lines[0];
}

}  // namespace
}  // namespace zt::e2e
