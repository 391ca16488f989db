// libFuzzer target: the Kafka wire decoders (protocols/kafka/kafka_wire.h) and the record-batch
// codecs on hostile bytes. Besides memory safety it checks that what a decoder keeps stays within
// `Limits`, that a result is never both truncated and malformed, and that headers never claim more
// bytes than they were given.
//
// Input layout: mode byte, b1, b2, then the payload.
//   mode % 12: 0 parse_request_header; 1 parse_response_header (b1 & 1: header version);
//   2 Produce request, 3 Produce response, 4 Fetch request, 5 Fetch response, 6 Metadata response,
//   7 ApiVersions request (body; b1 % 21 - 1: version); 8 a group request (b1 % 21 - 1: version,
//   b2 / 2: which API); 9 decode_records (declared = payload + b1 * 97 bytes); 10 decompress_prefix
//   (b1 % 5: codec, b2: output bound); 11 a request frame without its size: the header, then the
//   body by its api key and version.
//   b2 & 1: small limits (2 topics, 2 partitions, 3 records, 8-byte strings, 1 KiB decompressed).
#include <cstddef>
#include <cstdint>
#include <span>

#include "protocols/kafka/compression.h"
#include "protocols/kafka/kafka_wire.h"

#include "chunk_input.h"

namespace {

using namespace zt::protocols::kafka;
using zt::fuzz::check;

void check_records(const RecordSet& rs, const Limits& limits) {
  check(rs.records.size() <= limits.max_records);
  for (const auto& r : rs.records) {
    check(!r.key || r.key->size() <= limits.max_string);
    check(!r.traceparent || r.traceparent->size() <= limits.max_string);
    check(!r.tracestate || r.tracestate->size() <= limits.max_string);
  }
  check(rs.control_batches <= rs.batches);
}

template <typename Body>
void check_topics(const Body& b, const Limits& limits) {
  check(!(b.truncated && b.malformed));
  check(b.topics.size() <= limits.max_topics);
  for (const auto& t : b.topics) {
    check(t.name.size() <= limits.max_string);
    check(t.partitions.size() <= limits.max_partitions);
    for (const auto& p : t.partitions) check_records(p.records, limits);
  }
}

constexpr std::int16_t kGroupApis[] = {kFindCoordinator, kJoinGroup, kHeartbeat, kLeaveGroup, kSyncGroup,
                                       kOffsetCommit, kOffsetFetch, kConsumerGroupHeartbeat, kProduce};

void decode_body(std::int16_t key, std::int16_t version, std::span<const std::uint8_t> body, const Limits& limits) {
  switch (key) {
    case kProduce:
      check_topics(decode_produce_request(body, version, limits), limits);
      break;
    case kFetch:
      check_topics(decode_fetch_request(body, version, limits), limits);
      break;
    case kApiVersions: {
      const auto r = decode_api_versions_request(body, version);
      check(!(r.truncated && r.malformed));
      break;
    }
    default:
      if (const auto g = decode_group_request(key, body, version)) check(!(g->truncated && g->malformed));
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const int mode = data[0] % 12;
  const std::uint8_t b1 = data[1];
  const std::uint8_t b2 = data[2];
  const std::span<const std::uint8_t> payload(data + 3, size - 3);
  Limits limits;
  if (b2 & 1) {
    limits.max_topics = 2;
    limits.max_partitions = 2;
    limits.max_brokers = 2;
    limits.max_batches = 2;
    limits.max_records = 3;
    limits.max_string = 8;
    limits.max_decompressed = 1024;
  }
  const auto version = static_cast<std::int16_t>(b1 % 21 - 1);
  switch (mode) {
    case 0:
      if (const auto h = parse_request_header(payload)) {
        check(h->length <= payload.size());
        check(!h->client_id || h->client_id->size() <= 255);
        check(api_info(h->api_key) != nullptr);
      }
      break;
    case 1:
      if (const auto h = parse_response_header(payload, b1 & 1)) check(h->length <= payload.size());
      break;
    case 2:
      check_topics(decode_produce_request(payload, version, limits), limits);
      break;
    case 3:
      check_topics(decode_produce_response(payload, version, limits), limits);
      break;
    case 4:
      check_topics(decode_fetch_request(payload, version, limits), limits);
      break;
    case 5:
      check_topics(decode_fetch_response(payload, version, limits), limits);
      break;
    case 6: {
      const auto m = decode_metadata_response(payload, version, limits);
      check_topics(m, limits);
      check(m.brokers.size() <= limits.max_brokers);
      for (const auto& b : m.brokers) check(b.host.size() <= limits.max_string);
      break;
    }
    case 7: {
      const auto r = decode_api_versions_request(payload, version);
      check(!(r.truncated && r.malformed));
      break;
    }
    case 8:
      decode_body(kGroupApis[(b2 / 2) % std::size(kGroupApis)], version, payload, limits);
      break;
    case 9: {
      const std::uint64_t declared = payload.size() + std::uint64_t{b1} * 97;
      const RecordSet rs = decode_records(payload, declared, limits);
      check(rs.declared_bytes == declared);
      check(rs.truncated == (declared > payload.size()));
      check_records(rs, limits);
      break;
    }
    case 10: {
      bool corrupt = false;
      const std::size_t max_out = std::size_t{b2} * 64;
      const std::string out = decompress_prefix(static_cast<Codec>(b1 % 5), payload, max_out, corrupt);
      check(out.size() <= max_out);
      break;
    }
    case 11:
      if (const auto h = parse_request_header(payload)) {
        check(h->length <= payload.size());
        decode_body(h->api_key, h->api_version, payload.subspan(h->length), limits);
      }
      break;
  }
  return 0;
}
