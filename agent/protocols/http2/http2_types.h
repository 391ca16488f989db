// The records of HTTP/2 (and gRPC over it): one side of a stream, and a stream with its outcome.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/common.h"

namespace zt::protocols {

// One side of an HTTP/2 stream: the request (client to server) or the response.
struct Http2Message {
  // Fields of the first header block, in order, pseudo-headers (":method", ":status", ...)
  // included. A field that refers to an HPACK table entry the agent never saw has the name
  // and/or value "*" (see docs/protocols.md, HTTP/2: connections that predate the agent).
  std::vector<HeaderField> headers;
  std::vector<HeaderField> trailers;  // a later header block ending the side
  std::uint64_t header_block_bytes = 0;  // HPACK bytes of the header and trailer blocks
  std::uint64_t data_bytes = 0;          // DATA payload, padding excluded
  std::uint64_t grpc_messages = 0;       // gRPC length-prefixed messages whose last byte was seen
  std::uint32_t unresolved_headers = 0;  // fields of headers and trailers with a "*" name or value
  bool end_stream = false;               // END_STREAM seen: this side is complete
  bool headers_truncated = false;        // a header block was cut short (not captured, or invalid)
  bool data_lost = false;                // frames of this side may have been lost: counts are low
  std::uint64_t start_ns = 0;            // first byte of the first header block (as HttpMessage)
  std::uint64_t end_ns = 0;              // last byte of the last frame of this side
  std::uint32_t tid = 0;                 // thread that moved the first byte

  const std::string* header(std::string_view name) const { return find(headers, name); }
  const std::string* trailer(std::string_view name) const { return find(trailers, name); }

 private:
  static const std::string* find(const std::vector<HeaderField>& fields,
                                 std::string_view name) {
    for (const auto& [k, v] : fields) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

enum class Http2Closure : std::uint8_t {
  EndStream,         // both sides ended with END_STREAM
  Reset,             // RST_STREAM, from either side
  GoAway,            // the server's GOAWAY named a lower last stream: this one was not processed
  ConnectionClosed,  // the connection ended first (closed, evicted, process exited)
};

// One HTTP/2 stream: a request and, where one came, its response.
struct Http2Exchange {
  std::uint32_t stream_id = 0;
  Http2Message request;
  std::optional<Http2Message> response;  // the final (non-1xx) response, once its headers came
  std::uint32_t interim_responses = 0;   // 1xx header blocks before it
  // Pseudo-header values: "*" when the field could not be resolved, empty when absent.
  std::string method;
  std::string path;
  std::string scheme;
  std::string authority;
  int status_code = 0;             // :status of the response; 0 without a response or when unresolved
  bool grpc = false;               // content-type application/grpc*, or inferred (grpc_inferred)
  bool grpc_inferred = false;      // content-type unresolved: gRPC by its message framing and trailers
  std::optional<int> grpc_status;  // grpc-status from the trailers, or from a Trailers-Only response
  std::string grpc_message;        // grpc-message, percent-decoded
  bool trailers_only = false;      // gRPC Trailers-Only: one HEADERS frame answered and ended the stream
  Http2Closure closure = Http2Closure::EndStream;
  std::optional<std::uint32_t> error_code;  // RST_STREAM's, or GOAWAY's for Closure::GoAway
  Role reset_by = Role::Unknown;            // the side that sent RST_STREAM
  std::uint64_t closed_ns = 0;              // last byte of the frame that closed it, or the close time
  std::uint32_t unresolved_headers = 0;     // request and response together
  // Something of this stream was lost to the capture: unresolved header fields, header block
  // bytes not captured, or frames lost (counts are then lower bounds).
  bool degraded = false;
  bool upgraded = false;  // stream 1 after `Upgrade: h2c`: the request travelled as HTTP/1.1
  RequestIdentity identity;
};

// The request as propagation sees it (header names are lower-case on the HTTP/2 wire).
inline RequestView request_view(const Http2Exchange& exchange) {
  return RequestView{exchange.grpc ? "grpc" : "http", exchange.method, exchange.path,
                     exchange.request.headers, exchange.request.start_ns, exchange.request.tid};
}

}  // namespace zt::protocols
