// HTTP/2 wire format (RFC 9113 section 4 and 6): the client preface, the 9-byte frame header and
// the checks that tell a plausible frame header from arbitrary bytes, used to detect HTTP/2 and to
// find a frame boundary again when the agent starts inside a connection or lost bytes of it.
//
// FRAME BOUNDARY HEURISTIC (find_frame_boundary)
// A candidate offset is plausible when the 9 bytes there form a frame header that a conforming
// peer could send (header_plausible: a frame type defined by RFC 9113, only the flags defined for
// that type, the stream-id rules of the type, the fixed or minimum length of the type, at most
// kMaxResyncFrameLength) and the frames that follow it, as far as the captured bytes go, are
// plausible too (a chain). A candidate is accepted when
//   - its chain ends exactly at the end of the syscall (`chunk.size`): peers write whole frames,
//     so a write boundary that is also a frame boundary is strong evidence; at a chunk start one
//     frame is enough, elsewhere in the chunk two are needed;
//   - or at least kResyncChainFrames frame headers were verified in the captured bytes;
//   - or it is the chunk start and its single frame is a DATA or HEADERS frame that ends past the
//     captured bytes but inside the syscall (a large write of which only a prefix was captured).
// The chunk start is tried first, then every later offset of the captured bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace zt::protocols::http2 {

inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr std::size_t kFrameHeaderBytes = 9;
inline constexpr std::uint32_t kMaxFrameLength = (1u << 24) - 1;
inline constexpr std::uint32_t kDefaultMaxFrameSize = 16384;
// Frames a resynchronisation accepts: SETTINGS_MAX_FRAME_SIZE is rarely raised past 1 MiB.
inline constexpr std::uint32_t kMaxResyncFrameLength = 1u << 20;
inline constexpr int kResyncChainFrames = 3;

enum class FrameType : std::uint8_t {
  Data = 0,
  Headers = 1,
  Priority = 2,
  RstStream = 3,
  Settings = 4,
  PushPromise = 5,
  Ping = 6,
  GoAway = 7,
  WindowUpdate = 8,
  Continuation = 9,
};
inline constexpr std::uint8_t kLastKnownFrameType = 9;

namespace flags {
inline constexpr std::uint8_t kEndStream = 0x1;
inline constexpr std::uint8_t kAck = 0x1;
inline constexpr std::uint8_t kEndHeaders = 0x4;
inline constexpr std::uint8_t kPadded = 0x8;
inline constexpr std::uint8_t kPriority = 0x20;
}  // namespace flags

namespace settings {
inline constexpr std::uint16_t kHeaderTableSize = 0x1;
inline constexpr std::uint16_t kMaxFrameSize = 0x5;
}  // namespace settings

struct FrameHeader {
  std::uint32_t length = 0;
  std::uint8_t type = 0;  // a FrameType, or an extension type that is skipped
  std::uint8_t flags = 0;
  std::uint32_t stream_id = 0;  // reserved bit cleared

  FrameType frame_type() const { return static_cast<FrameType>(type); }
  bool is(FrameType t) const { return type == static_cast<std::uint8_t>(t); }
  bool has(std::uint8_t flag) const { return (flags & flag) != 0; }
};

// `bytes` holds at least kFrameHeaderBytes.
FrameHeader parse_frame_header(std::string_view bytes);

// True when a conforming peer could have sent this header (see FRAME BOUNDARY HEURISTIC).
bool header_plausible(const FrameHeader& header, std::uint32_t max_length = kMaxResyncFrameLength);

// Length and stream rules whose violation is a connection error (RFC 9113 section 6): a frame
// breaking them means the framing is not what the parser believes.
bool header_valid(const FrameHeader& header);

// True when `data` begins with the client preface, or with a prefix of it of at least
// `min_bytes` when `data` is shorter than the preface.
bool begins_with_client_preface(std::string_view data, std::size_t min_bytes = kClientPreface.size());

// Offset in `captured` (the captured bytes of a syscall that moved `size` bytes) of the first
// frame boundary the heuristic accepts, if any.
std::optional<std::size_t> find_frame_boundary(std::string_view captured, std::uint64_t size);

// Number of frames when `captured` is exactly a sequence of plausible frames that ends at `size`
// (whole frames only; the last may end in the uncaptured part only when `allow_truncated`).
int count_whole_frames(std::string_view captured, std::uint64_t size, bool allow_truncated);

// One SETTINGS parameter; `payload` of a SETTINGS frame is read 6 bytes at a time.
struct Setting {
  std::uint16_t id = 0;
  std::uint32_t value = 0;
};
// Calls `on_setting` for every complete parameter of `payload`.
template <typename F>
void for_each_setting(std::string_view payload, F&& on_setting) {
  for (std::size_t i = 0; i + 6 <= payload.size(); i += 6) {
    const auto b = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(payload[i + k])); };
    on_setting(Setting{static_cast<std::uint16_t>((b(0) << 8) | b(1)), (b(2) << 24) | (b(3) << 16) | (b(4) << 8) | b(5)});
  }
}

// Big-endian 32-bit value of the first 4 bytes of `bytes` (at least 4).
std::uint32_t read_u32(std::string_view bytes);

}  // namespace zt::protocols::http2
