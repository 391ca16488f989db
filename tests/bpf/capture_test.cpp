// bpf tier: the socket programs, loaded for real, observing the test process's own syscalls.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>
#include <string>

#include "bpf_fixture.h"
#include "tcp_pair.h"

namespace zt::testing {
namespace {

class CaptureTest : public BpfFixture {};

TEST_F(CaptureTest, EveryDataSyscallIsCapturedWithPositionsTupleRoleAndDirection) {
  ZT_REQUIRE_ROOT();
  load();
  TcpPair p = make_pair();
  const std::string m1 = "write-0001", m2 = "sendto-02", m3a = "wv-a", m3b = "wv-bb", m3c = "wv-ccc";
  const std::string m4 = "sendmsg-0004", m5a = "mmsg-one", m5b = "mmsg-two!";

  ASSERT_EQ(write(p.client, m1.data(), m1.size()), static_cast<ssize_t>(m1.size()));
  char buf[256];
  ASSERT_EQ(read(p.server, buf, m1.size()), static_cast<ssize_t>(m1.size()));
  ASSERT_EQ(sendto(p.client, m2.data(), m2.size(), 0, nullptr, 0), static_cast<ssize_t>(m2.size()));
  ASSERT_EQ(recvfrom(p.server, buf, m2.size(), 0, nullptr, nullptr), static_cast<ssize_t>(m2.size()));
  iovec wv[3] = {{const_cast<char*>(m3a.data()), m3a.size()},
                 {const_cast<char*>(m3b.data()), m3b.size()},
                 {const_cast<char*>(m3c.data()), m3c.size()}};
  const std::size_t m3 = m3a.size() + m3b.size() + m3c.size();
  ASSERT_EQ(writev(p.client, wv, 3), static_cast<ssize_t>(m3));
  char r1[5], r2[64];
  iovec rv[2] = {{r1, sizeof r1}, {r2, m3 - sizeof r1}};
  ASSERT_EQ(readv(p.server, rv, 2), static_cast<ssize_t>(m3));
  iovec sm{const_cast<char*>(m4.data()), m4.size()};
  msghdr smh{};
  smh.msg_iov = &sm;
  smh.msg_iovlen = 1;
  ASSERT_EQ(sendmsg(p.client, &smh, 0), static_cast<ssize_t>(m4.size()));
  iovec rm{buf, m4.size()};
  msghdr rmh{};
  rmh.msg_iov = &rm;
  rmh.msg_iovlen = 1;
  ASSERT_EQ(recvmsg(p.server, &rmh, 0), static_cast<ssize_t>(m4.size()));
  iovec mv[2] = {{const_cast<char*>(m5a.data()), m5a.size()}, {const_cast<char*>(m5b.data()), m5b.size()}};
  mmsghdr smm[2] = {};
  smm[0].msg_hdr.msg_iov = &mv[0];
  smm[0].msg_hdr.msg_iovlen = 1;
  smm[1].msg_hdr.msg_iov = &mv[1];
  smm[1].msg_hdr.msg_iovlen = 1;
  ASSERT_EQ(sendmmsg(p.client, smm, 2, 0), 2);
  char q1[16], q2[16];
  iovec qv[2] = {{q1, m5a.size()}, {q2, m5b.size()}};
  mmsghdr rmm[2] = {};
  rmm[0].msg_hdr.msg_iov = &qv[0];
  rmm[0].msg_hdr.msg_iovlen = 1;
  rmm[1].msg_hdr.msg_iov = &qv[1];
  rmm[1].msg_hdr.msg_iovlen = 1;
  int got = 0;
  while (got < 2) {
    int n = recvmmsg(p.server, rmm + got, 2 - got, 0, nullptr);
    ASSERT_GT(n, 0);
    got += n;
  }
  const int client_fd = p.client, server_fd = p.server;
  close(p.client);
  close(p.server);
  p.client = p.server = -1;
  drain();

  const auto* copen = find_conn(conns_, ZT_EV_CONN_OPEN, client_fd);
  const auto* sopen = find_conn(conns_, ZT_EV_CONN_OPEN, server_fd);
  ASSERT_NE(copen, nullptr);
  ASSERT_NE(sopen, nullptr);
  EXPECT_EQ(copen->role, ZT_ROLE_CLIENT);
  EXPECT_EQ(copen->syscall, ZT_SYS_CONNECT);
  EXPECT_EQ(sopen->role, ZT_ROLE_SERVER);
  EXPECT_EQ(sopen->syscall, ZT_SYS_ACCEPT4);
  EXPECT_NE(copen->conn_id, sopen->conn_id);
  // The two ends see the same 4-tuple mirrored.
  EXPECT_EQ(copen->tuple.family, AF_INET);
  EXPECT_EQ(copen->tuple.sport, sopen->tuple.dport);
  EXPECT_EQ(copen->tuple.dport, sopen->tuple.sport);
  EXPECT_EQ(pipeline::remote_endpoint(copen->tuple).address, "127.0.0.1");
  EXPECT_EQ(pipeline::local_endpoint(sopen->tuple).address, "127.0.0.1");

  const auto sent = data_of(copen->conn_id, ZT_DIR_EGRESS);
  const auto received = data_of(sopen->conn_id, ZT_DIR_INGRESS);
  ASSERT_EQ(sent.size(), 6u);
  const std::uint8_t expected_sys[] = {ZT_SYS_WRITE, ZT_SYS_SENDTO, ZT_SYS_WRITEV, ZT_SYS_SENDMSG,
                                       ZT_SYS_SENDMMSG, ZT_SYS_SENDMMSG};
  std::uint64_t pos = 0;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(sent[i].event.syscall, expected_sys[i]) << i;
    EXPECT_EQ(sent[i].event.position, pos) << i;
    EXPECT_EQ(sent[i].event.captured, sent[i].event.orig_size) << i;
    EXPECT_EQ(sent[i].event.role, ZT_ROLE_CLIENT);
    EXPECT_EQ(sent[i].event.fd, client_fd);
    EXPECT_LE(sent[i].event.start_ns, sent[i].event.hdr.ts_ns);
    pos += sent[i].event.orig_size;
  }
  const std::string all = m1 + m2 + m3a + m3b + m3c + m4 + m5a + m5b;
  EXPECT_EQ(concat(sent), all);
  EXPECT_EQ(sent[2].payload, m3a + m3b + m3c);  // gathered across iovecs

  std::set<std::uint8_t> rsys;
  pos = 0;
  for (const auto& r : received) {
    EXPECT_EQ(r.event.position, pos);
    EXPECT_EQ(r.event.direction, ZT_DIR_INGRESS);
    EXPECT_EQ(r.event.role, ZT_ROLE_SERVER);
    pos += r.event.orig_size;
    rsys.insert(r.event.syscall);
  }
  EXPECT_EQ(concat(received), all);
  EXPECT_EQ(rsys, (std::set<std::uint8_t>{ZT_SYS_READ, ZT_SYS_RECVFROM, ZT_SYS_READV, ZT_SYS_RECVMSG, ZT_SYS_RECVMMSG}));

  const auto* cclose = find_conn(conns_, ZT_EV_CONN_CLOSE, client_fd);
  const auto* sclose = find_conn(conns_, ZT_EV_CONN_CLOSE, server_fd);
  ASSERT_NE(cclose, nullptr);
  ASSERT_NE(sclose, nullptr);
  EXPECT_EQ(cclose->conn_id, copen->conn_id);
  EXPECT_EQ(cclose->bytes_sent, all.size());
  EXPECT_EQ(sclose->bytes_received, all.size());
}

TEST_F(CaptureTest, PayloadBeyondTheCaptureSizeIsTruncatedButItsSizeIsKept) {
  ZT_REQUIRE_ROOT();
  load(/*capture_bytes=*/64);
  TcpPair p = make_pair();
  const std::string big(1000, 'x');
  ASSERT_EQ(write(p.client, big.data(), big.size()), 1000);
  ASSERT_EQ(read_all(p.server, 1000).size(), 1000u);
  drain();
  const auto* copen = find_conn(conns_, ZT_EV_CONN_OPEN, p.client);
  ASSERT_NE(copen, nullptr);
  auto sent = data_of(copen->conn_id, ZT_DIR_EGRESS);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].event.orig_size, 1000u);
  EXPECT_EQ(sent[0].event.captured, 64u);
  EXPECT_EQ(sent[0].payload, std::string(64, 'x'));
  EXPECT_GE(loader_->read_counters()[ZT_CNT_TRUNCATED], 1u);
}

TEST_F(CaptureTest, Ipv6AndPlainAcceptAreTracked) {
  ZT_REQUIRE_ROOT();
  load();
  TcpPair p = make_pair(/*ipv6=*/true, /*plain_accept=*/true);
  ASSERT_EQ(write(p.client, "hi6", 3), 3);
  char buf[8];
  ASSERT_EQ(read(p.server, buf, 3), 3);
  drain();
  const auto* sopen = find_conn(conns_, ZT_EV_CONN_OPEN, p.server);
  ASSERT_NE(sopen, nullptr);
  EXPECT_EQ(sopen->syscall, ZT_SYS_ACCEPT);
  EXPECT_EQ(sopen->tuple.family, AF_INET6);
  EXPECT_EQ(pipeline::local_endpoint(sopen->tuple).address, "::1");
  auto in = data_of(sopen->conn_id, ZT_DIR_INGRESS);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].payload, "hi6");
}

TEST_F(CaptureTest, PipesFilesUdpAndUnixSocketsAreDroppedInTheKernel) {
  ZT_REQUIRE_ROOT();
  load();
  int pfd[2];
  ASSERT_EQ(pipe(pfd), 0);
  ASSERT_EQ(write(pfd[1], "pipe", 4), 4);
  char buf[16];
  ASSERT_EQ(read(pfd[0], buf, 4), 4);
  int us[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, us), 0);
  ASSERT_EQ(write(us[0], "unix", 4), 4);
  ASSERT_EQ(read(us[1], buf, 4), 4);
  int udp = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(udp, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(udp, reinterpret_cast<sockaddr*>(&a), &len);
  ASSERT_EQ(sendto(udp, "udp!", 4, 0, reinterpret_cast<sockaddr*>(&a), sizeof a), 4);
  ASSERT_EQ(recvfrom(udp, buf, 4, 0, nullptr, nullptr), 4);
  for (int fd : {pfd[0], pfd[1], us[0], us[1], udp}) close(fd);
  drain();
  for (const auto& d : data_) {
    EXPECT_NE(d.payload, "pipe");
    EXPECT_NE(d.payload, "unix");
    EXPECT_NE(d.payload, "udp!");
  }
  for (const auto& c : conns_) {
    for (int fd : {pfd[0], pfd[1], us[0], us[1], udp}) EXPECT_NE(c.fd, fd) << "non-TCP fd tracked";
  }
}

TEST_F(CaptureTest, ConnectionOpenedBeforeAttachIsPickedUpMidStream) {
  ZT_REQUIRE_ROOT();
  TcpPair p = make_pair();  // before the programs are loaded
  ASSERT_EQ(write(p.client, "before", 6), 6);
  char buf[16];
  ASSERT_EQ(read(p.server, buf, 6), 6);
  load();
  ASSERT_EQ(write(p.client, "after", 5), 5);
  ASSERT_EQ(read(p.server, buf, 5), 5);
  drain();
  bool seen_client = false, seen_server = false;
  for (const auto& d : data_) {
    if (d.event.fd == p.client && d.event.direction == ZT_DIR_EGRESS) {
      seen_client = true;
      EXPECT_EQ(d.payload, "after");
      EXPECT_EQ(d.event.role, ZT_ROLE_UNKNOWN);
      EXPECT_TRUE(d.event.flags & ZT_DATA_F_MIDSTREAM);
      EXPECT_EQ(d.event.position, 0u);  // positions count from first sight
    }
    if (d.event.fd == p.server && d.event.direction == ZT_DIR_INGRESS) seen_server = true;
  }
  EXPECT_TRUE(seen_client);
  EXPECT_TRUE(seen_server);
}

// Waits until thread `tid` sits in read(fd, ...): /proc/self/task/TID/syscall shows the syscall
// number and its arguments (in hex) while the thread is blocked in one.
bool blocked_in_read(const std::atomic<pid_t>& tid, int fd) {
  const std::string expected = std::to_string(SYS_read) + " 0x" + [&] {
    char hex[32];
    std::snprintf(hex, sizeof hex, "%x ", fd);
    return std::string(hex);
  }();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (const pid_t t = tid.load(); t != 0) {
      std::ifstream in("/proc/self/task/" + std::to_string(t) + "/syscall");
      std::string line;
      if (std::getline(in, line) && line.rfind(expected, 0) == 0) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

TEST_F(CaptureTest, ReadBlockedSinceBeforeAttachIsCaptured) {
  ZT_REQUIRE_ROOT();
  TcpPair p = make_pair();
  std::string received(32, '\0');
  ssize_t got = -1;
  // A thread-per-connection server: its thread sits in read() when tracing begins.
  std::atomic<pid_t> reader_tid{0};
  std::thread reader([&] {
    reader_tid = static_cast<pid_t>(::syscall(SYS_gettid));
    got = read(p.server, received.data(), received.size());
  });
  if (!blocked_in_read(reader_tid, p.server)) {
    (void)!write(p.client, "x", 1);  // let the thread finish before failing
    reader.join();
    FAIL() << "the reader thread never blocked in read()";
  }
  load();
  const std::string request = "GET /late HTTP/1.1\r\n\r\n";
  ASSERT_EQ(write(p.client, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  reader.join();
  ASSERT_EQ(got, static_cast<ssize_t>(request.size()));
  drain();
  bool captured = false;
  for (const auto& d : data_) {
    if (d.event.fd == p.server && d.event.direction == ZT_DIR_INGRESS) {
      captured = true;
      EXPECT_EQ(d.payload, request);
      EXPECT_EQ(d.event.syscall, ZT_SYS_READ);
      EXPECT_EQ(d.event.orig_size, request.size());
    }
  }
  // Receives are always read from the saved registers at exit (sockets.bpf.c), so this one needed
  // no recovery; what matters is that it was captured.
  EXPECT_TRUE(captured) << "the read that was in flight at attach was lost";
}

TEST_F(CaptureTest, SendfileKeepsStreamPositionsWithoutPayload) {
  ZT_REQUIRE_ROOT();
  load();
  TcpPair p = make_pair();
  char path[] = "/tmp/zt-sendfile-XXXXXX";
  int file = mkstemp(path);
  ASSERT_GE(file, 0);
  unlink(path);
  const std::string body(300, 'b');
  ASSERT_EQ(write(file, body.data(), body.size()), 300);
  off_t offset = 0;
  ASSERT_EQ(write(p.client, "head", 4), 4);
  ASSERT_EQ(sendfile(p.client, file, &offset, body.size()), 300);
  ASSERT_EQ(write(p.client, "tail", 4), 4);
  close(file);
  ASSERT_EQ(read_all(p.server, 308).size(), 308u);
  drain();
  const auto* copen = find_conn(conns_, ZT_EV_CONN_OPEN, p.client);
  ASSERT_NE(copen, nullptr);
  auto sent = data_of(copen->conn_id, ZT_DIR_EGRESS);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[1].event.syscall, ZT_SYS_SENDFILE);
  EXPECT_EQ(sent[1].event.position, 4u);
  EXPECT_EQ(sent[1].event.orig_size, 300u);
  EXPECT_EQ(sent[1].event.captured, 0u);
  EXPECT_EQ(sent[2].event.position, 304u);
  EXPECT_EQ(sent[2].payload, "tail");
}

TEST_F(CaptureTest, UntracedProcessesProduceNothing) {
  ZT_REQUIRE_ROOT();
  load(4096, /*follow_children=*/false);
  TcpPair p = make_pair();
  pid_t child = fork();
  if (child == 0) {
    // Not traced: the parent traces itself without following children.
    ssize_t n = write(p.client, "child", 5);
    _exit(n == 5 ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  char buf[8];
  ASSERT_EQ(read(p.server, buf, 5), 5);  // the parent's read is traced
  drain();
  bool parent_read = false;
  for (const auto& d : data_) {
    EXPECT_NE(d.event.hdr.pid, static_cast<std::uint32_t>(child));
    parent_read |= d.event.hdr.pid == static_cast<std::uint32_t>(getpid()) && d.payload == "child";
  }
  EXPECT_TRUE(parent_read);
}

}  // namespace
}  // namespace zt::testing
