// CUDA calls and GPU work to spans (docs/gpu.md is the user-facing version of this comment).
//
// Two sources feed it, per process:
//  - uprobes (on_call): one zt_cuda_call_event per probed API call, CPU side only;
//  - the CUPTI injection library (on_cupti_record): API records (CPU side, with a correlation id)
//    and GPU activity records (kernel, memcpy, memset, sync) carrying the same correlation id.
// Once a process reports ZT_CUPTI_STATUS_STARTED its uprobe calls are ignored (counted): CUPTI's
// API records are then the CPU side, and seeing a call twice would double its span.
//
// Spans (all INTERNAL, resource = ResourceLookup(pid), span.tid and `thread.id` = the calling thread):
//  - API span, one per call: "cudaLaunchKernel vecAdd", "cudaMemcpy HtoD", "cudaMalloc", ...
//    Its parent is ParentLookup(pid, tid, start): the request the thread is serving; the span
//    joins that trace (trace id, flags, state).
//  - Without such a parent, a per-thread group span "cuda work" (root of its own trace) is the
//    parent. It collects the thread's calls until an idle gap of group_idle_ns or a length of
//    group_max_ns; it is emitted after its children, spanning them all (GPU work included), with
//    `cuda.group.calls` = the API calls under it (a folded span counts each launch it holds).
//  - GPU span (CUPTI only), child of its API span: "gpu vecAdd", "gpu memcpy HtoD", "gpu memset",
//    with the GPU's start and end. GPU records whose API record never came (activity_wait_ns) go
//    under a per-process "cuda gpu work" group (same rules as "cuda work"), without thread.id.
//  - Folding: above fold_above_per_second launches on one thread (measured over fold_window_ns),
//    consecutive launches of one kernel (same api, kernel, stream and parent) become one span with
//    `cuda.launch.count`; see fold_gap_ns() for when a fold closes. Below the rate, one span each.
//
// Order: a span is emitted when it is complete, children before their parents (GPU span, then API
// span, then the group). With CUPTI, a thread's calls are released in call order: a call that has
// GPU work waits (up to activity_wait_ns) for its activity record so that its name can carry the
// kernel name, and the calls after it on that thread wait behind it.
//
// Time: every record timestamp is CLOCK_MONOTONIC; tick(now) drives timeouts with the same clock.
// Bounds: each table holds at most max_pending entries; beyond, the oldest entry is flushed early
// (emitted, not dropped) and counted in `evictions`. Nothing is dropped without a counter.
// Not thread-safe: one pipeline thread calls everything.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/clock.h"
#include "trace/span.h"
#include "cuda/cuda_abi_layout.h"
#include "zerotrace/cuda_abi.h"

namespace zt::cuda {

// The request span that work on a thread belongs to.
using ParentContext = trace::SpanContext;

struct KernelName {
  std::string mangled;
  std::string demangled;  // empty: demangled here from `mangled`
};

struct CudaSpanOptions {
  double fold_above_per_second = 200;            // per thread: above this launch rate, launches fold
  std::uint64_t fold_window_ns = 1'000'000'000;  // rate measured over this window; also a fold's longest span
  std::uint32_t fold_max = 10000;                // a folded span closes at this count
  std::uint64_t group_idle_ns = 1'000'000'000;   // GPU work outside a request: group closes after this idle gap
  std::uint64_t group_max_ns = 10'000'000'000;   // ... or once it is this long
  std::uint64_t activity_wait_ns = 2'000'000'000;  // CUPTI: how long an API span waits for its GPU records
  std::size_t max_pending = 100000;              // bound of every table; overflow counted
};

struct CudaSpanStats {
  std::uint64_t spans = 0;            // spans emitted, every kind
  std::uint64_t api_spans = 0;        // API spans (folded or not)
  std::uint64_t gpu_spans = 0;        // GPU spans (folded or not, orphans included)
  std::uint64_t group_spans = 0;      // "cuda work" and "cuda gpu work" spans
  std::uint64_t folded_spans = 0;     // spans holding more than one launch
  std::uint64_t folded_launches = 0;  // launches held by those spans
  std::uint64_t calls = 0;            // uprobe calls turned into spans
  std::uint64_t naming_calls_ignored = 0;  // __cudaGetKernel, cu*GetFunction/Kernel, the CUPTI delivery
  std::uint64_t unknown_api = 0;           // api value outside enum zt_cuda_api (uprobe or CUPTI)
  std::uint64_t uprobe_ignored_cupti = 0;  // uprobe calls of a process whose CUPTI library started
  std::uint64_t cupti_api = 0, cupti_kernel = 0, cupti_memcpy = 0, cupti_memset = 0, cupti_sync = 0,
                cupti_status = 0, cupti_unknown = 0;  // CUPTI records received, by type
  std::uint64_t cupti_api_outside = 0;  // API records of calls outside the probed set: no span
  std::uint64_t cupti_duplicates = 0;   // a second API record for one correlation id: the first is flushed
  std::uint64_t waits_timed_out = 0;    // API spans emitted without their GPU record (activity_wait_ns)
  std::uint64_t orphan_gpu_records = 0; // GPU records without an API record: under "cuda gpu work"
  std::uint64_t evictions = 0;          // entries flushed early because a table was full
};

class CudaSpanBuilder {
 public:
  using ParentLookup =
      std::function<std::optional<ParentContext>(std::uint32_t pid, std::uint32_t tid, std::uint64_t ts_ns)>;
  using KernelLookup =
      std::function<std::optional<KernelName>(std::uint32_t pid, std::uint32_t api, std::uint64_t function)>;
  using ResourceLookup = std::function<std::shared_ptr<const trace::Resource>(std::uint32_t pid)>;
  using SpanSink = std::function<void(trace::Span&&)>;

  CudaSpanBuilder(CudaSpanOptions options, ResourceLookup resources, KernelLookup kernels, ParentLookup parents,
                  const MonotonicToRealtime* clock, SpanSink sink);

  void on_call(const zt_cuda_call_event& ev);  // uprobe path
  // CUPTI path. `rec` is validated: rec.size >= sizeof its struct, a kernel's name fits in it.
  void on_cupti_record(std::uint32_t pid, const zt_cupti_record_header& rec);
  // The process's CUPTI library is collecting (a batch said so): its API records stand for its
  // calls from now on, uprobe calls are ignored. Same as a ZT_CUPTI_STATUS_STARTED record.
  void on_cupti_collecting(std::uint32_t pid);
  void tick(std::uint64_t now_ns);          // closes idle folds and groups, times out waits
  void on_process_exit(std::uint32_t pid);  // flushes that pid
  void shutdown();                          // flushes everything

  const CudaSpanStats& stats() const { return stats_; }
  // A fold closes when the next launch comes this long after its last one (or tick sees that gap):
  // ten launch intervals at the folding rate, at least 10 ms (50 ms at 200 launches/s).
  std::uint64_t fold_gap_ns() const { return fold_gap_ns_; }

 private:
  // One GPU activity record (CUPTI), copied out of its batch.
  struct Activity {
    std::variant<zt_cupti_kernel_record, zt_cupti_memcpy_record, zt_cupti_memset_record> rec;
    std::string kernel_mangled;  // kernels only
  };
  // One API call from either source, normalised.
  struct Call {
    std::uint32_t pid = 0, tid = 0, api = 0;
    std::int32_t result = 0;
    std::uint64_t start_ns = 0, end_ns = 0;
    std::optional<zt_cuda_call_event> uprobe;  // the uprobe event: argument details
    std::uint32_t correlation_id = 0;          // CUPTI
    bool driver = false;                       // CUresult (true) or cudaError_t
    std::vector<Activity> gpu;                 // CUPTI: its GPU work, when it came
  };
  struct Group {
    trace::TraceId trace_id{};
    trace::SpanId span_id{};
    std::uint64_t first_start = 0, last_end = 0, calls = 0;
  };
  struct Fold {
    std::uint32_t api = 0;
    std::uint64_t stream = 0;
    std::string kernel;          // function handle (uprobes) or mangled name (CUPTI)
    trace::SpanId parent{};
    trace::Span span;            // the first launch's API span, ids assigned
    std::optional<trace::Span> gpu;
    std::uint64_t count = 0, failed = 0;
    std::uint64_t first_start = 0, last_end = 0;  // CPU, monotonic
    std::uint64_t gpu_first = 0, gpu_last = 0, gpu_busy = 0;
    std::string first_error;
    std::int32_t first_error_code = 0;
  };
  struct Rate {  // launches per fold_window_ns, sliding-window estimate from two fixed windows
    std::uint64_t window_start = 0;
    std::uint64_t current = 0, previous = 0;
  };
  struct ThreadState {
    std::optional<Group> group;
    std::optional<Fold> fold;
    Rate rate;
    std::deque<std::uint32_t> queue;  // CUPTI: correlation ids of this thread's calls, in call order
    std::uint64_t last_seen = 0;
  };
  struct Pending {  // CUPTI: a call waiting for its GPU records, or GPU records waiting for their call
    std::optional<Call> call;  // set once the API record came
    bool ready = false;        // the call can be released (its GPU record came, or it needs none)
    std::vector<Activity> gpu; // records that came before their API record
    std::uint64_t deadline = 0;
    std::uint64_t seq = 0;
  };
  struct Process {
    bool cupti = false;
    bool logged = false;
  };

  static std::uint64_t key(std::uint32_t a, std::uint32_t b) { return (std::uint64_t{a} << 32) | b; }

  ThreadState& thread(std::uint32_t pid, std::uint32_t tid);
  Process& process(std::uint32_t pid);
  void complete(Call&& call);
  void handle_launch(Call&& call, ThreadState& ts, const std::optional<ParentContext>& parent);
  void assign_parent(trace::Span& span, ThreadState& ts, const std::optional<ParentContext>& parent,
                     std::uint64_t start, std::uint64_t end, std::uint64_t calls);
  trace::Span api_span(const Call& call, std::string* fold_kernel);
  trace::Span gpu_span(std::uint32_t tid, const Activity& act, std::uint64_t api_start,
                       std::uint32_t correlation_id);
  void emit_with_gpu(trace::Span&& api, const Call& call);
  void roll_group(std::uint32_t pid, std::uint32_t tid, ThreadState& ts, std::uint64_t start);
  void close_fold(std::uint32_t pid, std::uint32_t tid, ThreadState& ts);
  void close_group(std::uint32_t pid, std::uint32_t tid, ThreadState& ts);
  void emit(trace::Span&& span, std::uint32_t pid);
  bool above_rate(Rate& rate, std::uint64_t ts);

  void cupti_api(std::uint32_t pid, const zt_cupti_api_record& rec);
  void cupti_activity(std::uint32_t pid, std::uint32_t correlation_id, Activity&& act);
  void cupti_status(std::uint32_t pid, const zt_cupti_status_record& rec);
  Pending& pending_entry(std::uint32_t pid, std::uint32_t correlation_id);
  void release(std::uint32_t pid, std::uint32_t tid);  // emits a thread's ready calls, in order
  void expire(std::uint64_t pkey, bool timed_out);     // flushes one pending entry now
  void orphan_gpu(std::uint32_t pid, std::uint32_t correlation_id, std::vector<Activity>& gpu);
  void drain(std::uint32_t pid, std::uint32_t tid);  // releases a thread's calls now, waiting or not
  void flush_if(const std::function<bool(std::uint32_t pid)>& which);

  CudaSpanOptions options_;
  ResourceLookup resources_;
  KernelLookup kernels_;
  ParentLookup parents_;
  const MonotonicToRealtime* clock_;
  SpanSink sink_;
  std::uint64_t fold_gap_ns_;
  double fold_threshold_;     // launches per window above which launches fold
  std::uint64_t now_ = 0;     // latest time known: tick() and record timestamps (monotonic)
  std::uint64_t seq_ = 0;

  std::unordered_map<std::uint64_t, ThreadState> threads_;  // key(pid, tid); tid 0: GPU records without a call
  std::unordered_map<std::uint64_t, Pending> pending_;      // key(pid, correlation id)
  std::deque<std::pair<std::uint64_t, std::uint64_t>> pending_order_;  // (seq, key), arrival order
  std::unordered_map<std::uint32_t, Process> processes_;
  CudaSpanStats stats_;
};

}  // namespace zt::cuda
