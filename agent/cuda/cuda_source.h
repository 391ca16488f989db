// The CUDA source: everything the agent does for CUDA, behind one object the wiring plugs in.
// Its probes are a family (probe_family(), attached by the generic probes::UprobeAttacher); it
// names kernels (KernelNaming), validates the CUPTI batches that injection libraries hand over
// (untrusted bytes from inside a traced process) and turns calls and GPU records into spans nested
// under the request their thread was serving.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "core/stats.h"
#include "cuda/cuda_probes.h"
#include "cuda/cuda_spans.h"
#include "cuda/kernel_naming.h"
#include "symbols/proc_maps.h"
#include "symbols/symbol_cache.h"
#include "trace/span.h"

namespace zt::cuda {

struct CudaSourceOptions {
  CudaSpanOptions spans;
  bool cupti = true;  // exec mode: load the CUPTI injection library into the command
  std::string proc_root = "/proc";
};

class CudaSource {
 public:
  using ResourceLookup = CudaSpanBuilder::ResourceLookup;
  using ParentLookup = CudaSpanBuilder::ParentLookup;
  using SpanSink = CudaSpanBuilder::SpanSink;

  // `cache` is the uprobe attacher's (the same files, parsed once); it outlives this.
  CudaSource(CudaSourceOptions options, symbols::SymbolCache& cache, ResourceLookup resources, ParentLookup parents,
             const MonotonicToRealtime* clock, SpanSink sink);

  // exec mode: environment for the command (CUDA_INJECTION64_PATH, unless the user set one).
  std::vector<std::pair<std::string, std::string>> child_environment() const;

  // The maps the uprobe attacher read for `pid`: kernels are named from these files after the
  // process has exited too.
  void on_maps(std::uint32_t pid, const std::vector<symbols::Mapping>& maps) { naming_.on_maps(pid, maps); }
  // A new program image: the old one's names are gone.
  void on_exec(std::uint32_t pid) { naming_.on_exec(pid); }
  // Flushes the process's spans (before its resource is forgotten) and forgets its names.
  void on_exit(std::uint32_t pid);

  // Records: false when the record is malformed (the caller counts it).
  bool on_call(const zt_cuda_call_event& ev);
  bool on_symbol(const zt_cuda_symbol_event& ev);
  bool on_cupti_batch(const void* data, std::size_t size);

  void tick(std::uint64_t now_ns);
  void shutdown();
  void report(StatsSnapshot& out) const;

 private:
  CudaSourceOptions options_;
  KernelNaming naming_;
  std::unique_ptr<CudaSpanBuilder> spans_;
  struct CuptiStats {
    std::uint64_t batches = 0;
    std::uint64_t malformed = 0;
    std::uint64_t truncated = 0;
    std::uint64_t records = 0;
  } cupti_;
};

// The CUPTI injection library: $ZEROTRACE_CUPTI_INJECTION (refused, with a warning, when it does
// not export InitializeInjection: libcupti itself is $ZEROTRACE_CUPTI_LIBRARY, read by the
// injection library in the program), else beside the zerotrace binary (build tree:
// agent/cuda/injection/; installed: ../lib/zerotrace/). Empty when none is found.
std::string find_cupti_library();
// Whether `path` is an ELF file exporting InitializeInjection (what CUDA_INJECTION64_PATH needs).
bool is_injection_library(const std::string& path);

}  // namespace zt::cuda
