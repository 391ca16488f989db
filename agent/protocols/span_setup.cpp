#include "protocols/span_setup.h"

#include <algorithm>
#include <charconv>

namespace zt::protocols {

trace::Span start_span(const SpanInput& in, trace::SpanKind kind, std::uint32_t tid, std::uint64_t start_ns,
                       std::uint64_t end_ns) {
  trace::Span span;
  span.kind = kind;
  span.tid = tid;
  span.conn_id = in.conn.conn_id;
  span.resource = in.resource;
  span.start_unix_ns = in.clock.to_unix_ns(start_ns);
  span.end_unix_ns = in.clock.to_unix_ns(std::max(end_ns, start_ns));
  return span;
}

std::pair<std::string, int> split_host(std::string_view host) {
  int port = 0;
  std::string_view name = host;
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    if (close != std::string_view::npos) {
      name = host.substr(1, close - 1);
      if (close + 1 < host.size() && host[close + 1] == ':') {
        std::from_chars(host.data() + close + 2, host.data() + host.size(), port);
      }
    }
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos && host.find(':') == colon) {
    name = host.substr(0, colon);
    std::from_chars(host.data() + colon + 1, host.data() + host.size(), port);
  }
  return {std::string(name), port};
}

void add_tls_attributes(std::vector<trace::Attribute>& a, const ConnectionInfo& conn) {
  a.push_back({"tls.protocol.name", std::string("tls")});
  const TlsSession* tls = conn.tls_session.get();
  if (!tls) return;
  if (!tls->protocol_version.empty()) a.push_back({"tls.protocol.version", tls->protocol_version});
  if (!tls->cipher.empty()) a.push_back({"tls.cipher", tls->cipher});
  if (!tls->server_name.empty()) a.push_back({"tls.client.server_name", tls->server_name});
  if (!tls->next_protocol.empty()) a.push_back({"tls.next_protocol", tls->next_protocol});
  if (tls->bound_by_length) a.push_back({"zerotrace.tls.bound_by", std::string("record_length")});
}

std::pair<std::string, int> add_endpoint_attributes(std::vector<trace::Attribute>& a, const SpanInput& in,
                                                    NetworkProtocol protocol, std::string_view host) {
  const ConnectionInfo& conn = in.conn;
  const bool server = in.server();
  if (!protocol.name.empty()) a.push_back({"network.protocol.name", std::string(protocol.name)});
  if (!protocol.version.empty()) a.push_back({"network.protocol.version", std::string(protocol.version)});
  a.push_back({"network.transport", std::string("tcp")});
  a.push_back({"network.type", std::string(conn.remote.ipv6 ? "ipv6" : "ipv4")});
  a.push_back({"network.peer.address", conn.remote.address});
  a.push_back({"network.peer.port", static_cast<std::int64_t>(conn.remote.port)});
  std::string server_address;
  int server_port = 0;
  if (!host.empty() && host != "*") std::tie(server_address, server_port) = split_host(host);
  const Endpoint& own = server ? conn.local : conn.remote;
  const TlsSession* tls = conn.tls ? conn.tls_session.get() : nullptr;
  // A client's TLS server name says whom it called better than an address does, when the request
  // itself names no host.
  if (server_address.empty() && tls && !server && !tls->server_name.empty()) server_address = tls->server_name;
  if (server_address.empty()) server_address = own.address;
  if (server_port == 0) server_port = own.port;
  if (server) {
    a.push_back({"client.address", conn.remote.address});
    a.push_back({"client.port", static_cast<std::int64_t>(conn.remote.port)});
  }
  a.push_back({"server.address", server_address});
  a.push_back({"server.port", static_cast<std::int64_t>(server_port)});
  if (conn.tls) add_tls_attributes(a, conn);
  return {server_address, server_port};
}

}  // namespace zt::protocols
