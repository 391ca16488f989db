#include "symbols/process_symbols.h"

#include <algorithm>
#include <cstdio>

#include "symbols/demangle.h"

namespace zt::symbols {

ProcessSymbolizer::ProcessSymbolizer(std::uint32_t pid, SymbolCache& cache, std::string proc_root)
    : pid_(pid), cache_(cache), proc_root_(std::move(proc_root)) {}

Result<void> ProcessSymbolizer::refresh() {
  auto maps = read_maps(pid_, proc_root_);
  if (!maps) return maps.error();
  maps_.clear();
  for (auto& m : *maps) {
    if (m.file_backed()) maps_.push_back(std::move(m));
  }
  loaded_ = true;
  return {};
}

const Mapping* ProcessSymbolizer::find_mapping(std::uint64_t addr) const {
  auto it = std::upper_bound(maps_.begin(), maps_.end(), addr, [](std::uint64_t a, const Mapping& m) { return a < m.start; });
  if (it == maps_.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

std::optional<ResolvedSymbol> ProcessSymbolizer::resolve(std::uint64_t runtime_addr) {
  const Mapping* m = loaded_ ? find_mapping(runtime_addr) : nullptr;
  if (!m) {
    if (!refresh()) return std::nullopt;
    m = find_mapping(runtime_addr);
    if (!m) return std::nullopt;
  }
  std::string path;
  if (m->deleted) {
    // The file is gone from every namespace; the kernel still reaches it through the mapping.
    char range[64];
    std::snprintf(range, sizeof range, "/map_files/%llx-%llx", static_cast<unsigned long long>(m->start),
                  static_cast<unsigned long long>(m->end));
    path = proc_root_ + "/" + std::to_string(pid_) + range;
  } else {
    path = path_in_process(pid_, m->path, proc_root_);
  }
  auto elf = cache_.get(path);
  if (!elf) return std::nullopt;
  const auto vaddr = runtime_to_vaddr(*m, **elf, runtime_addr);
  if (!vaddr) return std::nullopt;
  const Symbol* s = (*elf)->symbol_at(*vaddr);
  if (!s) return std::nullopt;
  return ResolvedSymbol{m->path, s->name, demangle(s->name), *vaddr - s->address};
}

}  // namespace zt::symbols
