// Kafka wire decoders (protocols/kafka/kafka_wire.h) on frames built by kafka_frames.h: the API
// table, headers, every body decoder at each version where the layout changes, truncation at every
// byte, hostile counts and lengths.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kafka_frames.h"
#include "protocols/framing/binary_reader.h"
#include "protocols/kafka/kafka_wire.h"

namespace zt::protocols::kafka {
namespace {

using kafka_test::as_bytes;
using kafka_test::Record;
using kafka_test::Writer;

const std::string kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

std::span<const std::uint8_t> bytes_of(const std::string& s) { return as_bytes(s); }

// BinaryReader::ran_out, which the decoders use to tell a cut from a contradiction.
TEST(KafkaWire, BinaryReaderTellsRunningOutFromRejecting) {
  const std::string two("\x01\x02", 2);
  BinaryReader a(two);
  a.u32();
  EXPECT_FALSE(a.ok());
  EXPECT_TRUE(a.ran_out());
  BinaryReader b(two);
  b.bytes(3);
  EXPECT_TRUE(b.ran_out());
  const std::string long_varint("\x80\x80\x80\x80\x80\x01", 6);
  BinaryReader c(long_varint);
  c.uvarint(5);
  EXPECT_FALSE(c.ok());
  EXPECT_FALSE(c.ran_out());
  BinaryReader d(two);
  d.fail();
  d.u32();  // reads after a rejection do not turn it into a cut
  EXPECT_FALSE(d.ran_out());
}

// ---- table, names ----------------------------------------------------------------------------

TEST(KafkaApiTable, KnownKeysVersionsAndFlexibleThresholds) {
  ASSERT_NE(api_info(kProduce), nullptr);
  EXPECT_EQ(api_info(kProduce)->name, "Produce");
  EXPECT_EQ(api_info(kProduce)->max_version, 13);
  EXPECT_EQ(api_info(kFetch)->max_version, 18);
  EXPECT_EQ(api_info(kMetadata)->max_version, 13);
  EXPECT_EQ(api_info(kApiVersions)->max_version, 4);
  EXPECT_EQ(api_info(kDescribeTopicPartitions)->name, "DescribeTopicPartitions");
  EXPECT_EQ(api_info(kConsumerGroupHeartbeat)->max_version, 1);
  for (std::int16_t key = 0; key <= 75; ++key) {
    const ApiInfo* info = api_info(key);
    ASSERT_NE(info, nullptr) << key;
    EXPECT_EQ(info->key, key);
    EXPECT_FALSE(info->name.empty());
    EXPECT_LE(info->min_version, info->max_version);
  }
  EXPECT_EQ(api_info(-1), nullptr);
  EXPECT_EQ(api_info(76), nullptr);
  EXPECT_EQ(api_info(1000), nullptr);

  struct Threshold {
    std::int16_t key;
    std::int16_t first_flexible;
  };
  for (const auto& [key, first] : std::vector<Threshold>{{kProduce, 9}, {kFetch, 12}, {kListOffsets, 6},
                                                         {kMetadata, 9}, {kOffsetCommit, 8}, {kOffsetFetch, 6},
                                                         {kFindCoordinator, 3}, {kJoinGroup, 6}, {kHeartbeat, 4},
                                                         {kLeaveGroup, 4}, {kSyncGroup, 4}, {kApiVersions, 3},
                                                         {kInitProducerId, 2}, {kSaslAuthenticate, 2},
                                                         {kCreateTopics, 5}}) {
    EXPECT_FALSE(is_flexible(key, static_cast<std::int16_t>(first - 1))) << key;
    EXPECT_TRUE(is_flexible(key, first)) << key;
    EXPECT_EQ(request_header_version(key, static_cast<std::int16_t>(first - 1)), 1) << key;
    EXPECT_EQ(request_header_version(key, first), 2) << key;
    if (key != kApiVersions) {
      EXPECT_EQ(response_header_version(key, static_cast<std::int16_t>(first - 1)), 0) << key;
      EXPECT_EQ(response_header_version(key, first), 1) << key;
    }
  }
  EXPECT_FALSE(is_flexible(kSaslHandshake, 1));
  EXPECT_TRUE(is_flexible(kConsumerGroupHeartbeat, 0));
  EXPECT_TRUE(is_flexible(kGetTelemetrySubscriptions, 0));
  EXPECT_EQ(response_header_version(kApiVersions, 3), 0);  // always v0, even flexible
  EXPECT_EQ(response_header_version(kApiVersions, 4), 0);
  EXPECT_EQ(request_header_version(7, 0), 0);  // ControlledShutdown v0
}

TEST(KafkaErrors, NamesFromTheProtocol) {
  EXPECT_EQ(error_name(0), "");
  EXPECT_EQ(error_name(-1), "UNKNOWN_SERVER_ERROR");
  EXPECT_EQ(error_name(1), "OFFSET_OUT_OF_RANGE");
  EXPECT_EQ(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
  EXPECT_EQ(error_name(6), "NOT_LEADER_OR_FOLLOWER");
  EXPECT_EQ(error_name(7), "REQUEST_TIMED_OUT");
  EXPECT_EQ(error_name(19), "NOT_ENOUGH_REPLICAS");
  EXPECT_EQ(error_name(25), "UNKNOWN_MEMBER_ID");
  EXPECT_EQ(error_name(27), "REBALANCE_IN_PROGRESS");
  EXPECT_EQ(error_name(35), "UNSUPPORTED_VERSION");
  EXPECT_EQ(error_name(56), "KAFKA_STORAGE_ERROR");
  EXPECT_EQ(error_name(100), "UNKNOWN_TOPIC_ID");
  EXPECT_EQ(error_name(110), "FENCED_MEMBER_EPOCH");
  EXPECT_EQ(error_name(120), "TRANSACTION_ABORTABLE");
  EXPECT_EQ(error_name(30000), "KAFKA_ERROR_30000");
  EXPECT_EQ(error_name(-7), "KAFKA_ERROR_-7");
}

TEST(KafkaTopicId, PrintsAsKafkaToolsDo) {
  TopicId id{};
  EXPECT_TRUE(is_zero(id));
  EXPECT_EQ(to_string(id), "00000000-0000-0000-0000-000000000000");
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(0xa0 + i);
  EXPECT_FALSE(is_zero(id));
  EXPECT_EQ(to_string(id), "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
  EXPECT_EQ(to_string(Codec::Zstd), "zstd");
  EXPECT_EQ(to_string(Codec::Snappy), "snappy");
}

// ---- headers ---------------------------------------------------------------------------------

TEST(KafkaHeaders, RequestHeaderV1) {
  const std::string h = kafka_test::request_header(kProduce, 7, 42, "rdkafka");
  const auto parsed = parse_request_header(bytes_of(h + "body"));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->api_key, kProduce);
  EXPECT_EQ(parsed->api_version, 7);
  EXPECT_EQ(parsed->correlation_id, 42);
  EXPECT_EQ(parsed->client_id, "rdkafka");
  EXPECT_EQ(parsed->length, h.size());
  EXPECT_EQ(parsed->length, 8u + 2 + 7);
}

TEST(KafkaHeaders, RequestHeaderV2KeepsAnInt16ClientIdThenTags) {
  // As librdkafka writes it: 00 07 "rdkafka" 00.
  const std::string h = kafka_test::request_header(kFetch, 16, 7, "rdkafka");
  EXPECT_EQ(h.substr(8), std::string("\x00\x07rdkafka\x00", 10));
  auto parsed = parse_request_header(bytes_of(h));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->client_id, "rdkafka");
  EXPECT_EQ(parsed->length, h.size());

  // A tag buffer with one field (tag 3, 200 bytes: a two-byte size varint).
  Writer w(true);
  w.i16(kApiVersions).i16(3).i32(1).classic_string("cli").tags({{3, std::string(200, 'x')}});
  parsed = parse_request_header(bytes_of(w.str() + "rest"));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->length, w.size());

  // Null client id.
  parsed = parse_request_header(bytes_of(kafka_test::request_header(kMetadata, 12, 9, std::nullopt)));
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(parsed->client_id);
  EXPECT_EQ(parsed->length, 8u + 2 + 1);
}

TEST(KafkaHeaders, RequestHeaderV0) {
  const std::string h = Writer().i16(7).i16(0).i32(5).str();  // ControlledShutdown v0: no client id
  const auto parsed = parse_request_header(bytes_of(h));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->length, 8u);
  EXPECT_FALSE(parsed->client_id);
}

TEST(KafkaHeaders, ImplausibleRequestHeadersAreRejected) {
  auto header = [](std::int16_t key, std::int16_t version, std::int32_t corr, std::string_view client) {
    return Writer().i16(key).i16(version).i32(corr).classic_string(client).str();
  };
  EXPECT_TRUE(parse_request_header(bytes_of(header(kProduce, 13, 0, "ok") + std::string(1, '\0'))));
  EXPECT_FALSE(parse_request_header(bytes_of(header(kProduce, 13, 0, "ok"))));  // v2: tag buffer missing
  EXPECT_FALSE(parse_request_header(bytes_of(header(kProduce, 14, 0, "ok"))));  // version past the range
  EXPECT_FALSE(parse_request_header(bytes_of(header(kProduce, -1, 0, "ok"))));
  EXPECT_FALSE(parse_request_header(bytes_of(header(76, 0, 0, "ok"))));          // unknown key
  EXPECT_FALSE(parse_request_header(bytes_of(header(-3, 0, 0, "ok"))));
  EXPECT_FALSE(parse_request_header(bytes_of(header(kProduce, 7, -1, "ok"))));   // negative correlation id
  EXPECT_FALSE(parse_request_header(bytes_of(header(kProduce, 7, 1, std::string("a\x01", 2)))));
  EXPECT_FALSE(parse_request_header(bytes_of(header(kProduce, 7, 1, std::string(256, 'a')))));
  EXPECT_TRUE(parse_request_header(bytes_of(header(kProduce, 7, 1, std::string(255, 'a')))));
  EXPECT_FALSE(parse_request_header(bytes_of(Writer().i16(kProduce).i16(7).i32(1).i16(-2).str())));
  // Every proper prefix is too short.
  const std::string full = kafka_test::request_header(kFetch, 16, 7, "rdkafka");
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    EXPECT_FALSE(parse_request_header(as_bytes(std::string_view(full).substr(0, cut)))) << cut;
  }
}

TEST(KafkaHeaders, ResponseHeaders) {
  const std::string v0 = Writer().i32(77).str();
  auto parsed = parse_response_header(bytes_of(v0 + "body"), 0);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->correlation_id, 77);
  EXPECT_EQ(parsed->length, 4u);

  Writer v1(true);
  v1.i32(78).tags({{0, "abc"}});
  parsed = parse_response_header(bytes_of(v1.str() + "body"), 1);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->correlation_id, 78);
  EXPECT_EQ(parsed->length, v1.size());

  // An ApiVersions v3 answer: header v0, its first body byte would be taken for a tag count in v1.
  const std::string frame = kafka_test::response_frame(response_header_version(kApiVersions, 3), 5,
                                                       kafka_test::api_versions_response(3, 0, {{0, 0, 11}}));
  parsed = parse_response_header(as_bytes(std::string_view(frame).substr(4)), response_header_version(kApiVersions, 3));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->length, 4u);

  EXPECT_FALSE(parse_response_header(bytes_of(std::string("\x00\x00\x00", 3)), 0));
  EXPECT_FALSE(parse_response_header(bytes_of(Writer().i32(1).str()), 1));  // tag buffer missing
}

// ---- Produce ---------------------------------------------------------------------------------

std::string sample_batch(std::int64_t base) {
  return kafka_test::record_batch(base, {Record{"order-1", "v1", {{"traceparent", kTraceparent}}},
                                         Record{"order-2", "v2", {}}});
}

class KafkaProduceVersions : public ::testing::TestWithParam<int> {};

TEST_P(KafkaProduceVersions, RequestTopicsPartitionsRecords) {
  const auto v = static_cast<std::int16_t>(GetParam());
  kafka_test::ProduceTopic t{"orders", kafka_test::topic_id(1), {{0, sample_batch(0)}, {2, std::nullopt}}};
  kafka_test::ProduceTopic u{"payments", kafka_test::topic_id(2), {{1, sample_batch(100)}}};
  const std::string body = kafka_test::produce_request(v, "txn-1", -1, 30000, {t, u});
  const ProduceRequest r = decode_produce_request(bytes_of(body), v, Limits{});
  EXPECT_FALSE(r.truncated);
  EXPECT_FALSE(r.malformed);
  EXPECT_EQ(r.transactional_id, v >= 3 ? std::optional<std::string>("txn-1") : std::nullopt);
  EXPECT_EQ(r.acks, -1);
  EXPECT_EQ(r.timeout_ms, 30000);
  ASSERT_EQ(r.topics.size(), 2u);
  if (v >= 13) {
    EXPECT_EQ(r.topics[0].name, "");
    EXPECT_EQ(r.topics[0].topic_id, kafka_test::topic_id(1));
    EXPECT_EQ(r.topics[1].topic_id, kafka_test::topic_id(2));
  } else {
    EXPECT_EQ(r.topics[0].name, "orders");
    EXPECT_TRUE(is_zero(r.topics[0].topic_id));
    EXPECT_EQ(r.topics[1].name, "payments");
  }
  ASSERT_EQ(r.topics[0].partitions.size(), 2u);
  const PartitionData& p = r.topics[0].partitions[0];
  EXPECT_EQ(p.index, 0);
  EXPECT_EQ(p.records.batches, 1u);
  EXPECT_EQ(p.records.record_count, 2u);
  ASSERT_EQ(p.records.records.size(), 2u);
  EXPECT_EQ(p.records.records[0].key, "order-1");
  EXPECT_EQ(p.records.records[0].traceparent, kTraceparent);
  EXPECT_EQ(p.records.records[1].key, "order-2");
  EXPECT_FALSE(p.records.records[1].traceparent);
  EXPECT_EQ(r.topics[0].partitions[1].index, 2);
  EXPECT_EQ(r.topics[0].partitions[1].records.batches, 0u);  // null records
  ASSERT_EQ(r.topics[1].partitions.size(), 1u);
  EXPECT_EQ(r.topics[1].partitions[0].records.first_offset, 100);
  EXPECT_EQ(r.topics[1].partitions[0].records.last_offset, 101);
}

TEST_P(KafkaProduceVersions, Response) {
  const auto v = static_cast<std::int16_t>(GetParam());
  kafka_test::ProducePartitionResult ok{0, 0, 1234, 1700000000000, 17, {}, std::nullopt};
  kafka_test::ProducePartitionResult bad{3, 6, -1, -1, -1, {{0, "bad batch"}}, "not leader"};
  const std::string body = kafka_test::produce_response(
      v, {{"orders", kafka_test::topic_id(1), {ok, bad}}, {"payments", kafka_test::topic_id(2), {ok}}}, 15);
  const ProduceResponse r = decode_produce_response(bytes_of(body), v, Limits{});
  EXPECT_FALSE(r.truncated);
  EXPECT_FALSE(r.malformed);
  ASSERT_EQ(r.topics.size(), 2u);
  EXPECT_EQ(r.topics[0].name, v >= 13 ? "" : "orders");
  EXPECT_EQ(r.topics[0].topic_id, v >= 13 ? kafka_test::topic_id(1) : TopicId{});
  ASSERT_EQ(r.topics[0].partitions.size(), 2u);
  EXPECT_EQ(r.topics[0].partitions[0].offset, 1234);
  EXPECT_EQ(r.topics[0].partitions[0].error_code, 0);
  EXPECT_EQ(r.topics[0].partitions[1].index, 3);
  EXPECT_EQ(r.topics[0].partitions[1].error_code, 6);
  EXPECT_EQ(error_name(r.topics[0].partitions[1].error_code), "NOT_LEADER_OR_FOLLOWER");
  EXPECT_EQ(r.throttle_time_ms, v >= 1 ? 15 : 0);
}

// v3: transactional id; v7: last classic; v8: record errors; v9: flexible; v12: last by name; v13: ids.
INSTANTIATE_TEST_SUITE_P(Boundaries, KafkaProduceVersions, ::testing::Values(0, 2, 3, 5, 7, 8, 9, 10, 12, 13));

TEST(KafkaProduce, AcksZeroAndEmptyTopics) {
  const std::string body = kafka_test::produce_request(7, std::nullopt, 0, 1000, {});
  const ProduceRequest r = decode_produce_request(bytes_of(body), 7, Limits{});
  EXPECT_FALSE(r.truncated || r.malformed);
  EXPECT_EQ(r.acks, 0);
  EXPECT_FALSE(r.transactional_id);
  EXPECT_TRUE(r.topics.empty());
}

TEST(KafkaProduce, FlexibleTaggedFieldsAreSkipped) {
  // Produce v10 response with a current_leader tagged field in a partition and a top-level one.
  Writer w(true);
  w.array(1).string("orders").array(1).i32(0).i16(0).i64(55).i64(-1).i64(0).array(0).nullable_string(std::nullopt);
  w.tags({{0, Writer().i32(1).i32(5).str() + std::string(1, '\0')}});  // current_leader
  w.tags().i32(0).tags({{0, std::string(300, 'n')}});                   // node_endpoints
  const ProduceResponse r = decode_produce_response(bytes_of(w.str()), 10, Limits{});
  EXPECT_FALSE(r.truncated || r.malformed);
  ASSERT_EQ(r.topics.size(), 1u);
  EXPECT_EQ(r.topics[0].partitions.at(0).offset, 55);
}

// ---- Fetch -----------------------------------------------------------------------------------

class KafkaFetchVersions : public ::testing::TestWithParam<int> {};

TEST_P(KafkaFetchVersions, Request) {
  const auto v = static_cast<std::int16_t>(GetParam());
  kafka_test::FetchRequestSpec s;
  s.max_wait_ms = 500;
  s.min_bytes = 1;
  s.session_id = 12345;
  s.session_epoch = 3;
  s.topics = {{"orders", kafka_test::topic_id(1), {{0, 41}, {1, 7}}}, {"payments", kafka_test::topic_id(2), {{5, 900}}}};
  s.forgotten = {{"old", kafka_test::topic_id(3), {{0}, {1}}}};
  s.rack_id = "rack-a";
  const FetchRequest r = decode_fetch_request(bytes_of(kafka_test::fetch_request(v, s)), v, Limits{});
  EXPECT_FALSE(r.truncated);
  EXPECT_FALSE(r.malformed);
  EXPECT_EQ(r.max_wait_ms, 500);
  EXPECT_EQ(r.min_bytes, 1);
  EXPECT_EQ(r.session_id, v >= 7 ? 12345 : 0);
  EXPECT_EQ(r.session_epoch, v >= 7 ? 3 : -1);
  ASSERT_EQ(r.topics.size(), 2u);
  if (v >= 13) {
    EXPECT_EQ(r.topics[0].topic_id, kafka_test::topic_id(1));
    EXPECT_EQ(r.topics[0].name, "");
  } else {
    EXPECT_EQ(r.topics[0].name, "orders");
  }
  ASSERT_EQ(r.topics[0].partitions.size(), 2u);
  EXPECT_EQ(r.topics[0].partitions[0].offset, 41);
  EXPECT_EQ(r.topics[0].partitions[1].index, 1);
  EXPECT_EQ(r.topics[0].partitions[1].offset, 7);
  EXPECT_EQ(r.topics[1].partitions.at(0).index, 5);
  EXPECT_EQ(r.topics[1].partitions.at(0).offset, 900);
}

TEST_P(KafkaFetchVersions, ResponseWithRecords) {
  const auto v = static_cast<std::int16_t>(GetParam());
  kafka_test::FetchResponseSpec s;
  s.throttle_time_ms = 3;
  s.error_code = 0;
  s.session_id = 777;
  kafka_test::FetchPartitionResponse p0;
  p0.index = 0;
  p0.high_watermark = 102;
  p0.last_stable_offset = 102;
  p0.log_start_offset = 0;
  p0.aborted = std::vector<kafka_test::AbortedTransaction>{{4000, 10}, {4001, 20}};
  p0.preferred_read_replica = 2;
  p0.records = sample_batch(100);
  if (v >= 12) p0.tagged = {{0, std::string(12, '\0')}};  // diverging_epoch
  kafka_test::FetchPartitionResponse p1;
  p1.index = 1;
  p1.error_code = 1;
  p1.high_watermark = 50;
  p1.records = std::string();  // empty: long-poll answer
  s.topics = {{"orders", kafka_test::topic_id(1), {p0, p1}}};
  const FetchResponse r = decode_fetch_response(bytes_of(kafka_test::fetch_response(v, s)), v, Limits{});
  EXPECT_FALSE(r.truncated);
  EXPECT_FALSE(r.malformed);
  EXPECT_EQ(r.throttle_time_ms, v >= 1 ? 3 : 0);
  EXPECT_EQ(r.session_id, v >= 7 ? 777 : 0);
  ASSERT_EQ(r.topics.size(), 1u);
  EXPECT_EQ(r.topics[0].name, v >= 13 ? "" : "orders");
  EXPECT_EQ(r.topics[0].topic_id, v >= 13 ? kafka_test::topic_id(1) : TopicId{});
  ASSERT_EQ(r.topics[0].partitions.size(), 2u);
  const PartitionData& d = r.topics[0].partitions[0];
  EXPECT_EQ(d.high_watermark, 102);
  EXPECT_EQ(d.records.record_count, 2u);
  EXPECT_EQ(d.records.first_offset, 100);
  ASSERT_EQ(d.records.records.size(), 2u);
  EXPECT_EQ(d.records.records[0].offset, 100);
  EXPECT_EQ(d.records.records[0].key, "order-1");
  EXPECT_EQ(d.records.records[0].traceparent, kTraceparent);
  EXPECT_EQ(d.records.records[1].offset, 101);
  EXPECT_EQ(r.topics[0].partitions[1].error_code, 1);
  EXPECT_EQ(r.topics[0].partitions[1].high_watermark, 50);
  EXPECT_EQ(r.topics[0].partitions[1].records.batches, 0u);
}

// v4: isolation, aborted txns; v7: sessions; v11: rack, preferred replica; v12: flexible;
// v13: topic ids; v15: no replica_id; v16-18: tagged additions.
INSTANTIATE_TEST_SUITE_P(Boundaries, KafkaFetchVersions,
                         ::testing::Values(0, 4, 5, 7, 9, 11, 12, 13, 15, 16, 17, 18));

TEST(KafkaFetch, IncrementalSessionRequestNamesNoTopic) {
  kafka_test::FetchRequestSpec s;
  s.session_id = 99;
  s.session_epoch = 8;
  const FetchRequest r = decode_fetch_request(bytes_of(kafka_test::fetch_request(12, s)), 12, Limits{});
  EXPECT_FALSE(r.truncated || r.malformed);
  EXPECT_EQ(r.session_id, 99);
  EXPECT_EQ(r.session_epoch, 8);
  EXPECT_TRUE(r.topics.empty());
}

// ---- Metadata --------------------------------------------------------------------------------

class KafkaMetadataVersions : public ::testing::TestWithParam<int> {};

TEST_P(KafkaMetadataVersions, BrokersClusterTopics) {
  const auto v = static_cast<std::int16_t>(GetParam());
  kafka_test::MetadataResponseSpec s;
  s.brokers = {{1, "kafka-1.example", 9092, "rack-a"}, {2, "kafka-2.example", 9093, std::nullopt}};
  s.cluster_id = "mockCluster1234";
  s.controller_id = 2;
  kafka_test::MetadataTopicSpec orders{0, "orders", kafka_test::topic_id(1), false, {}};
  orders.partitions = {{0, 0, 1, 5, {1, 2}, {1, 2}, {}}, {0, 1, 2, 5, {2, 1}, {2}, {1}}, {0, 2, 1, 5, {1}, {1}, {}}};
  kafka_test::MetadataTopicSpec missing{3, "missing", {}, false, {}};
  kafka_test::MetadataTopicSpec internal{0, "__consumer_offsets", kafka_test::topic_id(9), true, {{0, 0, 1}}};
  s.topics = {orders, missing, internal};
  const MetadataResponse r = decode_metadata_response(bytes_of(kafka_test::metadata_response(v, s)), v, Limits{});
  EXPECT_FALSE(r.truncated);
  EXPECT_FALSE(r.malformed);
  ASSERT_EQ(r.brokers.size(), 2u);
  EXPECT_EQ(r.brokers[0].node_id, 1);
  EXPECT_EQ(r.brokers[0].host, "kafka-1.example");
  EXPECT_EQ(r.brokers[0].port, 9092);
  EXPECT_EQ(r.brokers[1].host, "kafka-2.example");
  EXPECT_EQ(r.brokers[1].port, 9093);
  EXPECT_EQ(r.cluster_id, v >= 2 ? std::optional<std::string>("mockCluster1234") : std::nullopt);
  EXPECT_EQ(r.controller_id, v >= 1 ? 2 : -1);
  ASSERT_EQ(r.topics.size(), 3u);
  EXPECT_EQ(r.topics[0].name, "orders");
  EXPECT_EQ(r.topics[0].topic_id, v >= 10 ? kafka_test::topic_id(1) : TopicId{});
  EXPECT_TRUE(r.topics[0].partitions.empty());  // walked, not kept
  EXPECT_EQ(r.topics[1].name, "missing");
  EXPECT_EQ(r.topics[1].error_code, 3);
  EXPECT_EQ(r.topics[2].name, "__consumer_offsets");
}

// v1: controller, rack, is_internal; v2: cluster id; v3: throttle; v5: offline; v7: epoch;
// v8: authorized ops; v9: flexible; v10: topic ids; v11: no cluster ops; v12: nullable name; v13: error.
INSTANTIATE_TEST_SUITE_P(Boundaries, KafkaMetadataVersions,
                         ::testing::Values(0, 1, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13));

TEST(KafkaMetadata, NullTopicNameFromV12) {
  kafka_test::MetadataResponseSpec s;
  s.brokers = {{1, "b", 9092, std::nullopt}};
  s.topics = {{100, std::nullopt, kafka_test::topic_id(4), false, {}}};
  const MetadataResponse r = decode_metadata_response(bytes_of(kafka_test::metadata_response(12, s)), 12, Limits{});
  EXPECT_FALSE(r.truncated || r.malformed);
  ASSERT_EQ(r.topics.size(), 1u);
  EXPECT_EQ(r.topics[0].name, "");
  EXPECT_EQ(r.topics[0].error_code, 100);
  EXPECT_EQ(r.topics[0].topic_id, kafka_test::topic_id(4));
  // Before v12 the name is a STRING: null contradicts it.
  Writer w;
  w.i32(0).array(0).nullable_string(std::nullopt).i32(0).array(1).i16(0).nullable_string(std::nullopt);
  EXPECT_TRUE(decode_metadata_response(bytes_of(w.str()), 3, Limits{}).malformed);
}

// ---- ApiVersions, groups ---------------------------------------------------------------------

TEST(KafkaApiVersions, ClientSoftware) {
  ApiVersionsRequest r = decode_api_versions_request(bytes_of(kafka_test::api_versions_request(3, "librdkafka", "2.15.1")), 3);
  EXPECT_FALSE(r.truncated || r.malformed);
  EXPECT_EQ(r.client_software_name, "librdkafka");
  EXPECT_EQ(r.client_software_version, "2.15.1");
  r = decode_api_versions_request(bytes_of(kafka_test::api_versions_request(4, "apache-kafka-java", "4.1.0")), 4);
  EXPECT_EQ(r.client_software_name, "apache-kafka-java");
  r = decode_api_versions_request({}, 0);  // v0-2: empty body
  EXPECT_FALSE(r.truncated || r.malformed);
  EXPECT_EQ(r.client_software_name, "");
  EXPECT_TRUE(decode_api_versions_request({}, 5).malformed);
  // Cut inside the version: the name is kept.
  const std::string body = kafka_test::api_versions_request(3, "librdkafka", "2.15.1");
  r = decode_api_versions_request(as_bytes(std::string_view(body).substr(0, 14)), 3);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.client_software_name, "librdkafka");
}

TEST(KafkaGroups, GroupIdAtEveryLayout) {
  struct Case {
    std::int16_t key;
    std::int16_t version;
    std::string body;
  };
  std::vector<Case> cases;
  for (std::int16_t v = 0; v <= 6; ++v) cases.push_back({kFindCoordinator, v, kafka_test::find_coordinator_request(v, "orders-group")});
  for (std::int16_t v = 0; v <= 9; ++v) cases.push_back({kJoinGroup, v, kafka_test::join_group_request(v, "orders-group")});
  for (std::int16_t v = 0; v <= 4; ++v) cases.push_back({kHeartbeat, v, kafka_test::heartbeat_request(v, "orders-group")});
  for (std::int16_t v = 0; v <= 5; ++v) cases.push_back({kLeaveGroup, v, kafka_test::leave_group_request(v, "orders-group")});
  for (std::int16_t v = 0; v <= 5; ++v) cases.push_back({kSyncGroup, v, kafka_test::sync_group_request(v, "orders-group")});
  for (std::int16_t v = 0; v <= 9; ++v) {
    cases.push_back({kOffsetCommit, v, kafka_test::offset_commit_request(v, "orders-group", "orders", 0, 42)});
    cases.push_back({kOffsetFetch, v, kafka_test::offset_fetch_request(v, "orders-group", "orders", {0, 1})});
  }
  for (std::int16_t v = 0; v <= 1; ++v) {
    cases.push_back({kConsumerGroupHeartbeat, v, kafka_test::consumer_group_heartbeat_request(v, "orders-group")});
  }
  for (const auto& c : cases) {
    const auto r = decode_group_request(c.key, bytes_of(c.body), c.version);
    ASSERT_TRUE(r) << c.key << " v" << c.version;
    EXPECT_FALSE(r->truncated || r->malformed) << c.key << " v" << c.version;
    EXPECT_EQ(r->group_id, "orders-group") << c.key << " v" << c.version;
    // Cut inside the group id: truncated, no id.
    const auto cut = decode_group_request(c.key, as_bytes(std::string_view(c.body).substr(0, c.body.find("orders-group") + 5)), c.version);
    ASSERT_TRUE(cut);
    EXPECT_TRUE(cut->truncated) << c.key << " v" << c.version;
    EXPECT_EQ(cut->group_id, "");
  }
}

TEST(KafkaGroups, TransactionCoordinatorIsNotAGroup) {
  for (std::int16_t v : {1, 3, 4, 6}) {
    const auto r = decode_group_request(kFindCoordinator, bytes_of(kafka_test::find_coordinator_request(v, "txn-1", 1)), v);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->truncated || r->malformed);
    EXPECT_EQ(r->key_type, 1);
    EXPECT_EQ(r->group_id, "");
  }
  EXPECT_FALSE(decode_group_request(kProduce, {}, 7));
  EXPECT_FALSE(decode_group_request(kMetadata, {}, 7));
  EXPECT_TRUE(decode_group_request(kHeartbeat, {}, 9)->malformed);  // no such version
}

// ---- truncation at every byte ----------------------------------------------------------------

template <typename Decode>
void every_cut(const std::string& body, Decode decode) {
  for (std::size_t cut = 0; cut < body.size(); ++cut) {
    const auto r = decode(as_bytes(std::string_view(body).substr(0, cut)));
    EXPECT_TRUE(r.truncated) << "cut " << cut << " of " << body.size();
    EXPECT_FALSE(r.malformed) << "cut " << cut << " of " << body.size();
  }
  const auto r = decode(as_bytes(body));
  EXPECT_FALSE(r.truncated || r.malformed);
}

TEST(KafkaTruncation, EveryPrefixIsTruncatedNeverMalformed) {
  const Limits limits;
  for (std::int16_t v : {3, 7, 9, 13}) {
    const std::string body = kafka_test::produce_request(
        v, std::nullopt, 1, 1500, {{"orders", kafka_test::topic_id(1), {{0, sample_batch(0)}, {1, sample_batch(10)}}}});
    every_cut(body, [&](auto b) { return decode_produce_request(b, v, limits); });
    const std::string resp = kafka_test::produce_response(v, {{"orders", kafka_test::topic_id(1), {{0, 0, 5}, {1, 0, 9}}}});
    every_cut(resp, [&](auto b) { return decode_produce_response(b, v, limits); });
  }
  for (std::int16_t v : {4, 11, 12, 16}) {
    kafka_test::FetchRequestSpec rq;
    rq.topics = {{"orders", kafka_test::topic_id(1), {{0, 5}}}};
    rq.forgotten = {{"old", kafka_test::topic_id(2), {{3}}}};
    every_cut(kafka_test::fetch_request(v, rq), [&](auto b) { return decode_fetch_request(b, v, limits); });
    kafka_test::FetchResponseSpec rs;
    kafka_test::FetchPartitionResponse p;
    p.aborted = std::vector<kafka_test::AbortedTransaction>{{1, 2}};
    p.records = sample_batch(7);
    rs.topics = {{"orders", kafka_test::topic_id(1), {p}}};
    every_cut(kafka_test::fetch_response(v, rs), [&](auto b) { return decode_fetch_response(b, v, limits); });
  }
  for (std::int16_t v : {0, 2, 9, 12, 13}) {
    kafka_test::MetadataResponseSpec s;
    s.brokers = {{1, "kafka-1", 9092, "r"}};
    s.cluster_id = "c1";
    s.topics = {{0, "orders", kafka_test::topic_id(1), false, {{0, 0, 1, 0, {1}, {1}, {}}}}};
    every_cut(kafka_test::metadata_response(v, s), [&](auto b) { return decode_metadata_response(b, v, limits); });
  }
}

TEST(KafkaTruncation, PrefixesKeepWhatWasWhole) {
  const std::string batch = sample_batch(0);
  const std::string body = kafka_test::produce_request(
      9, std::nullopt, -1, 1500, {{"orders", {}, {{0, batch}}}, {"payments", {}, {{4, batch}}}});
  // Cut in the middle of the first partition's batch, after its first record.
  const std::size_t at = body.find("order-2");
  const ProduceRequest r = decode_produce_request(as_bytes(std::string_view(body).substr(0, at + 3)), 9, Limits{});
  EXPECT_TRUE(r.truncated);
  ASSERT_EQ(r.topics.size(), 1u);
  EXPECT_EQ(r.topics[0].name, "orders");
  ASSERT_EQ(r.topics[0].partitions.size(), 1u);
  const RecordSet& rs = r.topics[0].partitions[0].records;
  EXPECT_TRUE(rs.truncated);
  EXPECT_EQ(rs.declared_bytes, batch.size());
  EXPECT_EQ(rs.record_count, 2u);
  ASSERT_EQ(rs.records.size(), 1u);
  EXPECT_EQ(rs.records[0].key, "order-1");
  EXPECT_EQ(rs.records[0].traceparent, kTraceparent);
}

// ---- hostile counts and lengths --------------------------------------------------------------

TEST(KafkaHostile, CountsNoFrameCouldHoldAreMalformed) {
  // INT32_MAX topics: no big allocation, nothing kept.
  std::string body = Writer().i16(-1).i16(1).i32(1000).i32(std::numeric_limits<std::int32_t>::max()).str();
  body += Writer().string("orders").str();
  ProduceRequest p = decode_produce_request(bytes_of(body), 7, Limits{});
  EXPECT_TRUE(p.malformed);
  EXPECT_FALSE(p.truncated);
  EXPECT_TRUE(p.topics.empty());
  // Compact count near 2^32.
  Writer w(true);
  w.nullable_string(std::nullopt).i16(1).i32(1000).uvarint(0xffffffffu);
  p = decode_produce_request(bytes_of(w.str()), 9, Limits{});
  EXPECT_TRUE(p.malformed);
  // Partitions: INT32_MAX inside a fetch response.
  Writer f;
  f.i32(0).i16(0).i32(0).array(1).string("orders").i32(std::numeric_limits<std::int32_t>::max());
  const FetchResponse fr = decode_fetch_response(bytes_of(f.str()), 7, Limits{});
  EXPECT_TRUE(fr.malformed);
  // A plausible count the capture cannot hold is a cut, not a contradiction.
  Writer m;
  m.array(100000).i32(1).string("b").i32(9092);
  const MetadataResponse mr = decode_metadata_response(bytes_of(m.str()), 0, Limits{});
  EXPECT_TRUE(mr.truncated);
  EXPECT_FALSE(mr.malformed);
  ASSERT_EQ(mr.brokers.size(), 1u);
  EXPECT_EQ(mr.brokers[0].host, "b");
}

TEST(KafkaHostile, NegativeLengthsAndOverlongVarints) {
  // STRING length -2.
  std::string body = Writer().i16(-1).i16(1).i32(1000).i32(1).i16(-2).str();
  EXPECT_TRUE(decode_produce_request(bytes_of(body), 7, Limits{}).malformed);
  // Non-nullable topic name null.
  body = Writer().i16(-1).i16(1).i32(1000).i32(1).i16(-1).str();
  EXPECT_TRUE(decode_produce_request(bytes_of(body), 7, Limits{}).malformed);
  // RECORDS length -5.
  body = Writer().i16(-1).i16(1).i32(1000).i32(1).string("t").i32(1).i32(0).i32(-5).str();
  EXPECT_TRUE(decode_produce_request(bytes_of(body), 7, Limits{}).malformed);
  // A compact length in six varint bytes.
  body = Writer().raw(std::string("\x80\x80\x80\x80\x80\x01", 6)).str();
  EXPECT_TRUE(decode_api_versions_request(bytes_of(body), 3).malformed);
  // Five bytes over 32 bits.
  body = Writer().raw(std::string("\xff\xff\xff\xff\x7f", 5)).str();
  EXPECT_TRUE(decode_api_versions_request(bytes_of(body), 3).malformed);
  // A varint cut after continuation bytes is a cut.
  body = Writer().raw(std::string("\x80\x80", 2)).str();
  const ApiVersionsRequest a = decode_api_versions_request(bytes_of(body), 3);
  EXPECT_TRUE(a.truncated);
  EXPECT_FALSE(a.malformed);
  // Versions the API does not have.
  EXPECT_TRUE(decode_produce_request({}, 14, Limits{}).malformed);
  EXPECT_TRUE(decode_fetch_response({}, 19, Limits{}).malformed);
  EXPECT_TRUE(decode_metadata_response({}, -1, Limits{}).malformed);
}

TEST(KafkaHostile, LimitsBoundWhatIsKept) {
  Limits limits;
  limits.max_topics = 3;
  limits.max_partitions = 2;
  limits.max_string = 4;
  limits.max_brokers = 1;
  std::vector<kafka_test::ProduceTopic> topics;
  for (int i = 0; i < 10; ++i) {
    topics.push_back({"topic-" + std::to_string(i), {}, {{0, sample_batch(0)}, {1, std::nullopt}, {2, std::nullopt}}});
  }
  const ProduceRequest r = decode_produce_request(bytes_of(kafka_test::produce_request(7, std::nullopt, 1, 1, topics)), 7, limits);
  EXPECT_FALSE(r.truncated || r.malformed);
  ASSERT_EQ(r.topics.size(), 3u);
  EXPECT_EQ(r.topics_dropped, 7u);
  EXPECT_EQ(r.topics[0].name, "topi");
  EXPECT_EQ(r.topics[0].partitions.size(), 2u);
  EXPECT_EQ(r.topics[0].partitions_dropped, 1u);
  EXPECT_EQ(r.topics[0].partitions[0].records.records.at(0).key, "orde");
  EXPECT_TRUE(r.topics[0].partitions[0].records.records.at(0).key_truncated);

  kafka_test::MetadataResponseSpec s;
  s.brokers = {{1, "a", 1, std::nullopt}, {2, "b", 2, std::nullopt}, {3, "c", 3, std::nullopt}};
  s.topics = {{0, "x", {}, false, {}}};
  const MetadataResponse m = decode_metadata_response(bytes_of(kafka_test::metadata_response(1, s)), 1, limits);
  EXPECT_FALSE(m.truncated || m.malformed);
  EXPECT_EQ(m.brokers.size(), 1u);
  EXPECT_EQ(m.topics.at(0).name, "x");
}

// A 1000-topic request under the default limits: 64 kept, the rest counted, the body walked.
TEST(KafkaHostile, ManyRealTopics) {
  std::vector<kafka_test::ProduceTopic> topics;
  for (int i = 0; i < 1000; ++i) topics.push_back({"t" + std::to_string(i), {}, {{i, std::nullopt}}});
  const ProduceRequest r = decode_produce_request(bytes_of(kafka_test::produce_request(9, std::nullopt, 1, 1, topics)), 9, Limits{});
  EXPECT_FALSE(r.truncated || r.malformed);
  ASSERT_EQ(r.topics.size(), 64u);
  EXPECT_EQ(r.topics_dropped, 936u);
  EXPECT_EQ(r.topics[63].name, "t63");
  EXPECT_EQ(r.topics[63].partitions.at(0).index, 63);
}

}  // namespace
}  // namespace zt::protocols::kafka
