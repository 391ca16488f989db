// libFuzzer target: drives the HTTP/1 connection parser with chunk sequences derived from the
// input, the way the capture can deliver them (both directions, truncated, lost, any order).
//
// Input layout (all little-endian, read front to back; see README.md):
//   setup byte: bits 0-1 role (1 client, 2 server, else unknown), bit 2 midstream,
//               bit 3 create the parser through detect_protocol
//   then per chunk:
//     control byte: bit 0 ingress, bit 1 gap, bit 2 truncated, bit 3 take records afterwards,
//                   bits 4-7 time between chunks
//     u16 captured length, then (truncated or gap) u16 uncaptured length in units of 64 bytes,
//     then the captured bytes (a gap keeps them out of the chunk)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <variant>

#include "protocols/detector.h"
#include "protocols/http1/http1_connection.h"
#include "protocols/kafka/kafka_connection.h"

#include "chunk_input.h"

namespace {

using zt::fuzz::check;
using zt::fuzz::ChunkStream;
using zt::fuzz::InputReader;
using zt::fuzz::role_from;

using zt::protocols::Chunk;
using zt::protocols::ConnectionParser;
using zt::protocols::Direction;
using zt::protocols::HttpExchange;
using zt::protocols::HttpMessage;
using zt::protocols::Role;

constexpr int kMaxDetectionAttempts = 4;

void check_message(const HttpMessage& message, bool is_request) {
  check(message.is_request == is_request);
  check(message.start_ns <= message.end_ns);
  check(message.header_bytes <= zt::protocols::http1::Http1Parser::kMaxHeaderBlockBytes);
  if (is_request) {
    check(!message.method.empty());
  } else {
    check(message.status_code >= 100 && message.status_code <= 999);
  }
}

void drain(ConnectionParser& parser) {
  for (const auto& record : parser.take_records()) {
    const auto* http1 = std::get_if<HttpExchange>(&record);
    if (http1 == nullptr) continue;  // the detector picked HTTP/2: http2_fuzz covers it
    const auto& exchange = *http1;
    check_message(exchange.request, true);
    for (const HttpMessage& interim : exchange.interim) {
      check_message(interim, false);
      check(interim.status_code < 200 && interim.status_code != 101);
    }
    if (exchange.response) {
      check_message(*exchange.response, false);
      check(exchange.response->status_code >= 200 || exchange.response->status_code == 101);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  InputReader in(data, size);
  const std::uint8_t setup = in.byte();
  const Role role = role_from(setup);
  const bool midstream = (setup & 4) != 0;
  const bool through_detector = (setup & 8) != 0;

  std::unique_ptr<ConnectionParser> parser;
  if (!through_detector) parser = std::make_unique<zt::protocols::http1::Http1ConnectionParser>(role, midstream);
  int detection_attempts = 0;
  ChunkStream chunks(in);

  while (const auto next = chunks.next()) {
    const auto& [dir, chunk, control] = *next;

    if (!parser) {
      if (detection_attempts++ == kMaxDetectionAttempts) return 0;
      parser = zt::protocols::detect_protocol(dir, chunk, role, midstream || detection_attempts > 1);
      if (!parser) continue;
      check(role == Role::Unknown || parser->role() == role);
    }
    parser->on_chunk(dir, chunk);
    if ((control & 8) != 0) drain(*parser);
  }
  if (parser) {
    parser->on_close(chunks.clock_ns());
    drain(*parser);
    // Every HTTP parse error resynchronises. (Kafka, which the detector may pick, skips a
    // well-framed but undecodable frame by its length: an error without a resync.)
    if (dynamic_cast<zt::protocols::kafka::KafkaConnectionParser*>(parser.get()) == nullptr) {
      const auto& stats = parser->stats();
      check(stats.resyncs >= stats.parse_errors);
    }
  }
  return 0;
}
