// What every protocol shares: the chunks the connection tracker feeds, the connection they came
// from, the identity a request's span gets when the request is seen, and the protocol-agnostic
// view of a request that context propagation reads.
//
// The connection tracker feeds each direction of a connection as an ordered sequence of chunks
// (one per syscall). A chunk may carry only a prefix of the bytes the syscall moved (capture
// truncation) and a chunk may stand for bytes that were lost entirely (ring-buffer loss): parsers
// skip such bytes by size where the framing allows it and resynchronise at the next message
// boundary where it does not.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace zt::protocols {

enum class Direction : std::uint8_t { Egress = 0, Ingress = 1 };  // as seen by the traced process
enum class Role : std::uint8_t { Unknown = 0, Client = 1, Server = 2 };

// Requests flow from client to server: the direction a request takes gives the role.
inline Role role_of_request_sender(Direction request_dir) {
  return request_dir == Direction::Egress ? Role::Client : Role::Server;
}

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


// Decoded endpoint of a socket, as the traced process sees it.
struct Endpoint {
  std::string address;  // textual, IPv4-mapped IPv6 shown as IPv4
  std::uint16_t port = 0;
  bool ipv6 = false;
};

// Why a connection's pending records are being flushed.
enum class FlushCause : std::uint8_t {
  InStream,     // the record completed on the wire
  Closed,       // the traced process closed the socket
  ProcessExit,  // the process exited
  Idle,         // no traffic for the idle timeout
  Evicted,      // connection table full
  Shutdown,     // the agent is stopping
};

// True when the traffic itself ended the exchange (not the agent ceasing to watch).
inline bool closed_by_traffic(FlushCause cause) { return cause == FlushCause::InStream || cause == FlushCause::Closed; }

// A TLS connection's handshake, as read from its socket bytes (protocols/tls/): values as the
// OpenTelemetry tls.* attributes take them, empty where the handshake did not show them.
struct TlsSession {
  std::string protocol_version;  // tls.protocol.version: "1.2", "1.3"
  std::string cipher;            // tls.cipher: IANA name
  std::string server_name;       // tls.client.server_name: SNI
  std::string next_protocol;     // tls.next_protocol: ALPN chosen ("h2"), where visible
  // The plaintext was tied to this socket by matching its lengths with the socket's records (a
  // memory-BIO library: no socket syscall inside the TLS call), not by a syscall or SSL_set_fd.
  bool bound_by_length = false;
};

// The connection a record came from.
struct ConnectionInfo {
  std::uint64_t conn_id = 0;
  std::uint32_t pid = 0;
  std::int32_t fd = -1;
  Role role = Role::Unknown;
  Endpoint local;
  Endpoint remote;
  bool midstream = false;  // first seen after it was opened (predates the agent)
  bool tls = false;        // plaintext of a TLS connection (url.scheme https)
  // What the connection's TLS handshake showed, when it was seen (shared with the tracker, which
  // fills it from the socket's bytes; null when the handshake was not seen).
  std::shared_ptr<const TlsSession> tls_session;
};

using HeaderField = std::pair<std::string, std::string>;

// A request as propagation sees it, whatever its protocol: where context headers are read and
// which thread handled it. Valid only during the call that receives it.
struct RequestView {
  // What the thread does after a request of this kind, for propagation (docs/context-propagation.md).
  enum class Scope : std::uint8_t {
    None,    // nothing: an ordinary request
    Opens,   // the thread now works for this request's span (a consumer's fetch that delivered
             // messages) until its next request that opens or closes a scope
    Closes,  // not a span (a fetch that delivered nothing): only ends the thread's open scope
  };

  std::string_view protocol;             // "http", "grpc", "kafka", ...: for logs and counters
  std::string_view method;               // the operation where the protocol has one (HTTP method)
  std::string_view target;               // what it addresses (HTTP request target, gRPC path)
  std::span<const HeaderField> headers;  // names lower-case (HTTP/2 pseudo-headers included)
  std::uint64_t start_ns = 0;            // first byte, CLOCK_MONOTONIC
  std::uint32_t tid = 0;                 // thread that handled the first byte
  // The context in `headers` was written by another process (a message's creation context), not
  // by this client's own instrumentation: a parent taken from it is remote.
  bool headers_from_elsewhere = false;
  Scope scope = Scope::None;
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

// Counters a parser keeps so that nothing is lost silently.
struct ParserStats {
  std::uint64_t messages = 0;
  std::uint64_t parse_errors = 0;     // bytes that were not a valid message: resynchronised, or
                                      // skipped whole where the framing holds (Kafka)
  std::uint64_t resyncs = 0;          // times the parser searched for a new message boundary
  std::uint64_t bytes_skipped = 0;    // bytes dropped while resynchronising
  std::uint64_t unmatched_responses = 0;
  std::uint64_t requests_evicted = 0;  // pending requests dropped at the per-connection bound
};

}  // namespace zt::protocols
