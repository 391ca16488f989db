// Replays connections recorded from real servers and clients (tests/fixtures/http1, see its
// README) through the HTTP/1 parser, whole and cut up the ways the capture can cut them.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/text.h"
#include "protocols/detector.h"
#include "protocols/http1/http1_connection.h"

namespace zt::protocols::http1 {
namespace {

constexpr std::uint64_t kChunkSpacingNs = 1'000'000;
constexpr std::uint64_t kSyscallDurationNs = 1'000;

struct RecordedChunk {
  Direction dir;
  std::string data;
};

std::vector<RecordedChunk> load_fixture(const std::string& name) {
  std::ifstream in(std::string(ZT_FIXTURES_DIR) + "/http1/" + name + ".json");
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  const nlohmann::json fixture = nlohmann::json::parse(in);
  EXPECT_EQ(fixture.at("role"), "server");
  std::vector<RecordedChunk> chunks;
  for (const auto& chunk : fixture.at("chunks")) {
    const Direction dir = chunk.at("dir") == "ingress" ? Direction::Ingress : Direction::Egress;
    chunks.push_back({dir, text::base64_decode(chunk.at("data_b64").get<std::string>()).value()});
  }
  return chunks;
}

// The i-th recorded chunk happened at (i+1) ms and its syscall took 1 us.
Chunk to_chunk(const RecordedChunk& recorded, std::size_t index, std::size_t capture_limit) {
  Chunk chunk;
  chunk.size = recorded.data.size();
  chunk.data = std::string_view(recorded.data).substr(0, capture_limit);
  chunk.start_ns = kChunkSpacingNs * (index + 1);
  chunk.end_ns = chunk.start_ns + kSyscallDurationNs;
  chunk.tid = static_cast<std::uint32_t>(100 + index);
  return chunk;
}

Direction flipped(Direction dir) { return dir == Direction::Ingress ? Direction::Egress : Direction::Ingress; }

std::vector<HttpExchange> take_exchanges(ConnectionParser& parser) {
  std::vector<HttpExchange> out;
  for (Record& record : parser.take_records()) out.push_back(std::get<HttpExchange>(std::move(record)));
  return out;
}

struct ReplayOptions {
  std::size_t capture_limit = SIZE_MAX;  // bytes captured of each syscall
  std::size_t piece_bytes = SIZE_MAX;    // re-cut each recorded chunk into pieces of this size
  bool as_client = false;                // replay from the client's side of the connection
};

std::vector<HttpExchange> replay(ConnectionParser& parser, const std::vector<RecordedChunk>& recorded,
                                 const ReplayOptions& options) {
  std::size_t index = 0;
  for (const RecordedChunk& whole : recorded) {
    for (std::size_t offset = 0; offset < whole.data.size(); offset += options.piece_bytes) {
      const RecordedChunk piece{whole.dir, whole.data.substr(offset, options.piece_bytes)};
      const Direction dir = options.as_client ? flipped(piece.dir) : piece.dir;
      parser.on_chunk(dir, to_chunk(piece, index++, options.capture_limit));
    }
  }
  parser.on_close(kChunkSpacingNs * (index + 1));
  return take_exchanges(parser);
}

struct ExpectedExchange {
  std::string_view method;
  std::string_view target;
  int status;  // 0: no response
  std::uint64_t request_body;
  std::uint64_t response_body;
  std::vector<int> interim = {};
};

struct FixtureCase {
  std::string_view name;
  std::vector<ExpectedExchange> exchanges;
};

void PrintTo(const FixtureCase& fixture, std::ostream* out) { *out << fixture.name; }

const std::array<FixtureCase, 5>& fixture_cases() {
  static const std::array<FixtureCase, 5> cases = {{
      {"python_keepalive",
       {{"GET", "/", 200, 0, 18},
        {"GET", "/items/42?verbose=1", 200, 0, 12},
        {"POST", "/submit", 201, 27, 16},
        {"POST", "/upload", 201, 3000, 18, {100}},
        {"GET", "/big", 200, 0, 100000},
        {"GET", "/missing", 404, 0, 330}}},
      {"python_chunked", {{"GET", "/chunked", 200, 0, 7 + 10 + 3}, {"GET", "/", 200, 0, 18}}},
      {"node_keepalive",
       {{"GET", "/api/users/7", 200, 0, 21},
        {"HEAD", "/api/users/7", 200, 0, 0},
        {"POST", "/api/orders", 201, 23, 15},
        {"GET", "/stream", 200, 0, 11 + 12 + 5},
        {"GET", "/nothing", 204, 0, 0},
        {"GET", "/nope", 404, 0, 10}}},
      {"nginx_keepalive",
       {{"GET", "/", 200, 0, 44},
        {"HEAD", "/index.html", 200, 0, 0},
        {"GET", "/api/status", 200, 0, 15},
        {"GET", "/missing", 404, 0, 153},
        {"POST", "/empty", 204, 3, 0},
        {"GET", "/index.html", 304, 0, 0}}},
      {"nginx_pipelined",
       {{"GET", "/index.html", 200, 0, 44}, {"HEAD", "/index.html", 200, 0, 0}, {"GET", "/api/status", 200, 0, 15}}},
  }};
  return cases;
}

void expect_exchanges(const std::vector<HttpExchange>& actual, const std::vector<ExpectedExchange>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("exchange " + std::to_string(i));
    const HttpExchange& exchange = actual[i];
    EXPECT_EQ(exchange.request.method, expected[i].method);
    EXPECT_EQ(exchange.request.target, expected[i].target);
    EXPECT_EQ(exchange.request.version, "1.1");
    EXPECT_EQ(exchange.request.body_bytes, expected[i].request_body);
    EXPECT_TRUE(exchange.request.body_complete);
    EXPECT_FALSE(exchange.request.headers_truncated);
    ASSERT_NE(exchange.request.header("host"), nullptr);
    std::vector<int> interim;
    for (const HttpMessage& message : exchange.interim) interim.push_back(message.status_code);
    EXPECT_EQ(interim, expected[i].interim);
    if (expected[i].status == 0) {
      EXPECT_FALSE(exchange.response.has_value());
      continue;
    }
    ASSERT_TRUE(exchange.response.has_value());
    EXPECT_EQ(exchange.response->status_code, expected[i].status);
    EXPECT_EQ(exchange.response->body_bytes, expected[i].response_body);
    EXPECT_TRUE(exchange.response->body_complete);
  }
}

class Http1FixtureTest : public ::testing::TestWithParam<FixtureCase> {
 protected:
  void SetUp() override { recorded_ = load_fixture(std::string(GetParam().name)); }
  std::vector<RecordedChunk> recorded_;
};

TEST_P(Http1FixtureTest, ReplaysToTheRecordedExchanges) {
  Http1ConnectionParser parser(Role::Server, false);
  const auto exchanges = replay(parser, recorded_, {});
  expect_exchanges(exchanges, GetParam().exchanges);
  EXPECT_EQ(parser.stats().parse_errors, 0u);
  EXPECT_EQ(parser.stats().resyncs, 0u);
  EXPECT_EQ(parser.stats().bytes_skipped, 0u);
  EXPECT_EQ(parser.stats().unmatched_responses, 0u);
  std::uint64_t messages = 0;
  for (const ExpectedExchange& exchange : GetParam().exchanges) messages += 2 + exchange.interim.size();
  EXPECT_EQ(parser.stats().messages, messages);
}

TEST_P(Http1FixtureTest, TimesFollowTheFirstAndLastBytes) {
  Http1ConnectionParser parser(Role::Server, false);
  const auto exchanges = replay(parser, recorded_, {});
  ASSERT_FALSE(exchanges.empty());
  // The first request arrives in chunk 0: its first byte exists at that read's exit.
  EXPECT_EQ(exchanges[0].request.start_ns, kChunkSpacingNs + kSyscallDurationNs);
  EXPECT_EQ(exchanges[0].request.tid, 100u);
  // Its response starts in chunk 1: at that write's entry.
  EXPECT_EQ(exchanges[0].response->start_ns, 2 * kChunkSpacingNs);
  std::uint64_t previous_request_start = 0;
  std::uint64_t previous_response_start = 0;
  for (const HttpExchange& exchange : exchanges) {
    EXPECT_EQ(exchange.request.start_ns % kChunkSpacingNs, kSyscallDurationNs);  // a read's exit
    EXPECT_EQ(exchange.request.end_ns % kChunkSpacingNs, kSyscallDurationNs);
    EXPECT_EQ(exchange.response->start_ns % kChunkSpacingNs, 0u);  // a write's entry
    EXPECT_EQ(exchange.response->end_ns % kChunkSpacingNs, kSyscallDurationNs);
    EXPECT_GE(exchange.request.start_ns, previous_request_start);  // pipelined ones share a chunk
    EXPECT_LE(exchange.request.start_ns, exchange.request.end_ns);
    EXPECT_LT(exchange.request.end_ns, exchange.response->end_ns);
    EXPECT_GE(exchange.response->start_ns, previous_response_start);
    EXPECT_LE(exchange.response->start_ns, exchange.response->end_ns);
    previous_request_start = exchange.request.start_ns;
    previous_response_start = exchange.response->start_ns;
  }
}

TEST_P(Http1FixtureTest, ReplaysFromTheClientSide) {
  Http1ConnectionParser parser(Role::Client, false);
  ReplayOptions options;
  options.as_client = true;
  expect_exchanges(replay(parser, recorded_, options), GetParam().exchanges);
  EXPECT_EQ(parser.stats().parse_errors, 0u);
}

TEST_P(Http1FixtureTest, ReplaysCutIntoSevenBytePieces) {
  Http1ConnectionParser parser(Role::Server, false);
  ReplayOptions options;
  options.piece_bytes = 7;
  expect_exchanges(replay(parser, recorded_, options), GetParam().exchanges);
  EXPECT_EQ(parser.stats().parse_errors, 0u);
}

TEST_P(Http1FixtureTest, ReplaysWithCaptureLimitedToOneKibibyte) {
  // Bodies are skipped by count; every header block here fits in 1 KiB.
  Http1ConnectionParser parser(Role::Server, false);
  ReplayOptions options;
  options.capture_limit = 1024;
  expect_exchanges(replay(parser, recorded_, options), GetParam().exchanges);
  EXPECT_EQ(parser.stats().parse_errors, 0u);
  EXPECT_EQ(parser.stats().resyncs, 0u);
}

TEST_P(Http1FixtureTest, DetectorPicksHttp1FromTheFirstChunk) {
  const Chunk first = to_chunk(recorded_.front(), 0, SIZE_MAX);
  auto parser = detect_protocol(recorded_.front().dir, first, Role::Unknown, false);
  ASSERT_NE(parser, nullptr);
  EXPECT_EQ(parser->role(), Role::Server);
  expect_exchanges(replay(*parser, recorded_, {}), GetParam().exchanges);
}

TEST_P(Http1FixtureTest, UnknownRoleLearnsServerFromTheTraffic) {
  Http1ConnectionParser parser(Role::Unknown, false);
  expect_exchanges(replay(parser, recorded_, {}), GetParam().exchanges);
  EXPECT_EQ(parser.role(), Role::Server);
}

INSTANTIATE_TEST_SUITE_P(RecordedConnections, Http1FixtureTest, ::testing::ValuesIn(fixture_cases()),
                         [](const ::testing::TestParamInfo<FixtureCase>& param) {
                           return std::string(param.param.name);
                         });

TEST(Http1FixtureCaptureTest, TinyCaptureOfPipelinedResponsesLosesTheFollowingOnes) {
  // 256 bytes of the single 680-byte write holding three responses: the first response's body
  // is skipped by count, the next status line lies in the uncaptured part.
  const auto recorded = load_fixture("nginx_pipelined");
  Http1ConnectionParser parser(Role::Server, false);
  ReplayOptions options;
  options.capture_limit = 256;
  expect_exchanges(
      replay(parser, recorded, options),
      {{"GET", "/index.html", 200, 0, 44}, {"HEAD", "/index.html", 0, 0, 0}, {"GET", "/api/status", 0, 0, 0}});
  EXPECT_EQ(parser.stats().resyncs, 1u);
  EXPECT_EQ(parser.stats().bytes_skipped, recorded[1].data.size() - 236 - 44);
}

TEST(Http1FixtureCaptureTest, TinyCaptureTruncatesLongHeaderBlocksAndResyncs) {
  // 100 bytes cannot hold nginx's response headers: each is reported truncated but keeps its
  // status, and the next request still starts at a chunk boundary.
  const auto recorded = load_fixture("nginx_keepalive");
  Http1ConnectionParser parser(Role::Server, false);
  ReplayOptions options;
  options.capture_limit = 100;
  const auto exchanges = replay(parser, recorded, options);
  ASSERT_EQ(exchanges.size(), 6u);
  const std::array<int, 6> statuses = {200, 200, 200, 404, 204, 304};
  for (std::size_t i = 0; i < exchanges.size(); ++i) {
    ASSERT_TRUE(exchanges[i].response.has_value());
    EXPECT_EQ(exchanges[i].response->status_code, statuses[i]);
    EXPECT_TRUE(exchanges[i].response->headers_truncated);
  }
  EXPECT_EQ(exchanges[4].request.method, "POST");
  EXPECT_TRUE(exchanges[4].request.headers_truncated);  // 156 bytes of headers and body
  EXPECT_EQ(parser.stats().parse_errors, 0u);
}

}  // namespace
}  // namespace zt::protocols::http1
