#include "discovery/selector.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace zt::discovery {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kTcpHeader =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

// 0.0.0.0:8080 LISTEN (inode 1001), 127.0.0.1:5432 LISTEN (1002), an ESTABLISHED socket (1003)
// and a LISTEN line with inode 0 (a socket being torn down).
const std::string kTcp =
    std::string(kTcpHeader) +
    "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1001 1 "
    "0000000000000000 100 0 0 10 0\n"
    "   1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 1002 1 "
    "0000000000000000 100 0 0 10 0\n"
    "   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 1003 1 "
    "0000000000000000 20 4 30 10 -1\n"
    "   3: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 0 1 "
    "0000000000000000 100 0 0 10 0\n";

// [::]:443 LISTEN (inode 2001).
const std::string kTcp6 =
    std::string(kTcpHeader) +
    "   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0\n";

TEST(ParseListeningTcpSockets, KeepsOnlyListenSocketsWithAnInode) {
  const auto sockets = parse_listening_tcp_sockets(kTcp);
  const std::map<std::uint64_t, std::uint16_t> expected{{1001, 8080}, {1002, 5432}};
  EXPECT_EQ(sockets, expected);
}

TEST(ParseListeningTcpSockets, ReadsIpv6TablesAndToleratesGarbage) {
  EXPECT_EQ(parse_listening_tcp_sockets(kTcp6), (std::map<std::uint64_t, std::uint16_t>{{2001, 443}}));
  EXPECT_TRUE(parse_listening_tcp_sockets("").empty());
  EXPECT_TRUE(parse_listening_tcp_sockets("not a table\n 0: zz:zz 0 0A a b c d e f\n").empty());
}

class FakeProcRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("zt_selector_test_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "net");
    write(root_ / "net/tcp", kTcp);
    write(root_ / "net/tcp6", kTcp6);
  }
  void TearDown() override { fs::remove_all(root_); }

  static void write(const fs::path& path, std::string_view content) { std::ofstream(path) << content; }

  void add_process(std::uint32_t pid, std::string_view comm, std::string_view exe,
                   std::vector<std::string> fd_targets) {
    const fs::path dir = root_ / std::to_string(pid);
    fs::create_directories(dir / "fd");
    write(dir / "stat", std::to_string(pid) + " (" + std::string(comm) +
                            ") S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 1000 10 0 0\n");
    write(dir / "cmdline", std::string(comm) + '\0');
    fs::create_symlink(exe, dir / "exe");
    for (std::size_t fd = 0; fd < fd_targets.size(); ++fd) {
      fs::create_symlink(fd_targets[fd], dir / "fd" / std::to_string(fd));
    }
  }

  std::string root() const { return root_.string(); }
  fs::path root_;
};

TEST_F(FakeProcRoot, MapsListeningPortsToTheProcessesHoldingTheSockets) {
  add_process(100, "nginx", "/usr/sbin/nginx", {"/dev/null", "socket:[1001]", "socket:[2001]", "pipe:[5]"});
  add_process(200, "postgres", "/usr/lib/postgresql/15/bin/postgres", {"socket:[1002]", "socket:[1003]"});
  add_process(300, "bash", "/bin/bash", {"/dev/pts/0"});
  fs::create_directories(root_ / "self");  // not a pid: ignored

  const auto ports = listening_tcp_ports_by_pid(root());

  const std::map<std::uint32_t, std::set<std::uint16_t>> expected{{100, {443, 8080}}, {200, {5432}}};
  EXPECT_EQ(ports, expected);
  EXPECT_EQ(all_pids(root()), (std::vector<std::uint32_t>{100, 200, 300}));
}

TEST_F(FakeProcRoot, ReadsTheTablesOfOtherNetworkNamespaces) {
  add_process(400, "envoy", "/usr/local/bin/envoy", {"socket:[3001]"});
  fs::create_directories(root_ / "400/ns");
  fs::create_directories(root_ / "400/net");
  fs::create_symlink("net:[4026532999]", root_ / "400/ns/net");
  write(
      root_ / "400/net/tcp",
      std::string(kTcpHeader) +
          "   0: 00000000:2710 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0  0 3001 1 0 100 0 0 10 0\n");

  const auto ports = listening_tcp_ports_by_pid(root());

  EXPECT_EQ(ports, (std::map<std::uint32_t, std::set<std::uint16_t>>{{400, {10000}}}));
}

TEST_F(FakeProcRoot, SelectRunningAppliesTheRulesAndSkipsTheAgent) {
  add_process(100, "nginx", "/usr/sbin/nginx", {"socket:[1001]"});
  add_process(200, "python3", "/usr/bin/python3.11", {});
  add_process(300, "bash", "/bin/bash", {});
  add_process(999, "zerotrace", "/usr/bin/zerotrace", {});

  EXPECT_EQ(ProcessSelector({}, 999).select_running(root()), (std::vector<std::uint32_t>{100, 200, 300}));
  EXPECT_EQ(ProcessSelector({SelectorRule{.port = 8080}}, 999).select_running(root()),
            (std::vector<std::uint32_t>{100}));
  EXPECT_EQ(
      ProcessSelector({SelectorRule{.exe_name = "python3"}, SelectorRule{.pid = 300}}, 999).select_running(root()),
      (std::vector<std::uint32_t>{200, 300}));
  EXPECT_EQ(ProcessSelector({SelectorRule{.pid = 999}}, 999).select_running(root()), std::vector<std::uint32_t>{});
}

TEST(RealProc, FindsASocketThisTestListensOn) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::uint16_t port = ntohs(address.sin_port);

  const auto ports = listening_tcp_ports_by_pid();
  ::close(fd);

  const auto mine = ports.find(static_cast<std::uint32_t>(::getpid()));
  ASSERT_NE(mine, ports.end());
  EXPECT_TRUE(mine->second.contains(port)) << "port " << port;
}

ProcessIdentity identity(std::uint32_t pid, std::string comm, std::string exe_path) {
  ProcessIdentity process;
  process.pid = pid;
  process.comm = std::move(comm);
  process.exe_path = std::move(exe_path);
  process.exe_name = process.exe_path.substr(process.exe_path.rfind('/') + 1);
  return process;
}

TEST(RuleMatches, GlobsOnExecutableNameOrComm) {
  const auto python = identity(1, "python3", "/usr/bin/python3.11");
  EXPECT_TRUE(rule_matches(SelectorRule{.exe_name = "python3*"}, python, {}));
  EXPECT_TRUE(rule_matches(SelectorRule{.exe_name = "python3.1?"}, python, {}));
  EXPECT_TRUE(rule_matches(SelectorRule{.exe_name = "python3"}, python, {})) << "matches the comm";
  EXPECT_TRUE(rule_matches(SelectorRule{.exe_name = "python[23]*"}, python, {}));
  EXPECT_FALSE(rule_matches(SelectorRule{.exe_name = "python2*"}, python, {}));
  EXPECT_FALSE(rule_matches(SelectorRule{.exe_name = "ython3*"}, python, {}));
}

TEST(RuleMatches, GlobsOnExecutablePathAcrossDirectories) {
  const auto java = identity(1, "java", "/opt/jdk-21/bin/java");
  EXPECT_TRUE(rule_matches(SelectorRule{.exe_path = "/opt/jdk-21/bin/java"}, java, {}));
  EXPECT_TRUE(rule_matches(SelectorRule{.exe_path = "/opt/*/java"}, java, {}));
  EXPECT_TRUE(rule_matches(SelectorRule{.exe_path = "/opt/*"}, java, {}));
  EXPECT_FALSE(rule_matches(SelectorRule{.exe_path = "/usr/*"}, java, {}));
  EXPECT_FALSE(rule_matches(SelectorRule{.exe_path = "/*"}, identity(2, "kworker/0:1", ""), {}))
      << "a kernel thread has no executable path";
}

TEST(RuleMatches, AllFieldsOfARuleMustMatch) {
  const auto nginx = identity(42, "nginx", "/usr/sbin/nginx");
  const std::set<std::uint16_t> ports{80, 443};
  EXPECT_TRUE(rule_matches(SelectorRule{.exe_name = "nginx", .port = 443}, nginx, ports));
  EXPECT_FALSE(rule_matches(SelectorRule{.exe_name = "nginx", .port = 8080}, nginx, ports));
  EXPECT_FALSE(rule_matches(SelectorRule{.exe_name = "apache2", .port = 443}, nginx, ports));
  EXPECT_TRUE(rule_matches(SelectorRule{.pid = 42}, nginx, {}));
  EXPECT_FALSE(rule_matches(SelectorRule{.pid = 43}, nginx, {}));
  EXPECT_TRUE(rule_matches(SelectorRule{}, nginx, {})) << "an empty rule matches everything";
}

TEST(ProcessSelector, AnyRuleSelectsAndTheAgentIsNeverSelected) {
  const auto nginx = identity(42, "nginx", "/usr/sbin/nginx");
  const auto agent = identity(7, "zerotrace", "/usr/bin/zerotrace");
  const ProcessSelector selector({SelectorRule{.exe_name = "redis*"}, SelectorRule{.port = 80}}, 7);
  EXPECT_TRUE(selector.matches(nginx, {80}));
  EXPECT_FALSE(selector.matches(nginx, {8080}));
  EXPECT_FALSE(selector.matches(agent, {80}));
  EXPECT_TRUE(selector.needs_listening_ports());

  const ProcessSelector everything({}, 7);
  EXPECT_TRUE(everything.matches(nginx, {}));
  EXPECT_FALSE(everything.matches(agent, {}));
  EXPECT_FALSE(everything.needs_listening_ports());
}

}  // namespace
}  // namespace zt::discovery
