#include "tls/tls_binder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <utility>

namespace zt::tls {

namespace {

using protocols::Direction;
using protocols::tls::RecordInfo;

// A record carries at most 2^14 plaintext bytes (RFC 8446 5.1): a larger call's first record.
constexpr std::uint64_t kMaxRecordPlaintext = 16384;
// Record overheads to try before the handshake says which applies: TLS 1.3 AEAD (5 + 1 + 16),
// TLS 1.2 AES-GCM (5 + 8 + 16), TLS 1.2 ChaCha20-Poly1305 (5 + 16).
constexpr std::array<std::size_t, 3> kUsualOverheads{22, 29, 21};
// A write's record may be timed a little before the call's entry by the clocks of two CPUs.
constexpr std::uint64_t kClockSlackNs = 1'000'000;

}  // namespace

TlsBinder::TlsBinder(TlsBinderOptions options, Sockets sockets, Bind bind, Deliver deliver)
    : options_(options), sockets_(std::move(sockets)), bind_(std::move(bind)), deliver_(std::move(deliver)) {}

void TlsBinder::on_unbound(UnboundCall&& call, std::uint64_t now_ns) {
  ++stats_.unbound_calls;
  const Key key{call.pid, call.ssl};
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    if (objects_.size() >= options_.max_objects) {
      ++stats_.dropped;
      return;
    }
    it = objects_.emplace(key, Object{}).first;
  }
  Object& object = it->second;
  object.last_ns = now_ns;
  if (object.bound) {
    // Sent before the kernel learnt the binding: in order, straight to its socket.
    deliver_(object.conn_id, call, 0);
    ++stats_.replayed;
    return;
  }
  if (object.held.size() >= options_.max_held_calls || object.held_bytes + call.size > options_.max_held_bytes) {
    // Too much waiting: what is held goes; the stream resumes after a gap once bound.
    for (const auto& h : object.held) object.lost_bytes[static_cast<std::size_t>(h.call.direction)] += h.call.size;
    stats_.dropped += object.held.size();
    object.held.clear();
    object.held_bytes = 0;
  }
  object.held_bytes += call.size;
  object.held.push_back(Held{std::move(call), false});
  Held& held = object.held.back();
  held.matched = try_match(key, object, held, now_ns);
}

bool TlsBinder::try_match(const Key& key, Object& object, Held& held, std::uint64_t now_ns) {
  const UnboundCall& call = held.call;
  const std::uint64_t plaintext = std::min(call.size, kMaxRecordPlaintext);
  const bool read = call.direction == Direction::Ingress;
  struct Candidate {
    std::uint64_t conn_id;
    std::int32_t fd;
    std::uint64_t position;
  };
  std::vector<Candidate> found;
  sockets_(key.pid, [&](const TlsSocket& socket) {
    if (!socket.records) return;
    const std::size_t known = protocols::tls::record_overhead(socket.records->facts());
    const auto& records = socket.records->recent_records(call.direction);
    const auto consumed = consumed_.find({socket.conn_id, static_cast<int>(call.direction)});
    for (std::size_t i = 0; i < records.size(); ++i) {
      const RecordInfo& r = records[i];
      if (consumed != consumed_.end() && r.position <= consumed->second.position) continue;
      const bool in_time =
          read ? r.end_ns <= call.end_ns + kClockSlackNs && r.end_ns + options_.window_ns >= call.end_ns
               : r.start_ns + kClockSlackNs >= call.start_ns && r.start_ns <= call.end_ns + options_.window_ns;
      if (!in_time) continue;
      const bool size_fits = known ? r.size == plaintext + known
                                   : std::any_of(kUsualOverheads.begin(), kUsualOverheads.end(),
                                                 [&](std::size_t overhead) { return r.size == plaintext + overhead; });
      if (!size_fits) continue;
      found.push_back({socket.conn_id, socket.fd, r.position});
      return;  // the oldest unmatched record of this socket that fits
    }
  });
  if (found.size() > 1) {
    ++stats_.ambiguous;
    return true;
  }
  if (found.empty()) {
    // A write's record may still be on its way; a read's came before the call.
    if (now_ns > call.end_ns + options_.window_ns) {
      ++stats_.unmatched;
      return true;
    }
    return false;
  }
  ++stats_.matches;
  Consumed& c = consumed_[{found[0].conn_id, static_cast<int>(call.direction)}];
  c.position = found[0].position;
  c.pid = key.pid;
  vote(key, object, found[0].conn_id, found[0].fd);
  return true;
}

void TlsBinder::vote(const Key& key, Object& object, std::uint64_t conn_id, std::int32_t fd) {
  if (object.votes && object.candidate != conn_id) {
    ++stats_.contradictions;
    object.votes = 0;
  }
  object.candidate = conn_id;
  object.candidate_fd = fd;
  if (++object.votes < options_.votes_to_bind || object.bound) return;
  if (!bind_(key.pid, key.ssl, fd)) {
    spdlog::debug("pid {}: binding TLS object 0x{:x} to fd {} failed", key.pid, key.ssl, fd);
    return;
  }
  object.bound = true;
  object.conn_id = conn_id;
  ++stats_.bound;
  spdlog::debug("pid {}: TLS object 0x{:x} bound to fd {} (conn {}) by record lengths", key.pid, key.ssl, fd, conn_id);
  release(object);
}

void TlsBinder::release(Object& object) {
  for (auto& held : object.held) {
    const auto dir = static_cast<std::size_t>(held.call.direction);
    deliver_(object.conn_id, held.call, object.lost_bytes[dir]);
    object.lost_bytes[dir] = 0;
    ++stats_.replayed;
  }
  object.held.clear();
  object.held_bytes = 0;
}

void TlsBinder::retry(std::uint32_t pid, std::uint64_t now_ns) {
  for (auto it = objects_.lower_bound(Key{pid, 0}); it != objects_.end() && it->first.pid == pid; ++it) {
    Object& object = it->second;
    // Voting may bind the object, which delivers and clears what it holds: stop there.
    for (std::size_t i = 0; i < object.held.size() && !object.bound; ++i) {
      Held& held = object.held[i];
      if (!held.matched) held.matched = try_match(it->first, object, held, now_ns);
    }
  }
}

void TlsBinder::on_records(std::uint32_t pid, std::uint64_t now_ns) {
  if (objects_.empty()) return;
  retry(pid, now_ns);
}

void TlsBinder::tick(std::uint64_t now_ns) {
  std::vector<std::uint32_t> pids;
  for (const auto& [key, object] : objects_) {
    if (!object.bound && (pids.empty() || pids.back() != key.pid)) pids.push_back(key.pid);
  }
  for (auto pid : pids) retry(pid, now_ns);
  for (auto it = objects_.begin(); it != objects_.end();) {
    if (now_ns > it->second.last_ns + options_.forget_after_ns) {
      stats_.dropped += it->second.held.size();
      it = objects_.erase(it);
    } else {
      ++it;
    }
  }
}

void TlsBinder::on_process_exit(std::uint32_t pid) {
  for (auto it = objects_.lower_bound(Key{pid, 0}); it != objects_.end() && it->first.pid == pid;) {
    stats_.dropped += it->second.held.size();
    it = objects_.erase(it);
  }
  std::erase_if(consumed_, [pid](const auto& entry) { return entry.second.pid == pid; });
}

void TlsBinder::report(StatsSnapshot& out) const {
  out.set("tls.unbound_calls", stats_.unbound_calls);
  out.set("tls.length_matches", stats_.matches);
  out.set("tls.length_ambiguous", stats_.ambiguous);
  out.set("tls.length_unmatched", stats_.unmatched);
  out.set("tls.length_contradictions", stats_.contradictions);
  out.set("tls.bound_by_length", stats_.bound);
  out.set("tls.unbound_replayed", stats_.replayed);
  out.set("tls.unbound_dropped", stats_.dropped);
}

}  // namespace zt::tls
