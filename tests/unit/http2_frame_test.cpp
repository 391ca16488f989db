// HTTP/2 frame headers, the frame-boundary heuristic (frame.h) and the per-direction framer.
#include "protocols/http2/frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocols/http2/http2_connection.h"
#include "protocols/http2/http2_framer.h"
#include "support/http2_frames.h"

namespace zt::protocols::http2 {
namespace {

namespace t = test::http2;
using namespace std::string_view_literals;

TEST(Http2FrameTest, ParsesTheNineByteHeader) {
  const std::string bytes = t::frame(FrameType::Headers, flags::kEndHeaders | flags::kEndStream, 0x80000003u, "abc");
  const FrameHeader header = parse_frame_header(bytes);
  EXPECT_EQ(header.length, 3u);
  EXPECT_TRUE(header.is(FrameType::Headers));
  EXPECT_TRUE(header.has(flags::kEndHeaders));
  EXPECT_TRUE(header.has(flags::kEndStream));
  EXPECT_FALSE(header.has(flags::kPadded));
  EXPECT_EQ(header.stream_id, 3u);  // the reserved bit is dropped
}

TEST(Http2FrameTest, ValidityFollowsTheRulesOfEachType) {
  EXPECT_TRUE(header_valid(parse_frame_header(t::settings({{4, 65535}}))));
  EXPECT_FALSE(header_valid(parse_frame_header(t::frame(FrameType::Settings, 0, 0, "12345"))));
  EXPECT_FALSE(header_valid(parse_frame_header(t::frame(FrameType::Settings, 0, 1, ""))));
  EXPECT_FALSE(header_valid(parse_frame_header(t::frame(FrameType::Settings, flags::kAck, 0, "123456"))));
  EXPECT_TRUE(header_valid(parse_frame_header(t::ping())));
  EXPECT_FALSE(header_valid(parse_frame_header(t::frame(FrameType::Ping, 0, 0, "1234"))));
  EXPECT_FALSE(header_valid(parse_frame_header(t::data(0, "x"))));
  EXPECT_FALSE(header_valid(parse_frame_header(t::frame(FrameType::RstStream, 0, 1, "123"))));
  EXPECT_FALSE(header_valid(parse_frame_header(t::frame(FrameType::GoAway, 0, 0, "1234"))));
  EXPECT_FALSE(header_valid(parse_frame_header(t::frame(FrameType::Headers, flags::kPriority, 1, "1234"))));
  EXPECT_TRUE(header_valid(parse_frame_header(t::frame(static_cast<FrameType>(0x42), 0xff, 0, "anything"))));
  // Plausibility adds the flags defined for the type and a known type.
  EXPECT_FALSE(header_plausible(parse_frame_header(t::frame(FrameType::Data, flags::kEndHeaders, 1, "x"))));
  EXPECT_FALSE(header_plausible(parse_frame_header(t::frame(static_cast<FrameType>(0x42), 0, 0, ""))));
  EXPECT_TRUE(header_plausible(parse_frame_header(t::headers(1, "x", true))));
}

TEST(Http2FrameTest, ClientPrefaceAndItsPrefixes) {
  EXPECT_TRUE(begins_with_client_preface(t::preface() + t::settings()));
  EXPECT_FALSE(begins_with_client_preface("PRI * HTTP/2.0\r\n"));
  EXPECT_TRUE(begins_with_client_preface("PRI * HTTP/2.0\r\n", 16));
  EXPECT_FALSE(begins_with_client_preface("PRI * HTTP/1.1\r\n", 4));
  EXPECT_FALSE(begins_with_client_preface("GET / HTTP/1.1\r\n\r\n"));
}

TEST(Http2FrameTest, WholeFramesFillingAWriteAreCounted) {
  const std::string write = t::settings({{1, 4096}}) + t::window_update(0, 65535) + t::ping();
  EXPECT_EQ(count_whole_frames(write, write.size(), false), 3);
  EXPECT_EQ(count_whole_frames(write.substr(0, write.size() - 1), write.size() - 1, false), 0);
  // Truncated capture: frames that run into the uncaptured part count when allowed.
  EXPECT_EQ(count_whole_frames(std::string_view(write).substr(0, 20), write.size(), true), 1);
  EXPECT_EQ(count_whole_frames(std::string_view(write).substr(0, 30), write.size(), true), 2);
  EXPECT_EQ(count_whole_frames(std::string_view(write).substr(0, 30), write.size(), false), 0);
  EXPECT_EQ(count_whole_frames("HTTP/1.1 200 OK\r\n\r\n", 19, false), 0);
}

TEST(Http2FrameTest, BoundaryAtAChunkStartNeedsOneFrameEndingWithTheWrite) {
  const std::string write = t::headers(5, "\x82\x86\x84", false) + t::data(5, "hello", true);
  EXPECT_EQ(find_frame_boundary(write, write.size()), 0u);
  const std::string single = t::headers(7, "\x88", true);
  EXPECT_EQ(find_frame_boundary(single, single.size()), 0u);
}

TEST(Http2FrameTest, BoundaryInsideAChunkNeedsAChain) {
  // The tail of a DATA payload, then whole frames.
  const std::string frames = t::headers(9, "\x88", false) + t::data(9, std::string(40, 'x'), false) +
                             t::headers(9, "\xbf", true);
  const std::string write = std::string(23, 'z') + frames;
  EXPECT_EQ(find_frame_boundary(write, write.size()), 23u);
  // One frame alone inside a chunk is not enough.
  const std::string lone = std::string(23, 'z') + t::headers(9, "\x88", true);
  EXPECT_EQ(find_frame_boundary(lone, lone.size()), std::nullopt);
}

TEST(Http2FrameTest, BoundaryInALargeTruncatedWrite) {
  // A 16 KiB DATA frame of which 100 bytes were captured.
  const std::string write = t::data(3, std::string(16384, 'd'), false);
  EXPECT_EQ(find_frame_boundary(std::string_view(write).substr(0, 100), write.size()), 0u);
  // The same at an offset is unverifiable.
  const std::string shifted = "xyz" + write;
  EXPECT_EQ(find_frame_boundary(std::string_view(shifted).substr(0, 100), shifted.size()), std::nullopt);
}

TEST(Http2FrameTest, NoBoundaryInText) {
  const std::string text = "GET /index.html HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n";
  EXPECT_EQ(find_frame_boundary(text, text.size()), std::nullopt);
  const std::string zeros(512, '\0');
  EXPECT_EQ(find_frame_boundary(zeros, zeros.size()), std::nullopt);
}

TEST(Http2FrameTest, H2cUpgradeRequestIsRecognised) {
  EXPECT_TRUE(requests_h2c_upgrade(
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"));
  EXPECT_TRUE(requests_h2c_upgrade("POST /x HTTP/1.1\r\nupgrade: foo, H2C\r\n"));
  EXPECT_FALSE(requests_h2c_upgrade("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"));
  EXPECT_FALSE(requests_h2c_upgrade("GET / HTTP/1.1\r\nHost: a\r\n\r\nUpgrade: h2c\r\n\r\n"));
  EXPECT_FALSE(requests_h2c_upgrade("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"));
}

// Records what a framer hands over.
struct Recorder : Http2FrameSink {
  std::vector<std::string> events;
  std::uint64_t data_bytes = 0;
  std::uint64_t uncaptured = 0;
  std::vector<Frame> frames;
  std::vector<std::string> payloads;
  void on_preface(Direction) override { events.push_back("preface"); }
  void on_data(Direction, const Frame&, std::string_view captured, std::uint64_t lost) override {
    data_bytes += captured.size();
    uncaptured += lost;
  }
  void on_frame(Direction, const Frame& frame) override {
    events.push_back("frame" + std::to_string(frame.header.type) + (frame.payload_lost ? "!" : ""));
    frames.push_back(frame);
    payloads.emplace_back(frame.payload);
  }
  void on_framing_lost(Direction) override { events.push_back("lost"); }
};

TEST(Http2FramerTest, FramesAcrossChunkBoundariesWithTiming) {
  ParserStats stats;
  Http2Framer framer(Direction::Egress, Http2Framer::Start::Preface, stats);
  Recorder sink;
  const std::string bytes = t::preface() + t::settings({{4, 1 << 20}}) + t::headers(1, "\x82\x86\x84", false) +
                            t::padded_data(1, "hello world", 7, true);
  // Cut into 5-byte pieces, chunk i at [100 i, 100 i + 10].
  for (std::size_t i = 0; i * 5 < bytes.size(); ++i) {
    framer.feed(t::chunk(std::string_view(bytes).substr(i * 5, 5), 100 * i, 100 * i + 10), sink);
  }
  EXPECT_EQ(sink.events, (std::vector<std::string>{"preface", "frame4", "frame1", "frame0"}));
  EXPECT_EQ(sink.data_bytes, 11u);  // padding excluded
  EXPECT_EQ(sink.payloads[1], "\x82\x86\x84");
  // The HEADERS frame starts at byte 24 + 15 = 39 (chunk 7) and ends at byte 50 (chunk 10).
  EXPECT_EQ(sink.frames[1].first_byte_ns, 700u);  // Egress: the write's entry
  EXPECT_EQ(sink.frames[1].last_byte_ns, 1010u);
  EXPECT_EQ(stats.parse_errors, 0u);
}

TEST(Http2FramerTest, UncapturedPayloadIsSkippedByCount) {
  ParserStats stats;
  Http2Framer framer(Direction::Ingress, Http2Framer::Start::Frames, stats);
  Recorder sink;
  const std::string write = t::data(3, std::string(1000, 'a'), false) + t::headers(3, "\x88", true);
  // Only 100 bytes of the DATA frame captured; the HEADERS frame comes in the next call.
  const std::string first = write.substr(0, 1009);
  framer.feed(t::truncated_chunk(first, 100, 10, 20), sink);
  framer.feed(t::chunk(std::string_view(write).substr(1009), 30, 40), sink);
  EXPECT_EQ(sink.events, (std::vector<std::string>{"frame0", "frame1"}));
  EXPECT_EQ(sink.data_bytes, 91u);
  EXPECT_EQ(sink.uncaptured, 909u);
  EXPECT_EQ(sink.frames[0].first_byte_ns, 20u);  // Ingress: the read's exit
  EXPECT_EQ(stats.resyncs, 0u);
}

TEST(Http2FramerTest, AHoleWhereAHeaderShouldBeResynchronisesAtTheNextChunk) {
  ParserStats stats;
  Http2Framer framer(Direction::Ingress, Http2Framer::Start::Frames, stats);
  Recorder sink;
  const std::string write = t::data(3, std::string(100, 'a'), false) + t::data(3, std::string(100, 'b'), true);
  framer.feed(t::truncated_chunk(write, 50, 1, 2), sink);  // the second header is not captured
  const std::string next = t::headers(5, "\x82", false) + t::data(5, "x", true);
  framer.feed(t::chunk(next, 3, 4), sink);
  EXPECT_EQ(sink.events, (std::vector<std::string>{"frame0", "lost", "frame1", "frame0"}));
  EXPECT_EQ(stats.resyncs, 1u);
  EXPECT_EQ(stats.bytes_skipped, 109u);
}

TEST(Http2FramerTest, InvalidHeaderLosesTheFraming) {
  ParserStats stats;
  Http2Framer framer(Direction::Ingress, Http2Framer::Start::Frames, stats);
  Recorder sink;
  framer.feed(t::chunk(t::frame(FrameType::Ping, 0, 0, "1234") + "rest", 1, 2), sink);
  EXPECT_EQ(sink.events, (std::vector<std::string>{"lost"}));
  EXPECT_EQ(stats.parse_errors, 1u);
  EXPECT_TRUE(framer.resynchronising());
  // Oversized frames lose it too, until SETTINGS_MAX_FRAME_SIZE allows them.
  Http2Framer strict(Direction::Ingress, Http2Framer::Start::Frames, stats);
  Recorder other;
  const std::string huge = t::data(1, std::string(kMaxResyncFrameLength + 1, 'h'), true);
  strict.feed(t::chunk(huge, 1, 2), other);
  EXPECT_EQ(other.events, (std::vector<std::string>{"lost"}));
  Http2Framer allowed(Direction::Ingress, Http2Framer::Start::Frames, stats);
  allowed.allow_frame_length(kMaxFrameLength);
  Recorder third;
  allowed.feed(t::chunk(huge, 1, 2), third);
  EXPECT_EQ(third.events, (std::vector<std::string>{"frame0"}));
}

TEST(Http2FramerTest, MidstreamStartFindsTheFirstBoundary) {
  ParserStats stats;
  Http2Framer framer(Direction::Egress, Http2Framer::Start::Resync, stats);
  Recorder sink;
  framer.feed(t::chunk("tail of something", 1, 2), sink);
  const std::string write = "xyzw" + t::headers(11, "\x88", false) + t::data(11, "abc", false) + t::data(11, "", true);
  framer.feed(t::chunk(write, 3, 4), sink);
  EXPECT_EQ(sink.events, (std::vector<std::string>{"frame1", "frame0", "frame0"}));
  EXPECT_EQ(stats.bytes_skipped, 17u + 4u);
  EXPECT_EQ(stats.resyncs, 0u);  // starting midstream is not a loss
}

TEST(Http2FramerTest, HeaderBlockPayloadCutByTheCaptureIsMarkedLost) {
  ParserStats stats;
  Http2Framer framer(Direction::Egress, Http2Framer::Start::Frames, stats);
  Recorder sink;
  const std::string write = t::headers(1, std::string(300, 'h'), true);
  framer.feed(t::truncated_chunk(write, 109, 1, 2), sink);
  ASSERT_EQ(sink.events, (std::vector<std::string>{"frame1!"}));
  EXPECT_EQ(sink.payloads[0].size(), 100u);
}

TEST(Http2FramerTest, ClientOrServerDecidedByTheFirstByte) {
  ParserStats stats;
  Recorder client_sink;
  Http2Framer client(Direction::Egress, Http2Framer::Start::PrefaceOrFrames, stats);
  client.feed(t::chunk(t::preface() + t::settings(), 1, 2), client_sink);
  EXPECT_EQ(client_sink.events, (std::vector<std::string>{"preface", "frame4"}));
  Recorder server_sink;
  Http2Framer server(Direction::Ingress, Http2Framer::Start::PrefaceOrFrames, stats);
  server.feed(t::chunk(t::settings() + t::settings_ack(), 1, 2), server_sink);
  EXPECT_EQ(server_sink.events, (std::vector<std::string>{"frame4", "frame4"}));
}

}  // namespace
}  // namespace zt::protocols::http2
