// The Kafka connection parser on frames built from the specification (kafka_frames.h), fed in the
// shapes real clients use (librdkafka reads 8 bytes then the body, the Java client 4, kafka-python
// packs two requests in one call, kafkajs reads 64 KiB), with truncated captures and gaps; the
// catalog across connections (topic ids, groups, same-node sends); detection; the spans.
#include "protocols/kafka/kafka_connection.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kafka_frames.h"
#include "protocols/detector.h"
#include "protocols/kafka/kafka_protocol.h"

namespace zt::protocols::kafka {
namespace {

namespace kt = kafka_test;
using zt::protocols::Chunk;
using zt::protocols::Direction;
using zt::protocols::KafkaOperation;
using zt::protocols::KafkaRecord;
using zt::protocols::RequestIdentity;
using zt::protocols::RequestView;
using zt::protocols::Role;

constexpr const char* kParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr const char* kParent2 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

// A parser with its own catalog, a connection, and the request hook recording what it saw.
struct Conn {
  explicit Conn(Catalog& catalog, std::uint32_t pid = 100, std::uint16_t broker_port = 9092, bool midstream = false)
      : parser(Role::Client, midstream, ParserOptions{}, &catalog) {
    info.pid = pid;
    info.role = Role::Client;
    info.local = {"127.0.0.1", 40000, false};
    info.remote = {"127.0.0.1", broker_port, false};
    parser.set_connection(&info);
    parser.set_request_hook([this](const RequestView& view, Role, RequestIdentity& id) {
      views.push_back({std::string(view.method), std::string(view.target), view.scope, view.tid});
      if (view.scope == RequestView::Scope::Closes) return;
      id.assigned = true;
      id.trace_id[0] = static_cast<std::uint8_t>(views.size());
      id.span_id[0] = static_cast<std::uint8_t>(views.size());
      for (const auto& [k, v] : view.headers) headers.emplace_back(k, v);
    });
  }

  void send(std::string_view bytes, std::uint64_t ts = 0) { feed(Direction::Egress, bytes, ts); }
  void recv(std::string_view bytes, std::uint64_t ts = 0) { feed(Direction::Ingress, bytes, ts); }
  void feed(Direction dir, std::string_view bytes, std::uint64_t ts, std::uint64_t size = 0) {
    Chunk c;
    auto& pos = position[static_cast<int>(dir)];
    c.position = pos;
    c.size = size ? size : bytes.size();
    c.data = bytes;
    c.start_ns = ts;
    c.end_ns = ts + 1;
    c.tid = dir == Direction::Ingress ? 7 : 5;
    pos += c.size;
    parser.on_chunk(dir, c);
  }
  void gap(Direction dir, std::uint64_t size) {
    Chunk c;
    auto& pos = position[static_cast<int>(dir)];
    c.position = pos;
    c.size = size;
    c.gap = true;
    pos += size;
    parser.on_chunk(dir, c);
  }
  std::vector<KafkaRecord> records() {
    std::vector<KafkaRecord> out;
    for (auto& r : parser.take_records()) out.push_back(std::get<KafkaRecord>(std::move(r)));
    return out;
  }

  struct View {
    std::string method, target;
    RequestView::Scope scope;
    std::uint32_t tid;
  };
  ConnectionInfo info;
  KafkaConnectionParser parser;
  std::vector<View> views;
  std::vector<std::pair<std::string, std::string>> headers;
  std::uint64_t position[2] = {0, 0};
};

std::string produce(std::int16_t version, std::int32_t corr, const std::string& topic, std::int32_t partition,
                    const std::vector<kt::Record>& records, std::int16_t acks = -1, Codec codec = Codec::None) {
  return kt::request_frame(
      0, version, corr, "rdkafka",
      kt::produce_request(version, std::nullopt, acks, 5000,
                          {{topic, {}, {{partition, kt::record_batch(0, records, codec)}}}}));
}

std::string produce_ok(std::int16_t version, std::int32_t corr, const std::string& topic, std::int32_t partition,
                       std::int64_t base_offset, std::int16_t error = 0) {
  kt::ProducePartitionResult p;
  p.index = partition;
  p.error_code = error;
  p.base_offset = base_offset;
  return kt::response_frame(kt::response_header_version(0, version), corr,
                            kt::produce_response(version, {{topic, {}, {p}}}));
}

std::string fetch_req(std::int16_t version, std::int32_t corr, const std::string& topic, const kt::TopicId& id = {}) {
  kt::FetchRequestSpec s;
  s.topics.push_back({topic, id, {{0, 0}}});
  return kt::request_frame(1, version, corr, "consumer-1", kt::fetch_request(version, s));
}

std::string fetch_resp(std::int16_t version, std::int32_t corr, const std::string& topic, std::int32_t partition,
                       std::optional<std::string> batch, const kt::TopicId& id = {}, std::int16_t error = 0) {
  kt::FetchResponseSpec s;
  kt::FetchPartitionResponse p;
  p.index = partition;
  p.error_code = error;
  p.high_watermark = 100;
  p.records = std::move(batch);
  if (version >= 4) p.aborted = std::vector<kt::AbortedTransaction>{};
  s.topics.push_back({topic, id, {p}});
  return kt::response_frame(kt::response_header_version(1, version), corr, kt::fetch_response(version, s));
}

kt::Record rec(std::string key, std::string value, std::optional<std::string> traceparent = std::nullopt) {
  kt::Record r;
  r.key = std::move(key);
  r.value = std::move(value);
  if (traceparent) r.headers.push_back({"traceparent", *traceparent});
  return r;
}

TEST(KafkaConnection, AProduceAndItsResponseMakeOneSendWithTheOffsetTheBrokerGave) {
  Catalog catalog;
  Conn c(catalog);
  c.send(produce(7, 11, "orders", 2, {rec("k1", "v1", kParent)}), 1000);
  ASSERT_EQ(c.views.size(), 1u);  // identified when written, before the response
  EXPECT_EQ(c.views[0].method, "send");
  EXPECT_EQ(c.views[0].target, "orders");
  EXPECT_TRUE(c.headers.empty());  // a send is never parented by its records' context
  EXPECT_TRUE(c.records().empty());
  c.recv(produce_ok(7, 11, "orders", 2, 41), 5000);
  auto records = c.records();
  ASSERT_EQ(records.size(), 1u);
  const auto& r = records[0];
  EXPECT_EQ(r.operation, KafkaOperation::Send);
  EXPECT_EQ(r.topic, "orders");
  EXPECT_EQ(r.partitions, std::vector<std::int32_t>{2});
  EXPECT_EQ(r.message_count, 1u);
  EXPECT_EQ(r.offset, 41);
  EXPECT_EQ(r.key, "k1");
  EXPECT_EQ(r.client_id, "rdkafka");
  EXPECT_TRUE(r.response_seen);
  EXPECT_EQ(r.start_ns, 1000u);
  EXPECT_EQ(r.end_ns, 5001u);
  ASSERT_EQ(r.links.size(), 1u);  // the creation context the record carries
  EXPECT_EQ(trace::to_hex(r.links[0].trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(trace::to_hex(r.links[0].span_id), "00f067aa0ba902b7");
  EXPECT_TRUE(r.identity.assigned);
}

TEST(KafkaConnection, ResponsesReadAsSizeAndCorrelationIdThenBodyLikeLibrdkafka) {
  Catalog catalog;
  Conn c(catalog);
  c.send(produce(7, 1, "t", 0, {rec("a", "x")}));
  const std::string resp = produce_ok(7, 1, "t", 0, 7);
  c.recv(resp.substr(0, 8));
  EXPECT_TRUE(c.records().empty());
  c.recv(resp.substr(8));
  auto records = c.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].offset, 7);
}

TEST(KafkaConnection, SizeReadAloneThenTheBodyLikeTheJavaClient) {
  Catalog catalog;
  Conn c(catalog);
  const std::string req = produce(9, 3, "t", 0, {rec("a", "x")});  // flexible
  c.send(req);
  const std::string resp = produce_ok(9, 3, "t", 0, 12);
  c.recv(resp.substr(0, 4));
  c.recv(resp.substr(4));
  auto records = c.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].offset, 12);
  EXPECT_EQ(records[0].api_version, 9);
}

TEST(KafkaConnection, TwoRequestsInOneCallAndTwoResponsesInOneLikeKafkaPython) {
  Catalog catalog;
  Conn c(catalog);
  c.send(produce(7, 1, "a", 0, {rec("k", "1")}) + produce(7, 2, "b", 1, {rec("k", "2"), rec("k", "3")}));
  EXPECT_EQ(c.views.size(), 2u);
  c.recv(produce_ok(7, 1, "a", 0, 5) + produce_ok(7, 2, "b", 1, 9));
  auto records = c.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].topic, "a");
  EXPECT_EQ(records[0].offset, 5);
  EXPECT_EQ(records[1].topic, "b");
  EXPECT_EQ(records[1].message_count, 2u);
  EXPECT_FALSE(records[1].offset);  // two messages: no single offset
}

TEST(KafkaConnection, ReadsThatCutFramesAnywhereLikeKafkajs) {
  Catalog catalog;
  Conn c(catalog);
  std::string requests, responses;
  for (int i = 0; i < 5; ++i) {
    requests += produce(7, i, "t", 0, {rec("k" + std::to_string(i), std::string(300, 'v'))});
    responses += produce_ok(7, i, "t", 0, 100 + i);
  }
  for (std::size_t at = 0; at < requests.size(); at += 13) c.send(requests.substr(at, 13));
  for (std::size_t at = 0; at < responses.size(); at += 17) c.recv(responses.substr(at, 17));
  auto records = c.records();
  ASSERT_EQ(records.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(records[i].offset, 100 + i);
    EXPECT_EQ(records[i].key, "k" + std::to_string(i));
  }
  EXPECT_EQ(c.parser.stats().parse_errors, 0u);
}

TEST(KafkaConnection, AcksZeroSendsEndWhenWrittenAndDoNotWaitForAResponse) {
  Catalog catalog;
  Conn c(catalog);
  c.send(produce(7, 1, "t", 0, {rec("a", "x")}, /*acks=*/0), 10);
  auto records = c.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].response_expected);
  EXPECT_EQ(records[0].acks, 0);
  // The next request's response pairs normally (correlation ids advanced past the unanswered one).
  c.send(produce(7, 2, "t", 0, {rec("b", "y")}));
  c.recv(produce_ok(7, 2, "t", 0, 3));
  records = c.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, "b");
  EXPECT_EQ(catalog.stats().produces_without_ack, 1u);
}

TEST(KafkaConnection, ABodyLargerThanTheCaptureIsSkippedByCountAndFramingHolds) {
  Catalog catalog;
  Conn c(catalog);
  const std::string big = produce(7, 1, "t", 0, {rec("big", std::string(40000, 'z'))});
  // The kernel captured only the first 4 KiB of the call.
  c.feed(Direction::Egress, std::string_view(big).substr(0, 4096), 0, big.size());
  c.send(produce(7, 2, "t", 1, {rec("small", "v")}));
  c.recv(produce_ok(7, 1, "t", 0, 1) + produce_ok(7, 2, "t", 1, 2));
  auto records = c.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].message_count, 1u);  // the batch header was within the capture
  EXPECT_TRUE(records[0].truncated);
  EXPECT_EQ(records[1].key, "small");
  EXPECT_EQ(records[1].offset, 2);
}

TEST(KafkaConnection, TheRestOfALargeFrameIsLeftUncopiedOnceItsKeptPrefixIsFull) {
  Catalog catalog;
  Conn c(catalog);
  const std::string big = produce(7, 1, "t", 0, {rec("big", std::string(200000, 'z'))});
  EXPECT_EQ(c.parser.skip_until(Direction::Egress), 0u);
  c.feed(Direction::Egress, std::string_view(big).substr(0, 4096), 0, 4096);
  EXPECT_EQ(c.parser.skip_until(Direction::Egress), 0u);  // 16 KiB of it are wanted
  c.feed(Direction::Egress, std::string_view(big).substr(4096, 4096), 0, 4096);
  EXPECT_EQ(c.parser.skip_until(Direction::Egress), 0u);
  c.feed(Direction::Egress, std::string_view(big).substr(8192, 4096), 0, 20000);  // 4 KiB of 20 captured
  EXPECT_EQ(c.parser.skip_until(Direction::Egress), big.size());  // nothing more of it is kept
  EXPECT_EQ(c.parser.skip_until(Direction::Ingress), 0u);
}

TEST(KafkaConnection, AGapInsideAResponseKeepsTheFramingAndAGapAtABoundaryResyncsOnAKnownId) {
  Catalog catalog;
  Conn c(catalog);
  c.send(produce(7, 1, "t", 0, {rec("a", "x")}));
  c.send(produce(7, 2, "t", 0, {rec("b", "y")}));
  const std::string r1 = produce_ok(7, 1, "t", 0, 1);
  // The whole first response lost: the framing is lost with it.
  c.gap(Direction::Ingress, r1.size());
  c.recv(produce_ok(7, 2, "t", 0, 2));  // a chunk starting with a pending correlation id: resync
  auto records = c.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_FALSE(records[0].response_seen);  // its response was lost; the later one closed it
  EXPECT_TRUE(records[0].response_lost);
  EXPECT_EQ(records[1].offset, 2);
  EXPECT_GE(c.parser.stats().resyncs, 1u);
  // Lost to the capture is not a failure of the send: its outcome is unknown.
  MonotonicToRealtime clock;
  const auto span = to_span(records[0], SpanInput{c.info, FlushCause::InStream, clock, nullptr});
  EXPECT_EQ(span.status, trace::StatusCode::Unset);
  EXPECT_FALSE(span.find_attribute("error.type"));
  EXPECT_TRUE(span.find_attribute("zerotrace.incomplete"));
}

TEST(KafkaConnection, AFetchOfSeveralRecordsLinksToEachCreationContext) {
  Catalog catalog;
  Conn c(catalog);
  c.send(fetch_req(11, 5, "orders"), 100);
  c.recv(fetch_resp(11, 5, "orders", 1,
                    kt::record_batch(30, {rec("a", "1", kParent), rec("b", "2", kParent2), rec("c", "3", kParent)},
                                     Codec::Gzip)),
         900);
  auto records = c.records();
  ASSERT_EQ(records.size(), 1u);
  const auto& r = records[0];
  EXPECT_EQ(r.operation, KafkaOperation::Fetch);
  EXPECT_EQ(r.topic, "orders");
  EXPECT_EQ(r.message_count, 3u);
  EXPECT_EQ(r.partitions, std::vector<std::int32_t>{1});
  EXPECT_FALSE(r.offset);
  EXPECT_EQ(r.links.size(), 2u);  // two distinct contexts
  EXPECT_TRUE(r.context_headers.empty());  // several messages: links only
  EXPECT_EQ(r.start_ns, 100u);
  EXPECT_EQ(r.end_ns, 901u);
  EXPECT_EQ(r.tid, 7u);  // the thread that read the response
  ASSERT_EQ(c.views.size(), 1u);
  EXPECT_EQ(c.views[0].scope, RequestView::Scope::Opens);
}

TEST(KafkaConnection, AFetchOfOneRecordTakesItsCreationContextAsParent) {
  Catalog catalog;
  Conn c(catalog);
  c.send(fetch_req(11, 5, "orders"));
  c.recv(fetch_resp(11, 5, "orders", 0, kt::record_batch(77, {rec("only", "v", kParent)}, Codec::Zstd)));
  auto records = c.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].offset, 77);
  EXPECT_EQ(records[0].key, "only");
  ASSERT_EQ(c.headers.size(), 1u);
  EXPECT_EQ(c.headers[0].first, "traceparent");
  EXPECT_EQ(c.headers[0].second, kParent);
}

TEST(KafkaConnection, AnEmptyLongPollFetchMakesNoSpanAndClosesTheThreadsScope) {
  Catalog catalog;
  Conn c(catalog);
  c.send(fetch_req(11, 5, "orders"));
  c.recv(fetch_resp(11, 5, "orders", 0, std::string()));
  EXPECT_TRUE(c.records().empty());
  ASSERT_EQ(c.views.size(), 1u);
  EXPECT_EQ(c.views[0].scope, RequestView::Scope::Closes);
  EXPECT_EQ(catalog.stats().fetches_empty, 1u);
}

TEST(KafkaConnection, AFetchPartitionErrorIsASpanWithTheKafkaErrorName) {
  Catalog catalog;
  Conn c(catalog);
  c.send(fetch_req(11, 5, "orders"));
  c.recv(fetch_resp(11, 5, "orders", 0, std::string(), {}, 1));  // OFFSET_OUT_OF_RANGE
  auto records = c.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].error_code, 1);
}

TEST(KafkaConnection, TopicIdsResolveThroughAMetadataResponseSeenOnAnotherConnection) {
  Catalog catalog;
  const kt::TopicId id = kt::topic_id(9);
  Conn bootstrap(catalog, 100, 9092);
  kt::MetadataResponseSpec md;
  md.brokers.push_back({1, "127.0.0.1", 9093, std::nullopt});
  md.cluster_id = "mockCluster1";
  kt::MetadataTopicSpec topic;
  topic.name = "orders";
  topic.id = id;
  md.topics.push_back(topic);
  bootstrap.send(kt::request_frame(3, 12, 1, "rdkafka", std::string(1, '\x01') /*unused body*/));
  bootstrap.recv(kt::response_frame(1, 1, kt::metadata_response(12, md)));
  EXPECT_EQ(catalog.stats().topic_ids_learned, 1u);

  Conn broker(catalog, 100, 9093);
  broker.send(fetch_req(16, 8, "", id));
  broker.recv(fetch_resp(16, 8, "", 0, kt::record_batch(0, {rec("a", "b")}), id));
  auto records = broker.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].topic, "orders");
  EXPECT_EQ(records[0].topic_id, id);
  EXPECT_EQ(records[0].cluster_id, "mockCluster1");  // the broker advertised in that response
}

TEST(KafkaConnection, TheConsumerGroupComesFromTheGroupApisOfTheSameClient) {
  Catalog catalog;
  Conn coordinator(catalog, 100, 9092);
  coordinator.send(kt::request_frame(11, 5, 1, "consumer-1", kt::join_group_request(5, "billing")));
  Conn broker(catalog, 100, 9093);
  broker.send(fetch_req(11, 2, "orders"));
  broker.recv(fetch_resp(11, 2, "orders", 0, kt::record_batch(0, {rec("a", "b")})));
  auto records = broker.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].consumer_group, "billing");
  // Another process with the same client id is another consumer.
  Conn other(catalog, 200, 9093);
  other.send(fetch_req(11, 2, "orders"));
  other.recv(fetch_resp(11, 2, "orders", 0, kt::record_batch(0, {rec("a", "b")})));
  EXPECT_EQ(other.records().at(0).consumer_group, "");
}

TEST(KafkaConnection, AFetchOfRecordsASendOnThisNodeProducedLinksToThatSend) {
  Catalog catalog;
  Conn producer(catalog, 100, 9092);
  producer.send(produce(7, 1, "orders", 0, {rec("a", "1"), rec("b", "2")}));
  producer.recv(produce_ok(7, 1, "orders", 0, 50));
  const auto sent = producer.records().at(0);
  Conn consumer(catalog, 200, 9092);
  consumer.send(fetch_req(11, 4, "orders"));
  consumer.recv(fetch_resp(11, 4, "orders", 0, kt::record_batch(51, {rec("b", "2")})));
  auto records = consumer.records();
  ASSERT_EQ(records.size(), 1u);
  ASSERT_EQ(records[0].links.size(), 1u);
  EXPECT_EQ(records[0].links[0].span_id, sent.identity.span_id);
  EXPECT_EQ(records[0].links[0].trace_id, sent.identity.trace_id);
  // One message: the send is its parent too, with nothing in the record.
  ASSERT_EQ(consumer.headers.size(), 1u);
  EXPECT_EQ(consumer.headers[0].second,
            "00-" + trace::to_hex(sent.identity.trace_id) + "-" + trace::to_hex(sent.identity.span_id) + "-01");
  EXPECT_EQ(catalog.stats().sends_matched, 1u);
  // An offset the send did not produce, or another broker, matches nothing.
  Conn elsewhere(catalog, 200, 9999);
  elsewhere.send(fetch_req(11, 4, "orders"));
  elsewhere.recv(fetch_resp(11, 4, "orders", 0, kt::record_batch(51, {rec("b", "2")})));
  EXPECT_TRUE(elsewhere.records().at(0).links.empty());
}

TEST(KafkaConnection, AFetchReadBeforeTheProducerReadItsResponseStillFindsTheSend) {
  // Two processes: the consumer's read of the record can come before the producer's read of the
  // broker's answer. The send is then found by the record itself.
  Catalog catalog;
  Conn producer(catalog, 100, 9092);
  producer.send(produce(7, 1, "orders", 0, {rec("k-1", "payload-1"), rec("k-2", "payload-22")}));
  Conn consumer(catalog, 200, 9092);
  consumer.send(fetch_req(11, 4, "orders"));
  consumer.recv(fetch_resp(11, 4, "orders", 0, kt::record_batch(60, {rec("k-2", "payload-22")})));
  auto fetched = consumer.records();
  ASSERT_EQ(fetched.size(), 1u);
  ASSERT_EQ(fetched[0].links.size(), 1u);
  EXPECT_EQ(catalog.stats().sends_matched_pending, 1u);
  producer.recv(produce_ok(7, 1, "orders", 0, 59));
  const auto sent = producer.records().at(0);
  EXPECT_EQ(fetched[0].links[0].span_id, sent.identity.span_id);
  // A record the send did not carry (another key, or another size) is not its.
  Conn other(catalog, 300, 9092);
  other.send(fetch_req(11, 5, "orders"));
  other.recv(fetch_resp(11, 5, "orders", 0, kt::record_batch(900, {rec("k-2", "payload-2")})));
  EXPECT_TRUE(other.records().at(0).links.empty());
}

TEST(KafkaConnection, AConnectionSeenMidstreamSkipsResponsesToRequestsItNeverSaw) {
  Catalog catalog;
  Conn c(catalog, 100, 9092, /*midstream=*/true);
  // The tail of a response whose request predates the agent, then a whole one: both unknown.
  c.recv(std::string("\x00\x00\x01\x00garbage", 11));
  c.recv(produce_ok(7, 900, "t", 0, 1));
  c.send(produce(7, 901, "t", 0, {rec("a", "x")}));
  c.recv(produce_ok(7, 901, "t", 0, 2));
  auto records = c.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].offset, 2);
}

TEST(KafkaConnection, AProduceStillWaitingAtCloseIsEmittedWithoutAResponse) {
  Catalog catalog;
  Conn c(catalog);
  c.send(produce(7, 1, "t", 0, {rec("a", "x")}));
  c.parser.on_close(99);
  auto records = c.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].response_seen);
  EXPECT_FALSE(records[0].response_lost);
  MonotonicToRealtime clock;
  const auto span = to_span(records[0], SpanInput{c.info, FlushCause::Closed, clock, nullptr});
  EXPECT_EQ(span.status, trace::StatusCode::Error);
  ASSERT_TRUE(span.find_attribute("error.type"));
  EXPECT_EQ(std::get<std::string>(*span.find_attribute("error.type")), "no_response");
}

TEST(KafkaConnection, OnATracedBrokerRequestsAreReadAndTheSpansAreTheServers) {
  Catalog catalog;
  KafkaConnectionParser parser(Role::Server, false, ParserOptions{}, &catalog);
  int identified = 0;
  parser.set_request_hook([&](const RequestView&, Role role, RequestIdentity& id) {
    EXPECT_EQ(role, Role::Server);
    id.assigned = true;
    ++identified;
  });
  const std::string req = produce(7, 1, "orders", 0, {rec("k", "v")});
  const std::string resp = produce_ok(7, 1, "orders", 0, 5);
  // The Java broker reads the size alone, then the rest.
  parser.on_chunk(Direction::Ingress, Chunk{0, 4, std::string_view(req).substr(0, 4), 1, 2, 9, false});
  parser.on_chunk(Direction::Ingress, Chunk{4, req.size() - 4, std::string_view(req).substr(4), 3, 4, 9, false});
  parser.on_chunk(Direction::Egress, Chunk{0, resp.size(), resp, 5, 6, 9, false});
  auto records = parser.take_records();
  ASSERT_EQ(records.size(), 1u);
  const auto& r = std::get<KafkaRecord>(records[0]);
  EXPECT_EQ(r.offset, 5);
  EXPECT_EQ(identified, 1);
  ConnectionInfo broker;
  broker.role = Role::Server;
  MonotonicToRealtime clock;
  EXPECT_EQ(to_span(r, SpanInput{broker, FlushCause::InStream, clock, nullptr}).kind, trace::SpanKind::Server);
}

// ---- detection -------------------------------------------------------------------------------

Chunk chunk_of(std::string_view bytes) {
  Chunk c;
  c.size = bytes.size();
  c.data = bytes;
  return c;
}

TEST(KafkaDetection, RequestsOfModernClientsAreRecognisedAndGiveTheRole) {
  const std::string api_versions = kt::request_frame(18, 3, 1, "rdkafka", kt::api_versions_request(3, "librdkafka", "2.0.2"));
  auto parser = KafkaProtocol::detect(Direction::Egress, chunk_of(api_versions), Role::Unknown, false);
  ASSERT_TRUE(parser);
  EXPECT_EQ(parser->role(), Role::Client);
  EXPECT_EQ(parser->protocol_name(), "kafka");
  // Read by the traced process: it is the broker.
  parser = KafkaProtocol::detect(Direction::Ingress, chunk_of(api_versions), Role::Unknown, false);
  ASSERT_TRUE(parser);
  EXPECT_EQ(parser->role(), Role::Server);
  // A frame larger than the call (written in several) still counts by its header.
  const std::string big = produce(7, 1, "t", 0, {rec("a", std::string(5000, 'x'))});
  EXPECT_TRUE(KafkaProtocol::detect(Direction::Egress, chunk_of(std::string_view(big).substr(0, 200)), Role::Unknown,
                                    false));
  // Through the registry, after HTTP.
  auto any = detect_protocol(Direction::Egress, chunk_of(api_versions), Role::Unknown, false);
  ASSERT_TRUE(any);
  EXPECT_EQ(any->protocol_name(), "kafka");
}

TEST(KafkaDetection, HttpGrpcAndRandomBytesAreNotKafka) {
  const std::string settings("\x00\x00\x0c\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64\x00\x04\x00\x10\x00\x00", 21);
  EXPECT_FALSE(KafkaProtocol::detect(Direction::Egress, chunk_of(settings), Role::Unknown, true));
  const std::string headers_frame("\x00\x00\x10\x01\x04\x00\x00\x00\x01\x83\x86\x44\x8b\x62\x72\x0e\x81\x0e\x82\x4f\x0d"
                                  "\x31\x7f\x5a\xa2",
                                  25);
  EXPECT_FALSE(KafkaProtocol::detect(Direction::Egress, chunk_of(headers_frame), Role::Unknown, true));
  EXPECT_FALSE(KafkaProtocol::detect(Direction::Egress, chunk_of("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Role::Unknown, false));
  const std::string grpc_message("\x00\x00\x00\x00\x05\x0a\x03\x66\x6f\x6f\x00\x00\x00\x00\x00", 15);
  EXPECT_FALSE(KafkaProtocol::detect(Direction::Egress, chunk_of(grpc_message), Role::Unknown, true));
  // A response alone is not enough.
  EXPECT_FALSE(KafkaProtocol::detect(Direction::Ingress, chunk_of(produce_ok(7, 1, "t", 0, 1)), Role::Unknown, true));
  // An HTTP/2 client preface goes to HTTP/2 through the registry.
  auto any = detect_protocol(Direction::Egress, chunk_of("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Role::Unknown, false);
  ASSERT_TRUE(any);
  EXPECT_NE(any->protocol_name(), "kafka");
  // A known role that disagrees with the direction.
  const std::string api_versions = kt::request_frame(18, 3, 1, "rdkafka", kt::api_versions_request(3, "librdkafka", "2.0.2"));
  EXPECT_FALSE(KafkaProtocol::detect(Direction::Egress, chunk_of(api_versions), Role::Server, false));
}

// ---- spans -----------------------------------------------------------------------------------

const trace::AttributeValue* attr(const trace::Span& s, std::string_view key) { return s.find_attribute(key); }
std::string str(const trace::Span& s, std::string_view key) {
  const auto* v = attr(s, key);
  return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : "<absent>";
}

TEST(KafkaSpans, SendAndFetchFollowTheMessagingConventions) {
  Catalog catalog;
  Conn c(catalog);
  c.send(produce(7, 1, "orders", 3, {rec("key-1", "v", kParent)}));
  c.recv(produce_ok(7, 1, "orders", 3, 41));
  const auto send = c.records().at(0);
  MonotonicToRealtime clock;
  const SpanInput in{c.info, FlushCause::InStream, clock, nullptr};
  const auto span = to_span(send, in);
  EXPECT_EQ(span.name, "send orders");
  EXPECT_EQ(span.kind, trace::SpanKind::Client);
  EXPECT_EQ(str(span, "messaging.system"), "kafka");
  EXPECT_EQ(str(span, "messaging.operation.name"), "send");
  EXPECT_EQ(str(span, "messaging.operation.type"), "send");
  EXPECT_EQ(str(span, "messaging.destination.name"), "orders");
  EXPECT_EQ(str(span, "messaging.destination.partition.id"), "3");
  EXPECT_EQ(str(span, "messaging.kafka.message.key"), "key-1");
  ASSERT_TRUE(attr(span, "messaging.kafka.offset"));
  EXPECT_EQ(std::get<std::int64_t>(*attr(span, "messaging.kafka.offset")), 41);
  EXPECT_EQ(str(span, "messaging.client.id"), "rdkafka");
  EXPECT_EQ(str(span, "server.address"), "127.0.0.1");
  EXPECT_EQ(std::get<std::int64_t>(*attr(span, "server.port")), 9092);
  EXPECT_EQ(str(span, "network.protocol.name"), "kafka");
  EXPECT_FALSE(attr(span, "messaging.batch.message_count"));  // one message
  EXPECT_EQ(span.status, trace::StatusCode::Unset);
  ASSERT_EQ(span.links.size(), 1u);

  c.send(fetch_req(11, 2, "orders"));
  c.recv(fetch_resp(11, 2, "orders", 0, kt::record_batch(0, {rec("a", "1"), rec("b", "2")})));
  const auto fetch = to_span(c.records().at(0), in);
  EXPECT_EQ(fetch.name, "fetch orders");
  EXPECT_EQ(fetch.kind, trace::SpanKind::Client);
  EXPECT_EQ(str(fetch, "messaging.operation.type"), "receive");
  EXPECT_EQ(std::get<std::int64_t>(*attr(fetch, "messaging.batch.message_count")), 2);
  EXPECT_FALSE(attr(fetch, "messaging.kafka.offset"));
}

TEST(KafkaSpans, APartitionErrorIsAnErrorSpanNamedByKafka) {
  Catalog catalog;
  Conn c(catalog);
  c.send(produce(7, 1, "orders", 0, {rec("a", "v")}));
  c.recv(produce_ok(7, 1, "orders", 0, -1, 6));
  MonotonicToRealtime clock;
  const auto span = to_span(c.records().at(0), SpanInput{c.info, FlushCause::InStream, clock, nullptr});
  EXPECT_EQ(span.status, trace::StatusCode::Error);
  EXPECT_EQ(str(span, "error.type"), "NOT_LEADER_OR_FOLLOWER");
}

TEST(KafkaSpans, ATopicIdNoMetadataNamedKeepsTheOperationNameAlone) {
  Catalog catalog;
  Conn c(catalog);
  const kt::TopicId id = kt::topic_id(3);
  c.send(fetch_req(16, 2, "", id));
  c.recv(fetch_resp(16, 2, "", 0, kt::record_batch(0, {rec("a", "1")}), id));
  MonotonicToRealtime clock;
  const auto span = to_span(c.records().at(0), SpanInput{c.info, FlushCause::InStream, clock, nullptr});
  EXPECT_EQ(span.name, "fetch");
  EXPECT_FALSE(attr(span, "messaging.destination.name"));
  EXPECT_EQ(str(span, "zerotrace.kafka.topic_id"), to_string(id));
}

}  // namespace
}  // namespace zt::protocols::kafka
