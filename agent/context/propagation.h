// The propagation model: which trace a request's span belongs to and which span is its parent,
// decided when the request is seen (before its response), from what syscalls show. Precedence for a
// request (docs/context-propagation.md):
//   1. a trace-context header in the request (W3C, B3 single/multi, Jaeger), for SERVER and
//      CLIENT spans alike: an instrumented caller's context always wins;
//   2. SERVER: the CLIENT span of the same request when the client is traced on this node too,
//      matched by the connection's 4-tuple and the order of requests on it;
//   3. CLIENT: the SERVER span being served by the thread that connected the socket (first request
//      on a new connection) or that wrote the request (later requests); threads and processes
//      created while a request is served count as serving it, until its response is written;
//   4. otherwise a new trace.
// A consumer's fetch that delivered messages opens a scope on its thread (RequestView::Scope): work
// the thread does until its next fetch is parented by the fetch span, as if it served a request.
// A server that read its request before its same-node client's write was seen is paired late:
// the correction (its parent, and its trace id for every span that already took it) is kept for a
// bounded time and applied by `finalize` when spans are built and before they are exported.
// Every table is bounded; what does not fit is counted.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "context/trace_context.h"
#include "protocols/protocol.h"
#include "trace/span.h"

namespace zt::context {

struct SocketAddress {
  std::string address;  // textual, as the pipeline writes it
  std::uint16_t port = 0;
};

// Where a request was seen.
struct RequestSite {
  std::uint32_t pid = 0;
  std::uint32_t tid = 0;
  std::uint64_t conn_id = 0;
  protocols::Role role = protocols::Role::Unknown;
  SocketAddress local;
  SocketAddress remote;
  std::uint64_t ts_ns = 0;  // CLOCK_MONOTONIC
};

struct PropagationOptions {
  std::size_t max_threads = 65536;       // threads serving a request, tracked at once
  std::size_t max_peer_requests = 65536;  // same-node client requests waiting for their server side
  std::uint64_t peer_ttl_ns = 10'000'000'000ull;        // how long such a request can still be paired
  std::uint64_t correction_ttl_ns = 30'000'000'000ull;  // how long late pairings are remembered
  std::uint64_t served_ttl_ns = 30'000'000'000ull;      // how long finished requests answer active_request
  std::size_t served_per_thread = 8;                     // ... how many per thread
};

struct PropagationStats {
  std::uint64_t from_header = 0;      // spans whose parent came from a propagation header
  std::uint64_t from_peer = 0;        // SERVER spans paired with a same-node CLIENT span at once
  std::uint64_t from_peer_late = 0;   // ... paired after the fact (corrected when built/exported)
  std::uint64_t from_thread = 0;      // CLIENT spans parented by the request their thread served
  std::uint64_t from_connect = 0;     // ... by the request served when the socket was connected
  std::uint64_t from_inherited = 0;   // ... by the request served by the creator of their thread/process
  std::uint64_t from_scope = 0;       // ... by the fetch their thread made before (a consumer's work)
  std::uint64_t scopes_opened = 0;    // fetches that opened a scope on their thread
  std::uint64_t roots = 0;            // spans that started a trace
  std::uint64_t evicted = 0;          // table entries dropped at a bound
  ExtractStats extract;
};

// Hash of a trace or span id (random bytes: the first eight are as good as any).
struct IdHash {
  template <std::size_t N>
  std::size_t operator()(const std::array<std::uint8_t, N>& id) const {
    std::size_t h = 0;
    for (std::size_t i = 0; i < 8 && i < N; ++i) h = (h << 8) | id[i];
    return h;
  }
};

class Propagator {
 public:
  explicit Propagator(PropagationOptions options = {}, std::vector<std::string> local_addresses = {});

  // A request was read (role Server) or written (role Client): gives its span an identity.
  void on_request(const RequestSite& site, const protocols::RequestView& request, protocols::RequestIdentity& id);
  // A SERVER span's response was written: its thread (and threads it created) serve it no more.
  void on_server_done(std::uint32_t tid, const trace::SpanId& span_id);
  // `tid` connected socket `conn_id` (a client connection).
  void on_connect(std::uint32_t tid, std::uint64_t conn_id, std::uint64_t ts_ns);
  void on_connection_closed(std::uint64_t conn_id);
  // `parent_tid` created thread or process `child_tid` (a process's first thread: tid = pid).
  void on_thread_created(std::uint32_t parent_tid, std::uint32_t child_tid, std::uint32_t child_pid,
                         std::uint64_t ts_ns);
  void on_process_exit(std::uint32_t pid);
  // Periodic: drops what outlived its TTL.
  void expire(std::uint64_t now_ns);

  // The request `tid` of process `pid` was serving at `ts_ns` (its own, or inherited from the
  // thread or process that created it): the parent of work the thread does, such as CUDA calls.
  // Work reported late (CUPTI batches arrive after the call) is matched against the last requests
  // each thread served, kept for `served_ttl_ns`; `ts_ns` 0 means now.
  std::optional<trace::SpanContext> active_request(std::uint32_t pid, std::uint32_t tid, std::uint64_t ts_ns = 0) const;

  // Applies late pairings to a built span (parent and trace id). True if it changed.
  bool finalize(trace::Span& span) const;

  const PropagationStats& stats() const { return stats_; }
  // Addresses of this node (besides loopback), for deciding whether a peer can be traced here.
  void set_local_addresses(std::vector<std::string> addresses);

 private:
  struct Context {
    trace::TraceId trace_id{};
    trace::SpanId span_id{};
    std::uint8_t trace_flags = trace::kTraceFlagSampled;
    std::string trace_state;
    std::uint32_t pid = 0;
    std::uint64_t ts_ns = 0;
    bool inherited = false;  // the serving thread got it from its creator
    std::uint64_t conn_id = 0;  // peer queue entries: the connection the request was written on
  };
  struct Active {
    Context ctx;
    bool inherited = false;
    bool scope = false;  // opened by a request with Scope::Opens (a consumer's fetch), not served
  };
  struct Correction {
    trace::TraceId trace_id{};
    trace::SpanId parent{};
    std::uint64_t ts_ns = 0;
  };
  struct TraceAlias {
    trace::TraceId trace_id{};
    std::uint64_t ts_ns = 0;
  };
  struct PendingServer {
    trace::TraceId provisional_trace{};
    trace::SpanId span_id{};
    std::uint64_t ts_ns = 0;
    bool from_header = false;  // its parent is settled: the client's write only keeps the queue in step
    std::uint64_t conn_id = 0;
  };
  struct PeerQueue {
    std::deque<Context> clients;          // client requests not yet read by their server
    std::deque<PendingServer> servers;    // server requests read before their client's write was seen
  };

  static std::string pair_key(const SocketAddress& client, const SocketAddress& server);
  bool is_local(const std::string& address) const;
  void assign_root(protocols::RequestIdentity& id);
  static void adopt(protocols::RequestIdentity& id, const Context& parent);
  static Context context_of(const protocols::RequestIdentity& id, std::uint32_t pid, std::uint64_t ts_ns);
  void set_active(std::uint32_t tid, Active active);
  std::size_t peer_entries() const { return peer_entries_; }

  PropagationOptions options_;
  std::unordered_set<std::string> local_addresses_;
  std::unordered_map<std::uint32_t, Active> active_;                // tid -> request it serves
  struct Served {
    Context ctx;
    std::uint64_t end_ns = 0;  // when the agent saw its response written (CLOCK_MONOTONIC)
  };
  std::unordered_map<std::uint32_t, std::deque<Served>> served_;   // tid -> requests it served, newest last
  std::unordered_map<std::uint64_t, Context> connect_parent_;       // conn -> request served at connect()
  std::unordered_map<std::string, PeerQueue> peers_;                // client->server 4-tuple
  // Connections with entries in peers_: closing one drops them, so that a 4-tuple reused by a new
  // connection (ephemeral ports come back) is never paired with an old request.
  std::unordered_map<std::uint64_t, std::string> conn_keys_;
  std::size_t peer_entries_ = 0;
  std::unordered_map<trace::SpanId, Correction, IdHash> corrections_;
  std::unordered_map<trace::TraceId, TraceAlias, IdHash> aliases_;
  PropagationStats stats_;
};

}  // namespace zt::context
