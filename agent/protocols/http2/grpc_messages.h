// gRPC length-prefixed messages over the DATA bytes of one side of a stream: each message is a
// compressed-flag byte (0 or 1), a 4-byte big-endian length and that many bytes, and messages
// run across DATA frame boundaries as the sender's framing layer cut them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace zt::protocols::http2 {

class GrpcMessageCounter {
 public:
  static constexpr std::size_t kPrefixBytes = 5;

  void on_bytes(std::string_view bytes);
  // Bytes that were not captured: skipped by count inside a message; a prefix among them loses
  // the framing, and counting stops.
  void on_uncaptured(std::uint64_t bytes);

  // Messages whose last byte was seen.
  std::uint64_t messages() const { return messages_; }
  // Every byte so far belongs to a whole message (nothing cut off at the end).
  bool at_message_boundary() const { return !in_message_ && prefix_have_ == 0 && !lost_; }
  // A message prefix was not captured: messages() counts only those before it.
  bool lost() const { return lost_; }
  // A prefix held a compressed flag other than 0 or 1: these bytes are not gRPC messages.
  bool invalid() const { return invalid_; }

 private:
  std::array<std::uint8_t, kPrefixBytes> prefix_{};
  std::size_t prefix_have_ = 0;
  std::uint64_t remaining_ = 0;  // bytes of the current message still to come
  bool in_message_ = false;
  bool lost_ = false;
  bool invalid_ = false;
  std::uint64_t messages_ = 0;
};

}  // namespace zt::protocols::http2
