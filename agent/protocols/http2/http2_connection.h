// HTTP/2 for one connection: a framer per direction (http2_framer.h), an HPACK decoder per
// direction (hpack_decoder.h) and the stitcher that turns the frames of each stream into one
// Http2Exchange (protocol.h), many streams at a time.
//
// DESIGN
// - Streams. A request header block (HEADERS from the client) opens a stream; response header
//   blocks, DATA and trailers are matched to it by stream id. A stream completes when both sides
//   sent END_STREAM, when either side resets it (RST_STREAM), when the server's GOAWAY names a
//   lower last stream id, or when the connection ends; the record then goes out, in completion
//   order. At most kMaxOpenStreams are open: opening one more drops the oldest (lowest id),
//   counted in ParserStats::requests_evicted. Frames of streams the parser does not know
//   (opened before the agent attached, evicted, already closed) are counted and skipped, but
//   their header blocks are still decoded: every block changes the HPACK table.
// - Request hook. identify() is called once per request, when its header block is complete
//   (END_HEADERS), with an HttpMessage view of it: method and target from :method and :path,
//   version "2", the header fields (names lower-cased, pseudo-headers included).
// - Role. Known from the tracker, or learned from the traffic: the client sends the preface;
//   a block with :method is a request, one with :status a response. Until then, blocks that
//   cannot be placed are decoded (table) and dropped.
// - SETTINGS. SETTINGS_HEADER_TABLE_SIZE applies to the decoder of the direction the sender
//   receives, once the peer's SETTINGS ACK comes (in that direction, in order);
//   SETTINGS_MAX_FRAME_SIZE raises the frame length the framer of that direction accepts.
// - h2c. Prior knowledge: the client's first bytes are the preface. Upgrade: the connection
//   starts as HTTP/1.1 with `Upgrade: h2c`; an Http1ConnectionParser frames it until its
//   `101 Switching Protocols` response, whose chunk's remaining bytes are the server's first
//   frames (Http1ConnectionParser::tunnel_offset); the upgrade request becomes stream 1 (its
//   record has `upgraded` set, its response comes as HTTP/2 frames), and its HTTP2-Settings
//   header counts as the client's SETTINGS, acknowledged by the 101. Only an upgrade asked for on
//   the first request the detector sees is followed (that is where clients ask for it); a server
//   that declines it leaves an HTTP/1 connection, reported as HttpExchange records.
// - Midstream (the connection predates the agent). Both framers start by resynchronising and
//   both decoders start on the HPACK shadow path with an unknown table. If the client's first
//   chunk turns out to be the preface, the connection is in fact fresh (the server cannot have
//   sent a header block before it) and both decoders start synced.
// - Loss. A header block whose bytes were not all captured is decoded as far as it was, flagged
//   (headers_truncated, degraded), and the decoder of its direction continues with an unknown
//   table (hpack_decoder.h: LOSS). When a framer loses the framing, the decoder of that
//   direction does the same, and every open stream is marked data_lost: its frames in the lost
//   bytes are gone, END_STREAM included, so such a stream may complete only at reset or close.
// - gRPC. A stream is gRPC by its content-type or grpc-status, or inferred from its framing when
//   those were unresolved; once one stream of the connection is gRPC, later POST streams to a
//   /Service/Method path with an unresolved content-type are too (finalize()).
// - Server push (PUSH_PROMISE) is decoded for the HPACK table; pushed streams are not reported.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/http1/http1_connection.h"
#include "protocols/http2/grpc_messages.h"
#include "protocols/http2/hpack_decoder.h"
#include "protocols/http2/http2_framer.h"
#include "protocols/protocol.h"

namespace zt::protocols::http2 {

// True when `data` begins with an HTTP/1.1 request line whose header block (as far as `data`
// holds it) has `Upgrade: h2c`.
bool requests_h2c_upgrade(std::string_view data);

struct Http2Stats {
  std::uint64_t frames = 0;
  std::uint64_t header_blocks = 0;
  std::uint64_t header_blocks_lost = 0;  // cut short by the capture, interrupted or oversized
  std::uint64_t streams = 0;             // requests seen
  std::uint64_t streams_reset = 0;
  std::uint64_t streams_refused = 0;             // past the last stream id of a server GOAWAY
  std::uint64_t frames_for_unknown_streams = 0;  // opened before the agent attached, evicted, closed
  std::uint64_t pushed_streams = 0;              // PUSH_PROMISE: not reported
  std::uint64_t unresolved_headers = 0;          // fields reported with a "*" name or value
  std::uint64_t inferred_header_names = 0;       // unresolved names given by infer_header_name
  std::uint64_t hpack_unresolved_references = 0;
  std::uint64_t hpack_errors = 0;
  std::uint64_t hpack_sync_losses = 0;  // a direction's table became partly unknown
};

class Http2ConnectionParser final : public ConnectionParser, private Http2FrameSink {
 public:
  static constexpr std::size_t kMaxOpenStreams = 1024;
  static constexpr std::size_t kMaxHeaderBlockBytes = 128 * 1024;
  static constexpr std::size_t kMaxPendingSettings = 16;

  enum class Mode : std::uint8_t {
    PriorKnowledge,  // from the connection's first byte, HTTP/2 from the start
    Upgrade,         // from the first byte, HTTP/1.1 asking for `Upgrade: h2c`
    Midstream,       // inside a connection that predates the agent
  };

  Http2ConnectionParser(Role role, Mode mode);
  ~Http2ConnectionParser() override;
  // The HTTP/1 parser of an upgrade calls back into this object: it stays where it was made.
  Http2ConnectionParser(const Http2ConnectionParser&) = delete;
  Http2ConnectionParser& operator=(const Http2ConnectionParser&) = delete;

  void on_chunk(Direction dir, const Chunk& chunk) override;
  void on_close(std::uint64_t ts_ns) override;
  std::vector<Record> take_records() override;
  Role role() const override { return role_; }
  const ParserStats& stats() const override { return stats_; }
  std::string_view protocol_name() const override;

  Http2Stats http2_stats() const;
  // The h2c upgrade happened (Mode::Upgrade only).
  bool upgraded() const { return upgraded_; }
  // The HPACK decoder of a direction is on the nghttp2 path (every block of it was seen).
  bool hpack_synced(Direction dir) const;

 private:
  struct Stream {
    Http2Exchange exchange;
    GrpcMessageCounter request_messages;
    GrpcMessageCounter response_messages;
    bool response_headers_ended_stream = false;  // Trailers-Only when gRPC
  };
  // A header block being received: HEADERS or PUSH_PROMISE, then CONTINUATION frames.
  struct PendingBlock {
    bool active = false;
    bool push_promise = false;
    bool end_stream = false;
    bool lost = false;  // bytes of it were not captured: `bytes` is its prefix
    std::uint32_t stream_id = 0;
    std::string bytes;
    std::uint64_t wire_bytes = 0;
    std::uint64_t first_byte_ns = 0;
    std::uint64_t last_byte_ns = 0;
    std::uint32_t tid = 0;
  };

  // Http2FrameSink
  void on_preface(Direction dir) override;
  void on_data(Direction dir, const Frame& frame, std::string_view captured, std::uint64_t uncaptured) override;
  void on_frame(Direction dir, const Frame& frame) override;
  void on_framing_lost(Direction dir) override;

  void feed_upgrade(Direction dir, const Chunk& chunk);
  void start_http2(Direction dir, const Chunk& chunk, std::size_t offset);
  void take_http1_records();
  void adopt_upgrade_request(HttpExchange&& exchange);
  void check_fresh_start(Direction dir, const Chunk& chunk);

  void start_block(Direction dir, const Frame& frame);
  void continue_block(Direction dir, const Frame& frame);
  void finish_block(Direction dir);
  void on_header_block(Direction dir, const PendingBlock& block, DecodedHeaderBlock&& decoded);
  void on_request_block(const PendingBlock& block, DecodedHeaderBlock&& decoded);
  void on_response_block(const PendingBlock& block, DecodedHeaderBlock&& decoded);
  void on_data_frame(Direction dir, const Frame& frame);
  void on_settings(Direction dir, const Frame& frame);
  void apply_settings(Direction dir, std::string_view payload, bool acknowledged);
  void on_rst_stream(Direction dir, const Frame& frame);
  void on_goaway(Direction dir, const Frame& frame);

  bool set_role_from_block(Direction dir, const DecodedHeaderBlock& decoded);
  Direction request_direction() const;
  Role sender_of(Direction dir) const;
  Stream* find_stream(std::uint32_t stream_id);
  void maybe_complete(std::uint32_t stream_id);
  void complete(std::uint32_t stream_id, Http2Closure closure);
  void finalize(Stream& stream);

  Role role_;
  const Mode mode_;
  bool upgraded_ = false;
  bool closed_ = false;
  bool carries_grpc_ = false;  // a stream of this connection was gRPC: see finalize()
  ParserStats stats_;
  Http2Stats counts_;
  std::unique_ptr<http1::Http1ConnectionParser> http1_;  // Mode::Upgrade until the 101
  std::array<std::optional<Http2Framer>, 2> framers_;     // per Direction
  std::array<std::optional<HpackDecoder>, 2> decoders_;   // per Direction of the bytes decoded
  std::array<PendingBlock, 2> blocks_;
  std::array<bool, 2> fed_{};                             // a chunk of that direction was fed
  // SETTINGS_HEADER_TABLE_SIZE of each unacknowledged SETTINGS frame, per Direction it was sent in.
  std::array<std::deque<std::optional<std::uint32_t>>, 2> pending_settings_;
  std::map<std::uint32_t, Stream> streams_;
  std::vector<Record> records_;
};

}  // namespace zt::protocols::http2
