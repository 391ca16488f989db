#include "protocols/framing/length_prefixed.h"

#include <algorithm>

namespace zt::protocols {

LengthPrefixedFramer::LengthPrefixedFramer(LengthPrefixedFormat format, Sink sink, bool in_sync)
    : format_(std::move(format)), sink_(std::move(sink)), state_(in_sync ? State::Header : State::Resync) {}

void LengthPrefixedFramer::lose_sync(std::uint64_t dropped) {
  if (state_ != State::Resync) ++stats_.resyncs;
  state_ = State::Resync;
  stats_.bytes_skipped += dropped;
  header_.clear();
  frame_ = Frame{};
}

void LengthPrefixedFramer::begin_frame(const Chunk& chunk, std::uint64_t position) {
  frame_ = Frame{};
  frame_.position = position;
  frame_.start_ns = chunk.start_ns;
  frame_.tid = chunk.tid;
  header_.clear();
  state_ = State::Header;
}

bool LengthPrefixedFramer::finish_header() {
  const auto* h = reinterpret_cast<const std::uint8_t*>(header_.data());
  const auto body = format_.body_length(std::span<const std::uint8_t>(h, header_.size()));
  if (!body) {
    ++stats_.invalid_headers;
    return false;
  }
  body_left_ = *body;
  frame_.size = header_.size() + *body;
  keep_ = format_.keep_bytes_for ? format_.keep_bytes_for(std::span<const std::uint8_t>(h, header_.size()))
                                 : format_.keep_bytes;
  frame_.bytes.assign(header_, 0, std::min(header_.size(), keep_));
  state_ = State::Body;
  return true;
}

void LengthPrefixedFramer::emit() {
  ++stats_.frames;
  sink_(std::move(frame_));
  frame_ = Frame{};
  header_.clear();
  state_ = State::Header;
}

void LengthPrefixedFramer::on_chunk(const Chunk& chunk) {
  if (chunk.gap) {
    if (state_ == State::Body) {
      // Lost inside a body: the count is known, the frame goes on without those bytes.
      const std::uint64_t n = std::min(body_left_, chunk.size);
      frame_.gap = true;
      frame_.complete = false;
      body_left_ -= n;
      if (body_left_ == 0) {
        frame_.end_ns = chunk.end_ns;
        emit();
      }
      if (chunk.size > n) lose_sync(chunk.size - n);  // the loss ran past the frame's end
    } else {
      lose_sync(chunk.size);
    }
    return;
  }

  std::uint64_t offset = 0;  // within the chunk's bytes (captured or not)
  const std::uint64_t captured = chunk.data.size();
  if (state_ == State::Resync) {
    // A frame starts at this chunk's start if its first bytes read as a plausible header.
    if (captured < format_.header_bytes) {
      stats_.bytes_skipped += chunk.size;
      return;
    }
    const auto* d = reinterpret_cast<const std::uint8_t*>(chunk.data.data());
    if (!format_.body_length(std::span<const std::uint8_t>(d, format_.header_bytes))) {
      stats_.bytes_skipped += chunk.size;
      return;
    }
    state_ = State::Header;
    header_.clear();
  }

  while (offset < chunk.size) {
    if (state_ == State::Header) {
      if (header_.empty()) begin_frame(chunk, chunk.position + offset);
      if (offset >= captured) {
        // The header's bytes were not captured: nothing to frame by.
        lose_sync(chunk.size - offset);
        return;
      }
      const std::uint64_t want = format_.header_bytes - header_.size();
      const std::uint64_t n = std::min(want, captured - offset);
      header_.append(chunk.data.data() + offset, n);
      offset += n;
      if (header_.size() < format_.header_bytes) {
        if (offset < chunk.size) {  // the rest of the header was cut by the capture
          lose_sync(chunk.size - offset + header_.size());
          return;
        }
        break;  // continues in the next chunk
      }
      if (!finish_header()) {
        lose_sync(chunk.size - offset + header_.size());
        return;
      }
      if (body_left_ == 0) {
        frame_.end_ns = chunk.end_ns;
        emit();
      }
      continue;
    }
    // Body: keep what is captured and wanted, skip the rest by count.
    const std::uint64_t n = std::min(body_left_, chunk.size - offset);
    // Kept bytes are one contiguous prefix (decoders read them as the frame's start): after a
    // hole (a capture cut short, a gap), later captured bytes would be spliced on, so none are.
    if (frame_.complete && frame_.bytes.size() < keep_) {
      const std::uint64_t want = keep_ - frame_.bytes.size();
      const std::uint64_t avail = offset < captured ? captured - offset : 0;
      const std::uint64_t take = std::min({want, n, avail});
      frame_.bytes.append(chunk.data.data() + offset, take);
      if (take < std::min(want, n)) frame_.complete = false;  // part of what was wanted was not captured
    }
    offset += n;
    body_left_ -= n;
    if (body_left_ == 0) {
      frame_.end_ns = chunk.end_ns;
      emit();
    }
  }
}

}  // namespace zt::protocols
