// Test-side builder of Kafka wire bytes: primitives (Writer), record batches with every codec,
// legacy message sets, request/response frames and the bodies the agent decodes, at any version.
// Written from the protocol's message definitions, independently of the decoders under test (its
// own table of flexible versions, its own encoders), so a test compares two readings of the spec.
//
// Bodies are complete for Produce, Fetch, Metadata, ApiVersions, FindCoordinator and OffsetFetch;
// the other group requests carry every field up to and including the group id, then plausible
// defaults for the rest.
#pragma once

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "protocols/kafka/kafka_wire.h"

namespace kafka_test {

using zt::protocols::kafka::Codec;
using zt::protocols::kafka::TopicId;

inline std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// First flexible version of the APIs this file builds (flexibleVersions in the JSON files).
inline int first_flexible(std::int16_t api_key) {
  switch (api_key) {
    case 0: return 9;    // Produce
    case 1: return 12;   // Fetch
    case 2: return 6;    // ListOffsets
    case 3: return 9;    // Metadata
    case 8: return 8;    // OffsetCommit
    case 9: return 6;    // OffsetFetch
    case 10: return 3;   // FindCoordinator
    case 11: return 6;   // JoinGroup
    case 12: return 4;   // Heartbeat
    case 13: return 4;   // LeaveGroup
    case 14: return 4;   // SyncGroup
    case 17: return -1;  // SaslHandshake
    case 18: return 3;   // ApiVersions
    case 68: return 0;   // ConsumerGroupHeartbeat
    case 71: return 0;   // GetTelemetrySubscriptions
    case 75: return 0;   // DescribeTopicPartitions
    default: throw std::invalid_argument("kafka_frames: no flexible threshold for this api key");
  }
}
inline bool flexible(std::int16_t api_key, std::int16_t version) {
  const int f = first_flexible(api_key);
  return f >= 0 && version >= f;
}

// Big-endian primitives, and the strings/arrays/bytes whose encoding depends on the version:
// classic (INT16/INT32 lengths) or, when `flexible`, compact (UNSIGNED_VARINT n+1) with tag buffers.
class Writer {
 public:
  explicit Writer(bool flexible = false) : flexible_(flexible) {}
  bool flexible() const { return flexible_; }
  const std::string& str() const { return out_; }
  std::size_t size() const { return out_.size(); }

  Writer& i8(std::int8_t v) { return be(static_cast<std::uint8_t>(v), 1); }
  Writer& i16(std::int16_t v) { return be(static_cast<std::uint16_t>(v), 2); }
  Writer& i32(std::int32_t v) { return be(static_cast<std::uint32_t>(v), 4); }
  Writer& u32(std::uint32_t v) { return be(v, 4); }
  Writer& i64(std::int64_t v) { return be(static_cast<std::uint64_t>(v), 8); }
  Writer& boolean(bool v) { return i8(v ? 1 : 0); }
  Writer& raw(std::string_view b) {
    out_.append(b);
    return *this;
  }
  Writer& uvarint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
    return *this;
  }
  Writer& varint(std::int64_t v) {  // zig-zag (record fields)
    return uvarint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  Writer& uuid(const TopicId& id) { return raw({reinterpret_cast<const char*>(id.data()), id.size()}); }

  // STRING (INT16 length) whatever the version: the request header's client_id.
  Writer& classic_string(std::optional<std::string_view> s) {
    if (!s) return i16(-1);
    i16(static_cast<std::int16_t>(s->size()));
    return raw(*s);
  }
  Writer& string(std::string_view s) { return nullable_string(s); }
  Writer& nullable_string(std::optional<std::string_view> s) {
    if (!flexible_) return classic_string(s);
    if (!s) return uvarint(0);
    uvarint(s->size() + 1);
    return raw(*s);
  }
  // BYTES / RECORDS (INT32 length) or COMPACT_BYTES / COMPACT_RECORDS; nullopt writes null.
  Writer& bytes(std::optional<std::string_view> b) {
    if (!b) return flexible_ ? uvarint(0) : i32(-1);
    if (flexible_) {
      uvarint(b->size() + 1);
    } else {
      i32(static_cast<std::int32_t>(b->size()));
    }
    return raw(*b);
  }
  // An array count (then the caller writes the items).
  Writer& array(std::size_t n) { return flexible_ ? uvarint(n + 1) : i32(static_cast<std::int32_t>(n)); }
  Writer& null_array() { return flexible_ ? uvarint(0) : i32(-1); }
  Writer& int32_array(const std::vector<std::int32_t>& values) {
    array(values.size());
    for (auto v : values) i32(v);
    return *this;
  }
  // An empty TAG_BUFFER in flexible versions, nothing otherwise.
  Writer& tags() { return flexible_ ? uvarint(0) : *this; }
  // A TAG_BUFFER with the given (tag, bytes) fields, flexible versions only.
  Writer& tags(const std::vector<std::pair<std::uint32_t, std::string>>& fields) {
    if (!flexible_) return *this;
    uvarint(fields.size());
    for (const auto& [tag, data] : fields) {
      uvarint(tag);
      uvarint(data.size());
      raw(data);
    }
    return *this;
  }

 private:
  Writer& be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  bool flexible_;
  std::string out_;
};

inline TopicId topic_id(std::uint8_t seed) {
  TopicId id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(seed + i * 17);
  id[6] = static_cast<std::uint8_t>(0x40 | (id[6] & 0x0f));  // version 4, as brokers make them
  id[8] = static_cast<std::uint8_t>(0x80 | (id[8] & 0x3f));
  return id;
}

// ---- compression -----------------------------------------------------------------------------

enum class SnappyFraming { Raw, Xerial };  // librdkafka writes a raw block, the Java client xerial

inline std::string snappy_raw(std::string_view in) {
  std::string out(snappy_max_compressed_length(in.size()), '\0');
  std::size_t n = out.size();
  if (snappy_compress(in.data(), in.size(), out.data(), &n) != SNAPPY_OK) throw std::runtime_error("snappy");
  out.resize(n);
  return out;
}

inline std::string compress(Codec codec, std::string_view in, SnappyFraming framing = SnappyFraming::Raw,
                            std::size_t xerial_block = 32 * 1024) {
  switch (codec) {
    case Codec::None:
      return std::string(in);
    case Codec::Gzip: {
      z_stream zs{};
      if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw std::runtime_error("deflateInit2");
      }
      std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32, '\0');
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
      zs.avail_in = static_cast<uInt>(in.size());
      zs.next_out = reinterpret_cast<Bytef*>(out.data());
      zs.avail_out = static_cast<uInt>(out.size());
      const int rc = deflate(&zs, Z_FINISH);
      out.resize(zs.total_out);
      deflateEnd(&zs);
      if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
      return out;
    }
    case Codec::Zstd: {
      std::string out(ZSTD_compressBound(in.size()), '\0');
      const std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
      if (ZSTD_isError(n)) throw std::runtime_error("zstd");
      out.resize(n);
      return out;
    }
    case Codec::Lz4: {
      LZ4F_preferences_t prefs{};
      prefs.frameInfo.blockSizeID = LZ4F_max64KB;
      std::string out(LZ4F_compressFrameBound(in.size(), &prefs), '\0');
      const std::size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), &prefs);
      if (LZ4F_isError(n)) throw std::runtime_error("lz4");
      out.resize(n);
      return out;
    }
    case Codec::Snappy: {
      if (framing == SnappyFraming::Raw) return snappy_raw(in);
      Writer w;
      w.raw(std::string_view("\x82SNAPPY\0", 8)).i32(1).i32(1);  // magic, version, compatible version
      for (std::size_t at = 0; at < in.size(); at += xerial_block) {
        const std::string block = snappy_raw(in.substr(at, xerial_block));
        w.i32(static_cast<std::int32_t>(block.size())).raw(block);
      }
      return w.str();
    }
  }
  throw std::invalid_argument("codec");
}

// CRC-32C (Castagnoli), reflected, as RecordBatch v2 uses over attributes..end.
inline std::uint32_t crc32c(std::string_view data) {
  std::uint32_t crc = 0xffffffffu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// ---- records ---------------------------------------------------------------------------------

struct Header {
  std::string key;
  std::optional<std::string> value;
};
struct Record {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<Header> headers;
  std::int64_t timestamp_delta = 0;
};

struct BatchOptions {
  Codec codec = Codec::None;
  SnappyFraming snappy = SnappyFraming::Raw;
  bool control = false;
  bool transactional = false;
  std::int32_t leader_epoch = 0;
  std::int64_t base_timestamp = 1700000000000;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  std::int32_t base_sequence = -1;
};

// The records of a batch as they are before compression (offset deltas 0, 1, ...).
inline std::string encode_records(const std::vector<Record>& records) {
  Writer all;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const Record& rec = records[i];
    Writer w;
    w.i8(0).varint(rec.timestamp_delta).varint(static_cast<std::int64_t>(i));
    if (rec.key) {
      w.varint(static_cast<std::int64_t>(rec.key->size())).raw(*rec.key);
    } else {
      w.varint(-1);
    }
    if (rec.value) {
      w.varint(static_cast<std::int64_t>(rec.value->size())).raw(*rec.value);
    } else {
      w.varint(-1);
    }
    w.varint(static_cast<std::int64_t>(rec.headers.size()));
    for (const Header& h : rec.headers) {
      w.varint(static_cast<std::int64_t>(h.key.size())).raw(h.key);
      if (h.value) {
        w.varint(static_cast<std::int64_t>(h.value->size())).raw(*h.value);
      } else {
        w.varint(-1);
      }
    }
    all.varint(static_cast<std::int64_t>(w.size())).raw(w.str());
  }
  return all.str();
}

// A RecordBatch v2: 61-byte header (CRC-32C filled in), then the records, compressed per `codec`.
inline std::string record_batch(std::int64_t base_offset, const std::vector<Record>& records,
                                const BatchOptions& options = {}) {
  const std::string payload = compress(options.codec, encode_records(records), options.snappy);
  std::int16_t attributes = static_cast<std::int16_t>(options.codec);
  if (options.transactional) attributes |= 0x10;
  if (options.control) attributes |= 0x20;
  Writer tail;  // attributes .. end: what the CRC covers
  tail.i16(attributes)
      .i32(records.empty() ? 0 : static_cast<std::int32_t>(records.size() - 1))
      .i64(options.base_timestamp)
      .i64(options.base_timestamp)
      .i64(options.producer_id)
      .i16(options.producer_epoch)
      .i32(options.base_sequence)
      .i32(static_cast<std::int32_t>(records.size()))
      .raw(payload);
  Writer w;
  w.i64(base_offset)
      .i32(static_cast<std::int32_t>(4 + 1 + 4 + tail.size()))  // epoch, magic, crc, rest
      .i32(options.leader_epoch)
      .i8(2)
      .u32(crc32c(tail.str()))
      .raw(tail.str());
  return w.str();
}
inline std::string record_batch(std::int64_t base_offset, const std::vector<Record>& records, Codec codec) {
  BatchOptions options;
  options.codec = codec;
  return record_batch(base_offset, records, options);
}

// A transaction marker: a control batch with one record (key: version, type; value: version,
// coordinator epoch).
inline std::string control_batch(std::int64_t base_offset, bool commit = true) {
  Record marker;
  marker.key = Writer().i16(0).i16(commit ? 1 : 0).str();
  marker.value = Writer().i16(0).i32(5).str();
  BatchOptions options;
  options.control = true;
  options.transactional = true;
  options.producer_id = 4000;
  options.producer_epoch = 0;
  return record_batch(base_offset, {marker}, options);
}

// One legacy message-set entry (magic 0 or 1, uncompressed): offset, size, crc (CRC-32), magic,
// attributes, [timestamp], key, value.
inline std::string legacy_message(std::int64_t offset, std::int8_t magic, std::optional<std::string> key,
                                  std::optional<std::string> value) {
  Writer body;  // magic .. end: what the CRC covers
  body.i8(magic).i8(0);
  if (magic == 1) body.i64(1700000000000);
  body.bytes(key).bytes(value);
  const auto crc = static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(body.str().data()), static_cast<uInt>(body.size())));
  Writer w;
  w.i64(offset).i32(static_cast<std::int32_t>(4 + body.size())).u32(crc).raw(body.str());
  return w.str();
}

// ---- frames ----------------------------------------------------------------------------------

inline std::string with_size(std::string_view frame) {
  return Writer().i32(static_cast<std::int32_t>(frame.size())).raw(frame).str();
}

// Request header v1 (v2 for flexible versions: the same INT16 client_id, then a tag buffer).
inline std::string request_header(std::int16_t api_key, std::int16_t version, std::int32_t correlation_id,
                                  std::optional<std::string_view> client_id) {
  Writer w(flexible(api_key, version));
  w.i16(api_key).i16(version).i32(correlation_id).classic_string(client_id).tags();
  return w.str();
}
inline std::string request_frame(std::int16_t api_key, std::int16_t version, std::int32_t correlation_id,
                                 std::optional<std::string_view> client_id, std::string_view body) {
  return with_size(request_header(api_key, version, correlation_id, client_id) + std::string(body));
}
// Response header v0 (correlation id) or v1 (+ tag buffer). ApiVersions answers always use v0.
inline std::string response_frame(int header_version, std::int32_t correlation_id, std::string_view body) {
  Writer w(header_version >= 1);
  w.i32(correlation_id).tags();
  return with_size(w.str() + std::string(body));
}
inline int response_header_version(std::int16_t api_key, std::int16_t version) {
  return api_key != 18 && flexible(api_key, version) ? 1 : 0;
}

// ---- Produce ---------------------------------------------------------------------------------

struct ProducePartition {
  std::int32_t index = 0;
  std::optional<std::string> records;  // RECORDS bytes (batches), nullopt: null
};
struct ProduceTopic {
  std::string name;
  TopicId id{};  // v13+
  std::vector<ProducePartition> partitions;
};

inline std::string produce_request(std::int16_t version, std::optional<std::string> transactional_id, std::int16_t acks,
                                   std::int32_t timeout_ms, const std::vector<ProduceTopic>& topics) {
  Writer w(flexible(0, version));
  if (version >= 3) w.nullable_string(transactional_id);
  w.i16(acks).i32(timeout_ms).array(topics.size());
  for (const auto& t : topics) {
    if (version >= 13) {
      w.uuid(t.id);
    } else {
      w.string(t.name);
    }
    w.array(t.partitions.size());
    for (const auto& p : t.partitions) w.i32(p.index).bytes(p.records).tags();
    w.tags();
  }
  w.tags();
  return w.str();
}

struct ProducePartitionResult {
  std::int32_t index = 0;
  std::int16_t error_code = 0;
  std::int64_t base_offset = -1;
  std::int64_t log_append_time_ms = -1;
  std::int64_t log_start_offset = 0;
  std::vector<std::pair<std::int32_t, std::string>> record_errors;  // v8+
  std::optional<std::string> error_message;                         // v8+
};
struct ProduceTopicResult {
  std::string name;
  TopicId id{};
  std::vector<ProducePartitionResult> partitions;
};

inline std::string produce_response(std::int16_t version, const std::vector<ProduceTopicResult>& topics,
                                    std::int32_t throttle_time_ms = 0) {
  Writer w(flexible(0, version));
  w.array(topics.size());
  for (const auto& t : topics) {
    if (version >= 13) {
      w.uuid(t.id);
    } else {
      w.string(t.name);
    }
    w.array(t.partitions.size());
    for (const auto& p : t.partitions) {
      w.i32(p.index).i16(p.error_code).i64(p.base_offset);
      if (version >= 2) w.i64(p.log_append_time_ms);
      if (version >= 5) w.i64(p.log_start_offset);
      if (version >= 8) {
        w.array(p.record_errors.size());
        for (const auto& [batch, message] : p.record_errors) w.i32(batch).nullable_string(message).tags();
        w.nullable_string(p.error_message);
      }
      w.tags();
    }
    w.tags();
  }
  if (version >= 1) w.i32(throttle_time_ms);
  w.tags();
  return w.str();
}

// ---- Fetch -----------------------------------------------------------------------------------

struct FetchPartitionRequest {
  std::int32_t index = 0;
  std::int64_t fetch_offset = 0;
  std::int32_t current_leader_epoch = -1;  // v9+
  std::int32_t last_fetched_epoch = -1;    // v12+
  std::int64_t log_start_offset = -1;      // v5+
  std::int32_t partition_max_bytes = 1048576;
};
struct FetchTopicRequest {
  std::string name;
  TopicId id{};
  std::vector<FetchPartitionRequest> partitions;
};
struct FetchRequestSpec {
  std::int32_t replica_id = -1;  // v0-14
  std::int32_t max_wait_ms = 500;
  std::int32_t min_bytes = 1;
  std::int32_t max_bytes = 52428800;
  std::int8_t isolation_level = 0;
  std::int32_t session_id = 0;
  std::int32_t session_epoch = -1;
  std::vector<FetchTopicRequest> topics;
  std::vector<FetchTopicRequest> forgotten;  // partitions' indexes only
  std::string rack_id;
};

inline std::string fetch_request(std::int16_t version, const FetchRequestSpec& s) {
  Writer w(flexible(1, version));
  if (version <= 14) w.i32(s.replica_id);
  w.i32(s.max_wait_ms).i32(s.min_bytes);
  if (version >= 3) w.i32(s.max_bytes);
  if (version >= 4) w.i8(s.isolation_level);
  if (version >= 7) w.i32(s.session_id).i32(s.session_epoch);
  w.array(s.topics.size());
  for (const auto& t : s.topics) {
    if (version >= 13) {
      w.uuid(t.id);
    } else {
      w.string(t.name);
    }
    w.array(t.partitions.size());
    for (const auto& p : t.partitions) {
      w.i32(p.index);
      if (version >= 9) w.i32(p.current_leader_epoch);
      w.i64(p.fetch_offset);
      if (version >= 12) w.i32(p.last_fetched_epoch);
      if (version >= 5) w.i64(p.log_start_offset);
      w.i32(p.partition_max_bytes);
      w.tags();
    }
    w.tags();
  }
  if (version >= 7) {
    w.array(s.forgotten.size());
    for (const auto& t : s.forgotten) {
      if (version >= 13) {
        w.uuid(t.id);
      } else {
        w.string(t.name);
      }
      w.array(t.partitions.size());
      for (const auto& p : t.partitions) w.i32(p.index);
      w.tags();
    }
  }
  if (version >= 11) w.string(s.rack_id);
  w.tags();
  return w.str();
}

struct AbortedTransaction {
  std::int64_t producer_id = 0;
  std::int64_t first_offset = 0;
};
struct FetchPartitionResponse {
  std::int32_t index = 0;
  std::int16_t error_code = 0;
  std::int64_t high_watermark = 0;
  std::int64_t last_stable_offset = -1;  // v4+
  std::int64_t log_start_offset = -1;    // v5+
  std::optional<std::vector<AbortedTransaction>> aborted;  // v4+, nullable
  std::int32_t preferred_read_replica = -1;               // v11+
  std::optional<std::string> records;
  std::vector<std::pair<std::uint32_t, std::string>> tagged;  // flexible: e.g. diverging_epoch (0)
};
struct FetchTopicResponse {
  std::string name;
  TopicId id{};
  std::vector<FetchPartitionResponse> partitions;
};
struct FetchResponseSpec {
  std::int32_t throttle_time_ms = 0;
  std::int16_t error_code = 0;  // v7+
  std::int32_t session_id = 0;  // v7+
  std::vector<FetchTopicResponse> topics;
};

inline std::string fetch_response(std::int16_t version, const FetchResponseSpec& s) {
  Writer w(flexible(1, version));
  if (version >= 1) w.i32(s.throttle_time_ms);
  if (version >= 7) w.i16(s.error_code).i32(s.session_id);
  w.array(s.topics.size());
  for (const auto& t : s.topics) {
    if (version >= 13) {
      w.uuid(t.id);
    } else {
      w.string(t.name);
    }
    w.array(t.partitions.size());
    for (const auto& p : t.partitions) {
      w.i32(p.index).i16(p.error_code).i64(p.high_watermark);
      if (version >= 4) w.i64(p.last_stable_offset);
      if (version >= 5) w.i64(p.log_start_offset);
      if (version >= 4) {
        if (!p.aborted) {
          w.null_array();
        } else {
          w.array(p.aborted->size());
          for (const auto& a : *p.aborted) w.i64(a.producer_id).i64(a.first_offset).tags();
        }
      }
      if (version >= 11) w.i32(p.preferred_read_replica);
      w.bytes(p.records);
      w.tags(p.tagged);
    }
    w.tags();
  }
  w.tags();
  return w.str();
}

// ---- Metadata --------------------------------------------------------------------------------

struct MetadataBrokerSpec {
  std::int32_t node_id = 0;
  std::string host;
  std::int32_t port = 9092;
  std::optional<std::string> rack;
};
struct MetadataPartitionSpec {
  std::int16_t error_code = 0;
  std::int32_t index = 0;
  std::int32_t leader = 0;
  std::int32_t leader_epoch = 0;
  std::vector<std::int32_t> replicas{0};
  std::vector<std::int32_t> isr{0};
  std::vector<std::int32_t> offline;
};
struct MetadataTopicSpec {
  std::int16_t error_code = 0;
  std::optional<std::string> name;  // null only from v12
  TopicId id{};                     // v10+
  bool internal = false;
  std::vector<MetadataPartitionSpec> partitions;
  std::int32_t authorized_operations = std::numeric_limits<std::int32_t>::min();
};
struct MetadataResponseSpec {
  std::int32_t throttle_time_ms = 0;
  std::vector<MetadataBrokerSpec> brokers;
  std::optional<std::string> cluster_id;
  std::int32_t controller_id = 0;
  std::vector<MetadataTopicSpec> topics;
  std::int16_t error_code = 0;  // v13+
};

inline std::string metadata_response(std::int16_t version, const MetadataResponseSpec& s) {
  Writer w(flexible(3, version));
  if (version >= 3) w.i32(s.throttle_time_ms);
  w.array(s.brokers.size());
  for (const auto& b : s.brokers) {
    w.i32(b.node_id).string(b.host).i32(b.port);
    if (version >= 1) w.nullable_string(b.rack);
    w.tags();
  }
  if (version >= 2) w.nullable_string(s.cluster_id);
  if (version >= 1) w.i32(s.controller_id);
  w.array(s.topics.size());
  for (const auto& t : s.topics) {
    w.i16(t.error_code);
    if (version >= 12) {
      w.nullable_string(t.name);
    } else {
      w.string(t.name.value_or(""));
    }
    if (version >= 10) w.uuid(t.id);
    if (version >= 1) w.boolean(t.internal);
    w.array(t.partitions.size());
    for (const auto& p : t.partitions) {
      w.i16(p.error_code).i32(p.index).i32(p.leader);
      if (version >= 7) w.i32(p.leader_epoch);
      w.int32_array(p.replicas).int32_array(p.isr);
      if (version >= 5) w.int32_array(p.offline);
      w.tags();
    }
    if (version >= 8) w.i32(t.authorized_operations);
    w.tags();
  }
  if (version >= 8 && version <= 10) w.i32(std::numeric_limits<std::int32_t>::min());
  if (version >= 13) w.i16(s.error_code);
  w.tags();
  return w.str();
}

// ---- ApiVersions -----------------------------------------------------------------------------

inline std::string api_versions_request(std::int16_t version, std::string_view software_name,
                                        std::string_view software_version) {
  Writer w(flexible(18, version));
  if (version >= 3) w.string(software_name).string(software_version).tags();
  return w.str();
}
// (api_key, min, max) entries; error 35 UNSUPPORTED_VERSION is how a broker refuses a version.
inline std::string api_versions_response(std::int16_t version, std::int16_t error_code,
                                         const std::vector<std::tuple<std::int16_t, std::int16_t, std::int16_t>>& apis,
                                         std::int32_t throttle_time_ms = 0) {
  Writer w(flexible(18, version));
  w.i16(error_code).array(apis.size());
  for (const auto& [key, min, max] : apis) w.i16(key).i16(min).i16(max).tags();
  if (version >= 1) w.i32(throttle_time_ms);
  w.tags();
  return w.str();
}

// ---- consumer-group requests -----------------------------------------------------------------

inline std::string find_coordinator_request(std::int16_t version, std::string_view key, std::int8_t key_type = 0) {
  Writer w(flexible(10, version));
  if (version <= 3) {
    w.string(key);
    if (version >= 1) w.i8(key_type);
  } else {
    w.i8(key_type).array(1).string(key);
  }
  w.tags();
  return w.str();
}

inline std::string join_group_request(std::int16_t version, std::string_view group, std::string_view member_id = "") {
  Writer w(flexible(11, version));
  w.string(group).i32(45000);
  if (version >= 1) w.i32(300000);
  w.string(member_id);
  if (version >= 5) w.nullable_string(std::nullopt);
  w.string("consumer").array(1).string("range").bytes(std::string_view()).tags();
  if (version >= 8) w.nullable_string(std::nullopt);
  w.tags();
  return w.str();
}

inline std::string heartbeat_request(std::int16_t version, std::string_view group, std::int32_t generation = 1,
                                     std::string_view member_id = "member-1") {
  Writer w(flexible(12, version));
  w.string(group).i32(generation).string(member_id);
  if (version >= 3) w.nullable_string(std::nullopt);
  w.tags();
  return w.str();
}

inline std::string leave_group_request(std::int16_t version, std::string_view group,
                                       std::string_view member_id = "member-1") {
  Writer w(flexible(13, version));
  w.string(group);
  if (version <= 2) {
    w.string(member_id);
  } else {
    w.array(1).string(member_id).nullable_string(std::nullopt);
    if (version >= 5) w.nullable_string(std::nullopt);
    w.tags();
  }
  w.tags();
  return w.str();
}

inline std::string sync_group_request(std::int16_t version, std::string_view group, std::int32_t generation = 1,
                                      std::string_view member_id = "member-1") {
  Writer w(flexible(14, version));
  w.string(group).i32(generation).string(member_id);
  if (version >= 3) w.nullable_string(std::nullopt);
  if (version >= 5) w.nullable_string("consumer").nullable_string("range");
  w.array(0).tags();
  return w.str();
}

inline std::string offset_commit_request(std::int16_t version, std::string_view group, std::string_view topic,
                                         std::int32_t partition, std::int64_t offset) {
  Writer w(flexible(8, version));
  w.string(group);
  if (version >= 1) w.i32(-1).string("");
  if (version >= 7) w.nullable_string(std::nullopt);
  if (version >= 2 && version <= 4) w.i64(-1);
  w.array(1).string(topic).array(1).i32(partition).i64(offset);
  if (version >= 6) w.i32(-1);
  if (version == 1) w.i64(-1);
  w.nullable_string("").tags().tags().tags();
  return w.str();
}

inline std::string offset_fetch_request(std::int16_t version, std::string_view group, std::string_view topic,
                                        const std::vector<std::int32_t>& partitions) {
  Writer w(flexible(9, version));
  if (version <= 7) {
    w.string(group).array(1).string(topic).int32_array(partitions).tags();
    if (version >= 7) w.boolean(false);
  } else {
    w.array(1).string(group);
    if (version >= 9) w.nullable_string(std::nullopt).i32(-1);
    w.array(1).string(topic).int32_array(partitions).tags().tags();
    w.boolean(false);
  }
  w.tags();
  return w.str();
}

inline std::string consumer_group_heartbeat_request(std::int16_t version, std::string_view group,
                                                    std::string_view member_id = "", std::int32_t member_epoch = 0) {
  Writer w(true);
  w.string(group).string(member_id).i32(member_epoch);
  w.nullable_string(std::nullopt).nullable_string(std::nullopt).i32(300000);
  w.array(1).string("orders");
  if (version >= 1) w.nullable_string(std::nullopt);
  w.nullable_string(std::nullopt).null_array().tags();
  return w.str();
}

}  // namespace kafka_test
