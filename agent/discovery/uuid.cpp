#include "discovery/uuid.h"

#include <bit>

namespace zt::discovery {
namespace {

using Sha1Digest = std::array<std::uint8_t, 20>;

// SHA-1 (FIPS 180-4), fed in pieces. Here only to name things (UUID version 5), never to protect
// them, so its weakness against collision attacks does not matter.
class Sha1 {
 public:
  void update(std::string_view bytes) {
    for (const char byte : bytes) {
      block_[block_size_++] = static_cast<std::uint8_t>(byte);
      if (block_size_ == block_.size()) compress();
    }
    length_bits_ += static_cast<std::uint64_t>(bytes.size()) * 8;
  }

  Sha1Digest finish() {
    const std::uint64_t length_bits = length_bits_;
    block_[block_size_++] = 0x80;
    if (block_size_ > kLengthOffset) {
      while (block_size_ < block_.size()) block_[block_size_++] = 0;
      compress();
    }
    while (block_size_ < kLengthOffset) block_[block_size_++] = 0;
    for (int shift = 56; shift >= 0; shift -= 8) {
      block_[block_size_++] = static_cast<std::uint8_t>(length_bits >> shift);
    }
    compress();
    Sha1Digest digest;
    for (std::size_t i = 0; i < digest.size(); ++i) {
      digest[i] = static_cast<std::uint8_t>(state_[i / 4] >> (24 - 8 * (i % 4)));
    }
    return digest;
  }

 private:
  static constexpr std::size_t kLengthOffset = 56;  // the message length fills the block's last 8 bytes

  void compress() {
    std::array<std::uint32_t, 80> w;
    for (std::size_t i = 0; i < 16; ++i) {
      w[i] = std::uint32_t{block_[4 * i]} << 24 | std::uint32_t{block_[4 * i + 1]} << 16 |
             std::uint32_t{block_[4 * i + 2]} << 8 | std::uint32_t{block_[4 * i + 3]};
    }
    for (std::size_t i = 16; i < w.size(); ++i) w[i] = std::rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    auto [a, b, c, d, e] = state_;
    for (std::size_t i = 0; i < w.size(); ++i) {
      std::uint32_t f = 0;
      std::uint32_t k = 0;
      if (i < 20) {
        f = (b & c) | (~b & d), k = 0x5a827999;
      } else if (i < 40) {
        f = b ^ c ^ d, k = 0x6ed9eba1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
      } else {
        f = b ^ c ^ d, k = 0xca62c1d6;
      }
      const std::uint32_t next = std::rotl(a, 5) + f + e + k + w[i];
      e = d, d = c, c = std::rotl(b, 30), b = a, a = next;
    }
    state_[0] += a, state_[1] += b, state_[2] += c, state_[3] += d, state_[4] += e;
    block_size_ = 0;
  }

  std::array<std::uint32_t, 5> state_ = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
  std::array<std::uint8_t, 64> block_{};
  std::size_t block_size_ = 0;
  std::uint64_t length_bits_ = 0;
};

}  // namespace

std::string uuid_v5(const Uuid& name_space, std::string_view name) {
  Sha1 sha1;
  sha1.update(std::string_view(reinterpret_cast<const char*>(name_space.data()), name_space.size()));
  sha1.update(name);
  const Sha1Digest digest = sha1.finish();
  Uuid uuid;
  for (std::size_t i = 0; i < uuid.size(); ++i) uuid[i] = digest[i];
  uuid[6] = static_cast<std::uint8_t>((uuid[6] & 0x0f) | 0x50);  // version 5
  uuid[8] = static_cast<std::uint8_t>((uuid[8] & 0x3f) | 0x80);  // variant: RFC 9562
  constexpr std::string_view kHexDigits = "0123456789abcdef";
  std::string text;
  text.reserve(36);
  for (std::size_t i = 0; i < uuid.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text += '-';
    text += kHexDigits[uuid[i] >> 4];
    text += kHexDigits[uuid[i] & 0x0f];
  }
  return text;
}

}  // namespace zt::discovery
