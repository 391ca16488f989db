// The part of a span every protocol sets the same way: kind, thread, connection, resource and
// times, and the network.*, client.* and server.* attributes with the protocol's name as data.
// A protocol's `to_span` (protocols/<name>/) starts from here and adds its own semantic conventions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "protocols/common.h"
#include "trace/span.h"

namespace zt::protocols {

// What a protocol's span function gets besides its record.
struct SpanInput {
  const ConnectionInfo& conn;
  FlushCause cause;
  const MonotonicToRealtime& clock;
  std::shared_ptr<const trace::Resource> resource;

  // The traced process served the request (a SERVER span), or made it (CLIENT).
  bool server() const { return conn.role != Role::Client; }
};

// A span of `kind` on the input's connection and process, from `start_ns` to `end_ns`
// (CLOCK_MONOTONIC; an end before the start is clamped). Identity is left to the span builder.
trace::Span start_span(const SpanInput& in, trace::SpanKind kind, std::uint32_t tid, std::uint64_t start_ns,
                       std::uint64_t end_ns);

// The application protocol as network.protocol.{name,version} (semantic conventions: lower-case).
struct NetworkProtocol {
  std::string_view name;     // "http"; empty: not known, not set
  std::string_view version;  // "1.1", "2"; empty: not set (a protocol without one on the wire)
};

// Splits a Host/:authority value into host and port ("[::1]:8080", "example.com", "a:80").
std::pair<std::string, int> split_host(std::string_view host);

// network.*, client.* (on servers) and server.* attributes. The server is named by `host` (the
// request's Host or :authority) when it is known, else by the socket. Returns the server's
// address and port.
std::pair<std::string, int> add_endpoint_attributes(std::vector<trace::Attribute>& attributes,
                                                    const SpanInput& in, NetworkProtocol protocol,
                                                    std::string_view host);

// tls.* attributes of a request carried in TLS (conn.tls): tls.protocol.name, and what the
// handshake showed (version, cipher, server name, ALPN). add_endpoint_attributes adds them.
void add_tls_attributes(std::vector<trace::Attribute>& attributes, const ConnectionInfo& conn);

// url.scheme of a request on this connection: the transport decides it, not the protocol.
inline std::string_view url_scheme(const ConnectionInfo& conn) { return conn.tls ? "https" : "http"; }

}  // namespace zt::protocols
