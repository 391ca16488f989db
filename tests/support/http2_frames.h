// Builds HTTP/2 frames and HPACK blocks for tests: header blocks come from libnghttp2's deflater,
// so they are what a real peer sends (Huffman, dynamic table, size updates included).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/http2/frame.h"
#include "protocols/protocol.h"

namespace zt::test::http2 {

using Fields = std::vector<std::pair<std::string, std::string>>;
using protocols::http2::FrameType;
namespace flags = protocols::http2::flags;

// One direction's HPACK encoder (nghttp2_hd_deflater).
class HpackEncoder {
 public:
  explicit HpackEncoder(std::size_t max_table_size = 4096) {
    if (nghttp2_hd_deflate_new(&deflater_, max_table_size) != 0) throw std::runtime_error("nghttp2_hd_deflate_new");
  }
  ~HpackEncoder() { nghttp2_hd_deflate_del(deflater_); }
  HpackEncoder(const HpackEncoder&) = delete;
  HpackEncoder& operator=(const HpackEncoder&) = delete;

  // `no_index` fields are sent as literals never indexed (nghttp2's NGHTTP2_NV_FLAG_NO_INDEX).
  std::string encode(const Fields& fields, const std::vector<std::string>& no_index = {}) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [name, value] : fields) {
      std::uint8_t nv_flags = NGHTTP2_NV_FLAG_NONE;
      for (const auto& n : no_index) {
        if (n == name) nv_flags = NGHTTP2_NV_FLAG_NO_INDEX;
      }
      nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                     reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                     nv_flags});
    }
    std::string out(nghttp2_hd_deflate_bound(deflater_, nva.data(), nva.size()), '\0');
    const auto n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<std::uint8_t*>(out.data()), out.size(),
                                         nva.data(), nva.size());
    if (n < 0) throw std::runtime_error("nghttp2_hd_deflate_hd");
    out.resize(static_cast<std::size_t>(n));
    return out;
  }
  // The next block starts with a dynamic table size update to `size`.
  void change_table_size(std::size_t size) { nghttp2_hd_deflate_change_table_size(deflater_, size); }

 private:
  nghttp2_hd_deflater* deflater_ = nullptr;
};

inline void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

inline std::string frame(FrameType type, std::uint8_t frame_flags, std::uint32_t stream_id, std::string_view payload) {
  std::string out;
  const auto length = static_cast<std::uint32_t>(payload.size());
  out.push_back(static_cast<char>((length >> 16) & 0xff));
  out.push_back(static_cast<char>((length >> 8) & 0xff));
  out.push_back(static_cast<char>(length & 0xff));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(frame_flags));
  put_u32(out, stream_id);
  out.append(payload);
  return out;
}

inline std::string preface() { return std::string(protocols::http2::kClientPreface); }

inline std::string settings(std::initializer_list<std::pair<std::uint16_t, std::uint32_t>> values = {}) {
  std::string payload;
  for (const auto& [id, value] : values) {
    payload.push_back(static_cast<char>(id >> 8));
    payload.push_back(static_cast<char>(id & 0xff));
    put_u32(payload, value);
  }
  return frame(FrameType::Settings, 0, 0, payload);
}
inline std::string settings_ack() { return frame(FrameType::Settings, flags::kAck, 0, {}); }

inline std::string headers(std::uint32_t stream_id, std::string_view block, bool end_stream = false,
                           std::uint8_t extra_flags = flags::kEndHeaders) {
  return frame(FrameType::Headers, static_cast<std::uint8_t>(extra_flags | (end_stream ? flags::kEndStream : 0)),
               stream_id, block);
}

// HEADERS with PADDED and PRIORITY: pad length, 5 priority bytes, the block, then padding.
inline std::string padded_priority_headers(std::uint32_t stream_id, std::string_view block, std::uint8_t padding,
                                           bool end_stream = false) {
  std::string payload(1, static_cast<char>(padding));
  put_u32(payload, 0x80000000u);  // exclusive dependency on stream 0
  payload.push_back(static_cast<char>(15));
  payload.append(block);
  payload.append(padding, '\0');
  return frame(FrameType::Headers,
               static_cast<std::uint8_t>(flags::kEndHeaders | flags::kPadded | flags::kPriority |
                                         (end_stream ? flags::kEndStream : 0)),
               stream_id, payload);
}

inline std::string continuation(std::uint32_t stream_id, std::string_view fragment, bool end_headers) {
  return frame(FrameType::Continuation, end_headers ? flags::kEndHeaders : 0, stream_id, fragment);
}

inline std::string data(std::uint32_t stream_id, std::string_view payload, bool end_stream = false) {
  return frame(FrameType::Data, end_stream ? flags::kEndStream : 0, stream_id, payload);
}

inline std::string padded_data(std::uint32_t stream_id, std::string_view payload, std::uint8_t padding,
                               bool end_stream = false) {
  std::string body(1, static_cast<char>(padding));
  body.append(payload);
  body.append(padding, '\0');
  return frame(FrameType::Data, static_cast<std::uint8_t>(flags::kPadded | (end_stream ? flags::kEndStream : 0)),
               stream_id, body);
}

inline std::string rst_stream(std::uint32_t stream_id, std::uint32_t error_code) {
  std::string payload;
  put_u32(payload, error_code);
  return frame(FrameType::RstStream, 0, stream_id, payload);
}

inline std::string goaway(std::uint32_t last_stream_id, std::uint32_t error_code, std::string_view debug = {}) {
  std::string payload;
  put_u32(payload, last_stream_id);
  put_u32(payload, error_code);
  payload.append(debug);
  return frame(FrameType::GoAway, 0, 0, payload);
}

inline std::string ping(bool ack = false) { return frame(FrameType::Ping, ack ? flags::kAck : 0, 0, "12345678"); }

inline std::string window_update(std::uint32_t stream_id, std::uint32_t increment) {
  std::string payload;
  put_u32(payload, increment);
  return frame(FrameType::WindowUpdate, 0, stream_id, payload);
}

inline std::string priority(std::uint32_t stream_id) {
  std::string payload;
  put_u32(payload, 0);
  payload.push_back(static_cast<char>(16));
  return frame(FrameType::Priority, 0, stream_id, payload);
}

// One gRPC length-prefixed message.
inline std::string grpc_message(std::string_view body, bool compressed = false) {
  std::string out(1, compressed ? '\1' : '\0');
  put_u32(out, static_cast<std::uint32_t>(body.size()));
  out.append(body);
  return out;
}

inline protocols::Chunk chunk(std::string_view bytes, std::uint64_t start_ns, std::uint64_t end_ns,
                              std::uint32_t tid = 1) {
  protocols::Chunk c;
  c.size = bytes.size();
  c.data = bytes;
  c.start_ns = start_ns;
  c.end_ns = end_ns;
  c.tid = tid;
  return c;
}

// The first `captured` bytes of a syscall that moved all of `bytes`.
inline protocols::Chunk truncated_chunk(std::string_view bytes, std::size_t captured, std::uint64_t start_ns,
                                        std::uint64_t end_ns) {
  protocols::Chunk c = chunk(bytes.substr(0, captured), start_ns, end_ns);
  c.size = bytes.size();
  return c;
}

inline protocols::Chunk gap_chunk(std::uint64_t size, std::uint64_t start_ns, std::uint64_t end_ns) {
  protocols::Chunk c = chunk({}, start_ns, end_ns);
  c.size = size;
  c.gap = true;
  return c;
}

}  // namespace zt::test::http2
