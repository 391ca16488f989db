// Reads big-endian binary fields (network byte order: Kafka, HTTP/2, gRPC) out of a byte range
// that came off the wire, with every length checked. Running past the end never reads out of
// bounds: the reader fails, stays failed, and every later read returns zero values, so a decoder
// can read a whole structure and check `ok()` once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace zt::protocols {

class BinaryReader {
 public:
  explicit BinaryReader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  explicit BinaryReader(std::string_view bytes)
      : bytes_(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()) {}

  bool ok() const { return ok_; }
  // The reader failed because a read ran past the end (a capture cut short), rather than on a
  // value it rejected (an over-long varint, a count over its bound, an explicit fail()).
  bool ran_out() const { return ran_out_; }
  std::size_t offset() const { return offset_; }
  std::size_t remaining() const { return ok_ ? bytes_.size() - offset_ : 0; }

  std::uint8_t u8() { return static_cast<std::uint8_t>(fixed(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(fixed(2)); }
  std::uint32_t u24() { return static_cast<std::uint32_t>(fixed(3)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(fixed(4)); }
  std::uint64_t u64() { return fixed(8); }
  std::int8_t i8() { return static_cast<std::int8_t>(u8()); }
  std::int16_t i16() { return static_cast<std::int16_t>(u16()); }
  std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }

  // Unsigned LEB128 (protobuf varints, Kafka's unsigned varints), at most `max_bytes` long.
  std::uint64_t uvarint(int max_bytes = 10) {
    std::uint64_t value = 0;
    for (int i = 0; i < max_bytes; ++i) {
      const std::uint8_t b = u8();
      if (!ok_) return 0;
      value |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) return value;
    }
    return fail();
  }
  // ZigZag-encoded signed varint (Kafka record fields).
  std::int64_t varint(int max_bytes = 10) {
    const std::uint64_t raw = uvarint(max_bytes);
    return static_cast<std::int64_t>(raw >> 1) ^ -static_cast<std::int64_t>(raw & 1);
  }

  // The next `n` bytes (empty and failed when fewer remain).
  std::span<const std::uint8_t> bytes(std::size_t n) {
    if (!ok_ || n > bytes_.size() - offset_) {
      run_out();
      return {};
    }
    auto out = bytes_.subspan(offset_, n);
    offset_ += n;
    return out;
  }
  std::string_view text(std::size_t n) {
    const auto b = bytes(n);
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  void skip(std::size_t n) { bytes(n); }

  // A count the wire declares, checked before anything is sized by it: at most `max`, and at most
  // one item per `min_item_bytes` of what remains (a hostile count cannot make a decoder reserve
  // memory the bytes could never fill). Fails the reader otherwise.
  std::optional<std::size_t> count(std::int64_t declared, std::size_t max, std::size_t min_item_bytes = 1) {
    if (!ok_ || declared < 0 || static_cast<std::uint64_t>(declared) > max ||
        (min_item_bytes > 0 && static_cast<std::uint64_t>(declared) > remaining() / min_item_bytes)) {
      fail();
      return std::nullopt;
    }
    return static_cast<std::size_t>(declared);
  }

  std::uint64_t fail() {
    ok_ = false;
    return 0;
  }

 private:
  std::uint64_t run_out() {
    if (ok_) ran_out_ = true;
    return fail();
  }
  std::uint64_t fixed(std::size_t n) {
    if (!ok_ || n > bytes_.size() - offset_) return run_out();
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | bytes_[offset_ + i];
    offset_ += n;
    return v;
  }

  std::span<const std::uint8_t> bytes_;
  std::size_t offset_ = 0;
  bool ok_ = true;
  bool ran_out_ = false;
};

}  // namespace zt::protocols
