#include "protocols/detector.h"

#include <array>

#include "protocols/http1/http1_connection.h"
#include "protocols/http1/http1_parser.h"
#include "protocols/http2/frame.h"
#include "protocols/http2/http2_connection.h"

namespace zt::protocols {
namespace {

using Detector = std::unique_ptr<ConnectionParser> (*)(Direction, const Chunk&, Role, bool);

// Requests flow from client to server: the direction a request takes gives the role.
Role role_of_request_sender(Direction request_dir) {
  return request_dir == Direction::Egress ? Role::Client : Role::Server;
}

// Enough of the client preface ("PRI * HTTP/2.0\r\n") to tell it from anything else.
constexpr std::size_t kPrefacePrefixBytes = 16;

// HTTP/2: the client preface (prior knowledge), an HTTP/1.1 request asking for `Upgrade: h2c`,
// the server's first SETTINGS frame (its first bytes, which may come before the preface is
// seen), and, midstream only, a chunk made exactly of plausible frames (frame.h).
std::unique_ptr<ConnectionParser> detect_http2(Direction dir, const Chunk& chunk, Role role, bool midstream) {
  using http2::Http2ConnectionParser;
  using Mode = Http2ConnectionParser::Mode;
  if (chunk.gap) return nullptr;
  const std::string_view data = chunk.data;
  const auto agrees = [role](Role seen) { return role == Role::Unknown || role == seen; };
  const Role request_sender = role_of_request_sender(dir);
  if (http2::begins_with_client_preface(data, kPrefacePrefixBytes)) {
    if (!agrees(request_sender)) return nullptr;
    // Midstream too: the parser finds out that the connection is new (Http2ConnectionParser).
    return std::make_unique<Http2ConnectionParser>(request_sender, midstream ? Mode::Midstream : Mode::PriorKnowledge);
  }
  if (http2::requests_h2c_upgrade(data)) {
    if (!agrees(request_sender)) return nullptr;
    return std::make_unique<Http2ConnectionParser>(request_sender, Mode::Upgrade);
  }
  if (data.size() < http2::kFrameHeaderBytes) return nullptr;
  const http2::FrameHeader first = http2::parse_frame_header(data);
  if (!midstream) {
    if (!first.is(http2::FrameType::Settings) || first.has(http2::flags::kAck) ||
        http2::count_whole_frames(data, chunk.size, true) == 0) {
      return nullptr;
    }
    const Role server = request_sender == Role::Client ? Role::Server : Role::Client;
    if (!agrees(server)) return nullptr;
    return std::make_unique<Http2ConnectionParser>(server, Mode::PriorKnowledge);
  }
  // Midstream: whole frames exactly filling a fully captured syscall. One frame alone counts
  // only for the types whose shape is strict (fixed lengths, stream-0 rules) or a complete
  // HEADERS; a lone DATA frame's payload could be anything.
  if (data.size() != chunk.size || first.is(http2::FrameType::Continuation)) return nullptr;
  const int frames = http2::count_whole_frames(data, chunk.size, false);
  if (frames == 0) return nullptr;
  if (frames == 1) {
    using http2::FrameType;
    const bool strict = first.is(FrameType::Settings) || first.is(FrameType::Ping) || first.is(FrameType::GoAway) ||
                        first.is(FrameType::WindowUpdate) || first.is(FrameType::RstStream) ||
                        (first.is(FrameType::Headers) && first.has(http2::flags::kEndHeaders));
    if (!strict) return nullptr;
  }
  return std::make_unique<Http2ConnectionParser>(role, Mode::Midstream);
}

std::unique_ptr<ConnectionParser> detect_http1(Direction dir, const Chunk& chunk, Role role, bool midstream) {
  if (chunk.gap) return nullptr;
  Role seen = Role::Unknown;
  if (http1::begins_with_request_line(chunk.data)) {
    seen = role_of_request_sender(dir);
  } else if ((midstream || role == Role::Unknown) && http1::begins_with_status_line(chunk.data)) {
    seen = role_of_request_sender(dir == Direction::Egress ? Direction::Ingress : Direction::Egress);
  } else {
    return nullptr;
  }
  if (role != Role::Unknown && role != seen) return nullptr;
  return std::make_unique<http1::Http1ConnectionParser>(seen, midstream);
}

// HTTP/2 first: a request asking for `Upgrade: h2c` is valid HTTP/1 too.
constexpr std::array<Detector, 2> kDetectors = {&detect_http2, &detect_http1};

}  // namespace

std::unique_ptr<ConnectionParser> detect_protocol(Direction dir, const Chunk& chunk, Role role, bool midstream) {
  for (const Detector detect : kDetectors) {
    if (auto parser = detect(dir, chunk, role, midstream)) return parser;
  }
  return nullptr;
}

}  // namespace zt::protocols
