// One Kafka connection: each direction framed as a stream of size-prefixed frames (a frame's size
// and header may arrive alone, several frames may share a call, a read may cut frames anywhere),
// requests paired with responses by correlation id, and the operations that make spans (Produce,
// Fetch that delivered records) turned into records. Everything else feeds the catalog
// (kafka_catalog.h) and counters. Design: docs/protocols.md (Kafka).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "protocols/framing/length_prefixed.h"
#include "protocols/kafka/kafka_catalog.h"
#include "protocols/kafka/kafka_types.h"
#include "protocols/kafka/kafka_wire.h"
#include "protocols/protocol.h"

namespace zt::protocols::kafka {

struct ParserOptions {
  // Bytes of a frame kept for decoding: the header, the fields and the first records of a batch
  // (where a record's headers sit after its value, a larger value hides them).
  std::size_t keep_bytes = 16 * 1024;
  std::size_t max_pending = 256;          // requests awaiting their response, per connection
  std::size_t max_records_per_frame = 16;  // spans one Produce or Fetch may make (one per topic)
  std::uint64_t max_frame_bytes = 100ull << 20;  // a larger declared size is not Kafka
  Limits limits;
};

// Plausible request and response headers: also what detection and resynchronisation look for.
bool plausible_request_size(std::uint32_t size, const ParserOptions& options);

class KafkaConnectionParser final : public ConnectionParser {
 public:
  // `role`: who the traced process is (Client: it writes requests). `midstream`: the connection
  // predates the agent; the request stream starts at the chunk detection accepted, the response
  // stream is found again at a response whose correlation id a seen request carries.
  KafkaConnectionParser(Role role, bool midstream, ParserOptions options = {}, Catalog* catalog = &Catalog::instance());

  void on_chunk(Direction dir, const Chunk& chunk) override;
  void on_close(std::uint64_t ts_ns) override;
  std::vector<Record> take_records() override;
  Role role() const override { return role_; }
  const ParserStats& stats() const override;
  std::string_view protocol_name() const override { return "kafka"; }
  std::uint64_t skip_until(Direction dir) const override;

 private:
  struct Pending {
    RequestHeader header;
    std::string client_id;
    std::uint64_t start_ns = 0;
    std::uint64_t end_ns = 0;
    std::uint32_t tid = 0;
    std::uint64_t bytes = 0;
    bool truncated = false;
    std::vector<KafkaRecord> sends;  // Produce: one per topic, identified when written
    // Per send: (partition, records sent) for matching the offsets the response assigns.
    std::vector<std::vector<std::pair<std::int32_t, std::uint64_t>>> sent;
  };

  Direction request_dir() const { return role_ == Role::Server ? Direction::Ingress : Direction::Egress; }
  void on_request(Frame&& frame);
  void on_response(Frame&& frame);
  void request_produce(Pending& pending, std::span<const std::uint8_t> body);
  void answer_produce(Pending& pending, std::span<const std::uint8_t> body, const Frame& frame);
  void answer_fetch(const Pending& pending, std::span<const std::uint8_t> body, const Frame& frame);
  void answer_metadata(const Pending& pending, std::span<const std::uint8_t> body);
  void emit(KafkaRecord&& record);
  // Forgets a request's sends in the catalog's list of those awaiting a response.
  void settle(Pending& pending);
  // A request whose response will not be seen: `lost` to the capture (a later response came, or
  // the request was evicted), or never sent (the connection ended). Its sends go as they are.
  void close_unanswered(Pending& pending, bool lost);
  void fill_client_facts(KafkaRecord& record) const;
  std::string broker() const;  // the peer, as "address:port" (the broker, on a client)
  bool plausible_response(std::span<const std::uint8_t> header) const;

  Role role_;
  ParserOptions options_;
  Catalog* catalog_;
  LengthPrefixedFramer requests_;
  LengthPrefixedFramer responses_;
  std::deque<Pending> pending_;
  std::vector<Record> out_;
  mutable ParserStats stats_;
};

}  // namespace zt::protocols::kafka
