// libFuzzer target: drives the Kafka connection parser (framing both directions, pairing by
// correlation id, the catalog across connections) with chunk sequences derived from the input,
// the way the capture can deliver them: split anywhere, truncated, lost, both directions. The
// decoders alone are kafka_fuzz's.
//
// Input layout (see README.md): setup byte: bit 0 the traced process is the broker, bit 1
// midstream, bit 2 create the parser through detect_protocol, bit 3 a second connection shares
// the catalog (odd chunks go to it); then chunks as in chunk_input.h.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <variant>

#include "protocols/detector.h"
#include "protocols/kafka/kafka_connection.h"

#include "chunk_input.h"

namespace {

using zt::fuzz::check;
using zt::fuzz::ChunkStream;
using zt::fuzz::InputReader;
using zt::protocols::ConnectionInfo;
using zt::protocols::ConnectionParser;
using zt::protocols::KafkaRecord;
using zt::protocols::RequestIdentity;
using zt::protocols::RequestView;
using zt::protocols::Role;
using zt::protocols::kafka::Catalog;
using zt::protocols::kafka::KafkaConnectionParser;

void drain(ConnectionParser& parser) {
  for (const auto& record : parser.take_records()) {
    const auto* kafka = std::get_if<KafkaRecord>(&record);
    if (kafka == nullptr) continue;  // the detector picked HTTP: their fuzzers cover it
    check(kafka->start_ns <= kafka->end_ns || !kafka->response_seen);
    check(kafka->links.size() <= zt::trace::kMaxLinksPerSpan);
    check(kafka->client_id.size() <= 0x7fff);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Catalog catalog({64, 64, 64, 64, 64});
  InputReader in(data, size);
  const std::uint8_t setup = in.byte();
  const Role role = (setup & 1) != 0 ? Role::Server : Role::Client;
  const bool midstream = (setup & 2) != 0;
  const bool through_detector = (setup & 4) != 0;
  const bool two = (setup & 8) != 0;

  ConnectionInfo info;
  info.pid = 42;
  info.role = role;
  info.remote = {"127.0.0.1", 9092, false};
  std::unique_ptr<ConnectionParser> parsers[2];
  for (auto& p : parsers) {
    if (!through_detector) p = std::make_unique<KafkaConnectionParser>(role, midstream, zt::protocols::kafka::ParserOptions{}, &catalog);
  }
  std::uint8_t next_id = 1;
  const auto hook = [&next_id](const RequestView& view, Role, RequestIdentity& id) {
    if (view.scope == RequestView::Scope::Closes) return;
    id.assigned = true;
    id.span_id[0] = next_id++;
    id.trace_id[0] = 1;
  };
  ChunkStream chunks(in);
  int index = 0;
  while (const auto next = chunks.next()) {
    const auto& [dir, chunk, control] = *next;
    auto& parser = parsers[two ? (index++ & 1) : 0];
    if (!parser) {
      parser = zt::protocols::detect_protocol(dir, chunk, Role::Unknown, midstream);
      if (!parser) continue;
    }
    parser->set_connection(&info);
    parser->set_request_hook(hook);
    parser->on_chunk(dir, chunk);
    if ((control & 8) != 0) drain(*parser);
  }
  for (auto& p : parsers) {
    if (!p) continue;
    p->on_close(chunks.clock_ns());
    drain(*p);
  }
  return 0;
}
