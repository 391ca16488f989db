// What the CUPTI injection library spends per record on its own side of a CUDA call: the API
// callback's lock + BatchWriter append, with the batch delivered (an empty noinline call, as
// zerotrace_cupti_deliver is without a uprobe) whenever it fills; and what parse_batch costs the
// agent per record. Numbers in docs/gpu-cupti-notes.md.
//   cmake --build build --target zt_cupti_bench && ./build/bench/zt_cupti_bench
#include <benchmark/benchmark.h>

#include <mutex>
#include <string>

#include "cuda/cupti_wire.h"

namespace {

using zt::cuda::BatchWriter;

extern "C" __attribute__((noipa)) void bench_deliver(const void* batch, std::uint32_t bytes) {
  asm volatile("" : : "r"(batch), "r"(bytes) : "memory");
}

std::mutex g_mutex;
BatchWriter g_writer;
std::uint64_t g_sequence = 0;

template <typename Add>
void add_or_deliver(Add&& add) {
  std::lock_guard lock(g_mutex);
  if (!add(g_writer)) {
    const auto b = g_writer.finish(g_sequence++, 0);
    bench_deliver(b.data(), static_cast<std::uint32_t>(b.size()));
    g_writer.reset();
    add(g_writer);
  }
}

void BM_ApiRecord(benchmark::State& state) {
  zt_cupti_api_record r{};
  r.api = ZT_CUDA_LAUNCH_KERNEL;
  for (auto _ : state) {
    ++r.h.correlation_id;
    add_or_deliver([&](BatchWriter& w) { return w.add_api(r); });
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ApiRecord);

void BM_KernelRecord(benchmark::State& state) {
  zt_cupti_kernel_record r{};
  const std::string name = "_ZN2at6native29vectorized_elementwise_kernelILi4E";  // 52 bytes
  for (auto _ : state) {
    ++r.h.correlation_id;
    add_or_deliver([&](BatchWriter& w) { return w.add_kernel(r, name); });
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KernelRecord);

void BM_ParseFullBatchOfApiRecords(benchmark::State& state) {
  BatchWriter w;
  zt_cupti_api_record r{};
  while (w.add_api(r)) {
  }
  const auto batch = w.finish(0, 0);
  for (auto _ : state) {
    const auto view = zt::cuda::parse_batch(batch.data(), batch.size());
    std::uint64_t sum = 0;
    view->for_each([&](const zt_cupti_record_header& h, std::span<const std::byte> rec) {
      sum += h.size + zt::cuda::record_as<zt_cupti_api_record>(rec).start_ns;
    });
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * w.records());
}
BENCHMARK(BM_ParseFullBatchOfApiRecords);

}  // namespace

BENCHMARK_MAIN();
