// libFuzzer target for the ELF reader (symbols/elf_file.h), the prologue decoder run on the code it
// reads (symbols/x86_decode.h) and the /proc/PID/maps parser: ELF files come from containers and
// users, so every byte is hostile.
// Input: an ELF file, as is; the same bytes are also read as maps text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "symbols/elf_file.h"
#include "symbols/proc_maps.h"
#include "symbols/x86_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto elf = zt::symbols::ElfFile::open_memory(std::string(input), "fuzz"); elf.ok()) {
    const auto& f = *elf.value();
    for (const char* name : {"main", "zt_versioned", "zt_versioned@VER_1", "zt_versioned@@VER_2", "f@", "@@"}) {
      if (const auto s = f.find_function(name)) {
        if (s->type != zt::symbols::Symbol::Func && s->type != zt::symbols::Symbol::Ifunc) std::abort();
        (void)f.file_offset(*s);
      }
    }
    std::size_t probes = 0;
    for (const auto& s : f.symbols()) {
      if (++probes > 64) break;
      // What symbol_at returns must contain the address asked for.
      if (const auto* at = f.symbol_at(s.address)) {
        if (at->address > s.address || (at->size == 0 ? at->address != s.address : s.address - at->address >= at->size)) std::abort();
      }
      if (const auto off = f.vaddr_to_offset(s.address)) (void)f.offset_to_vaddr(*off);
      // Code at every symbol: bounded by what was asked, and decodable without reading past it.
      if (const auto code = f.read_code(s.address, 64)) {
        if (code->size() > 64) std::abort();
        (void)zt::symbols::x86::probe_cost(*code);
        (void)zt::symbols::x86::first_transfer(*code, s.address);
      }
      // Every symbol is found by its own name ('@' in a name would read as a version).
      if (s.name.find('@') == std::string::npos && f.find_all(s.name).empty()) std::abort();
    }
  }
  for (const auto& m : zt::symbols::parse_maps(input)) {
    if (m.end < m.start || m.perms.size() != 4) std::abort();
  }
  return 0;
}
