// The records of HTTP/1.x: one message as parsed off the wire, and a request with its response.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/common.h"

namespace zt::protocols {

// One HTTP/1.x message as parsed off the wire.
struct HttpMessage {
  bool is_request = false;
  std::string method;   // requests
  std::string target;   // requests: request-target as sent (path and query)
  int status_code = 0;  // responses
  std::string reason;   // responses
  std::string version;  // "1.0" or "1.1"
  std::vector<HeaderField> headers;  // names lower-cased, order kept
  std::uint64_t header_bytes = 0;  // start line + headers + blank line
  std::uint64_t body_bytes = 0;    // body as transferred (chunk framing excluded)
  bool body_complete = true;       // false when the connection ended inside the body
  bool headers_truncated = false;  // some header bytes were not captured
  std::uint64_t start_ns = 0;      // first byte: see DESIGN in http1_parser.h
  std::uint64_t end_ns = 0;        // last byte
  std::uint32_t tid = 0;           // thread that handled the first byte

  const std::string* header(std::string_view lower_name) const {
    for (const auto& [k, v] : headers) {
      if (k == lower_name) return &v;
    }
    return nullptr;
  }
};

// A request and, where one came, its response. A request with no response becomes a span with
// an error-free UNSET status flagged as incomplete (connection closed, process exited).
struct HttpExchange {
  HttpMessage request;
  std::optional<HttpMessage> response;
  std::vector<HttpMessage> interim;  // 1xx responses (100 Continue, 103 Early Hints)
  RequestIdentity identity;          // set through the request hook, when there is one
};

// The request as propagation sees it.
inline RequestView request_view(const HttpMessage& request) {
  return RequestView{"http", request.method, request.target, request.headers, request.start_ns, request.tid};
}
inline RequestView request_view(const HttpExchange& exchange) { return request_view(exchange.request); }

}  // namespace zt::protocols
