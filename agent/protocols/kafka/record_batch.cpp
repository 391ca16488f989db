// RECORDS fields: RecordBatch v2 (magic 2) batches, legacy magic 0/1 message sets counted only.
// Layout facts: ../shared/research/kafka.md (A1, "RecordBatch").
#include <algorithm>

#include "protocols/framing/binary_reader.h"
#include "protocols/kafka/compression.h"
#include "protocols/kafka/kafka_wire.h"

namespace zt::protocols::kafka {
namespace {

constexpr std::size_t kLogOverhead = 12;  // baseOffset INT64 + batchLength INT32: not in batchLength
constexpr std::size_t kMagicEnd = 17;     // the magic byte sits at offset 16 in every format
constexpr std::size_t kBatchHeader = 61;  // RecordBatch v2, up to and including recordsCount
constexpr std::int32_t kMinBatchLength = static_cast<std::int32_t>(kBatchHeader - kLogOverhead);
constexpr std::int32_t kMinMessageV0 = 14;  // crc, magic, attributes, key and value lengths
constexpr std::int32_t kMinMessageV1 = 22;  // + timestamp
constexpr std::int16_t kControlBit = 0x20;

enum class Stop { Cut, Malformed };

// Reads one record's reachable fields into out.records. Returns false when decoding must stop:
// the record ran past the captured bytes (set `stop` Cut) or contradicted itself (Malformed).
bool decode_record(BinaryReader& r, std::int64_t base_offset, const Limits& limits, RecordSet& out, Stop& stop) {
  const std::int64_t length = r.varint(5);
  if (!r.ok()) {
    stop = r.ran_out() ? Stop::Cut : Stop::Malformed;
    return false;
  }
  if (length < 0) {
    stop = Stop::Malformed;
    return false;
  }
  const std::size_t avail = static_cast<std::size_t>(std::min<std::uint64_t>(static_cast<std::uint64_t>(length), r.remaining()));
  const auto body = r.bytes(avail);
  const bool whole = avail == static_cast<std::uint64_t>(length);
  BinaryReader rec(body);
  // Running out inside a record that was captured whole contradicts its length.
  auto fail = [&](const BinaryReader& rr) {
    stop = rr.ran_out() && !whole ? Stop::Cut : Stop::Malformed;
    return false;
  };
  rec.i8();         // attributes
  rec.varint(10);   // timestampDelta
  const std::int64_t offset_delta = rec.varint(5);
  const std::int64_t key_length = rec.varint(5);
  if (!rec.ok()) return fail(rec);
  if (key_length < -1) {
    stop = Stop::Malformed;
    return false;
  }
  RecordInfo info;
  info.offset = base_offset + offset_delta;
  if (key_length >= 0) {
    const std::string_view key = rec.text(static_cast<std::size_t>(key_length));
    if (!rec.ok()) return fail(rec);
    info.key = std::string(key.substr(0, limits.max_string));
    info.key_truncated = key.size() > limits.max_string;
  }
  const std::int64_t value_length = rec.varint(5);
  if (!rec.ok()) return fail(rec);
  if (value_length < -1) {
    stop = Stop::Malformed;
    return false;
  }
  info.value_size = value_length;
  out.records.push_back(std::move(info));
  RecordInfo& kept = out.records.back();

  // Headers come after the value: a value longer than the capture hides them.
  if (value_length > 0) rec.skip(static_cast<std::size_t>(value_length));
  const std::int64_t headers = rec.varint(5);
  if (!rec.ok()) return fail(rec);
  if (headers < 0) {
    stop = Stop::Malformed;
    return false;
  }
  for (std::int64_t i = 0; i < headers; ++i) {  // each header is at least 2 bytes: bounded by them
    const std::int64_t key_len = rec.varint(5);
    if (rec.ok() && key_len < 0) {
      stop = Stop::Malformed;
      return false;
    }
    const std::string_view key = rec.text(static_cast<std::size_t>(std::max<std::int64_t>(key_len, 0)));
    const std::int64_t value_len = rec.varint(5);
    if (rec.ok() && value_len < -1) {
      stop = Stop::Malformed;
      return false;
    }
    const std::string_view value = rec.text(static_cast<std::size_t>(std::max<std::int64_t>(value_len, 0)));
    if (!rec.ok()) return fail(rec);
    if (value_len >= 0 && key == "traceparent") kept.traceparent = std::string(value.substr(0, limits.max_string));
    if (value_len >= 0 && key == "tracestate") kept.tracestate = std::string(value.substr(0, limits.max_string));
  }
  kept.headers_seen = true;
  if (!whole) {
    stop = Stop::Cut;
    return false;
  }
  return true;
}

void decode_batch_records(std::span<const std::uint8_t> data, std::int64_t base_offset, std::int32_t count,
                          const Limits& limits, RecordSet& out) {
  BinaryReader r(data);
  for (std::int32_t i = 0; i < count && out.records.size() < limits.max_records; ++i) {
    Stop stop = Stop::Cut;
    if (!decode_record(r, base_offset, limits, out, stop)) {
      if (stop == Stop::Malformed) out.malformed = true;
      return;
    }
  }
}

}  // namespace

RecordSet decode_records(std::span<const std::uint8_t> bytes, std::uint64_t declared_bytes, const Limits& limits) {
  RecordSet out;
  out.declared_bytes = declared_bytes;
  if (bytes.size() > declared_bytes) bytes = bytes.first(static_cast<std::size_t>(declared_bytes));
  out.truncated = bytes.size() < declared_bytes;
  bool user_batch_seen = false;
  std::size_t decoded_batches = 0;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const auto rest = bytes.subspan(pos);
    const std::uint64_t declared_rest = declared_bytes - pos;
    // A fetch response may end with a partial batch (the broker stops at max_bytes and the client
    // drops it): a tail too short for what it announces is not an error, and not decoded.
    if (declared_rest < kMagicEnd || rest.size() < kMagicEnd) break;
    BinaryReader r(rest);
    const std::int64_t base_offset = r.i64();
    const std::int32_t length = r.i32();
    r.i32();  // partitionLeaderEpoch (v2), crc + magic + attributes (v0/v1)
    const std::int8_t magic = r.i8();
    const std::uint64_t end = kLogOverhead + static_cast<std::uint64_t>(std::max(length, 0));
    if (magic == 0 || magic == 1) {
      if (length < (magic == 0 ? kMinMessageV0 : kMinMessageV1)) {
        out.malformed = true;
        break;
      }
      if (end > declared_rest) break;
      ++out.legacy_messages;
      pos += end;
      continue;
    }
    if (magic != 2 || length < kMinBatchLength) {
      out.malformed = true;
      break;
    }
    if (end > declared_rest) break;
    if (rest.size() < kBatchHeader) break;  // the capture ended inside the header
    r.u32();  // crc: not checked, the batch is usually cut short
    const std::int16_t attributes = r.i16();
    const std::int32_t last_offset_delta = r.i32();
    r.skip(8 + 8 + 8 + 2 + 4);  // base/max timestamp, producerId, producerEpoch, baseSequence
    const std::int32_t count = r.i32();
    ++out.batches;
    const int codec = attributes & 7;
    if (codec > static_cast<int>(Codec::Zstd) || count < 0) {
      out.malformed = true;
      break;
    }
    if (attributes & kControlBit) {  // transaction markers, not user records
      ++out.control_batches;
      pos += end;
      continue;
    }
    out.record_count += static_cast<std::uint64_t>(count);
    if (!user_batch_seen) {
      user_batch_seen = true;
      out.first_offset = base_offset;
      out.codec = static_cast<Codec>(codec);
    }
    out.last_offset = base_offset + last_offset_delta;
    if (decoded_batches < limits.max_batches && out.records.size() < limits.max_records) {
      ++decoded_batches;
      const std::size_t captured_end = static_cast<std::size_t>(std::min<std::uint64_t>(end, rest.size()));
      const auto payload = rest.subspan(kBatchHeader, captured_end - kBatchHeader);
      if (codec == static_cast<int>(Codec::None)) {
        decode_batch_records(payload, base_offset, count, limits, out);
      } else {
        // Only what follows recordsCount is compressed.
        bool corrupt = false;
        const std::string plain = decompress_prefix(static_cast<Codec>(codec), payload, limits.max_decompressed, corrupt);
        if (corrupt) ++out.decompress_failures;
        const std::span<const std::uint8_t> span(reinterpret_cast<const std::uint8_t*>(plain.data()), plain.size());
        // A stream that was cut (or hit the bound) ends inside a record: the whole ones are kept,
        // and an incomplete one is a cut, not a contradiction.
        const bool was_malformed = out.malformed;
        decode_batch_records(span, base_offset, count, limits, out);
        if (corrupt) out.malformed = was_malformed;
      }
      if (out.malformed) break;
    }
    pos += static_cast<std::size_t>(std::min<std::uint64_t>(end, bytes.size() - pos));
  }
  return out;
}

}  // namespace zt::protocols::kafka
