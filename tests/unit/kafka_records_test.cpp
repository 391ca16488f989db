// Kafka RECORDS fields (decode_records) and the codecs behind them (compression.h): RecordBatch v2
// with keys and W3C headers, several batches, control batches, legacy message sets, every codec
// whole and cut short, varint edges, bounds, and the fuzz seeds (written by this file).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kafka_frames.h"
#include "protocols/kafka/compression.h"
#include "protocols/kafka/kafka_wire.h"

namespace zt::protocols::kafka {
namespace {

using kafka_test::as_bytes;
using kafka_test::BatchOptions;
using kafka_test::Record;
using kafka_test::SnappyFraming;

std::string traceparent(int i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "00-%032x-%016x-01", i + 1, i + 7);
  return buf;
}

// Records "key-<i>" with a value of `value_bytes` and a traceparent/tracestate for each.
std::vector<Record> numbered(int n, std::size_t value_bytes = 20, bool random_values = false) {
  std::mt19937 rng(7);
  std::vector<Record> out;
  for (int i = 0; i < n; ++i) {
    std::string value(value_bytes, static_cast<char>('a' + i % 26));
    if (random_values) {
      for (auto& c : value) c = static_cast<char>('!' + rng() % 90);
    }
    out.push_back(Record{"key-" + std::to_string(i), value,
                         {{"traceparent", traceparent(i)}, {"tracestate", "z=" + std::to_string(i)}, {"other", std::nullopt}}});
  }
  return out;
}

RecordSet decode(const std::string& bytes, const Limits& limits = {}) {
  return decode_records(as_bytes(bytes), bytes.size(), limits);
}
RecordSet decode_prefix(const std::string& bytes, std::size_t cut, const Limits& limits = {}) {
  return decode_records(as_bytes(std::string_view(bytes).substr(0, cut)), bytes.size(), limits);
}

// Every record found is the right one, in order from base_offset.
void expect_numbered(const RecordSet& rs, std::int64_t base_offset = 0) {
  for (std::size_t i = 0; i < rs.records.size(); ++i) {
    const RecordInfo& r = rs.records[i];
    EXPECT_EQ(r.offset, base_offset + static_cast<std::int64_t>(i));
    EXPECT_EQ(r.key, "key-" + std::to_string(i));
    if (r.headers_seen) {
      EXPECT_EQ(r.traceparent, traceparent(static_cast<int>(i)));
      EXPECT_EQ(r.tracestate, "z=" + std::to_string(i));
    }
  }
}

TEST(KafkaRecords, UncompressedBatch) {
  const std::vector<Record> recs = {
      Record{"k1", "hello", {{"traceparent", traceparent(1)}, {"tracestate", "a=b"}}},
      Record{std::nullopt, "no key", {}},
      Record{"deleted", std::nullopt, {{"x", "y"}}},  // tombstone
  };
  const std::string batch = kafka_test::record_batch(500, recs);
  const RecordSet rs = decode(batch);
  EXPECT_EQ(rs.declared_bytes, batch.size());
  EXPECT_EQ(rs.batches, 1u);
  EXPECT_EQ(rs.record_count, 3u);
  EXPECT_EQ(rs.first_offset, 500);
  EXPECT_EQ(rs.last_offset, 502);
  EXPECT_EQ(rs.codec, Codec::None);
  EXPECT_FALSE(rs.truncated || rs.malformed);
  ASSERT_EQ(rs.records.size(), 3u);
  EXPECT_EQ(rs.records[0].offset, 500);
  EXPECT_EQ(rs.records[0].key, "k1");
  EXPECT_EQ(rs.records[0].value_size, 5);
  EXPECT_EQ(rs.records[0].traceparent, traceparent(1));
  EXPECT_EQ(rs.records[0].tracestate, "a=b");
  EXPECT_TRUE(rs.records[0].headers_seen);
  EXPECT_FALSE(rs.records[1].key);
  EXPECT_EQ(rs.records[1].offset, 501);
  EXPECT_FALSE(rs.records[1].traceparent);
  EXPECT_EQ(rs.records[2].key, "deleted");
  EXPECT_EQ(rs.records[2].value_size, -1);
  EXPECT_TRUE(rs.records[2].headers_seen);
  EXPECT_FALSE(rs.records[2].traceparent);
}

TEST(KafkaRecords, BatchLayoutMatchesTheSpec) {
  const std::string batch = kafka_test::record_batch(9, {Record{"k", "v", {}}}, Codec::Gzip);
  EXPECT_EQ(static_cast<std::uint8_t>(batch[16]), 2);  // magic @16
  EXPECT_EQ(static_cast<std::uint8_t>(batch[22]) & 7, 1);  // attributes @21 (low byte @22): gzip
  const std::uint32_t length = (std::uint32_t{static_cast<std::uint8_t>(batch[8])} << 24) |
                               (std::uint32_t{static_cast<std::uint8_t>(batch[9])} << 16) |
                               (std::uint32_t{static_cast<std::uint8_t>(batch[10])} << 8) | static_cast<std::uint8_t>(batch[11]);
  EXPECT_EQ(length + 12, batch.size());
  EXPECT_EQ(kafka_test::crc32c("123456789"), 0xe3069283u);  // the CRC-32C check value
}

TEST(KafkaRecords, SeveralBatchesControlAndLegacy) {
  std::string field = kafka_test::record_batch(10, numbered(2));
  field += kafka_test::control_batch(12);
  field += kafka_test::record_batch(13, {Record{"key-x", "v", {}}});
  const RecordSet rs = decode(field);
  EXPECT_EQ(rs.batches, 3u);
  EXPECT_EQ(rs.control_batches, 1u);
  EXPECT_EQ(rs.record_count, 3u);  // the marker is not a user record
  EXPECT_EQ(rs.first_offset, 10);
  EXPECT_EQ(rs.last_offset, 13);
  ASSERT_EQ(rs.records.size(), 3u);
  EXPECT_EQ(rs.records[0].key, "key-0");
  EXPECT_EQ(rs.records[1].offset, 11);
  EXPECT_EQ(rs.records[2].offset, 13);
  EXPECT_EQ(rs.records[2].key, "key-x");

  std::string legacy = kafka_test::legacy_message(0, 0, "a", "v0");
  legacy += kafka_test::legacy_message(1, 1, std::nullopt, "v1");
  legacy += kafka_test::legacy_message(2, 1, "c", std::nullopt);
  const RecordSet old = decode(legacy);
  EXPECT_EQ(old.legacy_messages, 3u);
  EXPECT_EQ(old.batches, 0u);
  EXPECT_TRUE(old.records.empty());
  EXPECT_FALSE(old.truncated || old.malformed);
}

TEST(KafkaRecords, PartialTrailingBatchFromTheBrokerIsNotAnError) {
  // The broker filled max_bytes: the field ends inside a second batch, which the client drops.
  const std::string first = kafka_test::record_batch(0, numbered(2));
  const std::string second = kafka_test::record_batch(2, numbered(2));
  const std::string field = first + second.substr(0, 40);
  const RecordSet rs = decode(field);
  EXPECT_FALSE(rs.truncated || rs.malformed);
  EXPECT_EQ(rs.batches, 1u);
  EXPECT_EQ(rs.records.size(), 2u);
}

TEST(KafkaRecords, ContradictionsAreMalformed) {
  std::string bad_magic = kafka_test::record_batch(0, numbered(1));
  bad_magic[16] = 5;
  EXPECT_TRUE(decode(bad_magic).malformed);
  std::string short_length = kafka_test::record_batch(0, numbered(1));
  short_length[8] = short_length[9] = short_length[10] = 0;
  short_length[11] = 20;
  EXPECT_TRUE(decode(short_length).malformed);
  std::string bad_codec = kafka_test::record_batch(0, numbered(1));
  bad_codec[22] = 6;
  EXPECT_TRUE(decode(bad_codec).malformed);
  // A record whose key length runs past its own record length.
  kafka_test::Writer rec;
  rec.i8(0).varint(0).varint(0).varint(100).raw("abc");
  kafka_test::Writer w;
  w.varint(static_cast<std::int64_t>(rec.size())).raw(rec.str());
  std::string batch = kafka_test::record_batch(0, {Record{"k", "v", {}}});
  batch = batch.substr(0, 61) + w.str();
  const std::int32_t len = static_cast<std::int32_t>(batch.size() - 12);
  batch[8] = static_cast<char>(len >> 24);
  batch[9] = static_cast<char>(len >> 16);
  batch[10] = static_cast<char>(len >> 8);
  batch[11] = static_cast<char>(len);
  const RecordSet rs = decode(batch);
  EXPECT_TRUE(rs.malformed);
  EXPECT_TRUE(rs.records.empty());
}

TEST(KafkaRecords, VarintEdgesInKeys) {
  Limits limits;
  limits.max_string = 20000;
  // zig-zag lengths: 63 and 64 (one and two bytes), 8191 and 8192 (two and three).
  for (std::size_t n : {0u, 1u, 63u, 64u, 127u, 128u, 8191u, 8192u, 16384u}) {
    const std::string key(n, 'k');
    const RecordSet rs = decode(kafka_test::record_batch(1LL << 40, {Record{key, std::string(n, 'v'), {{"traceparent", traceparent(0)}}}}), limits);
    ASSERT_EQ(rs.records.size(), 1u) << n;
    EXPECT_EQ(rs.records[0].key, key) << n;
    EXPECT_EQ(rs.records[0].value_size, static_cast<std::int64_t>(n));
    EXPECT_EQ(rs.records[0].offset, 1LL << 40);
    EXPECT_EQ(rs.records[0].traceparent, traceparent(0));
  }
}

TEST(KafkaRecords, LimitsBoundRecordsBatchesStrings) {
  Limits limits;
  limits.max_records = 5;
  limits.max_batches = 2;
  limits.max_string = 3;
  std::string field;
  for (int b = 0; b < 4; ++b) field += kafka_test::record_batch(b * 2, numbered(2));
  const RecordSet rs = decode(field, limits);
  EXPECT_EQ(rs.batches, 4u);
  EXPECT_EQ(rs.record_count, 8u);
  EXPECT_EQ(rs.last_offset, 7);
  ASSERT_EQ(rs.records.size(), 4u);  // two batches decoded
  EXPECT_EQ(rs.records[0].key, "key");
  EXPECT_TRUE(rs.records[0].key_truncated);
  EXPECT_EQ(rs.records[0].traceparent, traceparent(0).substr(0, 3));

  limits.max_batches = 32;
  EXPECT_EQ(decode(field, limits).records.size(), 5u);
}

// Every prefix of an uncompressed field: the records found are the first ones, whole and right.
TEST(KafkaRecords, EveryCutOfAnUncompressedField) {
  const std::string field = kafka_test::record_batch(0, numbered(4)) + kafka_test::record_batch(4, numbered(1));
  std::size_t last_count = 0;
  for (std::size_t cut = 0; cut <= field.size(); ++cut) {
    const RecordSet rs = decode_prefix(field, cut);
    EXPECT_EQ(rs.truncated, cut < field.size());
    EXPECT_FALSE(rs.malformed) << cut;
    EXPECT_GE(rs.records.size(), last_count) << cut;
    last_count = rs.records.size();
    for (std::size_t i = 0; i < rs.records.size(); ++i) {
      EXPECT_EQ(rs.records[i].offset, static_cast<std::int64_t>(i)) << cut;
      EXPECT_EQ(rs.records[i].key, "key-" + std::to_string(i % 4 == i ? i : 0)) << cut;
    }
  }
  EXPECT_EQ(last_count, 5u);
}

struct CodecCase {
  Codec codec;
  SnappyFraming snappy;
  const char* name;
};
const CodecCase kCodecs[] = {{Codec::Gzip, SnappyFraming::Raw, "gzip"},
                             {Codec::Snappy, SnappyFraming::Raw, "snappy-raw"},
                             {Codec::Snappy, SnappyFraming::Xerial, "snappy-xerial"},
                             {Codec::Lz4, SnappyFraming::Raw, "lz4"},
                             {Codec::Zstd, SnappyFraming::Raw, "zstd"}};

TEST(KafkaRecords, EveryCodecWhole) {
  for (const auto& c : kCodecs) {
    BatchOptions options;
    options.codec = c.codec;
    options.snappy = c.snappy;
    const std::string batch = kafka_test::record_batch(1000, numbered(10, 200), options);
    const RecordSet rs = decode(batch);
    EXPECT_EQ(rs.codec, c.codec) << c.name;
    EXPECT_EQ(rs.record_count, 10u) << c.name;
    EXPECT_EQ(rs.decompress_failures, 0u) << c.name;
    EXPECT_FALSE(rs.truncated || rs.malformed) << c.name;
    ASSERT_EQ(rs.records.size(), 10u) << c.name;
    expect_numbered(rs, 1000);
    EXPECT_TRUE(rs.records[9].headers_seen) << c.name;
    EXPECT_EQ(rs.records[9].traceparent, traceparent(9)) << c.name;
  }
}

// A batch cut short still yields the records that decompressed whole. Block codecs (lz4, zstd,
// snappy-xerial) give output a block at a time, so the batches here span several blocks.
TEST(KafkaRecords, EveryCodecCutShort) {
  for (const auto& c : kCodecs) {
    BatchOptions options;
    options.codec = c.codec;
    options.snappy = c.snappy;
    // ~300 KiB of barely compressible values: several lz4 (64 KiB), zstd (128 KiB) and xerial
    // (32 KiB) blocks.
    const std::string batch = kafka_test::record_batch(0, numbered(600, 500, true), options);
    Limits limits;
    limits.max_records = 1000;
    limits.max_decompressed = 256 * 1024;
    std::size_t found_at_60 = 0;
    for (int percent : {5, 20, 35, 60, 90}) {
      const std::size_t cut = batch.size() * static_cast<std::size_t>(percent) / 100;
      const RecordSet rs = decode_prefix(batch, cut, limits);
      EXPECT_TRUE(rs.truncated) << c.name << " " << percent;
      EXPECT_FALSE(rs.malformed) << c.name << " " << percent;
      EXPECT_EQ(rs.decompress_failures, 0u) << c.name << " " << percent;
      EXPECT_EQ(rs.record_count, 600u) << c.name;  // the header is not compressed
      expect_numbered(rs);
      if (percent == 60) found_at_60 = rs.records.size();
    }
    EXPECT_GT(found_at_60, 50u) << c.name;
  }
  // Stream codecs decode inside a block: a small cut of a small batch already yields records.
  for (const auto& c : {kCodecs[0], kCodecs[1]}) {
    BatchOptions options;
    options.codec = c.codec;
    const std::string batch = kafka_test::record_batch(0, numbered(40, 100, true), options);
    const RecordSet rs = decode_prefix(batch, 61 + (batch.size() - 61) / 2);
    EXPECT_GT(rs.records.size(), 5u) << c.name;
    expect_numbered(rs);
  }
}

TEST(KafkaRecords, DecompressedOutputIsBounded) {
  Limits limits;
  limits.max_decompressed = 4096;
  limits.max_records = 1000;
  for (const auto& c : kCodecs) {
    BatchOptions options;
    options.codec = c.codec;
    options.snappy = c.snappy;
    const RecordSet rs = decode(kafka_test::record_batch(0, numbered(200, 100), options), limits);
    EXPECT_FALSE(rs.malformed) << c.name;
    EXPECT_LT(rs.records.size(), 200u) << c.name;
    expect_numbered(rs);
  }
}

TEST(KafkaRecords, CorruptStreamsAreCounted) {
  for (const auto& c : kCodecs) {
    BatchOptions options;
    options.codec = c.codec;
    options.snappy = c.snappy;
    std::string batch = kafka_test::record_batch(0, numbered(5), options);
    for (std::size_t i = 61; i < batch.size(); ++i) batch[i] = static_cast<char>(0xff ^ (i * 31));
    // Snappy has no magic to fail: a copy reaching before the block's start is the contradiction.
    std::string snappy("\x0a\x01\x05", 3);
    if (c.snappy == SnappyFraming::Xerial) snappy = std::string("\x82SNAPPY\0\0\0\0\1\0\0\0\1\0\0\0\3", 20) + snappy;
    if (c.codec == Codec::Snappy) batch.replace(61, snappy.size(), snappy);
    const RecordSet rs = decode(batch);
    EXPECT_EQ(rs.decompress_failures, 1u) << c.name;
    EXPECT_EQ(rs.record_count, 5u) << c.name;
  }
}

// Every prefix of each codec's stream decompresses to a prefix of the original, never "corrupt".
TEST(KafkaCompression, EveryPrefixDecodesToAPrefix) {
  std::string original;
  for (int i = 0; i < 300; ++i) original += "record " + std::to_string(i * 7919 % 1000) + " abcabcabc ";
  for (const auto& c : kCodecs) {
    const std::string compressed = kafka_test::compress(c.codec, original, c.snappy, 1024);
    std::size_t best = 0;
    for (std::size_t cut = 0; cut <= compressed.size(); ++cut) {
      bool corrupt = false;
      const std::string out = decompress_prefix(c.codec, as_bytes(std::string_view(compressed).substr(0, cut)), 1 << 20, corrupt);
      ASSERT_FALSE(corrupt) << c.name << " cut " << cut;
      ASSERT_EQ(out, original.substr(0, out.size())) << c.name << " cut " << cut;
      best = std::max(best, out.size());
    }
    EXPECT_EQ(best, original.size()) << c.name;
  }
}

TEST(KafkaCompression, SnappyPrefixDecoder) {
  // Overlapping copies (a run) and every literal length encoding.
  const std::string original = std::string(1000, 'a') + std::string(70, 'b') + std::string(300, 'c') + "xyz";
  const std::string block = kafka_test::snappy_raw(original);
  std::string out;
  ASSERT_TRUE(snappy_raw_prefix(as_bytes(block), 1 << 20, out));
  EXPECT_EQ(out, original);
  out.clear();
  ASSERT_TRUE(snappy_raw_prefix(as_bytes(block), 10, out));
  EXPECT_EQ(out, std::string(10, 'a'));
  // Hand-made: literal "ab", copy-1 length 4 offset 2 -> "ababab"; then a copy reaching before the
  // start is corrupt.
  const std::string ok("\x06\x04" "ab" "\x01\x02", 6);
  out.clear();
  ASSERT_TRUE(snappy_raw_prefix(as_bytes(ok), 100, out));
  EXPECT_EQ(out, "ababab");
  const std::string bad("\x06\x04" "ab" "\x01\x09", 6);
  out.clear();
  EXPECT_FALSE(snappy_raw_prefix(as_bytes(bad), 100, out));
  // Longer than its declared length.
  const std::string over("\x02\x08" "abc", 5);
  out.clear();
  EXPECT_FALSE(snappy_raw_prefix(as_bytes(over), 100, out));
  // Six-byte length varint.
  out.clear();
  EXPECT_FALSE(snappy_raw_prefix(as_bytes(std::string("\x80\x80\x80\x80\x80\x01", 6)), 100, out));
  bool corrupt = false;
  EXPECT_EQ(decompress_prefix(Codec::None, as_bytes(std::string("abcdef")), 3, corrupt), "abc");
  EXPECT_FALSE(corrupt);
}

// ---- fuzz seeds ------------------------------------------------------------------------------

// The seeds of tests/fuzz/kafka_fuzz.cpp: [mode][b1][b2] then a payload (layout in kafka_fuzz.cpp).
std::map<std::string, std::string> fuzz_seeds() {
  using namespace kafka_test;
  auto seed = [](int mode, int b1, int b2, const std::string& payload) {
    return std::string{static_cast<char>(mode), static_cast<char>(b1), static_cast<char>(b2)} + payload;
  };
  const std::string batch = record_batch(0, numbered(3));
  BatchOptions gz;
  gz.codec = Codec::Gzip;
  std::map<std::string, std::string> seeds;
  seeds["request_produce_v9"] = seed(11, 0, 0, request_frame(0, 9, 1, "rdkafka", produce_request(9, std::nullopt, -1, 1500, {{"orders", {}, {{0, batch}}}})).substr(4));
  seeds["request_fetch_v16"] = seed(11, 0, 0, request_frame(1, 16, 2, "rdkafka", fetch_request(16, {-1, 500, 1, 1 << 20, 0, 0, -1, {{"", topic_id(1), {{0, 5}}}}, {}, ""})).substr(4));
  seeds["request_api_versions_v3"] = seed(11, 0, 0, request_frame(18, 3, 0, "rdkafka", api_versions_request(3, "librdkafka", "2.15.1")).substr(4));
  seeds["request_offset_fetch_v8"] = seed(11, 0, 0, request_frame(9, 8, 3, "java", offset_fetch_request(8, "g1", "orders", {0})).substr(4));
  seeds["produce_request_v7"] = seed(2, 8, 0, produce_request(7, std::nullopt, 1, 1500, {{"orders", {}, {{0, record_batch(0, numbered(2), gz)}}}}));
  seeds["produce_response_v10"] = seed(3, 11, 0, produce_response(10, {{"orders", {}, {{0, 0, 5}}}}));
  FetchResponseSpec fr;
  FetchPartitionResponse p;
  p.records = batch + control_batch(3);
  p.aborted = std::vector<AbortedTransaction>{{1, 2}};
  fr.topics = {{"orders", topic_id(1), {p}}};
  seeds["fetch_response_v11"] = seed(5, 12, 0, fetch_response(11, fr));
  seeds["fetch_response_v16"] = seed(5, 17, 1, fetch_response(16, fr));
  MetadataResponseSpec md;
  md.brokers = {{1, "kafka-1", 9092, "r"}};
  md.cluster_id = "cluster";
  md.topics = {{0, "orders", topic_id(1), false, {{0, 0, 1, 0, {1}, {1}, {}}}}};
  seeds["metadata_response_v12"] = seed(6, 13, 0, metadata_response(12, md));
  seeds["group_join_v6"] = seed(8, 7, 1, join_group_request(6, "g1"));
  BatchOptions zs;
  zs.codec = Codec::Zstd;
  BatchOptions sx;
  sx.codec = Codec::Snappy;
  sx.snappy = SnappyFraming::Xerial;
  seeds["records_zstd_snappy"] = seed(9, 0, 0, record_batch(0, numbered(3), zs) + record_batch(3, numbered(3), sx));
  seeds["records_legacy"] = seed(9, 0, 0, legacy_message(0, 1, "k", "v"));
  seeds["decompress_lz4"] = seed(10, 3, 0, compress(Codec::Lz4, encode_records(numbered(3))));
  return seeds;
}

// The committed seeds are what this builder makes: ZT_WRITE_KAFKA_SEEDS=1 rewrites them.
TEST(KafkaFrames, FuzzSeedsAreCurrent) {
  const std::string dir = std::string(ZT_FIXTURES_DIR) + "/../fuzz/corpus/kafka";
  for (const auto& [name, bytes] : fuzz_seeds()) {
    const std::string path = dir + "/" + name;
    if (std::getenv("ZT_WRITE_KAFKA_SEEDS") != nullptr) {
      std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    std::ifstream in(path, std::ios::binary);
    const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(file.size(), bytes.size()) << path << " is stale: rerun with ZT_WRITE_KAFKA_SEEDS=1";
  }
}

}  // namespace
}  // namespace zt::protocols::kafka
