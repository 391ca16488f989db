#include "protocols/tls/tls_protocol.h"

#include "protocols/protocol.h"

namespace zt::protocols {

std::unique_ptr<ConnectionParser> TlsProtocol::detect(Direction, const Chunk&, Role, bool) { return nullptr; }

trace::Span to_span(const TlsConnectionRecord& r, const SpanInput& in) {
  trace::Span span =
      start_span(in, in.server() ? trace::SpanKind::Server : trace::SpanKind::Client, r.tid, r.start_ns, r.end_ns);
  const TlsSession* session = in.conn.tls_session.get();
  const std::string server_name = session ? session->server_name : std::string();
  span.name = server_name.empty() ? "TLS" : "TLS " + server_name;
  NetworkProtocol protocol{};
  if (session && session->next_protocol == "h2") protocol = {"http", "2"};
  if (session && session->next_protocol == "http/1.1") protocol = {"http", "1.1"};
  auto& a = span.attributes;
  a.reserve(16);
  add_endpoint_attributes(a, in, protocol, "");
  a.push_back({"zerotrace.tls.plaintext_seen", false});
  if (in.conn.midstream) a.push_back({"zerotrace.connection.midstream", true});
  return span;
}

}  // namespace zt::protocols
