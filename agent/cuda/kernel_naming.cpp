#include "cuda/kernel_naming.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include <spdlog/spdlog.h>

#include "symbols/demangle.h"

namespace zt::cuda {
namespace {

// Reads 8 bytes of process memory (root: /proc/PID/mem).
std::optional<std::uint64_t> read_u64(const std::string& mem_path, std::uint64_t addr) {
  const int fd = ::open(mem_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::uint64_t v = 0;
  const ssize_t n = ::pread(fd, &v, sizeof v, static_cast<off_t>(addr));
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof v)) return std::nullopt;
  return v;
}

bool is_stub(const std::string& name) {
  return name.starts_with("_Z") && name.find("__device_stub__") != std::string::npos;
}

// The address of the kernel's host function (the function `<<<>>>` names, whose symbol is the
// kernel's mangled name) in `module`, for the stub symbol `stub_symbol`.
std::optional<std::uint64_t> host_of_stub(const symbols::ElfFile& elf, std::uint64_t bias,
                                          std::string_view stub_symbol) {
  const auto kernel = kernel_of_stub(stub_symbol);
  if (!kernel) return std::nullopt;
  for (const auto& sym : elf.find_all(*kernel)) {
    if (sym.type == symbols::Symbol::Func && sym.address != 0) return sym.address + bias;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> kernel_of_stub(std::string_view symbol) {
  static constexpr std::string_view kStub = "__device_stub__";
  const auto at = symbol.find(kStub);
  if (at == std::string_view::npos) return std::nullopt;
  // The identifier's length, in decimal, right before it.
  std::size_t digits = at;
  while (digits > 0 && symbol[digits - 1] >= '0' && symbol[digits - 1] <= '9') --digits;
  if (digits == at || at - digits > 5) return std::nullopt;
  std::size_t length = 0;
  for (std::size_t i = digits; i < at; ++i) length = length * 10 + static_cast<std::size_t>(symbol[i] - '0');
  if (length <= kStub.size() || at + length > symbol.size()) return std::nullopt;
  const std::string_view encoded = symbol.substr(at + kStub.size(), length - kStub.size());
  // The kernel's own mangled name without its leading underscore: "Z6vecAddPf", "ZN4demo5...".
  if (!encoded.starts_with("Z") || encoded.size() < 3) return std::nullopt;
  return "_" + std::string(encoded);
}

KernelNaming::KernelNaming(symbols::SymbolCache& cache, std::string proc_root)
    : cache_(cache), proc_root_(std::move(proc_root)) {}

KernelNaming::Process& KernelNaming::process(std::uint32_t pid) {
  return processes_.try_emplace(pid, pid, cache_, proc_root_).first->second;
}

void KernelNaming::on_symbol(const zt_cuda_symbol_event& ev) {
  if (ev.result != 0 || ev.handle == 0) return;
  Process& p = process(ev.hdr.pid);
  if (ev.api == ZT_CUDA_GET_KERNEL) {
    p.kernel_host[ev.handle] = ev.host_function;
  } else {
    const std::size_t len = strnlen(ev.name, sizeof ev.name);
    if (len == 0) return;
    p.handle_names[ev.handle] = std::string(ev.name, len);
  }
  p.resolved.erase(ev.handle);
  ++stats_.names_learned;
}

std::optional<std::string> KernelNaming::name_at(Process& p, std::uint64_t addr) {
  auto sym = p.symbols.resolve(addr);
  if (!sym || sym->offset != 0) return std::nullopt;
  return sym->symbol;
}

// CUDA 13 stubs keep, per kernel, the kernel handle in a static variable of the stub
// (`_ZZ<stub>E8__handle`). A process probed after its first launch of a kernel has already made
// the __cudaGetKernel call that names the handle; reading the variable, and naming the kernel from
// the stub's own name, names it anyway. (The stub's `__f`, the host function, exists only in
// unoptimised builds: used when there, never needed.)
void KernelNaming::read_stub_handles(Process& p, std::uint32_t pid) {
  p.stubs_read = true;
  const std::string mem = fmt::format("{}/{}/mem", proc_root_, pid);
  for (const auto& module : p.symbols.modules()) {
    for (const auto& sym : module.elf->symbols()) {
      static constexpr std::string_view kHandle = "E8__handle";
      if (!sym.name.starts_with("_ZZ") || !sym.name.ends_with(kHandle) ||
          sym.name.find("__device_stub__") == std::string::npos) {
        continue;
      }
      const auto handle = read_u64(mem, sym.address + module.bias);
      if (!handle || *handle == 0) continue;
      // The host function from the stub's name (GPU review, finding 2: optimised builds have no
      // `__f`); `__f` where an unoptimised build kept it.
      std::optional<std::uint64_t> host = host_of_stub(*module.elf, module.bias, sym.name);
      if (!host) {
        const std::string f_name = sym.name.substr(0, sym.name.size() - kHandle.size()) + "E3__f";
        const auto f_sym = module.elf->find_all(f_name);
        if (!f_sym.empty()) host = read_u64(mem, f_sym.front().address + module.bias);
      }
      if (!host || *host == 0) continue;
      if (p.kernel_host.emplace(*handle, *host).second) ++stats_.names_from_memory;
    }
  }
}

// The stub nvcc generates for kernel K (`__device_stub__<K...>`) stores K's host function in its
// static `__f` (`_ZZ<stub>E3__f`, with the stub's `_Z` prefix) before it launches; the stub's
// return address is among the first words of the stack at __cudaLaunchKernel's entry (directly,
// or one frame up through the shared __cudaLaunchKernel_helper).
std::optional<std::uint64_t> KernelNaming::host_function(const zt_cuda_call_event& ev) {
  const std::uint32_t pid = ev.hdr.pid;
  Process& p = process(pid);
  if (ev.function != 0) {
    if (auto h = p.kernel_host.find(ev.function); h != p.kernel_host.end()) return h->second;
    if (!p.stubs_read) {
      read_stub_handles(p, pid);
      if (auto h = p.kernel_host.find(ev.function); h != p.kernel_host.end()) return h->second;
    }
  }
  for (std::size_t i = 0; i < ZT_CUDA_STACK_WORDS; ++i) {
    const std::uint64_t word = ev.stack[i];
    if (word < 4096) continue;
    // Stack words are mostly data: one outside every known mapping is no reason to re-read them.
    const auto sym = p.symbols.resolve(word, false);
    if (!sym || !is_stub(sym->symbol)) continue;
    const std::uint64_t stub = word - sym->offset;
    if (auto known = p.stub_host.find(stub); known != p.stub_host.end()) {
      ++stats_.names_from_stack;
      return known->second;
    }
    // The host function from the stub's name, no memory read (GPU review, finding 2); `__f` where
    // an unoptimised build kept it.
    std::optional<std::uint64_t> host = host_of_stub(*sym->elf, sym->bias, sym->symbol);
    if (!host) {
      const auto f = sym->elf->find_all("_ZZ" + sym->symbol.substr(2) + "E3__f");
      if (f.empty()) continue;
      host = read_u64(fmt::format("{}/{}/mem", proc_root_, pid), f.front().address + sym->bias);
    }
    if (!host || *host == 0) continue;
    p.stub_host[stub] = *host;
    if (ev.function != 0) p.kernel_host[ev.function] = *host;
    ++stats_.names_from_stack;
    return *host;
  }
  return std::nullopt;
}

std::optional<KernelName> KernelNaming::kernel_name(std::uint32_t pid, std::uint32_t api, std::uint64_t function) {
  if (function == 0) return std::nullopt;
  Process& p = process(pid);
  if (auto hit = p.resolved.find(function); hit != p.resolved.end()) return hit->second;

  std::optional<std::string> mangled;
  switch (api) {
    case ZT_CUDA_LAUNCH_KERNEL:
    case ZT_CUDA_LAUNCH_KERNEL_EXC:
      mangled = name_at(p, function);
      // cudaLaunchKernel also takes a cudaKernel_t (what __cudaGetKernel returned).
      if (!mangled) {
        if (auto host = p.kernel_host.find(function); host != p.kernel_host.end()) mangled = name_at(p, host->second);
      }
      break;
    case ZT_CUDA_LAUNCH_KERNEL_HANDLE: {
      auto host = p.kernel_host.find(function);
      if (host == p.kernel_host.end() && !p.stubs_read) {
        read_stub_handles(p, pid);
        host = p.kernel_host.find(function);
      }
      if (host != p.kernel_host.end()) mangled = name_at(p, host->second);
      break;
    }
    case ZT_CU_LAUNCH_KERNEL:
    case ZT_CU_LAUNCH_KERNEL_EX:
      if (auto n = p.handle_names.find(function); n != p.handle_names.end()) mangled = n->second;
      break;
    default:
      break;
  }
  std::optional<KernelName> out;
  if (mangled) {
    out = KernelName{*mangled, symbols::demangle(*mangled)};
  } else {
    ++stats_.names_unknown;
  }
  // Unknown names are cached too (a handle named later clears its entry in on_symbol), bounded.
  if (p.resolved.size() >= 65536) p.resolved.clear();
  p.resolved.emplace(function, out);
  return out;
}

}  // namespace zt::cuda
