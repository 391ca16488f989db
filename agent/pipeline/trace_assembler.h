// Trace assembly, the one stage that owns propagation state: it gives each request its identity
// when the request is seen (context/propagation.h), turns finished records into spans (pure
// SpanBuilder), ends a SERVER span's hold on its thread, keeps every span for the assembly wait
// so that late same-node pairings reach it, and hands spans to the exporters in batches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "context/propagation.h"
#include "core/clock.h"
#include "core/stats.h"
#include "pipeline/connection_info.h"
#include "pipeline/span_builder.h"
#include "protocols/protocol.h"
#include "trace/span.h"

namespace zt::pipeline {

struct TraceAssemblerOptions {
  std::uint64_t assembly_wait_ns = 200'000'000;  // how long a span waits for late pairings
  std::size_t export_batch = 512;                // spans handed to the exporters at once, at most
  std::size_t max_held = 200'000;                // bound of the wait: the oldest go early beyond it
  context::PropagationOptions propagation;
};

class TraceAssembler {
 public:
  // Receives finished spans (late pairings applied), in batches; may move them out.
  using SpanSink = std::function<void(std::vector<trace::Span>& batch)>;
  using Clock = std::function<std::uint64_t()>;  // CLOCK_MONOTONIC ns

  TraceAssembler(TraceAssemblerOptions options, SpanBuilder::ResourceLookup resources,
                 const MonotonicToRealtime* clock, SpanSink sink, Clock now = &monotonic_now_ns);

  void set_local_addresses(std::vector<std::string> addresses);

  // A request was read (Server) or written (Client) on `conn`: gives its span an identity.
  void on_request(const ConnectionInfo& conn, const protocols::RequestView& request,
                  protocols::RequestIdentity& identity);
  // A finished record becomes a span, held for the assembly wait.
  void on_record(const protocols::Record& record, const ConnectionInfo& conn, FlushCause cause);
  // A span built by another source (CUDA), held the same way.
  void add_span(trace::Span&& span);

  // What propagation learns from the kernel's connection and process events.
  void on_connect(std::uint32_t tid, std::uint64_t conn_id, std::uint64_t ts_ns);
  void on_connection_closed(std::uint64_t conn_id);
  void on_thread_created(std::uint32_t parent_tid, std::uint32_t child_tid, std::uint32_t child_pid,
                         std::uint64_t ts_ns);
  void on_process_exit(std::uint32_t pid);
  // The request span `tid` was serving at `ts_ns`: the parent of the thread's other work.
  std::optional<trace::SpanContext> active_request(std::uint32_t pid, std::uint32_t tid,
                                                   std::uint64_t ts_ns = 0) const;

  // Periodic: expires propagation state and exports the spans whose wait is over.
  void tick();
  // Exports every held span now (shutdown).
  void flush();

  std::size_t held() const { return held_.size(); }
  void report(StatsSnapshot& out) const;

 private:
  void hold(trace::Span&& span);
  void release(bool all);

  TraceAssemblerOptions options_;
  SpanBuilder builder_;
  context::Propagator propagator_;
  SpanSink sink_;
  Clock now_;
  struct HeldSpan {
    std::uint64_t release_ns;
    trace::Span span;
  };
  std::deque<HeldSpan> held_;  // oldest first
  std::vector<trace::Span> batch_;
  std::uint64_t spans_ = 0;
  std::uint64_t released_early_ = 0;  // released before their wait was over (hold bound reached)
};

}  // namespace zt::pipeline
