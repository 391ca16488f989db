#include "protocols/http1/http1_protocol.h"

#include <string>

#include "protocols/http1/http1_connection.h"
#include "protocols/http1/http1_parser.h"
#include "protocols/http1/route.h"

namespace zt::protocols {

using trace::SpanKind;
using trace::StatusCode;

std::unique_ptr<ConnectionParser> Http1Protocol::detect(Direction dir, const Chunk& chunk, Role role, bool midstream) {
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


trace::Span to_span(const HttpExchange& ex, const SpanInput& in) {
  const auto& req = ex.request;
  const bool server = in.server();  // Unknown cannot reach here: parsers resolve it
  const std::uint64_t end_ns = ex.response ? ex.response->end_ns : req.end_ns;
  trace::Span span = start_span(in, server ? SpanKind::Server : SpanKind::Client, req.tid, req.start_ns, end_ns);

  const auto [path, query] = http1::split_target(req.target);
  const std::string route = http1::http_route_from_target(req.target);
  span.name = req.method + " " + route;

  auto& a = span.attributes;
  a.reserve(20);
  a.push_back({"http.request.method", req.method});
  a.push_back({"url.path", std::string(path)});
  if (!query.empty()) a.push_back({"url.query", std::string(query)});
  a.push_back({"url.scheme", std::string(url_scheme(in.conn))});
  a.push_back({"http.route", route});
  const std::string* host = req.header("host");
  const auto [server_address, server_port] =
      add_endpoint_attributes(a, in, {"http", req.version}, host ? std::string_view(*host) : std::string_view());
  if (!server) {
    std::string full = std::string(url_scheme(in.conn)) + "://" + server_address;
    if (server_port != (in.conn.tls ? 443 : 80)) full += ":" + std::to_string(server_port);
    full += req.target.empty() || req.target.front() != '/' ? "/" : "";
    full += req.target;
    a.push_back({"url.full", full});
  }
  if (const auto* ua = req.header("user-agent")) a.push_back({"user_agent.original", *ua});
  a.push_back({"http.request.body.size", static_cast<std::int64_t>(req.body_bytes)});
  if (req.headers_truncated) a.push_back({"zerotrace.request.headers_truncated", true});
  if (in.conn.midstream) a.push_back({"zerotrace.connection.midstream", true});

  if (ex.response) {
    const int code = ex.response->status_code;
    a.push_back({"http.response.status_code", static_cast<std::int64_t>(code)});
    a.push_back({"http.response.body.size", static_cast<std::int64_t>(ex.response->body_bytes)});
    // Servers own 5xx; for a client every 4xx is an error too (HTTP semantic conventions).
    if (code >= 500 || (!server && code >= 400)) {
      span.status = StatusCode::Error;
      a.push_back({"error.type", std::to_string(code)});
    }
  } else if (closed_by_traffic(in.cause)) {
    // The connection ended before any answer: the request failed as far as anyone can tell.
    span.status = StatusCode::Error;
    span.status_message = "connection closed before a response";
    a.push_back({"error.type", std::string("no_response")});
  } else {
    // The agent stopped watching (process exit, shutdown, eviction): the outcome is unknown.
    a.push_back({"zerotrace.incomplete", true});
  }
  return span;
}

}  // namespace zt::protocols
