// Replays connections recorded between real Kafka clients and librdkafka's mock cluster
// (tests/fixtures/kafka, see its README) through KafkaConnectionParser: each scenario's connections
// share one catalog, as one process's connections share the agent's. Whole, re-cut the ways
// clients read and write (librdkafka's 8-byte reads, Java's 4-byte writes), and with a capture
// limit. The facts asserted are the README's; the frames are also decoded directly with
// kafka_wire.h for what a KafkaRecord does not carry (per-record offsets, keys, codecs).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/text.h"
#include "protocols/kafka/kafka_connection.h"

namespace zt::protocols::kafka {
namespace {

using zt::protocols::Chunk;
using zt::protocols::Direction;
using zt::protocols::KafkaOperation;
using zt::protocols::KafkaRecord;

constexpr std::uint64_t kChunkSpacingNs = 1'000'000;
constexpr std::uint64_t kSyscallDurationNs = 1'000;

// The traceparent each scenario's producer put on every record (README, "Trace contexts").
constexpr std::string_view kKcatParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr std::string_view kKafkajsParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
constexpr std::string_view kKafkaPythonParent = "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01";
constexpr std::string_view kKcat215Parent = "00-7d3efb1b173fecfa9a8bf1d7e2e9f5a1-1234567890abcdef-01";

// ---- fixtures ----------------------------------------------------------------------------------

struct RecordedChunk {
  Direction dir;
  std::string data;
};

std::vector<RecordedChunk> load_fixture(std::string_view name) {
  std::ifstream in(std::string(ZT_FIXTURES_DIR) + "/kafka/" + std::string(name) + ".json");
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  if (!in.good()) return {};
  const nlohmann::json fixture = nlohmann::json::parse(in);
  EXPECT_EQ(fixture.at("role"), "client");
  std::vector<RecordedChunk> chunks;
  for (const auto& chunk : fixture.at("chunks")) {
    const Direction dir = chunk.at("dir") == "ingress" ? Direction::Ingress : Direction::Egress;
    chunks.push_back({dir, text::base64_decode(chunk.at("data_b64").get<std::string>()).value()});
  }
  return chunks;
}

// One mock cluster per scenario group: the port is made up (the fixtures hold none), shared by
// every connection to that mock so that the catalog's per-broker facts carry across them.
constexpr std::uint16_t kKcatMockPort = 39201;      // (a) and (b)
constexpr std::uint16_t kKafkajsMockPort = 39202;   // (c)
constexpr std::uint16_t kPythonMockPort = 39203;    // (d)
constexpr std::uint16_t kKcat215MockPort = 39204;   // (e)

std::string broker(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

struct Scenario {
  std::string_view name;
  std::vector<std::string_view> connections;  // replay order: bootstrap and group before produce/fetch
  std::uint16_t port;
};

void PrintTo(const Scenario& scenario, std::ostream* out) { *out << scenario.name; }

const std::vector<Scenario>& scenarios() {
  static const std::vector<Scenario> all = {
      {"kcat_produce_none", {"kcat_produce_none_produce"}, kKcatMockPort},
      {"kcat_produce_gzip", {"kcat_produce_gzip_produce"}, kKcatMockPort},
      {"kcat_produce_snappy", {"kcat_produce_snappy_produce"}, kKcatMockPort},
      {"kcat_produce_lz4", {"kcat_produce_lz4_produce"}, kKcatMockPort},
      {"kcat_produce_zstd", {"kcat_produce_zstd_produce"}, kKcatMockPort},
      {"kcat_consume", {"kcat_consume_group", "kcat_consume_fetch"}, kKcatMockPort},
      {"kafkajs_produce", {"kafkajs_produce_produce"}, kKafkajsMockPort},
      {"kafkajs_consume", {"kafkajs_consume_group", "kafkajs_consume_fetch"}, kKafkajsMockPort},
      {"kafka_python_produce", {"kafka_python_produce_bootstrap", "kafka_python_produce_produce"}, kPythonMockPort},
      {"kafka_python_consume",
       {"kafka_python_consume_group1", "kafka_python_consume_group2", "kafka_python_consume_bootstrap",
        "kafka_python_consume_fetch"},
       kPythonMockPort},
      {"kcat215_produce_none", {"kcat215_produce_none_bootstrap", "kcat215_produce_none_produce"}, kKcat215MockPort},
      {"kcat215_produce_gzip", {"kcat215_produce_gzip_bootstrap", "kcat215_produce_gzip_produce"}, kKcat215MockPort},
      {"kcat215_consume", {"kcat215_consume_group1", "kcat215_consume_group2", "kcat215_consume_fetch"},
       kKcat215MockPort},
  };
  return all;
}

const Scenario& scenario(std::string_view name) {
  for (const auto& s : scenarios()) {
    if (s.name == name) return s;
  }
  ADD_FAILURE() << "no scenario " << name;
  return scenarios().front();
}

// ---- replay ------------------------------------------------------------------------------------

// How the recorded segments become the chunks the parser sees.
struct Shape {
  std::size_t capture_limit = SIZE_MAX;  // bytes captured of each chunk; `size` stays whole
  std::size_t ingress_head = 0;          // re-cut each ingress segment into this many bytes + rest (0: not)
  std::size_t egress_head = 0;           // the same for egress
  std::size_t piece_bytes = 0;           // else re-cut each segment into pieces of this size (0: not)
};

struct ReplayedConnection {
  std::string name;
  std::vector<KafkaRecord> records;
  ParserStats stats;
  CatalogStats catalog_delta;  // what this connection added to the shared catalog's counters
};

CatalogStats minus(const CatalogStats& after, const CatalogStats& before) {
  CatalogStats d;
  d.requests = after.requests - before.requests;
  d.responses = after.responses - before.responses;
  d.metadata_responses = after.metadata_responses - before.metadata_responses;
  d.malformed_bodies = after.malformed_bodies - before.malformed_bodies;
  d.truncated_bodies = after.truncated_bodies - before.truncated_bodies;
  d.decompress_failures = after.decompress_failures - before.decompress_failures;
  d.links_from_headers = after.links_from_headers - before.links_from_headers;
  d.links_from_sends = after.links_from_sends - before.links_from_sends;
  return d;
}

struct ScenarioRun {
  std::vector<ReplayedConnection> connections;

  const ReplayedConnection& connection(std::string_view name) const {
    for (const auto& c : connections) {
      if (c.name == name) return c;
    }
    ADD_FAILURE() << "no connection " << name;
    return connections.front();
  }
  std::vector<KafkaRecord> records(KafkaOperation op) const {
    std::vector<KafkaRecord> out;
    for (const auto& c : connections) {
      for (const auto& r : c.records) {
        if (r.operation == op) out.push_back(r);
      }
    }
    return out;
  }
};

// Replays one scenario's connections, in order, as process `pid` (one process per scenario: its
// client id is the same on every connection, as the group facts need). Each request gets an
// identity, span ids counting from `first_span`, so that sends are remembered in the catalog.
ScenarioRun replay(const Scenario& s, Catalog& catalog, const Shape& shape = {}, std::uint32_t pid = 4242,
                   std::uint8_t first_span = 1) {
  ScenarioRun run;
  std::uint8_t next_span = first_span;
  std::uint16_t local_port = 50000;
  for (std::string_view name : s.connections) {
    const auto recorded = load_fixture(name);
    ConnectionInfo info;
    info.pid = pid;
    info.role = Role::Client;
    info.local = {"127.0.0.1", local_port++, false};
    info.remote = {"127.0.0.1", s.port, false};
    KafkaConnectionParser parser(Role::Client, false, ParserOptions{}, &catalog);
    parser.set_connection(&info);
    parser.set_request_hook([&next_span, pid](const RequestView& view, Role, RequestIdentity& id) {
      if (view.scope == RequestView::Scope::Closes) return;
      id.assigned = true;
      id.trace_id[0] = static_cast<std::uint8_t>(pid);
      id.trace_id[15] = 1;
      id.span_id[7] = next_span++;
    });
    const CatalogStats before = catalog.stats();
    std::uint64_t position[2] = {0, 0};
    std::size_t index = 0;
    for (const RecordedChunk& segment : recorded) {
      const std::size_t head = segment.dir == Direction::Ingress ? shape.ingress_head : shape.egress_head;
      std::vector<std::string_view> pieces;
      const std::string_view all = segment.data;
      if (shape.piece_bytes > 0) {
        for (std::size_t at = 0; at < all.size(); at += shape.piece_bytes) pieces.push_back(all.substr(at, shape.piece_bytes));
      } else if (head > 0 && head < all.size()) {
        pieces = {all.substr(0, head), all.substr(head)};
      } else {
        pieces = {all};
      }
      for (std::string_view piece : pieces) {
        Chunk c;
        auto& pos = position[static_cast<int>(segment.dir)];
        c.position = pos;
        c.size = piece.size();
        c.data = piece.substr(0, shape.capture_limit);
        c.start_ns = kChunkSpacingNs * (index + 1);
        c.end_ns = c.start_ns + kSyscallDurationNs;
        c.tid = segment.dir == Direction::Ingress ? 7 : 5;
        pos += c.size;
        ++index;
        parser.on_chunk(segment.dir, c);
      }
    }
    parser.on_close(kChunkSpacingNs * (index + 1));
    ReplayedConnection out;
    out.name = std::string(name);
    for (auto& r : parser.take_records()) out.records.push_back(std::get<KafkaRecord>(std::move(r)));
    out.stats = parser.stats();
    out.catalog_delta = minus(catalog.stats(), before);
    run.connections.push_back(std::move(out));
  }
  return run;
}

// ---- direct decoding of the recorded frames ----------------------------------------------------

std::uint32_t be32(std::string_view s) {
  return (std::uint32_t{static_cast<std::uint8_t>(s[0])} << 24) | (std::uint32_t{static_cast<std::uint8_t>(s[1])} << 16) |
         (std::uint32_t{static_cast<std::uint8_t>(s[2])} << 8) | std::uint32_t{static_cast<std::uint8_t>(s[3])};
}

std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// A request and its response as whole frames (after the 4-byte size), bodies located.
struct Exchange {
  RequestHeader header;
  std::string request;
  std::string response;
  std::span<const std::uint8_t> request_body() const { return bytes_of(request).subspan(header.length); }
  // Empty when the recording ends before the response (a long-poll Fetch in flight at exit).
  std::span<const std::uint8_t> response_body() const {
    if (response.empty()) return {};
    const auto rh = parse_response_header(bytes_of(response), response_header_version(header.api_key, header.api_version));
    EXPECT_TRUE(rh.has_value());
    return rh ? bytes_of(response).subspan(rh->length) : std::span<const std::uint8_t>{};
  }
};

std::vector<std::string> split_frames(const std::string& stream) {
  std::vector<std::string> frames;
  std::size_t pos = 0;
  while (pos + 4 <= stream.size()) {
    const std::uint32_t size = be32(std::string_view(stream).substr(pos));
    EXPECT_LE(pos + 4 + size, stream.size()) << "the recording ends inside a frame";
    frames.push_back(stream.substr(pos + 4, size));
    pos += 4 + size;
  }
  EXPECT_EQ(pos, stream.size());
  return frames;
}

std::vector<Exchange> exchanges_of(std::string_view fixture) {
  std::string egress, ingress;
  for (const auto& c : load_fixture(fixture)) (c.dir == Direction::Egress ? egress : ingress) += c.data;
  std::vector<Exchange> out;
  for (auto& frame : split_frames(egress)) {
    auto header = parse_request_header(bytes_of(frame));
    EXPECT_TRUE(header.has_value());
    if (!header) continue;
    out.push_back({*header, std::move(frame), {}});
  }
  for (auto& frame : split_frames(ingress)) {
    const auto correlation = static_cast<std::int32_t>(be32(frame));
    auto it = std::find_if(out.begin(), out.end(), [&](const Exchange& e) { return e.header.correlation_id == correlation; });
    EXPECT_NE(it, out.end()) << "response " << correlation << " answers no request";
    if (it != out.end()) it->response = std::move(frame);
  }
  return out;
}

std::vector<std::string> api_sequence(const std::vector<Exchange>& exchanges) {
  std::vector<std::string> out;
  for (const auto& e : exchanges) {
    out.push_back(std::string(api_info(e.header.api_key)->name) + " v" + std::to_string(e.header.api_version));
  }
  return out;
}

// One record a Produce request sent or a Fetch response delivered, as the wire has it.
struct WireRecord {
  std::int32_t partition = -1;
  std::int64_t offset = -1;  // Fetch: the record's offset; Produce: -1 (the broker assigns it)
  std::string key;
  Codec codec = Codec::None;
  std::int64_t value_size = -1;
  std::string traceparent;
  auto tie() const { return std::tie(partition, offset, key, codec, value_size, traceparent); }
  bool operator==(const WireRecord& o) const { return tie() == o.tie(); }
  bool operator<(const WireRecord& o) const { return tie() < o.tie(); }
};

std::ostream& operator<<(std::ostream& out, const WireRecord& r) {
  return out << "{p" << r.partition << " @" << r.offset << " " << r.key << " " << to_string(r.codec) << " "
             << r.value_size << " " << r.traceparent << "}";
}

void collect(const TopicData& topic, std::vector<WireRecord>& out) {
  for (const auto& part : topic.partitions) {
    EXPECT_FALSE(part.records.malformed);
    EXPECT_FALSE(part.records.truncated);
    EXPECT_EQ(part.records.decompress_failures, 0u);
    EXPECT_EQ(part.records.records.size(), part.records.record_count);
    for (const auto& info : part.records.records) {
      out.push_back({part.index, info.offset, info.key.value_or("<null>"), part.records.codec, info.value_size,
                     info.traceparent.value_or("")});
    }
  }
}

struct WireFacts {
  std::vector<WireRecord> records;  // sorted
  std::set<std::string> topic_names;
  std::set<std::string> topic_ids;
};

// Every record the connection's Produce requests sent (produce offsets stay -1).
WireFacts produced(std::string_view fixture) {
  WireFacts facts;
  for (const auto& e : exchanges_of(fixture)) {
    if (e.header.api_key != kProduce) continue;
    const auto req = decode_produce_request(e.request_body(), e.header.api_version, Limits{});
    EXPECT_FALSE(req.malformed || req.truncated);
    for (const auto& t : req.topics) {
      facts.topic_names.insert(t.name);
      collect(t, facts.records);
      for (auto& r : facts.records) r.offset = -1;
    }
  }
  std::sort(facts.records.begin(), facts.records.end());
  return facts;
}

// Every record the connection's Fetch responses delivered.
WireFacts fetched(std::string_view fixture) {
  WireFacts facts;
  for (const auto& e : exchanges_of(fixture)) {
    if (e.header.api_key != kFetch || e.response.empty()) continue;
    const auto resp = decode_fetch_response(e.response_body(), e.header.api_version, Limits{});
    EXPECT_FALSE(resp.malformed || resp.truncated);
    for (const auto& t : resp.topics) {
      if (!t.name.empty()) facts.topic_names.insert(t.name);
      if (!is_zero(t.topic_id)) facts.topic_ids.insert(to_string(t.topic_id));
      collect(t, facts.records);
    }
  }
  std::sort(facts.records.begin(), facts.records.end());
  return facts;
}

// ---- expectations ------------------------------------------------------------------------------

std::string link_source(const trace::Link& link) {
  for (const auto& a : link.attributes) {
    if (a.key == "zerotrace.link.source") return std::get<std::string>(a.value);
  }
  return {};
}

// The traceparent of each link, with its source: "record_header 00-...-...".
std::vector<std::string> links_of(const KafkaRecord& r) {
  std::vector<std::string> out;
  for (const auto& l : r.links) {
    out.push_back(link_source(l) + " 00-" + trace::to_hex(l.trace_id) + "-" + trace::to_hex(l.span_id) + "-" +
                  (l.trace_flags & trace::kTraceFlagSampled ? "01" : "00"));
  }
  return out;
}

std::vector<std::string> header_link(std::string_view traceparent) {
  return {"record_header " + std::string(traceparent)};
}

std::set<std::int32_t> partitions_of(const std::vector<KafkaRecord>& records) {
  std::set<std::int32_t> out;
  for (const auto& r : records) out.insert(r.partitions.begin(), r.partitions.end());
  return out;
}

std::uint64_t messages_of(const std::vector<KafkaRecord>& records) {
  std::uint64_t n = 0;
  for (const auto& r : records) n += r.message_count;
  return n;
}

// The requests of a recording that got no response: only the last, a Fetch (librdkafka's long
// poll, still waiting when kcat exited at the end of the partitions).
std::size_t unanswered(std::string_view fixture) {
  const auto exchanges = exchanges_of(fixture);
  std::size_t n = 0;
  for (std::size_t i = 0; i < exchanges.size(); ++i) {
    if (!exchanges[i].response.empty()) continue;
    ++n;
    EXPECT_EQ(i + 1, exchanges.size()) << "request " << i << " of " << fixture << " got no response";
    EXPECT_EQ(exchanges[i].header.api_key, kFetch);
  }
  return n;
}

void expect_clean(const ScenarioRun& run) {
  for (const auto& c : run.connections) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.catalog_delta.requests - c.catalog_delta.responses, unanswered(c.name));
    EXPECT_EQ(c.stats.parse_errors, 0u);
    EXPECT_EQ(c.stats.resyncs, 0u);
    EXPECT_EQ(c.stats.bytes_skipped, 0u);
    EXPECT_EQ(c.stats.unmatched_responses, 0u);
    EXPECT_EQ(c.stats.requests_evicted, 0u);
    EXPECT_EQ(c.catalog_delta.malformed_bodies, 0u);
    EXPECT_EQ(c.catalog_delta.truncated_bodies, 0u);
    EXPECT_EQ(c.catalog_delta.decompress_failures, 0u);
    for (const auto& r : c.records) {
      EXPECT_FALSE(r.truncated);
      EXPECT_TRUE(r.response_seen);
      EXPECT_EQ(r.error_code, 0);
      EXPECT_EQ(r.dropped_links, 0u);
    }
  }
}

// The send whose records got offsets [base, base + count) of `partition`, as the catalog has it.
void expect_send_offsets(Catalog& catalog, std::uint16_t port, const KafkaRecord& send, std::int32_t partition,
                         std::int64_t base, std::int64_t count) {
  SCOPED_TRACE("partition " + std::to_string(partition) + " base offset " + std::to_string(base));
  for (std::int64_t offset = base; offset < base + count; ++offset) {
    const auto found = catalog.find_send(broker(port), "orders", partition, offset);
    ASSERT_TRUE(found.has_value()) << "offset " << offset;
    EXPECT_EQ(found->span_id, send.identity.span_id);
  }
  if (base > 0) {
    EXPECT_FALSE(catalog.find_send(broker(port), "orders", partition, base - 1).has_value());
  }
  EXPECT_FALSE(catalog.find_send(broker(port), "orders", partition, base + count).has_value());
}

// ---- (a) kcat producing with each codec --------------------------------------------------------

struct CodecCase {
  std::string_view scenario;
  std::int32_t partition;
  Codec codec;
  std::string_view key_prefix;
  std::int64_t base_offset;
  std::int64_t value_bytes;
};

void PrintTo(const CodecCase& c, std::ostream* out) { *out << c.scenario; }

class KafkaFixtureCodecTest : public ::testing::TestWithParam<CodecCase> {};

TEST_P(KafkaFixtureCodecTest, OneProduceMakesOneSendWithItsTraceContextLinked) {
  const CodecCase& c = GetParam();
  const Scenario& s = scenario(c.scenario);
  Catalog catalog;
  const auto run = replay(s, catalog);
  expect_clean(run);
  EXPECT_EQ(api_sequence(exchanges_of(s.connections.front())),
            (std::vector<std::string>{"ApiVersions v3", "ApiVersions v0", "Metadata v2", "Produce v7"}));

  const auto sends = run.records(KafkaOperation::Send);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_TRUE(run.records(KafkaOperation::Fetch).empty());
  const KafkaRecord& send = sends.front();
  EXPECT_EQ(send.api_version, 7);
  EXPECT_EQ(send.topic, "orders");
  EXPECT_EQ(send.partitions, std::vector<std::int32_t>{c.partition});
  EXPECT_EQ(send.message_count, 2u);
  EXPECT_EQ(send.acks, -1);
  EXPECT_FALSE(send.offset.has_value());  // two messages: no single offset
  EXPECT_EQ(send.client_id, "rdkafka");
  EXPECT_EQ(send.cluster_id, "mockCluster156c059ffca8");
  // Both records carry the same traceparent (after decompression for the compressed codecs).
  EXPECT_EQ(links_of(send), header_link(kKcatParent));
  EXPECT_EQ(run.connections.front().catalog_delta.links_from_headers, 2u);
  ASSERT_TRUE(send.identity.assigned);
  expect_send_offsets(catalog, s.port, send, c.partition, c.base_offset, 2);

  // What the batch held, decoded directly.
  const WireFacts wire = produced(s.connections.front());
  EXPECT_EQ(wire.topic_names, std::set<std::string>{"orders"});
  const std::string k(c.key_prefix);
  EXPECT_EQ(wire.records, (std::vector<WireRecord>{
                              {c.partition, -1, k + "-1", c.codec, c.value_bytes, std::string(kKcatParent)},
                              {c.partition, -1, k + "-2", c.codec, c.value_bytes, std::string(kKcatParent)},
                          }));
}

INSTANTIATE_TEST_SUITE_P(Codecs, KafkaFixtureCodecTest,
                         ::testing::Values(CodecCase{"kcat_produce_none", 0, Codec::None, "none", 0, 2520},
                                           CodecCase{"kcat_produce_gzip", 1, Codec::Gzip, "gzip", 0, 2520},
                                           CodecCase{"kcat_produce_snappy", 2, Codec::Snappy, "snappy", 0, 2640},
                                           CodecCase{"kcat_produce_lz4", 0, Codec::Lz4, "lz4", 2, 2460},
                                           CodecCase{"kcat_produce_zstd", 1, Codec::Zstd, "zstd", 2, 2520}),
                         [](const ::testing::TestParamInfo<CodecCase>& param) {
                           return std::string(param.param.scenario);
                         });

// ---- (b) kcat group consumer -------------------------------------------------------------------

TEST(KafkaFixture, KcatConsumerFetchesTheTenRecordsAndNamesItsGroup) {
  const Scenario& s = scenario("kcat_consume");
  Catalog catalog;
  const auto run = replay(s, catalog);
  expect_clean(run);
  EXPECT_TRUE(run.connection("kcat_consume_group").records.empty());  // no Produce, no Fetch there
  EXPECT_TRUE(run.records(KafkaOperation::Send).empty());

  const auto fetches = run.connection("kcat_consume_fetch").records;
  ASSERT_FALSE(fetches.empty());
  for (const auto& f : fetches) {
    EXPECT_EQ(f.operation, KafkaOperation::Fetch);
    EXPECT_EQ(f.api_version, 11);
    EXPECT_EQ(f.topic, "orders");
    EXPECT_EQ(f.consumer_group, "zt-kcat-group");  // learned on the group connection
    EXPECT_EQ(f.cluster_id, "mockCluster156c059ffca8");
    EXPECT_EQ(links_of(f), header_link(kKcatParent));
  }
  EXPECT_EQ(messages_of(fetches), 10u);
  EXPECT_EQ(partitions_of(fetches), (std::set<std::int32_t>{0, 1, 2}));
  EXPECT_EQ(run.connection("kcat_consume_fetch").catalog_delta.links_from_headers, 10u);

  const std::string tp(kKcatParent);
  const WireFacts wire = fetched("kcat_consume_fetch");
  EXPECT_EQ(wire.topic_names, std::set<std::string>{"orders"});
  EXPECT_EQ(wire.records, (std::vector<WireRecord>{
                              {0, 0, "none-1", Codec::None, 2520, tp},
                              {0, 1, "none-2", Codec::None, 2520, tp},
                              {0, 2, "lz4-1", Codec::Lz4, 2460, tp},
                              {0, 3, "lz4-2", Codec::Lz4, 2460, tp},
                              {1, 0, "gzip-1", Codec::Gzip, 2520, tp},
                              {1, 1, "gzip-2", Codec::Gzip, 2520, tp},
                              {1, 2, "zstd-1", Codec::Zstd, 2520, tp},
                              {1, 3, "zstd-2", Codec::Zstd, 2520, tp},
                              {2, 0, "snappy-1", Codec::Snappy, 2640, tp},
                              {2, 1, "snappy-2", Codec::Snappy, 2640, tp},
                          }));
}

TEST(KafkaFixture, KcatFetchesLinkToTheSendsSeenOnTheSameNode) {
  // (a) and (b) ran against one mock: with the producers traced too, every fetched record
  // matches the send that produced it by (broker, topic, partition, offset).
  Catalog catalog;
  std::map<std::int32_t, std::set<std::string>> sends_by_partition;
  std::uint32_t pid = 1000;
  std::uint8_t first_span = 1;
  for (std::string_view name :
       {"kcat_produce_none", "kcat_produce_gzip", "kcat_produce_snappy", "kcat_produce_lz4", "kcat_produce_zstd"}) {
    const auto run = replay(scenario(name), catalog, {}, ++pid, first_span);
    first_span += 16;
    for (const auto& send : run.records(KafkaOperation::Send)) {
      sends_by_partition[send.partitions.at(0)].insert(trace::to_hex(send.identity.span_id));
    }
  }
  const auto run = replay(scenario("kcat_consume"), catalog, {}, 2000, 200);
  expect_clean(run);
  const auto fetches = run.records(KafkaOperation::Fetch);
  std::map<std::int32_t, std::set<std::string>> linked_by_partition;
  for (const auto& f : fetches) {
    std::set<std::string> linked;
    for (const auto& l : f.links) {
      if (link_source(l) == "same_node_send") linked.insert(trace::to_hex(l.span_id));
    }
    for (std::int32_t p : f.partitions) {
      for (const auto& span : linked) {
        if (sends_by_partition[p].count(span)) linked_by_partition[p].insert(span);
      }
    }
  }
  EXPECT_EQ(linked_by_partition, sends_by_partition);
  EXPECT_EQ(run.connection("kcat_consume_fetch").catalog_delta.links_from_sends, 10u);
}

// ---- (c) kafkajs -------------------------------------------------------------------------------

TEST(KafkaFixture, KafkajsProducesThreePartitionsInOneSend) {
  const Scenario& s = scenario("kafkajs_produce");
  Catalog catalog;
  const auto run = replay(s, catalog);
  expect_clean(run);
  EXPECT_EQ(api_sequence(exchanges_of("kafkajs_produce_produce")),
            (std::vector<std::string>{"ApiVersions v2", "Metadata v2", "Produce v7"}));
  const auto sends = run.records(KafkaOperation::Send);
  ASSERT_EQ(sends.size(), 1u);  // one topic: one record
  const KafkaRecord& send = sends.front();
  EXPECT_EQ(send.topic, "orders");
  EXPECT_EQ(std::set<std::int32_t>(send.partitions.begin(), send.partitions.end()), (std::set<std::int32_t>{0, 1, 2}));
  EXPECT_EQ(send.partitions.size(), 3u);
  EXPECT_EQ(send.message_count, 4u);
  EXPECT_EQ(send.cluster_id, "mockCluster158c7acf8ca8");
  EXPECT_EQ(links_of(send), header_link(kKafkajsParent));
  expect_send_offsets(catalog, s.port, send, 0, 0, 2);
  expect_send_offsets(catalog, s.port, send, 1, 0, 1);
  expect_send_offsets(catalog, s.port, send, 2, 0, 1);

  const std::string tp(kKafkajsParent);
  EXPECT_EQ(produced("kafkajs_produce_produce").records, (std::vector<WireRecord>{
                                                             {0, -1, "key-0", Codec::Gzip, 2000, tp},
                                                             {0, -1, "key-3", Codec::Gzip, 2000, tp},
                                                             {1, -1, "key-1", Codec::Gzip, 2000, tp},
                                                             {2, -1, "key-2", Codec::Gzip, 2000, tp},
                                                         }));
}

TEST(KafkaFixture, KafkajsConsumerFetchesFourRecordsAndNamesItsGroup) {
  const Scenario& s = scenario("kafkajs_consume");
  Catalog catalog;
  const auto run = replay(s, catalog);
  expect_clean(run);
  EXPECT_TRUE(run.connection("kafkajs_consume_group").records.empty());
  const auto fetches = run.connection("kafkajs_consume_fetch").records;
  ASSERT_EQ(fetches.size(), 1u);
  const KafkaRecord& f = fetches.front();
  EXPECT_EQ(f.operation, KafkaOperation::Fetch);
  EXPECT_EQ(f.api_version, 11);
  EXPECT_EQ(f.topic, "orders");
  EXPECT_EQ(f.message_count, 4u);
  EXPECT_EQ(std::set<std::int32_t>(f.partitions.begin(), f.partitions.end()), (std::set<std::int32_t>{0, 1, 2}));
  EXPECT_EQ(f.consumer_group, "zt-kafkajs-group");
  EXPECT_EQ(f.cluster_id, "mockCluster158c7acf8ca8");  // from the group connection's Metadata, same broker
  EXPECT_EQ(links_of(f), header_link(kKafkajsParent));

  const std::string tp(kKafkajsParent);
  EXPECT_EQ(fetched("kafkajs_consume_fetch").records, (std::vector<WireRecord>{
                                                          {0, 0, "key-0", Codec::Gzip, 2000, tp},
                                                          {0, 1, "key-3", Codec::Gzip, 2000, tp},
                                                          {1, 0, "key-1", Codec::Gzip, 2000, tp},
                                                          {2, 0, "key-2", Codec::Gzip, 2000, tp},
                                                      }));
}

// ---- (d) kafka-python --------------------------------------------------------------------------

TEST(KafkaFixture, KafkaPythonProducesFourRecords) {
  const Scenario& s = scenario("kafka_python_produce");
  Catalog catalog;
  const auto run = replay(s, catalog);
  expect_clean(run);
  EXPECT_TRUE(run.connection("kafka_python_produce_bootstrap").records.empty());
  // How kafka-python splits the records into Produce requests varies between recordings.
  const auto sends = run.records(KafkaOperation::Send);
  ASSERT_FALSE(sends.empty());
  for (const auto& send : sends) {
    EXPECT_EQ(send.api_version, 7);
    EXPECT_EQ(send.topic, "orders");
    EXPECT_EQ(links_of(send), header_link(kKafkaPythonParent));
    EXPECT_EQ(send.cluster_id, "");  // Metadata v0 and v1 carry no cluster id
  }
  EXPECT_EQ(messages_of(sends), 4u);
  EXPECT_EQ(partitions_of(sends), (std::set<std::int32_t>{0, 1, 2}));

  const std::string tp(kKafkaPythonParent);
  EXPECT_EQ(produced("kafka_python_produce_produce").records, (std::vector<WireRecord>{
                                                                  {0, -1, "key-0", Codec::None, 300, tp},
                                                                  {0, -1, "key-3", Codec::None, 300, tp},
                                                                  {1, -1, "key-1", Codec::None, 300, tp},
                                                                  {2, -1, "key-2", Codec::None, 300, tp},
                                                              }));
}

TEST(KafkaFixture, KafkaPythonGroupConnectionParsesTwoRequestsWrittenInOneSegment) {
  const auto exchanges = exchanges_of("kafka_python_consume_group1");
  EXPECT_EQ(api_sequence(exchanges),
            (std::vector<std::string>{"ApiVersions v0", "Metadata v0", "FindCoordinator v0", "Metadata v1"}));
  // The recording has FindCoordinator and Metadata in one egress segment.
  const auto recorded = load_fixture("kafka_python_consume_group1");
  const std::size_t both = exchanges[2].request.size() + 4 + exchanges[3].request.size() + 4;
  EXPECT_TRUE(std::any_of(recorded.begin(), recorded.end(), [&](const RecordedChunk& c) {
    return c.dir == Direction::Egress && c.data.size() == both;
  }));

  Catalog catalog;
  Scenario only_group1{"kafka_python_group1", {"kafka_python_consume_group1"}, kPythonMockPort};
  const auto run = replay(only_group1, catalog);
  expect_clean(run);
  const auto& delta = run.connection("kafka_python_consume_group1").catalog_delta;
  EXPECT_EQ(delta.requests, 4u);
  EXPECT_EQ(delta.responses, 4u);
  EXPECT_EQ(delta.metadata_responses, 2u);
  ASSERT_TRUE(exchanges[2].header.client_id.has_value());
  EXPECT_EQ(catalog.group(4242, *exchanges[2].header.client_id), "zt-kafka-python-group");
}

TEST(KafkaFixture, KafkaPythonConsumerFetchesWithFetchV4) {
  const Scenario& s = scenario("kafka_python_consume");
  Catalog catalog;
  const auto run = replay(s, catalog);
  expect_clean(run);
  const auto fetches = run.records(KafkaOperation::Fetch);
  ASSERT_FALSE(fetches.empty());
  EXPECT_TRUE(run.records(KafkaOperation::Send).empty());
  for (const auto& f : fetches) {
    EXPECT_EQ(f.api_version, 4);
    EXPECT_EQ(f.topic, "orders");
    EXPECT_EQ(f.consumer_group, "zt-kafka-python-group");
    EXPECT_EQ(links_of(f), header_link(kKafkaPythonParent));
  }
  EXPECT_EQ(messages_of(fetches), 4u);
  EXPECT_EQ(partitions_of(fetches), (std::set<std::int32_t>{0, 1, 2}));
  EXPECT_EQ(run.connection("kafka_python_consume_fetch").records.size(), fetches.size());

  const std::string tp(kKafkaPythonParent);
  EXPECT_EQ(fetched("kafka_python_consume_fetch").records, (std::vector<WireRecord>{
                                                               {0, 0, "key-0", Codec::None, 300, tp},
                                                               {0, 1, "key-3", Codec::None, 300, tp},
                                                               {1, 0, "key-1", Codec::None, 300, tp},
                                                               {2, 0, "key-2", Codec::None, 300, tp},
                                                           }));
}

// ---- (e) kcat on librdkafka 2.15.1 -------------------------------------------------------------

constexpr std::string_view kKcat215TopicId = "57bb3921-9561-4332-a710-889e645c6e61";
constexpr std::string_view kKcat215Cluster = "mockCluster1587863474a8";

TEST(KafkaFixture, Kcat215ProducesWithFlexibleProduceV10) {
  for (const auto& [name, partition, codec, key] :
       {std::tuple{"kcat215_produce_none", 0, Codec::None, "none"}, std::tuple{"kcat215_produce_gzip", 1, Codec::Gzip, "gzip"}}) {
    SCOPED_TRACE(name);
    const Scenario& s = scenario(name);
    Catalog catalog;
    const auto run = replay(s, catalog);
    expect_clean(run);
    EXPECT_TRUE(run.connections.front().records.empty());  // bootstrap: ApiVersions, Metadata v12
    EXPECT_EQ(api_sequence(exchanges_of(s.connections.front())),
              (std::vector<std::string>{"ApiVersions v3", "ApiVersions v0", "Metadata v12"}));
    const auto sends = run.records(KafkaOperation::Send);
    ASSERT_EQ(sends.size(), 1u);
    const KafkaRecord& send = sends.front();
    EXPECT_EQ(send.api_version, 10);
    EXPECT_EQ(send.topic, "orders");
    EXPECT_EQ(send.partitions, std::vector<std::int32_t>{partition});
    EXPECT_EQ(send.message_count, 2u);
    EXPECT_EQ(send.cluster_id, kKcat215Cluster);
    EXPECT_EQ(links_of(send), header_link(kKcat215Parent));
    expect_send_offsets(catalog, s.port, send, partition, 0, 2);
    // The bootstrap's Metadata v12 taught the topic id.
    TopicId id{};
    for (const auto& e : exchanges_of(s.connections.front())) {
      if (e.header.api_key != kMetadata) continue;
      const auto md = decode_metadata_response(e.response_body(), e.header.api_version, Limits{});
      ASSERT_EQ(md.topics.size(), 1u);
      EXPECT_EQ(md.topics.front().name, "orders");
      id = md.topics.front().topic_id;
      EXPECT_EQ(md.cluster_id, std::optional<std::string>(kKcat215Cluster));
    }
    EXPECT_EQ(to_string(id), kKcat215TopicId);
    EXPECT_EQ(catalog.topic_name(id), std::optional<std::string>("orders"));

    const std::string k(key);
    const std::int64_t value_bytes = 2520;
    EXPECT_EQ(produced(s.connections.back()).records,
              (std::vector<WireRecord>{{partition, -1, k + "-1", codec, value_bytes, std::string(kKcat215Parent)},
                                       {partition, -1, k + "-2", codec, value_bytes, std::string(kKcat215Parent)}}));
  }
}

TEST(KafkaFixture, Kcat215FetchV16NamesTheTopicByTheIdMetadataGave) {
  const Scenario& s = scenario("kcat215_consume");
  Catalog catalog;
  const auto run = replay(s, catalog);
  expect_clean(run);
  const auto fetches = run.connection("kcat215_consume_fetch").records;
  ASSERT_FALSE(fetches.empty());
  EXPECT_EQ(run.records(KafkaOperation::Fetch).size(), fetches.size());
  for (const auto& f : fetches) {
    EXPECT_EQ(f.api_version, 16);
    EXPECT_EQ(to_string(f.topic_id), kKcat215TopicId);
    EXPECT_EQ(f.topic, "orders");
    EXPECT_EQ(f.consumer_group, "zt-kcat215-group");
    EXPECT_EQ(f.cluster_id, kKcat215Cluster);
    EXPECT_EQ(links_of(f), header_link(kKcat215Parent));
  }
  EXPECT_EQ(messages_of(fetches), 4u);
  EXPECT_EQ(partitions_of(fetches), (std::set<std::int32_t>{0, 1}));
  EXPECT_EQ(catalog.stats().topic_ids_unresolved, 0u);

  const std::string tp(kKcat215Parent);
  const WireFacts wire = fetched("kcat215_consume_fetch");
  EXPECT_TRUE(wire.topic_names.empty());  // v16: by id only
  EXPECT_EQ(wire.topic_ids, std::set<std::string>{std::string(kKcat215TopicId)});
  EXPECT_EQ(wire.records, (std::vector<WireRecord>{
                              {0, 0, "none-1", Codec::None, 2520, tp},
                              {0, 1, "none-2", Codec::None, 2520, tp},
                              {1, 0, "gzip-1", Codec::Gzip, 2520, tp},
                              {1, 1, "gzip-2", Codec::Gzip, 2520, tp},
                          }));
}

TEST(KafkaFixture, Kcat215FetchWithoutMetadataLeavesTheTopicUnnamed) {
  // Only the fetch connection's Fetch v16 frames, with a catalog no Metadata taught: the id is
  // kept, the name stays empty and the lookup is counted.
  Catalog catalog;
  KafkaConnectionParser parser(Role::Client, false, ParserOptions{}, &catalog);
  std::string fetch_out, fetch_in;
  for (const auto& e : exchanges_of("kcat215_consume_fetch")) {
    if (e.header.api_key != kFetch) continue;
    auto framed = [](const std::string& frame) {
      std::string size(4, '\0');
      for (int i = 0; i < 4; ++i) size[i] = static_cast<char>((frame.size() >> (24 - 8 * i)) & 0xff);
      return size + frame;
    };
    fetch_out += framed(e.request);
    fetch_in += framed(e.response);
  }
  Chunk out;
  out.size = fetch_out.size();
  out.data = fetch_out;
  parser.on_chunk(Direction::Egress, out);
  Chunk in;
  in.size = fetch_in.size();
  in.data = fetch_in;
  parser.on_chunk(Direction::Ingress, in);
  std::uint64_t messages = 0;
  for (auto& record : parser.take_records()) {
    const auto& r = std::get<KafkaRecord>(record);
    EXPECT_EQ(r.topic, "");
    EXPECT_EQ(to_string(r.topic_id), kKcat215TopicId);
    messages += r.message_count;
  }
  EXPECT_EQ(messages, 4u);
  EXPECT_GT(catalog.stats().topic_ids_unresolved, 0u);
}

TEST(KafkaFixture, Kcat215FetchesLinkToTheSendsSeenOnTheSameNode) {
  // The fetch names the topic by id; resolved, it matches the sends remembered by name.
  Catalog catalog;
  replay(scenario("kcat215_produce_none"), catalog, {}, 3001, 1);
  replay(scenario("kcat215_produce_gzip"), catalog, {}, 3002, 32);
  const auto run = replay(scenario("kcat215_consume"), catalog, {}, 3003, 64);
  expect_clean(run);
  EXPECT_EQ(run.connection("kcat215_consume_fetch").catalog_delta.links_from_sends, 4u);
}

// ---- every fixture, re-cut and capture-limited -------------------------------------------------

TEST(KafkaFixture, EveryFixtureBelongsToAScenario) {
  std::set<std::string> replayed;
  for (const auto& s : scenarios()) {
    for (auto name : s.connections) replayed.insert(std::string(name));
  }
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(ZT_FIXTURES_DIR) + "/kafka")) {
    if (entry.path().extension() == ".json") files.insert(entry.path().stem().string());
  }
  EXPECT_EQ(files, replayed);
}

// Everything a record says but its times and thread (which follow how the bytes were cut).
std::string summary(const KafkaRecord& r) {
  std::ostringstream out;
  out << (r.operation == KafkaOperation::Send ? "send" : "fetch") << " v" << r.api_version << " #" << r.correlation_id
      << " " << r.client_id << " " << r.topic << " " << to_string(r.topic_id) << " [";
  for (auto p : r.partitions) out << p << ",";
  out << "] n=" << r.message_count << " off=" << (r.offset ? std::to_string(*r.offset) : "-")
      << " key=" << r.key.value_or("-") << " tomb=" << r.tombstone << " err=" << r.error_code << " acks=" << r.acks
      << " resp=" << r.response_seen << " trunc=" << r.truncated << " group=" << r.consumer_group
      << " cluster=" << r.cluster_id << " sw=" << r.client_software << " bytes=" << r.request_bytes << "/"
      << r.response_bytes << " links=";
  for (const auto& l : links_of(r)) out << l << ";";
  for (const auto& [k, v] : r.context_headers) out << " " << k << "=" << v;
  return out.str();
}

class KafkaFixtureReplayTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(KafkaFixtureReplayTest, ClientReadAndWriteShapesMakeTheSameRecords) {
  // librdkafka reads a response's 8 header bytes, then the rest; the Java client writes a
  // request's 4-byte size, then the rest.
  Catalog whole_catalog;
  const auto whole = replay(GetParam(), whole_catalog);
  expect_clean(whole);
  Shape shape;
  shape.ingress_head = 8;
  shape.egress_head = 4;
  Catalog cut_catalog;
  const auto cut = replay(GetParam(), cut_catalog, shape);
  expect_clean(cut);
  ASSERT_EQ(cut.connections.size(), whole.connections.size());
  for (std::size_t i = 0; i < whole.connections.size(); ++i) {
    SCOPED_TRACE(whole.connections[i].name);
    std::vector<std::string> a, b;
    for (const auto& r : whole.connections[i].records) a.push_back(summary(r));
    for (const auto& r : cut.connections[i].records) b.push_back(summary(r));
    EXPECT_EQ(b, a);
  }
}

// A capture-limited replay against the whole one: the framing holds, every record is still
// made, and what it says is what was captured (counts are lower bounds).
void expect_capture_keeps_framing(const Scenario& s, const Shape& shape) {
  Catalog whole_catalog;
  const auto whole = replay(s, whole_catalog);
  Catalog cut_catalog;
  const auto cut = replay(s, cut_catalog, shape);
  ASSERT_EQ(cut.connections.size(), whole.connections.size());
  for (std::size_t i = 0; i < whole.connections.size(); ++i) {
    const auto& w = whole.connections[i];
    const auto& c = cut.connections[i];
    SCOPED_TRACE(w.name);
    EXPECT_EQ(c.stats.parse_errors, 0u);
    EXPECT_EQ(c.stats.resyncs, 0u);
    EXPECT_EQ(c.stats.unmatched_responses, 0u);
    // A cut body is truncated, never malformed, and a cut compressed stream is no corrupt one.
    EXPECT_EQ(c.catalog_delta.malformed_bodies, 0u);
    EXPECT_EQ(c.catalog_delta.decompress_failures, 0u);
    EXPECT_EQ(c.catalog_delta.requests, w.catalog_delta.requests);
    EXPECT_EQ(c.catalog_delta.responses, w.catalog_delta.responses);
    ASSERT_EQ(c.records.size(), w.records.size());
    for (std::size_t j = 0; j < w.records.size(); ++j) {
      const KafkaRecord& full = w.records[j];
      const KafkaRecord& part = c.records[j];
      SCOPED_TRACE(summary(full));
      EXPECT_EQ(part.operation, full.operation);
      EXPECT_EQ(part.api_version, full.api_version);
      EXPECT_EQ(part.correlation_id, full.correlation_id);
      EXPECT_EQ(part.topic, full.topic);
      EXPECT_EQ(part.topic_id, full.topic_id);
      EXPECT_EQ(part.consumer_group, full.consumer_group);
      EXPECT_EQ(part.cluster_id, full.cluster_id);
      EXPECT_EQ(part.request_bytes, full.request_bytes);  // sizes come from the frame headers
      EXPECT_EQ(part.response_bytes, full.response_bytes);
      EXPECT_TRUE(part.response_seen);
      EXPECT_EQ(part.error_code, 0);
      // Counts are lower bounds: partitions and messages past the cut are unseen.
      for (auto p : part.partitions) {
        EXPECT_NE(std::find(full.partitions.begin(), full.partitions.end(), p), full.partitions.end());
      }
      EXPECT_LE(part.message_count, full.message_count);
      EXPECT_GE(part.message_count, 1u);  // a record is made only for delivered or sent messages
      for (const auto& link : part.links) {
        EXPECT_NE(std::find_if(full.links.begin(), full.links.end(),
                               [&](const trace::Link& l) { return l.span_id == link.span_id; }),
                  full.links.end());
      }
      if (!part.truncated) {
        EXPECT_EQ(summary(part), summary(full));
      }
    }
  }
}

TEST_P(KafkaFixtureReplayTest, OneKibibyteCaptureKeepsTheFramingAndWhatWasCaptured) {
  // The kernel copied the first 1024 bytes of each call; `size` still says how many it moved.
  Shape shape;
  shape.capture_limit = 1024;
  expect_capture_keeps_framing(GetParam(), shape);
}

TEST_P(KafkaFixtureReplayTest, FramesReadInSeveralCapturedPrefixesKeepOnlyTheFirst) {
  // Reads of 1500 bytes, 600 of each captured: a frame over several reads has holes, and the
  // bytes after the first hole are not the ones that follow the kept prefix.
  Shape shape;
  shape.piece_bytes = 1500;
  shape.capture_limit = 600;
  expect_capture_keeps_framing(GetParam(), shape);
}

INSTANTIATE_TEST_SUITE_P(Scenarios, KafkaFixtureReplayTest, ::testing::ValuesIn(scenarios()),
                         [](const ::testing::TestParamInfo<Scenario>& param) { return std::string(param.param.name); });

// Walks a Produce request body (v3+, no topic ids) to its record batches, independently of
// kafka_wire.h: for each batch, where its 61-byte header ends (from the body's start) and its
// recordsCount.
struct BatchAt {
  std::size_t header_end;
  std::int32_t partition;
  std::uint32_t records;
};

std::vector<BatchAt> produce_batches(std::string_view body, std::int16_t version) {
  const bool flexible = version >= 9;
  std::size_t p = 0;
  auto u8 = [&] { return static_cast<std::uint8_t>(body.at(p++)); };
  auto i16 = [&] {
    p += 2;
    return static_cast<std::int16_t>((static_cast<std::uint8_t>(body.at(p - 2)) << 8) | static_cast<std::uint8_t>(body.at(p - 1)));
  };
  auto i32 = [&] {
    p += 4;
    return static_cast<std::int32_t>(be32(body.substr(p - 4)));
  };
  auto uvarint = [&] {
    std::uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      const std::uint8_t b = u8();
      v |= std::uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) return v;
    }
  };
  auto length = [&](bool wide) -> std::int64_t {  // string (int16) or bytes (int32), or compact
    if (flexible) return static_cast<std::int64_t>(uvarint()) - 1;
    return wide ? i32() : i16();
  };
  auto skip_tags = [&] {
    if (!flexible) return;
    for (auto n = uvarint(); n > 0; --n) {
      uvarint();
      p += uvarint();
    }
  };
  std::vector<BatchAt> out;
  if (const auto n = length(false); n > 0) p += static_cast<std::size_t>(n);  // transactional_id
  i16();                                                                    // acks
  i32();                                                                    // timeout
  for (auto topics = flexible ? uvarint() - 1 : static_cast<std::uint64_t>(i32()); topics > 0; --topics) {
    p += static_cast<std::size_t>(length(false));  // name
    for (auto parts = flexible ? uvarint() - 1 : static_cast<std::uint64_t>(i32()); parts > 0; --parts) {
      const std::int32_t index = i32();
      const std::int64_t size = length(true);
      const std::size_t end = p + static_cast<std::size_t>(std::max<std::int64_t>(size, 0));
      while (p + 61 <= end) {
        const std::size_t batch = p;
        p += 8;
        const std::int32_t batch_length = i32();
        out.push_back({batch + 61, index, be32(body.substr(batch + 57))});
        p = batch + 12 + static_cast<std::size_t>(batch_length);
      }
      p = end;
      skip_tags();
    }
    skip_tags();
  }
  return out;
}

TEST(KafkaFixture, OneKibibyteCaptureCountsTheBatchesWhoseHeaderWasCaptured) {
  // Each Produce request here is written in one segment: of its 1024 captured bytes, the batches
  // whose header lies within count all their records; a batch header past the cut is unseen.
  constexpr std::size_t kLimit = 1024;
  Shape shape;
  shape.capture_limit = kLimit;
  std::size_t cut_batches = 0;
  for (const auto& s : scenarios()) {
    for (std::string_view name : s.connections) {
      const auto recorded = load_fixture(name);
      // Where each egress segment starts in the stream, and where each request frame starts.
      std::vector<std::pair<std::uint64_t, std::uint64_t>> segments;  // [start, start + size)
      std::string egress;
      for (const auto& c : recorded) {
        if (c.dir != Direction::Egress) continue;
        segments.emplace_back(egress.size(), egress.size() + c.data.size());
        egress += c.data;
      }
      std::map<std::int32_t, std::uint64_t> expected;  // correlation id -> messages
      std::uint64_t frame_start = 0;
      for (const auto& e : exchanges_of(name)) {
        const std::uint64_t frame_end = frame_start + 4 + e.request.size();
        if (e.header.api_key == kProduce) {
          SCOPED_TRACE(std::string(name) + " #" + std::to_string(e.header.correlation_id));
          const auto seg = std::find_if(segments.begin(), segments.end(),
                                        [&](const auto& sg) { return sg.first <= frame_start && frame_end <= sg.second; });
          ASSERT_NE(seg, segments.end()) << "the Produce request spans segments";
          const std::uint64_t captured_end = seg->first + kLimit;
          const std::uint64_t body_start = frame_start + 4 + e.header.length;
          std::uint64_t n = 0;
          for (const auto& b : produce_batches(std::string_view(e.request).substr(e.header.length), e.header.api_version)) {
            if (body_start + b.header_end <= captured_end) {
              n += b.records;
            } else {
              ++cut_batches;
            }
          }
          expected[e.header.correlation_id] = n;
        }
        frame_start = frame_end;
      }
      if (expected.empty()) continue;
      Catalog catalog;
      Scenario one{s.name, {name}, s.port};
      std::map<std::int32_t, std::uint64_t> actual;
      const auto run = replay(one, catalog, shape);
      for (const auto& r : run.connections.front().records) {
        if (r.operation == KafkaOperation::Send) actual[r.correlation_id] += r.message_count;
      }
      EXPECT_EQ(actual, expected) << name;
    }
  }
  EXPECT_GT(cut_batches, 0u);  // kafka-python's request: its third batch starts past the cut
}

}  // namespace
}  // namespace zt::protocols::kafka
