// Kafka as a registered protocol (protocols/registry.h): its record, its detector, its spans.
#pragma once

#include <memory>

#include "protocols/kafka/kafka_types.h"
#include "protocols/span_setup.h"

namespace zt::protocols {

class ConnectionParser;

struct KafkaProtocol {
  using Record = KafkaRecord;
  // A parser when `chunk` begins with a plausible Kafka request frame: a size within bounds, a
  // known API key at a version clients send, a non-negative correlation id and a printable client
  // id; a whole frame in the chunk must also decode. Responses alone are not enough (their header
  // is a size and a number): a connection seen first from a response is detected at its next
  // request. Tried after HTTP/2 and HTTP/1, whose signatures are stricter.
  static std::unique_ptr<ConnectionParser> detect(Direction dir, const Chunk& chunk, Role role, bool midstream);
};

// The span of one operation on one topic, by the OpenTelemetry messaging conventions for Kafka:
// `send {topic}` (Produce) and `fetch {topic}` (a Fetch that delivered records), CLIENT spans on a
// client (SERVER when the traced process is the broker). docs/protocols.md (Kafka) lists the
// attributes and why these names and kinds.
trace::Span to_span(const KafkaRecord& record, const SpanInput& in);

}  // namespace zt::protocols
