// Splits one direction of a connection into length-prefixed frames: a fixed-size header that
// gives the body's length (Kafka: a 4-byte size; gRPC messages: a flag byte and a 4-byte size),
// fed chunk by chunk in stream order as the connection tracker delivers them. The framing rules
// every binary protocol needs, written once:
//   - a header may arrive split across chunks (Java reads 4 bytes, then the body) or several
//     frames in one chunk: both are assembled;
//   - a body is kept up to a bound (what the parser decodes); the rest, captured or not, is skipped
//     by count, so a large body costs nothing and truncated captures keep the framing;
//   - bytes lost inside a body (a gap) are skipped by count and the frame is marked incomplete;
//     bytes lost in a header, or at a frame boundary, lose the framing;
//   - out of framing (attached mid-connection, after a loss), the framer resynchronises at the
//     start of a later chunk whose first bytes are a plausible header (the protocol decides what
//     is plausible); bytes dropped meanwhile are counted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "protocols/common.h"

namespace zt::protocols {

struct LengthPrefixedFormat {
  std::size_t header_bytes = 4;
  // The body's length from a complete header, or nullopt when the header is implausible. At a
  // resynchronisation it sees the start of a chunk, so it should check more than the length.
  std::function<std::optional<std::uint64_t>(std::span<const std::uint8_t> header)> body_length;
  std::size_t keep_bytes = 4096;  // header and body bytes kept per frame, at most
  // Optional: the bound for one frame, from its complete header, in place of keep_bytes (TLS keeps
  // handshake records whole and only the header of application data).
  std::function<std::size_t(std::span<const std::uint8_t> header)> keep_bytes_for;
};

struct Frame {
  std::uint64_t position = 0;  // stream offset of the first header byte
  std::uint64_t size = 0;      // header and body, as the header declared
  std::string bytes;           // the header and the first body bytes, up to keep_bytes, as captured
  bool complete = true;        // every byte up to min(size, keep_bytes) was captured: bytes holds them all
  bool gap = false;            // bytes of the body were lost entirely (not merely left uncaptured)
  std::uint64_t start_ns = 0;  // entry of the call that moved its first byte
  std::uint64_t end_ns = 0;    // exit of the call that moved its last byte
  std::uint32_t tid = 0;       // thread of its first byte
};

struct FramerStats {
  std::uint64_t frames = 0;
  std::uint64_t resyncs = 0;        // times the framing was lost and searched for again
  std::uint64_t bytes_skipped = 0;  // bytes dropped while out of framing
  std::uint64_t invalid_headers = 0;
};

class LengthPrefixedFramer {
 public:
  using Sink = std::function<void(Frame&& frame)>;

  // `in_sync`: the stream is seen from its first byte (a new connection); otherwise the first
  // frame is found by resynchronising.
  LengthPrefixedFramer(LengthPrefixedFormat format, Sink sink, bool in_sync = true);

  void on_chunk(const Chunk& chunk);
  bool in_sync() const { return state_ != State::Resync; }
  // Stream position up to which the frame being read needs no more bytes (its kept prefix is
  // full, or has a hole and keeps nothing more, and the rest of its body is skipped by count); 0
  // when every next byte is wanted.
  std::uint64_t skip_until() const {
    const bool keeps_nothing_more = frame_.bytes.size() >= keep_ || !frame_.complete;
    return state_ == State::Body && keeps_nothing_more ? frame_.position + frame_.size : 0;
  }
  const FramerStats& stats() const { return stats_; }

 private:
  enum class State { Header, Body, Resync };

  void lose_sync(std::uint64_t dropped);
  void begin_frame(const Chunk& chunk, std::uint64_t position);
  bool finish_header();
  void emit();

  LengthPrefixedFormat format_;
  Sink sink_;
  State state_;
  Frame frame_;                       // the frame being read
  std::string header_;                // header bytes gathered so far
  std::uint64_t body_left_ = 0;       // body bytes still to come
  std::size_t keep_ = 0;              // the frame's bound: keep_bytes or keep_bytes_for's
  FramerStats stats_;
};

}  // namespace zt::protocols
