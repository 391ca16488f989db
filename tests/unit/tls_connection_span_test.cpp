// A TLS connection whose plaintext is never seen (Java's own TLS, an unprobed library) gives, with
// tls.handshake_spans, one record at its close and a span with its handshake's facts
// (protocols/tls/tls_protocol.h). Driven through the connection tracker with a recorded TLS 1.3
// handshake (tests/fixtures/tls/tls13.json: client side, SNI example.test).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/text.h"
#include "pipeline/conn_tracker.h"
#include "pipeline/span_builder.h"

namespace zt::pipeline {
namespace {

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

struct Captured {
  protocols::Record record;
  ConnectionInfo info;
  FlushCause cause;
};

class TlsConnectionSpanTest : public ::testing::TestWithParam<bool> {
 protected:
  TlsConnectionSpanTest()
      : tracker_(
            [] {
              ConnTrackerOptions o;
              o.tls_handshake_spans = true;
              return o;
            }(),
            [this](protocols::Record&& r, const ConnectionInfo& info, FlushCause cause) {
              captured_.push_back({std::move(r), info, cause});
            }) {}

  void open(std::uint8_t role, std::uint64_t ts) {
    zt_conn_event ev{};
    ev.hdr.kind = ZT_EV_CONN_OPEN;
    ev.hdr.pid = 100;
    ev.hdr.ts_ns = ts;
    ev.conn_id = 1;
    ev.role = role;
    ev.fd = 7;
    ev.tuple = loopback_tuple(role == ZT_ROLE_CLIENT ? 40001 : 8443, role == ZT_ROLE_CLIENT ? 8443 : 40001);
    tracker_.on_conn_open(ev);
  }
  void data(std::uint8_t dir, const std::string& bytes, std::uint64_t ts, std::uint32_t tid, std::uint8_t role,
            std::uint8_t flags = 0, std::optional<std::uint64_t> position = std::nullopt) {
    zt_data_event ev{};
    ev.hdr.kind = ZT_EV_DATA;
    ev.hdr.pid = 100;
    ev.hdr.tid = tid;
    ev.hdr.ts_ns = ts;
    ev.start_ns = ts;
    ev.conn_id = 1;
    auto& next = positions_[dir];
    ev.position = position ? *position : next;
    if (!position) next += bytes.size();
    ev.orig_size = bytes.size();
    ev.captured = static_cast<std::uint32_t>(bytes.size());
    ev.fd = 7;
    ev.direction = dir;
    ev.role = role;
    ev.flags = flags;
    ev.tuple = loopback_tuple(role == ZT_ROLE_CLIENT ? 40001 : 8443, role == ZT_ROLE_CLIENT ? 8443 : 40001);
    tracker_.on_data(ev, bytes, ts);
  }
  void close(std::uint64_t ts) {
    zt_conn_event ev{};
    ev.hdr.kind = ZT_EV_CONN_CLOSE;
    ev.hdr.pid = 100;
    ev.hdr.ts_ns = ts;
    ev.conn_id = 1;
    tracker_.on_conn_close(ev);
  }
  // The recorded handshake, as the client (the recording's side) or as the server.
  void handshake(bool as_client, std::uint64_t& ts) {
    std::ifstream in(std::string(ZT_FIXTURES_DIR) + "/tls/tls13.json");
    const auto fixture = nlohmann::json::parse(in);
    for (const auto& chunk : fixture.at("chunks")) {
      if (chunk.contains("plaintext")) break;
      const bool ingress = chunk.at("dir") == "ingress";
      const std::uint8_t dir = (ingress == as_client) ? ZT_DIR_INGRESS : ZT_DIR_EGRESS;
      data(dir, text::base64_decode(chunk.at("data_b64").get<std::string>()).value(), ts += kMs, 4242,
           as_client ? ZT_ROLE_CLIENT : ZT_ROLE_SERVER);
    }
  }

  ConnTracker tracker_;
  std::vector<Captured> captured_;
  std::uint64_t positions_[2] = {0, 0};
};

TEST_P(TlsConnectionSpanTest, AConnectionWithoutPlaintextGivesOneSpanWithItsHandshake) {
  const bool client = GetParam();
  open(client ? ZT_ROLE_CLIENT : ZT_ROLE_SERVER, 1 * kMs);
  std::uint64_t ts = 10 * kMs;
  const std::uint64_t first = ts + kMs;
  handshake(client, ts);
  // Encrypted application data both ways: never parsed.
  data(ZT_DIR_EGRESS, std::string("\x17\x03\x03\x00\x20", 5) + std::string(0x20, 'x'), ts += kMs, 4242,
       client ? ZT_ROLE_CLIENT : ZT_ROLE_SERVER);
  EXPECT_TRUE(captured_.empty()) << "nothing before the close";
  close(90 * kMs);
  ASSERT_EQ(captured_.size(), 1u);
  const auto* record = std::get_if<protocols::TlsConnectionRecord>(&captured_[0].record);
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(record->start_ns, first) << "from its first TLS bytes";
  EXPECT_EQ(record->end_ns, 90 * kMs) << "to its close";
  EXPECT_EQ(record->tid, 4242u);
  EXPECT_EQ(captured_[0].cause, FlushCause::Closed);
  EXPECT_TRUE(captured_[0].info.tls);
  EXPECT_EQ(tracker_.stats().tls_without_plaintext, 1u);
  EXPECT_EQ(tracker_.stats().tls_handshake_records, 1u);

  MonotonicToRealtime clock;
  SpanBuilder builder([](std::uint32_t) { return std::make_shared<trace::Resource>(); }, &clock);
  const auto span = builder.build(captured_[0].record, captured_[0].info, captured_[0].cause);
  EXPECT_EQ(span.name, "TLS example.test");
  EXPECT_EQ(span.kind, client ? trace::SpanKind::Client : trace::SpanKind::Server);
  const auto text = [&](std::string_view key) -> std::string {
    const auto* v = span.find_attribute(key);
    return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : "<missing>";
  };
  EXPECT_EQ(text("tls.protocol.name"), "tls");
  EXPECT_EQ(text("tls.protocol.version"), "1.3");
  EXPECT_EQ(text("tls.cipher"), "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(text("tls.client.server_name"), "example.test");
  EXPECT_EQ(text("server.address"), client ? "example.test" : "127.0.0.1");
  EXPECT_EQ(span.find_attribute("url.scheme"), nullptr) << "no request was seen";
  const auto* seen = span.find_attribute("zerotrace.tls.plaintext_seen");
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ(*seen, trace::AttributeValue(false));
  EXPECT_EQ(span.end_unix_ns - span.start_unix_ns, 90 * kMs - first);
}

INSTANTIATE_TEST_SUITE_P(ClientAndServer, TlsConnectionSpanTest, ::testing::Bool(),
                         [](const auto& p) { return p.param ? "Client" : "Server"; });

TEST_F(TlsConnectionSpanTest, AConnectionWhosePlaintextWasSeenGivesItsRequestsOnly) {
  open(ZT_ROLE_CLIENT, 1 * kMs);
  std::uint64_t ts = 10 * kMs;
  handshake(true, ts);
  const auto flags = ZT_DATA_F_TLS | ZT_DATA_F_TLS_PLAINTEXT;
  data(ZT_DIR_EGRESS, "GET /a HTTP/1.1\r\nHost: example.test\r\n\r\n", 30 * kMs, 4242, ZT_ROLE_CLIENT, flags, 0);
  data(ZT_DIR_INGRESS, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 31 * kMs, 4242, ZT_ROLE_CLIENT, flags, 0);
  close(40 * kMs);
  ASSERT_EQ(captured_.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<protocols::HttpExchange>(captured_[0].record));
  EXPECT_EQ(tracker_.stats().tls_handshake_records, 0u);
}

TEST(TlsConnectionSpanOff, ByDefaultSuchAConnectionIsCountedOnly) {
  std::vector<protocols::Record> records;
  ConnTracker tracker({}, [&](protocols::Record&& r, const ConnectionInfo&, FlushCause) { records.push_back(r); });
  zt_conn_event open{};
  open.hdr.kind = ZT_EV_CONN_OPEN;
  open.hdr.pid = 100;
  open.conn_id = 1;
  open.role = ZT_ROLE_SERVER;
  open.tuple = loopback_tuple(8443, 40001);
  tracker.on_conn_open(open);
  zt_data_event ev{};
  ev.hdr.kind = ZT_EV_DATA;
  ev.hdr.pid = 100;
  ev.conn_id = 1;
  ev.direction = ZT_DIR_INGRESS;
  ev.role = ZT_ROLE_SERVER;
  ev.flags = ZT_DATA_F_TLS;
  ev.tuple = open.tuple;
  const std::string record = std::string("\x17\x03\x03\x00\x04", 5) + "abcd";
  ev.orig_size = ev.captured = static_cast<std::uint32_t>(record.size());
  tracker.on_data(ev, record, 1 * kMs);
  zt_conn_event close{};
  close.hdr.kind = ZT_EV_CONN_CLOSE;
  close.hdr.pid = 100;
  close.hdr.ts_ns = 2 * kMs;
  close.conn_id = 1;
  tracker.on_conn_close(close);
  EXPECT_TRUE(records.empty());
  EXPECT_EQ(tracker.stats().tls_without_plaintext, 1u);
  EXPECT_EQ(tracker.stats().tls_handshake_records, 0u);
}

}  // namespace
}  // namespace zt::pipeline
