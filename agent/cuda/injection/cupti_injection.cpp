// libzerotrace_cupti.so: a CUPTI client that runs inside traced CUDA processes.
//
// The CUDA driver loads it when CUDA_INJECTION64_PATH names it and calls InitializeInjection()
// during cuInit. It subscribes to CUPTI's API callbacks (CPU side of launches, copies, sets,
// syncs, allocations) and activity records (GPU side: kernels, copies, sets, syncs), packs them
// into zt_cupti_* batches (bpf/include/zerotrace/cuda_abi.h) and hands each batch to
// zerotrace_cupti_deliver(), an empty function the agent puts a uprobe on.
//
// It is a guest in someone else's process, so: CUPTI is dlopen'ed (a process without it keeps
// running), no exception leaves any entry point or callback, every failure is one stderr line and
// a status record, and another CUPTI subscriber (Nsight, a profiler) wins.
#include <cupti.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "cuda/cupti_wire.h"

// The hand-off point. noipa: the compiler may neither inline it, clone it nor assume it has no
// effect; the asm keeps the arguments (what the uprobe reads) live in their registers.
extern "C" __attribute__((noipa, used, visibility("default"))) void zerotrace_cupti_deliver(const void* batch,
                                                                                          std::uint32_t bytes) {
  asm volatile("" : : "r"(batch), "r"(bytes) : "memory");
}

// Internal calls go through a hidden alias of the same code: a default-visibility symbol is
// called through the PLT, and a program defining its own zerotrace_cupti_deliver would interpose
// it and hide our calls from the uprobe, which sits on this library's copy.
extern "C" void zt_cupti_deliver_local(const void* batch, std::uint32_t bytes)
    __attribute__((alias("zerotrace_cupti_deliver"), visibility("hidden")));

namespace {

using zt::cuda::BatchWriter;
using zt::cuda::ClockAligner;
using zt::cuda::ClockSample;

// A volatile pointer: the call is made even if a future compiler sees through noipa.
void (*volatile g_deliver)(const void*, std::uint32_t) = zt_cupti_deliver_local;

constexpr std::size_t kActivityBufferBytes = 1 << 20;
constexpr auto kRecalibrateEvery = std::chrono::seconds(10);
constexpr int kCalibrationSamples = 16;
constexpr std::int32_t kDetailNoCupti = -1;  // status detail: libcupti could not be loaded or resolved

std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint32_t this_tid() {
  static thread_local const auto tid = static_cast<std::uint32_t>(syscall(SYS_gettid));
  return tid;
}

// The CUPTI entry points used, resolved with dlsym.
struct Cupti {
  decltype(&cuptiSubscribe) subscribe = nullptr;
  decltype(&cuptiUnsubscribe) unsubscribe = nullptr;
  decltype(&cuptiEnableCallback) enable_callback = nullptr;
  decltype(&cuptiActivityRegisterCallbacks) register_callbacks = nullptr;
  decltype(&cuptiActivityEnable) activity_enable = nullptr;
  decltype(&cuptiActivityGetNextRecord) next_record = nullptr;
  decltype(&cuptiActivityGetNumDroppedRecords) dropped_records = nullptr;
  decltype(&cuptiActivityFlushAll) flush_all = nullptr;
  decltype(&cuptiGetTimestamp) get_timestamp = nullptr;
  decltype(&cuptiGetResultString) result_string = nullptr;

  const char* describe(CUptiResult r) const {
    const char* s = nullptr;
    if (result_string == nullptr || result_string(r, &s) != CUPTI_SUCCESS || s == nullptr) return "unknown CUPTI error";
    return s;
  }
};

// Tries the candidates in order; on failure `why` holds the last loader message.
bool load_cupti(Cupti& c, std::string& why) {
  std::string candidates[4];
  if (const char* env = std::getenv("ZEROTRACE_CUPTI_LIBRARY"); env != nullptr && *env != '\0') candidates[0] = env;
  const std::string soname = "libcupti.so." + std::to_string(CUDA_VERSION / 1000);
  candidates[1] = soname;
  candidates[2] = std::string(ZT_CUPTI_LIBRARY_DIR) + "/" + soname;  // the toolkit built against
  candidates[3] = "libcupti.so";
  void* handle = nullptr;
  for (const auto& path : candidates) {
    if (path.empty()) continue;
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
    const char* e = dlerror();
    why = e != nullptr ? e : path + ": not loadable";
  }
  if (handle == nullptr) return false;
  bool ok = true;
  auto resolve = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, name));
    if (fn == nullptr) {
      ok = false;
      why = std::string(name) + " not found in libcupti";
    }
  };
  resolve(c.subscribe, "cuptiSubscribe");
  resolve(c.unsubscribe, "cuptiUnsubscribe");
  resolve(c.enable_callback, "cuptiEnableCallback");
  resolve(c.register_callbacks, "cuptiActivityRegisterCallbacks");
  resolve(c.activity_enable, "cuptiActivityEnable");
  resolve(c.next_record, "cuptiActivityGetNextRecord");
  resolve(c.dropped_records, "cuptiActivityGetNumDroppedRecords");
  resolve(c.flush_all, "cuptiActivityFlushAll");
  resolve(c.get_timestamp, "cuptiGetTimestamp");
  resolve(c.result_string, "cuptiGetResultString");
  return ok;  // the handle stays open either way: unloading CUPTI under a live driver is unsafe
}

// The API callbacks enabled, and the enum zt_cuda_api value each one reports.
struct Traced {
  CUpti_CallbackDomain domain;
  CUpti_CallbackId cbid;
  zt_cuda_api api;
};
constexpr CUpti_CallbackDomain R = CUPTI_CB_DOMAIN_RUNTIME_API;
constexpr CUpti_CallbackDomain D = CUPTI_CB_DOMAIN_DRIVER_API;
constexpr Traced kTraced[] = {
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000, ZT_CUDA_LAUNCH_KERNEL},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_ptsz_v7000, ZT_CUDA_LAUNCH_KERNEL},
    {R, CUPTI_RUNTIME_TRACE_CBID___cudaLaunchKernel_v13000, ZT_CUDA_LAUNCH_KERNEL_HANDLE},
    {R, CUPTI_RUNTIME_TRACE_CBID___cudaLaunchKernel_ptsz_v13000, ZT_CUDA_LAUNCH_KERNEL_HANDLE},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_v11060, ZT_CUDA_LAUNCH_KERNEL_EXC},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_ptsz_v11060, ZT_CUDA_LAUNCH_KERNEL_EXC},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy_v3020, ZT_CUDA_MEMCPY},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy_ptds_v7000, ZT_CUDA_MEMCPY},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyAsync_v3020, ZT_CUDA_MEMCPY_ASYNC},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyAsync_ptsz_v7000, ZT_CUDA_MEMCPY_ASYNC},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaMemset_v3020, ZT_CUDA_MEMSET},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaMemset_ptds_v7000, ZT_CUDA_MEMSET},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaMemsetAsync_v3020, ZT_CUDA_MEMSET_ASYNC},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaMemsetAsync_ptsz_v7000, ZT_CUDA_MEMSET_ASYNC},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, ZT_CUDA_MALLOC},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020, ZT_CUDA_FREE},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaDeviceSynchronize_v3020, ZT_CUDA_DEVICE_SYNCHRONIZE},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaStreamSynchronize_v3020, ZT_CUDA_STREAM_SYNCHRONIZE},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaStreamSynchronize_ptsz_v7000, ZT_CUDA_STREAM_SYNCHRONIZE},
    {R, CUPTI_RUNTIME_TRACE_CBID_cudaEventSynchronize_v3020, ZT_CUDA_EVENT_SYNCHRONIZE},

    {D, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel, ZT_CU_LAUNCH_KERNEL},
    {D, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz, ZT_CU_LAUNCH_KERNEL},
    {D, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx, ZT_CU_LAUNCH_KERNEL_EX},
    {D, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx_ptsz, ZT_CU_LAUNCH_KERNEL_EX},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpy, ZT_CU_MEMCPY},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpy_ptds, ZT_CU_MEMCPY},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyAsync, ZT_CU_MEMCPY_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyAsync_ptsz, ZT_CU_MEMCPY_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoD_v2, ZT_CU_MEMCPY_HTOD},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoD_v2_ptds, ZT_CU_MEMCPY_HTOD},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoH_v2, ZT_CU_MEMCPY_DTOH},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoH_v2_ptds, ZT_CU_MEMCPY_DTOH},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoD_v2, ZT_CU_MEMCPY_DTOD},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoD_v2_ptds, ZT_CU_MEMCPY_DTOD},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoDAsync_v2, ZT_CU_MEMCPY_HTOD_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoDAsync_v2_ptsz, ZT_CU_MEMCPY_HTOD_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoHAsync_v2, ZT_CU_MEMCPY_DTOH_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoHAsync_v2_ptsz, ZT_CU_MEMCPY_DTOH_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoDAsync_v2, ZT_CU_MEMCPY_DTOD_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoDAsync_v2_ptsz, ZT_CU_MEMCPY_DTOD_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemsetD8_v2, ZT_CU_MEMSET_D8},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemsetD8_v2_ptds, ZT_CU_MEMSET_D8},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemsetD16_v2, ZT_CU_MEMSET_D16},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemsetD16_v2_ptds, ZT_CU_MEMSET_D16},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemsetD32_v2, ZT_CU_MEMSET_D32},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemsetD32_v2_ptds, ZT_CU_MEMSET_D32},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemsetD8Async, ZT_CU_MEMSET_D8_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemsetD8Async_ptsz, ZT_CU_MEMSET_D8_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemsetD16Async, ZT_CU_MEMSET_D16_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemsetD16Async_ptsz, ZT_CU_MEMSET_D16_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemsetD32Async, ZT_CU_MEMSET_D32_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuMemsetD32Async_ptsz, ZT_CU_MEMSET_D32_ASYNC},
    {D, CUPTI_DRIVER_TRACE_CBID_cuCtxSynchronize, ZT_CU_CTX_SYNCHRONIZE},
    {D, CUPTI_DRIVER_TRACE_CBID_cuCtxSynchronize_v2, ZT_CU_CTX_SYNCHRONIZE},
    {D, CUPTI_DRIVER_TRACE_CBID_cuStreamSynchronize, ZT_CU_STREAM_SYNCHRONIZE},
    {D, CUPTI_DRIVER_TRACE_CBID_cuStreamSynchronize_ptsz, ZT_CU_STREAM_SYNCHRONIZE},
    {D, CUPTI_DRIVER_TRACE_CBID_cuEventSynchronize, ZT_CU_EVENT_SYNCHRONIZE},
};

zt_cuda_api api_of(CUpti_CallbackDomain domain, CUpti_CallbackId cbid) {
  for (const auto& t : kTraced) {
    if (t.domain == domain && t.cbid == cbid) return t.api;
  }
  return ZT_CUDA_NONE;
}

struct Counters {
  std::atomic<std::uint64_t> records{0};
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> full_batches{0};   // delivered early because the next record did not fit
  std::atomic<std::uint64_t> cupti_dropped{0};  // CUPTI's dropped activity records
  std::atomic<std::uint64_t> lib_dropped{0};    // records this library could not place
};

// The library's state. Allocated once and never freed: CUPTI may call back from its own threads
// late in process exit, after static destructors would have run.
struct State {
  Cupti cupti;
  CUpti_SubscriberHandle subscriber = nullptr;
  int dump_fd = -1;
  bool print_stats = false;
  std::chrono::milliseconds flush_period{200};
  Counters counters;

  // One writer for API records (application threads), one for activity records (CUPTI's buffer
  // completion, on its thread or the flusher's). Lock order: writer mutex, then deliver_mutex.
  std::mutex api_mutex;
  BatchWriter api_writer;
  std::mutex activity_mutex;
  BatchWriter activity_writer;
  std::mutex deliver_mutex;
  std::uint64_t sequence = 0;

  std::mutex clock_mutex;
  ClockAligner clock;
  std::chrono::steady_clock::time_point calibrated_at;

  std::mutex flusher_mutex;
  std::condition_variable flusher_wake;
  bool stopping = false;
  std::thread flusher;
};

State* g_state = nullptr;
std::atomic<bool> g_collecting{false};  // API and activity callbacks record only while true

// The one line a user sees: a single fprintf keeps it whole among the program's own output.
void say(const std::string& line) { std::fprintf(stderr, "zerotrace: %s\n", line.c_str()); }

std::uint64_t total_dropped(const State& s) {
  return s.counters.cupti_dropped.load(std::memory_order_relaxed) + s.counters.lib_dropped.load(std::memory_order_relaxed);
}

// Numbers the batch, hands it over and empties the writer. Called with the writer's mutex held.
void deliver(State& s, BatchWriter& w) {
  if (w.empty()) return;
  std::lock_guard lock(s.deliver_mutex);
  const auto batch = w.finish(s.sequence++, total_dropped(s),
                              g_collecting.load(std::memory_order_acquire) ? ZT_CUPTI_BATCH_F_COLLECTING : 0);
  g_deliver(batch.data(), static_cast<std::uint32_t>(batch.size()));
  if (s.dump_fd >= 0) {
    // A debugging aid; a short write leaves a cut batch that parse_batch rejects.
    [[maybe_unused]] const auto n = write(s.dump_fd, batch.data(), batch.size());
  }
  s.counters.batches.fetch_add(1, std::memory_order_relaxed);
  s.counters.bytes.fetch_add(batch.size(), std::memory_order_relaxed);
  w.reset();
}

// Adds with `add(writer)`, delivering a full batch first. Called with the writer's mutex held.
template <typename Add>
void add_record(State& s, BatchWriter& w, Add&& add) {
  if (!add(w)) {
    s.counters.full_batches.fetch_add(1, std::memory_order_relaxed);
    deliver(s, w);
    if (!add(w)) {
      s.counters.lib_dropped.fetch_add(1, std::memory_order_relaxed);  // larger than an empty batch: cannot happen
      return;
    }
  }
  s.counters.records.fetch_add(1, std::memory_order_relaxed);
}

std::int64_t clock_offset(State& s) {
  std::lock_guard lock(s.clock_mutex);
  return s.clock.offset();
}

void emit_status(State& s, zt_cupti_status status, std::int32_t detail) {
  zt_cupti_status_record r{};
  r.status = status;
  r.detail = detail;
  r.clock_offset_ns = static_cast<std::uint64_t>(clock_offset(s));
  std::lock_guard lock(s.api_mutex);
  add_record(s, s.api_writer, [&](BatchWriter& w) { return w.add_status(r); });
  deliver(s, s.api_writer);
}

bool calibrate(State& s) {
  const auto sample = [&s] {
    ClockSample c{};
    c.cpu_before = monotonic_ns();
    const bool ok = s.cupti.get_timestamp(&c.gpu) == CUPTI_SUCCESS;
    c.cpu_after = monotonic_ns();
    if (!ok) c.cpu_before = c.cpu_after + 1;  // calibrate() skips it
    return c;
  };
  std::lock_guard lock(s.clock_mutex);
  s.calibrated_at = std::chrono::steady_clock::now();
  return s.clock.calibrate_with(sample, kCalibrationSamples);
}

// ---- API callbacks -------------------------------------------------------------------------------

// Per thread: the outermost traced call in progress. A runtime call that reaches a traced driver
// call nests; only the outermost is recorded, so a launch counts once.
struct ThreadCall {
  int depth = 0;
  std::uint64_t start_ns = 0;
  std::uint32_t correlation_id = 0;
  // The first nested (driver) call's id: activity records carry the driver call's correlation id
  // (CUpti_ActivityMemcpy6::correlationId says so; runtimeCorrelationId is the runtime's).
  std::uint32_t inner_correlation_id = 0;
};
thread_local ThreadCall t_call;

void CUPTIAPI on_api(void*, CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void* data) noexcept {
  try {
    if (data == nullptr || (domain != CUPTI_CB_DOMAIN_RUNTIME_API && domain != CUPTI_CB_DOMAIN_DRIVER_API)) return;
    const auto* cb = static_cast<const CUpti_CallbackData*>(data);
    ThreadCall& t = t_call;
    if (cb->callbackSite == CUPTI_API_ENTER) {
      if (t.depth++ == 0) {
        t.start_ns = monotonic_ns();
        t.correlation_id = cb->correlationId;
        t.inner_correlation_id = 0;
      } else if (t.inner_correlation_id == 0) {
        t.inner_correlation_id = cb->correlationId;
      }
      return;
    }
    if (t.depth == 0 || --t.depth != 0) return;  // an exit without its entry (enabled mid-call), or nested
    State* s = g_state;
    if (s == nullptr || !g_collecting.load(std::memory_order_acquire)) return;

    zt_cupti_api_record r{};
    r.h.correlation_id = t.inner_correlation_id != 0 ? t.inner_correlation_id : cb->correlationId;
    r.start_ns = t.start_ns;
    r.end_ns = monotonic_ns();
    r.tid = this_tid();
    r.api = api_of(domain, cbid);
    r.cbid = cbid;
    // cudaError_t and CUresult are both int-sized enums.
    if (cb->functionReturnValue != nullptr) std::memcpy(&r.result, cb->functionReturnValue, sizeof r.result);
    r.domain = static_cast<std::uint8_t>(domain);
    std::lock_guard lock(s->api_mutex);
    add_record(*s, s->api_writer, [&](BatchWriter& w) { return w.add_api(r); });
  } catch (...) {
  }
}

// ---- Activity buffers ----------------------------------------------------------------------------

void CUPTIAPI on_buffer_requested(std::uint8_t** buffer, std::size_t* size, std::size_t* max_records) noexcept {
  void* p = nullptr;
  // On failure CUPTI gets no buffer and counts what it cannot store as dropped.
  if (posix_memalign(&p, 8, kActivityBufferBytes) != 0) p = nullptr;
  *buffer = static_cast<std::uint8_t*>(p);
  *size = p != nullptr ? kActivityBufferBytes : 0;
  *max_records = 0;  // as many as fit
}

void translate(State& s, const ClockAligner& clock, const CUpti_Activity* a) {
  auto& w = s.activity_writer;
  const auto mono = [&clock](std::uint64_t t) { return clock.to_monotonic(t); };
  switch (a->kind) {
    case CUPTI_ACTIVITY_KIND_KERNEL:
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(a);
      zt_cupti_kernel_record r{};
      r.h.correlation_id = k->correlationId;
      r.start_ns = mono(k->start);
      r.end_ns = mono(k->end);
      r.stream_id = k->streamId;
      r.device_id = k->deviceId;
      r.context_id = k->contextId;
      r.grid[0] = static_cast<std::uint32_t>(k->gridX);
      r.grid[1] = static_cast<std::uint32_t>(k->gridY);
      r.grid[2] = static_cast<std::uint32_t>(k->gridZ);
      r.block[0] = static_cast<std::uint32_t>(k->blockX);
      r.block[1] = static_cast<std::uint32_t>(k->blockY);
      r.block[2] = static_cast<std::uint32_t>(k->blockZ);
      r.registers_per_thread = k->registersPerThread;
      r.static_shared_memory = static_cast<std::uint32_t>(k->staticSharedMemory);
      r.dynamic_shared_memory = static_cast<std::uint32_t>(k->dynamicSharedMemory);
      r.local_memory_per_thread = k->localMemoryPerThread;
      const std::string_view name =
          k->name != nullptr ? std::string_view(k->name, strnlen(k->name, ZT_CUPTI_NAME_MAX)) : std::string_view();
      add_record(s, w, [&](BatchWriter& bw) { return bw.add_kernel(r, name); });
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY: {
      const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(a);
      zt_cupti_memcpy_record r{};
      r.h.correlation_id = m->correlationId;
      r.start_ns = mono(m->start);
      r.end_ns = mono(m->end);
      r.bytes = m->bytes;
      r.stream_id = m->streamId;
      r.device_id = m->deviceId;
      r.context_id = m->contextId;
      r.copy_kind = m->copyKind;
      r.src_kind = m->srcKind;
      r.dst_kind = m->dstKind;
      r.async = (m->flags & CUPTI_ACTIVITY_FLAG_MEMCPY_ASYNC) != 0 ? 1 : 0;
      add_record(s, w, [&](BatchWriter& bw) { return bw.add_memcpy(r); });
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMSET: {
      const auto* m = reinterpret_cast<const CUpti_ActivityMemset4*>(a);
      zt_cupti_memset_record r{};
      r.h.correlation_id = m->correlationId;
      r.start_ns = mono(m->start);
      r.end_ns = mono(m->end);
      r.bytes = m->bytes;
      r.stream_id = m->streamId;
      r.device_id = m->deviceId;
      r.context_id = m->contextId;
      r.value = m->value;
      r.memory_kind = static_cast<std::uint8_t>(m->memoryKind);
      add_record(s, w, [&](BatchWriter& bw) { return bw.add_memset(r); });
      break;
    }
    case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: {
      const auto* y = reinterpret_cast<const CUpti_ActivitySynchronization2*>(a);
      zt_cupti_sync_record r{};
      r.h.correlation_id = y->correlationId;
      r.start_ns = mono(y->start);
      r.end_ns = mono(y->end);
      r.stream_id = y->streamId != CUPTI_SYNCHRONIZATION_INVALID_VALUE ? y->streamId : 0;
      r.context_id = y->contextId != CUPTI_SYNCHRONIZATION_INVALID_VALUE ? y->contextId : 0;
      r.type = static_cast<std::uint32_t>(y->type);
      add_record(s, w, [&](BatchWriter& bw) { return bw.add_sync(r); });
      break;
    }
    default:
      break;
  }
}

void CUPTIAPI on_buffer_completed(CUcontext context, std::uint32_t stream_id, std::uint8_t* buffer, std::size_t,
                                  std::size_t valid) noexcept {
  try {
    State* s = g_state;
    if (s != nullptr && buffer != nullptr) {
      ClockAligner clock;
      {
        std::lock_guard lock(s->clock_mutex);
        clock = s->clock;
      }
      std::lock_guard lock(s->activity_mutex);
      CUpti_Activity* record = nullptr;
      while (s->cupti.next_record(buffer, valid, &record) == CUPTI_SUCCESS) translate(*s, clock, record);
      std::size_t dropped = 0;
      if (s->cupti.dropped_records(context, stream_id, &dropped) == CUPTI_SUCCESS && dropped != 0) {
        s->counters.cupti_dropped.fetch_add(dropped, std::memory_order_relaxed);
      }
    }
  } catch (...) {
  }
  std::free(buffer);
}

// ---- Flushing, start and stop --------------------------------------------------------------------

void flush(State& s, bool forced) {
  // Completes CUPTI's buffers: on_buffer_completed runs (on this thread or CUPTI's) before it returns.
  s.cupti.flush_all(forced ? CUPTI_ACTIVITY_FLAG_FLUSH_FORCED : 0);
  {
    std::lock_guard lock(s.activity_mutex);
    deliver(s, s.activity_writer);
  }
  std::lock_guard lock(s.api_mutex);
  deliver(s, s.api_writer);
}

void flusher_loop(State& s) noexcept {
  try {
    std::unique_lock lock(s.flusher_mutex);
    while (!s.stopping) {
      s.flusher_wake.wait_for(lock, s.flush_period);
      if (s.stopping) break;
      lock.unlock();
      flush(s, false);
      if (std::chrono::steady_clock::now() - s.calibrated_at >= kRecalibrateEvery) calibrate(s);
      lock.lock();
    }
  } catch (...) {
  }
}

void on_process_exit() noexcept {
  try {
    State* s = g_state;
    if (s == nullptr || !g_collecting.load()) return;
    {
      std::lock_guard lock(s->flusher_mutex);
      s->stopping = true;
    }
    s->flusher_wake.notify_all();
    if (s->flusher.joinable() && s->flusher.get_id() != std::this_thread::get_id()) s->flusher.join();
    flush(*s, true);
    g_collecting.store(false);
    emit_status(*s, ZT_CUPTI_STATUS_STOPPED, 0);
    if (s->print_stats) {
      const auto& c = s->counters;
      std::fprintf(stderr,
                   "zerotrace: cupti stats: records=%llu batches=%llu bytes=%llu full_batches=%llu "
                   "dropped_cupti=%llu dropped_lib=%llu\n",
                   static_cast<unsigned long long>(c.records.load()), static_cast<unsigned long long>(c.batches.load()),
                   static_cast<unsigned long long>(c.bytes.load()), static_cast<unsigned long long>(c.full_batches.load()),
                   static_cast<unsigned long long>(c.cupti_dropped.load()),
                   static_cast<unsigned long long>(c.lib_dropped.load()));
    }
  } catch (...) {
  }
}

bool env_is(const char* name, std::initializer_list<const char*> values) {
  const char* v = std::getenv(name);
  if (v == nullptr) return false;
  for (const char* x : values) {
    if (std::strcmp(v, x) == 0) return true;
  }
  return false;
}

// A failed CUPTI call: one line, a status record, CUPTI released. Returns 0 for InitializeInjection.
int fail(State& s, const char* call, CUptiResult r) {
  say(std::string(call) + " failed: " + s.cupti.describe(r) + " (CUptiResult " + std::to_string(static_cast<int>(r)) +
      "); GPU timings off, uprobes still trace CUDA calls");
  emit_status(s, ZT_CUPTI_STATUS_ERROR, static_cast<std::int32_t>(r));
  if (s.subscriber != nullptr) s.cupti.unsubscribe(s.subscriber);
  s.subscriber = nullptr;
  return 0;
}

int initialize() {
  if (env_is("ZEROTRACE_CUPTI", {"off", "0", "false", "no"})) return 0;
  auto* s = new State();
  g_state = s;
  if (const char* dump = std::getenv("ZEROTRACE_CUPTI_DUMP"); dump != nullptr && *dump != '\0') {
    s->dump_fd = open(dump, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  s->print_stats = env_is("ZEROTRACE_CUPTI_STATS", {"1", "on", "true", "yes"});
  if (const char* ms = std::getenv("ZEROTRACE_CUPTI_FLUSH_MS"); ms != nullptr) {
    const long v = std::strtol(ms, nullptr, 10);
    if (v >= 10 && v <= 60'000) s->flush_period = std::chrono::milliseconds(v);
  }

  std::string why;
  if (!load_cupti(s->cupti, why)) {
    say("CUPTI not loadable (" + why + "): GPU timings off, uprobes still trace CUDA calls");
    emit_status(*s, ZT_CUPTI_STATUS_ERROR, kDetailNoCupti);
    return 0;
  }
  auto& c = s->cupti;

  // First, before touching anything: another subscriber means we step aside.
  if (const CUptiResult r = c.subscribe(&s->subscriber, on_api, nullptr); r != CUPTI_SUCCESS) {
    s->subscriber = nullptr;
    if (r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED) {
      say("another CUPTI subscriber (Nsight Systems, a profiler) holds this process; GPU timings off, uprobes "
          "still trace CUDA calls");
      emit_status(*s, ZT_CUPTI_STATUS_OTHER_SUBSCRIBER, static_cast<std::int32_t>(r));
      return 0;
    }
    return fail(*s, "cuptiSubscribe", r);
  }
  if (!calibrate(*s)) return fail(*s, "cuptiGetTimestamp", CUPTI_ERROR_UNKNOWN);
  for (const auto& t : kTraced) {
    // A callback id this CUPTI does not know fails alone; the others still work.
    c.enable_callback(1, s->subscriber, t.domain, t.cbid);
  }
  if (const CUptiResult r = c.register_callbacks(on_buffer_requested, on_buffer_completed); r != CUPTI_SUCCESS) {
    return fail(*s, "cuptiActivityRegisterCallbacks", r);
  }
  std::int32_t kinds_failed = 0;
  for (const auto kind : {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY, CUPTI_ACTIVITY_KIND_MEMSET,
                          CUPTI_ACTIVITY_KIND_SYNCHRONIZATION}) {
    if (c.activity_enable(kind) != CUPTI_SUCCESS) ++kinds_failed;
  }

  g_collecting.store(true, std::memory_order_release);
  s->flusher = std::thread([s] { flusher_loop(*s); });
  std::atexit(on_process_exit);
  emit_status(*s, ZT_CUPTI_STATUS_STARTED, kinds_failed);  // detail: activity kinds that could not be enabled
  return 1;
}

}  // namespace

// Called by the CUDA driver (CUDA_INJECTION64_PATH) during cuInit. 1: collecting; 0: not (the
// reason went to stderr and, as a status record, to the agent).
extern "C" __attribute__((visibility("default"))) int InitializeInjection(void) noexcept {
  static std::atomic<bool> called{false};
  if (called.exchange(true)) return g_collecting.load() ? 1 : 0;
  try {
    return initialize();
  } catch (...) {
    say("CUPTI setup failed (out of memory or threads); GPU timings off");
    return 0;
  }
}
