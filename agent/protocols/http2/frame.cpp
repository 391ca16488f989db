#include "protocols/http2/frame.h"

#include <algorithm>

namespace zt::protocols::http2 {
namespace {

std::uint32_t byte_at(std::string_view bytes, std::size_t i) { return static_cast<unsigned char>(bytes[i]); }

// Flags RFC 9113 defines for each frame type; senders leave every other bit unset.
std::uint8_t defined_flags(FrameType type) {
  switch (type) {
    case FrameType::Data:
      return flags::kEndStream | flags::kPadded;
    case FrameType::Headers:
      return flags::kEndStream | flags::kEndHeaders | flags::kPadded | flags::kPriority;
    case FrameType::Settings:
    case FrameType::Ping:
      return flags::kAck;
    case FrameType::PushPromise:
      return flags::kEndHeaders | flags::kPadded;
    case FrameType::Continuation:
      return flags::kEndHeaders;
    case FrameType::Priority:
    case FrameType::RstStream:
    case FrameType::GoAway:
    case FrameType::WindowUpdate:
      return 0;
  }
  return 0;
}

bool resync_anchor_type(const FrameHeader& header) {
  return header.is(FrameType::Data) || header.is(FrameType::Headers);
}

}  // namespace

FrameHeader parse_frame_header(std::string_view bytes) {
  FrameHeader header;
  header.length = (byte_at(bytes, 0) << 16) | (byte_at(bytes, 1) << 8) | byte_at(bytes, 2);
  header.type = static_cast<std::uint8_t>(bytes[3]);
  header.flags = static_cast<std::uint8_t>(bytes[4]);
  header.stream_id = read_u32(bytes.substr(5)) & 0x7fffffffu;
  return header;
}

std::uint32_t read_u32(std::string_view bytes) {
  return (byte_at(bytes, 0) << 24) | (byte_at(bytes, 1) << 16) | (byte_at(bytes, 2) << 8) | byte_at(bytes, 3);
}

bool header_valid(const FrameHeader& header) {
  const bool on_stream = header.stream_id != 0;
  const std::uint32_t padding = header.has(flags::kPadded) ? 1 : 0;
  switch (header.frame_type()) {
    case FrameType::Data:
      return on_stream && header.length >= padding;
    case FrameType::Headers:
      return on_stream && header.length >= padding + (header.has(flags::kPriority) ? 5 : 0);
    case FrameType::Priority:
      return on_stream && header.length == 5;
    case FrameType::RstStream:
      return on_stream && header.length == 4;
    case FrameType::Settings:
      return !on_stream && header.length % 6 == 0 && (!header.has(flags::kAck) || header.length == 0);
    case FrameType::PushPromise:
      return on_stream && header.length >= padding + 4;
    case FrameType::Ping:
      return !on_stream && header.length == 8;
    case FrameType::GoAway:
      return !on_stream && header.length >= 8;
    case FrameType::WindowUpdate:
      return header.length == 4;
    case FrameType::Continuation:
      return on_stream;
  }
  return true;  // extension frame types are skipped whatever they hold
}

bool header_plausible(const FrameHeader& header, std::uint32_t max_length) {
  if (header.type > kLastKnownFrameType || header.length > max_length) return false;
  if ((header.flags & ~defined_flags(header.frame_type())) != 0) return false;
  return header_valid(header);
}

bool begins_with_client_preface(std::string_view data, std::size_t min_bytes) {
  const std::size_t n = std::min(data.size(), kClientPreface.size());
  return n >= std::min(min_bytes, kClientPreface.size()) && data.substr(0, n) == kClientPreface.substr(0, n);
}

int count_whole_frames(std::string_view captured, std::uint64_t size, bool allow_truncated) {
  std::uint64_t pos = 0;
  int frames = 0;
  while (pos < size) {
    if (pos + kFrameHeaderBytes > captured.size()) {
      const bool unverifiable = allow_truncated && captured.size() < size && pos + kFrameHeaderBytes <= size;
      return unverifiable ? frames : 0;
    }
    const FrameHeader header = parse_frame_header(captured.substr(static_cast<std::size_t>(pos)));
    if (!header_plausible(header)) return 0;
    pos += kFrameHeaderBytes + header.length;
    ++frames;
    if (pos > size) return 0;
  }
  return frames;
}

std::optional<std::size_t> find_frame_boundary(std::string_view captured, std::uint64_t size) {
  if (captured.size() < kFrameHeaderBytes) return std::nullopt;
  for (std::size_t offset = 0; offset + kFrameHeaderBytes <= captured.size(); ++offset) {
    std::uint64_t pos = offset;
    int verified = 0;
    bool broken = false;
    FrameHeader first;
    while (pos + kFrameHeaderBytes <= captured.size() && verified < kResyncChainFrames) {
      const FrameHeader header = parse_frame_header(captured.substr(static_cast<std::size_t>(pos)));
      if (!header_plausible(header)) {
        broken = true;
        break;
      }
      if (verified == 0) first = header;
      ++verified;
      pos += kFrameHeaderBytes + header.length;
    }
    if (broken || verified == 0) continue;
    if (verified >= kResyncChainFrames) return offset;
    if (pos == size && (offset == 0 || verified >= 2)) return offset;
    if (offset == 0 && verified == 1 && pos > captured.size() && pos <= size && resync_anchor_type(first)) {
      return offset;
    }
  }
  return std::nullopt;
}

}  // namespace zt::protocols::http2
