#include "pipeline/conn_tracker.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "pipeline/events.h"
#include "protocols/detector.h"

namespace zt::pipeline {

using protocols::Chunk;
using protocols::Direction;
using protocols::Role;

ConnTracker::ConnTracker(ConnTrackerOptions options, RecordSink sink)
    : options_(options), sink_(std::move(sink)) {}

ConnTracker::~ConnTracker() = default;

ConnTracker::Connection& ConnTracker::find_or_create(std::uint64_t conn_id, std::uint32_t pid,
                                                     const zt_tuple& tuple, std::int32_t fd,
                                                     std::uint8_t role, bool midstream,
                                                     std::uint64_t now_ns) {
  auto it = conns_.find(conn_id);
  if (it != conns_.end()) return it->second;

  if (conns_.size() >= options_.max_connections && !lru_.empty()) {
    ++stats_.connections_evicted;
    finish(lru_.back(), now_ns, FlushCause::Evicted);
  }
  Connection& conn = conns_[conn_id];
  conn.info.conn_id = conn_id;
  conn.info.pid = pid;
  conn.info.fd = fd;
  conn.info.role = static_cast<Role>(role);
  conn.info.local = local_endpoint(tuple);
  conn.info.remote = remote_endpoint(tuple);
  conn.info.midstream = midstream;
  conn.streams = {DataStream(options_.stream_limits), DataStream(options_.stream_limits)};
  lru_.push_front(conn_id);
  conn.lru_pos = lru_.begin();
  conn.last_activity_ns = now_ns;
  ++stats_.connections_opened;
  return conn;
}

void ConnTracker::touch(Connection& conn, std::uint64_t now_ns) {
  conn.last_activity_ns = now_ns;
  lru_.splice(lru_.begin(), lru_, conn.lru_pos);
}

void ConnTracker::on_conn_open(const zt_conn_event& ev) {
  find_or_create(ev.conn_id, ev.hdr.pid, ev.tuple, ev.fd, ev.role, ev.flags & ZT_DATA_F_MIDSTREAM, ev.hdr.ts_ns);
}

void ConnTracker::mark_tls(Connection& conn) {
  if (conn.tls) return;
  conn.tls = true;
  ++stats_.tls_connections;
  if (!conn.tls_session) conn.tls_session = std::make_shared<protocols::TlsSession>();
  // Nothing here is for a protocol parser; what the handshake shows is read below.
  conn.parser.reset();
  for (auto& prefix : conn.detect_prefix) prefix.clear();
}

void ConnTracker::on_data(const zt_data_event& ev, std::string_view payload, std::uint64_t now_ns) {
  const bool plaintext = (ev.flags & ZT_DATA_F_TLS_PLAINTEXT) != 0;
  if (plaintext || (ev.flags & ZT_DATA_F_TLS) != 0) {
    // The socket carries TLS: its own bytes are ciphertext, whatever they looked like so far.
    Connection& socket = find_or_create(ev.conn_id, ev.hdr.pid, ev.tuple, ev.fd, ev.role,
                                        ev.flags & ZT_DATA_F_MIDSTREAM, now_ns);
    mark_tls(socket);
    if (plaintext && !socket.tls_plaintext_seen) {
      socket.tls_plaintext_seen = true;
      ++stats_.tls_plaintext_streams;
    }
    if (plaintext) touch(socket, now_ns);  // the socket lives as long as its plaintext does
  }
  const std::uint64_t key = plaintext ? ev.conn_id | kPlaintextKey : ev.conn_id;
  const bool fresh = conns_.find(key) == conns_.end();
  Connection& conn = find_or_create(key, ev.hdr.pid, ev.tuple, ev.fd, ev.role, ev.flags & ZT_DATA_F_MIDSTREAM, now_ns);
  if (plaintext && fresh) {
    conn.plaintext = true;
    conn.info.conn_id = ev.conn_id;
    conn.info.tls = true;
    if (auto socket = conns_.find(ev.conn_id); socket != conns_.end()) conn.info.tls_session = socket->second.tls_session;
  }
  touch(conn, now_ns);
  if (conn.unsupported) return;
  if (conn.tls) return;  // ciphertext

  Chunk chunk;
  chunk.position = ev.position;
  chunk.size = ev.orig_size;
  chunk.data = payload.substr(0, std::min<std::uint64_t>(payload.size(), ev.orig_size));
  chunk.start_ns = ev.start_ns;
  chunk.end_ns = ev.hdr.ts_ns;
  chunk.tid = ev.hdr.tid;

  const auto dir = static_cast<Direction>(ev.direction & 1);
  DataStream& stream = conn.streams[ev.direction & 1];
  const std::uint64_t id = ev.conn_id;
  stream.push(chunk, now_ns, [&](const Chunk& c) { deliver(conn, dir, c); });
  // deliver() may have declared the connection unsupported; the Connection object stays valid.
  if (stream.has_pending()) with_pending_.insert(id);
  request_skip(conn, dir);
  emit_records(conn, FlushCause::InStream);
}

void ConnTracker::deliver(Connection& conn, Direction dir, const Chunk& chunk) {
  if (conn.unsupported) return;
  if (!conn.parser) {
    const auto d = static_cast<std::size_t>(dir);
    std::string& prefix = conn.detect_prefix[d];
    if (chunk.gap) {  // nothing to recognise a protocol by
      prefix.clear();
      return;
    }
    Chunk joined = chunk;
    if (!prefix.empty()) {
      const Chunk& first = conn.detect_prefix_chunk[d];
      if (first.position + first.size == chunk.position) {
        prefix.append(chunk.data);
        joined.position = first.position;
        joined.size = first.size + chunk.size;
        joined.data = prefix;
        joined.start_ns = first.start_ns;
        joined.tid = first.tid;
      }
    } else if (!conn.detect_joined[d] && chunk.size < options_.detect_join_bytes && chunk.data.size() == chunk.size) {
      conn.detect_joined[d] = true;
      ++conn.detect_attempts;  // a call looked at, as far as the cap on detection goes
      prefix.assign(chunk.data);
      conn.detect_prefix_chunk[d] = chunk;
      conn.detect_prefix_chunk[d].data = {};
      return;
    }
    deliver_detected(conn, dir, joined);
    prefix.clear();
    return;
  }
  conn.delivered_until[static_cast<std::size_t>(dir)] = chunk.position + chunk.size;
  conn.parser->on_chunk(dir, chunk);
}

void ConnTracker::deliver_detected(Connection& conn, Direction dir, const Chunk& chunk) {
  conn.parser = protocols::detect_protocol(dir, chunk, conn.info.role, conn.info.midstream);
  if (!conn.parser) {
    if (++conn.detect_attempts >= options_.max_detect_chunks) {
      conn.unsupported = true;
      ++stats_.connections_unsupported;
      conn.streams = {DataStream(), DataStream()};  // free anything waiting
      if (control_ && !conn.plaintext) control_->disable_connection(conn.info);
      spdlog::debug("conn {} (pid {} fd {}): no supported protocol in the first {} chunks",
                    conn.info.conn_id, conn.info.pid, conn.info.fd, conn.detect_attempts);
    }
    return;
  }
  // Nodes of conns_ never move, and the parser (with this hook) lives and dies with `conn`.
  conn.parser->set_connection(&conn.info);
  conn.parser->set_request_hook([this, &conn](const protocols::RequestView& request, Role role,
                                              protocols::RequestIdentity& identity) {
    if (!observer_) return;
    if (conn.info.role == Role::Unknown) conn.info.role = role;
    observer_(conn.info, request, identity);
  });
  spdlog::debug("conn {} (pid {} fd {} {}:{} -> {}:{}): {}", conn.info.conn_id, conn.info.pid, conn.info.fd,
                conn.info.local.address, conn.info.local.port, conn.info.remote.address,
                conn.info.remote.port, conn.parser->protocol_name());
  conn.delivered_until[static_cast<std::size_t>(dir)] = chunk.position + chunk.size;
  conn.parser->on_chunk(dir, chunk);
}

void ConnTracker::request_skip(Connection& conn, Direction dir) {
  if (!control_ || !conn.parser || conn.plaintext) return;
  const auto d = static_cast<std::size_t>(dir);
  const std::uint64_t until = conn.parser->skip_until(dir);
  if (until <= conn.skip_asked[d] || until <= conn.delivered_until[d] + options_.kernel_skip_min_bytes) return;
  conn.skip_asked[d] = until;
  control_->skip(conn.info, dir, until);
}

void ConnTracker::emit_records(Connection& conn, FlushCause cause) {
  if (!conn.parser) return;
  auto records = conn.parser->take_records();
  if (records.empty()) return;
  if (conn.info.role == Role::Unknown) conn.info.role = conn.parser->role();
  for (auto& r : records) {
    ++stats_.records;
    sink_(std::move(r), conn.info, cause);
  }
}

void ConnTracker::flush_streams(Connection& conn, std::uint64_t now_ns, bool force) {
  const int first = conn.streams[1].first_pending_ns() < conn.streams[0].first_pending_ns() ? 1 : 0;
  for (int d : {first, 1 - first}) {
    const auto dir = static_cast<Direction>(d);
    conn.streams[d].flush(now_ns, force, [&](const Chunk& c) { deliver(conn, dir, c); });
  }
}

void ConnTracker::finish(std::uint64_t conn_id, std::uint64_t ts_ns, FlushCause cause) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) return;
  Connection& conn = it->second;
  flush_streams(conn, ts_ns, true);
  for (const auto& stream : conn.streams) {
    stats_.gaps += stream.stats().gaps;
    stats_.gap_bytes += stream.stats().gap_bytes;
  }
  emit_records(conn, FlushCause::InStream);
  if (conn.parser) {
    conn.parser->on_close(ts_ns);
    emit_records(conn, cause);
    stats_.parse_errors += conn.parser->stats().parse_errors;
  }
  if (conn.tls && !conn.tls_plaintext_seen) ++stats_.tls_without_plaintext;
  lru_.erase(conn.lru_pos);
  with_pending_.erase(conn_id);
  conns_.erase(it);
  ++stats_.connections_closed;
}

void ConnTracker::on_conn_close(const zt_conn_event& ev) {
  finish(ev.conn_id | kPlaintextKey, ev.hdr.ts_ns, FlushCause::Closed);
  finish(ev.conn_id, ev.hdr.ts_ns, FlushCause::Closed);
}

void ConnTracker::on_process_exit(std::uint32_t pid, std::uint64_t ts_ns) {
  std::vector<std::uint64_t> ids;
  for (const auto& [id, conn] : conns_) {
    if (conn.info.pid == pid) ids.push_back(id);
  }
  for (auto id : ids) finish(id, ts_ns, FlushCause::ProcessExit);
}

void ConnTracker::tick(std::uint64_t now_ns) {
  for (auto it = with_pending_.begin(); it != with_pending_.end();) {
    auto c = conns_.find(*it);
    if (c == conns_.end()) {
      it = with_pending_.erase(it);
      continue;
    }
    Connection& conn = c->second;
    flush_streams(conn, now_ns, false);
    const bool pending = conn.streams[0].has_pending() || conn.streams[1].has_pending();
    emit_records(conn, FlushCause::InStream);
    it = pending ? std::next(it) : with_pending_.erase(it);
  }
  while (!lru_.empty()) {
    auto c = conns_.find(lru_.back());
    if (c == conns_.end() || now_ns - c->second.last_activity_ns < options_.idle_timeout_ns) break;
    ++stats_.connections_evicted;
    finish(lru_.back(), now_ns, FlushCause::Idle);
  }
}

void ConnTracker::shutdown(std::uint64_t ts_ns) {
  while (!lru_.empty()) finish(lru_.back(), ts_ns, FlushCause::Shutdown);
}

ConnTrackerStats ConnTracker::stats() const {
  ConnTrackerStats s = stats_;
  for (const auto& [id, conn] : conns_) {
    for (const auto& st : conn.streams) {
      s.gaps += st.stats().gaps;
      s.gap_bytes += st.stats().gap_bytes;
    }
    if (conn.parser) s.parse_errors += conn.parser->stats().parse_errors;
  }
  return s;
}

}  // namespace zt::pipeline
