// The record of Kafka: one operation a client made on one topic, as the span builder turns it into
// a span. A Produce or a Fetch that names several topics becomes one record per topic (the
// messaging conventions name a span by its destination); requests that make no span (Metadata,
// ApiVersions, heartbeats, empty long-poll fetches) feed caches and counters instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common.h"
#include "protocols/kafka/kafka_wire.h"
#include "trace/span.h"

namespace zt::protocols {

enum class KafkaOperation : std::uint8_t {
  Send,   // Produce: the client wrote records to a topic
  Fetch,  // Fetch: the response delivered records of a topic
};

struct KafkaRecord {
  KafkaOperation operation = KafkaOperation::Send;
  std::int16_t api_version = 0;
  std::int32_t correlation_id = 0;
  std::string client_id;  // request header client_id (messaging.client.id)

  std::string topic;            // name; empty while only a topic id is known and unresolved
  kafka::TopicId topic_id{};    // Fetch v13+ / Produce v13
  std::vector<std::int32_t> partitions;  // partitions of this topic in the operation (with records, for fetches)
  std::uint64_t message_count = 0;       // records sent or delivered (user batches)
  // One message only: its offset (Produce: the base offset the broker assigned; Fetch: the
  // record's), its key (nullopt: no key, or not captured), tombstone when its value is null.
  std::optional<std::int64_t> offset;
  std::optional<std::string> key;
  bool tombstone = false;

  std::int16_t error_code = 0;  // the first partition error (or the response's), 0: none
  std::int16_t acks = -1;       // Produce
  bool response_expected = true;  // false for acks=0 produces
  bool response_seen = false;
  // The response was not captured (a later one was, or the request was evicted): the outcome is
  // unknown, which is not a failure.
  bool response_lost = false;
  bool truncated = false;       // part of the frames was not captured: counts are lower bounds

  // Facts about the connection learned from other requests (caches of the parser).
  std::string consumer_group;
  std::string cluster_id;
  std::string client_software;  // ApiVersions v3+: "name/version"
  std::string server_address;   // the broker as Metadata advertises it, else empty (the socket names it)
  std::int32_t server_port = 0;

  std::uint64_t request_bytes = 0;
  std::uint64_t response_bytes = 0;
  std::uint64_t start_ns = 0;  // first byte of the request
  std::uint64_t end_ns = 0;    // last byte of the response (of the request when none is expected)
  std::uint32_t tid = 0;       // thread that wrote the request (Fetch: that read the response)

  // The creation context to parent the span by, as headers: the one message a fetch delivered
  // carried it (traceparent/tracestate), or a same-node send was matched to it.
  std::vector<HeaderField> context_headers;
  std::vector<trace::Link> links;  // creation contexts of the messages (bounded)
  std::uint32_t dropped_links = 0;

  RequestIdentity identity;
};

inline RequestView request_view(const KafkaRecord& record) {
  RequestView view{"kafka",       record.operation == KafkaOperation::Send ? "send" : "fetch",
                   record.topic,  record.context_headers,
                   record.start_ns, record.tid};
  view.headers_from_elsewhere = true;
  view.scope = record.operation == KafkaOperation::Fetch ? RequestView::Scope::Opens : RequestView::Scope::None;
  return view;
}

}  // namespace zt::protocols
