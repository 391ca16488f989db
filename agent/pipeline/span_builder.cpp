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
// network.*, client.* (on servers) and server.* attributes, shared by HTTP/1 and HTTP/2. The
// server is named by the request's Host / :authority when it has one, else by the socket.
// Returns the server address and port.
std::pair<std::string, int> add_endpoint_attributes(std::vector<trace::Attribute>& a, const ConnectionInfo& conn,
                                                    bool server, std::string version, std::string_view host) {
  a.push_back({"network.protocol.name", std::string("http")});
  a.push_back({"network.protocol.version", std::move(version)});
  a.push_back({"network.transport", std::string("tcp")});
  a.push_back({"network.type", std::string(conn.remote.ipv6 ? "ipv6" : "ipv4")});
  a.push_back({"network.peer.address", conn.remote.address});
  a.push_back({"network.peer.port", static_cast<std::int64_t>(conn.remote.port)});
  std::string server_address;
  int server_port = 0;
  if (!host.empty() && host != "*") std::tie(server_address, server_port) = split_host(host);
  const Endpoint& own = server ? conn.local : conn.remote;
  if (server_address.empty()) server_address = own.address;
  if (server_port == 0) server_port = own.port;
  if (server) {
    a.push_back({"client.address", conn.remote.address});
    a.push_back({"client.port", static_cast<std::int64_t>(conn.remote.port)});
  }
  a.push_back({"server.address", server_address});
  a.push_back({"server.port", static_cast<std::int64_t>(server_port)});
  return {server_address, server_port};
}

const char* grpc_code_name(int code) {
  static constexpr const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                           "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                                           "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN_CODE";
}

// gRPC semantic conventions: a server span is an error only for codes that say the server failed.
bool grpc_server_error(int code) {
  return code == 2 || code == 4 || code == 12 || code == 13 || code == 14 || code == 15;
}

const char* http2_error_name(std::uint32_t code) {
  static constexpr const char* kNames[] = {"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
                                           "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
                                           "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
                                           "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"};
  return code < 14 ? kNames[code] : "UNKNOWN_ERROR";
}

}  // namespace

trace::Span SpanBuilder::build(const protocols::Record& record, const ConnectionInfo& conn, FlushCause cause) {
  if (const auto* http2 = std::get_if<protocols::Http2Exchange>(&record)) return build_http2(*http2, conn, cause);
  return build_http(std::get<HttpExchange>(record), conn, cause);
}

void SpanBuilder::assign_identity(trace::Span& span, const protocols::RequestIdentity& identity,
                                  const std::vector<std::pair<std::string, std::string>>& headers, bool server,
                                  std::uint32_t tid) {
  if (identity.assigned) {
    span.trace_id = identity.trace_id;
    span.span_id = identity.span_id;
    span.parent_span_id = identity.parent_span_id;
    span.trace_flags = identity.trace_flags;
    span.trace_state = identity.trace_state;
    span.parent_is_remote = identity.parent_is_remote;
  } else if (auto caller = server ? context::extract(headers, &context_stats_) : std::nullopt) {
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
    if (server) propagator_->on_server_done(tid, span.span_id);
  }
}

trace::Span SpanBuilder::build_http2(const protocols::Http2Exchange& ex, const ConnectionInfo& conn, FlushCause cause) {
  const auto& req = ex.request;
  const bool server = conn.role != Role::Client;
  trace::Span span;
  assign_identity(span, ex.identity, req.headers, server, req.tid);
  span.kind = server ? SpanKind::Server : SpanKind::Client;
  span.tid = req.tid;
  span.conn_id = conn.conn_id;
  span.resource = resources_ ? resources_(conn.pid) : nullptr;
  const std::uint64_t end_ns = std::max({ex.closed_ns, ex.response ? ex.response->end_ns : 0, req.start_ns});
  span.start_unix_ns = clock_->to_unix_ns(req.start_ns);
  span.end_unix_ns = clock_->to_unix_ns(end_ns);

  auto& a = span.attributes;
  a.reserve(24);
  const auto add_network = [&] { add_endpoint_attributes(a, conn, server, "2", ex.authority); };

  if (ex.grpc) {
    // :path is /package.Service/Method.
    std::string service = "*";
    std::string method = "*";
    if (ex.path != "*" && ex.path.size() > 1 && ex.path.front() == '/') {
      const auto slash = ex.path.find('/', 1);
      if (slash != std::string::npos) {
        service = ex.path.substr(1, slash - 1);
        method = ex.path.substr(slash + 1);
      } else {
        service = ex.path.substr(1);
      }
    }
    span.name = service + "/" + method;
    a.push_back({"rpc.system", std::string("grpc")});
    a.push_back({"rpc.service", service});
    a.push_back({"rpc.method", method});
    add_network();
    a.push_back({"rpc.grpc.request.message_count", static_cast<std::int64_t>(req.grpc_messages)});
    if (ex.response) {
      a.push_back({"rpc.grpc.response.message_count", static_cast<std::int64_t>(ex.response->grpc_messages)});
    }
    if (ex.grpc_status) {
      const int code = *ex.grpc_status;
      a.push_back({"rpc.grpc.status_code", static_cast<std::int64_t>(code)});
      if (code != 0 && (!server || grpc_server_error(code))) {
        span.status = StatusCode::Error;
        span.status_message = ex.grpc_message.empty() ? grpc_code_name(code) : ex.grpc_message;
        a.push_back({"error.type", std::string(grpc_code_name(code))});
      }
    }
    if (ex.trailers_only) a.push_back({"zerotrace.grpc.trailers_only", true});
  } else {
    const std::string target = ex.path == "*" ? std::string("*") : ex.path;
    const auto [path, query] = protocols::http1::split_target(target);
    const std::string route = target == "*" ? std::string("*") : protocols::http1::http_route_from_target(target);
    span.name = ex.method + " " + route;
    a.push_back({"http.request.method", ex.method});
    a.push_back({"url.path", std::string(path)});
    if (!query.empty()) a.push_back({"url.query", std::string(query)});
    a.push_back({"url.scheme", ex.scheme.empty() ? std::string("http") : ex.scheme});
    a.push_back({"http.route", route});
    add_network();
    if (const auto* ua = req.header("user-agent")) a.push_back({"user_agent.original", *ua});
    a.push_back({"http.request.body.size", static_cast<std::int64_t>(req.data_bytes)});
    if (ex.response) {
      a.push_back({"http.response.body.size", static_cast<std::int64_t>(ex.response->data_bytes)});
      const int code = ex.status_code;
      if (code > 0) {
        a.push_back({"http.response.status_code", static_cast<std::int64_t>(code)});
        if (code >= 500 || (!server && code >= 400)) {
          span.status = StatusCode::Error;
          a.push_back({"error.type", std::to_string(code)});
        }
      }
    }
  }
  a.push_back({"http2.stream_id", static_cast<std::int64_t>(ex.stream_id)});

  // How the stream ended, when it was not a clean END_STREAM both ways.
  if (ex.error_code) {
    const char* name = http2_error_name(*ex.error_code);
    a.push_back({"zerotrace.http2.error_code", std::string(name)});
    const bool reset = ex.closure == protocols::Http2Closure::Reset;
    if (reset) a.push_back({"zerotrace.http2.reset_by", std::string(ex.reset_by == Role::Client ? "client" : "server")});
    if (span.status == StatusCode::Unset && !ex.grpc_status && *ex.error_code != 0) {
      span.status = StatusCode::Error;
      span.status_message = std::string(reset ? "stream reset: " : "connection ended (GOAWAY): ") + name;
      a.push_back({"error.type", std::string(name)});
    }
  }
  if (ex.response && !ex.response->end_stream && ex.closure == protocols::Http2Closure::ConnectionClosed) {
    // Answered, then cut short by the connection's end: the status is what the response showed.
    if (closed_by_traffic(cause)) {
      a.push_back({"zerotrace.http2.cut_short", true});
      if (ex.grpc && !ex.grpc_status && ex.status_code > 0) {
        a.push_back({"http.response.status_code", static_cast<std::int64_t>(ex.status_code)});
      }
      // gRPC: the call never got its status; its client sees UNAVAILABLE, its server a cancel.
      if (ex.grpc && !ex.grpc_status && !server && span.status == StatusCode::Unset) {
        span.status = StatusCode::Error;
        span.status_message = "connection closed before the call ended";
        a.push_back({"error.type", std::string(grpc_code_name(14 /* UNAVAILABLE */))});
      }
    } else {
      a.push_back({"zerotrace.incomplete", true});
    }
  }
  if (!ex.response && !ex.grpc_status && span.status == StatusCode::Unset) {
    if (closed_by_traffic(cause)) {
      span.status = StatusCode::Error;
      span.status_message = "connection closed before a response";
      a.push_back({"error.type", std::string("no_response")});
    } else {
      a.push_back({"zerotrace.incomplete", true});
    }
  }
  if (ex.unresolved_headers > 0) {
    a.push_back({"zerotrace.http2.unresolved_headers", static_cast<std::int64_t>(ex.unresolved_headers)});
  }
  if (ex.degraded) a.push_back({"zerotrace.degraded", true});
  if (conn.midstream) a.push_back({"zerotrace.connection.midstream", true});
  return span;
}

trace::Span SpanBuilder::build_http(const HttpExchange& ex, const ConnectionInfo& conn, FlushCause cause) {
  const auto& req = ex.request;
  const bool server = conn.role != Role::Client;  // Unknown cannot reach here: parsers resolve it
  trace::Span span;
  assign_identity(span, ex.identity, req.headers, server, req.tid);
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
  const std::string* host = req.header("host");
  const auto [server_address, server_port] =
      add_endpoint_attributes(a, conn, server, req.version, host ? std::string_view(*host) : std::string_view());
  if (!server) {
    std::string full = "http://" + server_address;
    if (server_port != 80) full += ":" + std::to_string(server_port);
    full += req.target.empty() || req.target.front() != '/' ? "/" : "";
    full += req.target;
    a.push_back({"url.full", full});
  }
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
