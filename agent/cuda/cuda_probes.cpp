#include "cuda/cuda_probes.h"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "cuda/cuda_api.h"
#include "symbols/demangle.h"

namespace zt::cuda {
namespace {

constexpr std::uint64_t kPage = 4096;

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// runtime address = ELF virtual address + bias, from the mapping of file offset `m.offset`: within
// a PT_LOAD segment, virtual address - file offset is constant.
std::optional<std::uint64_t> load_bias(const symbols::Mapping& m, const symbols::ElfFile& elf) {
  for (const auto& seg : elf.segments()) {
    const std::uint64_t first = seg.offset & ~(kPage - 1);
    if (m.offset < first || m.offset >= seg.offset + std::max<std::uint64_t>(seg.filesz, 1)) continue;
    const std::uint64_t vaddr_of_offset = m.offset + (seg.vaddr - seg.offset);
    return m.start - vaddr_of_offset;
  }
  return std::nullopt;
}

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

}  // namespace

std::vector<ProbeSite> find_probe_sites(const symbols::ElfFile& elf) {
  std::vector<ProbeSite> out;
  std::set<std::uint64_t> offsets;
  for (const auto& api : all_apis()) {
    for (auto name : api.symbols) {
      const auto sym = elf.find_function(name);
      if (!sym || sym->type != symbols::Symbol::Func) continue;
      const auto offset = elf.file_offset(*sym);
      if (!offset || !offsets.insert(*offset).second) continue;
      ProbeSite site;
      site.offset = *offset;
      site.api = static_cast<std::uint32_t>(api.api);
      site.symbol = std::string(name);
      out.push_back(std::move(site));
    }
  }
  return out;
}

CudaProbes::CudaProbes(Attach attach, std::string proc_root, std::size_t file_cache)
    : attach_(std::move(attach)), proc_root_(std::move(proc_root)), cache_(file_cache) {}

void CudaProbes::request_scan(std::uint32_t pid, std::uint64_t due_ns) {
  auto [it, fresh] = due_.emplace(pid, due_ns);
  if (!fresh) it->second = std::min(it->second, due_ns);
}

void CudaProbes::tick(std::uint64_t now_ns) {
  for (auto it = due_.begin(); it != due_.end();) {
    if (it->second > now_ns) {
      ++it;
      continue;
    }
    const std::uint32_t pid = it->first;
    it = due_.erase(it);
    scan(pid);
  }
}

std::string CudaProbes::elf_path(std::uint32_t pid, const symbols::Mapping& m) const {
  // A file deleted since it was mapped (a library upgraded under a running process) is still
  // reachable through the mapping itself.
  if (m.deleted) return fmt::format("{}/{}/map_files/{:x}-{:x}", proc_root_, pid, m.start, m.end);
  return symbols::path_in_process(pid, m.path, proc_root_);
}

std::size_t CudaProbes::scan(std::uint32_t pid) {
  auto maps = symbols::read_maps(pid, proc_root_);
  if (!maps) return 0;  // gone already
  ++stats_.scans;
  Process& p = processes_[pid];
  p.maps = std::move(maps.value());
  std::size_t attached = 0;
  for (const auto& m : symbols::executable_mappings(p.maps)) {
    const FileId id{makedev(m.dev_major, m.dev_minor), m.inode};
    if (!p.seen.insert(id).second) continue;
    ++stats_.files_examined;
    const std::string path = elf_path(pid, m);
    auto elf = cache_.get(path);
    if (!elf) {
      ++stats_.files_unreadable;
      spdlog::debug("pid {}: {} not examined for CUDA: {}", pid, m.path, elf.error().message);
      continue;
    }
    Module module{m, elf.value()};
    if (auto bias = load_bias(m, *module.elf)) {
      module.bias = *bias;
      module.has_bias = true;
    }
    p.modules.emplace(id, module);

    auto sites = find_probe_sites(*module.elf);
    if (sites.empty()) continue;
    ++stats_.carriers;
    std::size_t ok = 0;
    std::string first_error;
    for (auto& site : sites) {
      site.path = path;
      site.module = m.path;
      auto link = attach_(pid, site);
      if (link) {
        p.links.push_back(std::move(link.value()));
        ++ok;
      } else {
        if (first_error.empty()) first_error = link.error().message;
        ++stats_.probes_failed;
      }
    }
    stats_.probes_attached += ok;
    attached += ok;
    if (ok) spdlog::info("pid {}: probing {} CUDA functions in {}", pid, ok, m.path);
    if (ok < sites.size()) {
      spdlog::warn("pid {}: {} of {} CUDA probes in {} failed: {}", pid, sites.size() - ok, sites.size(), m.path,
                   first_error);
    }
  }
  return attached;
}

void CudaProbes::on_exec(std::uint32_t pid, std::uint64_t now_ns) {
  processes_.erase(pid);
  request_scan(pid, now_ns);
}

void CudaProbes::forget(std::uint32_t pid) {
  processes_.erase(pid);
  due_.erase(pid);
}

std::size_t CudaProbes::probed_processes() const {
  std::size_t n = 0;
  for (const auto& [pid, p] : processes_) n += p.links.empty() ? 0 : 1;
  return n;
}

void CudaProbes::on_symbol(const zt_cuda_symbol_event& ev) {
  if (ev.result != 0 || ev.handle == 0) return;
  Process& p = processes_[ev.hdr.pid];
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

std::optional<std::string> CudaProbes::name_at(Process& p, std::uint32_t pid, std::uint64_t addr) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (const auto& [id, module] : p.modules) {
      if (!module.has_bias || addr < module.bias) continue;
      const symbols::Symbol* sym = module.elf->symbol_at(addr - module.bias);
      if (sym && sym->address + module.bias == addr) return sym->name;
    }
    // Code loaded since the last scan: look again once.
    if (attempt == 0) scan(pid);
  }
  return std::nullopt;
}

// CUDA 13 stubs keep, per kernel, the host function (`__f`) and the kernel handle (`__handle`) in
// static variables of the stub (`_ZZ<stub>E3__f`, `_ZZ<stub>E8__handle`). A process probed after
// its first launch of a kernel has already made the __cudaGetKernel call that names the handle;
// reading the two variables names it anyway.
void CudaProbes::read_stub_handles(Process& p, std::uint32_t pid) {
  p.stubs_read = true;
  const std::string mem = fmt::format("{}/{}/mem", proc_root_, pid);
  for (const auto& [id, module] : p.modules) {
    if (!module.has_bias) continue;
    for (const auto& sym : module.elf->symbols()) {
      static constexpr std::string_view kHandle = "E8__handle";
      if (!starts_with(sym.name, "_ZZ") || !ends_with(sym.name, kHandle) ||
          sym.name.find("__device_stub__") == std::string::npos) {
        continue;
      }
      const std::string f_name = sym.name.substr(0, sym.name.size() - kHandle.size()) + "E3__f";
      const auto f_sym = module.elf->find_all(f_name);
      if (f_sym.empty()) continue;
      const auto handle = read_u64(mem, sym.address + module.bias);
      const auto host = read_u64(mem, f_sym.front().address + module.bias);
      if (!handle || !host || *handle == 0 || *host == 0) continue;
      if (p.kernel_host.emplace(*handle, *host).second) ++stats_.names_from_memory;
    }
  }
}

std::pair<const CudaProbes::Module*, const symbols::Symbol*> CudaProbes::containing(Process& p,
                                                                                  std::uint64_t addr) const {
  for (const auto& [id, module] : p.modules) {
    if (!module.has_bias || addr < module.mapping.start || addr >= module.mapping.end) continue;
    if (const symbols::Symbol* sym = module.elf->symbol_at(addr - module.bias)) return {&module, sym};
  }
  return {nullptr, nullptr};
}

// The stub nvcc generates for kernel K (`__device_stub__<K...>`) stores K's host function in its
// static `__f` (`_ZZ<stub>E3__f`, with the stub's `_Z` prefix) before it launches; the stub's
// return address is among the first words of the stack at __cudaLaunchKernel's entry (directly,
// or one frame up through the shared __cudaLaunchKernel_helper).
std::optional<std::uint64_t> CudaProbes::host_function(const zt_cuda_call_event& ev) {
  const std::uint32_t pid = ev.hdr.pid;
  Process& p = processes_[pid];
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
    auto [module, sym] = containing(p, word);
    if (!sym || sym->name.find("__device_stub__") == std::string::npos || !starts_with(sym->name, "_Z")) continue;
    const std::uint64_t stub = sym->address + module->bias;
    if (auto known = p.stub_host.find(stub); known != p.stub_host.end()) {
      ++stats_.names_from_stack;
      return known->second;
    }
    const auto f = module->elf->find_all("_ZZ" + sym->name.substr(2) + "E3__f");
    if (f.empty()) continue;
    const auto host = read_u64(fmt::format("{}/{}/mem", proc_root_, pid), f.front().address + module->bias);
    if (!host || *host == 0) continue;
    p.stub_host[stub] = *host;
    if (ev.function != 0) p.kernel_host[ev.function] = *host;
    ++stats_.names_from_stack;
    return *host;
  }
  return std::nullopt;
}

std::optional<KernelName> CudaProbes::kernel_name(std::uint32_t pid, std::uint32_t api, std::uint64_t function) {
  if (function == 0) return std::nullopt;
  Process& p = processes_[pid];
  if (auto hit = p.resolved.find(function); hit != p.resolved.end()) return hit->second;

  std::optional<std::string> mangled;
  switch (api) {
    case ZT_CUDA_LAUNCH_KERNEL:
    case ZT_CUDA_LAUNCH_KERNEL_EXC:
      mangled = name_at(p, pid, function);
      break;
    case ZT_CUDA_LAUNCH_KERNEL_HANDLE: {
      auto host = p.kernel_host.find(function);
      if (host == p.kernel_host.end() && !p.stubs_read) {
        read_stub_handles(p, pid);
        host = p.kernel_host.find(function);
      }
      if (host != p.kernel_host.end()) mangled = name_at(p, pid, host->second);
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
