// libFuzzer target: the shared binary-protocol pieces on hostile bytes. The input drives a
// LengthPrefixedFramer (header size and keep bound from the first bytes, then chunks as in
// chunk_input.h, both directions merged into one stream) whose frames are then read field by field
// with a BinaryReader, the way a Kafka-style decoder would: every read must stay in bounds, frames
// must be consistent with what was fed, and nothing may crash.
//
// Input layout: setup byte (bits 0-1: header of 2, 4, 5 or 8 bytes; bit 2: start out of framing),
// u16 keep bound, then chunks (chunk_input.h).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "protocols/framing/binary_reader.h"
#include "protocols/framing/length_prefixed.h"

#include "chunk_input.h"

namespace {

using zt::fuzz::check;

void read_like_a_decoder(const std::string& bytes) {
  zt::protocols::BinaryReader r(bytes);
  r.u32();
  r.i16();
  r.i16();
  r.i32();
  const auto n = r.count(r.i32(), 1000, 4);
  for (std::size_t i = 0; n && i < *n; ++i) {
    r.skip(r.u16());
    r.varint();
    r.uvarint();
  }
  check(r.offset() <= bytes.size());
  check(r.ok() || r.remaining() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  zt::fuzz::InputReader in(data, size);
  const std::uint8_t setup = in.byte();
  static constexpr std::size_t kHeaders[] = {2, 4, 5, 8};
  const std::size_t header_bytes = kHeaders[setup & 3];
  const std::size_t keep = 1 + in.u16() % 8192;

  zt::protocols::LengthPrefixedFormat format;
  format.header_bytes = header_bytes;
  format.keep_bytes = keep;
  format.body_length = [header_bytes](std::span<const std::uint8_t> h) -> std::optional<std::uint64_t> {
    check(h.size() == header_bytes);
    std::uint64_t n = 0;
    for (std::size_t i = header_bytes >= 4 ? header_bytes - 4 : 0; i < header_bytes; ++i) n = (n << 8) | h[i];
    if (n > (1u << 24)) return std::nullopt;
    return n;
  };
  std::uint64_t frames = 0;
  std::uint64_t framed_end = 0;
  zt::protocols::LengthPrefixedFramer framer(
      format,
      [&](zt::protocols::Frame&& f) {
        ++frames;
        check(f.size >= header_bytes);
        check(f.bytes.size() <= keep && f.bytes.size() <= f.size);
        check(f.position >= framed_end);  // frames never overlap and come in order
        framed_end = f.position + f.size;
        read_like_a_decoder(f.bytes);
      },
      (setup & 4) == 0);
  zt::fuzz::ChunkStream stream(in);
  std::uint64_t fed = 0;
  while (auto c = stream.next()) {
    // One direction: positions continue from the previous chunk whatever its direction bit.
    c->chunk.position = fed;
    fed += c->chunk.size;
    framer.on_chunk(c->chunk);
  }
  check(framed_end <= fed);
  check(framer.stats().frames == frames);
  return 0;
}
