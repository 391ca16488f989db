// BinaryReader and LengthPrefixedFramer, the shared pieces for binary protocols: bounds, sticky
// failure, hostile counts; frames split across chunks and packed into one, bodies beyond the kept
// bound and beyond the capture skipped by count, gaps in a body and at a boundary, resync.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocols/framing/binary_reader.h"
#include "protocols/framing/length_prefixed.h"

namespace zt::protocols {
namespace {

TEST(BinaryReader, ReadsBigEndianAndVarintsAndFailsStickily) {
  const std::string bytes("\x01\x02\x03\x04\x05\x06\x07\x08\x96\x01\x03\xff", 12);
  BinaryReader r(bytes);
  EXPECT_EQ(r.u16(), 0x0102);
  EXPECT_EQ(r.u32(), 0x03040506u);
  EXPECT_EQ(r.u16(), 0x0708);
  EXPECT_EQ(r.uvarint(), 150u);
  EXPECT_EQ(r.varint(), -2);  // zigzag 3
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.u16(), 0) << "one byte left";
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.u8(), 0) << "failure is sticky";
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(BinaryReader, CountsAreBoundedByWhatTheBytesCouldHold) {
  const std::string bytes(16, '\0');
  BinaryReader r(bytes);
  EXPECT_EQ(r.count(4, 100, 4), 4u);
  EXPECT_FALSE(BinaryReader(bytes).count(5, 100, 4)) << "five 4-byte items do not fit in 16 bytes";
  EXPECT_FALSE(BinaryReader(bytes).count(-1, 100));
  EXPECT_FALSE(BinaryReader(bytes).count(200, 100, 0));
  const std::string eleven(11, '\xff');
  BinaryReader v(eleven);
  v.uvarint();
  EXPECT_FALSE(v.ok()) << "a varint longer than ten bytes";
}

// 4-byte big-endian size, then the body; sizes over 1 MiB are implausible.
LengthPrefixedFormat kafka_like(std::size_t keep = 64) {
  LengthPrefixedFormat f;
  f.header_bytes = 4;
  f.keep_bytes = keep;
  f.body_length = [](std::span<const std::uint8_t> h) -> std::optional<std::uint64_t> {
    const std::uint64_t n = (std::uint64_t{h[0]} << 24) | (h[1] << 16) | (h[2] << 8) | h[3];
    if (n == 0 || n > (1u << 20)) return std::nullopt;
    return n;
  };
  return f;
}

std::string frame(const std::string& body) {
  const auto n = static_cast<std::uint32_t>(body.size());
  std::string out{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)};
  return out + body;
}

struct Feed {
  std::vector<Frame> frames;
  LengthPrefixedFramer framer;
  std::uint64_t position = 0;
  explicit Feed(LengthPrefixedFormat f, bool in_sync = true)
      : framer(std::move(f), [this](Frame&& fr) { frames.push_back(std::move(fr)); }, in_sync) {}
  // One syscall moving `size` bytes of which `data` was captured.
  void call(const std::string& data, std::uint64_t size = 0, std::uint64_t ts = 0) {
    Chunk c;
    c.position = position;
    c.size = size ? size : data.size();
    c.data = data;
    c.start_ns = ts;
    c.end_ns = ts + 1;
    framer.on_chunk(c);
    position += c.size;
  }
  void gap(std::uint64_t size) {
    Chunk c;
    c.position = position;
    c.size = size;
    c.gap = true;
    framer.on_chunk(c);
    position += size;
  }
};

TEST(LengthPrefixedFramer, AssemblesSplitHeadersAndSplitsPackedFrames) {
  Feed f(kafka_like());
  const std::string a = frame("hello"), b = frame("world!");
  f.call(a.substr(0, 2), 0, 10);  // half a header
  f.call(a.substr(2, 4), 0, 20);  // the rest of it, and the first body byte
  f.call(a.substr(6) + b, 0, 30); // the end of the first frame and all of the second
  ASSERT_EQ(f.frames.size(), 2u);
  EXPECT_EQ(f.frames[0].bytes, a);
  EXPECT_EQ(f.frames[0].start_ns, 10u);
  EXPECT_EQ(f.frames[0].end_ns, 31u);
  EXPECT_EQ(f.frames[1].bytes, b);
  EXPECT_EQ(f.frames[1].position, a.size());
  EXPECT_TRUE(f.frames[1].complete);
}

TEST(LengthPrefixedFramer, LargeAndTruncatedBodiesAreSkippedByCount) {
  Feed f(kafka_like(16));
  const std::string big = frame(std::string(100000, 'x'));
  // Captured: the first 4096 bytes of a 100004-byte write; the next frame follows in full.
  f.call(big.substr(0, 4096), big.size());
  f.call(frame("next"));
  ASSERT_EQ(f.frames.size(), 2u);
  EXPECT_EQ(f.frames[0].size, big.size());
  EXPECT_EQ(f.frames[0].bytes.size(), 16u) << "kept up to the bound";
  EXPECT_TRUE(f.frames[0].complete) << "everything wanted was captured";
  EXPECT_EQ(f.frames[1].bytes, frame("next"));
}

TEST(LengthPrefixedFramer, APerFrameBoundReplacesKeepBytes) {
  // Frames whose body starts with 'k' are kept whole, the others only to their header.
  LengthPrefixedFormat format = kafka_like(8);
  format.keep_bytes_for = [](std::span<const std::uint8_t> h) -> std::size_t {
    const std::uint64_t n = (std::uint64_t{h[0]} << 24) | (h[1] << 16) | (h[2] << 8) | h[3];
    return n == 20 ? 4 + n : 4;
  };
  Feed f(format);
  const std::string kept = frame(std::string(20, 'k')), header_only = frame(std::string(30, 'h'));
  f.call(kept + header_only);
  ASSERT_EQ(f.frames.size(), 2u);
  EXPECT_EQ(f.frames[0].bytes, kept) << "past keep_bytes (8): keep_bytes_for decides";
  EXPECT_EQ(f.frames[1].bytes, header_only.substr(0, 4));
  EXPECT_TRUE(f.frames[1].complete);
  f.call(header_only.substr(0, 10));
  EXPECT_EQ(f.framer.skip_until(), f.position - 10 + header_only.size()) << "the rest of the body is not wanted";
}

TEST(LengthPrefixedFramer, BytesAfterAHoleAreNotSplicedOntoTheKeptPrefix) {
  Feed f(kafka_like());
  const std::string a = frame("0123456789abcdefghij");
  f.call(a.substr(0, 8), 12);   // a read of 12 bytes, 8 captured
  f.call(a.substr(12));         // the rest, captured in full
  ASSERT_EQ(f.frames.size(), 1u);
  EXPECT_EQ(f.frames[0].bytes, a.substr(0, 8));
  EXPECT_FALSE(f.frames[0].complete);

  const std::string b = frame(std::string(20, 'b'));
  f.call(b.substr(0, 10));
  f.gap(10);
  f.call(b.substr(20));
  ASSERT_EQ(f.frames.size(), 2u);
  EXPECT_EQ(f.frames[1].bytes, b.substr(0, 10));
  EXPECT_TRUE(f.frames[1].gap);
}

TEST(LengthPrefixedFramer, GapInABodyIsCountedAndAtABoundaryResyncs) {
  Feed f(kafka_like());
  const std::string a = frame(std::string(20, 'a'));
  f.call(a.substr(0, 10));
  f.gap(10);                     // lost inside the body
  f.call(a.substr(20));          // its last 4 bytes
  ASSERT_EQ(f.frames.size(), 1u);
  EXPECT_TRUE(f.frames[0].gap);
  EXPECT_FALSE(f.frames[0].complete);

  f.gap(50);                     // lost at a boundary: framing gone
  EXPECT_FALSE(f.framer.in_sync());
  f.call(std::string("\xff\xff\xff\xff garbage", 12));  // implausible: skipped
  f.call(frame("back"));         // a plausible header starts this chunk
  ASSERT_EQ(f.frames.size(), 2u);
  EXPECT_EQ(f.frames[1].bytes, frame("back"));
  EXPECT_EQ(f.framer.stats().resyncs, 1u);
  EXPECT_EQ(f.framer.stats().bytes_skipped, 62u);
}

TEST(LengthPrefixedFramer, MidstreamStartsByResynchronising) {
  Feed f(kafka_like(), false);
  f.call("ody of a frame we joined late");
  f.call(frame("first whole one"));
  ASSERT_EQ(f.frames.size(), 1u);
  EXPECT_EQ(f.frames[0].bytes, frame("first whole one"));
}

TEST(LengthPrefixedFramer, AnUncapturedHeaderLosesTheFraming) {
  Feed f(kafka_like());
  const std::string a = frame("abc"), b = frame("defg");
  // One read of both frames with only 5 bytes captured: the second header is unknown.
  f.call((a + b).substr(0, 5), a.size() + b.size());
  EXPECT_EQ(f.frames.size(), 1u) << "the first frame's body length was known";
  EXPECT_FALSE(f.framer.in_sync());
}

}  // namespace
}  // namespace zt::protocols
