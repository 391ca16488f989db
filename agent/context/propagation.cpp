#include "context/propagation.h"

#include "core/clock.h"

#include <algorithm>

#include "trace/ids.h"

namespace zt::context {
namespace {

bool is_loopback(const std::string& address) {
  return address.starts_with("127.") || address == "::1";
}

// Drops the oldest entries of a map whose values have `ts_ns` (directly or in .ctx) once it holds
// `cap` entries: everything older than the median age goes. Returns how many were dropped.
template <typename Map, typename Ts>
std::size_t shrink(Map& map, std::size_t cap, Ts ts_of) {
  if (map.size() < cap) return 0;
  std::vector<std::uint64_t> stamps;
  stamps.reserve(map.size());
  for (const auto& [k, v] : map) stamps.push_back(ts_of(v));
  std::nth_element(stamps.begin(), stamps.begin() + static_cast<std::ptrdiff_t>(stamps.size() / 2), stamps.end());
  const std::uint64_t cutoff = stamps[stamps.size() / 2];
  std::size_t dropped = 0;
  for (auto it = map.begin(); it != map.end();) {
    if (ts_of(it->second) <= cutoff) {
      it = map.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  return dropped;
}

}  // namespace

Propagator::Propagator(PropagationOptions options, std::vector<std::string> local_addresses)
    : options_(options) {
  set_local_addresses(std::move(local_addresses));
}

void Propagator::set_local_addresses(std::vector<std::string> addresses) {
  local_addresses_.clear();
  for (auto& a : addresses) local_addresses_.insert(std::move(a));
}

bool Propagator::is_local(const std::string& address) const {
  return is_loopback(address) || local_addresses_.contains(address);
}

std::string Propagator::pair_key(const SocketAddress& client, const SocketAddress& server) {
  return client.address + "|" + std::to_string(client.port) + "|" + server.address + "|" + std::to_string(server.port);
}

void Propagator::assign_root(protocols::RequestIdentity& id) {
  id.trace_id = trace::new_trace_id();
  id.parent_span_id = {};
  id.parent_is_remote = false;
  ++stats_.roots;
}

void Propagator::adopt(protocols::RequestIdentity& id, const Context& parent) {
  id.trace_id = parent.trace_id;
  id.parent_span_id = parent.span_id;
  id.trace_flags = parent.trace_flags;
  id.trace_state = parent.trace_state;
}

Propagator::Context Propagator::context_of(const protocols::RequestIdentity& id, std::uint32_t pid,
                                           std::uint64_t ts_ns) {
  return Context{id.trace_id, id.span_id, id.trace_flags, id.trace_state, pid, ts_ns};
}

void Propagator::set_active(std::uint32_t tid, Active active) {
  if (!active_.contains(tid)) {
    stats_.evicted += shrink(active_, options_.max_threads, [](const Active& a) { return a.ctx.ts_ns; });
  }
  active_[tid] = std::move(active);
}

void Propagator::on_request(const RequestSite& site, const protocols::RequestView& request,
                            protocols::RequestIdentity& id) {
  using protocols::Role;
  using Scope = protocols::RequestView::Scope;
  if (request.scope == Scope::Closes) {
    // Not a span: the thread's open scope (its previous fetch) ends here.
    if (auto a = active_.find(site.tid); a != active_.end() && a->second.scope) active_.erase(a);
    return;
  }
  id.assigned = true;
  id.span_id = trace::new_span_id();
  const auto header = extract(request.headers, &stats_.extract);

  if (site.role == Role::Server) {
    // The same-node client of this request, if it is traced: always take it off the queue, so the
    // queue stays in step with the connection even when a header decides the parent.
    std::optional<Context> peer;
    const std::string key = pair_key(site.remote, site.local);
    bool may_pair_late = false;
    if (auto it = peers_.find(key); it != peers_.end() && !it->second.clients.empty()) {
      peer = std::move(it->second.clients.front());
      it->second.clients.pop_front();
      --peer_entries_;
    } else {
      may_pair_late = is_local(site.remote.address);
    }
    if (header) {
      id.trace_id = header->trace_id;
      id.parent_span_id = header->span_id;
      id.trace_flags = header->sampled ? trace::kTraceFlagSampled : 0;
      id.trace_state = header->trace_state;
      id.parent_is_remote = true;
      ++stats_.from_header;
    } else if (peer) {
      adopt(id, *peer);
      id.parent_is_remote = true;
      ++stats_.from_peer;
    } else {
      assign_root(id);
    }
    // Read before its client's write was seen: wait for that write, to pair late (or, with a
    // header, only to keep the connection's queue in step).
    if (!peer && may_pair_late) {
      if (peer_entries_ >= options_.max_peer_requests) expire(site.ts_ns + options_.peer_ttl_ns / 2);
      if (peer_entries_ < options_.max_peer_requests) {
        peers_[key].servers.push_back(
            PendingServer{id.trace_id, id.span_id, site.ts_ns, header.has_value(), site.conn_id});
        conn_keys_[site.conn_id] = key;
        ++peer_entries_;
      } else {
        ++stats_.evicted;
      }
    }
    set_active(site.tid, Active{context_of(id, site.pid, site.ts_ns), false});
    return;
  }

  // Client.
  if (header) {
    // An instrumented caller already put its context on the wire: our span joins it, as a child of
    // the span the header names (the caller's own client span, in this process).
    id.trace_id = header->trace_id;
    id.parent_span_id = header->span_id;
    id.trace_flags = header->sampled ? trace::kTraceFlagSampled : 0;
    id.trace_state = header->trace_state;
    id.parent_is_remote = request.headers_from_elsewhere;
    ++stats_.from_header;
  } else if (auto c = connect_parent_.find(site.conn_id); c != connect_parent_.end()) {
    adopt(id, c->second);
    ++(c->second.inherited ? stats_.from_inherited : stats_.from_connect);
    connect_parent_.erase(c);
  } else if (auto a = active_.find(site.tid);
             a != active_.end() && a->second.ctx.pid == site.pid &&
             !(a->second.scope && request.scope == Scope::Opens)) {
    // (A fetch replaces the scope of the one before: it is not work done on its messages.)
    adopt(id, a->second.ctx);
    ++(a->second.scope ? stats_.from_scope : a->second.inherited ? stats_.from_inherited : stats_.from_thread);
  } else {
    assign_root(id);
  }
  connect_parent_.erase(site.conn_id);  // only a connection's first request uses it
  if (request.scope == Scope::Opens) {
    // The thread now works on what this fetch delivered, unless it is serving a request (whose
    // span stays its parent).
    auto a = active_.find(site.tid);
    if (a == active_.end() || a->second.scope || a->second.ctx.pid != site.pid) {
      Active scope{context_of(id, site.pid, site.ts_ns), false, true};
      set_active(site.tid, std::move(scope));
      ++stats_.scopes_opened;
    }
  }

  // Offer the request to its server side, if that is traced on this node.
  if (!is_local(site.remote.address)) return;
  const std::string key = pair_key(site.local, site.remote);
  auto& queue = peers_[key];
  if (!queue.servers.empty()) {
    // The server read this request before its write was seen here: correct it afterwards.
    const PendingServer server = queue.servers.front();
    queue.servers.pop_front();
    --peer_entries_;
    if (!header && !server.from_header) {
      corrections_[server.span_id] = Correction{id.trace_id, id.span_id, site.ts_ns};
      aliases_[server.provisional_trace] = TraceAlias{id.trace_id, site.ts_ns};
      ++stats_.from_peer_late;
      if (stats_.roots > 0) --stats_.roots;
    }
    return;
  }
  if (peer_entries_ >= options_.max_peer_requests) expire(site.ts_ns + options_.peer_ttl_ns / 2);
  if (peer_entries_ >= options_.max_peer_requests) {
    ++stats_.evicted;
    return;
  }
  Context entry = context_of(id, site.pid, site.ts_ns);
  entry.conn_id = site.conn_id;
  queue.clients.push_back(std::move(entry));
  conn_keys_[site.conn_id] = key;
  ++peer_entries_;
}

void Propagator::on_server_done(std::uint32_t tid, const trace::SpanId& span_id) {
  // The thread, and every thread that inherited this request, serve it no more; they remember
  // having served it, for work reported late.
  const std::uint64_t now = monotonic_now_ns();
  for (auto it = active_.begin(); it != active_.end();) {
    if (it->second.ctx.span_id == span_id && (it->first == tid || it->second.inherited)) {
      if (!served_.contains(it->first) && served_.size() >= options_.max_threads) {
        stats_.evicted += served_.size();
        served_.clear();
      }
      auto& history = served_[it->first];
      history.push_back({it->second.ctx, now});
      if (history.size() > options_.served_per_thread) history.pop_front();
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
}

void Propagator::on_connect(std::uint32_t tid, std::uint64_t conn_id, std::uint64_t ts_ns) {
  const auto a = active_.find(tid);
  if (a == active_.end()) return;
  if (!connect_parent_.contains(conn_id)) {
    stats_.evicted += shrink(connect_parent_, options_.max_threads, [](const Context& c) { return c.ts_ns; });
  }
  Context ctx = a->second.ctx;
  ctx.ts_ns = ts_ns;
  ctx.inherited = a->second.inherited;
  connect_parent_[conn_id] = std::move(ctx);
}

void Propagator::on_connection_closed(std::uint64_t conn_id) {
  connect_parent_.erase(conn_id);
  const auto k = conn_keys_.find(conn_id);
  if (k == conn_keys_.end()) return;
  if (auto q = peers_.find(k->second); q != peers_.end()) {
    const auto before = q->second.clients.size() + q->second.servers.size();
    std::erase_if(q->second.clients, [&](const Context& c) { return c.conn_id == conn_id; });
    std::erase_if(q->second.servers, [&](const PendingServer& p) { return p.conn_id == conn_id; });
    peer_entries_ -= before - (q->second.clients.size() + q->second.servers.size());
    if (q->second.clients.empty() && q->second.servers.empty()) peers_.erase(q);
  }
  conn_keys_.erase(k);
}

void Propagator::on_thread_created(std::uint32_t parent_tid, std::uint32_t child_tid, std::uint32_t child_pid,
                                   std::uint64_t ts_ns) {
  const auto a = active_.find(parent_tid);
  if (a == active_.end()) {
    active_.erase(child_tid);  // a reused tid must not keep an older thread's request
    return;
  }
  Active inherited{a->second.ctx, true};
  inherited.ctx.pid = child_pid;
  inherited.ctx.ts_ns = ts_ns;
  set_active(child_tid, std::move(inherited));
}

void Propagator::on_process_exit(std::uint32_t pid) {
  std::erase_if(active_, [&](const auto& entry) { return entry.second.ctx.pid == pid; });
  std::erase_if(served_, [&](const auto& entry) { return !entry.second.empty() && entry.second.back().ctx.pid == pid; });
}

void Propagator::expire(std::uint64_t now_ns) {
  const auto old = [&](std::uint64_t ts, std::uint64_t ttl) { return ts + ttl < now_ns; };
  for (auto it = served_.begin(); it != served_.end();) {
    while (!it->second.empty() && old(it->second.front().end_ns, options_.served_ttl_ns)) it->second.pop_front();
    it = it->second.empty() ? served_.erase(it) : std::next(it);
  }
  for (auto it = peers_.begin(); it != peers_.end();) {
    auto& q = it->second;
    while (!q.clients.empty() && old(q.clients.front().ts_ns, options_.peer_ttl_ns)) {
      q.clients.pop_front();
      --peer_entries_;
    }
    while (!q.servers.empty() && old(q.servers.front().ts_ns, options_.peer_ttl_ns)) {
      q.servers.pop_front();
      --peer_entries_;
    }
    it = q.clients.empty() && q.servers.empty() ? peers_.erase(it) : std::next(it);
  }
  std::erase_if(conn_keys_, [&](const auto& e) { return !peers_.contains(e.second); });
  std::erase_if(corrections_, [&](const auto& e) { return old(e.second.ts_ns, options_.correction_ttl_ns); });
  std::erase_if(aliases_, [&](const auto& e) { return old(e.second.ts_ns, options_.correction_ttl_ns); });
  std::erase_if(connect_parent_, [&](const auto& e) { return old(e.second.ts_ns, options_.correction_ttl_ns); });
}

bool Propagator::finalize(trace::Span& span) const {
  bool changed = false;
  if (const auto c = corrections_.find(span.span_id); c != corrections_.end() && span.is_root()) {
    span.parent_span_id = c->second.parent;
    span.parent_is_remote = true;
    changed = true;
  }
  // Follow aliases (a chain is at most as long as the number of late pairings along one trace),
  // for the span's trace and for those its links name (a same-node send may have been re-parented).
  const auto follow = [this, &changed](trace::TraceId& id) {
    for (int hops = 0; hops < 8; ++hops) {
      const auto a = aliases_.find(id);
      if (a == aliases_.end() || a->second.trace_id == id) break;
      id = a->second.trace_id;
      changed = true;
    }
  };
  follow(span.trace_id);
  for (auto& link : span.links) follow(link.trace_id);
  return changed;
}

std::optional<trace::SpanContext> Propagator::active_request(std::uint32_t pid, std::uint32_t tid,
                                                                    std::uint64_t ts_ns) const {
  const auto as_request = [](const Context& c) {
    return trace::SpanContext{c.trace_id, c.span_id, c.trace_flags, c.trace_state};
  };
  if (const auto a = active_.find(tid); a != active_.end() && a->second.ctx.pid == pid &&
                                        (ts_ns == 0 || a->second.ctx.ts_ns <= ts_ns)) {
    return as_request(a->second.ctx);
  }
  if (ts_ns == 0) return std::nullopt;
  if (const auto h = served_.find(tid); h != served_.end()) {
    for (auto it = h->second.rbegin(); it != h->second.rend(); ++it) {
      if (it->ctx.pid == pid && it->ctx.ts_ns <= ts_ns && ts_ns <= it->end_ns) return as_request(it->ctx);
    }
  }
  return std::nullopt;
}

}  // namespace zt::context
