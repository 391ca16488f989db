#include "pipeline/span_builder.h"

#include <charconv>
#include <string>

#include "protocols/http1/route.h"
#include "trace/ids.h"

namespace zt::pipeline {
namespace {

using protocols::HttpExchange;
using protocols::Role;
using trace::Attribute;
using trace::SpanKind;
using trace::StatusCode;

// Splits a Host header value into host and port ("[::1]:8080", "example.com", "a:80").
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

bool closed_by_traffic(FlushCause cause) { return cause == FlushCause::InStream || cause == FlushCause::Closed; }

// TODO(#5): stub so that the build passes; the lead replaces it with the HTTP/2 and gRPC span
// (attributes, status mapping, identity, propagation). Name, ids and times only.
trace::Span build_http2_stub(const protocols::Http2Exchange& ex, const ConnectionInfo& conn,
                             const MonotonicToRealtime& clock) {
  trace::Span span;
  span.span_id = trace::new_span_id();
  span.trace_id = trace::new_trace_id();
  span.kind = conn.role == Role::Client ? SpanKind::Client : SpanKind::Server;
  span.name = ex.method + " " + ex.path;
  span.start_unix_ns = clock.to_unix_ns(ex.request.start_ns);
  span.end_unix_ns = clock.to_unix_ns(std::max(ex.closed_ns, ex.request.start_ns));
  return span;
}

}  // namespace

trace::Span SpanBuilder::build(const protocols::Record& record, const ConnectionInfo& conn, FlushCause cause) {
  if (const auto* http2 = std::get_if<protocols::Http2Exchange>(&record)) return build_http2_stub(*http2, conn, *clock_);
  return build_http(std::get<HttpExchange>(record), conn, cause);
}

trace::Span SpanBuilder::build_http(const HttpExchange& ex, const ConnectionInfo& conn, FlushCause cause) {
  const auto& req = ex.request;
  const bool server = conn.role != Role::Client;  // Unknown cannot reach here: parsers resolve it
  trace::Span span;
  if (ex.identity.assigned) {
    const auto& id = ex.identity;
    span.trace_id = id.trace_id;
    span.span_id = id.span_id;
    span.parent_span_id = id.parent_span_id;
    span.trace_flags = id.trace_flags;
    span.trace_state = id.trace_state;
    span.parent_is_remote = id.parent_is_remote;
  } else if (auto caller = server ? context::extract(req.headers, &context_stats_) : std::nullopt) {
    span.span_id = trace::new_span_id();
    span.trace_id = caller->trace_id;
    span.parent_span_id = caller->span_id;
    span.parent_is_remote = true;
    span.trace_flags = caller->sampled ? trace::kTraceFlagSampled : 0;
    span.trace_state = std::move(caller->trace_state);
  } else {
    span.span_id = trace::new_span_id();
    span.trace_id = trace::new_trace_id();
  }
  if (propagator_) {
    propagator_->finalize(span);
    if (server) propagator_->on_server_done(req.tid, span.span_id);
  }
  span.kind = server ? SpanKind::Server : SpanKind::Client;
  span.tid = req.tid;
  span.conn_id = conn.conn_id;
  span.resource = resources_ ? resources_(conn.pid) : nullptr;

  const std::uint64_t end_ns = ex.response ? ex.response->end_ns : req.end_ns;
  span.start_unix_ns = clock_->to_unix_ns(req.start_ns);
  span.end_unix_ns = clock_->to_unix_ns(std::max(end_ns, req.start_ns));

  const auto [path, query] = protocols::http1::split_target(req.target);
  const std::string route = protocols::http1::http_route_from_target(req.target);
  span.name = req.method + " " + route;

  auto& a = span.attributes;
  a.reserve(20);
  a.push_back({"http.request.method", req.method});
  a.push_back({"url.path", std::string(path)});
  if (!query.empty()) a.push_back({"url.query", std::string(query)});
  a.push_back({"url.scheme", std::string("http")});
  a.push_back({"http.route", route});
  a.push_back({"network.protocol.name", std::string("http")});
  a.push_back({"network.protocol.version", req.version});
  a.push_back({"network.transport", std::string("tcp")});
  a.push_back({"network.type", std::string(conn.remote.ipv6 ? "ipv6" : "ipv4")});
  a.push_back({"network.peer.address", conn.remote.address});
  a.push_back({"network.peer.port", static_cast<std::int64_t>(conn.remote.port)});

  std::string server_address;
  int server_port = 0;
  if (const auto* host = req.header("host")) std::tie(server_address, server_port) = split_host(*host);
  if (server) {
    if (server_address.empty()) server_address = conn.local.address;
    if (server_port == 0) server_port = conn.local.port;
    a.push_back({"client.address", conn.remote.address});
    a.push_back({"client.port", static_cast<std::int64_t>(conn.remote.port)});
  } else {
    if (server_address.empty()) server_address = conn.remote.address;
    if (server_port == 0) server_port = conn.remote.port;
    std::string full = "http://" + server_address;
    if (server_port != 80) full += ":" + std::to_string(server_port);
    full += req.target.empty() || req.target.front() != '/' ? "/" : "";
    full += req.target;
    a.push_back({"url.full", full});
  }
  a.push_back({"server.address", server_address});
  a.push_back({"server.port", static_cast<std::int64_t>(server_port)});
  if (const auto* ua = req.header("user-agent")) a.push_back({"user_agent.original", *ua});
  a.push_back({"http.request.body.size", static_cast<std::int64_t>(req.body_bytes)});
  if (req.headers_truncated) a.push_back({"zerotrace.request.headers_truncated", true});
  if (conn.midstream) a.push_back({"zerotrace.connection.midstream", true});

  if (ex.response) {
    const int code = ex.response->status_code;
    a.push_back({"http.response.status_code", static_cast<std::int64_t>(code)});
    a.push_back({"http.response.body.size", static_cast<std::int64_t>(ex.response->body_bytes)});
    // Servers own 5xx; for a client every 4xx is an error too (HTTP semantic conventions).
    if (code >= 500 || (!server && code >= 400)) {
      span.status = StatusCode::Error;
      a.push_back({"error.type", std::to_string(code)});
    }
  } else if (closed_by_traffic(cause)) {
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

}  // namespace zt::pipeline
