// CudaSpanBuilder: CUDA uprobe events and CUPTI records to spans.
#include "cuda/cuda_spans.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>

#include "cuda/cuda_errors.h"

namespace zt::cuda {
namespace {

using trace::AttributeValue;
using trace::Span;

constexpr std::uint32_t kPid = 100;
constexpr std::uint32_t kTid = 101;
constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kSec = 1'000'000'000;
constexpr std::uint64_t kT0 = 50 * kSec;  // a plausible CLOCK_MONOTONIC
const char* const kMangled = "_ZN4demo5scaleIfEEvPT_S1_i";
const char* const kDemangled = "void demo::scale<float>(float*, float, int)";  // c++filt

zt_cuda_call_event call_event(std::uint32_t api, std::uint64_t start, std::uint64_t end, std::int32_t result = 0,
                              std::uint32_t tid = kTid, std::uint32_t pid = kPid) {
  zt_cuda_call_event ev{};
  ev.hdr.kind = ZT_EV_CUDA_CALL;
  ev.hdr.pid = pid;
  ev.hdr.tid = tid;
  ev.hdr.ts_ns = end;
  ev.start_ns = start;
  ev.api = api;
  ev.result = result;
  return ev;
}

zt_cuda_call_event launch(std::uint64_t start, std::uint64_t function = 0x4000, std::uint32_t tid = kTid) {
  auto ev = call_event(ZT_CUDA_LAUNCH_KERNEL, start, start + 2'000, 0, tid);
  ev.function = function;
  ev.grid[0] = 64, ev.grid[1] = 2, ev.grid[2] = 1;
  ev.block[0] = 256, ev.block[1] = 1, ev.block[2] = 1;
  ev.bytes = 1024;
  ev.stream = 0x7f00;
  return ev;
}

// CUPTI records, built in 8-byte aligned storage as a batch would hold them.
struct Record {
  std::vector<std::uint64_t> words;
  const zt_cupti_record_header& header() const {
    return *reinterpret_cast<const zt_cupti_record_header*>(words.data());
  }
};

template <class T>
Record record(const T& r, std::string_view trailer = {}) {
  Record out;
  const std::size_t size = (sizeof(T) + trailer.size() + 7) / 8 * 8;
  out.words.assign(size / 8, 0);
  std::memcpy(out.words.data(), &r, sizeof(T));
  if (!trailer.empty()) {
    std::memcpy(reinterpret_cast<char*>(out.words.data()) + sizeof(T), trailer.data(), trailer.size());
  }
  auto* h = reinterpret_cast<zt_cupti_record_header*>(out.words.data());
  h->size = static_cast<std::uint16_t>(size);
  return out;
}

Record api_record(std::uint32_t correlation, std::uint32_t api, std::uint64_t start, std::uint64_t end,
                  std::int32_t result = 0, std::uint32_t tid = kTid) {
  zt_cupti_api_record r{};
  r.h.type = ZT_CUPTI_REC_API;
  r.h.correlation_id = correlation;
  r.start_ns = start;
  r.end_ns = end;
  r.tid = tid;
  r.api = api;
  r.result = result;
  r.domain = api >= ZT_CU_LAUNCH_KERNEL ? 1 : 2;
  return record(r);
}

Record kernel_record(std::uint32_t correlation, std::uint64_t start, std::uint64_t end,
                     std::string_view name = kMangled) {
  zt_cupti_kernel_record r{};
  r.h.type = ZT_CUPTI_REC_KERNEL;
  r.h.correlation_id = correlation;
  r.start_ns = start;
  r.end_ns = end;
  r.stream_id = 13;
  r.device_id = 0;
  r.context_id = 1;
  r.grid[0] = 128, r.grid[1] = 1, r.grid[2] = 1;
  r.block[0] = 512, r.block[1] = 1, r.block[2] = 1;
  r.registers_per_thread = 32;
  r.static_shared_memory = 48;
  r.dynamic_shared_memory = 2048;
  r.local_memory_per_thread = 16;
  r.name_len = static_cast<std::uint16_t>(name.size());
  return record(r, name);
}

Record memcpy_record(std::uint32_t correlation, std::uint64_t start, std::uint64_t end, std::uint64_t bytes) {
  zt_cupti_memcpy_record r{};
  r.h.type = ZT_CUPTI_REC_MEMCPY;
  r.h.correlation_id = correlation;
  r.start_ns = start;
  r.end_ns = end;
  r.bytes = bytes;
  r.stream_id = 7;
  r.device_id = 0;
  r.context_id = 1;
  r.copy_kind = 1;  // HtoD
  r.src_kind = 2;   // pinned
  r.dst_kind = 3;   // device
  r.async = 1;
  return record(r);
}

Record status_record(std::uint32_t status, std::int32_t detail = 0) {
  zt_cupti_status_record r{};
  r.h.type = ZT_CUPTI_REC_STATUS;
  r.status = status;
  r.detail = detail;
  return record(r);
}

template <class T>
T attr(const Span& s, std::string_view key) {
  const AttributeValue* v = s.find_attribute(key);
  if (!v) {
    ADD_FAILURE() << s.name << ": no attribute " << key;
    return T{};
  }
  if (!std::holds_alternative<T>(*v)) {
    ADD_FAILURE() << s.name << ": attribute " << key << " has another type";
    return T{};
  }
  return std::get<T>(*v);
}
std::int64_t ival(const Span& s, std::string_view key) { return attr<std::int64_t>(s, key); }
std::string sval(const Span& s, std::string_view key) { return attr<std::string>(s, key); }

class CudaSpansTest : public ::testing::Test {
 protected:
  void make(CudaSpanOptions options = {}) {
    resource_ = std::make_shared<trace::Resource>();
    resource_->pid = kPid;
    builder_ = std::make_unique<CudaSpanBuilder>(
        options, [this](std::uint32_t) { return resource_; },
        [this](std::uint32_t, std::uint32_t, std::uint64_t function) -> std::optional<KernelName> {
          ++kernel_lookups_;
          if (function == 0x4000) return KernelName{kMangled, {}};
          if (function == 0x5000) {
            return KernelName{"_Z6vecAddPKfS0_Pfi", "vecAdd(float const*, float const*, float*, int)"};
          }
          return std::nullopt;
        },
        [this](std::uint32_t, std::uint32_t, std::uint64_t) { return parent_; }, &clock_,
        [this](Span&& s) { spans_.push_back(std::move(s)); });
  }
  void SetUp() override { make(); }
  void cupti(const Record& r, std::uint32_t pid = kPid) { builder_->on_cupti_record(pid, r.header()); }
  void start_cupti(std::uint32_t pid = kPid) { cupti(status_record(ZT_CUPTI_STATUS_STARTED), pid); }
  std::vector<const Span*> named(std::string_view name) const {
    std::vector<const Span*> out;
    for (const auto& s : spans_) {
      if (s.name == name) out.push_back(&s);
    }
    return out;
  }
  std::uint64_t unix(std::uint64_t mono) const { return clock_.to_unix_ns(mono); }

  MonotonicToRealtime clock_;
  std::shared_ptr<trace::Resource> resource_;
  std::optional<ParentContext> parent_;
  int kernel_lookups_ = 0;
  std::vector<Span> spans_;
  std::unique_ptr<CudaSpanBuilder> builder_;
};

// --- errors --------------------------------------------------------------------------------------

TEST(CudaErrors, RuntimeNames) {
  EXPECT_EQ(runtime_error_name(0), "cudaSuccess");
  EXPECT_EQ(runtime_error_name(1), "cudaErrorInvalidValue");
  EXPECT_EQ(runtime_error_name(2), "cudaErrorMemoryAllocation");
  EXPECT_EQ(runtime_error_name(9), "cudaErrorInvalidConfiguration");
  EXPECT_EQ(runtime_error_name(35), "cudaErrorInsufficientDriver");
  EXPECT_EQ(runtime_error_name(98), "cudaErrorInvalidDeviceFunction");
  EXPECT_EQ(runtime_error_name(100), "cudaErrorNoDevice");
  EXPECT_EQ(runtime_error_name(400), "cudaErrorInvalidResourceHandle");
  EXPECT_EQ(runtime_error_name(600), "cudaErrorNotReady");
  EXPECT_EQ(runtime_error_name(700), "cudaErrorIllegalAddress");
  EXPECT_EQ(runtime_error_name(701), "cudaErrorLaunchOutOfResources");
  EXPECT_EQ(runtime_error_name(719), "cudaErrorLaunchFailure");
  EXPECT_EQ(runtime_error_name(999), "cudaErrorUnknown");
  EXPECT_EQ(runtime_error_name(10), "cudaError(10)");
  EXPECT_EQ(runtime_error_name(-3), "cudaError(-3)");
}

TEST(CudaErrors, DriverNames) {
  EXPECT_EQ(driver_error_name(0), "CUDA_SUCCESS");
  EXPECT_EQ(driver_error_name(1), "CUDA_ERROR_INVALID_VALUE");
  EXPECT_EQ(driver_error_name(2), "CUDA_ERROR_OUT_OF_MEMORY");
  EXPECT_EQ(driver_error_name(3), "CUDA_ERROR_NOT_INITIALIZED");
  EXPECT_EQ(driver_error_name(100), "CUDA_ERROR_NO_DEVICE");
  EXPECT_EQ(driver_error_name(400), "CUDA_ERROR_INVALID_HANDLE");
  EXPECT_EQ(driver_error_name(719), "CUDA_ERROR_LAUNCH_FAILED");
  EXPECT_EQ(driver_error_name(999), "CUDA_ERROR_UNKNOWN");
  EXPECT_EQ(driver_error_name(5000), "CUresult(5000)");
}

// --- uprobe path ---------------------------------------------------------------------------------

TEST_F(CudaSpansTest, LaunchSpanNamedAfterTheKernel) {
  builder_->on_call(launch(kT0));
  ASSERT_EQ(spans_.size(), 1u);  // the group waits for more calls
  const Span& s = spans_[0];
  EXPECT_EQ(s.name, "cudaLaunchKernel demo::scale<float>");
  EXPECT_EQ(s.kind, trace::SpanKind::Internal);
  EXPECT_EQ(s.resource, resource_);
  EXPECT_EQ(s.tid, kTid);
  EXPECT_EQ(s.start_unix_ns, unix(kT0));
  EXPECT_EQ(s.end_unix_ns, unix(kT0 + 2'000));
  EXPECT_EQ(s.status, trace::StatusCode::Unset);
  EXPECT_EQ(ival(s, "thread.id"), kTid);
  EXPECT_EQ(sval(s, "cuda.api"), "cudaLaunchKernel");
  EXPECT_EQ(sval(s, "cuda.kernel.name"), kDemangled);
  EXPECT_EQ(sval(s, "cuda.kernel.mangled_name"), kMangled);
  EXPECT_EQ(ival(s, "cuda.grid.x"), 64);
  EXPECT_EQ(ival(s, "cuda.grid.y"), 2);
  EXPECT_EQ(ival(s, "cuda.grid.z"), 1);
  EXPECT_EQ(ival(s, "cuda.block.x"), 256);
  EXPECT_EQ(ival(s, "cuda.block.y"), 1);
  EXPECT_EQ(ival(s, "cuda.block.z"), 1);
  EXPECT_EQ(ival(s, "cuda.shared_memory.dynamic"), 1024);
  EXPECT_EQ(ival(s, "cuda.stream"), 0x7f00);
  EXPECT_EQ(s.find_attribute("cuda.error.code"), nullptr);
  EXPECT_EQ(s.find_attribute("cuda.launch.count"), nullptr);
}

TEST_F(CudaSpansTest, LaunchWithDemangledNameFromLookupAndUnknownKernel) {
  builder_->on_call(launch(kT0, 0x5000));
  builder_->on_call(launch(kT0 + 100 * kMs, 0x9999));
  ASSERT_EQ(spans_.size(), 2u);
  EXPECT_EQ(spans_[0].name, "cudaLaunchKernel vecAdd");
  EXPECT_EQ(sval(spans_[0], "cuda.kernel.name"), "vecAdd(float const*, float const*, float*, int)");
  EXPECT_EQ(spans_[1].name, "cudaLaunchKernel");
  EXPECT_EQ(sval(spans_[1], "cuda.kernel.function"), "0x9999");
  EXPECT_EQ(spans_[1].find_attribute("cuda.kernel.name"), nullptr);
}

TEST_F(CudaSpansTest, MemcpyKindBytesAsync) {
  auto ev = call_event(ZT_CUDA_MEMCPY_ASYNC, kT0, kT0 + 5'000);
  ev.bytes = 4096;
  ev.memcpy_kind = ZT_MEMCPY_HOST_TO_DEVICE;
  ev.stream = 0x42;
  ev.flags = ZT_CUDA_F_ASYNC;
  builder_->on_call(ev);
  auto sync = call_event(ZT_CUDA_MEMCPY, kT0 + 10'000, kT0 + 20'000);
  sync.bytes = 512;
  sync.memcpy_kind = ZT_MEMCPY_DEVICE_TO_HOST;
  builder_->on_call(sync);
  auto driver = call_event(ZT_CU_MEMCPY_HTOD, kT0 + 30'000, kT0 + 40'000);
  driver.bytes = 8;
  driver.memcpy_kind = ZT_MEMCPY_HOST_TO_DEVICE;
  builder_->on_call(driver);
  ASSERT_EQ(spans_.size(), 3u);
  EXPECT_EQ(spans_[0].name, "cudaMemcpyAsync HtoD");
  EXPECT_EQ(ival(spans_[0], "cuda.memcpy.bytes"), 4096);
  EXPECT_EQ(sval(spans_[0], "cuda.memcpy.kind"), "HtoD");
  EXPECT_TRUE(attr<bool>(spans_[0], "cuda.memcpy.async"));
  EXPECT_EQ(ival(spans_[0], "cuda.stream"), 0x42);
  EXPECT_EQ(spans_[1].name, "cudaMemcpy DtoH");
  EXPECT_FALSE(attr<bool>(spans_[1], "cuda.memcpy.async"));
  EXPECT_EQ(spans_[1].find_attribute("cuda.stream"), nullptr);  // synchronous, default stream
  EXPECT_EQ(spans_[2].name, "cuMemcpyHtoD");                     // the name says the direction
  EXPECT_EQ(sval(spans_[2], "cuda.memcpy.kind"), "HtoD");
}

TEST_F(CudaSpansTest, MemsetDriverWidthsAndOtherCalls) {
  auto d32 = call_event(ZT_CU_MEMSET_D32, kT0, kT0 + 1'000);
  d32.bytes = 256;  // elements
  d32.src = 0xdeadbeef;
  builder_->on_call(d32);
  auto d16 = call_event(ZT_CU_MEMSET_D16_ASYNC, kT0 + 2'000, kT0 + 3'000);
  d16.bytes = 10;
  builder_->on_call(d16);
  auto rt = call_event(ZT_CUDA_MEMSET, kT0 + 4'000, kT0 + 5'000);
  rt.bytes = 100;
  builder_->on_call(rt);
  auto malloc = call_event(ZT_CUDA_MALLOC, kT0 + 6'000, kT0 + 7'000);
  malloc.bytes = 1 << 20;
  builder_->on_call(malloc);
  builder_->on_call(call_event(ZT_CUDA_DEVICE_SYNCHRONIZE, kT0 + 8'000, kT0 + 9'000));
  builder_->on_call(call_event(ZT_CU_CTX_SYNCHRONIZE, kT0 + 10'000, kT0 + 11'000));
  builder_->on_call(call_event(ZT_CUDA_STREAM_SYNCHRONIZE, kT0 + 12'000, kT0 + 13'000));
  ASSERT_EQ(spans_.size(), 7u);
  EXPECT_EQ(spans_[0].name, "cuMemsetD32");
  EXPECT_EQ(ival(spans_[0], "cuda.memset.bytes"), 1024);
  EXPECT_EQ(ival(spans_[0], "cuda.memset.value"), 0xdeadbeef);
  EXPECT_FALSE(attr<bool>(spans_[0], "cuda.memset.async"));
  EXPECT_EQ(ival(spans_[1], "cuda.memset.bytes"), 20);
  EXPECT_TRUE(attr<bool>(spans_[1], "cuda.memset.async"));
  EXPECT_EQ(ival(spans_[1], "cuda.stream"), 0);  // async: the stream, even the default one
  EXPECT_EQ(ival(spans_[2], "cuda.memset.bytes"), 100);
  EXPECT_EQ(spans_[3].name, "cudaMalloc");
  EXPECT_EQ(ival(spans_[3], "cuda.malloc.bytes"), 1 << 20);
  EXPECT_EQ(spans_[4].name, "cudaDeviceSynchronize");
  EXPECT_EQ(sval(spans_[4], "cuda.sync.kind"), "device");
  EXPECT_EQ(spans_[5].name, "cuCtxSynchronize");
  EXPECT_EQ(sval(spans_[5], "cuda.sync.kind"), "context");
  EXPECT_EQ(sval(spans_[6], "cuda.sync.kind"), "stream");
  EXPECT_EQ(ival(spans_[6], "cuda.stream"), 0);
}

TEST_F(CudaSpansTest, ErrorsNamedPerApi) {
  builder_->on_call(call_event(ZT_CUDA_MALLOC, kT0, kT0 + 1'000, 35));
  builder_->on_call(call_event(ZT_CU_CTX_SYNCHRONIZE, kT0 + 2'000, kT0 + 3'000, 100));
  builder_->on_call(call_event(ZT_CUDA_DEVICE_SYNCHRONIZE, kT0 + 4'000, kT0 + 5'000, 600));
  ASSERT_EQ(spans_.size(), 3u);
  EXPECT_EQ(spans_[0].status, trace::StatusCode::Error);
  EXPECT_EQ(spans_[0].status_message, "cudaErrorInsufficientDriver");
  EXPECT_EQ(sval(spans_[0], "error.type"), "cudaErrorInsufficientDriver");
  EXPECT_EQ(ival(spans_[0], "cuda.error.code"), 35);
  EXPECT_EQ(spans_[1].status, trace::StatusCode::Error);
  EXPECT_EQ(spans_[1].status_message, "CUDA_ERROR_NO_DEVICE");
  EXPECT_EQ(sval(spans_[1], "error.type"), "CUDA_ERROR_NO_DEVICE");
  EXPECT_EQ(spans_[2].status, trace::StatusCode::Unset);  // not ready is not a failure
  EXPECT_EQ(spans_[2].find_attribute("error.type"), nullptr);
}

TEST_F(CudaSpansTest, NamingEventsIgnoredAndCounted) {
  builder_->on_call(call_event(ZT_CUDA_GET_KERNEL, kT0, kT0 + 10));
  builder_->on_call(call_event(ZT_CU_MODULE_GET_FUNCTION, kT0, kT0 + 10));
  builder_->on_call(call_event(ZT_CU_LIBRARY_GET_KERNEL, kT0, kT0 + 10));
  builder_->on_call(call_event(ZT_CUPTI_DELIVER, kT0, kT0 + 10));
  builder_->on_call(call_event(77, kT0, kT0 + 10));
  builder_->shutdown();
  EXPECT_TRUE(spans_.empty());
  EXPECT_EQ(builder_->stats().naming_calls_ignored, 4u);
  EXPECT_EQ(builder_->stats().unknown_api, 1u);
}

TEST_F(CudaSpansTest, ParentFromTheRequestJoinsItsTrace) {
  ParentContext p;
  p.trace_id = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  p.span_id = {7, 7, 7, 7, 7, 7, 7, 7};
  p.trace_flags = 0;
  p.trace_state = "vendor=x";
  parent_ = p;
  builder_->on_call(launch(kT0));
  builder_->on_call(call_event(ZT_CUDA_DEVICE_SYNCHRONIZE, kT0 + 3'000, kT0 + 9'000));
  builder_->shutdown();
  ASSERT_EQ(spans_.size(), 2u);  // no group span
  for (const auto& s : spans_) {
    EXPECT_EQ(s.trace_id, p.trace_id);
    EXPECT_EQ(s.parent_span_id, p.span_id);
    EXPECT_EQ(s.trace_flags, 0);
    EXPECT_EQ(s.trace_state, "vendor=x");
    EXPECT_NE(s.span_id, trace::SpanId{});
  }
  EXPECT_NE(spans_[0].span_id, spans_[1].span_id);
  EXPECT_EQ(builder_->stats().group_spans, 0u);
}

TEST_F(CudaSpansTest, GroupSpanOutsideRequests) {
  builder_->on_call(launch(kT0));
  builder_->on_call(call_event(ZT_CUDA_DEVICE_SYNCHRONIZE, kT0 + 3'000, kT0 + 9'000));
  builder_->tick(kT0 + 500 * kMs);  // idle, but not long enough
  ASSERT_EQ(spans_.size(), 2u);
  builder_->tick(kT0 + 9'000 + kSec + 1);
  ASSERT_EQ(spans_.size(), 3u);
  const Span g = spans_[2];  // a copy: spans_ grows below
  EXPECT_EQ(g.name, "cuda work");
  EXPECT_TRUE(g.is_root());
  EXPECT_EQ(g.kind, trace::SpanKind::Internal);
  EXPECT_EQ(g.resource, resource_);
  EXPECT_EQ(ival(g, "thread.id"), kTid);
  EXPECT_EQ(ival(g, "cuda.group.calls"), 2);
  EXPECT_EQ(g.start_unix_ns, unix(kT0));
  EXPECT_EQ(g.end_unix_ns, unix(kT0 + 9'000));
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(spans_[i].trace_id, g.trace_id);
    EXPECT_EQ(spans_[i].parent_span_id, g.span_id);
  }
  // The next call opens a new group, in a new trace.
  builder_->on_call(call_event(ZT_CUDA_MALLOC, kT0 + 5 * kSec, kT0 + 5 * kSec + 100));
  builder_->shutdown();
  ASSERT_EQ(spans_.size(), 5u);
  EXPECT_EQ(spans_[4].name, "cuda work");
  EXPECT_NE(spans_[4].trace_id, g.trace_id);
  EXPECT_EQ(spans_[3].parent_span_id, spans_[4].span_id);
  EXPECT_EQ(ival(spans_[4], "cuda.group.calls"), 1);
}

TEST_F(CudaSpansTest, GroupClosesOnIdleGapAndMaxLengthWithoutTick) {
  builder_->on_call(call_event(ZT_CUDA_MALLOC, kT0, kT0 + 100));
  builder_->on_call(call_event(ZT_CUDA_MALLOC, kT0 + 2 * kSec, kT0 + 2 * kSec + 100));  // gap > 1 s
  ASSERT_EQ(spans_.size(), 3u);
  EXPECT_EQ(spans_[1].name, "cuda work");
  EXPECT_EQ(spans_[0].parent_span_id, spans_[1].span_id);
  EXPECT_NE(spans_[2].parent_span_id, spans_[1].span_id);
  // Calls 0.5 s apart for 12 s: no idle gap, but a group lasts at most 10 s.
  for (int i = 1; i <= 24; ++i) {
    const std::uint64_t t = kT0 + 2 * kSec + i * 500 * kMs;
    builder_->on_call(call_event(ZT_CUDA_MALLOC, t, t + 100));
  }
  EXPECT_EQ(named("cuda work").size(), 2u);
  builder_->shutdown();
  auto groups = named("cuda work");
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(ival(*groups[1], "cuda.group.calls") + ival(*groups[2], "cuda.group.calls"), 25);
  EXPECT_LT(groups[1]->end_unix_ns - groups[1]->start_unix_ns, 10 * kSec);
}

TEST_F(CudaSpansTest, BelowTheRateEveryLaunchIsASpan) {
  for (int i = 0; i < 100; ++i) builder_->on_call(launch(kT0 + i * 20 * kMs));  // 50/s
  builder_->shutdown();
  EXPECT_EQ(named("cudaLaunchKernel demo::scale<float>").size(), 100u);
  EXPECT_EQ(builder_->stats().folded_spans, 0u);
}

// Sum of cuda.launch.count (1 when absent) over the spans named `name`.
std::int64_t launches(const std::vector<Span>& spans, std::string_view name) {
  std::int64_t n = 0;
  for (const auto& s : spans) {
    if (s.name != name) continue;
    const auto* c = s.find_attribute("cuda.launch.count");
    n += c ? std::get<std::int64_t>(*c) : 1;
  }
  return n;
}

TEST_F(CudaSpansTest, AboveTheRateLaunchesFoldExactly) {
  for (int i = 0; i < 1000; ++i) builder_->on_call(launch(kT0 + i * 10'000));  // 100k/s
  builder_->shutdown();
  const std::string name = "cudaLaunchKernel demo::scale<float>";
  EXPECT_EQ(launches(spans_, name), 1000);
  // The first 200 launches (the rate threshold over a 1 s window) are spans of their own.
  EXPECT_EQ(named(name).size(), 201u);
  const Span* fold = named(name).back();
  EXPECT_EQ(ival(*fold, "cuda.launch.count"), 800);
  EXPECT_EQ(fold->start_unix_ns, unix(kT0 + 200 * 10'000));
  EXPECT_EQ(fold->end_unix_ns, unix(kT0 + 999 * 10'000 + 2'000));
  EXPECT_EQ(sval(*fold, "cuda.kernel.name"), kDemangled);
  EXPECT_EQ(fold->find_attribute("cuda.launch.failed"), nullptr);
  EXPECT_EQ(builder_->stats().folded_launches, 800u);
  EXPECT_LT(kernel_lookups_, 300);  // joining a fold needs no name
  const auto groups = named("cuda work");
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(ival(*groups[0], "cuda.group.calls"), 1000);
  EXPECT_EQ(fold->parent_span_id, groups[0]->span_id);
  EXPECT_EQ(&spans_.back(), groups[0]);  // the group comes after its children
}

TEST_F(CudaSpansTest, FoldBrokenByAnotherKernelCallFailureAndMax) {
  CudaSpanOptions o;
  o.fold_above_per_second = 0;  // fold from the first launch
  o.fold_max = 100;
  make(o);
  std::uint64_t t = kT0;
  for (int i = 0; i < 250; ++i, t += 10'000) builder_->on_call(launch(t));
  builder_->on_call(launch(t, 0x5000));
  t += 10'000;
  for (int i = 0; i < 30; ++i, t += 10'000) {
    auto ev = launch(t);
    if (i == 3) ev.result = 719;
    builder_->on_call(ev);
  }
  builder_->on_call(call_event(ZT_CUDA_DEVICE_SYNCHRONIZE, t, t + 1'000));
  for (int i = 0; i < 5; ++i, t += 10'000) builder_->on_call(launch(t + 2'000));
  builder_->shutdown();
  const std::string scale = "cudaLaunchKernel demo::scale<float>";
  EXPECT_EQ(launches(spans_, scale), 285);
  EXPECT_EQ(launches(spans_, "cudaLaunchKernel vecAdd"), 1);
  const auto folds = named(scale);
  // 100 + 100 + 50 (max), vecAdd, 30 (the sync closes it), 5.
  ASSERT_EQ(folds.size(), 5u);
  EXPECT_EQ(ival(*folds[0], "cuda.launch.count"), 100);
  EXPECT_EQ(ival(*folds[2], "cuda.launch.count"), 50);
  EXPECT_EQ(ival(*folds[3], "cuda.launch.count"), 30);
  EXPECT_EQ(ival(*folds[3], "cuda.launch.failed"), 1);
  EXPECT_EQ(folds[3]->status, trace::StatusCode::Error);
  EXPECT_EQ(folds[3]->status_message, "cudaErrorLaunchFailure");
  EXPECT_EQ(ival(*folds[4], "cuda.launch.count"), 5);
  EXPECT_EQ(folds[0]->status, trace::StatusCode::Unset);
}

TEST_F(CudaSpansTest, FoldClosesOnTickAfterItsGap) {
  CudaSpanOptions o;
  o.fold_above_per_second = 0;
  make(o);
  for (int i = 0; i < 10; ++i) builder_->on_call(launch(kT0 + i * 10'000));
  EXPECT_TRUE(spans_.empty());
  builder_->tick(kT0 + 100'000 + builder_->fold_gap_ns() / 2);
  EXPECT_TRUE(spans_.empty());
  builder_->tick(kT0 + 100'000 + builder_->fold_gap_ns());
  ASSERT_EQ(spans_.size(), 1u);
  EXPECT_EQ(ival(spans_[0], "cuda.launch.count"), 10);
  EXPECT_EQ(builder_->fold_gap_ns(), 10 * kMs);
  EXPECT_EQ(CudaSpanBuilder({}, {}, {}, {}, &clock_, [](Span&&) {}).fold_gap_ns(), 50 * kMs);
}

TEST_F(CudaSpansTest, ProcessExitFlushesOnlyThatProcess) {
  builder_->on_call(launch(kT0));
  builder_->on_call(call_event(ZT_CUDA_MALLOC, kT0, kT0 + 100, 0, 7, 200));
  builder_->on_process_exit(200);
  ASSERT_EQ(spans_.size(), 3u);
  EXPECT_EQ(spans_[2].name, "cuda work");
  EXPECT_EQ(ival(spans_[2], "thread.id"), 7);
  builder_->shutdown();
  EXPECT_EQ(spans_.size(), 4u);
}

// --- CUPTI path ----------------------------------------------------------------------------------

TEST_F(CudaSpansTest, CuptiLaunchWaitsForItsKernelAndGetsAGpuChild) {
  start_cupti();
  cupti(api_record(5, ZT_CUDA_LAUNCH_KERNEL, kT0, kT0 + 3'000));
  EXPECT_TRUE(spans_.empty());  // waiting for the GPU record, for the kernel name
  cupti(kernel_record(5, kT0 + 10'000, kT0 + 60'000));
  ASSERT_EQ(spans_.size(), 2u);
  const Span gpu = spans_[0];  // copies: spans_ grows below
  const Span api = spans_[1];
  EXPECT_EQ(api.name, "cudaLaunchKernel demo::scale<float>");
  EXPECT_EQ(api.start_unix_ns, unix(kT0));
  EXPECT_EQ(api.end_unix_ns, unix(kT0 + 3'000));
  EXPECT_EQ(sval(api, "cuda.kernel.name"), kDemangled);
  EXPECT_EQ(ival(api, "cuda.grid.x"), 128);
  EXPECT_EQ(ival(api, "cuda.block.x"), 512);
  EXPECT_EQ(ival(api, "cuda.shared_memory.dynamic"), 2048);
  EXPECT_EQ(ival(api, "cuda.registers_per_thread"), 32);
  EXPECT_EQ(gpu.name, "gpu demo::scale<float>");
  EXPECT_EQ(gpu.start_unix_ns, unix(kT0 + 10'000));
  EXPECT_EQ(gpu.end_unix_ns, unix(kT0 + 60'000));
  EXPECT_EQ(gpu.parent_span_id, api.span_id);
  EXPECT_EQ(gpu.trace_id, api.trace_id);
  EXPECT_EQ(gpu.resource, resource_);
  EXPECT_EQ(ival(gpu, "cuda.correlation_id"), 5);
  EXPECT_EQ(ival(gpu, "cuda.stream.id"), 13);
  EXPECT_EQ(ival(gpu, "cuda.context.id"), 1);
  EXPECT_EQ(ival(gpu, "cuda.device.id"), 0);
  EXPECT_EQ(ival(gpu, "cuda.registers_per_thread"), 32);
  EXPECT_EQ(ival(gpu, "cuda.shared_memory.static"), 48);
  EXPECT_EQ(ival(gpu, "cuda.local_memory_per_thread"), 16);
  EXPECT_EQ(ival(gpu, "cuda.gpu.queue_delay_ns"), 10'000);
  EXPECT_EQ(ival(gpu, "thread.id"), kTid);
  builder_->shutdown();
  ASSERT_EQ(spans_.size(), 3u);
  EXPECT_EQ(spans_[2].name, "cuda work");
  EXPECT_EQ(api.parent_span_id, spans_[2].span_id);
  EXPECT_EQ(spans_[2].end_unix_ns, unix(kT0 + 60'000));  // the group covers the GPU work too
}

TEST_F(CudaSpansTest, CuptiActivityBeforeApiRecord) {
  start_cupti();
  cupti(memcpy_record(9, kT0 + 2'000, kT0 + 6'000, 4'000'000));
  EXPECT_TRUE(spans_.empty());
  cupti(api_record(9, ZT_CUDA_MEMCPY_ASYNC, kT0, kT0 + 1'000));
  ASSERT_EQ(spans_.size(), 2u);
  EXPECT_EQ(spans_[1].name, "cudaMemcpyAsync HtoD");
  EXPECT_EQ(ival(spans_[1], "cuda.memcpy.bytes"), 4'000'000);
  EXPECT_TRUE(attr<bool>(spans_[1], "cuda.memcpy.async"));
  const Span& gpu = spans_[0];
  EXPECT_EQ(gpu.name, "gpu memcpy HtoD");
  EXPECT_EQ(gpu.parent_span_id, spans_[1].span_id);
  EXPECT_EQ(sval(gpu, "cuda.memcpy.src_memory"), "pinned");
  EXPECT_EQ(sval(gpu, "cuda.memcpy.dst_memory"), "device");
  EXPECT_DOUBLE_EQ(attr<double>(gpu, "cuda.memcpy.bandwidth_bytes_per_s"), 1e12);
  EXPECT_EQ(builder_->stats().cupti_memcpy, 1u);
}

TEST_F(CudaSpansTest, CuptiWaitTimesOutWithoutActivity) {
  start_cupti();
  cupti(api_record(3, ZT_CUDA_MEMCPY, kT0, kT0 + 1'000));
  builder_->tick(kT0 + kSec);
  EXPECT_TRUE(spans_.empty());
  builder_->tick(kT0 + 1'000 + 2 * kSec);
  ASSERT_EQ(spans_.size(), 1u);
  EXPECT_EQ(spans_[0].name, "cudaMemcpy");
  EXPECT_EQ(builder_->stats().waits_timed_out, 1u);
}

TEST_F(CudaSpansTest, CuptiReleasesEachThreadInCallOrder) {
  start_cupti();
  cupti(api_record(1, ZT_CUDA_LAUNCH_KERNEL, kT0, kT0 + 1'000));
  cupti(api_record(2, ZT_CUDA_DEVICE_SYNCHRONIZE, kT0 + 2'000, kT0 + 90'000));
  cupti(api_record(3, ZT_CUDA_MALLOC, kT0 + 100'000, kT0 + 101'000, 2));  // fails: no GPU wait
  EXPECT_TRUE(spans_.empty());  // behind the launch
  cupti(api_record(50, ZT_CUDA_MALLOC, kT0, kT0 + 1'000, 0, kTid + 1));  // another thread is not held
  EXPECT_EQ(spans_.size(), 1u);
  cupti(kernel_record(1, kT0 + 5'000, kT0 + 80'000));
  ASSERT_EQ(spans_.size(), 5u);
  EXPECT_EQ(spans_[1].name, "gpu demo::scale<float>");
  EXPECT_EQ(spans_[2].name, "cudaLaunchKernel demo::scale<float>");
  EXPECT_EQ(spans_[3].name, "cudaDeviceSynchronize");
  EXPECT_EQ(spans_[4].name, "cudaMalloc");
  EXPECT_EQ(spans_[4].status_message, "cudaErrorMemoryAllocation");
}

TEST_F(CudaSpansTest, UprobeCallsIgnoredOnceCuptiStarted) {
  builder_->on_call(call_event(ZT_CUDA_MALLOC, kT0, kT0 + 100));
  cupti(status_record(ZT_CUPTI_STATUS_OTHER_SUBSCRIBER));
  builder_->on_call(call_event(ZT_CUDA_MALLOC, kT0 + 200, kT0 + 300));
  EXPECT_EQ(spans_.size(), 2u);
  start_cupti();
  builder_->on_call(call_event(ZT_CUDA_MALLOC, kT0 + 400, kT0 + 500));
  builder_->on_call(call_event(ZT_CUDA_MALLOC, kT0 + 400, kT0 + 500, 0, 7, 200));  // another process
  EXPECT_EQ(spans_.size(), 3u);
  EXPECT_EQ(builder_->stats().uprobe_ignored_cupti, 1u);
  EXPECT_EQ(builder_->stats().cupti_status, 2u);
}

TEST_F(CudaSpansTest, OrphanGpuRecordsGoUnderProcessGroup) {
  start_cupti();
  cupti(kernel_record(77, kT0 + 1'000, kT0 + 9'000));
  cupti(memcpy_record(78, kT0 + 10'000, kT0 + 12'000, 64));
  builder_->tick(kT0 + 2 * kSec + 20'000);
  ASSERT_EQ(spans_.size(), 2u);
  EXPECT_EQ(builder_->stats().orphan_gpu_records, 2u);
  EXPECT_EQ(spans_[0].name, "gpu demo::scale<float>");
  EXPECT_EQ(spans_[0].find_attribute("thread.id"), nullptr);
  EXPECT_EQ(spans_[0].find_attribute("cuda.gpu.queue_delay_ns"), nullptr);
  builder_->shutdown();
  ASSERT_EQ(spans_.size(), 3u);
  const Span g = spans_[2];  // a copy: spans_ grows below
  EXPECT_EQ(g.name, "cuda gpu work");
  EXPECT_TRUE(g.is_root());
  EXPECT_EQ(ival(g, "cuda.group.calls"), 2);
  EXPECT_EQ(g.start_unix_ns, unix(kT0 + 1'000));
  EXPECT_EQ(g.end_unix_ns, unix(kT0 + 12'000));
  EXPECT_EQ(spans_[0].parent_span_id, g.span_id);
  EXPECT_EQ(spans_[1].parent_span_id, g.span_id);
}

TEST_F(CudaSpansTest, CuptiLaunchesFoldWithGpuBusyTime) {
  CudaSpanOptions o;
  o.fold_above_per_second = 0;
  make(o);
  start_cupti();
  for (std::uint32_t i = 1; i <= 50; ++i) {
    const std::uint64_t t = kT0 + i * 10'000;
    cupti(api_record(i, ZT_CUDA_LAUNCH_KERNEL, t, t + 1'000));
    cupti(kernel_record(i, t + 2'000, t + 6'000));
  }
  cupti(api_record(51, ZT_CUDA_LAUNCH_KERNEL, kT0 + 600'000, kT0 + 601'000));
  cupti(kernel_record(51, kT0 + 602'000, kT0 + 603'000, "_Z6vecAddPKfS0_Pfi"));
  builder_->shutdown();
  ASSERT_EQ(spans_.size(), 5u);  // folded GPU + API, vecAdd GPU + API, group
  EXPECT_EQ(spans_[0].name, "gpu demo::scale<float>");
  EXPECT_EQ(ival(spans_[0], "cuda.launch.count"), 50);
  EXPECT_EQ(ival(spans_[0], "cuda.gpu.busy_ns"), 50 * 4'000);
  EXPECT_EQ(spans_[0].start_unix_ns, unix(kT0 + 12'000));
  EXPECT_EQ(spans_[0].end_unix_ns, unix(kT0 + 500'000 + 6'000));
  EXPECT_EQ(spans_[1].name, "cudaLaunchKernel demo::scale<float>");
  EXPECT_EQ(ival(spans_[1], "cuda.launch.count"), 50);
  EXPECT_EQ(spans_[0].parent_span_id, spans_[1].span_id);
  EXPECT_EQ(spans_[3].name, "cudaLaunchKernel vecAdd");
  EXPECT_EQ(ival(spans_[4], "cuda.group.calls"), 51);
}

TEST_F(CudaSpansTest, CuptiProcessExitEmitsWaitingCallsAndOrphans) {
  start_cupti();
  start_cupti(200);
  cupti(api_record(1, ZT_CUDA_LAUNCH_KERNEL, kT0, kT0 + 1'000));
  cupti(api_record(2, ZT_CUDA_MALLOC, kT0 + 2'000, kT0 + 3'000));
  cupti(kernel_record(9, kT0 + 5'000, kT0 + 6'000));
  cupti(api_record(1, ZT_CUDA_MALLOC, kT0, kT0 + 1'000, 0, 7), 200);
  builder_->on_process_exit(kPid);
  // launch (no GPU record), malloc, their group; the orphan and its group; pid 200 untouched.
  ASSERT_EQ(spans_.size(), 6u);
  EXPECT_EQ(spans_[0].name, "cudaMalloc");  // pid 200's, not held
  EXPECT_EQ(spans_[1].name, "cudaLaunchKernel");
  EXPECT_EQ(spans_[2].name, "cudaMalloc");
  EXPECT_EQ(named("cuda work").size(), 1u);
  EXPECT_EQ(named("cuda gpu work").size(), 1u);
  EXPECT_EQ(builder_->stats().waits_timed_out, 0u);
  EXPECT_EQ(builder_->stats().orphan_gpu_records, 1u);
  builder_->shutdown();
  EXPECT_EQ(named("cuda work").size(), 2u);
}

TEST_F(CudaSpansTest, CuptiDuplicateApiRecordFlushesTheFirst) {
  start_cupti();
  cupti(api_record(4, ZT_CUDA_MEMCPY, kT0, kT0 + 1'000));
  cupti(api_record(4, ZT_CUDA_MEMCPY, kT0 + 2'000, kT0 + 3'000));
  cupti(memcpy_record(4, kT0 + 2'500, kT0 + 2'900, 16));
  ASSERT_EQ(spans_.size(), 3u);
  EXPECT_EQ(spans_[0].name, "cudaMemcpy");  // the first, without GPU work
  EXPECT_EQ(spans_[2].name, "cudaMemcpy HtoD");
  EXPECT_EQ(spans_[1].parent_span_id, spans_[2].span_id);
  EXPECT_EQ(builder_->stats().cupti_duplicates, 1u);
}

TEST_F(CudaSpansTest, CuptiErrorStatusKeepsUprobesAndSyncRecordsAreCounted) {
  cupti(status_record(ZT_CUPTI_STATUS_ERROR, 17));
  builder_->on_call(call_event(ZT_CUDA_MALLOC, kT0, kT0 + 100));
  zt_cupti_sync_record sync{};
  sync.h.type = ZT_CUPTI_REC_SYNC;
  sync.h.correlation_id = 3;
  cupti(record(sync));
  zt_cupti_record_header odd{};
  odd.type = 99;
  odd.size = 8;
  builder_->on_cupti_record(kPid, odd);
  EXPECT_EQ(spans_.size(), 1u);
  EXPECT_EQ(builder_->stats().cupti_sync, 1u);
  EXPECT_EQ(builder_->stats().cupti_unknown, 1u);
  EXPECT_EQ(builder_->stats().uprobe_ignored_cupti, 0u);
}

// --- bounds --------------------------------------------------------------------------------------

TEST_F(CudaSpansTest, PendingTableBoundFlushesOldestAndCounts) {
  CudaSpanOptions o;
  o.max_pending = 4;
  make(o);
  start_cupti();
  for (std::uint32_t i = 1; i <= 10; ++i) cupti(kernel_record(i, kT0 + i * 1'000, kT0 + i * 1'000 + 500));
  EXPECT_EQ(builder_->stats().evictions, 6u);
  EXPECT_EQ(spans_.size(), 6u);  // emitted early as orphans, not dropped
  builder_->shutdown();
  EXPECT_EQ(builder_->stats().orphan_gpu_records, 10u);
  EXPECT_EQ(named("cuda gpu work").size(), 1u);
}

TEST_F(CudaSpansTest, ThreadTableBoundFlushesLeastRecentThread) {
  CudaSpanOptions o;
  o.max_pending = 4;
  make(o);
  for (std::uint32_t tid = 1; tid <= 10; ++tid) {
    builder_->tick(kT0 + tid * kMs);
    builder_->on_call(call_event(ZT_CUDA_MALLOC, kT0 + tid * kMs, kT0 + tid * kMs + 100, 0, tid));
  }
  EXPECT_EQ(builder_->stats().evictions, 6u);
  EXPECT_EQ(named("cuda work").size(), 6u);
  builder_->shutdown();
  EXPECT_EQ(named("cuda work").size(), 10u);
  EXPECT_EQ(named("cudaMalloc").size(), 10u);
}

}  // namespace
}  // namespace zt::cuda
