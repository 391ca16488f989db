// The CUDA source: everything the agent does for CUDA, behind one object the wiring plugs in.
// It probes the CUDA libraries of traced processes (CudaProbes), names kernels, validates the
// CUPTI batches that injection libraries hand over (untrusted bytes from inside a traced process)
// and turns calls and GPU records into spans nested under the request their thread was serving.
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

  CudaSource(CudaSourceOptions options, CudaProbes::Attach attach, ResourceLookup resources, ParentLookup parents,
             const MonotonicToRealtime* clock, SpanSink sink);

  // exec mode: environment for the command (CUDA_INJECTION64_PATH, unless the user set one).
  std::vector<std::pair<std::string, std::string>> child_environment() const;

  // Process lifecycle (only for traced processes, except on_exit).
  void on_traced(std::uint32_t pid, std::uint64_t now_ns);
  void on_untraced(std::uint32_t pid);
  void on_fork(std::uint32_t pid, std::uint64_t now_ns);
  void on_exec(std::uint32_t pid, std::uint64_t now_ns);
  void on_exec_mapping(std::uint32_t pid, std::uint64_t now_ns);
  void on_exit(std::uint32_t pid);

  // Records: false when the record is malformed (the caller counts it).
  bool on_call(const zt_cuda_call_event& ev);
  bool on_symbol(const zt_cuda_symbol_event& ev);
  bool on_cupti_batch(const void* data, std::size_t size);

  void tick(std::uint64_t now_ns);
  void shutdown();
  void report(StatsSnapshot& out) const;

  CudaProbes& probes() { return *probes_; }

 private:
  CudaSourceOptions options_;
  std::unique_ptr<CudaProbes> probes_;
  std::unique_ptr<CudaSpanBuilder> spans_;
  struct CuptiStats {
    std::uint64_t batches = 0;
    std::uint64_t malformed = 0;
    std::uint64_t truncated = 0;
    std::uint64_t records = 0;
  } cupti_;
};

// The CUPTI injection library: $ZEROTRACE_CUPTI_LIBRARY, else beside the zerotrace binary (build
// tree: agent/cuda/injection/; installed: ../lib/zerotrace/). Empty when none is found.
std::string find_cupti_library();

}  // namespace zt::cuda
