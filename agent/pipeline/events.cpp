#include "pipeline/events.h"

#include <arpa/inet.h>
#include <sys/socket.h>

namespace zt::pipeline {
namespace {

Endpoint endpoint(const std::uint8_t (&addr)[16], std::uint16_t port, std::uint16_t family) {
  static constexpr std::uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char text[INET6_ADDRSTRLEN] = {};
  Endpoint e;
  e.port = port;
  if (family == AF_INET) {
    inet_ntop(AF_INET, addr, text, sizeof text);
  } else if (std::memcmp(addr, kV4MappedPrefix, sizeof kV4MappedPrefix) == 0) {
    inet_ntop(AF_INET, addr + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, addr, text, sizeof text);
    e.ipv6 = true;
  }
  e.address = text;
  return e;
}

}  // namespace

Endpoint local_endpoint(const zt_tuple& t) { return endpoint(t.saddr, t.sport, t.family); }
Endpoint remote_endpoint(const zt_tuple& t) { return endpoint(t.daddr, t.dport, t.family); }

}  // namespace zt::pipeline
