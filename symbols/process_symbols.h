// Runtime addresses of one process to symbols, through the load bias of the file mapped there.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "symbols/proc_maps.h"
#include "symbols/symbol_cache.h"

namespace zt::symbols {

// Where to open the file behind mapping `m` of process `pid`: through the process's root (its
// mount namespace), or through the mapping itself (/proc/PID/map_files/START-END) once the file
// has been deleted (a library upgraded under a running process).
std::string mapping_file_path(std::uint32_t pid, const Mapping& m, const std::string& proc_root = "/proc");

// runtime address = ELF virtual address + bias, for the file of mapping `m` (the PT_LOAD segment
// holding the mapping's file offset; a mapping may start at the page below a segment's offset).
std::optional<std::uint64_t> load_bias(const Mapping& m, const ElfFile& elf);

// An ELF file mapped executable in the process.
struct LoadedModule {
  Mapping mapping;  // its first executable mapping
  std::shared_ptr<const ElfFile> elf;
  std::uint64_t bias = 0;  // runtime address = ELF virtual address + bias
};

struct ResolvedSymbol {
  std::string module;     // the mapped file's path as the process sees it
  std::string symbol;     // as in the ELF file (mangled)
  std::string demangled;  // demangle(symbol)
  std::uint64_t offset = 0;  // runtime address - start of the symbol
  std::shared_ptr<const ElfFile> elf;  // the module's file: more symbols at runtime address vaddr + bias
  std::uint64_t bias = 0;
};

// Reads /proc/PID/maps on first use and again whenever an address falls in no known mapping
// (libraries dlopen'ed later), at most once per resolve(). A mapping's file is looked up in the
// cache once until the maps are read again. Not thread-safe, like the cache it uses.
class ProcessSymbolizer {
 public:
  ProcessSymbolizer(std::uint32_t pid, SymbolCache& cache, std::string proc_root = "/proc");

  // `reread_on_miss` false: an address outside the known mappings is not worth re-reading the
  // maps (words of a stack that may be data).
  std::optional<ResolvedSymbol> resolve(std::uint64_t runtime_addr, bool reread_on_miss = true);
  // Re-reads the maps now.
  Result<void> refresh();
  // Takes maps read by someone else, and looks up the files of the executable ones now: a process
  // that has exited by the time its addresses are resolved is still resolved.
  void load(std::vector<Mapping> maps);
  const std::vector<Mapping>& mappings() const { return maps_; }
  // The ELF files mapped executable, each once (files that cannot be parsed are left out).
  std::vector<LoadedModule> modules();

 private:
  const Mapping* find_mapping(std::uint64_t addr) const;
  // The parsed file of maps_[i]; nullptr when it cannot be read.
  std::shared_ptr<const ElfFile> file_of(std::size_t i);

  std::uint32_t pid_;
  SymbolCache& cache_;
  std::string proc_root_;
  std::vector<Mapping> maps_;  // file-backed only, sorted by start (the kernel's order)
  std::vector<std::optional<std::shared_ptr<const ElfFile>>> files_;  // per mapping; nullopt: not looked up yet
  bool loaded_ = false;
};

}  // namespace zt::symbols
