// Per-connection state between the ring buffer and the protocol parsers: ordered byte streams
// per direction, protocol detection, the parser, and the bookkeeping that bounds memory (idle
// eviction, a cap on live connections, cleanup when a process exits).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "pipeline/connection_info.h"
#include "pipeline/data_stream.h"
#include "pipeline/kernel_control.h"
#include "protocols/protocol.h"
#include "protocols/tls/tls_handshake.h"
#include "zerotrace/abi.h"

namespace zt::pipeline {

struct ConnTrackerOptions {
  std::size_t max_connections = 65536;
  std::uint64_t idle_timeout_ns = 300'000'000'000ull;  // 5 min
  int max_detect_chunks = 8;                           // chunks looked at before a connection is declared unsupported
  std::size_t detect_join_bytes = 8;                   // a first call shorter than this is joined to the next one
  // A body is left uncopied in the kernel only when more than this much of it is still to come
  // (below the capture size a skip saves little, and costs a control write).
  std::uint64_t kernel_skip_min_bytes = 4096;
  DataStreamLimits stream_limits;
  // A TLS connection whose plaintext was never seen gives a record of its own at its close
  // (protocols/tls/tls_protocol.h): a span with the handshake's facts. Config tls.handshake_spans.
  bool tls_handshake_spans = false;
};

struct ConnTrackerStats {
  std::uint64_t connections_opened = 0;
  std::uint64_t connections_closed = 0;
  std::uint64_t connections_evicted = 0;      // idle or over the cap
  std::uint64_t connections_unsupported = 0;  // no protocol recognised
  std::uint64_t records = 0;
  std::uint64_t gaps = 0;
  std::uint64_t gap_bytes = 0;
  std::uint64_t parse_errors = 0;
  std::uint64_t tls_connections = 0;         // sockets seen carrying TLS (handshake or a TLS call)
  std::uint64_t tls_plaintext_streams = 0;   // of those, with plaintext from TLS calls
  std::uint64_t tls_without_plaintext = 0;   // closed TLS sockets whose plaintext was never seen
  std::uint64_t tls_plaintext_orphaned = 0;  // plaintext bound to a socket no longer tracked
  std::uint64_t tls_handshake_records = 0;   // of tls_without_plaintext, given a span of their own
};

// A TLS socket and what its records showed (for binding plaintext by length: tls/tls_binder.h).
struct TlsSocketRecords {
  std::uint64_t conn_id = 0;
  std::int32_t fd = -1;
  const protocols::tls::TlsStreamParser* records = nullptr;
};

class ConnTracker {
 public:
  using RecordSink = std::function<void(protocols::Record&&, const ConnectionInfo&, FlushCause)>;

  // Told about each request when its parser has it complete, before the response (the
  // propagation model gives its span an identity then). `info.role` is the parser's.
  using RequestObserver = std::function<void(const ConnectionInfo& info, const protocols::RequestView& request,
                                             protocols::RequestIdentity& identity)>;

  ConnTracker(ConnTrackerOptions options, RecordSink sink);
  ~ConnTracker();
  void set_request_observer(RequestObserver observer) { observer_ = std::move(observer); }
  // Where unsupported connections and skippable bodies are reported (not owned; may be null).
  void set_kernel_control(KernelControl* control) { control_ = control; }

  void on_data(const zt_data_event& event, std::string_view payload, std::uint64_t now_ns);
  // Plaintext of TLS socket `conn_id` tied to it in userspace (by record lengths), in order:
  // positioned after what came before it on the socket's plaintext stream, `lost_before` bytes
  // of its direction missing just before it. `bound_by_length` marks the socket's spans.
  void on_tls_plaintext(std::uint64_t conn_id, protocols::Direction dir, std::uint32_t tid, std::uint64_t start_ns,
                        std::uint64_t end_ns, std::uint64_t size, std::string_view data, std::uint64_t lost_before,
                        std::uint64_t now_ns);
  // Told after a TLS socket of `pid` showed new records.
  void set_tls_records_hook(std::function<void(std::uint32_t pid)> hook) { tls_records_hook_ = std::move(hook); }
  // The TLS sockets of `pid` with their records.
  void for_each_tls_socket(std::uint32_t pid, const std::function<void(const TlsSocketRecords&)>& visit) const;
  void on_conn_open(const zt_conn_event& event);
  void on_conn_close(const zt_conn_event& event);
  void on_process_exit(std::uint32_t pid, std::uint64_t ts_ns);
  // Periodic housekeeping: gaps waited for long enough, idle connections.
  void tick(std::uint64_t now_ns);
  // Flushes every connection (agent stopping).
  void shutdown(std::uint64_t ts_ns);

  std::size_t live_connections() const { return conns_.size(); }
  ConnTrackerStats stats() const;

 private:
  struct Connection {
    ConnectionInfo info;
    // The plaintext of a TLS connection's calls (its own stream, keyed apart from the socket's
    // bytes): never under kernel control, which speaks for the socket's bytes.
    bool plaintext = false;
    // The socket's bytes are TLS (ciphertext): never given to a protocol parser. The handshake's
    // facts are shared with the plaintext stream's ConnectionInfo.
    bool tls = false;
    bool tls_plaintext_seen = false;
    std::uint64_t tls_first_ns = 0;  // the socket's first TLS bytes, and the thread that moved them
    std::uint32_t tls_first_tid = 0;
    std::shared_ptr<protocols::TlsSession> tls_session;
    std::unique_ptr<protocols::tls::TlsStreamParser> tls_records;  // the socket's TLS records
    bool tls_session_final = false;                                // the handshake's facts are all in tls_session
    bool cipher_released = false;                                  // the kernel was told to stop copying the ciphertext
    std::uint32_t cipher_chunks = 0;
    // Plaintext streams: bytes put before the kernel's positions by userspace binding.
    std::array<std::uint64_t, 2> plaintext_base{};
    std::array<DataStream, 2> streams;
    std::unique_ptr<protocols::ConnectionParser> parser;
    int detect_attempts = 0;
    // Per direction: a first call too short to recognise a protocol by (a binary protocol's size
    // written or read alone: Java reads 4 bytes, then the body), joined to the next call.
    std::array<std::string, 2> detect_prefix;
    std::array<protocols::Chunk, 2> detect_prefix_chunk{};
    std::array<bool, 2> detect_joined{};  // a direction joins its first short call only
    bool unsupported = false;
    std::array<std::uint64_t, 2> delivered_until{};  // per direction: stream position parsed up to
    std::array<std::uint64_t, 2> skip_asked{};       // per direction: last skip asked of the kernel
    std::uint64_t last_activity_ns = 0;
    std::list<std::uint64_t>::iterator lru_pos;
  };

  // Key of a connection's plaintext stream in conns_ (kernel connection ids never use the top bit).
  static constexpr std::uint64_t kPlaintextKey = 1ull << 63;

  // The socket `conn` turned out to carry TLS: its bytes go to no protocol parser, and the kernel
  // may stop copying them once the handshake is read.
  void mark_tls(Connection& conn);
  // A ciphertext chunk of a TLS socket: its records and handshake.
  void deliver_tls(Connection& conn, protocols::Direction dir, const protocols::Chunk& chunk);
  // The record of a TLS socket closed without plaintext (options_.tls_handshake_spans).
  void emit_tls_connection(Connection& conn, std::uint64_t ts_ns, protocols::FlushCause cause);
  // The plaintext stream of socket `socket_id`, created from the socket's connection.
  Connection& plaintext_of(Connection& socket, std::uint64_t now_ns);
  // Orders `chunk` in its direction's stream and parses what is in order.
  void accept_chunk(Connection& conn, protocols::Direction dir, const protocols::Chunk& chunk, std::uint64_t now_ns);
  Connection& find_or_create(std::uint64_t conn_id, std::uint32_t pid, const zt_tuple& tuple, std::int32_t fd,
                             std::uint8_t role, bool midstream, std::uint64_t now_ns);
  void touch(Connection& conn, std::uint64_t now_ns);
  void deliver(Connection& conn, protocols::Direction dir, const protocols::Chunk& chunk);
  // Tries detection on `chunk` (a call, or a short first call joined to the next) and feeds it
  // to the parser found.
  void deliver_detected(Connection& conn, protocols::Direction dir, const protocols::Chunk& chunk);
  void emit_records(Connection& conn, FlushCause cause);
  // Asks the kernel to skip the payload the parser no longer needs, when that is worth it.
  void request_skip(Connection& conn, protocols::Direction dir);
  // Gives up waiting on both directions, the one whose waiting bytes are older first, so that a
  // request reaches the parser before the response that answers it.
  void flush_streams(Connection& conn, std::uint64_t now_ns, bool force);
  void finish(std::uint64_t conn_id, std::uint64_t ts_ns, FlushCause cause);

  ConnTrackerOptions options_;
  RecordSink sink_;
  RequestObserver observer_;
  KernelControl* control_ = nullptr;
  std::unordered_map<std::uint64_t, Connection> conns_;
  std::list<std::uint64_t> lru_;  // most recently active first
  std::unordered_set<std::uint64_t> with_pending_;
  std::unordered_map<std::uint32_t, std::vector<std::uint64_t>> tls_by_pid_;  // TLS sockets per process
  std::function<void(std::uint32_t pid)> tls_records_hook_;
  ConnTrackerStats stats_;
};

}  // namespace zt::pipeline
