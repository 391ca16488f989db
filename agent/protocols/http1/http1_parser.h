// Incremental HTTP/1.x message framer for one direction of a connection.
//
// DESIGN
// - Input is the ordered chunks of one direction. A chunk is its captured bytes followed by
//   `size - data.size()` bytes that were not captured (a gap chunk is only such bytes). Framing
//   skips uncaptured bytes by count inside a Content-Length or chunked body and inside an
//   until-close body; anywhere else the parser cannot know where the next message starts, so it
//   resynchronises: it drops whole chunks until one begins with a valid start line.
// - A header block with a hole in it is still reported (what was captured of the start line and
//   headers, `headers_truncated` set) before resynchronising.
// - Header blocks are parsed in place from the chunk when they fit in it; only blocks that span
//   chunks are copied, into one buffer bounded by kMaxHeaderBlockBytes.
// - Timing: a message starts at its first byte. Bytes leaving the process (Egress) exist from the
//   write's entry; bytes arriving (Ingress) exist only at the read's exit, since a blocking read
//   may have waited long before they came. So start_ns is `start_ns` of the first byte's chunk on
//   Egress and its `end_ns` on Ingress. A message ends at `end_ns` of the chunk holding its last
//   byte; `tid` is the thread of the first byte's chunk.
// - Response framing depends on the request it answers (HEAD has no body, CONNECT 2xx turns the
//   connection into a tunnel), so a response parser asks its sink for that request's method.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/protocol.h"

namespace zt::protocols::http1 {

enum class MessageKind : std::uint8_t { Request, Response };

// True when `data` begins with a complete, valid request line (`METHOD SP target SP HTTP/1.x`).
bool begins_with_request_line(std::string_view data);
// True when `data` begins with `HTTP/1.0 ` or `HTTP/1.1 ` and a three-digit status code.
bool begins_with_status_line(std::string_view data);

// Receives what a parser produces, in stream order.
class Http1MessageSink {
 public:
  virtual ~Http1MessageSink() = default;
  virtual void on_message(HttpMessage&& message) = 0;
  // Response parsers only: method of the request the next response answers, empty if unknown.
  virtual std::string_view method_of_answered_request() const = 0;
};

// Frames the requests, or the responses, of one direction of a connection (see DESIGN above).
class Http1Parser {
 public:
  static constexpr std::size_t kMaxHeaderBlockBytes = 64 * 1024;
  static constexpr std::size_t kMaxChunkExtensionBytes = 4 * 1024;
  static constexpr std::size_t kMaxTrailerBytes = 64 * 1024;

  // `start_in_resync`: the stream is entered at an unknown offset (connection seen mid-stream).
  Http1Parser(MessageKind kind, Direction direction, bool start_in_resync, ParserStats& stats);

  void feed(const Chunk& chunk, Http1MessageSink& sink);
  // End of stream: completes an until-close body, reports any message cut short. Idempotent.
  void finish(Http1MessageSink& sink);

  // The message whose headers are parsed and whose body is still arriving, if any.
  const HttpMessage* message_in_progress() const;
  // Stream position up to which the bytes are body the parser only counts (the rest of a
  // Content-Length body, or of the current chunk of a chunked one); 0 when it needs the next bytes.
  std::uint64_t skip_until() const;
  // After a 101 or a CONNECT 2xx the stream is no longer HTTP/1: everything is ignored.
  bool stopped() const { return state_ == State::Stopped; }
  // Once stopped: bytes of the chunk being fed when it stopped that were still HTTP/1; the
  // rest of that chunk belongs to the protocol switched to (h2c after an upgrade).
  std::size_t stop_offset() const { return stop_offset_; }

 private:
  enum class State : std::uint8_t { Resync, Idle, Headers, Body, Stopped };
  enum class BodyFraming : std::uint8_t { None, ContentLength, Chunked, UntilClose };
  enum class ChunkedState : std::uint8_t {
    SizeDigits,
    SizeExtension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerLineStart,
    TrailerLine,
    TrailersEndLf,
  };
  struct Framing {
    BodyFraming body = BodyFraming::None;
    std::uint64_t content_length = 0;
    bool stop_after = false;
    bool valid = true;
  };

  void consume_idle(std::string_view& data, const Chunk& chunk);
  void consume_headers(std::string_view& data, const Chunk& chunk, Http1MessageSink& sink);
  void consume_body(std::string_view& data, const Chunk& chunk, Http1MessageSink& sink);
  void consume_chunked(std::string_view& data, Http1MessageSink& sink);
  void skip_uncaptured(std::uint64_t bytes, const Chunk& chunk, Http1MessageSink& sink);
  void skip_uncaptured_body(std::uint64_t bytes, Http1MessageSink& sink);

  bool start_line_plausible(std::string_view block, bool first_line_complete);
  void begin_body(Framing framing, Http1MessageSink& sink);
  Framing request_framing() const;
  Framing response_framing(std::string_view request_method) const;
  void end_of_chunk_size_line();

  void emit(Http1MessageSink& sink);
  void complete_message(Http1MessageSink& sink);
  void emit_truncated_headers(Http1MessageSink& sink);
  void fail(std::string_view& data, std::uint64_t dropped_before, Http1MessageSink& sink);
  void enter_resync();
  void reset_message();
  void release_header_buffer();
  void note_bytes_from(const Chunk& chunk);
  std::uint64_t first_byte_ns(const Chunk& chunk) const;

  const MessageKind kind_;
  const Direction direction_;
  ParserStats& stats_;
  State state_;

  HttpMessage current_;
  std::uint64_t last_byte_end_ns_ = 0;
  bool stop_after_ = false;

  std::string header_buf_;      // header block bytes, only while the block spans chunks
  std::size_t line_start_ = 0;  // start of the incomplete line in header_buf_
  bool start_line_checked_ = false;

  std::size_t stop_offset_ = 0;
  std::uint64_t fed_until_ = 0;  // stream position just past the last chunk fed

  BodyFraming framing_ = BodyFraming::None;
  std::uint64_t body_remaining_ = 0;  // Content-Length bytes still to come
  ChunkedState chunked_state_ = ChunkedState::SizeDigits;
  std::uint64_t chunk_remaining_ = 0;  // chunk size while reading the size line, then bytes left
  bool chunk_size_has_digits_ = false;
  std::size_t framing_bytes_ = 0;  // extension or trailer bytes, against their limits
};

}  // namespace zt::protocols::http1
