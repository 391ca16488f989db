// bpf tier: the agent's control of capture (conn_ctl_map), applied by the real programs to the
// test process's own sockets.
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "bpf_fixture.h"
#include "tcp_pair.h"

namespace zt::testing {
namespace {

class ControlTest : public BpfFixture {
 protected:
  std::uint64_t conn_id_of(int fd) {
    drain();
    const zt_conn_event* open = find_conn(conns_, ZT_EV_CONN_OPEN, fd);
    EXPECT_NE(open, nullptr) << "no open event for fd " << fd;
    return open ? open->conn_id : 0;
  }
  void send_and_receive(const TcpPair& p, const std::string& bytes) {
    ASSERT_EQ(write(p.client, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ASSERT_EQ(read_all(p.server, bytes.size()), bytes);
  }
};

TEST_F(ControlTest, ADisabledConnectionProducesNoMoreDataButKeepsCountingBytes) {
  ZT_REQUIRE_ROOT();
  load();
  TcpPair p = make_pair();
  TcpPair other = make_pair();
  send_and_receive(p, "before");
  const std::uint64_t server = conn_id_of(p.server);
  loader_->disable_connection(server);
  send_and_receive(p, "after-disable");
  send_and_receive(other, "other connection");
  close(p.server);
  p.server = -1;
  drain();

  const auto received = data_of(server, ZT_DIR_INGRESS);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].payload, "before");
  // The sending side of the same pair is another connection: untouched.
  EXPECT_EQ(concat(data_of(conn_id_of(p.client), ZT_DIR_EGRESS)), "beforeafter-disable");
  EXPECT_EQ(concat(data_of(conn_id_of(other.server), ZT_DIR_INGRESS)), "other connection");
  const zt_conn_event* closed = find_conn(conns_, ZT_EV_CONN_CLOSE, received[0].event.fd);
  ASSERT_NE(closed, nullptr);
  EXPECT_EQ(closed->bytes_received, std::string("beforeafter-disable").size());
  EXPECT_GE(loader_->read_counters()[ZT_CNT_CONN_DISABLED], 1u);
}

TEST_F(ControlTest, ASkippedRangeIsReportedWithoutPayloadAndWhatFollowsIsCaptured) {
  ZT_REQUIRE_ROOT();
  load();
  TcpPair p = make_pair();
  const std::string head = "POST /upload HTTP/1.1\r\nContent-Length: 100000\r\n\r\n";
  send_and_receive(p, head);
  const std::uint64_t server = conn_id_of(p.server);
  loader_->skip_payload(server, ZT_DIR_INGRESS, head.size() + 100000);

  const std::string body(100000, 'b');
  std::size_t sent = 0;
  std::size_t read_body = 0;
  std::string chunk;
  // Reads never ask for more than the body, so every one of them lies inside the skipped range.
  while (read_body < body.size()) {
    if (sent < body.size()) {
      const std::size_t n = std::min<std::size_t>(16384, body.size() - sent);
      ASSERT_EQ(write(p.client, body.data() + sent, n), static_cast<ssize_t>(n));
      sent += n;
    }
    chunk.resize(std::min<std::size_t>(8192, body.size() - read_body));
    const ssize_t got = read(p.server, chunk.data(), chunk.size());
    ASSERT_GT(got, 0);
    read_body += static_cast<std::size_t>(got);
  }
  const std::string next = "GET /next HTTP/1.1\r\n\r\n";
  send_and_receive(p, next);
  drain();

  const auto received = data_of(server, ZT_DIR_INGRESS);
  ASSERT_GE(received.size(), 3u);
  EXPECT_EQ(received.front().payload, head);
  std::uint64_t position = head.size();
  for (std::size_t i = 1; i + 1 < received.size(); ++i) {
    EXPECT_EQ(received[i].event.position, position) << "event " << i;
    EXPECT_EQ(received[i].event.captured, 0u) << "event " << i << " inside the skipped range carried payload";
    EXPECT_TRUE(received[i].payload.empty());
    position += received[i].event.orig_size;
  }
  EXPECT_EQ(position, head.size() + body.size());
  EXPECT_EQ(received.back().event.position, head.size() + body.size());
  EXPECT_EQ(received.back().payload, next);
  EXPECT_GE(loader_->read_counters()[ZT_CNT_PAYLOAD_SKIPPED], received.size() - 2);
}

TEST_F(ControlTest, ACallReachingPastTheSkippedRangeIsCapturedFromItsStart) {
  ZT_REQUIRE_ROOT();
  load();
  TcpPair p = make_pair();
  send_and_receive(p, "0123456789");
  const std::uint64_t server = conn_id_of(p.server);
  loader_->skip_payload(server, ZT_DIR_INGRESS, 15);  // the next 5 bytes, then new bytes
  send_and_receive(p, "abcdeNEXT");
  drain();
  const auto received = data_of(server, ZT_DIR_INGRESS);
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[1].event.position, 10u);
  EXPECT_EQ(received[1].payload, "abcdeNEXT");
}

TEST_F(ControlTest, AControlSlotSpeaksOnlyForTheConnectionItNames) {
  ZT_REQUIRE_ROOT();
  load();
  TcpPair p = make_pair();
  send_and_receive(p, "first");
  const std::uint64_t server = conn_id_of(p.server);
  // Another connection id that falls in the same slot: its control must not apply here.
  loader_->disable_connection(server + ZT_CONN_CTL_SLOTS);
  send_and_receive(p, "second");
  drain();
  EXPECT_EQ(concat(data_of(server, ZT_DIR_INGRESS)), "firstsecond");
}

}  // namespace
}  // namespace zt::testing
