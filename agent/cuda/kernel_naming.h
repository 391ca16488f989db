// The kernels CUDA launches refer to, by name: launches carry a host function (cudaLaunchKernel),
// a cudaKernel_t (__cudaLaunchKernel) or a CUfunction (cuLaunchKernel). Host functions are named
// through the process's symbols (symbols::ProcessSymbolizer); handles through the naming calls
// the probes report (ZT_EV_CUDA_SYMBOL), the stubs' static variables, or the launching stub on the
// stack. Single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cuda/cuda_spans.h"
#include "symbols/process_symbols.h"
#include "symbols/symbol_cache.h"
#include "zerotrace/cuda_abi.h"

namespace zt::cuda {

struct KernelNamingStats {
  std::uint64_t names_learned = 0;      // kernel handles named by a naming call
  std::uint64_t names_from_memory = 0;  // ... read from the stubs' static variables
  std::uint64_t names_unknown = 0;      // launches whose kernel could not be named
  std::uint64_t names_from_stack = 0;   // handle launches named through the launching stub
};

// The kernel's mangled name from the name of its nvcc stub or of one of the stub's statics:
// `_Z32__device_stub__Z6vecAddPKfS0_PfiPKfS0_Pfi` (and `.cold` clones, `_ZL...` internal stubs,
// `_ZZ...E8__handle`) -> `_Z6vecAddPKfS0_Pfi`: the stub's identifier is `__device_stub__` followed
// by the kernel's mangled name without its first underscore, and its length is written before it.
std::optional<std::string> kernel_of_stub(std::string_view symbol);

class KernelNaming {
 public:
  // `cache` is shared with the uprobe attacher (the same files, parsed once); it outlives this.
  explicit KernelNaming(symbols::SymbolCache& cache, std::string proc_root = "/proc");

  // ZT_EV_CUDA_SYMBOL: a naming call's result.
  void on_symbol(const zt_cuda_symbol_event& ev);
  // The kernel a launch refers to: `function` is a host function (cudaLaunchKernel), a cudaKernel_t
  // (__cudaLaunchKernel) or a CUfunction (cuLaunchKernel), per `api`.
  std::optional<KernelName> kernel_name(std::uint32_t pid, std::uint32_t api, std::uint64_t function);
  // A __cudaLaunchKernel call (a kernel handle) as a launch of a host function, when the handle is
  // known or the launching stub is found on the stack; the host function names the kernel.
  std::optional<std::uint64_t> host_function(const zt_cuda_call_event& ev);

  // The maps of `pid`, read by the uprobe attacher's scan (UprobeAttacherOptions::on_maps): its
  // files are known from then on, after the process exits too.
  void on_maps(std::uint32_t pid, const std::vector<symbols::Mapping>& maps) { process(pid).symbols.load(maps); }
  // A new program image, or the process exited: its names are gone.
  void on_exec(std::uint32_t pid) { processes_.erase(pid); }
  void on_exit(std::uint32_t pid) { processes_.erase(pid); }

  const KernelNamingStats& stats() const { return stats_; }

 private:
  struct Process {
    Process(std::uint32_t pid, symbols::SymbolCache& cache, const std::string& proc_root)
        : symbols(pid, cache, proc_root) {}
    symbols::ProcessSymbolizer symbols;
    std::unordered_map<std::uint64_t, std::uint64_t> kernel_host;           // cudaKernel_t -> host function
    std::unordered_map<std::uint64_t, std::string> handle_names;            // CUfunction / CUkernel -> name
    std::unordered_map<std::uint64_t, std::optional<KernelName>> resolved;  // (api-specific) cache
    bool stubs_read = false;                                     // the stubs' handle variables were read from memory
    std::unordered_map<std::uint64_t, std::uint64_t> stub_host;  // stub address -> host function
  };

  Process& process(std::uint32_t pid);
  // The symbol starting exactly at `addr`.
  std::optional<std::string> name_at(Process& p, std::uint64_t addr);
  void read_stub_handles(Process& p, std::uint32_t pid);

  symbols::SymbolCache& cache_;
  std::string proc_root_;
  std::map<std::uint32_t, Process> processes_;
  KernelNamingStats stats_;
};

}  // namespace zt::cuda
