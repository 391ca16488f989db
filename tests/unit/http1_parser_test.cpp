#include "protocols/http1/http1_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace zt::protocols::http1 {
namespace {

using namespace std::string_view_literals;

class CollectingSink : public Http1MessageSink {
 public:
  void on_message(HttpMessage&& message) override { messages.push_back(std::move(message)); }
  std::string_view method_of_answered_request() const override { return answered_method; }

  std::vector<HttpMessage> messages;
  std::string answered_method = "GET";
};

Chunk captured(std::string_view data, std::uint64_t start_ns, std::uint64_t end_ns, std::uint32_t tid = 7) {
  Chunk chunk;
  chunk.size = data.size();
  chunk.data = data;
  chunk.start_ns = start_ns;
  chunk.end_ns = end_ns;
  chunk.tid = tid;
  return chunk;
}

// A syscall that moved `size` bytes of which only `data` was captured.
Chunk truncated(std::string_view data, std::uint64_t size, std::uint64_t start_ns, std::uint64_t end_ns) {
  Chunk chunk = captured(data, start_ns, end_ns);
  chunk.size = size;
  return chunk;
}

Chunk gap(std::uint64_t size, std::uint64_t start_ns, std::uint64_t end_ns) {
  Chunk chunk = captured({}, start_ns, end_ns);
  chunk.size = size;
  chunk.gap = true;
  return chunk;
}

class Http1ParserTest : public ::testing::Test {
 protected:
  Http1Parser requests(Direction dir = Direction::Ingress, bool resync = false) {
    return Http1Parser(MessageKind::Request, dir, resync, stats);
  }
  Http1Parser responses(Direction dir = Direction::Egress, bool resync = false) {
    return Http1Parser(MessageKind::Response, dir, resync, stats);
  }

  ParserStats stats;
  CollectingSink sink;
};

TEST_F(Http1ParserTest, ParsesRequestWithContentLengthBody) {
  const std::string_view wire =
      "POST /api/items?x=1 HTTP/1.1\r\nHost: example\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
  auto parser = requests();
  parser.feed(captured(wire, 100, 150), sink);

  ASSERT_EQ(sink.messages.size(), 1u);
  const HttpMessage& m = sink.messages[0];
  EXPECT_TRUE(m.is_request);
  EXPECT_EQ(m.method, "POST");
  EXPECT_EQ(m.target, "/api/items?x=1");
  EXPECT_EQ(m.version, "1.1");
  ASSERT_EQ(m.headers.size(), 3u);
  EXPECT_EQ(m.headers[0].first, "host");
  EXPECT_EQ(m.headers[0].second, "example");
  EXPECT_EQ(m.headers[1].first, "content-type");
  ASSERT_NE(m.header("content-length"), nullptr);
  EXPECT_EQ(*m.header("content-length"), "5");
  EXPECT_EQ(m.header_bytes, wire.size() - 5);
  EXPECT_EQ(m.body_bytes, 5u);
  EXPECT_TRUE(m.body_complete);
  EXPECT_FALSE(m.headers_truncated);
  EXPECT_EQ(m.start_ns, 150u);  // Ingress: the bytes exist at the read's exit
  EXPECT_EQ(m.end_ns, 150u);
  EXPECT_EQ(m.tid, 7u);
  EXPECT_EQ(stats.messages, 1u);
  EXPECT_EQ(stats.parse_errors, 0u);
  EXPECT_EQ(parser.message_in_progress(), nullptr);
}

TEST_F(Http1ParserTest, KeepsHeaderValuesTrimmedAndNamesLowerCased) {
  const std::string_view wire = "GET / HTTP/1.0\r\nX-Request-ID:   abc  \r\nACCEPT:\t*/*\r\n\r\n";
  auto parser = requests();
  parser.feed(captured(wire, 1, 2), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].version, "1.0");
  ASSERT_NE(sink.messages[0].header("x-request-id"), nullptr);
  EXPECT_EQ(*sink.messages[0].header("x-request-id"), "abc");
  EXPECT_EQ(*sink.messages[0].header("accept"), "*/*");
}

TEST_F(Http1ParserTest, JoinsObsoleteLineFolding) {
  const std::string_view wire = "GET / HTTP/1.1\r\nX-Long: first\r\n  second\r\n\r\n";
  auto parser = requests();
  parser.feed(captured(wire, 1, 2), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(*sink.messages[0].header("x-long"), "first second");
}

TEST_F(Http1ParserTest, AcceptsBareLineFeeds) {
  const std::string_view wire = "HTTP/1.1 200 OK\nContent-Length: 2\n\nokHTTP/1.1 404 Not Found\ncontent-length: 0\n\n";
  auto parser = responses();
  parser.feed(captured(wire, 10, 20), sink);
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_EQ(sink.messages[0].status_code, 200);
  EXPECT_EQ(sink.messages[0].reason, "OK");
  EXPECT_EQ(sink.messages[0].body_bytes, 2u);
  EXPECT_EQ(sink.messages[1].status_code, 404);
  EXPECT_EQ(sink.messages[1].reason, "Not Found");
}

TEST_F(Http1ParserTest, ParsesPipelinedRequestsInOneChunk) {
  const std::string_view wire =
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
      "\r\n"  // a stray CRLF between messages is tolerated
      "DELETE /c/1 HTTP/1.1\r\n\r\n";
  auto parser = requests();
  parser.feed(captured(wire, 5, 9), sink);
  ASSERT_EQ(sink.messages.size(), 3u);
  EXPECT_EQ(sink.messages[0].method, "GET");
  EXPECT_EQ(sink.messages[0].target, "/a");
  EXPECT_EQ(sink.messages[1].method, "POST");
  EXPECT_EQ(sink.messages[1].body_bytes, 3u);
  EXPECT_EQ(sink.messages[2].method, "DELETE");
  EXPECT_EQ(sink.messages[2].target, "/c/1");
  EXPECT_EQ(stats.parse_errors, 0u);
}

TEST_F(Http1ParserTest, ParsesRequestSplitByteByByte) {
  const std::string wire = "PUT /k/v HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd";
  auto parser = requests();
  for (std::size_t i = 0; i < wire.size(); ++i) {
    const std::uint64_t t = 1000 + 10 * i;
    parser.feed(captured(std::string_view(wire).substr(i, 1), t, t + 5), sink);
    if (i + 1 < wire.size()) {
      ASSERT_TRUE(sink.messages.empty()) << "at byte " << i;
    }
  }
  ASSERT_EQ(sink.messages.size(), 1u);
  const HttpMessage& m = sink.messages[0];
  EXPECT_EQ(m.method, "PUT");
  EXPECT_EQ(m.target, "/k/v");
  EXPECT_EQ(*m.header("host"), "h");
  EXPECT_EQ(m.header_bytes, wire.size() - 4);
  EXPECT_EQ(m.body_bytes, 4u);
  EXPECT_EQ(m.start_ns, 1005u);
  EXPECT_EQ(m.end_ns, 1000 + 10 * (wire.size() - 1) + 5);
}

TEST_F(Http1ParserTest, ParsesHeadersSplitAcrossChunksAtTheBlankLine) {
  auto parser = responses();
  parser.feed(captured("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r", 10, 11), sink);
  parser.feed(captured("\nab", 20, 21), sink);
  EXPECT_TRUE(sink.messages.empty());
  ASSERT_NE(parser.message_in_progress(), nullptr);
  EXPECT_EQ(parser.message_in_progress()->status_code, 200);
  parser.feed(captured("c", 30, 31), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 3u);
  EXPECT_EQ(sink.messages[0].start_ns, 10u);  // Egress: the bytes exist from the write's entry
  EXPECT_EQ(sink.messages[0].end_ns, 31u);
}

TEST_F(Http1ParserTest, ParsesChunkedBodyWithExtensionsAndTrailers) {
  const std::string_view wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "A \t; x\r\n0123456789\r\n"
      "0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n";
  auto parser = responses();
  parser.feed(captured(wire, 1, 2), sink);
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_EQ(sink.messages[0].status_code, 200);
  EXPECT_EQ(sink.messages[0].body_bytes, 15u);
  EXPECT_TRUE(sink.messages[0].body_complete);
  EXPECT_EQ(sink.messages[1].status_code, 204);
  EXPECT_EQ(stats.parse_errors, 0u);
}

TEST_F(Http1ParserTest, ParsesChunkedBodyOneByteAtATime) {
  const std::string wire =
      "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: "
      "v\r\n\r\n";
  auto parser = requests();
  for (std::size_t i = 0; i < wire.size(); ++i) parser.feed(captured(std::string_view(wire).substr(i, 1), i, i), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 19u);
  EXPECT_EQ(sink.messages[0].end_ns, wire.size() - 1);
}

TEST_F(Http1ParserTest, ChunkedBodyWithoutTrailersEndsAtBareLineFeed) {
  auto parser = responses();
  parser.feed(captured("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nhi\n0\n\n", 1, 2), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 2u);
}

TEST_F(Http1ParserTest, SkipsTruncatedContentLengthBodyByCount) {
  // A 10041-byte write of which 101 bytes were captured, then the next response.
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n";
  const std::string captured_part = head + std::string(60, 'x');
  auto parser = responses();
  parser.feed(truncated(captured_part, head.size() + 10000, 100, 200), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 10000u);
  EXPECT_TRUE(sink.messages[0].body_complete);
  EXPECT_EQ(sink.messages[0].end_ns, 200u);
  parser.feed(captured("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 300, 310), sink);
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_EQ(sink.messages[1].status_code, 404);
  EXPECT_EQ(stats.resyncs, 0u);
  EXPECT_EQ(stats.bytes_skipped, 0u);
}

TEST_F(Http1ParserTest, SkipsGapChunkInsideContentLengthBody) {
  auto parser = requests();
  parser.feed(captured("POST /big HTTP/1.1\r\nContent-Length: 1000\r\n\r\n0123456789", 10, 20), sink);
  parser.feed(gap(900, 30, 40), sink);
  EXPECT_TRUE(sink.messages.empty());
  parser.feed(captured(std::string(90, 'z'), 50, 60), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 1000u);
  EXPECT_EQ(sink.messages[0].start_ns, 20u);
  EXPECT_EQ(sink.messages[0].end_ns, 60u);
  EXPECT_EQ(stats.resyncs, 0u);
}

TEST_F(Http1ParserTest, HoleRunningPastContentLengthBodyResyncsAtNextRequest) {
  auto parser = requests();
  // The body ends inside the hole and the next request starts there: it is lost.
  parser.feed(truncated("POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234", 70, 1, 2), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 10u);
  EXPECT_EQ(stats.resyncs, 1u);
  EXPECT_EQ(stats.bytes_skipped, 70u - 45u - 5u);
  parser.feed(captured("ody of the lost request", 3, 4), sink);
  parser.feed(captured("GET /next HTTP/1.1\r\n\r\n", 5, 6), sink);
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_EQ(sink.messages[1].target, "/next");
  EXPECT_EQ(stats.bytes_skipped, 20u + 23u);
  EXPECT_EQ(stats.parse_errors, 0u);
}

TEST_F(Http1ParserTest, SkipsTruncatedChunkDataByCount) {
  auto parser = responses();
  // One write carries the headers, the size line and 20 of 4096 chunk bytes.
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n";
  parser.feed(truncated(head + std::string(20, 'd'), head.size() + 4096, 1, 2), sink);
  EXPECT_TRUE(sink.messages.empty());
  parser.feed(captured("\r\n5\r\nhello\r\n0\r\n\r\n", 3, 4), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 4096u + 5u);
  EXPECT_TRUE(sink.messages[0].body_complete);
  EXPECT_EQ(stats.resyncs, 0u);
}

TEST_F(Http1ParserTest, SkipsGapChunkInsideChunkData) {
  auto parser = responses();
  parser.feed(captured("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\nabc", 1, 2), sink);
  parser.feed(gap(1021, 3, 4), sink);
  parser.feed(captured("\r\n0\r\n\r\n", 5, 6), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 1024u);
  EXPECT_TRUE(sink.messages[0].body_complete);
  EXPECT_EQ(sink.messages[0].end_ns, 6u);
}

TEST_F(Http1ParserTest, HoleOverChunkFramingReportsIncompleteBodyAndResyncs) {
  auto parser = responses();
  parser.feed(captured("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n", 1, 2), sink);
  parser.feed(gap(500, 3, 4), sink);  // the next size line is in the hole
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].status_code, 200);
  EXPECT_EQ(sink.messages[0].body_bytes, 4u);
  EXPECT_FALSE(sink.messages[0].body_complete);
  EXPECT_EQ(sink.messages[0].end_ns, 4u);
  EXPECT_EQ(stats.resyncs, 1u);
  parser.feed(captured("2\r\nzz\r\n0\r\n\r\n", 5, 6), sink);  // rest of the lost body
  parser.feed(captured("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", 7, 8), sink);
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_EQ(sink.messages[1].status_code, 304);
  EXPECT_EQ(sink.messages[1].body_bytes, 0u);
}

TEST_F(Http1ParserTest, HoleInsideHeadersReportsTruncatedMessageThenResyncs) {
  auto parser = requests();
  // 4 KiB captured of a request whose cookies run past the capture limit.
  const std::string captured_part = "GET /profile HTTP/1.1\r\nHost: h\r\nCookie: " + std::string(40, 'c');
  parser.feed(truncated(captured_part, 5000, 10, 20), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  const HttpMessage& m = sink.messages[0];
  EXPECT_TRUE(m.headers_truncated);
  EXPECT_EQ(m.method, "GET");
  EXPECT_EQ(m.target, "/profile");
  EXPECT_EQ(m.version, "1.1");
  ASSERT_EQ(m.headers.size(), 1u);  // the unfinished cookie line is dropped
  EXPECT_EQ(*m.header("host"), "h");
  EXPECT_EQ(m.header_bytes, captured_part.size());
  EXPECT_EQ(m.start_ns, 20u);
  EXPECT_EQ(m.end_ns, 20u);
  EXPECT_EQ(stats.resyncs, 1u);
  EXPECT_EQ(stats.bytes_skipped, 5000u - captured_part.size());

  parser.feed(captured("more: headers\r\n\r\n", 30, 40), sink);
  parser.feed(captured("GET /next HTTP/1.1\r\n\r\n", 50, 60), sink);
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_EQ(sink.messages[1].target, "/next");
  EXPECT_FALSE(sink.messages[1].headers_truncated);
}

TEST_F(Http1ParserTest, HoleInsideLongRequestLineKeepsMethodAndTargetPrefix) {
  auto parser = requests();
  const std::string captured_part = "GET /search?q=" + std::string(100, 'q');
  parser.feed(truncated(captured_part, 9000, 1, 2), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_TRUE(sink.messages[0].headers_truncated);
  EXPECT_EQ(sink.messages[0].method, "GET");
  EXPECT_EQ(sink.messages[0].target, captured_part.substr(4));
  EXPECT_EQ(sink.messages[0].version, "");
}

TEST_F(Http1ParserTest, GapChunkBetweenMessagesResyncs) {
  auto parser = requests();
  parser.feed(captured("GET /1 HTTP/1.1\r\n\r\n", 1, 2), sink);
  parser.feed(gap(300, 3, 4), sink);
  parser.feed(captured("Accept: */*\r\n\r\n", 5, 6), sink);
  parser.feed(captured("GET /2 HTTP/1.1\r\n\r\n", 7, 8), sink);
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_EQ(sink.messages[0].target, "/1");
  EXPECT_EQ(sink.messages[1].target, "/2");
  EXPECT_EQ(stats.resyncs, 1u);
  EXPECT_EQ(stats.bytes_skipped, 300u + 15u);
  EXPECT_EQ(stats.parse_errors, 0u);
}

TEST_F(Http1ParserTest, HeadResponseHasNoBodyDespiteContentLength) {
  auto parser = responses();
  sink.answered_method = "HEAD";
  parser.feed(captured("HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n", 1, 2), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 0u);
  sink.answered_method = "GET";
  parser.feed(captured("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 3, 4), sink);
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_EQ(sink.messages[1].body_bytes, 2u);
}

TEST_F(Http1ParserTest, NoContentAndNotModifiedHaveNoBody) {
  auto parser = responses();
  parser.feed(captured("HTTP/1.1 204 No Content\r\nContent-Length: 50\r\n\r\n"
                       "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!",
                       1, 2),
              sink);
  ASSERT_EQ(sink.messages.size(), 3u);
  EXPECT_EQ(sink.messages[0].status_code, 204);
  EXPECT_EQ(sink.messages[1].status_code, 304);
  EXPECT_EQ(sink.messages[2].status_code, 200);
  EXPECT_EQ(sink.messages[2].body_bytes, 1u);
}

TEST_F(Http1ParserTest, InterimResponsesHaveNoBody) {
  auto parser = responses();
  parser.feed(captured("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                       "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
                       1, 2),
              sink);
  ASSERT_EQ(sink.messages.size(), 3u);
  EXPECT_EQ(sink.messages[0].status_code, 100);
  EXPECT_EQ(sink.messages[1].status_code, 103);
  EXPECT_EQ(sink.messages[2].status_code, 201);
}

TEST_F(Http1ParserTest, SwitchingProtocolsStopsTheParser) {
  auto parser = responses();
  parser.feed(captured("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello\x00"sv, 1, 2),
              sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].status_code, 101);
  EXPECT_TRUE(parser.stopped());
  parser.feed(captured("garbage that is websocket frames", 3, 4), sink);
  EXPECT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(stats.parse_errors, 0u);
}

TEST_F(Http1ParserTest, ConnectSuccessStopsTheParser) {
  auto parser = responses();
  sink.answered_method = "CONNECT";
  parser.feed(captured("HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01", 1, 2), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_TRUE(parser.stopped());
  EXPECT_EQ(stats.parse_errors, 0u);
}

TEST_F(Http1ParserTest, ResponseWithoutLengthEndsAtClose) {
  auto parser = responses();
  parser.feed(captured("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>", 1, 2), sink);
  parser.feed(truncated("<body>", 1000, 3, 4), sink);
  parser.feed(captured("HTTP/1.1 200 OK is body text here", 5, 6), sink);
  EXPECT_TRUE(sink.messages.empty());
  parser.finish(sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].version, "1.0");
  EXPECT_EQ(sink.messages[0].body_bytes, 6u + 1000u + 33u);
  EXPECT_TRUE(sink.messages[0].body_complete);
  EXPECT_EQ(sink.messages[0].end_ns, 6u);
  parser.finish(sink);
  EXPECT_EQ(sink.messages.size(), 1u);
}

TEST_F(Http1ParserTest, RequestWithoutLengthHasNoBody) {
  auto parser = requests();
  parser.feed(captured("POST /nobody HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n", 1, 2), sink);
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_EQ(sink.messages[0].body_bytes, 0u);
  EXPECT_EQ(sink.messages[1].target, "/x");
}

TEST_F(Http1ParserTest, CloseInsideContentLengthBodyReportsIncompleteBody) {
  auto parser = requests();
  parser.feed(captured("POST /a HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789", 1, 2), sink);
  parser.finish(sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 10u);
  EXPECT_FALSE(sink.messages[0].body_complete);
}

TEST_F(Http1ParserTest, CloseInsideHeadersReportsTruncatedHeaders) {
  auto parser = requests();
  parser.feed(captured("GET /a HTTP/1.1\r\nHost: x\r\nAcc", 1, 2), sink);
  parser.finish(sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_TRUE(sink.messages[0].headers_truncated);
  EXPECT_EQ(sink.messages[0].target, "/a");
  EXPECT_EQ(sink.messages[0].headers.size(), 1u);
}

TEST_F(Http1ParserTest, ContentLengthListOfOneValueIsAccepted) {
  auto parser = requests();
  parser.feed(captured("POST / HTTP/1.1\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc", 1, 2), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 3u);
  EXPECT_EQ(stats.parse_errors, 0u);
}

TEST_F(Http1ParserTest, ConflictingContentLengthsAreAParseError) {
  auto parser = requests();
  parser.feed(captured("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 1, 2), sink);
  EXPECT_TRUE(sink.messages.empty());
  EXPECT_EQ(stats.parse_errors, 1u);
  EXPECT_EQ(stats.resyncs, 1u);
}

TEST_F(Http1ParserTest, GarbageIsCountedAndParserRecovers) {
  auto parser = requests();
  const std::string_view garbage = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"sv;
  parser.feed(captured(garbage, 1, 2), sink);
  EXPECT_EQ(stats.parse_errors, 1u);
  EXPECT_EQ(stats.resyncs, 1u);
  EXPECT_EQ(stats.bytes_skipped, garbage.size());
  parser.feed(captured("get / http/1.1\r\n\r\n", 3, 4), sink);  // methods are upper case
  EXPECT_EQ(stats.bytes_skipped, garbage.size() + 18u);
  parser.feed(captured("OPTIONS * HTTP/1.1\r\n\r\n", 5, 6), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].method, "OPTIONS");
  EXPECT_EQ(sink.messages[0].target, "*");
  EXPECT_EQ(stats.parse_errors, 1u);
}

TEST_F(Http1ParserTest, InvalidHeaderLineIsAParseError) {
  auto parser = responses();
  parser.feed(captured("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", 1, 2), sink);
  EXPECT_TRUE(sink.messages.empty());
  EXPECT_EQ(stats.parse_errors, 1u);
}

TEST_F(Http1ParserTest, InvalidVersionIsAParseError) {
  auto parser = requests();
  parser.feed(captured("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 1, 2), sink);
  EXPECT_TRUE(sink.messages.empty());
  EXPECT_EQ(stats.parse_errors, 1u);
}

TEST_F(Http1ParserTest, MalformedChunkSizeReportsIncompleteBody) {
  auto parser = responses();
  parser.feed(captured("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n", 1, 2), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_FALSE(sink.messages[0].body_complete);
  EXPECT_EQ(sink.messages[0].body_bytes, 3u);
  EXPECT_EQ(stats.parse_errors, 1u);
  EXPECT_EQ(stats.bytes_skipped, 4u);
}

TEST_F(Http1ParserTest, HeaderBlockOverLimitIsAParseError) {
  auto parser = requests();
  parser.feed(captured("GET / HTTP/1.1\r\n", 1, 2), sink);
  const std::string header_line = "X-Filler: " + std::string(1000, 'f') + "\r\n";
  for (int i = 0; i < 70; ++i) parser.feed(captured(header_line, 3, 4), sink);
  EXPECT_TRUE(sink.messages.empty());
  EXPECT_EQ(stats.parse_errors, 1u);
  parser.feed(captured("GET /after HTTP/1.1\r\n\r\n", 5, 6), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].target, "/after");
}

TEST_F(Http1ParserTest, UnfinishedGarbageLineIsRejectedBeforeTheLimit) {
  auto parser = requests();
  parser.feed(captured("GET", 1, 2), sink);
  EXPECT_EQ(stats.parse_errors, 0u);
  parser.feed(captured("\x01\x02", 3, 4), sink);
  EXPECT_EQ(stats.parse_errors, 1u);
  EXPECT_EQ(stats.bytes_skipped, 5u);
}

TEST_F(Http1ParserTest, ResyncModeWaitsForARequestLineAtAChunkStart) {
  auto parser = requests(Direction::Ingress, true);
  const std::string_view body_tail = "tail of a body that began before the agent\r\n";
  parser.feed(captured(body_tail, 1, 2), sink);
  parser.feed(captured("0\r\n\r\n", 3, 4), sink);
  EXPECT_TRUE(sink.messages.empty());
  parser.feed(captured("CUSTOMVERB /x HTTP/1.1\r\nContent-Length: 1\r\n\r\n1", 5, 6), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].method, "CUSTOMVERB");
  EXPECT_EQ(stats.bytes_skipped, body_tail.size() + 5u);
  EXPECT_EQ(stats.parse_errors, 0u);
}

TEST_F(Http1ParserTest, TimingUsesReadExitForIngressAndWriteEntryForEgress) {
  auto ingress = requests(Direction::Ingress);
  ingress.feed(captured("GET / HTTP/1.1\r\n", 1000, 5000, 11), sink);
  ingress.feed(captured("\r\n", 6000, 6100, 12), sink);
  auto egress = requests(Direction::Egress);
  egress.feed(captured("GET / HTTP/1.1\r\n", 1000, 5000, 13), sink);
  egress.feed(captured("\r\n", 6000, 6100, 14), sink);
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_EQ(sink.messages[0].start_ns, 5000u);
  EXPECT_EQ(sink.messages[0].end_ns, 6100u);
  EXPECT_EQ(sink.messages[0].tid, 11u);
  EXPECT_EQ(sink.messages[1].start_ns, 1000u);
  EXPECT_EQ(sink.messages[1].end_ns, 6100u);
  EXPECT_EQ(sink.messages[1].tid, 13u);
}

TEST_F(Http1ParserTest, ChunkOfOnlyLineBreaksBetweenMessagesIsIgnored) {
  auto parser = requests();
  parser.feed(captured("GET /1 HTTP/1.1\r\n\r\n", 1, 2), sink);
  parser.feed(captured("\r\n", 3, 4), sink);
  parser.feed(captured("GET /2 HTTP/1.1\r\n\r\n", 5, 6), sink);
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_EQ(sink.messages[1].target, "/2");
  EXPECT_EQ(sink.messages[1].start_ns, 6u);
  EXPECT_EQ(stats.parse_errors, 0u);
}

TEST_F(Http1ParserTest, ResponseWhoseLastCodingIsNotChunkedEndsAtClose) {
  auto parser = responses();
  parser.feed(
      captured("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n\x1f\x8b\x08\x00"sv, 1, 2),
      sink);
  EXPECT_TRUE(sink.messages.empty());
  parser.finish(sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 4u);
  EXPECT_TRUE(sink.messages[0].body_complete);
}

TEST_F(Http1ParserTest, RequestWhoseLastCodingIsNotChunkedIsAParseError) {
  auto parser = requests();
  parser.feed(captured("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxyz", 1, 2), sink);
  EXPECT_TRUE(sink.messages.empty());
  EXPECT_EQ(stats.parse_errors, 1u);
}

TEST_F(Http1ParserTest, OverflowingChunkSizeIsAParseError) {
  auto parser = responses();
  parser.feed(captured("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000000000001\r\nx\r\n"
                       "10000000000000000\r\n",
                       1, 2),
              sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 1u);  // leading zeros are fine, a 65-bit size is not
  EXPECT_FALSE(sink.messages[0].body_complete);
  EXPECT_EQ(stats.parse_errors, 1u);
}

TEST_F(Http1ParserTest, OverlongChunkExtensionIsAParseError) {
  auto parser = responses();
  parser.feed(captured("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;", 1, 2), sink);
  const std::string extension(Http1Parser::kMaxChunkExtensionBytes, 'e');
  parser.feed(captured(extension, 3, 4), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_FALSE(sink.messages[0].body_complete);
  EXPECT_EQ(stats.parse_errors, 1u);
}

TEST_F(Http1ParserTest, HoleAfterTheLastChunkKeepsTheBodyComplete) {
  auto parser = responses();
  parser.feed(truncated("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Tr", 80, 1, 2), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].body_bytes, 2u);
  EXPECT_TRUE(sink.messages[0].body_complete);
  EXPECT_EQ(stats.resyncs, 1u);
}

TEST_F(Http1ParserTest, UncapturedBytesAfterAParseErrorAreSkipped) {
  auto parser = requests();
  parser.feed(truncated("\x01\x02garbage", 4096, 1, 2), sink);
  EXPECT_EQ(stats.parse_errors, 1u);
  EXPECT_EQ(stats.bytes_skipped, 4096u);
}

TEST_F(Http1ParserTest, UncapturedBytesAfterSwitchingProtocolsAreIgnored) {
  auto parser = responses();
  parser.feed(truncated("HTTP/1.1 101 Switching Protocols\r\n\r\n", 9000, 1, 2), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_TRUE(parser.stopped());
  EXPECT_EQ(stats.resyncs, 0u);
  EXPECT_EQ(stats.bytes_skipped, 0u);
}

TEST_F(Http1ParserTest, HoleBeforeTheMethodEndsReportsNothing) {
  auto parser = requests();
  parser.feed(truncated("PROPF", 300, 1, 2), sink);
  EXPECT_TRUE(sink.messages.empty());
  EXPECT_EQ(stats.resyncs, 1u);
  EXPECT_EQ(stats.parse_errors, 0u);
}

TEST_F(Http1ParserTest, HoleInsideStatusLineKeepsTheStatusOnceItIsWhole) {
  auto parser = responses();
  parser.feed(truncated("HTTP/1.1 50", 300, 1, 2), sink);
  EXPECT_TRUE(sink.messages.empty());
  parser.feed(truncated("HTTP/1.1 503 Serv", 300, 3, 4), sink);
  ASSERT_EQ(sink.messages.size(), 1u);
  EXPECT_EQ(sink.messages[0].status_code, 503);
  EXPECT_EQ(sink.messages[0].reason, "Serv");
  EXPECT_TRUE(sink.messages[0].headers_truncated);
}

TEST(Http1StartLineTest, RecognisesRequestLines) {
  EXPECT_TRUE(begins_with_request_line("GET / HTTP/1.1\r\n"));
  EXPECT_TRUE(begins_with_request_line("POST /a?b=c HTTP/1.0\nHost: x"));
  EXPECT_TRUE(begins_with_request_line("PROPFIND /dav HTTP/1.1\r\n"));
  EXPECT_TRUE(begins_with_request_line("CONNECT example.com:443 HTTP/1.1\r\n"));
  EXPECT_FALSE(begins_with_request_line("GET / HTTP/1.1"));  // the line must be complete
  EXPECT_FALSE(begins_with_request_line("GET  / HTTP/1.1\r\n"));
  EXPECT_FALSE(begins_with_request_line("Get / HTTP/1.1\r\n"));
  EXPECT_FALSE(begins_with_request_line("GET / HTTP/2.0\r\n"));
  EXPECT_FALSE(begins_with_request_line("GET / HTTP/1.1 \r\n"));
  EXPECT_FALSE(begins_with_request_line("ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n"));
  EXPECT_TRUE(begins_with_request_line("ABCDEFGHIJKLMNOPQRST / HTTP/1.1\r\n"));
  EXPECT_FALSE(begins_with_request_line(""));
}

TEST(Http1StartLineTest, RecognisesStatusLines) {
  EXPECT_TRUE(begins_with_status_line("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(begins_with_status_line("HTTP/1.0 404"));
  EXPECT_TRUE(begins_with_status_line("HTTP/1.1 204\r\n"));
  EXPECT_FALSE(begins_with_status_line("HTTP/1.1 20"));
  EXPECT_FALSE(begins_with_status_line("HTTP/1.1 2000 OK\r\n"));
  EXPECT_FALSE(begins_with_status_line("HTTP/2 200\r\n"));
  EXPECT_FALSE(begins_with_status_line("HTTP/1.1 OK 200\r\n"));
}

}  // namespace
}  // namespace zt::protocols::http1
