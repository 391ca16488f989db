#include "pipeline/conn_tracker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "pipeline/events.h"
#include "protocols/detector.h"

namespace zt::pipeline {

using protocols::Chunk;
using protocols::Direction;
using protocols::Role;

ConnTracker::ConnTracker(ConnTrackerOptions options, RecordSink sink) : options_(options), sink_(std::move(sink)) {}

ConnTracker::~ConnTracker() = default;

ConnTracker::Connection& ConnTracker::find_or_create(std::uint64_t conn_id, std::uint32_t pid, const zt_tuple& tuple,
                                                     std::int32_t fd, std::uint8_t role, bool midstream,
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
  // Nothing here is for a protocol parser; what the handshake shows is read from the records.
  conn.parser.reset();
  for (auto& prefix : conn.detect_prefix) prefix.clear();
  tls_by_pid_[conn.info.pid].push_back(conn.info.conn_id);
}

ConnTracker::Connection& ConnTracker::plaintext_of(Connection& socket, std::uint64_t now_ns) {
  const std::uint64_t key = socket.info.conn_id | kPlaintextKey;
  if (auto it = conns_.find(key); it != conns_.end()) return it->second;
  const std::uint64_t socket_id = socket.info.conn_id;
  const ConnectionInfo info = socket.info;
  const auto session = socket.tls_session;
  if (!socket.tls_plaintext_seen) {
    socket.tls_plaintext_seen = true;
    ++stats_.tls_plaintext_streams;
  }
  zt_tuple none{};
  Connection& conn =
      find_or_create(key, info.pid, none, info.fd, static_cast<std::uint8_t>(info.role), info.midstream, now_ns);
  // find_or_create may evict the least recently active connection: never `socket`, just touched
  // (its info was copied above all the same).
  conn.info = info;
  conn.info.conn_id = socket_id;
  conn.info.tls = true;
  conn.info.tls_session = session;
  conn.plaintext = true;
  return conn;
}

void ConnTracker::deliver_tls(Connection& conn, Direction dir, const Chunk& chunk) {
  const auto d = static_cast<std::size_t>(dir);
  if (!conn.tls_records) {
    const bool midstream = conn.info.midstream || conn.delivered_until[0] || conn.delivered_until[1];
    conn.tls_records = std::make_unique<protocols::tls::TlsStreamParser>(midstream);
  }
  conn.tls_records->on_chunk(dir, chunk);
  if (!conn.tls_first_ns) {
    conn.tls_first_ns = chunk.start_ns ? chunk.start_ns : chunk.end_ns;
    conn.tls_first_tid = chunk.tid;
  }
  conn.delivered_until[d] = chunk.position + chunk.size;
  ++conn.cipher_chunks;
  auto& records = *conn.tls_records;
  if (!conn.tls_session_final && conn.tls_session) {
    const auto& facts = records.facts();
    protocols::TlsSession& session = *conn.tls_session;
    session.protocol_version = std::string(protocols::tls::version_name(facts.version));
    session.cipher = std::string(protocols::tls::cipher_name(facts.cipher_suite));
    session.server_name = facts.sni;
    session.next_protocol = facts.alpn;
    conn.tls_session_final = records.done();
  }
  if (tls_records_hook_) tls_records_hook_(conn.info.pid);
  // The ciphertext is needed for the handshake and, while no plaintext came, for binding by
  // length; then the kernel may stop copying it. A socket whose plaintext never shows (a TLS
  // library that is not probed) is released after a while, and counted at its close.
  constexpr std::uint32_t kCipherChunksWithoutPlaintext = 64;
  if (control_ && !conn.cipher_released && records.done() &&
      (conn.tls_plaintext_seen || conn.cipher_chunks > kCipherChunksWithoutPlaintext)) {
    conn.cipher_released = true;
    control_->disable_connection(conn.info);
  }
}

void ConnTracker::for_each_tls_socket(std::uint32_t pid,
                                      const std::function<void(const TlsSocketRecords&)>& visit) const {
  const auto it = tls_by_pid_.find(pid);
  if (it == tls_by_pid_.end()) return;
  for (const std::uint64_t id : it->second) {
    const auto c = conns_.find(id);
    if (c == conns_.end() || !c->second.tls_records) continue;
    visit(TlsSocketRecords{id, c->second.info.fd, c->second.tls_records.get()});
  }
}

void ConnTracker::on_tls_plaintext(std::uint64_t conn_id, Direction dir, std::uint32_t tid, std::uint64_t start_ns,
                                   std::uint64_t end_ns, std::uint64_t size, std::string_view data,
                                   std::uint64_t lost_before, std::uint64_t now_ns) {
  auto socket = conns_.find(conn_id);
  if (socket == conns_.end()) {
    ++stats_.tls_plaintext_orphaned;
    return;
  }
  touch(socket->second, now_ns);
  if (socket->second.tls_session) socket->second.tls_session->bound_by_length = true;
  Connection& conn = plaintext_of(socket->second, now_ns);
  touch(conn, now_ns);
  const auto d = static_cast<std::size_t>(dir);
  Chunk chunk;
  chunk.position = conn.plaintext_base[d] + lost_before;
  chunk.size = size;
  chunk.data = data.substr(0, std::min<std::uint64_t>(data.size(), size));
  chunk.start_ns = start_ns;
  chunk.end_ns = end_ns;
  chunk.tid = tid;
  conn.plaintext_base[d] = chunk.position + size;
  if (conn.unsupported) return;
  accept_chunk(conn, dir, chunk, now_ns);
}

void ConnTracker::on_data(const zt_data_event& ev, std::string_view payload, std::uint64_t now_ns) {
  const bool plaintext = (ev.flags & ZT_DATA_F_TLS_PLAINTEXT) != 0;
  Connection* conn_ptr = nullptr;
  if (plaintext || (ev.flags & ZT_DATA_F_TLS) != 0) {
    // The socket carries TLS: its own bytes are ciphertext, whatever they looked like so far.
    Connection& socket =
        find_or_create(ev.conn_id, ev.hdr.pid, ev.tuple, ev.fd, ev.role, ev.flags & ZT_DATA_F_MIDSTREAM, now_ns);
    mark_tls(socket);
    touch(socket, now_ns);  // the socket lives as long as its plaintext does
    if (plaintext) conn_ptr = &plaintext_of(socket, now_ns);
  }
  if (!conn_ptr) {
    conn_ptr =
        &find_or_create(ev.conn_id, ev.hdr.pid, ev.tuple, ev.fd, ev.role, ev.flags & ZT_DATA_F_MIDSTREAM, now_ns);
  }
  Connection& conn = *conn_ptr;
  touch(conn, now_ns);
  if (conn.unsupported) return;

  const auto dir = static_cast<Direction>(ev.direction & 1);
  Chunk chunk;
  chunk.position = ev.position + (plaintext ? conn.plaintext_base[ev.direction & 1] : 0);
  chunk.size = ev.orig_size;
  chunk.data = payload.substr(0, std::min<std::uint64_t>(payload.size(), ev.orig_size));
  chunk.start_ns = ev.start_ns;
  chunk.end_ns = ev.hdr.ts_ns;
  chunk.tid = ev.hdr.tid;
  accept_chunk(conn, dir, chunk, now_ns);
}

void ConnTracker::accept_chunk(Connection& conn, Direction dir, const Chunk& chunk, std::uint64_t now_ns) {
  DataStream& stream = conn.streams[static_cast<std::size_t>(dir)];
  const std::uint64_t id = conn.plaintext ? conn.info.conn_id | kPlaintextKey : conn.info.conn_id;
  stream.push(chunk, now_ns, [&](const Chunk& c) { deliver(conn, dir, c); });
  // deliver() may have declared the connection unsupported; the Connection object stays valid.
  if (stream.has_pending()) with_pending_.insert(id);
  request_skip(conn, dir);
  emit_records(conn, FlushCause::InStream);
}

void ConnTracker::deliver(Connection& conn, Direction dir, const Chunk& chunk) {
  if (conn.tls) {
    deliver_tls(conn, dir, chunk);
    return;
  }
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
    if (!conn.plaintext && protocols::tls::looks_like_tls(joined.data)) {
      // A TLS handshake: the socket's bytes are ciphertext (its plaintext, where a TLS library is
      // probed, arrives as a stream of its own).
      mark_tls(conn);
      prefix.clear();
      deliver_tls(conn, dir, joined);
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
      spdlog::debug("conn {} (pid {} fd {}): no supported protocol in the first {} chunks", conn.info.conn_id,
                    conn.info.pid, conn.info.fd, conn.detect_attempts);
    }
    return;
  }
  // Nodes of conns_ never move, and the parser (with this hook) lives and dies with `conn`.
  conn.parser->set_connection(&conn.info);
  conn.parser->set_request_hook(
      [this, &conn](const protocols::RequestView& request, Role role, protocols::RequestIdentity& identity) {
        if (!observer_) return;
        if (conn.info.role == Role::Unknown) conn.info.role = role;
        observer_(conn.info, request, identity);
      });
  spdlog::debug("conn {} (pid {} fd {} {}:{} -> {}:{}): {}", conn.info.conn_id, conn.info.pid, conn.info.fd,
                conn.info.local.address, conn.info.local.port, conn.info.remote.address, conn.info.remote.port,
                conn.parser->protocol_name());
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

void ConnTracker::emit_tls_connection(Connection& conn, std::uint64_t ts_ns, FlushCause cause) {
  // Only a connection whose handshake was read: something to say, and surely TLS.
  if (!conn.tls_records || !conn.tls_first_ns) return;
  const auto& facts = conn.tls_records->facts();
  if (!facts.client_hello_seen && !facts.server_hello_seen) return;
  ConnectionInfo info = conn.info;
  info.tls = true;
  info.tls_session = conn.tls_session;
  if (info.role == Role::Unknown) {
    if (const auto client = conn.tls_records->client_direction()) {
      info.role = *client == Direction::Egress ? Role::Client : Role::Server;
    }
  }
  protocols::TlsConnectionRecord record;
  record.tid = conn.tls_first_tid;
  record.start_ns = conn.tls_first_ns;
  record.end_ns = std::max(ts_ns, conn.tls_first_ns);
  // Parented like a request: a client connection opened while the thread served a traced request
  // is a child of that request's span.
  if (observer_) observer_(info, protocols::request_view(record), record.identity);
  ++stats_.tls_handshake_records;
  ++stats_.records;
  sink_(protocols::Record(std::move(record)), info, cause);
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
  if (conn.tls && !conn.plaintext) {
    if (!conn.tls_plaintext_seen) {
      ++stats_.tls_without_plaintext;
      if (options_.tls_handshake_spans) emit_tls_connection(conn, ts_ns, cause);
    }
    if (auto by_pid = tls_by_pid_.find(conn.info.pid); by_pid != tls_by_pid_.end()) {
      std::erase(by_pid->second, conn_id);
      if (by_pid->second.empty()) tls_by_pid_.erase(by_pid);
    }
  }
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
