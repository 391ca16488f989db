#include "protocols/kafka/kafka_protocol.h"

#include "protocols/kafka/kafka_connection.h"

namespace zt::protocols {
namespace {

using trace::SpanKind;
using trace::StatusCode;

// Versions a client sends today, by key, for detection only (parsing accepts the whole range):
// Kafka 4 removed Produce v0-2 and Fetch v0-3, and accepting them would let more random bytes pass.
bool detectable_version(std::int16_t key, std::int16_t version) {
  switch (key) {
    case kafka::kProduce:
      return version >= 3;
    case kafka::kFetch:
      return version >= 4;
    default:
      return true;
  }
}

bool printable(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<ConnectionParser> KafkaProtocol::detect(Direction dir, const Chunk& chunk, Role role, bool midstream) {
  using namespace kafka;
  if (chunk.gap || chunk.data.size() < 14) return nullptr;
  const auto* d = reinterpret_cast<const std::uint8_t*>(chunk.data.data());
  const std::uint32_t size = (std::uint32_t{d[0]} << 24) | (std::uint32_t{d[1]} << 16) | (std::uint32_t{d[2]} << 8) | d[3];
  const ParserOptions options;
  if (!plausible_request_size(size, options)) return nullptr;
  const std::span<const std::uint8_t> after_size(d + 4, chunk.data.size() - 4);
  const auto header = parse_request_header(after_size);
  if (!header || !header->client_id || !printable(*header->client_id) ||
      !detectable_version(header->api_key, header->api_version)) {
    return nullptr;
  }
  const Role sender = role_of_request_sender(dir);
  if (role != Role::Unknown && role != sender) return nullptr;
  // The whole frame is here: its body must read as what the header says it is.
  if (chunk.data.size() >= std::uint64_t{size} + 4 && header->length <= size) {
    const auto body = after_size.subspan(header->length, size - header->length);
    bool malformed = false;
    switch (header->api_key) {
      case kProduce:
        malformed = decode_produce_request(body, header->api_version, options.limits).malformed;
        break;
      case kFetch:
        malformed = decode_fetch_request(body, header->api_version, options.limits).malformed;
        break;
      case kApiVersions:
        malformed = decode_api_versions_request(body, header->api_version).malformed;
        break;
      default:
        if (auto g = decode_group_request(header->api_key, body, header->api_version)) malformed = g->malformed;
        break;
    }
    if (malformed) return nullptr;
  }
  return std::make_unique<KafkaConnectionParser>(sender, midstream);
}

trace::Span to_span(const KafkaRecord& r, const SpanInput& in) {
  const bool send = r.operation == KafkaOperation::Send;
  const std::string_view operation = send ? "send" : "fetch";
  trace::Span span = start_span(in, in.server() ? SpanKind::Server : SpanKind::Client, r.tid, r.start_ns, r.end_ns);
  span.name = r.topic.empty() ? std::string(operation) : std::string(operation) + " " + r.topic;
  auto& a = span.attributes;
  a.reserve(24);
  a.push_back({"messaging.system", std::string("kafka")});
  a.push_back({"messaging.operation.name", std::string(operation)});
  a.push_back({"messaging.operation.type", std::string(send ? "send" : "receive")});
  if (!r.topic.empty()) a.push_back({"messaging.destination.name", r.topic});
  if (!kafka::is_zero(r.topic_id)) a.push_back({"zerotrace.kafka.topic_id", kafka::to_string(r.topic_id)});
  if (r.partitions.size() == 1) a.push_back({"messaging.destination.partition.id", std::to_string(r.partitions.front())});
  if (r.message_count != 1) a.push_back({"messaging.batch.message_count", static_cast<std::int64_t>(r.message_count)});
  if (r.message_count == 1) {
    if (r.key) a.push_back({"messaging.kafka.message.key", *r.key});
    if (r.offset) a.push_back({"messaging.kafka.offset", *r.offset});
    if (r.tombstone) a.push_back({"messaging.kafka.message.tombstone", true});
  }
  if (!r.client_id.empty()) a.push_back({"messaging.client.id", r.client_id});
  if (!send && !r.consumer_group.empty()) a.push_back({"messaging.consumer.group.name", r.consumer_group});
  if (!r.cluster_id.empty()) a.push_back({"messaging.kafka.cluster.id", r.cluster_id});
  add_endpoint_attributes(a, in, {"kafka", ""}, r.server_address);
  a.push_back({"zerotrace.kafka.api_version", static_cast<std::int64_t>(r.api_version)});
  if (send) a.push_back({"zerotrace.kafka.acks", static_cast<std::int64_t>(r.acks)});
  if (!r.client_software.empty()) a.push_back({"zerotrace.kafka.client_software", r.client_software});
  if (r.truncated) a.push_back({"zerotrace.kafka.truncated", true});
  if (in.conn.midstream) a.push_back({"zerotrace.connection.midstream", true});

  if (r.error_code != 0) {
    span.status = StatusCode::Error;
    a.push_back({"error.type", kafka::error_name(r.error_code)});
  } else if (r.response_expected && !r.response_seen) {
    if (closed_by_traffic(in.cause) && !r.response_lost) {
      span.status = StatusCode::Error;
      span.status_message = "connection closed before a response";
      a.push_back({"error.type", std::string("no_response")});
    } else {
      a.push_back({"zerotrace.incomplete", true});
    }
  }
  span.links = r.links;
  span.dropped_links = r.dropped_links;
  return span;
}

}  // namespace zt::protocols
