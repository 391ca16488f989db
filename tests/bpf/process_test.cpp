// bpf tier: process lifecycle hooks (fork, exec, exit) and in-kernel child following.
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "bpf_fixture.h"

namespace zt::testing {
namespace {

class ProcessTest : public BpfFixture {};

TEST_F(ProcessTest, ChildrenOfTracedProcessesAreTracedFromForkAndReportedOnExit) {
  ZT_REQUIRE_ROOT();
  load(4096, /*follow_children=*/true);
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  socklen_t len = sizeof a;
  getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);

  pid_t child = fork();
  if (child == 0) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) _exit(2);
    ssize_t n = write(s, "from-child", 10);
    close(s);
    _exit(n == 10 ? 7 : 1);
  }
  int conn = accept(listener, nullptr, nullptr);
  char buf[16];
  ASSERT_EQ(read(conn, buf, 10), 10);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 7);
  close(conn);
  close(listener);
  drain();

  const auto cpid = static_cast<std::uint32_t>(child);
  bool child_write = false;
  for (const auto& d : data_) child_write |= d.event.hdr.pid == cpid && d.payload == "from-child";
  EXPECT_TRUE(child_write) << "the forked child's write was not captured";
  bool forked = false, exited = false;
  for (const auto& p : procs_) {
    if (p.hdr.kind == ZT_EV_PROC_FORK && p.hdr.pid == cpid) {
      forked = true;
      EXPECT_EQ(p.ppid, static_cast<std::uint32_t>(getpid()));
    }
    if (p.hdr.kind == ZT_EV_PROC_EXIT && p.hdr.pid == cpid) {
      exited = true;
      EXPECT_EQ(p.exit_code, 7);
    }
  }
  EXPECT_TRUE(forked);
  EXPECT_TRUE(exited);
  EXPECT_FALSE(loader_->is_traced(cpid)) << "exited child left in the traced set";
}

TEST_F(ProcessTest, ExecOfATracedChildIsReportedWithTheNewName) {
  ZT_REQUIRE_ROOT();
  load(4096, /*follow_children=*/true);
  pid_t child = fork();
  if (child == 0) {
    execl("/bin/true", "true", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(child, &status, 0);
  drain();
  bool exec_seen = false;
  for (const auto& p : procs_) {
    if (p.hdr.kind == ZT_EV_PROC_EXEC && p.hdr.pid == static_cast<std::uint32_t>(child)) {
      exec_seen = true;
      EXPECT_STREQ(p.comm, "true");
    }
  }
  EXPECT_TRUE(exec_seen);
}

}  // namespace
}  // namespace zt::testing
