// Parsed ELF files, shared by every process that maps them.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "symbols/elf_file.h"

namespace zt::symbols {

// Files are keyed by what stat() says identifies their contents (device, inode, size, mtime), and
// by build-id: one library seen through several paths, /proc/PID/root of several containers or
// copies in several images, is parsed once. A rewritten file (new size or mtime) is parsed again.
// Least recently used files go first beyond `capacity`; an ElfFile handed out stays valid after
// eviction (shared_ptr). Not thread-safe: one owner (the pipeline thread) uses it.
class SymbolCache {
 public:
  struct Stats {
    std::uint64_t hits = 0;    // answered without parsing the file
    std::uint64_t misses = 0;  // parsed (successfully or not)
    std::uint64_t errors = 0;  // stat or parse failed
  };

  explicit SymbolCache(std::size_t capacity = 64, std::string debug_root = "/");

  Result<std::shared_ptr<const ElfFile>> get(const std::string& path);

  const Stats& stats() const { return stats_; }
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::vector<FileIdentity> keys;  // every file seen with this content
    std::shared_ptr<const ElfFile> elf;
  };

  void insert_front(Entry entry);

  std::size_t capacity_;
  std::string debug_root_;
  std::list<Entry> entries_;  // most recently used first; small enough for linear search
  Stats stats_;
};

}  // namespace zt::symbols
