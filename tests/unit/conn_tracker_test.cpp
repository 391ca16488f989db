// ConnTracker: from kernel records to protocol records, with every way a connection can end.
#include "pipeline/conn_tracker.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/text.h"

namespace zt::pipeline {
namespace {

using protocols::HttpExchange;
using protocols::Role;

constexpr std::uint64_t kMs = 1'000'000;

zt_tuple loopback_tuple(std::uint16_t local_port, std::uint16_t remote_port) {
  zt_tuple t{};
  t.family = AF_INET;
  const std::uint32_t lo = htonl(INADDR_LOOPBACK);
  std::memcpy(t.saddr, &lo, 4);
  std::memcpy(t.daddr, &lo, 4);
  t.sport = local_port;
  t.dport = remote_port;
  return t;
}

struct Emitted {
  HttpExchange exchange;
  ConnectionInfo info;
  FlushCause cause;
};

class ConnTrackerTest : public ::testing::Test {
 protected:
  explicit ConnTrackerTest(ConnTrackerOptions options = {})
      : tracker_(options, [this](protocols::Record&& r, const ConnectionInfo& info, FlushCause cause) {
          emitted_.push_back({std::get<HttpExchange>(std::move(r)), info, cause});
        }) {}

  void open(std::uint64_t conn, std::uint32_t pid, std::uint8_t role, std::uint64_t ts = 0) {
    zt_conn_event ev{};
    ev.hdr.kind = ZT_EV_CONN_OPEN;
    ev.hdr.pid = pid;
    ev.hdr.ts_ns = ts;
    ev.conn_id = conn;
    ev.role = role;
    ev.fd = 7;
    ev.tuple = loopback_tuple(8080, 40000 + static_cast<std::uint16_t>(conn));
    tracker_.on_conn_open(ev);
  }

  void data(std::uint64_t conn, std::uint32_t pid, std::uint8_t dir, const std::string& bytes, std::uint64_t ts,
            std::uint8_t role = ZT_ROLE_SERVER, std::uint8_t flags = 0, std::uint64_t position = UINT64_MAX) {
    zt_data_event ev{};
    ev.hdr.kind = ZT_EV_DATA;
    ev.hdr.pid = pid;
    ev.hdr.tid = pid;
    ev.hdr.ts_ns = ts;
    ev.start_ns = ts;
    ev.conn_id = conn;
    auto& next = positions_[{conn, dir}];
    ev.position = position == UINT64_MAX ? next : position;
    next = ev.position + bytes.size();
    ev.orig_size = bytes.size();
    ev.captured = static_cast<std::uint32_t>(bytes.size());
    ev.fd = 7;
    ev.direction = dir;
    ev.role = role;
    ev.flags = flags;
    ev.tuple = loopback_tuple(8080, 40000 + static_cast<std::uint16_t>(conn));
    tracker_.on_data(ev, bytes, ts);
  }

  void close(std::uint64_t conn, std::uint32_t pid, std::uint64_t ts) {
    zt_conn_event ev{};
    ev.hdr.kind = ZT_EV_CONN_CLOSE;
    ev.hdr.pid = pid;
    ev.hdr.ts_ns = ts;
    ev.conn_id = conn;
    tracker_.on_conn_close(ev);
  }

  ConnTracker tracker_;
  std::vector<Emitted> emitted_;
  std::map<std::pair<std::uint64_t, int>, std::uint64_t> positions_;
};

const std::string kRequest = "GET /a HTTP/1.1\r\nHost: svc\r\n\r\n";
const std::string kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TEST_F(ConnTrackerTest, AServerExchangeBecomesOneRecordWithItsConnection) {
  open(1, 100, ZT_ROLE_SERVER);
  data(1, 100, ZT_DIR_INGRESS, kRequest, 10 * kMs);
  data(1, 100, ZT_DIR_EGRESS, kResponse, 12 * kMs);
  ASSERT_EQ(emitted_.size(), 1u);
  const auto& e = emitted_[0];
  EXPECT_EQ(e.cause, FlushCause::InStream);
  EXPECT_EQ(e.exchange.request.target, "/a");
  ASSERT_TRUE(e.exchange.response);
  EXPECT_EQ(e.exchange.response->status_code, 200);
  EXPECT_EQ(e.info.pid, 100u);
  EXPECT_EQ(e.info.role, Role::Server);
  EXPECT_EQ(e.info.local.address, "127.0.0.1");
  EXPECT_EQ(e.info.local.port, 8080);
  EXPECT_EQ(e.info.remote.port, 40001);
  EXPECT_FALSE(e.info.midstream);
}

TEST_F(ConnTrackerTest, ARequestStillOpenAtCloseIsFlushedAsClosed) {
  open(1, 100, ZT_ROLE_SERVER);
  data(1, 100, ZT_DIR_INGRESS, kRequest, 10 * kMs);
  close(1, 100, 20 * kMs);
  ASSERT_EQ(emitted_.size(), 1u);
  EXPECT_EQ(emitted_[0].cause, FlushCause::Closed);
  EXPECT_FALSE(emitted_[0].exchange.response);
  EXPECT_EQ(tracker_.live_connections(), 0u);
  EXPECT_EQ(tracker_.stats().connections_closed, 1u);
}

TEST_F(ConnTrackerTest, AProcessExitFlushesAndFreesThatProcessOnly) {
  open(1, 100, ZT_ROLE_SERVER);
  open(2, 200, ZT_ROLE_SERVER);
  data(1, 100, ZT_DIR_INGRESS, kRequest, 10 * kMs);
  data(2, 200, ZT_DIR_INGRESS, kRequest, 10 * kMs);
  tracker_.on_process_exit(100, 30 * kMs);
  ASSERT_EQ(emitted_.size(), 1u);
  EXPECT_EQ(emitted_[0].info.pid, 100u);
  EXPECT_EQ(emitted_[0].cause, FlushCause::ProcessExit);
  EXPECT_EQ(tracker_.live_connections(), 1u);
}

TEST_F(ConnTrackerTest, AFirstCallTooShortToRecogniseIsJoinedToTheNext) {
  // A server that reads a few bytes first (a binary protocol's size; here "GET "), then the rest.
  open(1, 100, ZT_ROLE_SERVER);
  data(1, 100, ZT_DIR_INGRESS, kRequest.substr(0, 4), 10 * kMs);
  data(1, 100, ZT_DIR_INGRESS, kRequest.substr(4), 11 * kMs);
  data(1, 100, ZT_DIR_EGRESS, kResponse, 12 * kMs);
  ASSERT_EQ(emitted_.size(), 1u);
  EXPECT_EQ(emitted_[0].exchange.request.method, "GET");
  EXPECT_EQ(emitted_[0].exchange.request.target, "/a");
  // One chunk made of two calls: it starts with the first call and ends with the second.
  EXPECT_GE(emitted_[0].exchange.request.start_ns, 10 * kMs);
  EXPECT_LE(emitted_[0].exchange.request.start_ns, 11 * kMs);
  EXPECT_EQ(tracker_.stats().connections_unsupported, 0u);
}

TEST_F(ConnTrackerTest, NonHttpTrafficIsDeclaredUnsupportedAndThenIgnored) {
  open(1, 100, ZT_ROLE_SERVER);
  for (int i = 0; i < 8; ++i) data(1, 100, ZT_DIR_INGRESS, std::string("SSH-2.0-OpenSSH_9.2\r\n"), i * kMs);
  EXPECT_EQ(tracker_.stats().connections_unsupported, 1u);
  data(1, 100, ZT_DIR_INGRESS, kRequest, 20 * kMs);
  data(1, 100, ZT_DIR_EGRESS, kResponse, 21 * kMs);
  EXPECT_TRUE(emitted_.empty());
}

TEST_F(ConnTrackerTest, AConnectionSeenMidStreamStartsAtTheNextRequestAndLearnsItsRole) {
  // The tail of a body of a request that began before the agent, then a whole exchange.
  data(1, 100, ZT_DIR_INGRESS, "the rest of an upload", 1 * kMs, ZT_ROLE_UNKNOWN, ZT_DATA_F_MIDSTREAM);
  data(1, 100, ZT_DIR_INGRESS, kRequest, 2 * kMs, ZT_ROLE_UNKNOWN, ZT_DATA_F_MIDSTREAM);
  data(1, 100, ZT_DIR_EGRESS, kResponse, 3 * kMs, ZT_ROLE_UNKNOWN, ZT_DATA_F_MIDSTREAM);
  ASSERT_EQ(emitted_.size(), 1u);
  EXPECT_EQ(emitted_[0].info.role, Role::Server);
  EXPECT_TRUE(emitted_[0].info.midstream);
  EXPECT_EQ(emitted_[0].exchange.request.target, "/a");
}

TEST_F(ConnTrackerTest, LostRecordsBecomeAGapAndParsingResumesAfterIt) {
  open(1, 100, ZT_ROLE_SERVER);
  data(1, 100, ZT_DIR_INGRESS, kRequest, 1 * kMs);
  data(1, 100, ZT_DIR_EGRESS, kResponse, 2 * kMs);
  // 500 bytes of the next exchange were lost in the kernel (positions jump).
  data(1, 100, ZT_DIR_INGRESS, kRequest, 3 * kMs, ZT_ROLE_SERVER, 0, kRequest.size() + 500);
  data(1, 100, ZT_DIR_EGRESS, kResponse, 4 * kMs, ZT_ROLE_SERVER, 0, kResponse.size() + 700);
  EXPECT_EQ(emitted_.size(), 1u);  // the later bytes wait for the missing ones
  tracker_.tick(200 * kMs);        // long past the 50 ms wait
  ASSERT_EQ(emitted_.size(), 2u);
  EXPECT_EQ(emitted_[1].exchange.request.target, "/a");
  ASSERT_TRUE(emitted_[1].exchange.response);
  EXPECT_EQ(tracker_.stats().gaps, 2u);
  EXPECT_EQ(tracker_.stats().gap_bytes, 1200u);
}

TEST_F(ConnTrackerTest, ShutdownFlushesEveryConnection) {
  open(1, 100, ZT_ROLE_SERVER);
  open(2, 100, ZT_ROLE_CLIENT);
  data(1, 100, ZT_DIR_INGRESS, kRequest, 1 * kMs);
  data(2, 100, ZT_DIR_EGRESS, kRequest, 1 * kMs, ZT_ROLE_CLIENT);
  tracker_.shutdown(5 * kMs);
  ASSERT_EQ(emitted_.size(), 2u);
  for (const auto& e : emitted_) EXPECT_EQ(e.cause, FlushCause::Shutdown);
  EXPECT_EQ(tracker_.live_connections(), 0u);
}

// Records what the tracker asks of the kernel.
class FakeKernelControl final : public KernelControl {
 public:
  struct Skip {
    std::uint64_t conn_id;
    protocols::Direction dir;
    std::uint64_t until;
  };
  void disable_connection(const ConnectionInfo& conn) override { disabled.push_back(conn.conn_id); }
  void skip(const ConnectionInfo& conn, protocols::Direction dir, std::uint64_t until) override {
    skips.push_back({conn.conn_id, dir, until});
  }
  std::vector<std::uint64_t> disabled;
  std::vector<Skip> skips;
};

class KernelControlTest : public ConnTrackerTest {
 protected:
  KernelControlTest() { tracker_.set_kernel_control(&control_); }

  // A data call of `size` bytes of which only `captured` reached userspace (the kernel's copy
  // limit, or a skip that sent no payload).
  void partial(std::uint64_t conn, std::uint8_t dir, const std::string& captured, std::uint64_t size,
               std::uint64_t ts) {
    zt_data_event ev{};
    ev.hdr.kind = ZT_EV_DATA;
    ev.hdr.pid = 100;
    ev.hdr.tid = 100;
    ev.hdr.ts_ns = ts;
    ev.start_ns = ts;
    ev.conn_id = conn;
    auto& next = positions_[{conn, dir}];
    ev.position = next;
    next += size;
    ev.orig_size = size;
    ev.captured = static_cast<std::uint32_t>(captured.size());
    ev.fd = 7;
    ev.direction = dir;
    ev.role = ZT_ROLE_SERVER;
    ev.tuple = loopback_tuple(8080, 40000 + static_cast<std::uint16_t>(conn));
    tracker_.on_data(ev, captured, ts);
  }

  FakeKernelControl control_;
};

TEST_F(KernelControlTest, AnUnsupportedConnectionIsDisabledInTheKernelOnce) {
  open(1, 100, ZT_ROLE_SERVER);
  for (int i = 0; i < 12; ++i) data(1, 100, ZT_DIR_INGRESS, std::string("SSH-2.0-OpenSSH_9.2\r\n"), i * kMs);
  EXPECT_EQ(control_.disabled, std::vector<std::uint64_t>{1});
  EXPECT_TRUE(control_.skips.empty());
}

TEST_F(KernelControlTest, ALargeContentLengthBodyIsSkippedFromWhereTheParserIsToItsEnd) {
  open(1, 100, ZT_ROLE_SERVER);
  const std::string head = "POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: 1048576\r\n\r\n";
  const std::string first_body(4096 - head.size(), 'x');
  // The first read: the header block and the start of the body, 64 KiB read, 4 KiB captured.
  partial(1, ZT_DIR_INGRESS, head + first_body, 65536, 1 * kMs);
  ASSERT_EQ(control_.skips.size(), 1u);
  EXPECT_EQ(control_.skips[0].conn_id, 1u);
  EXPECT_EQ(control_.skips[0].dir, protocols::Direction::Ingress);
  EXPECT_EQ(control_.skips[0].until, head.size() + 1048576);  // the stream position of the body's end
  // Later reads inside the body arrive without payload; nothing more is asked; the next request
  // (captured normally after the skipped range) is parsed.
  std::uint64_t left = head.size() + 1048576 - 65536;
  while (left > 0) {
    const std::uint64_t n = std::min<std::uint64_t>(left, 65536);
    partial(1, ZT_DIR_INGRESS, "", n, 2 * kMs);
    left -= n;
  }
  EXPECT_EQ(control_.skips.size(), 1u);
  data(1, 100, ZT_DIR_EGRESS, "HTTP/1.1 204 No Content\r\n\r\n", 3 * kMs);
  data(1, 100, ZT_DIR_INGRESS, kRequest, 4 * kMs);
  data(1, 100, ZT_DIR_EGRESS, kResponse, 5 * kMs);
  ASSERT_EQ(emitted_.size(), 2u);
  EXPECT_EQ(emitted_[0].exchange.request.method, "POST");
  EXPECT_EQ(emitted_[0].exchange.request.body_bytes, 1048576u);
  ASSERT_TRUE(emitted_[0].exchange.response);
  EXPECT_EQ(emitted_[0].exchange.response->status_code, 204);
  EXPECT_EQ(emitted_[1].exchange.request.target, "/a");
  EXPECT_TRUE(control_.disabled.empty());
}

TEST_F(KernelControlTest, ALargeChunkOfAChunkedBodyIsSkippedToTheChunkEndOnly) {
  open(1, 100, ZT_ROLE_SERVER);
  const std::string head = "POST /stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n186a0\r\n";  // 100000
  partial(1, ZT_DIR_INGRESS, head + std::string(100, 'c'), head.size() + 100, 1 * kMs);
  ASSERT_EQ(control_.skips.size(), 1u);
  // The chunk's end, not the body's: the next size line must be read.
  EXPECT_EQ(control_.skips[0].until, head.size() + 100000);
  partial(1, ZT_DIR_INGRESS, "", 100000 - 100, 2 * kMs);
  data(1, 100, ZT_DIR_INGRESS, "\r\n0\r\n\r\n", 3 * kMs);
  data(1, 100, ZT_DIR_EGRESS, kResponse, 4 * kMs);
  ASSERT_EQ(emitted_.size(), 1u);
  EXPECT_EQ(emitted_[0].exchange.request.body_bytes, 100000u);
  EXPECT_TRUE(emitted_[0].exchange.request.body_complete);
}

TEST_F(KernelControlTest, SmallBodiesAreNeverSkipped) {
  open(1, 100, ZT_ROLE_SERVER);
  const std::string body(3000, 'y');  // less than the 4 KiB a skip must save
  data(1, 100, ZT_DIR_INGRESS, "POST /small HTTP/1.1\r\nContent-Length: 3000\r\n\r\n", 1 * kMs);
  data(1, 100, ZT_DIR_INGRESS, body, 2 * kMs);
  data(1, 100, ZT_DIR_EGRESS, kResponse, 3 * kMs);
  data(1, 100, ZT_DIR_INGRESS, kRequest, 4 * kMs);
  data(1, 100, ZT_DIR_EGRESS, kResponse, 5 * kMs);
  EXPECT_EQ(emitted_.size(), 2u);
  EXPECT_TRUE(control_.skips.empty());
  EXPECT_TRUE(control_.disabled.empty());
}

class BoundedConnTrackerTest : public ConnTrackerTest {
 protected:
  static ConnTrackerOptions bounded() {
    ConnTrackerOptions o;
    o.max_connections = 2;
    o.idle_timeout_ns = 100 * kMs;
    return o;
  }
  BoundedConnTrackerTest() : ConnTrackerTest(bounded()) {}
};

TEST_F(BoundedConnTrackerTest, IdleConnectionsAreEvictedWithWhatTheyHeld) {
  open(1, 100, ZT_ROLE_SERVER, 0);
  data(1, 100, ZT_DIR_INGRESS, kRequest, 1 * kMs);
  tracker_.tick(50 * kMs);
  EXPECT_EQ(tracker_.live_connections(), 1u);
  tracker_.tick(102 * kMs);
  EXPECT_EQ(tracker_.live_connections(), 0u);
  ASSERT_EQ(emitted_.size(), 1u);
  EXPECT_EQ(emitted_[0].cause, FlushCause::Idle);
  EXPECT_EQ(tracker_.stats().connections_evicted, 1u);
}

TEST_F(BoundedConnTrackerTest, AtTheCapTheLeastRecentlyActiveConnectionGoes) {
  open(1, 100, ZT_ROLE_SERVER, 1 * kMs);
  open(2, 100, ZT_ROLE_SERVER, 2 * kMs);
  data(1, 100, ZT_DIR_INGRESS, kRequest, 3 * kMs);  // 1 is now the more recent
  open(3, 100, ZT_ROLE_SERVER, 4 * kMs);
  EXPECT_EQ(tracker_.live_connections(), 2u);
  EXPECT_EQ(tracker_.stats().connections_evicted, 1u);
  data(2, 100, ZT_DIR_INGRESS, kRequest, 5 * kMs);  // 2 comes back as a new connection: 1 goes
  ASSERT_EQ(emitted_.size(), 1u);
  EXPECT_EQ(emitted_[0].info.conn_id, 1u);
  EXPECT_EQ(emitted_[0].cause, FlushCause::Evicted);
}

// ---- TLS: ciphertext on the socket, plaintext from the TLS probes as a stream of its own --------

namespace tls_fixture {

struct Recorded {
  std::uint8_t dir;
  std::string data;
};

// The socket bytes of a TLS 1.3 handshake (tests/fixtures/tls/tls13.json, recorded client side:
// SNI example.test, ALPN h2 chosen; see its README).
std::vector<Recorded> handshake() {
  std::ifstream in(std::string(ZT_FIXTURES_DIR) + "/tls/tls13.json");
  const auto fixture = nlohmann::json::parse(in);
  std::vector<Recorded> out;
  for (const auto& chunk : fixture.at("chunks")) {
    if (chunk.contains("plaintext")) break;  // application data from here
    out.push_back({static_cast<std::uint8_t>(chunk.at("dir") == "ingress" ? ZT_DIR_INGRESS : ZT_DIR_EGRESS),
                   text::base64_decode(chunk.at("data_b64").get<std::string>()).value()});
  }
  return out;
}

}  // namespace tls_fixture

TEST_F(KernelControlTest, ATlsHandshakeMakesTheSocketTlsNotUnsupportedAndItsPlaintextGivesHttpsRecords) {
  open(1, 100, ZT_ROLE_CLIENT);
  std::uint64_t ts = 1 * kMs;
  for (const auto& chunk : tls_fixture::handshake()) data(1, 100, chunk.dir, chunk.data, ts += kMs, ZT_ROLE_CLIENT);
  EXPECT_EQ(tracker_.stats().tls_connections, 1u);
  EXPECT_EQ(tracker_.stats().connections_unsupported, 0u);
  EXPECT_TRUE(control_.disabled.empty()) << "the ciphertext is kept while no plaintext came";

  const std::uint64_t cipher_ingress_end = positions_[{1, ZT_DIR_INGRESS}];
  // The plaintext of the TLS calls: positions of its own stream, flagged by the kernel.
  const auto flags = ZT_DATA_F_TLS | ZT_DATA_F_TLS_PLAINTEXT;
  const std::string request = "GET /secure HTTP/1.1\r\nHost: example.test\r\n\r\n";
  data(1, 100, ZT_DIR_EGRESS, request, 20 * kMs, ZT_ROLE_CLIENT, flags, 0);
  data(1, 100, ZT_DIR_INGRESS, kResponse, 21 * kMs, ZT_ROLE_CLIENT, flags, 0);
  ASSERT_EQ(emitted_.size(), 1u);
  const auto& e = emitted_[0];
  EXPECT_EQ(e.exchange.request.target, "/secure");
  EXPECT_EQ(e.info.conn_id, 1u) << "the socket's id, for pairing and propagation";
  EXPECT_TRUE(e.info.tls);
  ASSERT_TRUE(e.info.tls_session);
  EXPECT_EQ(e.info.tls_session->protocol_version, "1.3");
  EXPECT_EQ(e.info.tls_session->server_name, "example.test");
  EXPECT_EQ(e.info.tls_session->cipher, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(tracker_.stats().tls_plaintext_streams, 1u);

  // Once plaintext flows and the handshake is read, the socket's ciphertext is no longer copied.
  data(1, 100, ZT_DIR_INGRESS, std::string("\x17\x03\x03\x00\x13", 5) + std::string(0x13, 'c'), 22 * kMs,
       ZT_ROLE_CLIENT, ZT_DATA_F_TLS, cipher_ingress_end);
  EXPECT_EQ(control_.disabled, std::vector<std::uint64_t>{1});
  close(1, 100, 30 * kMs);
  EXPECT_EQ(tracker_.live_connections(), 0u) << "the plaintext stream closes with its socket";
  EXPECT_EQ(tracker_.stats().tls_without_plaintext, 0u);
}

TEST_F(ConnTrackerTest, CiphertextIsNeverParsedEvenWhenATlsCallFlagsTheSocketMidstream) {
  open(1, 100, ZT_ROLE_SERVER);
  // Bytes that would parse as HTTP if they were not known to be ciphertext.
  data(1, 100, ZT_DIR_INGRESS, kRequest, 1 * kMs, ZT_ROLE_SERVER, ZT_DATA_F_TLS);
  data(1, 100, ZT_DIR_EGRESS, kResponse, 2 * kMs, ZT_ROLE_SERVER, ZT_DATA_F_TLS);
  EXPECT_TRUE(emitted_.empty());
  close(1, 100, 3 * kMs);
  EXPECT_EQ(tracker_.stats().tls_without_plaintext, 1u);
}

TEST_F(ConnTrackerTest, PlaintextBoundInUserspaceComesBeforeTheKernelsPositions) {
  open(1, 100, ZT_ROLE_SERVER);
  std::uint64_t ts = 1 * kMs;
  for (const auto& chunk : tls_fixture::handshake()) {
    // The fixture was recorded client side: as the server, each direction is the other one.
    data(1, 100, chunk.dir == ZT_DIR_INGRESS ? ZT_DIR_EGRESS : ZT_DIR_INGRESS, chunk.data, ts += kMs);
  }
  const std::string first = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
  // Held by the binder, then delivered once the SSL object was bound by record lengths.
  tracker_.on_tls_plaintext(1, protocols::Direction::Ingress, 100, 10 * kMs, 10 * kMs, first.size(), first, 0,
                            10 * kMs);
  tracker_.on_tls_plaintext(1, protocols::Direction::Egress, 100, 11 * kMs, 11 * kMs, kResponse.size(), kResponse, 0,
                            11 * kMs);
  ASSERT_EQ(emitted_.size(), 1u);
  ASSERT_TRUE(emitted_[0].info.tls_session);
  EXPECT_TRUE(emitted_[0].info.tls_session->bound_by_length);
  // Later calls are tied in the kernel, whose plaintext positions start at 0.
  const auto flags = ZT_DATA_F_TLS | ZT_DATA_F_TLS_PLAINTEXT;
  const std::string second = "GET /two HTTP/1.1\r\nHost: a\r\n\r\n";
  data(1, 100, ZT_DIR_INGRESS, second, 12 * kMs, ZT_ROLE_SERVER, flags, 0);
  data(1, 100, ZT_DIR_EGRESS, kResponse, 13 * kMs, ZT_ROLE_SERVER, flags, 0);
  ASSERT_EQ(emitted_.size(), 2u);
  EXPECT_EQ(emitted_[1].exchange.request.target, "/two");
  EXPECT_EQ(tracker_.stats().gaps, 0u);
}

}  // namespace
}  // namespace zt::pipeline
