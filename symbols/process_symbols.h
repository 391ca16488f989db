// Runtime addresses of one process to symbol names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "symbols/proc_maps.h"
#include "symbols/symbol_cache.h"

namespace zt::symbols {

struct ResolvedSymbol {
  std::string module;     // the mapped file's path as the process sees it
  std::string symbol;     // as in the ELF file (mangled)
  std::string demangled;  // demangle(symbol)
  std::uint64_t offset = 0;  // runtime address - start of the symbol
};

// Reads /proc/PID/maps on first use and again whenever an address falls in no known mapping
// (libraries dlopen'ed later), at most once per resolve(). Files are opened through
// /proc/PID/root (the process's mount namespace); deleted files through /proc/PID/map_files.
// Not thread-safe, like the cache it uses.
class ProcessSymbolizer {
 public:
  ProcessSymbolizer(std::uint32_t pid, SymbolCache& cache, std::string proc_root = "/proc");

  std::optional<ResolvedSymbol> resolve(std::uint64_t runtime_addr);
  // Re-reads the maps now.
  Result<void> refresh();
  const std::vector<Mapping>& mappings() const { return maps_; }

 private:
  const Mapping* find_mapping(std::uint64_t addr) const;

  std::uint32_t pid_;
  SymbolCache& cache_;
  std::string proc_root_;
  std::vector<Mapping> maps_;  // file-backed only, sorted by start (the kernel's order)
  bool loaded_ = false;
};

}  // namespace zt::symbols
