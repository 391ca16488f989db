#include "protocols/http1/http1_connection.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace zt::protocols::http1 {
namespace {

using namespace std::string_view_literals;

constexpr Direction kIn = Direction::Ingress;
constexpr Direction kOut = Direction::Egress;

Chunk captured(std::string_view data, std::uint64_t start_ns, std::uint64_t end_ns, std::uint32_t tid = 1) {
  Chunk chunk;
  chunk.size = data.size();
  chunk.data = data;
  chunk.start_ns = start_ns;
  chunk.end_ns = end_ns;
  chunk.tid = tid;
  return chunk;
}

Chunk gap(std::uint64_t size, std::uint64_t start_ns, std::uint64_t end_ns) {
  Chunk chunk = captured({}, start_ns, end_ns);
  chunk.size = size;
  chunk.gap = true;
  return chunk;
}

std::vector<HttpExchange> exchanges(ConnectionParser& parser) {
  std::vector<HttpExchange> out;
  for (Record& record : parser.take_records()) out.push_back(std::get<HttpExchange>(std::move(record)));
  return out;
}

TEST(Http1ConnectionTest, ServerKeepAliveStitchesEachResponseToItsRequest) {
  Http1ConnectionParser parser(Role::Server, false);
  parser.on_chunk(kIn, captured("GET /users/1 HTTP/1.1\r\nHost: api\r\n\r\n", 100, 1100, 5));
  parser.on_chunk(kOut, captured("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"a\":1}", 1500, 1600, 5));
  parser.on_chunk(kIn, captured("GET /missing HTTP/1.1\r\nHost: api\r\n\r\n", 1700, 2100, 6));
  parser.on_chunk(kOut, captured("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 2300, 2400, 6));

  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].request.method, "GET");
  EXPECT_EQ(records[0].request.target, "/users/1");
  ASSERT_TRUE(records[0].response.has_value());
  EXPECT_EQ(records[0].response->status_code, 200);
  EXPECT_EQ(records[0].response->body_bytes, 7u);
  EXPECT_EQ(records[0].request.start_ns, 1100u);  // Ingress: read exit
  EXPECT_EQ(records[0].request.end_ns, 1100u);
  EXPECT_EQ(records[0].request.tid, 5u);
  EXPECT_EQ(records[0].response->start_ns, 1500u);  // Egress: write entry
  EXPECT_EQ(records[0].response->end_ns, 1600u);
  EXPECT_EQ(records[1].request.target, "/missing");
  EXPECT_EQ(records[1].response->status_code, 404);
  EXPECT_EQ(records[1].request.tid, 6u);
  EXPECT_TRUE(parser.take_records().empty());
  EXPECT_EQ(parser.role(), Role::Server);
  EXPECT_EQ(parser.stats().messages, 4u);
  EXPECT_EQ(parser.stats().parse_errors, 0u);
  EXPECT_EQ(parser.protocol_name(), "http1");
}

TEST(Http1ConnectionTest, ClientRoleSendsRequestsOnEgress) {
  Http1ConnectionParser parser(Role::Client, false);
  parser.on_chunk(kOut, captured("POST /v1/orders HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 10, 20));
  parser.on_chunk(kIn, captured("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 30, 900));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request.method, "POST");
  EXPECT_EQ(records[0].request.body_bytes, 2u);
  EXPECT_EQ(records[0].request.start_ns, 10u);
  EXPECT_EQ(records[0].response->status_code, 201);
  EXPECT_EQ(records[0].response->start_ns, 900u);
}

TEST(Http1ConnectionTest, PipelinedRequestsAndResponsesInSingleChunks) {
  Http1ConnectionParser parser(Role::Server, false);
  parser.on_chunk(kIn, captured("GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n", 1, 2));
  // The HEAD response carries a Content-Length but no body: framing must know the method.
  parser.on_chunk(kOut, captured("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
                                 "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"
                                 "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nno",
                                 3, 4));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].request.target, "/1");
  EXPECT_EQ(records[0].response->body_bytes, 1u);
  EXPECT_EQ(records[1].request.method, "HEAD");
  EXPECT_EQ(records[1].response->status_code, 200);
  EXPECT_EQ(records[1].response->body_bytes, 0u);
  EXPECT_EQ(records[2].request.target, "/3");
  EXPECT_EQ(records[2].response->status_code, 500);
  EXPECT_EQ(records[2].response->body_bytes, 2u);
  EXPECT_EQ(parser.stats().parse_errors, 0u);
}

TEST(Http1ConnectionTest, RequestSplitByteByByteIsStitched) {
  Http1ConnectionParser parser(Role::Server, false);
  const std::string request = "POST /form HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
  for (std::size_t i = 0; i < request.size(); ++i) {
    parser.on_chunk(kIn, captured(std::string_view(request).substr(i, 1), 10 * i, 10 * i + 1));
  }
  parser.on_chunk(kOut, captured("HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n", 5000, 5001));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request.target, "/form");
  EXPECT_EQ(records[0].request.body_bytes, 3u);
  EXPECT_EQ(records[0].request.start_ns, 1u);
  EXPECT_EQ(records[0].request.end_ns, 10 * (request.size() - 1) + 1);
  EXPECT_EQ(records[0].response->status_code, 302);
}

TEST(Http1ConnectionTest, HundredContinueGoesToInterim) {
  Http1ConnectionParser parser(Role::Server, false);
  parser.on_chunk(kIn, captured("PUT /blob HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n", 1, 2));
  parser.on_chunk(kOut, captured("HTTP/1.1 100 Continue\r\n\r\n", 3, 4));
  EXPECT_TRUE(parser.take_records().empty());
  parser.on_chunk(kIn, captured("data", 5, 6));
  EXPECT_TRUE(parser.take_records().empty());
  parser.on_chunk(kOut, captured("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 7, 8));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request.method, "PUT");
  EXPECT_EQ(records[0].request.body_bytes, 4u);
  EXPECT_EQ(records[0].request.end_ns, 6u);
  ASSERT_EQ(records[0].interim.size(), 1u);
  EXPECT_EQ(records[0].interim[0].status_code, 100);
  EXPECT_EQ(records[0].interim[0].start_ns, 3u);
  EXPECT_EQ(records[0].response->status_code, 200);
  EXPECT_EQ(parser.stats().unmatched_responses, 0u);
}

TEST(Http1ConnectionTest, EarlyFinalResponseWaitsForTheRequestBody) {
  Http1ConnectionParser parser(Role::Server, false);
  parser.on_chunk(kIn, captured("POST /upload HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234", 1, 2));
  parser.on_chunk(kOut, captured("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n", 3, 4));
  EXPECT_TRUE(parser.take_records().empty());
  parser.on_chunk(kIn, captured("56789", 5, 6));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request.body_bytes, 10u);
  EXPECT_EQ(records[0].response->status_code, 413);
}

TEST(Http1ConnectionTest, SwitchingProtocolsCompletesExchangeAndStopsParsing) {
  Http1ConnectionParser parser(Role::Server, false);
  parser.on_chunk(kIn, captured("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 1, 2));
  parser.on_chunk(kOut, captured("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 3, 4));
  parser.on_chunk(kIn, captured("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 5, 6));
  parser.on_chunk(kOut, captured("\x81\x05hello", 7, 8));
  parser.on_close(9);
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request.target, "/ws");
  EXPECT_EQ(records[0].response->status_code, 101);
  EXPECT_TRUE(records[0].interim.empty());
  EXPECT_TRUE(parser.tunnelled());
  EXPECT_EQ(parser.stats().parse_errors, 0u);
  EXPECT_EQ(parser.stats().unmatched_responses, 0u);
}

TEST(Http1ConnectionTest, ConnectTunnelStopsParsing) {
  Http1ConnectionParser parser(Role::Client, false);
  parser.on_chunk(kOut, captured("CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n", 1, 2));
  parser.on_chunk(kIn, captured("HTTP/1.1 200 Connection established\r\n\r\n", 3, 4));
  parser.on_chunk(kOut, captured("\x16\x03\x01\x00\xa5\x01"sv, 5, 6));
  parser.on_chunk(kIn, captured("\x16\x03\x03\x00\x7a\x02"sv, 7, 8));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request.method, "CONNECT");
  EXPECT_EQ(records[0].request.target, "db.internal:5432");
  EXPECT_EQ(records[0].response->status_code, 200);
  EXPECT_TRUE(parser.tunnelled());
  EXPECT_EQ(parser.stats().parse_errors, 0u);
}

TEST(Http1ConnectionTest, FailedConnectKeepsParsing) {
  Http1ConnectionParser parser(Role::Client, false);
  parser.on_chunk(kOut, captured("CONNECT host:1 HTTP/1.1\r\n\r\n", 1, 2));
  parser.on_chunk(kIn, captured("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n", 3, 4));
  parser.on_chunk(kOut, captured("GET http://host/x HTTP/1.1\r\n\r\n", 5, 6));
  parser.on_chunk(kIn, captured("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 7, 8));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].response->status_code, 407);
  EXPECT_EQ(records[1].request.target, "http://host/x");
  EXPECT_FALSE(parser.tunnelled());
}

TEST(Http1ConnectionTest, ResponseWithoutRequestIsCountedAndDropped) {
  Http1ConnectionParser parser(Role::Server, false);
  parser.on_chunk(kOut, captured("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 1, 2));
  EXPECT_TRUE(parser.take_records().empty());
  EXPECT_EQ(parser.stats().unmatched_responses, 1u);
  parser.on_chunk(kIn, captured("GET / HTTP/1.1\r\n\r\n", 3, 4));
  parser.on_chunk(kOut, captured("HTTP/1.1 204 No Content\r\n\r\n", 5, 6));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].response->status_code, 204);
}

TEST(Http1ConnectionTest, CloseCompletesBodyUntilCloseAndFlushesUnansweredRequests) {
  Http1ConnectionParser parser(Role::Client, false);
  parser.on_chunk(kOut, captured("GET /stream HTTP/1.0\r\n\r\nGET /never HTTP/1.1\r\n\r\n", 1, 2));
  parser.on_chunk(kIn, captured("HTTP/1.0 200 OK\r\n\r\npart one,", 3, 4));
  parser.on_chunk(kIn, captured(" part two", 5, 6));
  EXPECT_TRUE(parser.take_records().empty());
  parser.on_close(100);
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].request.target, "/stream");
  EXPECT_EQ(records[0].response->body_bytes, 18u);
  EXPECT_TRUE(records[0].response->body_complete);
  EXPECT_EQ(records[0].response->end_ns, 6u);
  EXPECT_EQ(records[1].request.target, "/never");
  EXPECT_FALSE(records[1].response.has_value());
  parser.on_chunk(kIn, captured("HTTP/1.1 200 OK\r\n\r\n", 7, 8));
  parser.on_close(200);
  EXPECT_TRUE(parser.take_records().empty());
}

TEST(Http1ConnectionTest, CloseInsideRequestBodyReportsIt) {
  Http1ConnectionParser parser(Role::Server, false);
  parser.on_chunk(kIn, captured("POST /x HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc", 1, 2));
  parser.on_close(3);
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].request.body_complete);
  EXPECT_EQ(records[0].request.body_bytes, 3u);
  EXPECT_FALSE(records[0].response.has_value());
}

TEST(Http1ConnectionTest, PendingRequestsAreBounded) {
  Http1ConnectionParser parser(Role::Server, false);
  std::vector<std::string> requests;
  for (int i = 0; i < 300; ++i) requests.push_back("GET /r/" + std::to_string(i) + " HTTP/1.1\r\n\r\n");
  for (const std::string& request : requests) parser.on_chunk(kIn, captured(request, 1, 2));
  EXPECT_EQ(parser.requests_evicted(), 300u - Http1ConnectionParser::kMaxPendingRequests);
  parser.on_chunk(kOut, captured("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3, 4));
  auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request.target, "/r/44");  // the oldest 44 were dropped
  parser.on_close(5);
  records = exchanges(parser);
  ASSERT_EQ(records.size(), Http1ConnectionParser::kMaxPendingRequests - 1);
  EXPECT_EQ(records.front().request.target, "/r/45");
  EXPECT_EQ(records.back().request.target, "/r/299");
  EXPECT_FALSE(records.back().response.has_value());
}

TEST(Http1ConnectionTest, UnknownRoleIsLearnedFromTheFirstRequestLine) {
  Http1ConnectionParser server(Role::Unknown, false);
  EXPECT_EQ(server.role(), Role::Unknown);
  server.on_chunk(kIn, captured("GET /health HTTP/1.1\r\n\r\n", 1, 2));
  EXPECT_EQ(server.role(), Role::Server);
  server.on_chunk(kOut, captured("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 3, 4));
  auto records = exchanges(server);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request.target, "/health");
  EXPECT_EQ(records[0].request.start_ns, 2u);

  Http1ConnectionParser client(Role::Unknown, false);
  client.on_chunk(kOut, captured("DELETE /item/9 HTTP/1.1\r\n\r\n", 1, 2));
  EXPECT_EQ(client.role(), Role::Client);
  client.on_chunk(kIn, captured("HTTP/1.1 204 No Content\r\n\r\n", 3, 4));
  records = exchanges(client);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request.method, "DELETE");
  EXPECT_EQ(records[0].request.start_ns, 1u);
  EXPECT_EQ(records[0].response->start_ns, 4u);
}

TEST(Http1ConnectionTest, UnknownRoleSkipsUntilAStartLineAndResyncsSkippedDirection) {
  Http1ConnectionParser parser(Role::Unknown, false);
  parser.on_chunk(kIn, captured("leftover body bytes", 1, 2));
  EXPECT_EQ(parser.role(), Role::Unknown);
  EXPECT_EQ(parser.stats().bytes_skipped, 19u);
  parser.on_chunk(kOut, captured("GET /a HTTP/1.1\r\n\r\n", 3, 4));
  EXPECT_EQ(parser.role(), Role::Client);
  parser.on_chunk(kIn, captured("more leftover", 5, 6));  // Ingress resynchronises
  parser.on_chunk(kIn, captured("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 7, 8));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].response->status_code, 200);
  EXPECT_EQ(parser.stats().parse_errors, 0u);
  EXPECT_EQ(parser.stats().bytes_skipped, 19u + 13u);
}

TEST(Http1ConnectionTest, UnknownRoleCanBeLearnedFromAStatusLine) {
  Http1ConnectionParser parser(Role::Unknown, true);
  parser.on_chunk(kIn, captured("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1, 2));
  EXPECT_EQ(parser.role(), Role::Client);
  EXPECT_EQ(parser.stats().unmatched_responses, 1u);
  parser.on_chunk(kOut, captured("GET /next HTTP/1.1\r\n\r\n", 3, 4));
  parser.on_chunk(kIn, captured("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5, 6));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request.target, "/next");
}

TEST(Http1ConnectionTest, MidstreamStartPicksUpTheFirstRequestAtAChunkBoundary) {
  Http1ConnectionParser parser(Role::Server, true);
  // The agent attached while a large upload and its response were in flight.
  parser.on_chunk(kIn, captured("ZZZZZZZZZZZZZZZZZZZZZZZZZ body of an upload", 1, 2));
  parser.on_chunk(kIn, captured("GET / HTTP/1.1 is text inside the same body", 3, 4));
  parser.on_chunk(kOut, captured("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\ndone!", 5, 6));
  parser.on_chunk(kIn, captured("GET /orders/42 HTTP/1.1\r\nHost: shop\r\n\r\n", 7, 8));
  parser.on_chunk(kOut, captured("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]", 9, 10));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request.target, "/orders/42");
  EXPECT_EQ(records[0].response->body_bytes, 2u);
  EXPECT_EQ(parser.stats().unmatched_responses, 1u);
  EXPECT_EQ(parser.stats().parse_errors, 0u);
}

TEST(Http1ConnectionTest, MidstreamInsideAResponseBodyResyncsOnTheNextStatusLine) {
  Http1ConnectionParser parser(Role::Client, true);
  parser.on_chunk(kIn, captured("...middle of a response body...", 1, 2));
  parser.on_chunk(kOut, captured("GET /a HTTP/1.1\r\n\r\n", 3, 4));
  parser.on_chunk(kIn, captured("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA", 5, 6));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request.target, "/a");
  EXPECT_EQ(records[0].response->body_bytes, 1u);
}

TEST(Http1ConnectionTest, GapInResponseBodyIsSkippedByCount) {
  Http1ConnectionParser parser(Role::Server, false);
  parser.on_chunk(kIn, captured("GET /file HTTP/1.1\r\n\r\n", 1, 2));
  parser.on_chunk(kOut, captured("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n", 3, 4));
  parser.on_chunk(kOut, gap(1048576, 5, 6));
  parser.on_chunk(kIn, captured("GET /next HTTP/1.1\r\n\r\n", 7, 8));
  parser.on_chunk(kOut, captured("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 9, 10));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].response->body_bytes, 1048576u);
  EXPECT_EQ(records[0].response->end_ns, 6u);
  EXPECT_EQ(records[1].request.target, "/next");
  EXPECT_EQ(parser.stats().resyncs, 0u);
}

TEST(Http1ConnectionTest, TruncatedRequestHeadersStillPairWithTheResponse) {
  Http1ConnectionParser parser(Role::Server, false);
  Chunk request = captured("GET /big-cookie HTTP/1.1\r\nHost: h\r\nCookie: aaaa", 1, 2);
  request.size = 9000;
  parser.on_chunk(kIn, request);
  parser.on_chunk(kOut, captured("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n", 3, 4));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].request.headers_truncated);
  EXPECT_EQ(records[0].request.target, "/big-cookie");
  EXPECT_EQ(records[0].response->status_code, 431);
  EXPECT_EQ(parser.stats().resyncs, 1u);
}

TEST(Http1ConnectionTest, InterimResponsesPerRequestAreBounded) {
  Http1ConnectionParser parser(Role::Server, false);
  parser.on_chunk(kIn, captured("GET / HTTP/1.1\r\n\r\n", 1, 2));
  std::string interims;
  for (int i = 0; i < 20; ++i) interims += "HTTP/1.1 102 Processing\r\n\r\n";
  parser.on_chunk(kOut, captured(interims, 3, 4));
  parser.on_chunk(kOut, captured("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5, 6));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].interim.size(), 16u);
  EXPECT_EQ(records[0].interim[0].status_code, 102);
  EXPECT_EQ(records[0].response->status_code, 200);
  EXPECT_EQ(parser.stats().unmatched_responses, 4u);
}

TEST(Http1ConnectionTest, GarbageOnBothDirectionsIsCounted) {
  Http1ConnectionParser parser(Role::Server, false);
  parser.on_chunk(kIn, captured("\x00\x01\x02\x03 not http"sv, 1, 2));
  parser.on_chunk(kOut, captured("SSH-2.0-OpenSSH_9.2\r\n", 3, 4));
  EXPECT_EQ(parser.stats().parse_errors, 2u);
  EXPECT_EQ(parser.stats().resyncs, 2u);
  EXPECT_TRUE(parser.take_records().empty());
}

}  // namespace
}  // namespace zt::protocols::http1
