// Ties the plaintext of TLS calls that made no socket syscall (memory BIOs: node's TLSWrap,
// Python's asyncio, gRPC C++'s frame protector) to the socket that carries their records, by
// length: a TLS record on the wire is its plaintext plus a fixed overhead for the negotiated
// version and AEAD cipher (protocols/tls/tls_handshake.h, record_overhead). A read's plaintext
// follows the ciphertext read that brought its record; a write's plaintext comes before the
// socket write that sends its record.
//
// Each unbound call is matched against the recent application data records of the process's TLS
// sockets within a window; a match on exactly one socket is a vote for that socket. An SSL object
// is bound after `votes_to_bind` votes for one socket and none for another (a contradiction
// starts the count again): the agent then tells the kernel (ssl_fds_map), so that the object's
// later calls are tied there, and replays the calls it held back, in order, as plaintext of that
// socket. Nothing is bound by "the last socket of this thread". Spans from such a socket say how
// it was bound (zerotrace.tls.bound_by). Memory is bounded: calls held per SSL object, SSL
// objects pending, and unmatched calls expire (counted).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/stats.h"
#include "protocols/common.h"
#include "protocols/tls/tls_handshake.h"

namespace zt::tls {

// A TLS socket of a process, as the binder sees it.
struct TlsSocket {
  std::uint64_t conn_id = 0;
  std::int32_t fd = -1;
  const protocols::tls::TlsStreamParser* records = nullptr;  // its records and handshake facts
};

// The plaintext of one unbound call.
struct UnboundCall {
  std::uint32_t pid = 0;
  std::uint32_t tid = 0;
  std::uint64_t ssl = 0;
  protocols::Direction direction = protocols::Direction::Ingress;
  std::uint64_t start_ns = 0;  // entry
  std::uint64_t end_ns = 0;    // return
  std::uint64_t size = 0;      // plaintext bytes moved
  std::string data;            // captured prefix
};

struct TlsBinderOptions {
  std::uint64_t window_ns = 250'000'000;  // how far a record may be from its call
  unsigned votes_to_bind = 2;
  std::size_t max_held_calls = 64;  // per SSL object, before it is bound
  std::size_t max_held_bytes = 256 * 1024;
  std::size_t max_objects = 4096;                     // SSL objects waiting to be bound
  std::uint64_t forget_after_ns = 30'000'000'000ull;  // an SSL object idle this long is dropped
};

struct TlsBinderStats {
  std::uint64_t unbound_calls = 0;   // calls that reached the binder
  std::uint64_t matches = 0;         // calls matched to one socket's record
  std::uint64_t ambiguous = 0;       // calls matching records of several sockets (no vote)
  std::uint64_t unmatched = 0;       // calls no record matched within the window
  std::uint64_t contradictions = 0;  // a vote for another socket than the earlier ones
  std::uint64_t bound = 0;           // SSL objects bound
  std::uint64_t replayed = 0;        // held calls delivered after binding
  std::uint64_t dropped = 0;         // held calls given up (bounds, expiry, process exit)
};

class TlsBinder {
 public:
  // The TLS sockets of a process (calls `visit` for each).
  using Sockets = std::function<void(std::uint32_t pid, const std::function<void(const TlsSocket&)>& visit)>;
  // An SSL object is tied to a socket: tell the kernel. Returns false when it could not.
  using Bind = std::function<bool(std::uint32_t pid, std::uint64_t ssl, std::int32_t fd)>;
  // Plaintext of `conn_id`, in order; `lost_before` bytes of its direction were given up just
  // before it (bounds), so that the stream shows a gap there.
  using Deliver = std::function<void(std::uint64_t conn_id, const UnboundCall& call, std::uint64_t lost_before)>;

  TlsBinder(TlsBinderOptions options, Sockets sockets, Bind bind, Deliver deliver);

  void on_unbound(UnboundCall&& call, std::uint64_t now_ns);
  // New ciphertext records were seen on a socket of `pid`: calls waiting for theirs try again.
  void on_records(std::uint32_t pid, std::uint64_t now_ns);
  void tick(std::uint64_t now_ns);
  void on_process_exit(std::uint32_t pid);

  const TlsBinderStats& stats() const { return stats_; }
  void report(StatsSnapshot& out) const;

 private:
  struct Key {
    std::uint32_t pid = 0;
    std::uint64_t ssl = 0;
    auto operator<=>(const Key&) const = default;
  };
  struct Held {
    UnboundCall call;
    bool matched = false;  // voted (or gave up trying)
  };
  struct Object {
    std::deque<Held> held;
    std::size_t held_bytes = 0;
    std::uint64_t candidate = 0;  // conn_id the votes are for
    std::int32_t candidate_fd = -1;
    unsigned votes = 0;
    std::uint64_t last_ns = 0;
    std::array<std::uint64_t, 2> lost_bytes{};  // per direction, given up before the next held call
    bool bound = false;
    std::uint64_t conn_id = 0;  // once bound
  };
  struct Consumed {  // per socket and direction: records up to this position have been matched
    std::uint64_t position = 0;
    std::uint32_t pid = 0;
  };

  // Tries to match the held call; true when it voted (or can never match).
  bool try_match(const Key& key, Object& object, Held& held, std::uint64_t now_ns);
  void retry(std::uint32_t pid, std::uint64_t now_ns);
  void vote(const Key& key, Object& object, std::uint64_t conn_id, std::int32_t fd);
  void release(Object& object);

  TlsBinderOptions options_;
  Sockets sockets_;
  Bind bind_;
  Deliver deliver_;
  std::map<Key, Object> objects_;
  std::map<std::pair<std::uint64_t, int>, Consumed> consumed_;  // (conn_id, direction)
  TlsBinderStats stats_;
};

}  // namespace zt::tls
