// Incremental HTTP/2 framer for one direction of a connection.
//
// DESIGN
// - Input is the ordered chunks of one direction; a chunk is its captured bytes followed by
//   `size - data.size()` bytes that were not captured (a gap chunk is only such bytes).
// - Frame headers (and the client preface) are read across chunk boundaries. A payload is
//   handed over whole for the frames whose content the connection needs (HEADERS, CONTINUATION,
//   PUSH_PROMISE, SETTINGS, RST_STREAM, GOAWAY; only up to kMaxBufferedPayload bytes); DATA
//   payloads are streamed to the sink as they come, padding removed, and never buffered; the
//   payloads of PING, PRIORITY, WINDOW_UPDATE and of unknown frame types are skipped by count.
// - Uncaptured bytes inside a payload are skipped by count: the frame still completes, its
//   needed payload marked lost past the first missing byte. Uncaptured bytes where a frame header
//   (or the preface) should be lose the framing: the framer tells the sink, then resynchronises
//   at a later chunk with find_frame_boundary() (frame.h: FRAME BOUNDARY HEURISTIC). A frame
//   header that breaks a length or stream rule of RFC 9113 section 6 loses the framing too.
// - A framer that starts inside a connection (midstream) starts by resynchronising.
// - Timing follows http1_parser.h: a frame's first byte exists at the write's entry on Egress
//   and at the read's exit on Ingress; its last byte at the exit of the call that moved it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/http2/frame.h"
#include "protocols/protocol.h"

namespace zt::protocols::http2 {

struct Frame {
  FrameHeader header;
  std::string_view payload;   // the needed payload bytes captured, up to the first lost one
  bool payload_lost = false;  // some needed payload bytes were not captured (or over the limit)
  std::uint64_t first_byte_ns = 0;
  std::uint64_t last_byte_ns = 0;
  std::uint32_t tid = 0;  // thread of the call that moved the first byte
};

// Receives what a framer finds, in stream order.
class Http2FrameSink {
 public:
  virtual ~Http2FrameSink() = default;
  // The 24-byte client connection preface went by.
  virtual void on_preface(Direction dir) = 0;
  // Data bytes of the DATA frame `frame` (header and timing of its first byte only): captured
  // bytes, then `uncaptured` bytes that were not.
  virtual void on_data(Direction dir, const Frame& frame, std::string_view captured, std::uint64_t uncaptured) = 0;
  // A whole frame (a DATA frame after all its bytes went to on_data).
  virtual void on_frame(Direction dir, const Frame& frame) = 0;
  // Bytes of unknown content were lost where frames were expected: frames resume at the next
  // plausible boundary, whatever was in between is gone.
  virtual void on_framing_lost(Direction dir) = 0;
};

class Http2Framer {
 public:
  static constexpr std::size_t kMaxBufferedPayload = 128 * 1024;

  enum class Start : std::uint8_t {
    Preface,          // the client side from the connection's first byte
    Frames,           // the server side from its first byte, or either side after an h2c upgrade
    PrefaceOrFrames,  // from the first byte, side unknown: a preface tells it is the client
    Resync,           // inside the connection (midstream)
  };

  Http2Framer(Direction direction, Start start, ParserStats& stats);

  void feed(const Chunk& chunk, Http2FrameSink& sink);

  // Largest frame the receiver of this direction accepts (its SETTINGS_MAX_FRAME_SIZE). Only
  // raises the bound: a frame past it is a peer's error, and framing errors resynchronise.
  void allow_frame_length(std::uint32_t length);
  bool resynchronising() const { return state_ == State::Resync; }

 private:
  enum class State : std::uint8_t { Start, Preface, Header, Payload, Resync };

  void consume_preface(std::string_view& data, Http2FrameSink& sink);
  void consume_header(std::string_view& data, const Chunk& chunk, Http2FrameSink& sink);
  void consume_payload(std::string_view& data, const Chunk& chunk, Http2FrameSink& sink);
  void skip_uncaptured(std::uint64_t bytes, const Chunk& chunk, Http2FrameSink& sink);
  void begin_payload(Http2FrameSink& sink);
  void finish_frame(Http2FrameSink& sink);
  void lose_framing(Http2FrameSink& sink);
  bool resync_at(const Chunk& chunk, std::string_view captured, std::size_t& offset);
  std::uint64_t first_byte_ns(const Chunk& chunk) const;

  const Direction direction_;
  ParserStats& stats_;
  State state_;
  std::uint32_t max_frame_length_;

  std::size_t preface_matched_ = 0;
  std::array<char, kFrameHeaderBytes> header_bytes_{};
  std::size_t header_have_ = 0;

  Frame frame_;
  std::uint64_t payload_pos_ = 0;  // payload bytes consumed
  std::uint64_t needed_ = 0;       // payload prefix the sink needs
  std::string payload_;            // the needed prefix, as captured
  bool payload_lost_ = false;
  std::uint64_t data_begin_ = 0;   // DATA: payload range holding data (padding excluded)
  std::uint64_t data_end_ = 0;
};

}  // namespace zt::protocols::http2
