// The interface every protocol parser implements, and the records it hands to the span builder.
//
// The connection tracker feeds each direction of a connection as an ordered sequence of chunks
// (one per syscall). A chunk may carry only a prefix of the bytes the syscall moved (capture
// truncation) and a chunk may stand for bytes that were lost entirely (ring-buffer loss): parsers
// skip such bytes by size where the framing allows it and resynchronise at the next message
// boundary where it does not.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace zt::protocols {

enum class Direction : std::uint8_t { Egress = 0, Ingress = 1 };  // as seen by the traced process
enum class Role : std::uint8_t { Unknown = 0, Client = 1, Server = 2 };

struct Chunk {
  std::uint64_t position = 0;  // stream offset of the first byte
  std::uint64_t size = 0;      // bytes the syscall moved (or bytes lost, for a gap)
  std::string_view data;       // captured prefix: data.size() <= size; empty for a gap
  std::uint64_t start_ns = 0;  // syscall entry, CLOCK_MONOTONIC
  std::uint64_t end_ns = 0;    // syscall exit, CLOCK_MONOTONIC
  std::uint32_t tid = 0;       // thread that made the call
  bool gap = false;            // bytes lost entirely: nothing of them was captured

  // Bytes of the call that were not captured (saturating: the tracker guarantees data <= size).
  std::uint64_t missing() const { return size > data.size() ? size - data.size() : 0; }
};

// One HTTP/1.x message as parsed off the wire.
struct HttpMessage {
  bool is_request = false;
  std::string method;   // requests
  std::string target;   // requests: request-target as sent (path and query)
  int status_code = 0;  // responses
  std::string reason;   // responses
  std::string version;  // "1.0" or "1.1"
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, order kept
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

// The identity a request's span gets when the request is seen (read by a server, written by a
// client), before any response: the propagation model (agent/context/propagation.h) fills it then,
// so that calls made while the request is being served can name it as their parent.
struct RequestIdentity {
  bool assigned = false;
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::array<std::uint8_t, 8> parent_span_id{};  // all zero: a root
  std::uint8_t trace_flags = 0x01;
  std::string trace_state;
  bool parent_is_remote = false;
};

// A request and, where one came, its response. A request with no response becomes a span with
// an error-free UNSET status flagged as incomplete (connection closed, process exited).
struct HttpExchange {
  HttpMessage request;
  std::optional<HttpMessage> response;
  std::vector<HttpMessage> interim;  // 1xx responses (100 Continue, 103 Early Hints)
  RequestIdentity identity;          // set through the request hook, when there is one
};

// One side of an HTTP/2 stream: the request (client to server) or the response.
struct Http2Message {
  // Fields of the first header block, in order, pseudo-headers (":method", ":status", ...)
  // included. A field that refers to an HPACK table entry the agent never saw has the name
  // and/or value "*" (see docs/protocols.md, HTTP/2: connections that predate the agent).
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> trailers;  // a later header block ending the side
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
  static const std::string* find(const std::vector<std::pair<std::string, std::string>>& fields,
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

using Record = std::variant<HttpExchange, Http2Exchange>;

// Counters a parser keeps so that nothing is lost silently.
struct ParserStats {
  std::uint64_t messages = 0;
  std::uint64_t parse_errors = 0;     // bytes that were not a valid message: resynchronised
  std::uint64_t resyncs = 0;          // times the parser searched for a new message boundary
  std::uint64_t bytes_skipped = 0;    // bytes dropped while resynchronising
  std::uint64_t unmatched_responses = 0;
  std::uint64_t requests_evicted = 0;  // pending requests dropped at the per-connection bound
};

// Ordering contract: the tracker feeds each direction in stream order and the two directions in
// the order the kernel saw them (a response is never fed before the request it answers was).
// Called by a parser for each request as soon as it is complete, with the role of the connection
// (Server: the traced process read it; Client: it wrote it). Fills the identity.
using RequestHook = std::function<void(const HttpMessage& request, Role role, RequestIdentity& identity)>;

class ConnectionParser {
 public:
  virtual ~ConnectionParser() = default;
  void set_request_hook(RequestHook hook) { request_hook_ = std::move(hook); }
  // Next chunk of one direction, in stream order.
  virtual void on_chunk(Direction dir, const Chunk& chunk) = 0;
  // The connection closed (or was evicted or its process exited) at `ts_ns`: flush what can
  // still become a record (e.g. a body delimited by close, a request that never got an answer).
  virtual void on_close(std::uint64_t ts_ns) = 0;
  // Records completed since the last call, in completion order.
  virtual std::vector<Record> take_records() = 0;
  // The role, once the traffic showed it (requests flow from client to server).
  virtual Role role() const = 0;
  virtual const ParserStats& stats() const = 0;
  virtual std::string_view protocol_name() const = 0;
  // Stream position of `dir` below which this parser needs no payload (a body it skips by
  // count); 0 when it needs every byte. The tracker may ask the kernel not to copy those bytes.
  virtual std::uint64_t skip_until(Direction /*dir*/) const { return 0; }

 protected:
  void identify(const HttpMessage& request, Role role, RequestIdentity& identity) const {
    if (request_hook_) request_hook_(request, role, identity);
  }

 private:
  RequestHook request_hook_;
};

}  // namespace zt::protocols
