// Finding CUDA in traced processes: which mapped files carry the runtime (libcudart, or cudart
// linked statically into an executable or a library such as libtorch_cuda.so), the driver
// (libcuda) or the CUPTI injection library, probing their functions per process, and naming the
// kernels that launches refer to.
//
// A process is scanned when it becomes traced, after exec and fork, and shortly after it maps a
// file executable (dlopen): files seen before in that process are skipped, new ones are parsed once
// for all processes (symbols::SymbolCache) and their functions probed for that process only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/result.h"
#include "cuda/cuda_spans.h"
#include "symbols/elf_file.h"
#include "symbols/proc_maps.h"
#include "symbols/symbol_cache.h"
#include "zerotrace/cuda_abi.h"

namespace zt::cuda {

// A function to probe.
struct ProbeSite {
  std::string path;      // the file for the kernel: /proc/PID/root/<module>, or a map_files link
  std::string module;    // the file as the process names it
  std::uint64_t offset = 0;  // file offset of the function's first instruction
  std::uint32_t api = 0;     // enum zt_cuda_api
  std::string symbol;        // the symbol found ("cudaLaunchKernel", "__cudaLaunchKernel_ptsz", ...)
};

// The probed functions `elf` defines (every variant of every API of cuda_api.h), with their file
// offsets. IFUNCs are left out (their address is a resolver's); aliases of one address once.
std::vector<ProbeSite> find_probe_sites(const symbols::ElfFile& elf);

struct CudaProbeStats {
  std::uint64_t scans = 0;             // process mapping scans
  std::uint64_t files_examined = 0;    // new (process, file) pairs looked at
  std::uint64_t files_unreadable = 0;  // could not be opened or parsed (counted, skipped)
  std::uint64_t carriers = 0;          // (process, file) pairs with CUDA functions
  std::uint64_t probes_attached = 0;
  std::uint64_t probes_failed = 0;
  std::uint64_t names_learned = 0;     // kernel handles named by a naming call
  std::uint64_t names_from_memory = 0; // ... read from the stubs' static variables
  std::uint64_t names_unknown = 0;     // launches whose kernel could not be named
  std::uint64_t names_from_stack = 0;  // handle launches named through the launching stub
};

class CudaProbes {
 public:
  // Attaches one site for one process; the handle detaches when released.
  using Attach = std::function<Result<std::shared_ptr<void>>(std::uint32_t pid, const ProbeSite& site)>;

  explicit CudaProbes(Attach attach, std::string proc_root = "/proc", std::size_t file_cache = 64);

  // Scan `pid` at `due_ns` (or at the next tick after it); repeated requests merge.
  void request_scan(std::uint32_t pid, std::uint64_t due_ns);
  // Scans what is due.
  void tick(std::uint64_t now_ns);
  // Scans `pid` now; returns the number of probes attached by this scan.
  std::size_t scan(std::uint32_t pid);
  // A new program image (exec): the old probes and names are gone with the old image.
  void on_exec(std::uint32_t pid, std::uint64_t now_ns);
  // The process exited: detach its probes, forget its names.
  void forget(std::uint32_t pid);

  // ZT_EV_CUDA_SYMBOL: a naming call's result.
  void on_symbol(const zt_cuda_symbol_event& ev);
  // The kernel a launch refers to: `function` is a host function (cudaLaunchKernel), a cudaKernel_t
  // (__cudaLaunchKernel) or a CUfunction (cuLaunchKernel), per `api`.
  std::optional<KernelName> kernel_name(std::uint32_t pid, std::uint32_t api, std::uint64_t function);
  // A __cudaLaunchKernel call (a kernel handle) as a launch of a host function, when the handle is
  // known or the launching stub is found on the stack; the host function names the kernel.
  std::optional<std::uint64_t> host_function(const zt_cuda_call_event& ev);

  // Processes with at least one CUDA probe.
  std::size_t probed_processes() const;
  const CudaProbeStats& stats() const { return stats_; }

 private:
  struct FileId {
    std::uint64_t dev = 0;
    std::uint64_t inode = 0;
    auto operator<=>(const FileId&) const = default;
  };
  struct Module {
    symbols::Mapping mapping;  // its first executable mapping
    std::shared_ptr<const symbols::ElfFile> elf;
    std::uint64_t bias = 0;    // runtime address = ELF virtual address + bias
    bool has_bias = false;
  };
  struct Process {
    std::set<FileId> seen;
    std::vector<std::shared_ptr<void>> links;
    std::vector<symbols::Mapping> maps;          // last read
    std::map<FileId, Module> modules;            // ELF files examined in this process
    std::unordered_map<std::uint64_t, std::uint64_t> kernel_host;  // cudaKernel_t -> host function
    std::unordered_map<std::uint64_t, std::string> handle_names;   // CUfunction / CUkernel -> name
    std::unordered_map<std::uint64_t, std::optional<KernelName>> resolved;  // (api-specific) cache
    bool stubs_read = false;  // the stubs' handle variables were read from memory
    std::unordered_map<std::uint64_t, std::uint64_t> stub_host;  // stub address -> host function
  };

  std::optional<std::string> name_at(Process& p, std::uint32_t pid, std::uint64_t addr);
  // The module and symbol containing `addr` (not necessarily at its start).
  std::pair<const Module*, const symbols::Symbol*> containing(Process& p, std::uint64_t addr) const;
  void read_stub_handles(Process& p, std::uint32_t pid);
  std::string elf_path(std::uint32_t pid, const symbols::Mapping& m) const;

  Attach attach_;
  std::string proc_root_;
  symbols::SymbolCache cache_;
  std::map<std::uint32_t, Process> processes_;
  std::map<std::uint32_t, std::uint64_t> due_;  // pid -> when to scan
  CudaProbeStats stats_;
};

}  // namespace zt::cuda
