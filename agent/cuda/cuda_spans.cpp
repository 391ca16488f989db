#include "cuda/cuda_spans.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "cuda/cuda_api.h"
#include "cuda/cuda_errors.h"
#include "symbols/demangle.h"
#include "trace/ids.h"

namespace zt::cuda {
namespace {

using trace::Attribute;
using trace::Span;

constexpr std::int32_t kNotReady = 600;          // cudaErrorNotReady == CUDA_ERROR_NOT_READY
constexpr std::size_t kMaxActivitiesPerCall = 32;  // more GPU records for one call go out as orphans

std::int64_t i64(std::uint64_t v) { return static_cast<std::int64_t>(v); }

std::string hex(std::uint64_t v) {
  char buf[2 + 16];
  buf[0] = '0';
  buf[1] = 'x';
  const auto r = std::to_chars(buf + 2, buf + sizeof buf, v, 16);
  return std::string(buf, r.ptr);
}

// cudaErrorNotReady says "not finished yet", never "failed": no probed call should return it, and
// if one does (a future query-like probe) it must not paint the span red.
bool is_error(std::int32_t result) { return result != 0 && result != kNotReady; }

std::string error_name(const ApiInfo& info, std::int32_t result) {
  return info.driver ? driver_error_name(result) : runtime_error_name(result);
}

void mark_error(Span& span, std::string name, std::int32_t code) {
  if (span.status == trace::StatusCode::Error) return;
  span.status = trace::StatusCode::Error;
  span.status_message = name;
  span.attributes.push_back({"error.type", std::move(name)});
  span.attributes.push_back({"cuda.error.code", std::int64_t{code}});
}

// CUpti_ActivityMemcpyKind.
std::string_view cupti_copy_kind(std::uint8_t kind) {
  static constexpr std::string_view kNames[] = {"Unknown", "HtoD", "DtoH", "HtoA", "AtoH", "AtoA",
                                                "AtoD",    "DtoA", "DtoD", "HtoH", "PtoP"};
  return kind < std::size(kNames) ? kNames[kind] : "Unknown";
}

// CUpti_ActivityMemoryKind.
std::string_view cupti_memory_kind(std::uint8_t kind) {
  static constexpr std::string_view kNames[] = {"unknown", "pageable", "pinned",        "device",
                                                "array",   "managed",  "device_static", "managed_static"};
  return kind < std::size(kNames) ? kNames[kind] : "unknown";
}

std::string_view sync_kind(std::uint32_t api) {
  switch (api) {
    case ZT_CUDA_DEVICE_SYNCHRONIZE: return "device";
    case ZT_CU_CTX_SYNCHRONIZE: return "context";
    case ZT_CUDA_STREAM_SYNCHRONIZE:
    case ZT_CU_STREAM_SYNCHRONIZE: return "stream";
    default: return "event";
  }
}

// The driver's cuMemsetD16/D32 take an element count; spans report bytes.
std::uint64_t memset_width(std::uint32_t api) {
  switch (api) {
    case ZT_CU_MEMSET_D16:
    case ZT_CU_MEMSET_D16_ASYNC: return 2;
    case ZT_CU_MEMSET_D32:
    case ZT_CU_MEMSET_D32_ASYNC: return 4;
    default: return 1;
  }
}

// "cudaMemcpy HtoD", but "cuMemcpyHtoD" alone: the driver's name already says the direction.
std::string with_detail(std::string_view api, std::string_view detail) {
  std::string name(api);
  if (!detail.empty() && api.find(detail) == std::string_view::npos) {
    name += ' ';
    name += detail;
  }
  return name;
}

void add_dims(std::vector<Attribute>& a, std::string_view prefix, const zt_u32 (&d)[3]) {
  static constexpr const char* kAxis[] = {".x", ".y", ".z"};
  for (int i = 0; i < 3; ++i) a.push_back({std::string(prefix) + kAxis[i], std::int64_t{d[i]}});
}

void add_kernel_name(std::vector<Attribute>& a, const std::string& mangled, const std::string& demangled) {
  a.push_back({"cuda.kernel.name", demangled});
  if (mangled != demangled) a.push_back({"cuda.kernel.mangled_name", mangled});
}

template <class T>
T copy_record(const zt_cupti_record_header& rec) {
  T out;
  std::memcpy(&out, &rec, sizeof out);  // batches give no alignment guarantee
  return out;
}

}  // namespace

CudaSpanBuilder::CudaSpanBuilder(CudaSpanOptions options, ResourceLookup resources, KernelLookup kernels,
                                 ParentLookup parents, const MonotonicToRealtime* clock, SpanSink sink)
    : options_(options),
      resources_(std::move(resources)),
      kernels_(std::move(kernels)),
      parents_(std::move(parents)),
      clock_(clock),
      sink_(std::move(sink)) {
  options_.max_pending = std::max<std::size_t>(options_.max_pending, 1);
  options_.fold_window_ns = std::max<std::uint64_t>(options_.fold_window_ns, 1);
  fold_threshold_ = options_.fold_above_per_second * static_cast<double>(options_.fold_window_ns) / 1e9;
  const double interval = options_.fold_above_per_second > 0 ? 1e9 / options_.fold_above_per_second : 0;
  fold_gap_ns_ = std::max<std::uint64_t>(10'000'000, static_cast<std::uint64_t>(10 * interval));
}

// ------------------------------------------------------------------------------------------------
// Tables

CudaSpanBuilder::ThreadState& CudaSpanBuilder::thread(std::uint32_t pid, std::uint32_t tid) {
  const auto k = key(pid, tid);
  if (auto it = threads_.find(k); it != threads_.end()) return it->second;
  if (threads_.size() >= options_.max_pending) {
    // Full: flush the thread seen least recently. A scan, but only when 100k threads are open.
    auto victim = std::min_element(threads_.begin(), threads_.end(), [](const auto& a, const auto& b) {
      return a.second.last_seen < b.second.last_seen;
    });
    const auto vpid = static_cast<std::uint32_t>(victim->first >> 32);
    const auto vtid = static_cast<std::uint32_t>(victim->first);
    drain(vpid, vtid);
    ThreadState& vts = threads_.at(victim->first);
    close_fold(vpid, vtid, vts);
    close_group(vpid, vtid, vts);
    threads_.erase(key(vpid, vtid));
    ++stats_.evictions;
  }
  auto& ts = threads_[k];
  ts.last_seen = now_;
  return ts;
}

CudaSpanBuilder::Process& CudaSpanBuilder::process(std::uint32_t pid) {
  if (auto it = processes_.find(pid); it != processes_.end()) return it->second;
  if (processes_.size() >= options_.max_pending) {
    // Forgets some process's CUPTI state (its uprobe calls count again): entries are one per
    // process that ever reported a status, and leave at its exit, so this needs 100k live processes.
    processes_.erase(processes_.begin());
    ++stats_.evictions;
  }
  return processes_[pid];
}

void CudaSpanBuilder::emit(Span&& span, std::uint32_t pid) {
  if (!span.resource && resources_) span.resource = resources_(pid);
  ++stats_.spans;
  sink_(std::move(span));
}

// ------------------------------------------------------------------------------------------------
// Spans

// Launch rate over the last fold_window_ns, estimated from the current and the previous fixed window
// (the previous one weighted by how much of it still overlaps the sliding window).
bool CudaSpanBuilder::above_rate(Rate& rate, std::uint64_t ts) {
  const std::uint64_t w = options_.fold_window_ns;
  if (rate.current == 0 && rate.previous == 0 && rate.window_start == 0) rate.window_start = ts;
  if (ts >= rate.window_start + w) {
    const std::uint64_t windows = (ts - rate.window_start) / w;
    rate.previous = windows == 1 ? rate.current : 0;
    rate.current = 0;
    rate.window_start += windows * w;
  }
  ++rate.current;
  const double into = ts > rate.window_start ? static_cast<double>(ts - rate.window_start) : 0.0;
  const double estimate = static_cast<double>(rate.previous) * (1.0 - into / static_cast<double>(w)) +
                          static_cast<double>(rate.current);
  return estimate > fold_threshold_;
}

trace::Span CudaSpanBuilder::api_span(const Call& call, std::string* fold_key) {
  const ApiInfo& info = *api_info(call.api);
  const std::string_view api = info.name;
  Span s;
  s.kind = trace::SpanKind::Internal;
  s.tid = call.tid;
  s.start_unix_ns = clock_->to_unix_ns(call.start_ns);
  s.end_unix_ns = clock_->to_unix_ns(std::max(call.end_ns, call.start_ns));
  auto& a = s.attributes;
  a.reserve(16);
  a.push_back({"thread.id", std::int64_t{call.tid}});
  a.push_back({"cuda.api", std::string(api)});
  const zt_cuda_call_event* ev = call.uprobe ? &*call.uprobe : nullptr;
  const bool async = info.async || (ev && (ev->flags & ZT_CUDA_F_ASYNC));
  // The first GPU record of each type (CUPTI): the arguments the API record does not carry.
  const zt_cupti_kernel_record* kernel = nullptr;
  const std::string* kernel_mangled = nullptr;
  const zt_cupti_memcpy_record* copy = nullptr;
  const zt_cupti_memset_record* set = nullptr;
  for (const auto& act : call.gpu) {
    if (const auto* k = std::get_if<zt_cupti_kernel_record>(&act.rec); k && !kernel) {
      kernel = k;
      kernel_mangled = &act.kernel_mangled;
    }
    if (const auto* c = std::get_if<zt_cupti_memcpy_record>(&act.rec); c && !copy) copy = c;
    if (const auto* m = std::get_if<zt_cupti_memset_record>(&act.rec); m && !set) set = m;
  }

  switch (info.family) {
    case ApiFamily::Launch: {
      std::optional<KernelName> name;
      if (ev) {
        if (kernels_) name = kernels_(call.pid, call.api, ev->function);
        if (fold_key) *fold_key = hex(ev->function);
      } else if (kernel) {
        name = KernelName{*kernel_mangled, {}};
        if (fold_key) *fold_key = *kernel_mangled;
      }
      if (name && name->demangled.empty()) name->demangled = symbols::demangle(name->mangled);
      if (name && !name->demangled.empty()) {
        s.name = with_detail(api, symbols::short_function_name(name->demangled));
        add_kernel_name(a, name->mangled, name->demangled);
      } else {
        s.name = std::string(api);
        if (ev) a.push_back({"cuda.kernel.function", hex(ev->function)});
      }
      if (ev) {
        // cudaLaunchKernelExC reads grid and block behind a pointer: zeros when that read failed.
        if (!(ev->flags & ZT_CUDA_F_ARGS_PARTIAL)) {
          add_dims(a, "cuda.grid", ev->grid);
          add_dims(a, "cuda.block", ev->block);
          a.push_back({"cuda.shared_memory.dynamic", i64(ev->bytes)});
        }
        a.push_back({"cuda.stream", i64(ev->stream)});
      } else if (kernel) {
        add_dims(a, "cuda.grid", kernel->grid);
        add_dims(a, "cuda.block", kernel->block);
        a.push_back({"cuda.shared_memory.dynamic", std::int64_t{kernel->dynamic_shared_memory}});
        a.push_back({"cuda.shared_memory.static", std::int64_t{kernel->static_shared_memory}});
        a.push_back({"cuda.registers_per_thread", std::int64_t{kernel->registers_per_thread}});
      }
      break;
    }
    case ApiFamily::Memcpy: {
      std::string_view kind;
      if (ev) {
        kind = memcpy_kind_name(ev->memcpy_kind);
        a.push_back({"cuda.memcpy.bytes", i64(ev->bytes)});
      } else if (copy) {
        kind = cupti_copy_kind(copy->copy_kind);
        a.push_back({"cuda.memcpy.bytes", i64(copy->bytes)});
      }
      if (!kind.empty()) a.push_back({"cuda.memcpy.kind", std::string(kind)});
      a.push_back({"cuda.memcpy.async", async});
      s.name = with_detail(api, kind);
      break;
    }
    case ApiFamily::Memset:
      if (ev) {
        a.push_back({"cuda.memset.bytes", i64(ev->bytes * memset_width(call.api))});
        a.push_back({"cuda.memset.value", i64(ev->src)});
      } else if (set) {
        a.push_back({"cuda.memset.bytes", i64(set->bytes)});
        a.push_back({"cuda.memset.value", std::int64_t{set->value}});
      }
      a.push_back({"cuda.memset.async", async});
      s.name = std::string(api);
      break;
    case ApiFamily::Malloc:
      if (ev) a.push_back({"cuda.malloc.bytes", i64(ev->bytes)});
      s.name = std::string(api);
      break;
    case ApiFamily::Synchronize:
      a.push_back({"cuda.sync.kind", std::string(sync_kind(call.api))});
      s.name = std::string(api);
      break;
    default:
      s.name = std::string(api);
      break;
  }
  // The stream handle: always for async calls and stream syncs (0 is the legacy default stream
  // then, which matters), otherwise only when one was given. Launches added theirs above.
  if (ev && info.family != ApiFamily::Launch &&
      (async || ev->stream != 0 || call.api == ZT_CUDA_STREAM_SYNCHRONIZE || call.api == ZT_CU_STREAM_SYNCHRONIZE)) {
    a.push_back({"cuda.stream", i64(ev->stream)});
  }
  if (is_error(call.result)) mark_error(s, error_name(info, call.result), call.result);
  return s;
}

trace::Span CudaSpanBuilder::gpu_span(std::uint32_t tid, const Activity& act, std::uint64_t api_start,
                                      std::uint32_t correlation_id) {
  Span s;
  s.kind = trace::SpanKind::Internal;
  s.tid = tid;
  auto& a = s.attributes;
  a.reserve(20);
  if (tid != 0) a.push_back({"thread.id", std::int64_t{tid}});
  std::uint64_t start = 0, end = 0;
  const auto common = [&](const auto& r) {
    start = r.start_ns;
    end = std::max(r.end_ns, r.start_ns);
    a.push_back({"cuda.device.id", std::int64_t{r.device_id}});
    a.push_back({"cuda.context.id", std::int64_t{r.context_id}});
    a.push_back({"cuda.stream.id", i64(r.stream_id)});
    a.push_back({"cuda.correlation_id", std::int64_t{correlation_id}});
  };
  if (const auto* k = std::get_if<zt_cupti_kernel_record>(&act.rec)) {
    common(*k);
    const std::string demangled = symbols::demangle(act.kernel_mangled);
    s.name = demangled.empty() ? std::string("gpu kernel") : "gpu " + symbols::short_function_name(demangled);
    add_kernel_name(a, act.kernel_mangled, demangled);
    add_dims(a, "cuda.grid", k->grid);
    add_dims(a, "cuda.block", k->block);
    a.push_back({"cuda.registers_per_thread", std::int64_t{k->registers_per_thread}});
    a.push_back({"cuda.shared_memory.static", std::int64_t{k->static_shared_memory}});
    a.push_back({"cuda.shared_memory.dynamic", std::int64_t{k->dynamic_shared_memory}});
    a.push_back({"cuda.local_memory_per_thread", std::int64_t{k->local_memory_per_thread}});
    if (api_start != 0) {
      a.push_back({"cuda.gpu.queue_delay_ns", static_cast<std::int64_t>(k->start_ns - api_start)});
    }
  } else if (const auto* c = std::get_if<zt_cupti_memcpy_record>(&act.rec)) {
    common(*c);
    const std::string_view kind = cupti_copy_kind(c->copy_kind);
    s.name = "gpu memcpy " + std::string(kind);
    a.push_back({"cuda.memcpy.bytes", i64(c->bytes)});
    a.push_back({"cuda.memcpy.kind", std::string(kind)});
    a.push_back({"cuda.memcpy.src_memory", std::string(cupti_memory_kind(c->src_kind))});
    a.push_back({"cuda.memcpy.dst_memory", std::string(cupti_memory_kind(c->dst_kind))});
    a.push_back({"cuda.memcpy.async", c->async != 0});
    if (end > start) {
      a.push_back({"cuda.memcpy.bandwidth_bytes_per_s",
                   static_cast<double>(c->bytes) * 1e9 / static_cast<double>(end - start)});
    }
  } else if (const auto* m = std::get_if<zt_cupti_memset_record>(&act.rec)) {
    common(*m);
    s.name = "gpu memset";
    a.push_back({"cuda.memset.bytes", i64(m->bytes)});
    a.push_back({"cuda.memset.value", std::int64_t{m->value}});
  }
  s.start_unix_ns = clock_->to_unix_ns(start);
  s.end_unix_ns = clock_->to_unix_ns(end);
  return s;
}

namespace {
std::uint64_t activity_end(const auto& act) {
  return std::visit([](const auto& r) { return std::max(r.start_ns, r.end_ns); }, act.rec);
}
std::uint64_t activity_start(const auto& act) {
  return std::visit([](const auto& r) { return r.start_ns; }, act.rec);
}
}  // namespace

// Parent of a span: the request context when there is one, else the thread's open group (opened
// here when none is). `calls` API calls are added to the group, which then lasts until `end`.
void CudaSpanBuilder::assign_parent(Span& span, ThreadState& ts, const std::optional<ParentContext>& parent,
                                    std::uint64_t start, std::uint64_t end, std::uint64_t calls) {
  span.span_id = trace::new_span_id();
  if (parent) {
    span.trace_id = parent->trace_id;
    span.parent_span_id = parent->span_id;
    span.trace_flags = parent->trace_flags;
    span.trace_state = parent->trace_state;
    return;
  }
  if (!ts.group) ts.group = Group{trace::new_trace_id(), trace::new_span_id(), start, end, 0};
  Group& g = *ts.group;
  g.first_start = std::min(g.first_start, start);
  g.last_end = std::max(g.last_end, end);
  g.calls += calls;
  span.trace_id = g.trace_id;
  span.parent_span_id = g.span_id;
}

// Closes the thread's group when the call starting at `start` comes after an idle gap or would
// make the group longer than group_max_ns.
void CudaSpanBuilder::roll_group(std::uint32_t pid, std::uint32_t tid, ThreadState& ts, std::uint64_t start) {
  if (!ts.group) return;
  const Group& g = *ts.group;
  const bool idle = start > g.last_end && start - g.last_end > options_.group_idle_ns;
  const bool long_enough = start > g.first_start && start - g.first_start >= options_.group_max_ns;
  if (idle || long_enough) close_group(pid, tid, ts);
}

void CudaSpanBuilder::emit_with_gpu(Span&& api, const Call& call) {
  for (const auto& act : call.gpu) {
    Span gpu = gpu_span(call.tid, act, call.start_ns, call.correlation_id);
    gpu.trace_id = api.trace_id;
    gpu.span_id = trace::new_span_id();
    gpu.parent_span_id = api.span_id;
    gpu.trace_flags = api.trace_flags;
    gpu.trace_state = api.trace_state;
    ++stats_.gpu_spans;
    emit(std::move(gpu), call.pid);
  }
  ++stats_.api_spans;
  emit(std::move(api), call.pid);
}

void CudaSpanBuilder::complete(Call&& call) {
  ThreadState& ts = thread(call.pid, call.tid);
  ts.last_seen = std::max(ts.last_seen, now_);
  const auto parent = parents_ ? parents_(call.pid, call.tid, call.start_ns) : std::nullopt;
  if (!parent) roll_group(call.pid, call.tid, ts, call.start_ns);
  if (api_info(call.api)->family == ApiFamily::Launch) {
    handle_launch(std::move(call), ts, parent);
    return;
  }
  close_fold(call.pid, call.tid, ts);  // any other call ends a run of launches
  Span span = api_span(call, nullptr);
  std::uint64_t end = call.end_ns;
  for (const auto& act : call.gpu) end = std::max(end, activity_end(act));
  assign_parent(span, ts, parent, call.start_ns, end, 1);
  emit_with_gpu(std::move(span), call);
}

void CudaSpanBuilder::handle_launch(Call&& call, ThreadState& ts, const std::optional<ParentContext>& parent) {
  const bool fast = above_rate(ts.rate, call.start_ns);
  const zt_cupti_kernel_record* kernel = nullptr;
  const std::string* mangled = nullptr;
  for (const auto& act : call.gpu) {
    if ((kernel = std::get_if<zt_cupti_kernel_record>(&act.rec))) {
      mangled = &act.kernel_mangled;
      break;
    }
  }
  const std::uint64_t stream = call.uprobe ? call.uprobe->stream : kernel ? kernel->stream_id : 0;
  std::uint64_t end = call.end_ns;
  for (const auto& act : call.gpu) end = std::max(end, activity_end(act));

  if (ts.fold) {
    Fold& f = *ts.fold;
    const std::string kernel_key = call.uprobe ? hex(call.uprobe->function) : mangled ? *mangled : std::string();
    const trace::SpanId parent_id = parent ? parent->span_id : ts.group ? ts.group->span_id : trace::SpanId{};
    const bool joins = fast && f.api == call.api && f.kernel == kernel_key && f.stream == stream &&
                       f.parent == parent_id && call.start_ns <= f.last_end + fold_gap_ns_ &&
                       call.start_ns < f.first_start + options_.fold_window_ns;
    if (joins) {
      ++f.count;
      f.last_end = std::max(f.last_end, call.end_ns);
      if (is_error(call.result)) {
        if (++f.failed == 1 && f.first_error.empty()) {
          f.first_error = error_name(*api_info(call.api), call.result);
          f.first_error_code = call.result;
        }
      }
      for (const auto& act : call.gpu) {
        if (!std::holds_alternative<zt_cupti_kernel_record>(act.rec)) continue;
        if (!f.gpu) {  // the first launches came without their GPU record (timed out)
          f.gpu = gpu_span(call.tid, act, call.start_ns, call.correlation_id);
          f.gpu_first = activity_start(act);
          f.gpu_last = 0;
        }
        f.gpu_first = std::min(f.gpu_first, activity_start(act));
        f.gpu_last = std::max(f.gpu_last, activity_end(act));
        f.gpu_busy += activity_end(act) - activity_start(act);
      }
      if (!parent && ts.group) {
        ts.group->calls += 1;
        ts.group->last_end = std::max(ts.group->last_end, end);
      }
      if (f.count >= options_.fold_max) close_fold(call.pid, call.tid, ts);
      return;
    }
    close_fold(call.pid, call.tid, ts);
  }

  std::string kernel_key;
  Span span = api_span(call, &kernel_key);
  assign_parent(span, ts, parent, call.start_ns, end, 1);
  if (!fast) {
    emit_with_gpu(std::move(span), call);
    return;
  }
  // Above the rate: this launch opens a fold that the next launches of the same kernel join.
  Fold f;
  f.api = call.api;
  f.stream = stream;
  f.kernel = std::move(kernel_key);
  f.parent = span.parent_span_id;
  f.count = 1;
  f.first_start = call.start_ns;
  f.last_end = call.end_ns;
  if (is_error(call.result)) {
    f.failed = 1;
    f.first_error = span.status_message;
    f.first_error_code = call.result;
  }
  for (const auto& act : call.gpu) {
    if (!std::holds_alternative<zt_cupti_kernel_record>(act.rec)) continue;
    if (!f.gpu) {
      f.gpu = gpu_span(call.tid, act, call.start_ns, call.correlation_id);
      f.gpu_first = activity_start(act);
    }
    f.gpu_first = std::min(f.gpu_first, activity_start(act));
    f.gpu_last = std::max(f.gpu_last, activity_end(act));
    f.gpu_busy += activity_end(act) - activity_start(act);
  }
  f.span = std::move(span);
  ts.fold = std::move(f);
  if (ts.fold->count >= options_.fold_max) close_fold(call.pid, call.tid, ts);
}

void CudaSpanBuilder::close_fold(std::uint32_t pid, std::uint32_t /*tid*/, ThreadState& ts) {
  if (!ts.fold) return;
  Fold f = std::move(*ts.fold);
  ts.fold.reset();
  Span& s = f.span;
  s.end_unix_ns = clock_->to_unix_ns(std::max(f.last_end, f.first_start));
  if (f.count > 1) {
    s.attributes.push_back({"cuda.launch.count", i64(f.count)});
    ++stats_.folded_spans;
    stats_.folded_launches += f.count;
  }
  if (f.failed > 0) {
    s.attributes.push_back({"cuda.launch.failed", i64(f.failed)});
    mark_error(s, f.first_error, f.first_error_code);
  }
  if (f.gpu) {
    Span& g = *f.gpu;
    g.start_unix_ns = clock_->to_unix_ns(f.gpu_first);
    g.end_unix_ns = clock_->to_unix_ns(std::max(f.gpu_last, f.gpu_first));
    if (f.count > 1) {
      g.attributes.push_back({"cuda.launch.count", i64(f.count)});
      g.attributes.push_back({"cuda.gpu.busy_ns", i64(f.gpu_busy)});
    }
    g.trace_id = s.trace_id;
    g.span_id = trace::new_span_id();
    g.parent_span_id = s.span_id;
    g.trace_flags = s.trace_flags;
    g.trace_state = s.trace_state;
    ++stats_.gpu_spans;
    emit(std::move(g), pid);
  }
  ++stats_.api_spans;
  emit(std::move(s), pid);
}

void CudaSpanBuilder::close_group(std::uint32_t pid, std::uint32_t tid, ThreadState& ts) {
  if (!ts.group) return;
  if (ts.fold && ts.fold->parent == ts.group->span_id) close_fold(pid, tid, ts);  // children first
  const Group g = *ts.group;
  ts.group.reset();
  Span s;
  s.trace_id = g.trace_id;
  s.span_id = g.span_id;
  s.name = tid == 0 ? "cuda gpu work" : "cuda work";
  s.kind = trace::SpanKind::Internal;
  s.tid = tid;
  s.start_unix_ns = clock_->to_unix_ns(g.first_start);
  s.end_unix_ns = clock_->to_unix_ns(std::max(g.last_end, g.first_start));
  if (tid != 0) s.attributes.push_back({"thread.id", std::int64_t{tid}});
  s.attributes.push_back({"cuda.group.calls", i64(g.calls)});
  ++stats_.group_spans;
  emit(std::move(s), pid);
}

// ------------------------------------------------------------------------------------------------
// Uprobe path

void CudaSpanBuilder::on_call(const zt_cuda_call_event& ev) {
  const ApiInfo* info = api_info(ev.api);
  if (!info) {
    ++stats_.unknown_api;
    return;
  }
  if (info->family == ApiFamily::Naming || info->family == ApiFamily::Cupti) {
    ++stats_.naming_calls_ignored;
    return;
  }
  if (auto it = processes_.find(ev.hdr.pid); it != processes_.end() && it->second.cupti) {
    ++stats_.uprobe_ignored_cupti;
    return;
  }
  now_ = std::max(now_, ev.hdr.ts_ns);
  Call call;
  call.pid = ev.hdr.pid;
  call.tid = ev.hdr.tid;
  call.api = ev.api;
  call.result = ev.result;
  call.start_ns = ev.start_ns;
  call.end_ns = std::max(ev.hdr.ts_ns, ev.start_ns);
  call.uprobe = ev;
  ++stats_.calls;
  complete(std::move(call));
}

// ------------------------------------------------------------------------------------------------
// CUPTI path

void CudaSpanBuilder::on_cupti_record(std::uint32_t pid, const zt_cupti_record_header& rec) {
  switch (rec.type) {
    case ZT_CUPTI_REC_API:
      ++stats_.cupti_api;
      cupti_api(pid, copy_record<zt_cupti_api_record>(rec));
      break;
    case ZT_CUPTI_REC_KERNEL: {
      ++stats_.cupti_kernel;
      Activity act{copy_record<zt_cupti_kernel_record>(rec), {}};
      const auto& k = std::get<zt_cupti_kernel_record>(act.rec);
      const std::size_t room = rec.size - sizeof(zt_cupti_kernel_record);
      act.kernel_mangled.assign(reinterpret_cast<const char*>(&rec) + sizeof(zt_cupti_kernel_record),
                                std::min<std::size_t>(k.name_len, room));
      cupti_activity(pid, rec.correlation_id, std::move(act));
      break;
    }
    case ZT_CUPTI_REC_MEMCPY:
      ++stats_.cupti_memcpy;
      cupti_activity(pid, rec.correlation_id, Activity{copy_record<zt_cupti_memcpy_record>(rec), {}});
      break;
    case ZT_CUPTI_REC_MEMSET:
      ++stats_.cupti_memset;
      cupti_activity(pid, rec.correlation_id, Activity{copy_record<zt_cupti_memset_record>(rec), {}});
      break;
    case ZT_CUPTI_REC_SYNC:
      // The API span of the sync already has the wait's CPU side; nothing to add (counted only).
      ++stats_.cupti_sync;
      break;
    case ZT_CUPTI_REC_STATUS:
      ++stats_.cupti_status;
      cupti_status(pid, copy_record<zt_cupti_status_record>(rec));
      break;
    default:
      ++stats_.cupti_unknown;
      break;
  }
}

void CudaSpanBuilder::on_cupti_collecting(std::uint32_t pid) {
  Process& p = process(pid);
  if (!p.cupti) spdlog::info("pid {}: CUPTI started; CUDA spans come from CUPTI records", pid);
  p.cupti = true;
}

void CudaSpanBuilder::cupti_status(std::uint32_t pid, const zt_cupti_status_record& rec) {
  Process& p = process(pid);
  switch (rec.status) {
    case ZT_CUPTI_STATUS_STARTED:
      on_cupti_collecting(pid);
      break;
    case ZT_CUPTI_STATUS_OTHER_SUBSCRIBER:
      if (!p.logged) spdlog::info("pid {}: CUPTI is held by another subscriber; CUDA spans come from uprobes", pid);
      p.logged = true;
      break;
    case ZT_CUPTI_STATUS_ERROR:
      if (!p.logged) {
        spdlog::warn("pid {}: CUPTI failed (CUptiResult {}); CUDA spans come from {}", pid, rec.detail,
                     p.cupti ? "CUPTI records" : "uprobes");
      }
      p.logged = true;
      break;
    default:  // STOPPED: the process is exiting; its last records are in this batch
      break;
  }
}

CudaSpanBuilder::Pending& CudaSpanBuilder::pending_entry(std::uint32_t pid, std::uint32_t correlation_id) {
  const auto k = key(pid, correlation_id);
  if (auto it = pending_.find(k); it != pending_.end()) return it->second;
  // Entries released since are still listed in pending_order_: drop them from the front, and compact
  // the list when they pile up behind a long wait.
  const auto live = [&](const std::pair<std::uint64_t, std::uint64_t>& o) {
    auto it = pending_.find(o.second);
    return it != pending_.end() && it->second.seq == o.first;
  };
  while (!pending_order_.empty() && !live(pending_order_.front())) pending_order_.pop_front();
  if (pending_order_.size() > 2 * pending_.size() + 1024) {
    std::erase_if(pending_order_, [&](const auto& o) { return !live(o); });
  }
  while (pending_.size() >= options_.max_pending && !pending_order_.empty()) {
    const auto oldest = pending_order_.front().second;
    pending_order_.pop_front();
    ++stats_.evictions;
    expire(oldest, false);
  }
  Pending& p = pending_[k];
  p.deadline = now_ + options_.activity_wait_ns;
  p.seq = ++seq_;
  pending_order_.emplace_back(p.seq, k);
  return p;
}

void CudaSpanBuilder::cupti_api(std::uint32_t pid, const zt_cupti_api_record& rec) {
  const ApiInfo* info = api_info(rec.api);
  if (!info) {
    ++(rec.api == ZT_CUDA_NONE ? stats_.cupti_api_outside : stats_.unknown_api);
    return;
  }
  if (info->family == ApiFamily::Naming || info->family == ApiFamily::Cupti) {
    ++stats_.naming_calls_ignored;
    return;
  }
  now_ = std::max(now_, rec.end_ns);
  const auto k = key(pid, rec.h.correlation_id);
  if (auto it = pending_.find(k); it != pending_.end() && it->second.call) {
    ++stats_.cupti_duplicates;
    expire(k, false);
  }
  Pending& p = pending_entry(pid, rec.h.correlation_id);
  Call call;
  call.pid = pid;
  call.tid = rec.tid;
  call.api = rec.api;
  call.result = rec.result;
  call.start_ns = rec.start_ns;
  call.end_ns = std::max(rec.end_ns, rec.start_ns);
  call.correlation_id = rec.h.correlation_id;
  call.gpu = std::move(p.gpu);
  p.gpu.clear();
  // Only successful launches, copies and sets have GPU work to wait for.
  const bool has_gpu_work = info->family == ApiFamily::Launch || info->family == ApiFamily::Memcpy ||
                            info->family == ApiFamily::Memset;
  p.ready = !has_gpu_work || is_error(call.result) || !call.gpu.empty();
  p.call = std::move(call);
  thread(pid, rec.tid).queue.push_back(rec.h.correlation_id);
  release(pid, rec.tid);
}

void CudaSpanBuilder::cupti_activity(std::uint32_t pid, std::uint32_t correlation_id, Activity&& act) {
  now_ = std::max(now_, activity_end(act));
  Pending& p = pending_entry(pid, correlation_id);
  auto& list = p.call ? p.call->gpu : p.gpu;
  if (list.size() >= kMaxActivitiesPerCall) {
    std::vector<Activity> one;
    one.push_back(std::move(act));
    ++stats_.evictions;
    orphan_gpu(pid, correlation_id, one);
    return;
  }
  list.push_back(std::move(act));
  if (p.call) {
    p.ready = true;
    release(pid, p.call->tid);
  }
}

void CudaSpanBuilder::release(std::uint32_t pid, std::uint32_t tid) {
  auto tit = threads_.find(key(pid, tid));
  if (tit == threads_.end()) return;
  auto& queue = tit->second.queue;
  while (!queue.empty()) {
    auto it = pending_.find(key(pid, queue.front()));
    if (it == pending_.end() || !it->second.call) {  // flushed by an eviction meanwhile
      queue.pop_front();
      continue;
    }
    if (!it->second.ready) break;
    Call call = std::move(*it->second.call);
    pending_.erase(it);
    queue.pop_front();
    complete(std::move(call));
  }
}

void CudaSpanBuilder::expire(std::uint64_t pkey, bool timed_out) {
  auto it = pending_.find(pkey);
  if (it == pending_.end()) return;
  const auto pid = static_cast<std::uint32_t>(pkey >> 32);
  const auto correlation_id = static_cast<std::uint32_t>(pkey);
  Pending& p = it->second;
  if (!p.call) {  // GPU records whose API record never came
    std::vector<Activity> gpu = std::move(p.gpu);
    pending_.erase(it);
    orphan_gpu(pid, correlation_id, gpu);
    return;
  }
  if (!p.ready && timed_out) ++stats_.waits_timed_out;
  p.ready = true;
  const std::uint32_t tid = p.call->tid;
  // Calls ahead of it on its thread are older, so they were released or expired before it.
  release(pid, tid);
  if (auto left = pending_.find(pkey); left != pending_.end()) {
    // Its thread state was evicted: emit it on its own.
    Call call = std::move(*left->second.call);
    pending_.erase(left);
    complete(std::move(call));
  }
}

void CudaSpanBuilder::orphan_gpu(std::uint32_t pid, std::uint32_t correlation_id, std::vector<Activity>& gpu) {
  for (const auto& act : gpu) {
    ++stats_.orphan_gpu_records;
    ThreadState& ts = thread(pid, 0);
    ts.last_seen = std::max(ts.last_seen, now_);
    roll_group(pid, 0, ts, activity_start(act));
    Span s = gpu_span(0, act, 0, correlation_id);
    assign_parent(s, ts, std::nullopt, activity_start(act), activity_end(act), 1);
    ++stats_.gpu_spans;
    emit(std::move(s), pid);
  }
}

// ------------------------------------------------------------------------------------------------
// Time and flushing

void CudaSpanBuilder::tick(std::uint64_t now_ns) {
  now_ = std::max(now_, now_ns);
  while (!pending_order_.empty()) {
    const auto [seq, k] = pending_order_.front();
    auto it = pending_.find(k);
    if (it == pending_.end() || it->second.seq != seq) {
      pending_order_.pop_front();
      continue;
    }
    if (it->second.deadline > now_) break;
    pending_order_.pop_front();
    // A ready call waits only for the calls ahead of it on its thread, which time out first.
    if (!(it->second.call && it->second.ready)) expire(k, true);
  }
  for (auto it = threads_.begin(); it != threads_.end();) {
    const auto pid = static_cast<std::uint32_t>(it->first >> 32);
    const auto tid = static_cast<std::uint32_t>(it->first);
    ThreadState& ts = it->second;
    // Idle is measured from the later of the last call's end and when it reached us: CUPTI
    // records come in batches, late, and a group must not close between two of them.
    if (ts.fold && (now_ > std::max(ts.fold->last_end, ts.last_seen) + fold_gap_ns_ ||
                    now_ >= ts.fold->first_start + options_.fold_window_ns)) {
      close_fold(pid, tid, ts);
    }
    // A group with calls still waiting for their GPU records stays open for them.
    if (ts.group && ts.queue.empty() && now_ > std::max(ts.group->last_end, ts.last_seen) + options_.group_idle_ns) {
      close_group(pid, tid, ts);
    }
    if (!ts.group && !ts.fold && ts.queue.empty() && now_ > ts.last_seen + options_.fold_window_ns) {
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
}

void CudaSpanBuilder::drain(std::uint32_t pid, std::uint32_t tid) {
  auto tit = threads_.find(key(pid, tid));
  if (tit == threads_.end()) return;
  for (const auto correlation_id : tit->second.queue) {
    if (auto it = pending_.find(key(pid, correlation_id)); it != pending_.end()) it->second.ready = true;
  }
  release(pid, tid);
}

void CudaSpanBuilder::flush_if(const std::function<bool(std::uint32_t pid)>& which) {
  std::vector<std::uint64_t> keys;
  for (const auto& [k, ts] : threads_) {
    if (which(static_cast<std::uint32_t>(k >> 32))) keys.push_back(k);
  }
  // Each thread's waiting calls, in order; then GPU records still without an API record (orphans);
  // then the folds and groups, which those may have extended.
  for (const auto k : keys) drain(static_cast<std::uint32_t>(k >> 32), static_cast<std::uint32_t>(k));
  std::vector<std::uint64_t> waiting;
  for (const auto& [k, p] : pending_) {
    if (which(static_cast<std::uint32_t>(k >> 32))) waiting.push_back(k);
  }
  std::sort(waiting.begin(), waiting.end(),
            [&](std::uint64_t a, std::uint64_t b) { return pending_.at(a).seq < pending_.at(b).seq; });
  for (const auto k : waiting) expire(k, false);
  for (auto it = threads_.begin(); it != threads_.end();) {
    const auto pid = static_cast<std::uint32_t>(it->first >> 32);
    if (!which(pid)) {
      ++it;
      continue;
    }
    close_fold(pid, static_cast<std::uint32_t>(it->first), it->second);
    close_group(pid, static_cast<std::uint32_t>(it->first), it->second);
    it = threads_.erase(it);
  }
}

void CudaSpanBuilder::on_process_exit(std::uint32_t pid) {
  flush_if([pid](std::uint32_t p) { return p == pid; });
  processes_.erase(pid);
}

void CudaSpanBuilder::shutdown() {
  flush_if([](std::uint32_t) { return true; });
  pending_.clear();
  pending_order_.clear();
  processes_.clear();
}

}  // namespace zt::cuda
