#include "protocols/detector.h"

#include <array>

#include "protocols/http1/http1_connection.h"
#include "protocols/http1/http1_parser.h"

namespace zt::protocols {
namespace {

using Detector = std::unique_ptr<ConnectionParser> (*)(Direction, const Chunk&, Role, bool);

// Requests flow from client to server: the direction a request takes gives the role.
Role role_of_request_sender(Direction request_dir) {
  return request_dir == Direction::Egress ? Role::Client : Role::Server;
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

constexpr std::array<Detector, 1> kDetectors = {&detect_http1};

}  // namespace

std::unique_ptr<ConnectionParser> detect_protocol(Direction dir, const Chunk& chunk, Role role, bool midstream) {
  for (const Detector detect : kDetectors) {
    if (auto parser = detect(dir, chunk, role, midstream)) return parser;
  }
  return nullptr;
}

}  // namespace zt::protocols
