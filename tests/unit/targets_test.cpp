// TargetManager on a fake /proc with a fake traced set: which processes each mode traces, re-judging
// at exec, port rescans, listeners, a kernel that refuses, and the exec mode's child (a real one).
#include "discovery/targets.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace zt::discovery {
namespace {

namespace fs = std::filesystem;

class FakeTraceControl final : public TraceControl {
 public:
  Result<void> trace_pid(std::uint32_t pid, bool follow_children) override {
    if (full) return make_error("cannot trace pid " + std::to_string(pid) + ": traced set full");
    traced[pid] = follow_children;
    return {};
  }
  void untrace_pid(std::uint32_t pid) override { traced.erase(pid); }
  bool is_traced(std::uint32_t pid) const override { return traced.contains(pid); }

  std::map<std::uint32_t, bool> traced;  // pid -> follow children
  bool full = false;
};

class TargetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("zt_targets_test_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "net");
    std::ofstream(root_ / "net/tcp") << "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
  }
  void TearDown() override { fs::remove_all(root_); }

  void add_process(std::uint32_t pid, std::uint32_t ppid, std::string_view comm, std::string_view exe) {
    const fs::path dir = root_ / std::to_string(pid);
    fs::create_directories(dir / "fd");
    std::ofstream(dir / "stat") << pid << " (" << comm << ") S " << ppid
                                << " 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 1000 10 0 0\n";
    std::ofstream(dir / "cmdline") << comm << '\0';
    fs::remove(dir / "exe");
    fs::create_symlink(exe, dir / "exe");
  }
  void listen_on(std::uint32_t pid, std::uint16_t port, std::uint64_t inode) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "   0: 00000000:%04X 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 %llu 1 0 100 0 0 10 0\n",
                  port, static_cast<unsigned long long>(inode));
    std::ofstream(root_ / "net/tcp", std::ios::app) << line;
    fs::create_symlink("socket:[" + std::to_string(inode) + "]", root_ / std::to_string(pid) / "fd" / "3");
  }

  TargetOptions options(Mode mode) {
    TargetOptions o;
    o.mode = mode;
    o.proc_root = root_.string();
    o.self_pid = 999;
    return o;
  }

  fs::path root_;
  FakeTraceControl control_;
  std::vector<std::pair<std::uint32_t, bool>> heard_;
  TargetManager::Listener listener() {
    return [this](std::uint32_t pid, bool traced) { heard_.emplace_back(pid, traced); };
  }
};

TEST_F(TargetsTest, AttachTracesThePidAndItsDescendantsFollowingChildren) {
  add_process(100, 1, "nginx", "/usr/sbin/nginx");
  add_process(101, 100, "nginx", "/usr/sbin/nginx");
  add_process(102, 101, "helper", "/usr/bin/helper");
  add_process(200, 1, "bash", "/bin/bash");
  auto o = options(Mode::Attach);
  o.pids = {100};
  TargetManager targets(o, control_, listener());

  ASSERT_TRUE(targets.start());

  EXPECT_EQ(control_.traced, (std::map<std::uint32_t, bool>{{100, true}, {101, true}, {102, true}}));
  EXPECT_EQ(heard_.size(), 3u);
  EXPECT_TRUE(targets.traced(101));
  EXPECT_FALSE(targets.traced(200));
  EXPECT_TRUE(targets.targets_alive());
  fs::remove_all(root_ / "100");
  fs::remove_all(root_ / "101");
  EXPECT_TRUE(targets.targets_alive()) << "102 still runs";
  fs::remove_all(root_ / "102");
  EXPECT_FALSE(targets.targets_alive());
}

TEST_F(TargetsTest, AttachWithoutChildrenTracesThePidAlone) {
  add_process(100, 1, "nginx", "/usr/sbin/nginx");
  add_process(101, 100, "nginx", "/usr/sbin/nginx");
  auto o = options(Mode::Attach);
  o.pids = {100};
  o.follow_children = false;
  TargetManager targets(o, control_);
  ASSERT_TRUE(targets.start());
  EXPECT_EQ(control_.traced, (std::map<std::uint32_t, bool>{{100, false}}));
}

TEST_F(TargetsTest, AttachFailsWhenTheKernelRefuses) {
  add_process(100, 1, "nginx", "/usr/sbin/nginx");
  control_.full = true;
  auto o = options(Mode::Attach);
  o.pids = {100};
  TargetManager targets(o, control_);
  const auto r = targets.start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("traced set full"), std::string::npos);
  EXPECT_EQ(targets.stats().trace_failures, 1u);
}

TEST_F(TargetsTest, RunWithoutRulesTracesEverythingButTheAgent) {
  add_process(100, 1, "a", "/bin/a");
  add_process(999, 1, "zerotrace", "/usr/bin/zerotrace");
  TargetManager targets(options(Mode::Run), control_, listener());
  ASSERT_TRUE(targets.start());
  EXPECT_TRUE(targets.trace_all());
  EXPECT_TRUE(control_.traced.empty()) << "the kernel traces all by itself";
  EXPECT_TRUE(targets.traced(100));
  EXPECT_TRUE(targets.traced(4242)) << "a process started later is traced too";
  EXPECT_FALSE(targets.traced(999));
  EXPECT_EQ(heard_, (std::vector<std::pair<std::uint32_t, bool>>{{100, true}}));
}

TEST_F(TargetsTest, RunWithRulesSelectsAndReJudgesAtExec) {
  add_process(100, 1, "python3", "/usr/bin/python3.11");
  add_process(200, 1, "bash", "/bin/bash");
  add_process(999, 1, "python3", "/usr/bin/python3.11");  // the agent itself, by pid
  auto o = options(Mode::Run);
  o.select = {SelectorRule{.exe_name = "python3*"}};
  TargetManager targets(o, control_, listener());
  ASSERT_TRUE(targets.start());
  EXPECT_EQ(control_.traced, (std::map<std::uint32_t, bool>{{100, true}}));

  // bash execs python: selected; python execs a shell: no longer.
  add_process(200, 1, "python3", "/usr/bin/python3.11");
  targets.on_exec(200);
  add_process(100, 1, "sh", "/bin/sh");
  targets.on_exec(100);
  EXPECT_EQ(control_.traced, (std::map<std::uint32_t, bool>{{200, true}}));
  EXPECT_EQ(heard_, (std::vector<std::pair<std::uint32_t, bool>>{{100, true}, {200, true}, {100, false}}));
}

TEST_F(TargetsTest, PortRulesAreRescannedOnTheirPeriod) {
  add_process(100, 1, "server", "/usr/bin/server");
  auto o = options(Mode::Run);
  o.select = {SelectorRule{.port = 8080}};
  o.port_rescan_ns = 2'000'000'000;
  TargetManager targets(o, control_);
  ASSERT_TRUE(targets.start());
  EXPECT_TRUE(control_.traced.empty());

  listen_on(100, 8080, 5001);
  targets.tick(1'000'000'000);  // first tick arms the period
  targets.tick(2'000'000'000);
  EXPECT_TRUE(control_.traced.empty()) << "not due yet";
  targets.tick(3'000'000'000);
  EXPECT_EQ(control_.traced, (std::map<std::uint32_t, bool>{{100, true}}));
  EXPECT_EQ(targets.stats().rescans, 2u);
}

TEST_F(TargetsTest, ExecStartsTheCommandTracedAndReturnsItsStatus) {
  auto o = options(Mode::Exec);
  o.proc_root = "/proc";  // a real child
  o.command = {"/bin/sh", "-c", "test \"$ZT_TARGETS_TEST\" = yes && exit 7"};
  o.child_environment = {{"ZT_TARGETS_TEST", "yes"}};
  TargetManager targets(o, control_, listener());
  ASSERT_TRUE(targets.start());
  const auto child = static_cast<std::uint32_t>(targets.child());
  ASSERT_GT(child, 0u);
  EXPECT_TRUE(control_.traced.contains(child)) << "traced before it was released";
  while (targets.targets_alive()) ::usleep(1000);
  EXPECT_EQ(targets.finish(), 7) << "the environment reached the command and its status came back";
}

TEST_F(TargetsTest, ExecOfAMissingProgramExitsWith127) {
  auto o = options(Mode::Exec);
  o.proc_root = "/proc";
  o.command = {"/nonexistent/zt-no-such-program"};
  TargetManager targets(o, control_);
  ASSERT_TRUE(targets.start());
  while (targets.targets_alive()) ::usleep(1000);
  EXPECT_EQ(targets.finish(), 127);
}

}  // namespace
}  // namespace zt::discovery
