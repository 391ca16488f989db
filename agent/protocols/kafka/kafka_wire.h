// Kafka's wire protocol, decoded from bytes captured off a socket: the API table (versions and
// where flexible encoding starts), request and response headers, and the bodies the agent reads
// (Produce, Fetch, Metadata, ApiVersions, the consumer-group APIs). Everything here is pure: bytes
// in, summaries out, no state. Facts: ../shared/research/kafka.md (A1), Kafka's message JSON files.
//
// Untrusted input. Every count and length the wire declares is checked against what remains and
// against the bounds in `Limits`; a decoder never allocates by a declared size. A frame whose
// captured prefix ends early is not an error: the decoders keep every field that was whole and say
// `truncated`. Bytes that contradict the layout make the result `malformed` (counted upstream).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zt::protocols::kafka {

// API keys the agent knows by name (others are still framed and paired, never decoded).
enum ApiKey : std::int16_t {
  kProduce = 0,
  kFetch = 1,
  kListOffsets = 2,
  kMetadata = 3,
  kOffsetCommit = 8,
  kOffsetFetch = 9,
  kFindCoordinator = 10,
  kJoinGroup = 11,
  kHeartbeat = 12,
  kLeaveGroup = 13,
  kSyncGroup = 14,
  kSaslHandshake = 17,
  kApiVersions = 18,
  kCreateTopics = 19,
  kInitProducerId = 22,
  kSaslAuthenticate = 36,
  kConsumerGroupHeartbeat = 68,
  kGetTelemetrySubscriptions = 71,
  kDescribeTopicPartitions = 75,
};

struct ApiInfo {
  std::int16_t key = -1;
  std::string_view name;        // "Produce", "Fetch", ...
  std::int16_t min_version = 0;  // versions a request may carry (what detection accepts)
  std::int16_t max_version = 0;
  std::int16_t first_flexible = -1;  // first version with compact encodings and tagged fields; -1 none
};

// The API table entry, or nullptr for a key no Kafka release defines (0..~90 with holes).
const ApiInfo* api_info(std::int16_t api_key);
bool is_flexible(std::int16_t api_key, std::int16_t version);
// Request header version: 2 for flexible versions, 1 otherwise (0 only for ControlledShutdown v0,
// which the agent never sees from clients).
int request_header_version(std::int16_t api_key, std::int16_t version);
// Response header version: 1 for flexible versions except ApiVersions (always 0), else 0.
int response_header_version(std::int16_t api_key, std::int16_t version);
// The protocol's name for an error code ("NOT_LEADER_OR_FOLLOWER"), "UNKNOWN_SERVER_ERROR" for -1,
// empty for 0 (no error) and "KAFKA_ERROR_<n>" for codes the table lacks.
std::string error_name(std::int16_t code);

using TopicId = std::array<std::uint8_t, 16>;  // all zero: none / unknown
std::string to_string(const TopicId& id);      // 8-4-4-4-12 hex, as Kafka tools show it
inline bool is_zero(const TopicId& id) { return id == TopicId{}; }

// Bounds on what one frame may make a decoder keep. What exceeds them is counted, not kept.
struct Limits {
  std::size_t max_topics = 64;             // per request or response
  std::size_t max_partitions = 256;        // per topic
  std::size_t max_brokers = 64;            // Metadata
  std::size_t max_batches = 32;            // record batches decoded per partition
  std::size_t max_records = 64;            // records whose key/headers are read, per partition
  std::size_t max_string = 512;            // bytes kept of a key, a header value, a client id
  std::size_t max_decompressed = 64 * 1024;  // output of one batch's decompression
};

// ---- headers ---------------------------------------------------------------------------------

// Request header, read from the bytes after the frame's 4-byte size.
struct RequestHeader {
  std::int16_t api_key = -1;
  std::int16_t api_version = -1;
  std::int32_t correlation_id = 0;
  std::optional<std::string> client_id;  // v1+; INT16-length even in v2; nullopt when null
  std::size_t length = 0;                // header bytes (where the body starts)
};
// nullopt when the bytes are not a plausible request header: unknown key, version out of the
// key's range, negative correlation id, client id not printable or over 255 bytes, or too short.
std::optional<RequestHeader> parse_request_header(std::span<const std::uint8_t> bytes);

// Response header: the correlation id, and a tagged-field buffer in header v1.
struct ResponseHeader {
  std::int32_t correlation_id = 0;
  std::size_t length = 0;
};
// `header_version` from response_header_version() of the request it answers.
std::optional<ResponseHeader> parse_response_header(std::span<const std::uint8_t> bytes, int header_version);

// ---- records ---------------------------------------------------------------------------------

enum class Codec : std::uint8_t { None = 0, Gzip = 1, Snappy = 2, Lz4 = 3, Zstd = 4 };
std::string_view to_string(Codec codec);  // "none", "gzip", "snappy", "lz4", "zstd"

// One record whose fields were reachable in the captured prefix (after decompression).
struct RecordInfo {
  std::int64_t offset = -1;             // base offset + offset delta
  std::optional<std::string> key;       // nullopt: null key; bounded by Limits::max_string
  bool key_truncated = false;
  std::int64_t value_size = -1;         // -1: null value (a tombstone)
  std::optional<std::string> traceparent;  // W3C headers, when the record carries them
  std::optional<std::string> tracestate;
  bool headers_seen = false;            // the record's headers were within the capture
};

// What a RECORDS field held, as far as it was captured.
struct RecordSet {
  std::uint64_t declared_bytes = 0;      // the field's length on the wire
  std::uint32_t batches = 0;             // magic-2 batches whose 61-byte header was seen
  std::uint64_t record_count = 0;        // sum of recordsCount of user (non-control) batches seen
  std::int64_t first_offset = -1;        // base offset of the first user batch
  std::int64_t last_offset = -1;         // base offset + lastOffsetDelta of the last user batch seen
  Codec codec = Codec::None;             // of the first user batch
  std::uint32_t control_batches = 0;     // transaction markers: skipped
  std::uint32_t legacy_messages = 0;     // magic 0/1 message-set entries: counted, not decoded
  std::uint32_t decompress_failures = 0; // a codec's stream was corrupt (not merely cut short)
  bool truncated = false;                // the capture ended inside the field
  bool malformed = false;                // a batch or record contradicted its own lengths: decoding stopped there
  std::vector<RecordInfo> records;       // up to Limits::max_records, in offset order
};

// Decodes a RECORDS field whose first `bytes.size()` of `declared_bytes` were captured.
// Compressed batches are decompressed from the captured prefix, up to Limits::max_decompressed.
RecordSet decode_records(std::span<const std::uint8_t> bytes, std::uint64_t declared_bytes, const Limits& limits);

// ---- bodies ----------------------------------------------------------------------------------

struct PartitionData {
  std::int32_t index = -1;
  std::int16_t error_code = 0;       // responses
  std::int64_t offset = -1;          // Produce response: base_offset; Fetch request: fetch_offset
  std::int64_t high_watermark = -1;  // Fetch response
  RecordSet records;                 // Produce request, Fetch response
};

struct TopicData {
  std::string name;   // empty when the wire gives only a topic id (Fetch v13+, Produce v13)
  TopicId topic_id{};
  std::int16_t error_code = 0;  // Metadata topics
  std::vector<PartitionData> partitions;
  std::uint32_t partitions_dropped = 0;  // over Limits::max_partitions
};

// Common to every body decoder: what was decoded and how far.
struct BodyStatus {
  bool truncated = false;  // the captured bytes ended first: what is here was whole
  bool malformed = false;  // the bytes contradicted the layout: keep nothing beyond what is here
  std::uint32_t topics_dropped = 0;
};

struct ProduceRequest : BodyStatus {
  std::optional<std::string> transactional_id;
  std::int16_t acks = -1;
  std::int32_t timeout_ms = 0;
  std::vector<TopicData> topics;
};
struct ProduceResponse : BodyStatus {
  std::vector<TopicData> topics;
  std::int32_t throttle_time_ms = 0;
};
struct FetchRequest : BodyStatus {
  std::int32_t max_wait_ms = 0;
  std::int32_t min_bytes = 0;
  std::int32_t session_id = 0;      // v7+
  std::int32_t session_epoch = -1;  // v7+
  std::vector<TopicData> topics;    // may be empty: an incremental fetch session with no change
};
struct FetchResponse : BodyStatus {
  std::int32_t throttle_time_ms = 0;
  std::int16_t error_code = 0;  // v7+
  std::int32_t session_id = 0;  // v7+
  std::vector<TopicData> topics;
};
struct MetadataBroker {
  std::int32_t node_id = -1;
  std::string host;
  std::int32_t port = 0;
};
struct MetadataResponse : BodyStatus {
  std::vector<MetadataBroker> brokers;
  std::optional<std::string> cluster_id;  // v2+
  std::int32_t controller_id = -1;
  std::vector<TopicData> topics;          // name, topic_id (v10+), error_code; partitions not kept
};
struct ApiVersionsRequest : BodyStatus {
  std::string client_software_name;     // v3+
  std::string client_software_version;  // v3+
};
// The consumer group a group API names: FindCoordinator (key_type 0, or coordinator_keys v4+),
// JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch (group_id, or the first
// of `groups` v8+), ConsumerGroupHeartbeat.
struct GroupRequest : BodyStatus {
  std::string group_id;
  std::int8_t key_type = 0;  // FindCoordinator: 0 group, 1 transaction, 2 share; group_id only for 0
};

// Each decoder reads the body (the bytes after the header) of one frame, `version` being the
// request's api_version (responses too: the layout follows the request).
ProduceRequest decode_produce_request(std::span<const std::uint8_t> body, std::int16_t version, const Limits& limits);
ProduceResponse decode_produce_response(std::span<const std::uint8_t> body, std::int16_t version, const Limits& limits);
FetchRequest decode_fetch_request(std::span<const std::uint8_t> body, std::int16_t version, const Limits& limits);
FetchResponse decode_fetch_response(std::span<const std::uint8_t> body, std::int16_t version, const Limits& limits);
MetadataResponse decode_metadata_response(std::span<const std::uint8_t> body, std::int16_t version, const Limits& limits);
ApiVersionsRequest decode_api_versions_request(std::span<const std::uint8_t> body, std::int16_t version);
// nullopt for keys that are not group APIs.
std::optional<GroupRequest> decode_group_request(std::int16_t api_key, std::span<const std::uint8_t> body,
                                                 std::int16_t version);

}  // namespace zt::protocols::kafka
