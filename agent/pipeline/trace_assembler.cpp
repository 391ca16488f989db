#include "pipeline/trace_assembler.h"

namespace zt::pipeline {

TraceAssembler::TraceAssembler(TraceAssemblerOptions options, SpanBuilder::ResourceLookup resources,
                               const MonotonicToRealtime* clock, SpanSink sink, Clock now)
    : options_(options),
      builder_(std::move(resources), clock),
      propagator_(options.propagation),
      sink_(std::move(sink)),
      now_(std::move(now)) {
  batch_.reserve(options_.export_batch);
}

void TraceAssembler::set_local_addresses(std::vector<std::string> addresses) {
  propagator_.set_local_addresses(std::move(addresses));
}

void TraceAssembler::on_request(const ConnectionInfo& conn, const protocols::RequestView& request,
                                protocols::RequestIdentity& identity) {
  context::RequestSite site;
  site.pid = conn.pid;
  site.tid = request.tid;
  site.conn_id = conn.conn_id;
  site.role = conn.role;
  site.local = {conn.local.address, conn.local.port};
  site.remote = {conn.remote.address, conn.remote.port};
  site.ts_ns = request.start_ns;
  propagator_.on_request(site, request, identity);
}

void TraceAssembler::on_record(const protocols::Record& record, const ConnectionInfo& conn, FlushCause cause) {
  trace::Span span = builder_.build(record, conn, cause);
  // Its response is written: the thread (and threads it created) serve this request no more.
  if (span.kind == trace::SpanKind::Server) propagator_.on_server_done(span.tid, span.span_id);
  // Late pairings are applied once, when the span leaves the wait (release): they can only come
  // later than now, never earlier.
  hold(std::move(span));
}

void TraceAssembler::add_span(trace::Span&& span) { hold(std::move(span)); }

void TraceAssembler::hold(trace::Span&& span) {
  ++spans_;
  held_.push_back({now_() + options_.assembly_wait_ns, std::move(span)});
  if (held_.size() > options_.max_held) {
    ++released_early_;
    batch_.push_back(std::move(held_.front().span));
    held_.pop_front();
  }
  if (batch_.size() >= options_.export_batch) release(false);
}

void TraceAssembler::release(bool all) {
  const std::uint64_t now = now_();
  while (!held_.empty() && (all || held_.front().release_ns <= now)) {
    batch_.push_back(std::move(held_.front().span));
    held_.pop_front();
  }
  if (batch_.empty()) return;
  for (auto& span : batch_) propagator_.finalize(span);
  sink_(batch_);
  batch_.clear();
}

void TraceAssembler::on_connect(std::uint32_t tid, std::uint64_t conn_id, std::uint64_t ts_ns) {
  propagator_.on_connect(tid, conn_id, ts_ns);
}

void TraceAssembler::on_connection_closed(std::uint64_t conn_id) { propagator_.on_connection_closed(conn_id); }

void TraceAssembler::on_thread_created(std::uint32_t parent_tid, std::uint32_t child_tid, std::uint32_t child_pid,
                                       std::uint64_t ts_ns) {
  propagator_.on_thread_created(parent_tid, child_tid, child_pid, ts_ns);
}

void TraceAssembler::on_process_exit(std::uint32_t pid) { propagator_.on_process_exit(pid); }

std::optional<trace::SpanContext> TraceAssembler::active_request(std::uint32_t pid, std::uint32_t tid,
                                                                 std::uint64_t ts_ns) const {
  return propagator_.active_request(pid, tid, ts_ns);
}

void TraceAssembler::tick() {
  propagator_.expire(now_());
  release(false);
}

void TraceAssembler::flush() { release(true); }

void TraceAssembler::report(StatsSnapshot& out) const {
  const auto& p = propagator_.stats();
  const auto& fallback = builder_.context_stats();
  out.set("pipeline.spans", spans_);
  out.set("pipeline.spans_held", held_.size());
  out.set("pipeline.spans_released_early", released_early_);
  out.set("propagation.from_header", p.from_header + fallback.extracted);
  out.set("propagation.from_peer", p.from_peer + p.from_peer_late);
  out.set("propagation.from_peer_late", p.from_peer_late);
  out.set("propagation.from_thread", p.from_thread);
  out.set("propagation.from_connect", p.from_connect);
  out.set("propagation.from_inherited", p.from_inherited);
  out.set("propagation.from_scope", p.from_scope);
  out.set("propagation.scopes_opened", p.scopes_opened);
  out.set("propagation.roots", p.roots);
  out.set("propagation.malformed_headers", p.extract.malformed + fallback.malformed);
  out.set("propagation.evicted", p.evicted);
}

}  // namespace zt::pipeline
