#include "symbols/symbol_cache.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace zt::symbols {

namespace {
constexpr std::size_t kMaxAliases = 16;  // files remembered per parsed library
}  // namespace

SymbolCache::SymbolCache(std::size_t capacity, std::string debug_root)
    : capacity_(std::max<std::size_t>(capacity, 1)), debug_root_(std::move(debug_root)) {}

void SymbolCache::insert_front(Entry entry) {
  entries_.push_front(std::move(entry));
  while (entries_.size() > capacity_) entries_.pop_back();
}

Result<std::shared_ptr<const ElfFile>> SymbolCache::get(const std::string& path) {
  const auto identity = file_identity(path);
  if (!identity) {
    ++stats_.errors;
    return make_error(path + ": cannot stat: " + std::strerror(errno));
  }
  const FileIdentity& key = *identity;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (std::find(it->keys.begin(), it->keys.end(), key) != it->keys.end()) {
      ++stats_.hits;
      entries_.splice(entries_.begin(), entries_, it);
      return it->elf;
    }
  }

  // Same contents under another identity (another image layer, a copy): found by build-id, read
  // from the program headers alone, and remembered as an alias of the file already parsed.
  if (auto id = ElfFile::read_build_id(path); id && !id->empty()) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->elf->build_id() != *id) continue;
      ++stats_.hits;
      if (it->keys.size() >= kMaxAliases) it->keys.erase(it->keys.begin());
      it->keys.push_back(key);
      entries_.splice(entries_.begin(), entries_, it);
      return it->elf;
    }
  }

  ++stats_.misses;
  auto elf = ElfFile::open(path, debug_root_);
  if (!elf) {
    ++stats_.errors;
    return elf.error();
  }
  insert_front(Entry{{key}, elf.value()});
  return elf.value();
}

}  // namespace zt::symbols
