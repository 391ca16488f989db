#include "protocols/kafka/kafka_wire.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "protocols/framing/binary_reader.h"

namespace zt::protocols::kafka {
namespace {

// Versions: what a request may carry (old brokers included, so detection accepts versions Kafka
// 4.0 removed). Flexible thresholds: the message JSON files' flexibleVersions.
constexpr std::array<ApiInfo, 76> kApis = {{
    {0, "Produce", 0, 13, 9},
    {1, "Fetch", 0, 18, 12},
    {2, "ListOffsets", 0, 10, 6},
    {3, "Metadata", 0, 13, 9},
    {4, "LeaderAndIsr", 0, 7, 4},
    {5, "StopReplica", 0, 4, 2},
    {6, "UpdateMetadata", 0, 8, 6},
    {7, "ControlledShutdown", 0, 3, 3},
    {8, "OffsetCommit", 0, 9, 8},
    {9, "OffsetFetch", 0, 9, 6},
    {10, "FindCoordinator", 0, 6, 3},
    {11, "JoinGroup", 0, 9, 6},
    {12, "Heartbeat", 0, 4, 4},
    {13, "LeaveGroup", 0, 5, 4},
    {14, "SyncGroup", 0, 5, 4},
    {15, "DescribeGroups", 0, 6, 5},
    {16, "ListGroups", 0, 5, 3},
    {17, "SaslHandshake", 0, 1, -1},
    {18, "ApiVersions", 0, 4, 3},
    {19, "CreateTopics", 0, 7, 5},
    {20, "DeleteTopics", 0, 6, 4},
    {21, "DeleteRecords", 0, 2, 2},
    {22, "InitProducerId", 0, 5, 2},
    {23, "OffsetForLeaderEpoch", 0, 4, 4},
    {24, "AddPartitionsToTxn", 0, 5, 3},
    {25, "AddOffsetsToTxn", 0, 4, 3},
    {26, "EndTxn", 0, 5, 3},
    {27, "WriteTxnMarkers", 0, 1, 1},
    {28, "TxnOffsetCommit", 0, 5, 3},
    {29, "DescribeAcls", 0, 3, 2},
    {30, "CreateAcls", 0, 3, 2},
    {31, "DeleteAcls", 0, 3, 2},
    {32, "DescribeConfigs", 0, 4, 4},
    {33, "AlterConfigs", 0, 2, 2},
    {34, "AlterReplicaLogDirs", 0, 2, 2},
    {35, "DescribeLogDirs", 0, 4, 2},
    {36, "SaslAuthenticate", 0, 2, 2},
    {37, "CreatePartitions", 0, 3, 2},
    {38, "CreateDelegationToken", 0, 3, 2},
    {39, "RenewDelegationToken", 0, 2, 2},
    {40, "ExpireDelegationToken", 0, 2, 2},
    {41, "DescribeDelegationToken", 0, 3, 2},
    {42, "DeleteGroups", 0, 2, 2},
    {43, "ElectLeaders", 0, 2, 2},
    {44, "IncrementalAlterConfigs", 0, 1, 1},
    {45, "AlterPartitionReassignments", 0, 1, 0},
    {46, "ListPartitionReassignments", 0, 0, 0},
    {47, "OffsetDelete", 0, 0, -1},
    {48, "DescribeClientQuotas", 0, 1, 1},
    {49, "AlterClientQuotas", 0, 1, 1},
    {50, "DescribeUserScramCredentials", 0, 0, 0},
    {51, "AlterUserScramCredentials", 0, 0, 0},
    {52, "Vote", 0, 2, 0},
    {53, "BeginQuorumEpoch", 0, 1, 1},
    {54, "EndQuorumEpoch", 0, 1, 1},
    {55, "DescribeQuorum", 0, 2, 0},
    {56, "AlterPartition", 0, 3, 0},
    {57, "UpdateFeatures", 0, 2, 0},
    {58, "Envelope", 0, 0, 0},
    {59, "FetchSnapshot", 0, 1, 0},
    {60, "DescribeCluster", 0, 2, 0},
    {61, "DescribeProducers", 0, 0, 0},
    {62, "BrokerRegistration", 0, 4, 0},
    {63, "BrokerHeartbeat", 0, 1, 0},
    {64, "UnregisterBroker", 0, 0, 0},
    {65, "DescribeTransactions", 0, 0, 0},
    {66, "ListTransactions", 0, 2, 0},
    {67, "AllocateProducerIds", 0, 0, 0},
    {68, "ConsumerGroupHeartbeat", 0, 1, 0},
    {69, "ConsumerGroupDescribe", 0, 1, 0},
    {70, "ControllerRegistration", 0, 0, 0},
    {71, "GetTelemetrySubscriptions", 0, 0, 0},
    {72, "PushTelemetry", 0, 0, 0},
    {73, "AssignReplicasToDirs", 0, 0, 0},
    {74, "ListClientMetricsResources", 0, 1, 0},
    {75, "DescribeTopicPartitions", 0, 0, 0},
}};

constexpr std::pair<std::int16_t, std::string_view> kErrors[] = {
    {-1, "UNKNOWN_SERVER_ERROR"},
    {1, "OFFSET_OUT_OF_RANGE"},
    {2, "CORRUPT_MESSAGE"},
    {3, "UNKNOWN_TOPIC_OR_PARTITION"},
    {4, "INVALID_FETCH_SIZE"},
    {5, "LEADER_NOT_AVAILABLE"},
    {6, "NOT_LEADER_OR_FOLLOWER"},
    {7, "REQUEST_TIMED_OUT"},
    {8, "BROKER_NOT_AVAILABLE"},
    {9, "REPLICA_NOT_AVAILABLE"},
    {10, "MESSAGE_TOO_LARGE"},
    {11, "STALE_CONTROLLER_EPOCH"},
    {12, "OFFSET_METADATA_TOO_LARGE"},
    {13, "NETWORK_EXCEPTION"},
    {14, "COORDINATOR_LOAD_IN_PROGRESS"},
    {15, "COORDINATOR_NOT_AVAILABLE"},
    {16, "NOT_COORDINATOR"},
    {17, "INVALID_TOPIC_EXCEPTION"},
    {18, "RECORD_LIST_TOO_LARGE"},
    {19, "NOT_ENOUGH_REPLICAS"},
    {20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND"},
    {21, "INVALID_REQUIRED_ACKS"},
    {22, "ILLEGAL_GENERATION"},
    {23, "INCONSISTENT_GROUP_PROTOCOL"},
    {24, "INVALID_GROUP_ID"},
    {25, "UNKNOWN_MEMBER_ID"},
    {26, "INVALID_SESSION_TIMEOUT"},
    {27, "REBALANCE_IN_PROGRESS"},
    {28, "INVALID_COMMIT_OFFSET_SIZE"},
    {29, "TOPIC_AUTHORIZATION_FAILED"},
    {30, "GROUP_AUTHORIZATION_FAILED"},
    {31, "CLUSTER_AUTHORIZATION_FAILED"},
    {32, "INVALID_TIMESTAMP"},
    {33, "UNSUPPORTED_SASL_MECHANISM"},
    {34, "ILLEGAL_SASL_STATE"},
    {35, "UNSUPPORTED_VERSION"},
    {36, "TOPIC_ALREADY_EXISTS"},
    {37, "INVALID_PARTITIONS"},
    {38, "INVALID_REPLICATION_FACTOR"},
    {39, "INVALID_REPLICA_ASSIGNMENT"},
    {40, "INVALID_CONFIG"},
    {41, "NOT_CONTROLLER"},
    {42, "INVALID_REQUEST"},
    {43, "UNSUPPORTED_FOR_MESSAGE_FORMAT"},
    {44, "POLICY_VIOLATION"},
    {45, "OUT_OF_ORDER_SEQUENCE_NUMBER"},
    {46, "DUPLICATE_SEQUENCE_NUMBER"},
    {47, "INVALID_PRODUCER_EPOCH"},
    {48, "INVALID_TXN_STATE"},
    {49, "INVALID_PRODUCER_ID_MAPPING"},
    {50, "INVALID_TRANSACTION_TIMEOUT"},
    {51, "CONCURRENT_TRANSACTIONS"},
    {52, "TRANSACTION_COORDINATOR_FENCED"},
    {53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"},
    {54, "SECURITY_DISABLED"},
    {55, "OPERATION_NOT_ATTEMPTED"},
    {56, "KAFKA_STORAGE_ERROR"},
    {57, "LOG_DIR_NOT_FOUND"},
    {58, "SASL_AUTHENTICATION_FAILED"},
    {59, "UNKNOWN_PRODUCER_ID"},
    {60, "REASSIGNMENT_IN_PROGRESS"},
    {61, "DELEGATION_TOKEN_AUTH_DISABLED"},
    {62, "DELEGATION_TOKEN_NOT_FOUND"},
    {63, "DELEGATION_TOKEN_OWNER_MISMATCH"},
    {64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED"},
    {65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED"},
    {66, "DELEGATION_TOKEN_EXPIRED"},
    {67, "INVALID_PRINCIPAL_TYPE"},
    {68, "NON_EMPTY_GROUP"},
    {69, "GROUP_ID_NOT_FOUND"},
    {70, "FETCH_SESSION_ID_NOT_FOUND"},
    {71, "INVALID_FETCH_SESSION_EPOCH"},
    {72, "LISTENER_NOT_FOUND"},
    {73, "TOPIC_DELETION_DISABLED"},
    {74, "FENCED_LEADER_EPOCH"},
    {75, "UNKNOWN_LEADER_EPOCH"},
    {76, "UNSUPPORTED_COMPRESSION_TYPE"},
    {77, "STALE_BROKER_EPOCH"},
    {78, "OFFSET_NOT_AVAILABLE"},
    {79, "MEMBER_ID_REQUIRED"},
    {80, "PREFERRED_LEADER_NOT_AVAILABLE"},
    {81, "GROUP_MAX_SIZE_REACHED"},
    {82, "FENCED_INSTANCE_ID"},
    {83, "ELIGIBLE_LEADERS_NOT_AVAILABLE"},
    {84, "ELECTION_NOT_NEEDED"},
    {85, "NO_REASSIGNMENT_IN_PROGRESS"},
    {86, "GROUP_SUBSCRIBED_TO_TOPIC"},
    {87, "INVALID_RECORD"},
    {88, "UNSTABLE_OFFSET_COMMIT"},
    {89, "THROTTLING_QUOTA_EXCEEDED"},
    {90, "PRODUCER_FENCED"},
    {91, "RESOURCE_NOT_FOUND"},
    {92, "DUPLICATE_RESOURCE"},
    {93, "UNACCEPTABLE_CREDENTIAL"},
    {94, "INCONSISTENT_VOTER_SET"},
    {95, "INVALID_UPDATE_VERSION"},
    {96, "FEATURE_UPDATE_FAILED"},
    {97, "PRINCIPAL_DESERIALIZATION_FAILURE"},
    {98, "SNAPSHOT_NOT_FOUND"},
    {99, "POSITION_OUT_OF_RANGE"},
    {100, "UNKNOWN_TOPIC_ID"},
    {101, "DUPLICATE_BROKER_REGISTRATION"},
    {102, "BROKER_ID_NOT_REGISTERED"},
    {103, "INCONSISTENT_TOPIC_ID"},
    {104, "INCONSISTENT_CLUSTER_ID"},
    {105, "TRANSACTIONAL_ID_NOT_FOUND"},
    {106, "FETCH_SESSION_TOPIC_ID_ERROR"},
    {107, "INELIGIBLE_REPLICA"},
    {108, "NEW_LEADER_ELECTED"},
    {109, "OFFSET_MOVED_TO_TIERED_STORAGE"},
    {110, "FENCED_MEMBER_EPOCH"},
    {111, "UNRELEASED_INSTANCE_ID"},
    {112, "UNSUPPORTED_ASSIGNOR"},
    {113, "STALE_MEMBER_EPOCH"},
    {114, "MISMATCHED_ENDPOINT_TYPE"},
    {115, "UNSUPPORTED_ENDPOINT_TYPE"},
    {116, "UNKNOWN_CONTROLLER_ID"},
    {117, "UNKNOWN_SUBSCRIPTION_ID"},
    {118, "TELEMETRY_TOO_LARGE"},
    {119, "INVALID_REGISTRATION"},
    {120, "TRANSACTION_ABORTABLE"},
    {121, "INVALID_RECORD_STATE"},
    {122, "SHARE_SESSION_NOT_FOUND"},
    {123, "INVALID_SHARE_SESSION_EPOCH"},
    {124, "FENCED_STATE_EPOCH"},
    {125, "INVALID_VOTER_KEY"},
    {126, "DUPLICATE_VOTER"},
    {127, "VOTER_NOT_FOUND"},
    {128, "INVALID_REGULAR_EXPRESSION"},
    {129, "REBOOTSTRAP_REQUIRED"},
};

// A frame's size field is an INT32: a count whose items could not fit in any frame contradicts
// the layout (malformed), while one that merely exceeds the captured bytes is a cut (truncated).
constexpr std::uint64_t kMaxFrame = 0x7fffffff;

std::uint32_t saturate(std::uint64_t n) {
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, std::numeric_limits<std::uint32_t>::max()));
}

// A BinaryReader that knows the version's encoding (classic or compact/tagged) and tells running
// out of bytes (truncated) from contradicting the layout (malformed). After the first failure every
// read returns zero values; decoders check ok() where a loop or a kept value depends on it.
class Wire {
 public:
  Wire(std::span<const std::uint8_t> bytes, bool flexible) : r_(bytes), flexible_(flexible) {}

  bool ok() const { return r_.ok(); }
  bool flexible() const { return flexible_; }
  void malformed() {
    if (r_.ok()) stop_ = Stop::Malformed;
    r_.fail();
  }
  void cut() {
    if (r_.ok()) stop_ = Stop::Truncated;
    r_.fail();
  }
  void finish(BodyStatus& status) const {
    if (r_.ok()) return;
    const bool malformed = stop_ == Stop::Malformed || (stop_ == Stop::None && !r_.ran_out());
    (malformed ? status.malformed : status.truncated) = true;
  }

  std::int8_t i8() { return r_.i8(); }
  std::int16_t i16() { return r_.i16(); }
  std::int32_t i32() { return r_.i32(); }
  std::int64_t i64() { return r_.i64(); }
  void skip(std::size_t n) { r_.skip(n); }

  // UNSIGNED_VARINT: at most 5 bytes and 32 bits.
  std::uint32_t uvarint32() {
    const std::uint64_t v = r_.uvarint(5);
    if (v > 0xffffffffu) malformed();
    return static_cast<std::uint32_t>(v);
  }

  // A length that may be -1 (null): INT16/INT32 classic, UNSIGNED_VARINT (n + 1) compact.
  // Returns -2 when the read failed.
  std::int64_t length(bool int32_classic) {
    std::int64_t n = 0;
    if (flexible_) {
      n = static_cast<std::int64_t>(uvarint32()) - 1;
    } else {
      n = int32_classic ? r_.i32() : r_.i16();
    }
    if (!ok()) return -2;
    if (n < -1 || n > static_cast<std::int64_t>(kMaxFrame)) {
      malformed();
      return -2;
    }
    return n;
  }

  // NULLABLE_STRING / COMPACT_NULLABLE_STRING, its first `keep` bytes kept.
  std::optional<std::string> nullable_string(std::size_t keep) {
    const std::int64_t n = length(false);
    if (n < 0) return std::nullopt;
    const std::string_view text = r_.text(static_cast<std::size_t>(n));
    if (!ok()) return std::nullopt;
    return std::string(text.substr(0, keep));
  }
  // STRING / COMPACT_STRING: null contradicts the type.
  std::string string(std::size_t keep) {
    const std::int64_t n = length(false);
    if (n == -1) malformed();
    if (n < 0) return {};
    const std::string_view text = r_.text(static_cast<std::size_t>(n));
    return std::string(text.substr(0, keep));
  }
  void skip_string() { string(0); }

  // ARRAY / COMPACT_ARRAY count; nullopt for a null array or a failed read. Items are at least
  // `min_item` bytes, which bounds what a frame can hold.
  std::optional<std::uint64_t> array(std::uint64_t min_item) {
    const std::int64_t n = length(true);
    if (n < 0) return std::nullopt;
    if (static_cast<std::uint64_t>(n) * min_item > kMaxFrame) {
      malformed();
      return std::nullopt;
    }
    return static_cast<std::uint64_t>(n);
  }
  void skip_int32_array() {
    if (const auto n = array(4)) skip(static_cast<std::size_t>(*n * 4));
  }

  // TAG_BUFFER in flexible versions: tagged fields the agent does not read are skipped by size.
  void tagged_fields() {
    if (!flexible_) return;
    const std::uint32_t n = uvarint32();
    if (std::uint64_t{n} * 2 > kMaxFrame) return malformed();
    for (std::uint32_t i = 0; i < n && ok(); ++i) {
      uvarint32();  // tag
      const std::uint32_t size = uvarint32();
      if (size > kMaxFrame) return malformed();
      skip(size);
    }
  }

  TopicId uuid() {
    TopicId id{};
    const auto b = r_.bytes(id.size());
    if (ok()) std::copy(b.begin(), b.end(), id.begin());
    return id;
  }

  // RECORDS / COMPACT_RECORDS. The field's captured prefix is decoded (when `decode`); a field the
  // capture ends inside stops the body there: everything after it was not captured.
  void records(RecordSet& out, const Limits& limits, bool decode) {
    const std::int64_t n = length(true);
    if (n < 0) return;  // null records, or the read failed
    const std::size_t avail = static_cast<std::size_t>(std::min<std::uint64_t>(static_cast<std::uint64_t>(n), r_.remaining()));
    const auto bytes = r_.bytes(avail);
    if (decode) {
      out = decode_records(bytes, static_cast<std::uint64_t>(n), limits);
    } else {
      out.declared_bytes = static_cast<std::uint64_t>(n);
      out.truncated = avail < static_cast<std::uint64_t>(n);
    }
    if (avail < static_cast<std::uint64_t>(n)) cut();
  }

 private:
  enum class Stop { None, Truncated, Malformed };
  BinaryReader r_;
  bool flexible_;
  Stop stop_ = Stop::None;
};

// Reads an array of items into `kept` (up to `max_keep`; the rest are walked and counted in
// `dropped`). `item(T&, bool keep)` decodes one and returns whether it identified itself (its name
// or id was whole): an item the capture cut before that is not kept.
template <typename T, typename F>
void each(Wire& w, std::uint64_t min_item, std::size_t max_keep, std::vector<T>& kept, std::uint32_t& dropped, F&& item) {
  const auto n = w.array(min_item);
  if (!n) return;
  if (*n > max_keep) dropped = saturate(*n - max_keep);
  for (std::uint64_t i = 0; i < *n && w.ok(); ++i) {
    if (kept.size() < max_keep) {
      kept.emplace_back();
      if (!item(kept.back(), true)) kept.pop_back();
    } else {
      T scratch;
      item(scratch, false);
    }
  }
}

// The body decoders' common start: the encoding for (key, version), or malformed for a version the
// key does not have.
bool known_version(std::int16_t key, std::int16_t version, BodyStatus& status) {
  const ApiInfo* info = api_info(key);
  if (info == nullptr || version < info->min_version || version > info->max_version) {
    status.malformed = true;
    return false;
  }
  return true;
}

// A topic's identity: its name, or (Fetch v13+, Produce v13) its id.
bool topic_identity(Wire& w, TopicData& t, bool by_id, const Limits& limits) {
  if (by_id) {
    t.topic_id = w.uuid();
  } else {
    t.name = w.string(limits.max_string);
  }
  return w.ok();
}

// A header's TAG_BUFFER, skipped; false when it is cut short or impossible.
bool skip_tags(BinaryReader& r) {
  const std::uint64_t n = r.uvarint(5);
  if (n > kMaxFrame / 2) return false;
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    r.uvarint(5);
    const std::uint64_t size = r.uvarint(5);
    if (size > kMaxFrame) return false;
    r.skip(static_cast<std::size_t>(size));
  }
  return r.ok();
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

}  // namespace

const ApiInfo* api_info(std::int16_t api_key) {
  if (api_key < 0 || static_cast<std::size_t>(api_key) >= kApis.size()) return nullptr;
  return &kApis[static_cast<std::size_t>(api_key)];
}

bool is_flexible(std::int16_t api_key, std::int16_t version) {
  const ApiInfo* info = api_info(api_key);
  return info != nullptr && info->first_flexible >= 0 && version >= info->first_flexible;
}

int request_header_version(std::int16_t api_key, std::int16_t version) {
  if (api_key == 7 && version == 0) return 0;  // ControlledShutdown v0 (broker to controller)
  return is_flexible(api_key, version) ? 2 : 1;
}

int response_header_version(std::int16_t api_key, std::int16_t version) {
  if (api_key == kApiVersions) return 0;  // so that any client can read the version list
  return is_flexible(api_key, version) ? 1 : 0;
}

std::string error_name(std::int16_t code) {
  if (code == 0) return {};
  for (const auto& [c, name] : kErrors) {
    if (c == code) return std::string(name);
  }
  return "KAFKA_ERROR_" + std::to_string(code);
}

std::string to_string(const TopicId& id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[id[i] >> 4]);
    out.push_back(kHex[id[i] & 15]);
  }
  return out;
}

std::string_view to_string(Codec codec) {
  switch (codec) {
    case Codec::None:
      return "none";
    case Codec::Gzip:
      return "gzip";
    case Codec::Snappy:
      return "snappy";
    case Codec::Lz4:
      return "lz4";
    case Codec::Zstd:
      return "zstd";
  }
  return "unknown";
}

// ---- headers ---------------------------------------------------------------------------------

std::optional<RequestHeader> parse_request_header(std::span<const std::uint8_t> bytes) {
  BinaryReader r(bytes);
  RequestHeader h;
  h.api_key = r.i16();
  h.api_version = r.i16();
  h.correlation_id = r.i32();
  if (!r.ok()) return std::nullopt;
  const ApiInfo* info = api_info(h.api_key);
  if (info == nullptr || h.api_version < info->min_version || h.api_version > info->max_version ||
      h.correlation_id < 0) {
    return std::nullopt;
  }
  const int version = request_header_version(h.api_key, h.api_version);
  if (version >= 1) {
    // INT16 length in every header version (RequestHeader.json: client_id is never compact).
    const std::int16_t n = r.i16();
    if (!r.ok() || n < -1 || n > 255) return std::nullopt;
    if (n >= 0) {
      const std::string_view id = r.text(static_cast<std::size_t>(n));
      if (!r.ok() || !printable(id)) return std::nullopt;
      h.client_id = std::string(id);
    }
  }
  if (version >= 2 && !skip_tags(r)) return std::nullopt;
  h.length = r.offset();
  return h;
}

std::optional<ResponseHeader> parse_response_header(std::span<const std::uint8_t> bytes, int header_version) {
  BinaryReader r(bytes);
  ResponseHeader h;
  h.correlation_id = r.i32();
  if (header_version >= 1 && !skip_tags(r)) return std::nullopt;
  if (!r.ok()) return std::nullopt;
  h.length = r.offset();
  return h;
}

// ---- bodies ----------------------------------------------------------------------------------

ProduceRequest decode_produce_request(std::span<const std::uint8_t> body, std::int16_t version, const Limits& limits) {
  ProduceRequest out;
  if (!known_version(kProduce, version, out)) return out;
  Wire w(body, is_flexible(kProduce, version));
  if (version >= 3) out.transactional_id = w.nullable_string(limits.max_string);
  out.acks = w.i16();
  out.timeout_ms = w.i32();
  each(w, 2, limits.max_topics, out.topics, out.topics_dropped, [&](TopicData& t, bool keep) {
    if (!topic_identity(w, t, version >= 13, limits)) return false;
    each(w, 5, limits.max_partitions, t.partitions, t.partitions_dropped, [&](PartitionData& p, bool keep_p) {
      p.index = w.i32();
      if (!w.ok()) return false;
      w.records(p.records, limits, keep && keep_p);
      w.tagged_fields();
      return true;
    });
    w.tagged_fields();
    return true;
  });
  w.tagged_fields();
  w.finish(out);
  return out;
}

ProduceResponse decode_produce_response(std::span<const std::uint8_t> body, std::int16_t version, const Limits& limits) {
  ProduceResponse out;
  if (!known_version(kProduce, version, out)) return out;
  Wire w(body, is_flexible(kProduce, version));
  each(w, 2, limits.max_topics, out.topics, out.topics_dropped, [&](TopicData& t, bool) {
    if (!topic_identity(w, t, version >= 13, limits)) return false;
    each(w, 14, limits.max_partitions, t.partitions, t.partitions_dropped, [&](PartitionData& p, bool) {
      p.index = w.i32();
      p.error_code = w.i16();
      p.offset = w.i64();  // base_offset
      if (!w.ok()) return false;
      if (version >= 2) w.i64();  // log_append_time_ms
      if (version >= 5) w.i64();  // log_start_offset
      if (version >= 8) {
        std::vector<int> none;
        std::uint32_t ignored = 0;
        each(w, 5, 0, none, ignored, [&](int&, bool) {
          w.i32();  // batch_index
          w.nullable_string(0);
          w.tagged_fields();
          return true;
        });
        w.nullable_string(0);  // error_message
      }
      w.tagged_fields();  // current_leader (v10+) lives here
      return true;
    });
    w.tagged_fields();
    return true;
  });
  if (version >= 1) out.throttle_time_ms = w.i32();
  w.tagged_fields();
  w.finish(out);
  return out;
}

FetchRequest decode_fetch_request(std::span<const std::uint8_t> body, std::int16_t version, const Limits& limits) {
  FetchRequest out;
  if (!known_version(kFetch, version, out)) return out;
  Wire w(body, is_flexible(kFetch, version));
  if (version <= 14) w.i32();  // replica_id (a tagged replica_state from v15)
  out.max_wait_ms = w.i32();
  out.min_bytes = w.i32();
  if (version >= 3) w.i32();  // max_bytes
  if (version >= 4) w.i8();   // isolation_level
  if (version >= 7) {
    out.session_id = w.i32();
    out.session_epoch = w.i32();
  }
  each(w, 2, limits.max_topics, out.topics, out.topics_dropped, [&](TopicData& t, bool) {
    if (!topic_identity(w, t, version >= 13, limits)) return false;
    each(w, 16, limits.max_partitions, t.partitions, t.partitions_dropped, [&](PartitionData& p, bool) {
      p.index = w.i32();
      if (version >= 9) w.i32();  // current_leader_epoch
      p.offset = w.i64();         // fetch_offset
      if (!w.ok()) return false;
      if (version >= 12) w.i32();  // last_fetched_epoch
      if (version >= 5) w.i64();   // log_start_offset
      w.i32();                     // partition_max_bytes
      w.tagged_fields();           // replica_directory_id (v17+)
      return true;
    });
    w.tagged_fields();
    return true;
  });
  if (version >= 7) {  // forgotten_topics_data
    std::vector<TopicData> forgotten;
    std::uint32_t ignored = 0;
    each(w, 2, 0, forgotten, ignored, [&](TopicData& t, bool) {
      topic_identity(w, t, version >= 13, limits);
      w.skip_int32_array();
      w.tagged_fields();
      return true;
    });
  }
  if (version >= 11) w.skip_string();  // rack_id
  w.tagged_fields();
  w.finish(out);
  return out;
}

FetchResponse decode_fetch_response(std::span<const std::uint8_t> body, std::int16_t version, const Limits& limits) {
  FetchResponse out;
  if (!known_version(kFetch, version, out)) return out;
  Wire w(body, is_flexible(kFetch, version));
  if (version >= 1) out.throttle_time_ms = w.i32();
  if (version >= 7) {
    out.error_code = w.i16();
    out.session_id = w.i32();
  }
  each(w, 2, limits.max_topics, out.topics, out.topics_dropped, [&](TopicData& t, bool keep) {
    if (!topic_identity(w, t, version >= 13, limits)) return false;
    each(w, 18, limits.max_partitions, t.partitions, t.partitions_dropped, [&](PartitionData& p, bool keep_p) {
      p.index = w.i32();
      p.error_code = w.i16();
      p.high_watermark = w.i64();
      if (!w.ok()) return false;
      if (version >= 4) w.i64();  // last_stable_offset
      if (version >= 5) w.i64();  // log_start_offset
      if (version >= 4) {         // aborted_transactions (nullable)
        std::vector<int> none;
        std::uint32_t ignored = 0;
        each(w, 16, 0, none, ignored, [&](int&, bool) {
          w.i64();  // producer_id
          w.i64();  // first_offset
          w.tagged_fields();
          return true;
        });
      }
      if (version >= 11) w.i32();  // preferred_read_replica
      w.records(p.records, limits, keep && keep_p);
      w.tagged_fields();  // diverging_epoch, current_leader, snapshot_id
      return true;
    });
    w.tagged_fields();
    return true;
  });
  w.tagged_fields();  // node_endpoints (v16+)
  w.finish(out);
  return out;
}

MetadataResponse decode_metadata_response(std::span<const std::uint8_t> body, std::int16_t version, const Limits& limits) {
  MetadataResponse out;
  if (!known_version(kMetadata, version, out)) return out;
  Wire w(body, is_flexible(kMetadata, version));
  if (version >= 3) w.i32();  // throttle_time_ms
  std::uint32_t brokers_dropped = 0;
  each(w, 10, limits.max_brokers, out.brokers, brokers_dropped, [&](MetadataBroker& b, bool) {
    b.node_id = w.i32();
    b.host = w.string(limits.max_string);
    b.port = w.i32();
    if (!w.ok()) return false;
    if (version >= 1) w.nullable_string(0);  // rack
    w.tagged_fields();
    return true;
  });
  if (version >= 2) out.cluster_id = w.nullable_string(limits.max_string);
  if (version >= 1) out.controller_id = w.i32();
  each(w, 4, limits.max_topics, out.topics, out.topics_dropped, [&](TopicData& t, bool) {
    t.error_code = w.i16();
    // Nullable from v12 (a topic asked for by id); the id is part of the identity from v10.
    if (version >= 12) {
      t.name = w.nullable_string(limits.max_string).value_or("");
    } else {
      t.name = w.string(limits.max_string);
    }
    if (version >= 10) t.topic_id = w.uuid();
    if (!w.ok()) return false;
    if (version >= 1) w.i8();  // is_internal
    // Partitions are walked, not kept: their replica lists vary in length.
    std::vector<int> none;
    std::uint32_t ignored = 0;
    each(w, 14, 0, none, ignored, [&](int&, bool) {
      w.i16();  // error_code
      w.i32();  // partition_index
      w.i32();  // leader_id
      if (version >= 7) w.i32();  // leader_epoch
      w.skip_int32_array();       // replica_nodes
      w.skip_int32_array();       // isr_nodes
      if (version >= 5) w.skip_int32_array();  // offline_replicas
      w.tagged_fields();
      return true;
    });
    if (version >= 8) w.i32();  // topic_authorized_operations
    w.tagged_fields();
    return true;
  });
  if (version >= 8 && version <= 10) w.i32();  // cluster_authorized_operations
  if (version >= 13) w.i16();                   // error_code
  w.tagged_fields();
  w.finish(out);
  return out;
}

ApiVersionsRequest decode_api_versions_request(std::span<const std::uint8_t> body, std::int16_t version) {
  ApiVersionsRequest out;
  if (!known_version(kApiVersions, version, out)) return out;
  if (version < 3) return out;  // empty body
  Wire w(body, true);
  std::string name = w.string(256);
  std::string software_version = w.string(256);
  if (w.ok()) {
    out.client_software_name = std::move(name);
    out.client_software_version = std::move(software_version);
  } else if (!name.empty()) {
    out.client_software_name = std::move(name);
  }
  w.tagged_fields();
  w.finish(out);
  return out;
}

std::optional<GroupRequest> decode_group_request(std::int16_t api_key, std::span<const std::uint8_t> body,
                                                 std::int16_t version) {
  switch (api_key) {
    case kFindCoordinator:
    case kJoinGroup:
    case kHeartbeat:
    case kLeaveGroup:
    case kSyncGroup:
    case kOffsetCommit:
    case kOffsetFetch:
    case kConsumerGroupHeartbeat:
      break;
    default:
      return std::nullopt;
  }
  GroupRequest out;
  if (!known_version(api_key, version, out)) return out;
  constexpr std::size_t kKeep = 256;  // Kafka caps group ids at 249 characters in practice
  Wire w(body, is_flexible(api_key, version));
  if (api_key == kFindCoordinator && version >= 4) {
    out.key_type = w.i8();
    const auto n = w.array(1);
    if (n && *n > 0) {
      std::string key = w.string(kKeep);
      if (w.ok() && out.key_type == 0) out.group_id = std::move(key);
    }
  } else if (api_key == kFindCoordinator) {
    std::string key = w.string(kKeep);
    if (version >= 1) out.key_type = w.i8();
    if (w.ok() && out.key_type == 0) out.group_id = std::move(key);
  } else if (api_key == kOffsetFetch && version >= 8) {
    const auto n = w.array(1);  // groups: the first names the group
    if (n && *n > 0) {
      std::string id = w.string(kKeep);
      if (w.ok()) out.group_id = std::move(id);
    }
  } else {
    std::string id = w.string(kKeep);
    if (w.ok()) out.group_id = std::move(id);
  }
  w.finish(out);
  return out;
}

}  // namespace zt::protocols::kafka
