#include "protocols/detector.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "support/http2_frames.h"

namespace zt::protocols {
namespace {

using namespace std::string_view_literals;

Chunk captured(std::string_view data) {
  Chunk chunk;
  chunk.size = data.size();
  chunk.data = data;
  chunk.start_ns = 10;
  chunk.end_ns = 20;
  return chunk;
}

TEST(DetectorTest, RequestLineSelectsHttp1AndSettlesTheRole) {
  const Chunk request = captured("GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n");
  auto server = detect_protocol(Direction::Ingress, request, Role::Unknown, false);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->protocol_name(), "http1");
  EXPECT_EQ(server->role(), Role::Server);

  auto client = detect_protocol(Direction::Egress, request, Role::Unknown, false);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->role(), Role::Client);

  EXPECT_NE(detect_protocol(Direction::Ingress, request, Role::Server, false), nullptr);
}

TEST(DetectorTest, DetectedParserAcceptsTheDetectingChunk) {
  const Chunk request = captured("POST /api HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
  auto parser = detect_protocol(Direction::Ingress, request, Role::Server, false);
  ASSERT_NE(parser, nullptr);
  parser->on_chunk(Direction::Ingress, request);
  parser->on_chunk(Direction::Egress, captured("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  auto records = parser->take_records();
  ASSERT_EQ(records.size(), 1u);
  const auto& exchange = std::get<HttpExchange>(records[0]);
  EXPECT_EQ(exchange.request.method, "POST");
  EXPECT_EQ(exchange.request.body_bytes, 2u);
  EXPECT_EQ(exchange.response->status_code, 200);
}

TEST(DetectorTest, RequestAgainstTheKnownRoleIsRejected) {
  const Chunk request = captured("GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(detect_protocol(Direction::Egress, request, Role::Server, false), nullptr);
  EXPECT_EQ(detect_protocol(Direction::Ingress, request, Role::Client, false), nullptr);
}

TEST(DetectorTest, StatusLineCountsOnlyMidstreamOrWithUnknownRole) {
  const Chunk response = captured("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(detect_protocol(Direction::Egress, response, Role::Server, false), nullptr);
  auto midstream = detect_protocol(Direction::Egress, response, Role::Server, true);
  ASSERT_NE(midstream, nullptr);
  EXPECT_EQ(midstream->role(), Role::Server);
  auto unknown = detect_protocol(Direction::Ingress, response, Role::Unknown, false);
  ASSERT_NE(unknown, nullptr);
  EXPECT_EQ(unknown->role(), Role::Client);
  EXPECT_EQ(detect_protocol(Direction::Ingress, response, Role::Server, true), nullptr);
}

TEST(DetectorTest, OtherProtocolsAreNotHttp1) {
  auto http2 = detect_protocol(Direction::Egress, captured("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Role::Client, false);
  ASSERT_NE(http2, nullptr);
  EXPECT_EQ(http2->protocol_name(), "http2");
  EXPECT_EQ(detect_protocol(Direction::Egress, captured("\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03"sv),
                            Role::Unknown, false),
            nullptr);
  EXPECT_EQ(detect_protocol(Direction::Egress, captured("*1\r\n$4\r\nPING\r\n"), Role::Client, false), nullptr);
  EXPECT_EQ(detect_protocol(Direction::Egress, captured("\x00\x00\x00\x2a\x00\x12\x00\x03"sv), Role::Client, false),
            nullptr);
  EXPECT_EQ(detect_protocol(Direction::Egress, captured(""), Role::Unknown, true), nullptr);
}

TEST(DetectorTest, PartialRequestLineIsNotEnough) {
  EXPECT_EQ(detect_protocol(Direction::Ingress, captured("GET /a HTT"), Role::Server, false), nullptr);
}

TEST(DetectorTest, GapChunkIsNeverDetected) {
  Chunk lost;
  lost.size = 4096;
  lost.gap = true;
  EXPECT_EQ(detect_protocol(Direction::Ingress, lost, Role::Unknown, true), nullptr);
}


namespace h2 = test::http2;

TEST(DetectorTest, ClientPrefaceSelectsHttp2) {
  const std::string bytes = h2::preface() + h2::settings();
  auto server = detect_protocol(Direction::Ingress, captured(bytes), Role::Unknown, false);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->protocol_name(), "http2");
  EXPECT_EQ(server->role(), Role::Server);
  auto client = detect_protocol(Direction::Egress, captured(bytes), Role::Client, true);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->role(), Role::Client);
  EXPECT_NE(detect_protocol(Direction::Egress, captured("PRI * HTTP/2.0\r\n"), Role::Client, false), nullptr);
  EXPECT_EQ(detect_protocol(Direction::Egress, captured("PRI * HTTP/2"), Role::Client, false), nullptr);
  EXPECT_EQ(detect_protocol(Direction::Egress, captured(bytes), Role::Server, false), nullptr);
}

TEST(DetectorTest, H2cUpgradeRequestSelectsHttp2AndOtherUpgradesStayHttp1) {
  const Chunk upgrade = captured("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n");
  auto parser = detect_protocol(Direction::Ingress, upgrade, Role::Unknown, false);
  ASSERT_NE(parser, nullptr);
  EXPECT_EQ(parser->protocol_name(), "http2");
  EXPECT_EQ(parser->role(), Role::Server);
  auto websocket = detect_protocol(Direction::Ingress, captured("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"),
                                   Role::Unknown, false);
  ASSERT_NE(websocket, nullptr);
  EXPECT_EQ(websocket->protocol_name(), "http1");
}

TEST(DetectorTest, ServerSettingsAsTheFirstBytesSelectHttp2) {
  const std::string bytes = h2::settings({{3, 100}}) + h2::window_update(0, 1 << 20);
  auto client = detect_protocol(Direction::Ingress, captured(bytes), Role::Unknown, false);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->protocol_name(), "http2");
  EXPECT_EQ(client->role(), Role::Client);
  auto server = detect_protocol(Direction::Egress, captured(bytes), Role::Unknown, false);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->role(), Role::Server);
  EXPECT_EQ(detect_protocol(Direction::Egress, captured(bytes), Role::Client, false), nullptr);
  EXPECT_EQ(detect_protocol(Direction::Egress, captured(h2::settings_ack()), Role::Unknown, false), nullptr);
  EXPECT_EQ(detect_protocol(Direction::Egress, captured(h2::headers(1, "\x82", true)), Role::Unknown, false), nullptr);
}

TEST(DetectorTest, MidstreamNeedsWholePlausibleFramesFillingTheChunk) {
  const std::string call = h2::headers(7, "\x83\x86", false) + h2::data(7, "payload", true);
  auto parser = detect_protocol(Direction::Ingress, captured(call), Role::Unknown, true);
  ASSERT_NE(parser, nullptr);
  EXPECT_EQ(parser->protocol_name(), "http2");
  EXPECT_EQ(parser->role(), Role::Unknown);  // learned later from :method or :status
  EXPECT_NE(detect_protocol(Direction::Egress, captured(h2::ping()), Role::Server, true), nullptr);
  EXPECT_NE(detect_protocol(Direction::Egress, captured(h2::headers(9, "\x88", true)), Role::Server, true), nullptr);
  // A lone DATA frame, a cut chunk, a chunk with trailing bytes, text: not enough.
  EXPECT_EQ(detect_protocol(Direction::Egress, captured(h2::data(7, "payload")), Role::Server, true), nullptr);
  Chunk cut = captured(std::string_view(call).substr(0, 12));
  cut.size = call.size();
  EXPECT_EQ(detect_protocol(Direction::Ingress, cut, Role::Unknown, true), nullptr);
  const std::string trailing = call + "x";
  EXPECT_EQ(detect_protocol(Direction::Ingress, captured(trailing), Role::Unknown, true), nullptr);
  EXPECT_EQ(detect_protocol(Direction::Ingress, captured(h2::continuation(7, "\x82", true)), Role::Unknown, true),
            nullptr);
}

}  // namespace
}  // namespace zt::protocols
