#include "symbols/process_symbols.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <utility>

#include "symbols/demangle.h"

namespace zt::symbols {

std::string mapping_file_path(std::uint32_t pid, const Mapping& m, const std::string& proc_root) {
  if (!m.deleted) return path_in_process(pid, m.path, proc_root);
  char range[64];
  std::snprintf(range, sizeof range, "/map_files/%llx-%llx", static_cast<unsigned long long>(m.start),
                static_cast<unsigned long long>(m.end));
  return proc_root + "/" + std::to_string(pid) + range;
}

std::optional<std::uint64_t> load_bias(const Mapping& m, const ElfFile& elf) {
  constexpr std::uint64_t kPage = 4096;
  for (const auto& seg : elf.segments()) {
    const std::uint64_t first = seg.offset & ~(kPage - 1);
    if (m.offset < first || m.offset >= seg.offset + std::max<std::uint64_t>(seg.filesz, 1)) continue;
    // Within a PT_LOAD segment, virtual address - file offset is constant.
    const std::uint64_t vaddr_of_offset = m.offset + (seg.vaddr - seg.offset);
    return m.start - vaddr_of_offset;
  }
  return std::nullopt;
}

ProcessSymbolizer::ProcessSymbolizer(std::uint32_t pid, SymbolCache& cache, std::string proc_root)
    : pid_(pid), cache_(cache), proc_root_(std::move(proc_root)) {}

Result<void> ProcessSymbolizer::refresh() {
  auto maps = read_maps(pid_, proc_root_);
  if (!maps) return maps.error();
  maps_.clear();
  for (auto& m : *maps) {
    if (m.file_backed()) maps_.push_back(std::move(m));
  }
  files_.assign(maps_.size(), std::nullopt);
  loaded_ = true;
  return {};
}

void ProcessSymbolizer::load(std::vector<Mapping> maps) {
  maps_.clear();
  for (auto& m : maps) {
    if (m.file_backed()) maps_.push_back(std::move(m));
  }
  files_.assign(maps_.size(), std::nullopt);
  loaded_ = true;
  for (std::size_t i = 0; i < maps_.size(); ++i) {
    if (maps_[i].executable()) file_of(i);
  }
}

const Mapping* ProcessSymbolizer::find_mapping(std::uint64_t addr) const {
  auto it = std::upper_bound(maps_.begin(), maps_.end(), addr, [](std::uint64_t a, const Mapping& m) { return a < m.start; });
  if (it == maps_.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

std::shared_ptr<const ElfFile> ProcessSymbolizer::file_of(std::size_t i) {
  if (!files_[i]) {
    auto elf = cache_.get(mapping_file_path(pid_, maps_[i], proc_root_));
    files_[i] = elf ? elf.value() : nullptr;
  }
  return *files_[i];
}

std::optional<ResolvedSymbol> ProcessSymbolizer::resolve(std::uint64_t runtime_addr, bool reread_on_miss) {
  if (!loaded_ && !refresh()) return std::nullopt;
  const Mapping* m = find_mapping(runtime_addr);
  if (!m && reread_on_miss) {
    if (!refresh()) return std::nullopt;
    m = find_mapping(runtime_addr);
  }
  if (!m) return std::nullopt;
  auto elf = file_of(static_cast<std::size_t>(m - maps_.data()));
  if (!elf) return std::nullopt;
  const auto vaddr = runtime_to_vaddr(*m, *elf, runtime_addr);
  if (!vaddr) return std::nullopt;
  const Symbol* s = elf->symbol_at(*vaddr);
  if (!s) return std::nullopt;
  return ResolvedSymbol{m->path, s->name, demangle(s->name), *vaddr - s->address, elf, runtime_addr - *vaddr};
}

std::vector<LoadedModule> ProcessSymbolizer::modules() {
  if (!loaded_ && !refresh()) return {};
  std::vector<LoadedModule> out;
  std::set<std::pair<std::uint64_t, std::uint64_t>> seen;  // (device, inode)
  for (std::size_t i = 0; i < maps_.size(); ++i) {
    const Mapping& m = maps_[i];
    if (!m.executable() || !seen.emplace((std::uint64_t{m.dev_major} << 32) | m.dev_minor, m.inode).second) continue;
    auto elf = file_of(i);
    if (!elf) continue;
    const auto bias = load_bias(m, *elf);
    if (!bias) continue;
    out.push_back(LoadedModule{m, elf, *bias});
  }
  return out;
}

}  // namespace zt::symbols
