// libFuzzer target: drives the TLS record and handshake parser (protocols/tls/tls_handshake.h)
// with chunk sequences derived from the input, both directions, split anywhere, truncated, lost.
// Besides memory safety it checks that facts stay within their bounds, counters add up, the
// recent-record rings hold framed records in stream order, and, while neither copy lost its
// framing, a second parser fed the same chunks cut into 1-byte calls learns the same.
//
// Input layout (see README.md): setup byte: bit 0 midstream, bit 1 also run the 1-byte copy;
// then chunks as in chunk_input.h (bit 3 of the control byte: check the invariants now).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocols/tls/tls_handshake.h"

#include "chunk_input.h"

namespace {

using zt::fuzz::check;
using zt::fuzz::ChunkStream;
using zt::fuzz::InputReader;
using zt::protocols::Chunk;
using zt::protocols::Direction;
namespace tls = zt::protocols::tls;

void check_invariants(const tls::TlsStreamParser& parser, bool midstream) {
  const tls::TlsFacts& facts = parser.facts();
  check(facts.sni.size() <= tls::kMaxSniBytes);
  check(facts.alpn_offered.size() <= tls::kMaxAlpnOffered);
  for (const auto& id : facts.alpn_offered) check(!id.empty() && id.size() <= 255);
  check(facts.alpn.size() <= 255);
  check(!facts.server_hello_seen || parser.done());
  check(!midstream || (parser.done() && !facts.client_hello_seen && !facts.server_hello_seen && !facts.hello_retry));
  check(facts.client_hello_seen || (facts.sni.empty() && facts.alpn_offered.empty()));
  check(facts.server_hello_seen || (facts.version == 0 && facts.alpn.empty() && !facts.resumed));
  check(!(facts.client_hello_seen || facts.server_hello_seen || facts.hello_retry) || parser.client_direction());
  const std::size_t overhead = tls::record_overhead(facts);
  check(overhead == 0 || overhead == 14 || overhead == 21 || overhead == 22 || overhead == 29);
  (void)tls::version_name(facts.version);
  (void)tls::cipher_name(facts.cipher_suite);

  std::uint64_t records = 0;
  for (Direction dir : {Direction::Egress, Direction::Ingress}) {
    const tls::TlsDirectionStats& s = parser.direction_stats(dir);
    check(s.records ==
          s.handshake_records + s.change_cipher_spec_records + s.alert_records + s.application_data_records);
    check(s.application_data_bytes >= s.application_data_records * tls::kRecordHeaderBytes);
    check(s.application_data_bytes <= s.application_data_records * (tls::kRecordHeaderBytes + tls::kMaxRecordBody));
    records += s.records;
    const tls::RecentRecords& recent = parser.recent_records(dir);
    check(recent.size() <= tls::RecentRecords::kCapacity && recent.size() <= s.application_data_records);
    for (std::size_t i = 0; i < recent.size(); ++i) {
      const tls::RecordInfo& r = recent[i];
      check(r.size >= tls::kRecordHeaderBytes && r.size <= tls::kRecordHeaderBytes + tls::kMaxRecordBody);
      check(r.start_ns <= r.end_ns);
      if (i > 0) check(recent[i - 1].position + recent[i - 1].size <= r.position);
    }
  }
  check(parser.stats().records == records);
}

// Feeds `chunk` as 1-byte calls: its captured bytes, then what was not captured as one
// uncaptured call (a gap stays one gap).
void feed_bytewise(tls::TlsStreamParser& parser, Direction dir, const Chunk& chunk) {
  if (chunk.gap) {
    parser.on_chunk(dir, chunk);
    return;
  }
  Chunk piece = chunk;
  for (std::size_t i = 0; i < chunk.data.size(); ++i) {
    piece.position = chunk.position + i;
    piece.data = chunk.data.substr(i, 1);
    piece.size = 1;
    parser.on_chunk(dir, piece);
  }
  if (chunk.missing() > 0) {
    piece.position = chunk.position + chunk.data.size();
    piece.data = {};
    piece.size = chunk.missing();
    parser.on_chunk(dir, piece);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  InputReader in(data, size);
  const std::uint8_t setup = in.byte();
  const bool midstream = (setup & 1) != 0;
  const bool bytewise = (setup & 2) != 0;
  tls::TlsStreamParser parser(midstream);
  tls::TlsStreamParser cut(midstream);

  ChunkStream chunks(in);
  while (const auto next = chunks.next()) {
    const auto& [dir, chunk, control] = *next;
    parser.on_chunk(dir, chunk);
    if (bytewise) feed_bytewise(cut, dir, chunk);
    if ((control & 8) != 0) check_invariants(parser, midstream);
  }
  check_invariants(parser, midstream);
  if (!bytewise) return 0;
  check_invariants(cut, midstream);
  // Resynchronisation happens at chunk starts, which the cut copy has at every byte: compare only
  // while both kept their framing.
  if (parser.stats().resyncs != 0 || cut.stats().resyncs != 0 || midstream) return 0;
  const tls::TlsFacts &a = parser.facts(), &b = cut.facts();
  check(a.sni == b.sni && a.alpn_offered == b.alpn_offered && a.alpn == b.alpn);
  check(a.version == b.version && a.cipher_suite == b.cipher_suite && a.resumed == b.resumed);
  check(a.client_hello_seen == b.client_hello_seen && a.server_hello_seen == b.server_hello_seen);
  check(a.hello_retry == b.hello_retry);
  check(parser.stats().records == cut.stats().records);
  check(parser.stats().malformed == cut.stats().malformed);
  check(parser.stats().handshake_lost == cut.stats().handshake_lost);
  return 0;
}
