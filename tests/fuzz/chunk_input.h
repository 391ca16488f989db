// What the connection-parser fuzz targets share: reading the input, and turning it into the
// ordered chunks the connection tracker would feed a parser. Chunk encoding:
//   control byte: bit 0 ingress, bit 1 gap, bit 2 truncated, bit 3 for the target (take records
//   afterwards), bits 4-7 the syscall's duration; u16 captured length; for a gap or a truncated
//   chunk a u16 count of uncaptured 64-byte units; the captured bytes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "protocols/protocol.h"

namespace zt::fuzz {

// A failed invariant names its line before aborting, so a crash input found in CI says which
// property broke without a debugger.
// (__builtin_FILE/__builtin_LINE: clang 14 with libstdc++ 12 has no std::source_location.)
inline void check(bool condition, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  if (condition) return;
  std::fprintf(stderr, "fuzz check failed at %s:%d\n", file, line);
  std::abort();
}

class InputReader {
 public:
  InputReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return offset_ == size_; }
  std::uint8_t byte() { return empty() ? 0 : data_[offset_++]; }
  std::uint16_t u16() {
    const std::uint16_t low = byte();
    return static_cast<std::uint16_t>(low | (byte() << 8));
  }
  std::string_view bytes(std::size_t count) {
    count = std::min(count, size_ - offset_);
    const std::string_view out(reinterpret_cast<const char*>(data_ + offset_), count);
    offset_ += count;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

inline protocols::Role role_from(std::uint8_t bits) {
  switch (bits & 3) {
    case 1:
      return protocols::Role::Client;
    case 2:
      return protocols::Role::Server;
    default:
      return protocols::Role::Unknown;
  }
}

struct FuzzChunk {
  protocols::Direction dir;
  protocols::Chunk chunk;
  std::uint8_t control;
};

// Chunks in stream order per direction, with positions and times as the tracker gives them.
class ChunkStream {
 public:
  static constexpr std::uint64_t kUncapturedUnit = 64;

  explicit ChunkStream(InputReader& in) : in_(in) {}

  std::optional<FuzzChunk> next() {
    if (in_.empty()) return std::nullopt;
    FuzzChunk out;
    out.control = in_.byte();
    out.dir = (out.control & 1) != 0 ? protocols::Direction::Ingress : protocols::Direction::Egress;
    const bool gap = (out.control & 2) != 0;
    const bool truncated = (out.control & 4) != 0;
    const std::size_t captured_length = in_.u16();
    const std::uint64_t uncaptured = gap || truncated ? in_.u16() * kUncapturedUnit : 0;
    const std::string_view captured = in_.bytes(captured_length);

    protocols::Chunk& chunk = out.chunk;
    const int d = static_cast<int>(out.dir);
    chunk.position = positions_[d];
    chunk.data = gap ? std::string_view{} : captured;
    chunk.size = (gap ? 0 : captured.size()) + uncaptured;
    chunk.gap = gap;
    chunk.start_ns = clock_ns_;
    chunk.end_ns = clock_ns_ + (out.control >> 4);
    chunk.tid = out.control;
    clock_ns_ = chunk.end_ns + 1;
    positions_[d] += chunk.size;
    return out;
  }
  std::uint64_t clock_ns() const { return clock_ns_; }

 private:
  InputReader& in_;
  std::uint64_t clock_ns_ = 1;
  std::uint64_t positions_[2] = {0, 0};
};

}  // namespace zt::fuzz
