// Replays HTTP/2 connections recorded from real peers (tests/fixtures/http2, see its README)
// through the HTTP/2 parser: whole, from the client's side, cut into small pieces, with the
// capture limited, and with their beginning cut off (the agent attaching mid-connection).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "support/hooked_request.h"
#include "core/text.h"
#include "protocols/detector.h"
#include "protocols/http2/http2_connection.h"

namespace zt::protocols::http2 {
namespace {

constexpr std::uint64_t kChunkSpacingNs = 1'000'000;
constexpr std::uint64_t kSyscallDurationNs = 1'000;
constexpr std::string_view kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

struct RecordedChunk {
  Direction dir;
  std::string data;
};

std::vector<RecordedChunk> load_fixture(const std::string& name) {
  std::ifstream in(std::string(ZT_FIXTURES_DIR) + "/http2/" + name + ".json");
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
Chunk to_chunk(std::string_view data, std::size_t index, std::size_t capture_limit) {
  Chunk chunk;
  chunk.size = data.size();
  chunk.data = data.substr(0, capture_limit);
  chunk.start_ns = kChunkSpacingNs * (index + 1);
  chunk.end_ns = chunk.start_ns + kSyscallDurationNs;
  chunk.tid = static_cast<std::uint32_t>(100 + index);
  return chunk;
}

Direction flipped(Direction dir) { return dir == Direction::Ingress ? Direction::Egress : Direction::Ingress; }

struct ReplayOptions {
  std::size_t first_chunk = 0;           // chunks before it happened before the agent attached
  std::size_t capture_limit = SIZE_MAX;  // bytes captured of each syscall
  std::size_t piece_bytes = SIZE_MAX;    // re-cut each recorded chunk into pieces of this size
  bool as_client = false;                // replay from the client's side of the connection
  bool through_detector = false;         // create the parser with detect_protocol
  bool upgrade = false;                  // otherwise: the connection starts as HTTP/1.1 (h2c upgrade)
};

struct Replay {
  std::unique_ptr<ConnectionParser> parser;
  std::vector<Record> records;
  std::vector<HookedRequest> hooked;
  Http2ConnectionParser* http2() const { return dynamic_cast<Http2ConnectionParser*>(parser.get()); }
  std::vector<Http2Exchange> exchanges() const {
    std::vector<Http2Exchange> out;
    for (const Record& record : records) {
      if (const auto* exchange = std::get_if<Http2Exchange>(&record)) out.push_back(*exchange);
    }
    return out;
  }
};

Replay replay(const std::vector<RecordedChunk>& recorded, const ReplayOptions& options) {
  using Mode = Http2ConnectionParser::Mode;
  Replay out;
  const auto hook = [&out](const RequestView& request, Role, RequestIdentity&) { out.hooked.emplace_back(request); };
  const bool midstream = options.first_chunk > 0;
  if (!options.through_detector) {
    const Mode mode = midstream ? Mode::Midstream : (options.upgrade ? Mode::Upgrade : Mode::PriorKnowledge);
    out.parser = std::make_unique<Http2ConnectionParser>(options.as_client ? Role::Client : Role::Server, mode);
    out.parser->set_request_hook(hook);
  }
  std::size_t index = 0;
  for (std::size_t i = options.first_chunk; i < recorded.size(); ++i) {
    const RecordedChunk& whole = recorded[i];
    const Direction dir = options.as_client ? flipped(whole.dir) : whole.dir;
    for (std::size_t offset = 0; offset < whole.data.size(); offset += options.piece_bytes) {
      const std::string_view piece = std::string_view(whole.data).substr(offset, options.piece_bytes);
      const Chunk chunk = to_chunk(piece, index++, options.capture_limit);
      if (!out.parser) {
        out.parser = detect_protocol(dir, chunk, Role::Unknown, midstream);
        if (!out.parser) continue;
        out.parser->set_request_hook(hook);
      }
      out.parser->on_chunk(dir, chunk);
    }
  }
  if (out.parser) {
    out.parser->on_close(kChunkSpacingNs * (index + 1));
    out.records = out.parser->take_records();
  }
  return out;
}

struct ExpectedStream {
  std::uint32_t stream_id;
  std::string_view method;
  std::string_view path;
  int status;
  std::uint64_t request_data;
  std::uint64_t response_data;
  std::optional<int> grpc_status = std::nullopt;
  std::uint64_t request_messages = 0;
  std::uint64_t response_messages = 0;
};

struct FixtureCase {
  std::string_view name;
  std::vector<ExpectedStream> streams;
  bool upgrade = false;
};

void PrintTo(const FixtureCase& fixture, std::ostream* out) { *out << fixture.name; }

std::vector<ExpectedStream> sequential_index_requests(std::uint32_t first_stream, int count) {
  std::vector<ExpectedStream> streams;
  for (int i = 0; i < count; ++i) streams.push_back({first_stream + 2u * static_cast<std::uint32_t>(i), "GET", "/index.html", 200, 0, 47});
  return streams;
}

const std::vector<FixtureCase>& fixture_cases() {
  static const std::vector<FixtureCase> cases = {
      {"nghttp_concurrent",
       {{13, "GET", "/index.html", 200, 0, 47}, {15, "GET", "/missing", 404, 0, 148}, {17, "GET", "/big.bin", 200, 0, 100000}}},
      {"nghttp_upgrade", {{1, "GET", "/index.html", 200, 0, 47}, {13, "GET", "/missing", 404, 0, 148}}, true},
      {"curl_upgrade", {{1, "GET", "/index.html", 200, 0, 47}, {3, "GET", "/big.bin", 200, 0, 100000}}, true},
      {"nghttp_post_padded", {{13, "POST", "/upload", 200, 3000, 3000}}},
      {"h2load_sequential", sequential_index_requests(1, 40)},
      {"grpc_calls",
       {{1, "POST", "/zerotrace.fixture.Orders/Get", 200, 7, 16, 0, 1, 1},
        {3, "POST", "/zerotrace.fixture.Orders/Get", 200, 8, 0, 5, 1, 0},
        {5, "POST", "/zerotrace.fixture.Orders/List", 200, 7, 1547, 0, 1, 5},
        {7, "POST", "/zerotrace.fixture.Orders/Upload", 200, 49, 7, 0, 3, 1},
        {9, "POST", "/zerotrace.fixture.Orders/Get", 200, 7, 16, 0, 1, 1}}},
  };
  return cases;
}

void expect_streams(const std::vector<Http2Exchange>& actual, const std::vector<ExpectedStream>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("stream " + std::to_string(expected[i].stream_id));
    const Http2Exchange& exchange = actual[i];
    EXPECT_EQ(exchange.stream_id, expected[i].stream_id);
    EXPECT_EQ(exchange.method, expected[i].method);
    EXPECT_EQ(exchange.path, expected[i].path);
    EXPECT_EQ(exchange.scheme, "http");
    EXPECT_EQ(exchange.authority, "127.0.0.1:38090");
    EXPECT_EQ(exchange.status_code, expected[i].status);
    EXPECT_EQ(exchange.closure, Http2Closure::EndStream);
    EXPECT_EQ(exchange.request.data_bytes, expected[i].request_data);
    ASSERT_TRUE(exchange.response.has_value());
    EXPECT_EQ(exchange.response->data_bytes, expected[i].response_data);
    EXPECT_EQ(exchange.grpc_status, expected[i].grpc_status);
    EXPECT_EQ(exchange.grpc, expected[i].grpc_status.has_value());
    EXPECT_EQ(exchange.request.grpc_messages, expected[i].request_messages);
    if (exchange.grpc) {
      EXPECT_EQ(exchange.response->grpc_messages, expected[i].response_messages);
    }
    EXPECT_EQ(exchange.unresolved_headers, 0u);
    EXPECT_FALSE(exchange.degraded);
    EXPECT_LE(exchange.request.start_ns, exchange.request.end_ns);
    EXPECT_LT(exchange.request.start_ns, exchange.response->start_ns);
    EXPECT_LE(exchange.response->start_ns, exchange.response->end_ns);
  }
}

class Http2FixtureTest : public ::testing::TestWithParam<FixtureCase> {
 protected:
  void SetUp() override { recorded_ = load_fixture(std::string(GetParam().name)); }
  ReplayOptions options() const {
    ReplayOptions o;
    o.upgrade = GetParam().upgrade;
    return o;
  }
  std::vector<RecordedChunk> recorded_;
};

TEST_P(Http2FixtureTest, ReplaysToTheRecordedStreams) {
  const Replay r = replay(recorded_, options());
  expect_streams(r.exchanges(), GetParam().streams);
  EXPECT_EQ(r.records.size(), GetParam().streams.size());
  EXPECT_EQ(r.parser->stats().parse_errors, 0u);
  EXPECT_EQ(r.parser->stats().resyncs, 0u);
  EXPECT_EQ(r.parser->stats().bytes_skipped, 0u);
  EXPECT_EQ(r.parser->stats().unmatched_responses, 0u);
  const Http2Stats stats = r.http2()->http2_stats();
  EXPECT_EQ(stats.hpack_errors, 0u);
  EXPECT_EQ(stats.hpack_sync_losses, 0u);
  EXPECT_EQ(stats.frames_for_unknown_streams, 0u);
  EXPECT_TRUE(r.http2()->hpack_synced(Direction::Ingress));
  EXPECT_TRUE(r.http2()->hpack_synced(Direction::Egress));
}

TEST_P(Http2FixtureTest, DetectorPicksHttp2AndTheServerRole) {
  ReplayOptions o = options();
  o.through_detector = true;
  const Replay r = replay(recorded_, o);
  ASSERT_NE(r.parser, nullptr);
  EXPECT_EQ(r.parser->protocol_name(), "http2");
  EXPECT_EQ(r.parser->role(), Role::Server);
  expect_streams(r.exchanges(), GetParam().streams);
  // The request hook saw every request, the upgraded one included, as it was complete.
  ASSERT_EQ(r.hooked.size(), GetParam().streams.size());
  for (std::size_t i = 0; i < r.hooked.size(); ++i) {
    EXPECT_EQ(r.hooked[i].method, GetParam().streams[i].method);
    EXPECT_EQ(r.hooked[i].target, GetParam().streams[i].path);
  }
}

TEST_P(Http2FixtureTest, ReplaysFromTheClientSide) {
  ReplayOptions o = options();
  o.as_client = true;
  const Replay r = replay(recorded_, o);
  expect_streams(r.exchanges(), GetParam().streams);
  EXPECT_EQ(r.parser->role(), Role::Client);
  EXPECT_EQ(r.parser->stats().parse_errors, 0u);
}

TEST_P(Http2FixtureTest, ReplaysCutIntoSevenBytePieces) {
  ReplayOptions o = options();
  o.piece_bytes = 7;
  const Replay r = replay(recorded_, o);
  expect_streams(r.exchanges(), GetParam().streams);
  EXPECT_EQ(r.parser->stats().parse_errors, 0u);
}

TEST_P(Http2FixtureTest, CaptureLimitedTo8KiBKeepsEveryStream) {
  // Large DATA writes lose frame headers past 8 KiB: the framer resynchronises at the next
  // write and the decoder of that direction continues with an unknown table; streams, methods
  // and statuses stay, byte counts of the streams caught in a hole are lower bounds.
  ReplayOptions o = options();
  o.capture_limit = 8192;
  const Replay r = replay(recorded_, o);
  const std::vector<Http2Exchange> exchanges = r.exchanges();
  const std::vector<ExpectedStream>& expected = GetParam().streams;
  ASSERT_EQ(exchanges.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("stream " + std::to_string(expected[i].stream_id));
    EXPECT_EQ(exchanges[i].stream_id, expected[i].stream_id);
    EXPECT_EQ(exchanges[i].method, expected[i].method);
    EXPECT_EQ(exchanges[i].status_code, expected[i].status);
    ASSERT_TRUE(exchanges[i].response.has_value());
    EXPECT_LE(exchanges[i].response->data_bytes, expected[i].response_data);
    if (exchanges[i].response->data_bytes < expected[i].response_data) {
      EXPECT_TRUE(exchanges[i].degraded);
    }
    if (!exchanges[i].degraded) {
      EXPECT_EQ(exchanges[i].path, expected[i].path);
    }
  }
  EXPECT_EQ(r.parser->stats().parse_errors, 0u);
}

INSTANTIATE_TEST_SUITE_P(RecordedConnections, Http2FixtureTest, ::testing::ValuesIn(fixture_cases()),
                         [](const ::testing::TestParamInfo<FixtureCase>& param) {
                           return std::string(param.param.name);
                         });

TEST(Http2FixtureDetailTest, TraceparentReachesTheHookAndTheRecord) {
  ReplayOptions o;
  o.through_detector = true;
  const Replay r = replay(load_fixture("nghttp_concurrent"), o);
  ASSERT_EQ(r.hooked.size(), 3u);
  for (const HookedRequest& request : r.hooked) {
    EXPECT_EQ(request.protocol, "http");
    ASSERT_NE(request.header("traceparent"), nullptr);
    EXPECT_EQ(*request.header("traceparent"), kTraceparent);
  }
  EXPECT_EQ(*r.exchanges()[0].request.header("traceparent"), kTraceparent);
}

TEST(Http2FixtureDetailTest, PaddingContinuationAndTrailersBothWays) {
  const Replay r = replay(load_fixture("nghttp_post_padded"), {});
  const auto exchanges = r.exchanges();
  ASSERT_EQ(exchanges.size(), 1u);
  const Http2Exchange& ex = exchanges[0];
  EXPECT_GT(ex.request.header_block_bytes, 16384u);  // HEADERS + CONTINUATION
  ASSERT_NE(ex.request.trailer("x-checksum"), nullptr);
  EXPECT_EQ(*ex.request.trailer("x-checksum"), "1234");
  ASSERT_NE(ex.response->trailer("x-served-by"), nullptr);
  EXPECT_EQ(*ex.response->trailer("x-served-by"), "nghttpd");
  EXPECT_EQ(r.http2()->http2_stats().header_blocks, 4u);
}

TEST(Http2FixtureDetailTest, HeaderBlockCutByThe8KiBCaptureIsFlaggedNotFatal) {
  ReplayOptions o;
  o.capture_limit = 8192;
  const Replay r = replay(load_fixture("nghttp_post_padded"), o);
  const auto exchanges = r.exchanges();
  ASSERT_EQ(exchanges.size(), 1u);
  EXPECT_TRUE(exchanges[0].request.headers_truncated);
  EXPECT_TRUE(exchanges[0].degraded);
  EXPECT_EQ(exchanges[0].method, "POST");
  EXPECT_EQ(exchanges[0].path, "/upload");
  EXPECT_EQ(exchanges[0].status_code, 200);
  EXPECT_FALSE(exchanges[0].response->headers_truncated);
  EXPECT_FALSE(r.http2()->hpack_synced(Direction::Ingress));
  EXPECT_TRUE(r.http2()->hpack_synced(Direction::Egress));
}

TEST(Http2FixtureDetailTest, GrpcTrailersOnlyAndStreamingFromARealPeer) {
  const Replay r = replay(load_fixture("grpc_calls"), {});
  const auto exchanges = r.exchanges();
  ASSERT_EQ(exchanges.size(), 5u);
  EXPECT_FALSE(exchanges[0].trailers_only);
  ASSERT_NE(exchanges[0].request.header("traceparent"), nullptr);
  EXPECT_TRUE(exchanges[1].trailers_only);
  EXPECT_EQ(exchanges[1].grpc_message, "order 404 not found");
  EXPECT_EQ(exchanges[1].response->data_bytes, 0u);
  EXPECT_EQ(*exchanges[2].response->trailer("grpc-status"), "0");
}

// Attaching mid-connection: the first chunks happened before the agent was there.
TEST(Http2FixtureMidstreamTest, ParserStartedMidstreamThatSeesThePrefaceIsSynced) {
  // A connection the caller flags midstream may still be seen from its first byte.
  for (const FixtureCase& fixture : fixture_cases()) {
    if (fixture.upgrade) continue;  // starts with HTTP/1, not with the preface
    SCOPED_TRACE(std::string(fixture.name));
    Replay r;
    r.parser = std::make_unique<Http2ConnectionParser>(Role::Unknown, Http2ConnectionParser::Mode::Midstream);
    std::size_t index = 0;
    for (const RecordedChunk& chunk : load_fixture(std::string(fixture.name))) {
      r.parser->on_chunk(chunk.dir, to_chunk(chunk.data, index++, SIZE_MAX));
    }
    r.parser->on_close(kChunkSpacingNs * (index + 1));
    r.records = r.parser->take_records();
    expect_streams(r.exchanges(), fixture.streams);
    EXPECT_TRUE(r.http2()->hpack_synced(Direction::Ingress));
    EXPECT_TRUE(r.http2()->hpack_synced(Direction::Egress));
  }
}

TEST(Http2FixtureMidstreamTest, SequentialRequestsAfterAttachKeepStatusAndTiming) {
  const auto recorded = load_fixture("h2load_sequential");
  ReplayOptions o;
  o.first_chunk = 10;  // five requests and their responses are gone
  o.through_detector = true;
  const Replay r = replay(recorded, o);
  ASSERT_NE(r.parser, nullptr);
  EXPECT_EQ(r.parser->role(), Role::Server);  // learned from :method
  const auto exchanges = r.exchanges();
  ASSERT_EQ(exchanges.size(), 35u);
  for (const Http2Exchange& ex : exchanges) {
    SCOPED_TRACE("stream " + std::to_string(ex.stream_id));
    EXPECT_EQ(ex.method, "GET");         // static table
    EXPECT_EQ(ex.path, "/index.html");   // nghttp2 never indexes :path
    EXPECT_EQ(ex.authority, "*");        // an entry from before the attach
    EXPECT_EQ(ex.status_code, 200);      // static table
    EXPECT_EQ(ex.response->data_bytes, 47u);
    EXPECT_TRUE(ex.degraded);
    EXPECT_GT(ex.unresolved_headers, 0u);
    EXPECT_LT(ex.request.start_ns, ex.response->end_ns);
  }
  EXPECT_EQ(exchanges.front().stream_id, 11u);
  EXPECT_EQ(r.parser->stats().parse_errors, 0u);
  EXPECT_EQ(r.http2()->http2_stats().hpack_errors, 0u);
  EXPECT_FALSE(r.http2()->hpack_synced(Direction::Ingress));
}

TEST(Http2FixtureMidstreamTest, AttachInsideAWriteFindsTheNextFrame) {
  // The first chunk seen starts 3 bytes into a frame: nothing in it can be anchored alone, the
  // next write starts on a boundary.
  auto recorded = load_fixture("h2load_sequential");
  recorded.erase(recorded.begin(), recorded.begin() + 10);
  recorded.front().data.erase(0, 3);
  Replay r;
  r.parser = std::make_unique<Http2ConnectionParser>(Role::Unknown, Http2ConnectionParser::Mode::Midstream);
  std::size_t index = 0;
  for (const RecordedChunk& chunk : recorded) r.parser->on_chunk(chunk.dir, to_chunk(chunk.data, index++, SIZE_MAX));
  r.parser->on_close(kChunkSpacingNs * (index + 1));
  r.records = r.parser->take_records();
  const auto exchanges = r.exchanges();
  ASSERT_EQ(exchanges.size(), 34u);  // stream 11's request was cut: its response has no stream
  EXPECT_EQ(exchanges.front().stream_id, 13u);
  EXPECT_EQ(r.parser->stats().unmatched_responses, 1u);
  EXPECT_EQ(r.parser->stats().bytes_skipped, recorded.front().data.size());
}

TEST(Http2FixtureMidstreamTest, RealGrpcPeerAfterAttach) {
  // grpc++ indexes nearly every field: after the first call, requests are a few bytes of
  // indices. Calls made after the attach show what stays readable.
  const auto recorded = load_fixture("grpc_calls");
  ReplayOptions o;
  o.first_chunk = 4;  // the first call (and its response) happened before the attach
  o.through_detector = true;
  const Replay r = replay(recorded, o);
  const auto exchanges = r.exchanges();
  ASSERT_EQ(exchanges.size(), 4u);
  // Get 404: :path refers to the entry the first Get inserted; the Trailers-Only answer is new.
  EXPECT_EQ(exchanges[0].stream_id, 3u);
  EXPECT_EQ(exchanges[0].method, "POST");
  EXPECT_EQ(exchanges[0].path, "*");
  EXPECT_TRUE(exchanges[0].degraded);
  EXPECT_TRUE(exchanges[0].grpc);
  EXPECT_TRUE(exchanges[0].trailers_only);
  EXPECT_EQ(exchanges[0].grpc_status, 5);
  EXPECT_EQ(exchanges[0].grpc_message, "order 404 not found");
  // List and Upload are first called after the attach: their :path is a new entry.
  EXPECT_EQ(exchanges[1].path, "/zerotrace.fixture.Orders/List");
  EXPECT_EQ(exchanges[1].response->grpc_messages, 5u);
  EXPECT_EQ(exchanges[1].grpc_status, 0);
  EXPECT_EQ(exchanges[2].path, "/zerotrace.fixture.Orders/Upload");
  EXPECT_EQ(exchanges[2].request.grpc_messages, 3u);
  // The last Get refers to the entry inserted before the attach again.
  EXPECT_EQ(exchanges[3].path, "*");
  EXPECT_EQ(exchanges[3].status_code, 200);
  EXPECT_EQ(exchanges[3].grpc_status, 0);
  for (const Http2Exchange& ex : exchanges) EXPECT_GT(ex.unresolved_headers, 0u);
  EXPECT_EQ(r.http2()->http2_stats().hpack_errors, 0u);
}

}  // namespace
}  // namespace zt::protocols::http2
