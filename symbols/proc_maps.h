// /proc/PID/maps: which file backs a runtime address, and where that file is for us.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "symbols/elf_file.h"

namespace zt::symbols {

struct Mapping {
  std::uint64_t start = 0;
  std::uint64_t end = 0;     // exclusive
  std::uint64_t offset = 0;  // file offset mapped at start
  std::string perms;         // "r-xp"
  std::uint64_t inode = 0;
  std::uint32_t dev_major = 0;
  std::uint32_t dev_minor = 0;
  std::string path;          // as the process sees it, without " (deleted)"; "[vdso]", "" for anonymous
  bool deleted = false;

  bool executable() const { return perms.size() >= 3 && perms[2] == 'x'; }
  // Backed by a file (a path, not "[heap]" or anonymous memory).
  bool file_backed() const { return !path.empty() && path[0] == '/'; }
};

// The lines of a maps file; malformed lines are skipped (the kernel writes none).
std::vector<Mapping> parse_maps(std::string_view text);
Result<std::vector<Mapping>> read_maps(std::uint32_t pid, const std::string& proc_root = "/proc");
// The executable, file-backed mappings: where code, and so uprobes and stack addresses, live.
std::vector<Mapping> executable_mappings(const std::vector<Mapping>& maps);

// `path` as the process sees it, reached through its mount namespace: /proc/PID/root/<path>, so a
// container's /usr/lib/x.so is its own and not the host's.
std::string path_in_process(std::uint32_t pid, const std::string& path, const std::string& proc_root = "/proc");

// The ELF virtual address of runtime address `runtime_addr` inside mapping `m` of `elf`:
// file offset = addr - start + offset, then the PT_LOAD segment holding that offset.
std::optional<std::uint64_t> runtime_to_vaddr(const Mapping& m, const ElfFile& elf, std::uint64_t runtime_addr);

}  // namespace zt::symbols
