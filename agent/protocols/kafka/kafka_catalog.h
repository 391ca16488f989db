// What the agent learns about Kafka across connections and processes, for the spans of others:
//   - topic id -> name, from any traced process's Metadata responses (Fetch v13+ and Produce v13
//     name topics by id only);
//   - (pid, client id) -> consumer group and client software, from the group APIs and ApiVersions
//     (a consumer talks to its group coordinator on another connection than to the brokers);
//   - broker endpoint -> cluster id, from Metadata;
//   - the sends of traced producers on this node: (broker, topic, partition, offset range) -> the
//     send span, from Produce responses, so that a traced consumer's fetch of those records links
//     to the producer's trace with no header in the records at all.
// One catalog per agent (process-wide: parsers are created by static detectors). The pipeline is
// single-threaded; a mutex still guards it so that tests and tools may share it. Every table is
// bounded, oldest entries dropped first and counted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocols/kafka/kafka_wire.h"
#include "trace/span.h"

namespace zt::protocols::kafka {

struct CatalogLimits {
  std::size_t topics = 4096;
  std::size_t clients = 4096;   // (pid, client id) entries
  std::size_t brokers = 1024;
  std::size_t sends = 65536;    // produced (partition, offset range) entries
  std::size_t pending_sends = 4096;  // sends awaiting their response
};

// Counters of the Kafka parsers, kept with the catalog (process-wide, reported as kafka.*).
struct CatalogStats {
  std::uint64_t requests = 0;
  std::uint64_t responses = 0;
  std::uint64_t produces_without_ack = 0;  // acks=0: no response will come
  std::uint64_t fetches_empty = 0;         // long-poll fetches that delivered nothing: no span
  std::uint64_t metadata_responses = 0;
  std::uint64_t other_requests = 0;        // heartbeats, offsets, ...: no span
  std::uint64_t malformed_bodies = 0;      // a body contradicted its layout: what it held was skipped
  std::uint64_t truncated_bodies = 0;      // a body was cut by the capture: fields after the cut unseen
  std::uint64_t decompress_failures = 0;
  std::uint64_t links_from_headers = 0;    // links to a creation context read from a record's headers
  std::uint64_t links_from_sends = 0;      // links to a send matched by offset on this node
  std::uint64_t topic_ids_learned = 0;
  std::uint64_t topic_ids_unresolved = 0;  // lookups of an id no Metadata response named
  std::uint64_t sends_remembered = 0;
  std::uint64_t sends_matched = 0;         // fetched records matched to a send on this node
  std::uint64_t sends_matched_pending = 0; // ... to a send whose response was not seen yet
  std::uint64_t evicted = 0;
};

class Catalog {
 public:
  explicit Catalog(CatalogLimits limits = {}) : limits_(limits) {}
  static Catalog& instance();

  void learn_topic(const TopicId& id, std::string_view name);
  std::optional<std::string> topic_name(const TopicId& id);

  void learn_group(std::uint32_t pid, std::string_view client_id, std::string_view group);
  void learn_software(std::uint32_t pid, std::string_view client_id, std::string_view software);
  std::string group(std::uint32_t pid, std::string_view client_id) const;
  std::string software(std::uint32_t pid, std::string_view client_id) const;

  void learn_cluster(std::string_view broker, std::string_view cluster_id);
  std::string cluster(std::string_view broker) const;

  // A send's records got offsets [base, base + count) in (broker, topic, partition).
  void remember_send(std::string_view broker, std::string_view topic, std::int32_t partition, std::int64_t base,
                     std::uint64_t count, const trace::SpanContext& send);
  // A send was written and its response not yet seen: its records, by key and value size, so that
  // a fetch that reads them first (the consumer's read can come before the producer's) still finds
  // it. Settled (forgotten) when the response or the connection's end comes.
  struct RecordSignature {
    std::optional<std::string> key;
    std::int64_t value_size = -1;
    bool operator==(const RecordSignature&) const = default;
  };
  void remember_pending_send(std::string_view broker, std::string_view topic, std::int32_t partition,
                             std::vector<RecordSignature> records, const trace::SpanContext& send);
  void settle_pending_send(std::string_view broker, std::string_view topic, std::int32_t partition,
                           const trace::SpanId& send);
  // The send that produced the record at `offset` (with that key and value size), if it was seen
  // on this node: by the offsets its response gave, else among sends still awaiting one.
  std::optional<trace::SpanContext> find_send(std::string_view broker, std::string_view topic, std::int32_t partition,
                                              std::int64_t offset, const RecordSignature* record = nullptr);

  CatalogStats stats() const;
  // Counts into the parsers' counters: `add(&CatalogStats::requests)`.
  void add(std::uint64_t CatalogStats::*counter, std::uint64_t n = 1) {
    std::lock_guard lock(mu_);
    stats_.*counter += n;
  }
  void clear();

 private:
  struct Client {
    std::string group;
    std::string software;
  };
  struct Send {
    std::uint64_t count = 0;
    trace::SpanContext context;
  };
  struct PendingSend {
    std::vector<RecordSignature> records;
    trace::SpanContext context;
  };
  static std::string client_key(std::uint32_t pid, std::string_view client_id);
  static std::string partition_key(std::string_view broker, std::string_view topic, std::int32_t partition);
  template <typename Map>
  void bound(Map& map, std::deque<typename Map::key_type>& order, std::size_t limit);

  CatalogLimits limits_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::string> topics_;  // id (16 bytes as a string) -> name
  std::deque<std::string> topic_order_;
  std::unordered_map<std::string, Client> clients_;
  std::deque<std::string> client_order_;
  std::unordered_map<std::string, std::string> brokers_;
  std::deque<std::string> broker_order_;
  std::unordered_map<std::string, std::map<std::int64_t, Send>> sends_;  // partition key -> base offset -> send
  std::deque<std::pair<std::string, std::int64_t>> send_order_;
  std::unordered_map<std::string, std::deque<PendingSend>> pending_sends_;  // partition key -> oldest first
  std::size_t pending_count_ = 0;
  CatalogStats stats_;
};

}  // namespace zt::protocols::kafka
