#include "protocols/http2/http2_framer.h"

#include <algorithm>

namespace zt::protocols::http2 {
namespace {

// A payload buffer grown by a large header block is released rather than kept per connection.
constexpr std::size_t kRetainedPayloadBytes = 4 * 1024;

// Payload bytes the connection needs of a frame of this type (see DESIGN).
std::uint64_t needed_payload(const FrameHeader& header) {
  switch (header.frame_type()) {
    case FrameType::Headers:
    case FrameType::Continuation:
    case FrameType::PushPromise:
    case FrameType::Settings:
      return header.length;
    case FrameType::RstStream:
      return 4;
    case FrameType::GoAway:
      return 8;  // last stream id and error code; the debug data is skipped
    case FrameType::Data:
    case FrameType::Priority:
    case FrameType::Ping:
    case FrameType::WindowUpdate:
      return 0;
  }
  return 0;
}

}  // namespace

Http2Framer::Http2Framer(Direction direction, Start start, ParserStats& stats)
    : direction_(direction), stats_(stats), max_frame_length_(kMaxResyncFrameLength) {
  switch (start) {
    case Start::Preface:
      state_ = State::Preface;
      break;
    case Start::Frames:
      state_ = State::Header;
      break;
    case Start::PrefaceOrFrames:
      state_ = State::Start;
      break;
    case Start::Resync:
      state_ = State::Resync;
      break;
  }
}

void Http2Framer::allow_frame_length(std::uint32_t length) {
  max_frame_length_ = std::max(max_frame_length_, std::min(length, kMaxFrameLength));
}

void Http2Framer::feed(const Chunk& chunk, Http2FrameSink& sink) {
  const std::string_view captured =
      chunk.gap ? std::string_view{} : chunk.data.substr(0, std::min<std::uint64_t>(chunk.data.size(), chunk.size));
  const std::uint64_t uncaptured = chunk.size - captured.size();
  std::string_view data = captured;
  if (state_ == State::Resync) {
    std::size_t offset = 0;
    if (!resync_at(chunk, captured, offset)) {
      stats_.bytes_skipped += chunk.size;
      return;
    }
    stats_.bytes_skipped += offset;
    data.remove_prefix(offset);
  }
  while (!data.empty() && state_ != State::Resync) {
    switch (state_) {
      case State::Start:
        state_ = data.front() == kClientPreface.front() ? State::Preface : State::Header;
        break;
      case State::Preface:
        consume_preface(data, sink);
        break;
      case State::Header:
        consume_header(data, chunk, sink);
        break;
      case State::Payload:
        consume_payload(data, chunk, sink);
        break;
      case State::Resync:
        break;
    }
  }
  if (state_ == State::Resync) {
    // The framing was lost inside this chunk: the rest of it cannot be placed.
    stats_.bytes_skipped += data.size() + uncaptured;
    return;
  }
  if (uncaptured > 0) skip_uncaptured(uncaptured, chunk, sink);
}

bool Http2Framer::resync_at(const Chunk& chunk, std::string_view captured, std::size_t& offset) {
  offset = 0;
  if (begins_with_client_preface(captured)) {
    state_ = State::Preface;
    preface_matched_ = 0;
    return true;
  }
  const std::optional<std::size_t> boundary = find_frame_boundary(captured, chunk.size);
  if (!boundary) return false;
  offset = *boundary;
  state_ = State::Header;
  header_have_ = 0;
  return true;
}

void Http2Framer::consume_preface(std::string_view& data, Http2FrameSink& sink) {
  const std::size_t n = std::min(kClientPreface.size() - preface_matched_, data.size());
  if (data.substr(0, n) != kClientPreface.substr(preface_matched_, n)) {
    ++stats_.parse_errors;
    lose_framing(sink);
    return;
  }
  preface_matched_ += n;
  data.remove_prefix(n);
  if (preface_matched_ == kClientPreface.size()) {
    state_ = State::Header;
    sink.on_preface(direction_);
  }
}

void Http2Framer::consume_header(std::string_view& data, const Chunk& chunk, Http2FrameSink& sink) {
  if (header_have_ == 0) {
    frame_ = Frame{};
    frame_.first_byte_ns = first_byte_ns(chunk);
    frame_.tid = chunk.tid;
  }
  const std::size_t n = std::min(kFrameHeaderBytes - header_have_, data.size());
  std::copy_n(data.begin(), n, header_bytes_.begin() + static_cast<std::ptrdiff_t>(header_have_));
  header_have_ += n;
  data.remove_prefix(n);
  if (header_have_ < kFrameHeaderBytes) return;
  header_have_ = 0;
  const FrameHeader header = parse_frame_header(std::string_view(header_bytes_.data(), header_bytes_.size()));
  if (!header_valid(header) || header.length > max_frame_length_) {
    ++stats_.parse_errors;
    lose_framing(sink);
    return;
  }
  frame_.header = header;
  frame_.last_byte_ns = chunk.end_ns;
  begin_payload(sink);
}

void Http2Framer::begin_payload(Http2FrameSink& sink) {
  const FrameHeader& header = frame_.header;
  payload_pos_ = 0;
  payload_.clear();
  payload_lost_ = false;
  needed_ = needed_payload(header);
  if (needed_ > kMaxBufferedPayload) {
    needed_ = kMaxBufferedPayload;
    payload_lost_ = true;
  }
  data_begin_ = header.is(FrameType::Data) && header.has(flags::kPadded) ? 1 : 0;
  data_end_ = header.is(FrameType::Data) ? header.length : 0;
  if (header.length == 0) {
    finish_frame(sink);
  } else {
    state_ = State::Payload;
  }
}

void Http2Framer::consume_payload(std::string_view& data, const Chunk& chunk, Http2FrameSink& sink) {
  const FrameHeader& header = frame_.header;
  frame_.last_byte_ns = std::max(frame_.last_byte_ns, chunk.end_ns);
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(header.length - payload_pos_, data.size()));
  const std::string_view slice = data.substr(0, n);
  if (!payload_lost_ && payload_pos_ < needed_) {
    payload_.append(slice.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(needed_ - payload_pos_, n))));
  }
  if (header.is(FrameType::Data)) {
    if (data_begin_ == 1 && payload_pos_ == 0) {
      const std::uint64_t padding = static_cast<unsigned char>(slice.front());
      data_end_ = padding < header.length ? header.length - padding : data_begin_;
    }
    const std::uint64_t lo = std::max(payload_pos_, data_begin_);
    const std::uint64_t hi = std::min(payload_pos_ + n, data_end_);
    if (lo < hi) {
      sink.on_data(direction_, frame_,
                   slice.substr(static_cast<std::size_t>(lo - payload_pos_), static_cast<std::size_t>(hi - lo)), 0);
    }
  }
  payload_pos_ += n;
  data.remove_prefix(n);
  if (payload_pos_ == header.length) finish_frame(sink);
}

void Http2Framer::skip_uncaptured(std::uint64_t bytes, const Chunk& chunk, Http2FrameSink& sink) {
  while (bytes > 0) {
    switch (state_) {
      case State::Preface: {
        // The preface is fixed: uncaptured bytes of it are skipped like payload bytes.
        const std::uint64_t n = std::min<std::uint64_t>(kClientPreface.size() - preface_matched_, bytes);
        preface_matched_ += static_cast<std::size_t>(n);
        bytes -= n;
        if (preface_matched_ == kClientPreface.size()) {
          state_ = State::Header;
          sink.on_preface(direction_);
        }
        break;
      }
      case State::Payload: {
        const FrameHeader& header = frame_.header;
        frame_.last_byte_ns = std::max(frame_.last_byte_ns, chunk.end_ns);
        const std::uint64_t n = std::min<std::uint64_t>(header.length - payload_pos_, bytes);
        if (payload_pos_ < needed_) payload_lost_ = true;
        if (header.is(FrameType::Data)) {
          if (data_begin_ == 1 && payload_pos_ == 0) payload_lost_ = true;  // padding unknown: counted as data
          const std::uint64_t lo = std::max(payload_pos_, data_begin_);
          const std::uint64_t hi = std::min(payload_pos_ + n, data_end_);
          if (lo < hi) sink.on_data(direction_, frame_, {}, hi - lo);
        }
        payload_pos_ += n;
        bytes -= n;
        if (payload_pos_ == header.length) finish_frame(sink);
        break;
      }
      case State::Start:
      case State::Header:
        // A frame header (or the preface, or a first byte telling which) is not there to read.
        lose_framing(sink);
        stats_.bytes_skipped += bytes;
        return;
      case State::Resync:
        stats_.bytes_skipped += bytes;
        return;
    }
  }
}

void Http2Framer::finish_frame(Http2FrameSink& sink) {
  frame_.payload = payload_;
  frame_.payload_lost = payload_lost_;
  state_ = State::Header;
  sink.on_frame(direction_, frame_);
  if (payload_.capacity() > kRetainedPayloadBytes) {
    std::string().swap(payload_);
  } else {
    payload_.clear();
  }
}

void Http2Framer::lose_framing(Http2FrameSink& sink) {
  ++stats_.resyncs;
  state_ = State::Resync;
  header_have_ = 0;
  preface_matched_ = 0;
  payload_.clear();
  sink.on_framing_lost(direction_);
}

std::uint64_t Http2Framer::first_byte_ns(const Chunk& chunk) const {
  return direction_ == Direction::Ingress ? chunk.end_ns : chunk.start_ns;
}

}  // namespace zt::protocols::http2
