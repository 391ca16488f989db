#include "protocols/http2/http2_protocol.h"

#include <algorithm>
#include <string>

#include "protocols/http1/route.h"
#include "protocols/http2/frame.h"
#include "protocols/http2/http2_connection.h"

namespace zt::protocols {
namespace {

using trace::SpanKind;
using trace::StatusCode;

// Enough of the client preface ("PRI * HTTP/2.0\r\n") to tell it from anything else.
constexpr std::size_t kPrefacePrefixBytes = 16;

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

std::unique_ptr<ConnectionParser> Http2Protocol::detect(Direction dir, const Chunk& chunk, Role role, bool midstream) {
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

trace::Span to_span(const Http2Exchange& ex, const SpanInput& in) {
  const auto& req = ex.request;
  const bool server = in.server();
  const std::uint64_t end_ns = std::max(ex.closed_ns, ex.response ? ex.response->end_ns : 0);
  trace::Span span = start_span(in, server ? SpanKind::Server : SpanKind::Client, req.tid, req.start_ns, end_ns);

  auto& a = span.attributes;
  a.reserve(24);
  const auto add_network = [&] { add_endpoint_attributes(a, in, {"http", "2"}, ex.authority); };

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
    const auto [path, query] = http1::split_target(target);
    const std::string route = target == "*" ? std::string("*") : http1::http_route_from_target(target);
    span.name = ex.method + " " + route;
    a.push_back({"http.request.method", ex.method});
    a.push_back({"url.path", std::string(path)});
    if (!query.empty()) a.push_back({"url.query", std::string(query)});
    a.push_back({"url.scheme", ex.scheme.empty() ? std::string(url_scheme(in.conn)) : ex.scheme});
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
    const bool reset = ex.closure == Http2Closure::Reset;
    if (reset) a.push_back({"zerotrace.http2.reset_by", std::string(ex.reset_by == Role::Client ? "client" : "server")});
    if (span.status == StatusCode::Unset && !ex.grpc_status && *ex.error_code != 0) {
      span.status = StatusCode::Error;
      span.status_message = std::string(reset ? "stream reset: " : "connection ended (GOAWAY): ") + name;
      a.push_back({"error.type", std::string(name)});
    }
  }
  if (ex.response && !ex.response->end_stream && ex.closure == Http2Closure::ConnectionClosed) {
    // Answered, then cut short by the connection's end: the status is what the response showed.
    if (closed_by_traffic(in.cause)) {
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
    if (closed_by_traffic(in.cause)) {
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
  if (in.conn.midstream) a.push_back({"zerotrace.connection.midstream", true});
  return span;
}

}  // namespace zt::protocols
