// Kafka end to end: real clients (kcat, kafkajs, kafka-python, kafkajs with the OpenTelemetry JS
// SDK) against librdkafka's mock cluster run as a process of its own (tests/workloads/kafka), traced
// by the agent through syscalls only. No real broker or Java client runs on these machines
// (docs/testing.md): the mocks speak Produce <= 7 / Fetch <= 11 (librdkafka 2.0.2) and Produce 10 /
// Fetch 16 with topic ids (2.15.1, built by scripts/setup.sh).
//
// The three ways a trace crosses the broker (docs/protocols.md, Kafka) each have a test:
//   - records carrying `traceparent` (kcat -H, the OTel kafkajs instrumentation): fetch links;
//   - an uninstrumented producer and consumer on this node: links (and, for one message, the
//     parent) by the offsets the Produce response gave;
//   - work the consumer does after a fetch, on the thread that fetched (kafkajs): its children.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

constexpr const char* kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kSpanId = "00f067aa0ba902b7";
const std::string kTraceparent = std::string("00-") + kTraceId + "-" + kSpanId + "-01";

// The mock cluster binaries, or why there is none: a test fails in CI without one, skips elsewhere.
#define ZT_REQUIRE_MOCK(binary)                                                                       \
  do {                                                                                                \
    if ((binary).empty()) {                                                                           \
      if (::zt::testing::in_ci()) FAIL() << "CI=true but the Kafka mock was not built (scripts/setup.sh)"; \
      GTEST_SKIP() << "*** NOT RUN: the Kafka mock was not built (librdkafka missing; scripts/setup.sh) ***"; \
    }                                                                                                 \
  } while (0)

std::string mock_binary() {
#ifdef ZT_KAFKA_MOCK
  return ZT_KAFKA_MOCK;
#else
  return {};
#endif
}
std::string mock_2_15_binary() {
#ifdef ZT_KAFKA_MOCK_2_15
  return ZT_KAFKA_MOCK_2_15;
#else
  return {};
#endif
}
std::string librdkafka_2_15_libdir() {
#ifdef ZT_LIBRDKAFKA_2_15_LIBDIR
  return ZT_LIBRDKAFKA_2_15_LIBDIR;
#else
  return {};
#endif
}

// A mock cluster of one broker with topic `orders` (3 partitions), until destroyed.
class MockCluster {
 public:
  explicit MockCluster(const std::string& binary) : process_({binary, "orders:3"}) {
    auto line = process_.wait_for_line(Stream::Out, std::regex(R"(^\S+:\d+$)"));
    if (!line) throw std::runtime_error("the Kafka mock printed no bootstrap address: " + process_.output(Stream::Err));
    bootstrap_ = *line;
  }
  const std::string& bootstrap() const { return bootstrap_; }
  std::uint16_t port() const { return static_cast<std::uint16_t>(std::stoi(bootstrap_.substr(bootstrap_.rfind(':') + 1))); }

 private:
  Subprocess process_;
  std::string bootstrap_;
};

std::string kafkajs(std::string_view script) { return workload(std::string("kafka/") + std::string(script)); }

std::string str(const Json& v) { return v.is_string() ? v.get<std::string>() : std::string(); }
std::int64_t num(const Json& v) { return v.is_number_integer() ? v.get<std::int64_t>() : -1; }

std::vector<Json> named(const std::vector<Json>& spans, const std::string& name) {
  std::vector<Json> out;
  for (const auto& s : spans) {
    if (s["name"] == name) out.push_back(s);
  }
  return out;
}

std::vector<Json> links_of(const Json& span) {
  std::vector<Json> out;
  if (span.contains("links")) {
    for (const auto& l : span["links"]) out.push_back(l);
  }
  return out;
}

// Records of about 2.5 KB (so librdkafka keeps the compression), "key:value" per line for kcat -K :.
std::filesystem::path write_kcat_input(const TempDir& dir, const std::string& codec) {
  const auto path = dir / ("input-" + codec + ".txt");
  std::ofstream out(path);
  for (int i = 1; i <= 2; ++i) {
    out << codec << "-" << i << ":";
    for (int j = 0; j < 100; ++j) out << "{\"n\":" << j << ",\"codec\":\"" << codec << "\"},";
    out << "\n";
  }
  return path;
}

TEST(Kafka, KcatSendsWithEveryCodecAndItsFetchesLinkToTheContextTheRecordsCarry) {
  ZT_REQUIRE_ROOT();
  ZT_REQUIRE_MOCK(mock_binary());
  MockCluster mock(mock_binary());
  TempDir dir;
  const std::vector<std::string> codecs{"none", "gzip", "snappy", "lz4", "zstd"};
  for (const auto& codec : codecs) {
    SCOPED_TRACE(codec);
    Agent agent = Agent::exec({"kcat", "-b", mock.bootstrap(), "-P", "-t", "orders", "-p", "0", "-K", ":", "-z", codec,
                               "-H", "traceparent=" + kTraceparent, "-l", write_kcat_input(dir, codec).string()});
    const auto spans = agent.wait_exit();
    EXPECT_EQ(agent.exit_status(), 0) << agent.log();
    // librdkafka batches what it has within its linger time: one Produce of both records, or two.
    const auto sends = named(spans, "send orders");
    ASSERT_FALSE(sends.empty()) << agent.log();
    std::int64_t messages = 0;
    for (const Json& s : sends) {
      messages += attr(s, "messaging.batch.message_count").is_null() ? 1 : num(attr(s, "messaging.batch.message_count"));
      EXPECT_EQ(s["kind"], "CLIENT");
      EXPECT_EQ(attr(s, "messaging.system"), "kafka");
      EXPECT_EQ(attr(s, "messaging.operation.type"), "send");
      EXPECT_EQ(attr(s, "messaging.destination.partition.id"), "0");
      EXPECT_EQ(attr(s, "messaging.client.id"), "rdkafka");
      EXPECT_EQ(attr(s, "server.port"), mock.port());
      EXPECT_EQ(attr(s, "zerotrace.kafka.api_version"), 7);  // the 2.0.2 mock's newest Produce
      EXPECT_NE(str(attr(s, "zerotrace.kafka.client_software")).find("librdkafka"), std::string::npos);
      EXPECT_TRUE(str(attr(s, "messaging.kafka.cluster.id")).starts_with("mockCluster"));
      EXPECT_EQ(s["status"]["code"], "UNSET");
      // Every record carries the same creation context, compressed with the batch but for `none`.
      const auto links = links_of(s);
      ASSERT_EQ(links.size(), 1u) << s.dump();
      EXPECT_EQ(links[0]["trace_id"], kTraceId);
      EXPECT_EQ(links[0]["span_id"], kSpanId);
      EXPECT_EQ(links[0]["attributes"]["zerotrace.link.source"], "record_header");
    }
    EXPECT_EQ(messages, 2);
  }

  // A plain consumer reads the ten records back (two per codec).
  Agent consumer = Agent::exec(
      {"kcat", "-b", mock.bootstrap(), "-C", "-t", "orders", "-p", "0", "-o", "beginning", "-e", "-f", "%o %k\\n"});
  const auto spans = consumer.wait_exit();
  EXPECT_EQ(consumer.exit_status(), 0) << consumer.log();
  const std::string out = consumer.process().output(Stream::Out);
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 10) << out;
  const auto fetches = named(spans, "fetch orders");
  ASSERT_FALSE(fetches.empty()) << consumer.log();
  std::int64_t messages = 0;
  for (const auto& f : fetches) {
    const std::int64_t n = attr(f, "messaging.batch.message_count").is_null() ? 1 : num(attr(f, "messaging.batch.message_count"));
    messages += n;
    EXPECT_EQ(attr(f, "messaging.operation.type"), "receive");
    EXPECT_EQ(attr(f, "messaging.destination.partition.id"), "0");
    EXPECT_EQ(attr(f, "zerotrace.kafka.api_version"), 11);
    const auto links = links_of(f);
    ASSERT_EQ(links.size(), 1u) << f.dump();
    EXPECT_EQ(links[0]["span_id"], kSpanId);
    if (n == 1) {
      // One message: its creation context is the fetch's parent as well.
      EXPECT_EQ(f["trace_id"], kTraceId);
      EXPECT_EQ(f["parent_span_id"], kSpanId);
    } else {
      // Several: links only. And never the child of the fetch before it (same broker thread).
      EXPECT_EQ(f["parent_span_id"], "") << f.dump();
    }
  }
  EXPECT_EQ(messages, 10);
  const auto stats = consumer.stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->get("kafka.decompress_failures"), 0u);
  EXPECT_EQ(stats->get("kafka.malformed_bodies"), 0u);
  EXPECT_GE(stats->get("kafka.links_from_headers"), fetches.size());
}

// A kafkajs consumer (--wait-go: connects when told) and producer, both attached by one agent.
struct KafkajsPair {
  KafkajsPair(const MockCluster& mock, const std::string& group, int count, const std::vector<std::string>& producer_args,
              const std::string& http_url)
      : consumer([&] {
          std::vector<std::string> argv{"node",    kafkajs("kafkajs_consumer.js"), "--bootstrap", mock.bootstrap(),
                                        "--topic", "orders", "--group", group, "--count", std::to_string(count),
                                        "--wait-go"};
          if (!http_url.empty()) {
            argv.push_back("--http-per-message");
            argv.push_back(http_url);
          }
          return argv;
        }(), SubprocessOptions{{}, true}),
        producer([&] {
          std::vector<std::string> argv{"node",    kafkajs("kafkajs_producer.js"), "--bootstrap", mock.bootstrap(),
                                        "--topic", "orders", "--wait-go"};
          argv.insert(argv.end(), producer_args.begin(), producer_args.end());
          return argv;
        }(), SubprocessOptions{{}, true}) {}

  // Attaches, lets the consumer join and the producer send, and returns every span once the
  // consumer has read `count` messages.
  std::vector<Json> run(std::vector<std::string> agent_args = {}) {
    if (!consumer.wait_for_line(Stream::Out, "READY")) throw std::runtime_error("consumer: " + consumer.output(Stream::Err));
    if (!producer.wait_for_line(Stream::Out, "READY")) throw std::runtime_error("producer: " + producer.output(Stream::Err));
    Agent agent = Agent::attach({consumer.pid(), producer.pid()}, std::move(agent_args));
    consumer.write_stdin("go\n");
    consumer.close_stdin();
    if (!consumer.wait_for_line(Stream::Out, "JOINED")) throw std::runtime_error("join: " + consumer.output(Stream::Err));
    producer.write_stdin("go\n");
    producer.close_stdin();
    if (!consumer.wait_for_line(Stream::Out, "\"done\":true", Millis(30000))) {
      throw std::runtime_error("consume: " + consumer.output(Stream::Out) + consumer.output(Stream::Err));
    }
    // kafkajs leaves its group and closes its connections before exiting: seconds, on the mock.
    EXPECT_EQ(producer.wait(Millis(30000)), 0) << producer.output(Stream::Err);
    EXPECT_EQ(consumer.wait(Millis(30000)), 0) << consumer.output(Stream::Err);
    spans = agent.stop();
    log = agent.log();
    return spans;
  }

  // What the producer says it sent: key -> (partition, offset).
  std::map<std::string, std::pair<int, std::int64_t>> sent() const {
    std::map<std::string, std::pair<int, std::int64_t>> out;
    std::istringstream lines(producer.output(Stream::Out));
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line.front() != '{') continue;
      const Json report = Json::parse(line);  // (not a temporary in the range: it would die first)
      for (const auto& m : report["messages"]) {
        out[m["key"].get<std::string>()] = {m["partition"].get<int>(), m["offset"].get<std::int64_t>()};
      }
    }
    return out;
  }

  Subprocess consumer;
  Subprocess producer;
  std::vector<Json> spans;
  std::string log;
};

TEST(Kafka, KafkajsPairOnOneNodeLinksFetchesToSendsWithoutHeadersAndTheConsumersWorkJoinsTheFetch) {
  ZT_REQUIRE_ROOT();
  ZT_REQUIRE_MOCK(mock_binary());
  MockCluster mock(mock_binary());
  ReadyServer downstream(ReadyServer::python());  // what the consumer calls per message (not traced)
  const TimeWindow window_start{unix_now_ns()};
  KafkajsPair pair(mock, "zt-billing", 3, {"--count", "3", "--separate"}, downstream.url("/process"));
  const auto spans = sorted_by_start(pair.run());
  const TimeWindow window{window_start.begin_ns, unix_now_ns()};
  expect_well_formed(spans, window, {pair.consumer.pid(), pair.producer.pid()});

  // One send per message, each with its partition and the offset the broker gave it.
  const auto sent = pair.sent();
  ASSERT_EQ(sent.size(), 3u) << pair.producer.output(Stream::Out);
  std::map<std::string, Json> send_by_span;
  for (const auto& s : named(spans, "send orders")) {
    ASSERT_EQ(num(res(s, "process.pid")), pair.producer.pid());
    const std::string key = str(attr(s, "messaging.kafka.message.key"));
    ASSERT_TRUE(sent.contains(key)) << s.dump();
    EXPECT_EQ(attr(s, "messaging.destination.partition.id"), std::to_string(sent.at(key).first));
    EXPECT_EQ(attr(s, "messaging.kafka.offset"), sent.at(key).second);
    EXPECT_EQ(attr(s, "messaging.client.id"), "zt-kafkajs-producer");
    send_by_span[s["span_id"]] = s;
  }
  ASSERT_EQ(send_by_span.size(), 3u) << pair.log;

  // The consumer's fetches link to exactly those sends: no header in the records at all.
  std::set<std::string> linked;
  std::set<std::string> fetch_ids;
  std::map<std::string, std::string> fetch_trace;
  for (const auto& f : named(spans, "fetch orders")) {
    ASSERT_EQ(num(res(f, "process.pid")), pair.consumer.pid());
    EXPECT_EQ(attr(f, "messaging.consumer.group.name"), "zt-billing");
    EXPECT_EQ(attr(f, "messaging.client.id"), "zt-kafkajs-consumer");
    for (const auto& l : links_of(f)) {
      EXPECT_EQ(l["attributes"]["zerotrace.link.source"], "same_node_send");
      ASSERT_TRUE(send_by_span.contains(l["span_id"])) << l.dump();
      EXPECT_EQ(l["trace_id"], send_by_span[l["span_id"]]["trace_id"]);
      linked.insert(l["span_id"]);
    }
    fetch_ids.insert(f["span_id"]);
    fetch_trace[f["span_id"]] = f["trace_id"];
  }
  ASSERT_FALSE(fetch_ids.empty()) << pair.log;
  EXPECT_EQ(linked.size(), 3u) << pair.log;

  // ApiVersions, Metadata, the group APIs, heartbeats and empty long-poll fetches make no span.
  for (const auto& s : spans) {
    const std::string name = s["name"];
    EXPECT_TRUE(name == "send orders" || name == "fetch orders" || name == "GET /process") << name;
  }

  // Each GET the handler made is a child of the fetch that delivered its message, in its trace.
  const auto gets = named(spans, "GET /process");
  ASSERT_EQ(gets.size(), 3u) << pair.log;
  for (const auto& g : gets) {
    EXPECT_EQ(num(res(g, "process.pid")), pair.consumer.pid());
    ASSERT_TRUE(fetch_ids.contains(g["parent_span_id"])) << g.dump();
    EXPECT_EQ(g["trace_id"], fetch_trace[g["parent_span_id"]]);
  }
}

TEST(Kafka, OneMessageCrossesTheBrokerAsOneTraceFromSendToTheConsumersCall) {
  ZT_REQUIRE_ROOT();
  ZT_REQUIRE_MOCK(mock_binary());
  MockCluster mock(mock_binary());
  ReadyServer downstream(ReadyServer::python());
  KafkajsPair pair(mock, "zt-single", 1, {"--count", "1", "--partition", "1"}, downstream.url("/process"));
  const auto spans = pair.run();
  const auto sends = named(spans, "send orders");
  const auto fetches = named(spans, "fetch orders");
  const auto gets = named(spans, "GET /process");
  ASSERT_EQ(sends.size(), 1u) << pair.log;
  ASSERT_EQ(fetches.size(), 1u) << pair.log;
  ASSERT_EQ(gets.size(), 1u) << pair.log;
  // send -> fetch -> GET: one trace across two processes and the broker, with nothing injected.
  EXPECT_EQ(fetches[0]["trace_id"], sends[0]["trace_id"]);
  EXPECT_EQ(fetches[0]["parent_span_id"], sends[0]["span_id"]);
  EXPECT_EQ(attr(fetches[0], "messaging.kafka.offset"), attr(sends[0], "messaging.kafka.offset"));
  EXPECT_EQ(attr(fetches[0], "messaging.destination.partition.id"), "1");
  EXPECT_EQ(gets[0]["trace_id"], sends[0]["trace_id"]);
  EXPECT_EQ(gets[0]["parent_span_id"], fetches[0]["span_id"]);
}

TEST(Kafka, FetchesLinkToTheSendSpansOfTheOpenTelemetryKafkajsInstrumentation) {
  ZT_REQUIRE_ROOT();
  ZT_REQUIRE_MOCK(mock_binary());
  MockCluster mock(mock_binary());
  TempDir dir;
  const auto sdk_spans_file = dir / "sdk-spans.jsonl";
  // The instrumented producer is not traced: its records carry the SDK's send contexts.
  const Completed produced =
      run_to_completion({"node", kafkajs("otel_kafkajs_producer.js"), "--bootstrap", mock.bootstrap(), "--topic",
                         "orders", "--spans", sdk_spans_file.string(), "--count", "3", "--parent"});
  ASSERT_EQ(produced.status, 0) << produced.err;
  std::map<std::string, std::string> sdk_sends;  // span id -> trace id
  std::string batch_span;
  for (const auto& s : read_jsonl(sdk_spans_file)) {
    if (s["name"] == "produce-batch") batch_span = s["span_id"];
  }
  for (const auto& s : read_jsonl(sdk_spans_file)) {
    if (s["name"] != "send orders") continue;
    sdk_sends[s["span_id"]] = s["trace_id"];
    EXPECT_EQ(s["parent_span_id"], batch_span) << "the SDK's own chain stays intact";
  }
  ASSERT_EQ(sdk_sends.size(), 3u);

  Agent agent = Agent::exec({"node", kafkajs("kafkajs_consumer.js"), "--bootstrap", mock.bootstrap(), "--topic",
                             "orders", "--group", "zt-otel", "--count", "3"});
  const auto spans = agent.wait_exit(Millis(30000));
  EXPECT_EQ(agent.exit_status(), 0) << agent.log();
  std::map<std::string, std::string> linked;
  for (const auto& f : named(spans, "fetch orders")) {
    for (const auto& l : links_of(f)) {
      EXPECT_EQ(l["attributes"]["zerotrace.link.source"], "record_header");
      linked[l["span_id"]] = l["trace_id"];
    }
    EXPECT_EQ(attr(f, "messaging.consumer.group.name"), "zt-otel");
  }
  EXPECT_EQ(linked, sdk_sends) << agent.log();
}

TEST(Kafka, FlexibleVersionsAndTopicIdsWithLibrdkafka215) {
  ZT_REQUIRE_ROOT();
  ZT_REQUIRE_MOCK(mock_2_15_binary());
  MockCluster mock(mock_2_15_binary());
  TempDir dir;
  const std::string env = "LD_LIBRARY_PATH=" + librdkafka_2_15_libdir();
  Agent producer = Agent::exec({"env", env, "kcat", "-b", mock.bootstrap(), "-P", "-t", "orders", "-p", "2", "-K", ":",
                                "-z", "gzip", "-H", "traceparent=" + kTraceparent, "-l",
                                write_kcat_input(dir, "gzip").string()});
  const auto sent = producer.wait_exit();
  ASSERT_EQ(producer.exit_status(), 0) << producer.log();
  const auto sends = named(sent, "send orders");
  ASSERT_EQ(sends.size(), 1u) << producer.log();
  EXPECT_EQ(attr(sends[0], "zerotrace.kafka.api_version"), 10);  // flexible
  EXPECT_EQ(attr(sends[0], "messaging.batch.message_count"), 2);
  ASSERT_EQ(links_of(sends[0]).size(), 1u);
  EXPECT_EQ(links_of(sends[0])[0]["span_id"], kSpanId);

  Agent consumer = Agent::exec({"env", env, "kcat", "-b", mock.bootstrap(), "-C", "-t", "orders", "-p", "2", "-o",
                                "beginning", "-e"});
  const auto spans = consumer.wait_exit();
  ASSERT_EQ(consumer.exit_status(), 0) << consumer.log();
  // Fetch v16 names the topic by id only: the Metadata v12 response the agent saw names it.
  const auto fetches = named(spans, "fetch orders");
  ASSERT_FALSE(fetches.empty()) << consumer.log() << "\n" << [&] {
    std::string all;
    for (const auto& s : spans) all += s.dump() + "\n";
    return all;
  }();
  for (const auto& f : fetches) {
    EXPECT_EQ(attr(f, "zerotrace.kafka.api_version"), 16);
    EXPECT_EQ(str(attr(f, "zerotrace.kafka.topic_id")).size(), 36u);
    EXPECT_EQ(attr(f, "messaging.destination.partition.id"), "2");
    EXPECT_TRUE(str(attr(f, "messaging.kafka.cluster.id")).starts_with("mockCluster"));
    ASSERT_EQ(links_of(f).size(), 1u);
    EXPECT_EQ(links_of(f)[0]["trace_id"], kTraceId);
  }
  const auto stats = consumer.stats();
  ASSERT_TRUE(stats);
  EXPECT_GE(stats->get("kafka.topic_ids_learned"), 1u);
}

TEST(Kafka, KafkaPythonPipelinedClientSendsAndFetchesV4) {
  ZT_REQUIRE_ROOT();
  ZT_REQUIRE_MOCK(mock_binary());
  MockCluster mock(mock_binary());
  const std::string script = workload("kafka/python_kafka_clients.py");
  Agent producer = Agent::exec({"/usr/bin/python3", script, "kafka-python", "produce", "--bootstrap", mock.bootstrap(),
                                "--topic", "orders", "--count", "4", "--header", "traceparent=" + kTraceparent});
  const auto sent = producer.wait_exit(Millis(30000));
  ASSERT_EQ(producer.exit_status(), 0) << producer.log();
  std::int64_t sent_messages = 0;
  for (const auto& s : named(sent, "send orders")) {
    sent_messages += attr(s, "messaging.batch.message_count").is_null() ? 1 : num(attr(s, "messaging.batch.message_count"));
    EXPECT_EQ(attr(s, "messaging.client.id"), "zt-kafka-python-producer");
  }
  EXPECT_EQ(sent_messages, 4) << producer.log();

  Agent consumer = Agent::exec({"/usr/bin/python3", script, "kafka-python", "consume", "--bootstrap", mock.bootstrap(),
                                "--topic", "orders", "--group", "zt-python", "--count", "4"});
  const auto spans = consumer.wait_exit(Millis(40000));
  ASSERT_EQ(consumer.exit_status(), 0) << consumer.log();
  std::int64_t fetched = 0;
  for (const auto& f : named(spans, "fetch orders")) {
    fetched += attr(f, "messaging.batch.message_count").is_null() ? 1 : num(attr(f, "messaging.batch.message_count"));
    EXPECT_EQ(attr(f, "zerotrace.kafka.api_version"), 4);
    EXPECT_EQ(attr(f, "messaging.consumer.group.name"), "zt-python");
    for (const auto& l : links_of(f)) EXPECT_EQ(l["trace_id"], kTraceId);
  }
  EXPECT_EQ(fetched, 4) << consumer.log();
}

TEST(Kafka, ConfluentKafkaWithZstdAndAnAcksZeroProducer) {
  ZT_REQUIRE_ROOT();
  ZT_REQUIRE_MOCK(mock_binary());
  MockCluster mock(mock_binary());
  const std::string script = workload("kafka/python_kafka_clients.py");
  Agent producer = Agent::exec({"/usr/bin/python3", script, "confluent", "produce", "--bootstrap", mock.bootstrap(),
                                "--topic", "orders", "--count", "3", "--value-size", "3000", "--compression", "zstd",
                                "--header", "traceparent=" + kTraceparent});
  const auto sent = producer.wait_exit(Millis(30000));
  ASSERT_EQ(producer.exit_status(), 0) << producer.log();
  std::int64_t sent_messages = 0;
  for (const auto& s : named(sent, "send orders")) {
    sent_messages += attr(s, "messaging.batch.message_count").is_null() ? 1 : num(attr(s, "messaging.batch.message_count"));
    EXPECT_EQ(attr(s, "messaging.client.id"), "zt-confluent-producer");
    ASSERT_EQ(links_of(s).size(), 1u) << s.dump();  // inside zstd-compressed batches
    EXPECT_EQ(links_of(s)[0]["trace_id"], kTraceId);
  }
  EXPECT_EQ(sent_messages, 3) << producer.log();

  // acks=0: the broker never answers; the sends end when written, without an error.
  Agent fire_and_forget = Agent::exec({"node", kafkajs("kafkajs_producer.js"), "--bootstrap", mock.bootstrap(), "--topic",
                                       "orders", "--count", "2", "--partition", "2", "--acks", "0"});
  const auto unacked = fire_and_forget.wait_exit(Millis(30000));
  ASSERT_EQ(fire_and_forget.exit_status(), 0) << fire_and_forget.log();
  const auto unacked_sends = named(unacked, "send orders");
  ASSERT_FALSE(unacked_sends.empty()) << fire_and_forget.log();
  for (const auto& s : unacked_sends) {
    EXPECT_EQ(attr(s, "zerotrace.kafka.acks"), 0);
    EXPECT_EQ(s["status"]["code"], "UNSET");
    EXPECT_TRUE(attr(s, "error.type").is_null()) << s.dump();
    EXPECT_TRUE(attr(s, "zerotrace.incomplete").is_null()) << s.dump();
  }
  const auto stats = fire_and_forget.stats();
  ASSERT_TRUE(stats);
  EXPECT_GE(stats->get("kafka.produces_without_ack"), 1u);

  // librdkafka's consumer fetches on its own threads: fetches are traced, the app's work is not
  // tied to them (docs/protocols.md).
  Agent consumer = Agent::exec({"/usr/bin/python3", script, "confluent", "consume", "--bootstrap", mock.bootstrap(),
                                "--topic", "orders", "--group", "zt-confluent", "--count", "5"});
  const auto spans = consumer.wait_exit(Millis(40000));
  ASSERT_EQ(consumer.exit_status(), 0) << consumer.log();
  std::int64_t fetched = 0;
  for (const auto& f : named(spans, "fetch orders")) {
    fetched += attr(f, "messaging.batch.message_count").is_null() ? 1 : num(attr(f, "messaging.batch.message_count"));
    EXPECT_EQ(attr(f, "messaging.consumer.group.name"), "zt-confluent");
    EXPECT_EQ(attr(f, "messaging.client.id"), "zt-confluent-consumer");
  }
  EXPECT_GE(fetched, 5) << consumer.log();
  // Metadata, group and offset requests make no span.
  for (const auto& s : spans) EXPECT_EQ(s["name"].get<std::string>().rfind("fetch", 0), 0u) << s.dump();
}

TEST(Kafka, AConsumerConnectedBeforeTheAgentIsPickedUpMidStream) {
  ZT_REQUIRE_ROOT();
  ZT_REQUIRE_MOCK(mock_binary());
  MockCluster mock(mock_binary());
  // A consumer long-polling partition 1 from its end, for a while before the agent comes.
  Subprocess consumer({"kcat", "-b", mock.bootstrap(), "-C", "-u", "-t", "orders", "-p", "1", "-o", "end", "-f", "%o %k\\n"});
  ASSERT_TRUE(consumer.wait_for_line(Stream::Err, "Reached end of topic")) << consumer.output(Stream::Err);
  Agent agent = Agent::attach({consumer.pid()});
  TempDir dir;
  const auto input = dir / "late.txt";
  std::ofstream(input) << "late-1:after the agent\n";
  const Completed produced = run_to_completion(
      {"kcat", "-b", mock.bootstrap(), "-P", "-t", "orders", "-p", "1", "-K", ":", "-l", input.string()});
  ASSERT_EQ(produced.status, 0) << produced.err;
  ASSERT_TRUE(consumer.wait_for_line(Stream::Out, "late-1")) << consumer.output(Stream::Err);
  ASSERT_TRUE(poll_until([&] { return !named(agent.spans(), "fetch orders").empty(); }, kSpanTimeout)) << agent.log();
  const auto fetches = named(agent.stop(), "fetch orders");
  ASSERT_EQ(fetches.size(), 1u);
  EXPECT_EQ(attr(fetches[0], "messaging.kafka.message.key"), "late-1");
  EXPECT_EQ(attr(fetches[0], "messaging.destination.partition.id"), "1");
  EXPECT_EQ(attr(fetches[0], "zerotrace.connection.midstream"), true);
  EXPECT_EQ(attr(fetches[0], "zerotrace.kafka.api_version"), 11);
}

}  // namespace
}  // namespace zt::e2e
