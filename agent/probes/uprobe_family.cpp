#include "probes/uprobe_family.h"

#include <set>

#include "symbols/elf_file.h"

namespace zt::probes {

FoundSites declared_sites(const UprobeFamily& family, const symbols::ElfFile& elf) {
  FoundSites out;
  std::set<std::uint64_t> offsets;
  for (std::size_t i = 0; i < family.probes.size(); ++i) {
    const UprobeSpec& spec = family.probes[i];
    bool found = false;
    for (const auto& name : spec.symbols) {
      const auto sym = elf.find_function(name);
      // An IFUNC's address is its resolver's, not the function's.
      if (!sym || sym->type != symbols::Symbol::Func) continue;
      const auto offset = elf.file_offset(*sym);
      if (!offset) continue;
      found = true;
      if (offsets.insert(*offset).second) out.sites.push_back(UprobeSite{i, name, *offset});
      if (!spec.every_variant) break;
    }
    if (!found && spec.required && out.missing_required.empty() && !spec.symbols.empty()) {
      out.missing_required = spec.symbols.front();
    }
  }
  return out;
}

FoundSites find_sites(const UprobeFamily& family, const symbols::ElfFile& elf) {
  return family.choose_sites ? family.choose_sites(family, elf) : declared_sites(family, elf);
}

}  // namespace zt::probes
