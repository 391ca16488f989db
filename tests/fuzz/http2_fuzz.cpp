// libFuzzer target: HTTP/2 framing and HPACK.
//
// Two modes, chosen by bit 4 of the setup byte:
// - connection (bit 4 clear): drives Http2ConnectionParser with chunk sequences derived from the
//   input, the way the capture can deliver them (both directions, truncated, lost).
// - HPACK differential (bit 4 set): decodes a sequence of header blocks with nghttp2's inflater
//   and with the shadow decoder started at the connection's beginning; while nghttp2 accepts
//   every block, both must produce the same fields. A third decoder starts "midstream".
//
// Input layout (little-endian, read front to back; see README.md):
//   setup byte: bits 0-1 role (1 client, 2 server, else unknown), bits 2-3 mode (0 prior
//               knowledge, 1 h2c upgrade, 2 midstream, 3 through detect_protocol), bit 4 HPACK
//               differential mode
//   connection mode, per chunk (as http1_fuzz):
//     control byte: bit 0 ingress, bit 1 gap, bit 2 truncated, bit 3 take records afterwards,
//                   bits 4-7 time between chunks
//     u16 captured length, then (truncated or gap) u16 uncaptured length in units of 64 bytes,
//     then the captured bytes (a gap keeps them out of the chunk)
//   HPACK mode, per block:
//     control byte: bit 0 the block is cut short (decoded as a prefix), bit 1 raise the settings
//                   table size to 64 KiB before it
//     u16 block length, then the block
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <variant>

#include "protocols/detector.h"
#include "protocols/http2/hpack_decoder.h"
#include "protocols/http2/http2_connection.h"
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
using zt::protocols::Http2Closure;
using zt::protocols::Http2Exchange;
using zt::protocols::Http2Message;
using zt::protocols::Role;
using zt::protocols::http2::DecodedHeaderBlock;
using zt::protocols::http2::HpackDecoder;
using zt::protocols::http2::Http2ConnectionParser;

constexpr int kMaxDetectionAttempts = 4;

void check_side(const Http2Message& side) {
  check(side.start_ns <= side.end_ns || side.start_ns == 0);
  check(side.grpc_messages <= side.data_bytes / 5 + 1);
}

void check_exchange(const Http2Exchange& ex) {
  check_side(ex.request);
  if (ex.response) check_side(*ex.response);
  if (ex.closure == Http2Closure::EndStream) check(ex.request.end_stream && ex.response && ex.response->end_stream);
  check(ex.unresolved_headers == ex.request.unresolved_headers + (ex.response ? ex.response->unresolved_headers : 0));
  if (ex.unresolved_headers > 0 || ex.request.headers_truncated) check(ex.degraded);
  if (ex.grpc_inferred || ex.trailers_only) check(ex.grpc);
  if (ex.status_code != 0) check(ex.response && ex.status_code >= 100 && ex.status_code <= 999);
  if (ex.upgraded) check(ex.stream_id == 1);
}

void drain(ConnectionParser& parser) {
  for (const auto& record : parser.take_records()) {
    if (const auto* exchange = std::get_if<Http2Exchange>(&record)) check_exchange(*exchange);
  }
}

void fuzz_connection(InputReader& in, std::uint8_t setup) {
  using Mode = Http2ConnectionParser::Mode;
  const Role role = role_from(setup);
  const int mode_bits = (setup >> 2) & 3;
  std::unique_ptr<ConnectionParser> parser;
  if (mode_bits != 3) {
    const Mode mode = mode_bits == 0 ? Mode::PriorKnowledge : mode_bits == 1 ? Mode::Upgrade : Mode::Midstream;
    parser = std::make_unique<Http2ConnectionParser>(role, mode);
  }
  int detection_attempts = 0;
  ChunkStream chunks(in);

  while (const auto next = chunks.next()) {
    const auto& [dir, chunk, control] = *next;

    if (!parser) {
      if (detection_attempts++ == kMaxDetectionAttempts) return;
      parser = zt::protocols::detect_protocol(dir, chunk, role, detection_attempts > 1);
      if (!parser) continue;
      check(role == Role::Unknown || parser->role() == role);
    }
    parser->on_chunk(dir, chunk);
    if ((control & 8) != 0) drain(*parser);
  }
  if (!parser) return;
  parser->on_close(chunks.clock_ns());
  drain(*parser);
  check(parser->take_records().empty());
  // Every HTTP parse error resynchronises. (Kafka, which the detector may pick, skips a
  // well-framed but undecodable frame by its length: an error without a resync.)
  if (dynamic_cast<zt::protocols::kafka::KafkaConnectionParser*>(parser.get()) == nullptr) {
    const auto& stats = parser->stats();
    check(stats.resyncs >= stats.parse_errors);
  }
}

void fuzz_hpack(InputReader& in) {
  HpackDecoder reference(true);
  HpackDecoder shadow = HpackDecoder::shadow_from_connection_start();
  HpackDecoder midstream(false);
  bool comparable = true;
  while (!in.empty()) {
    const std::uint8_t control = in.byte();
    const bool cut = (control & 1) != 0;
    if ((control & 2) != 0) {
      reference.set_settings_table_size(HpackDecoder::kMaxTableSize);
      shadow.set_settings_table_size(HpackDecoder::kMaxTableSize);
    }
    const std::string_view block = in.bytes(in.u16());
    const DecodedHeaderBlock expected = reference.decode(block, !cut);
    const DecodedHeaderBlock actual = shadow.decode(block, !cut);
    const DecodedHeaderBlock other = midstream.decode(block, !cut);
    check(other.fields.size() + other.dropped >= other.unresolved);
    if (!comparable) continue;
    if (expected.error || cut) {
      comparable = false;  // nghttp2 rejected the block, or both lost the table on purpose
      continue;
    }
    // nghttp2 accepted a block that the shadow, knowing the whole table, must read the same way.
    check(!actual.error);
    check(actual.fields == expected.fields);
    check(actual.unresolved == 0 && expected.unresolved == 0);
    check(shadow.table_complete());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  InputReader in(data, size);
  const std::uint8_t setup = in.byte();
  if ((setup & 0x10) != 0) {
    fuzz_hpack(in);
  } else {
    fuzz_connection(in, setup);
  }
  return 0;
}
