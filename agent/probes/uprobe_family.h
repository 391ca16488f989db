// A uprobe family declared as data: which files carry it, which functions to probe there, and
// which BPF programs of the family's object go on them. probes::UprobeAttacher finds and probes
// them in traced processes; docs/probe-families.md shows how to add one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zt::probes {

// One probed function, under any of its names.
struct UprobeSpec {
  // Names to look for in a file's .dynsym and .symtab, in order ("f", "f@@VER" as
  // symbols::ElfFile::find_function takes them). IFUNCs and objects are never probed.
  std::vector<std::string> symbols;
  // Every name found is probed (variants such as cudaMemcpy_ptds that code may call instead), or
  // only the first one found (names of one function across library versions).
  bool every_variant = true;
  // Programs of the family's BPF object; an empty name is no probe. Both get the same cookie.
  std::string entry_program;
  std::string return_program;
  std::uint64_t cookie = 0;  // bpf_get_attach_cookie() in the programs
  // A file lacking a required function is not probed for the family at all (counted).
  bool required = false;
};

// Which executable files of a process may carry the family.
struct LibraryMatch {
  // fnmatch(3) patterns on the file name, without directories: "libssl.so*".
  std::vector<std::string> file_names;
  // Also any other executable file (a program or library) defining one of the functions: the
  // family's code linked statically (nvcc's default static cudart, OpenSSL in node).
  bool any_file_defining = false;
};

struct UprobeFamily {
  std::string name;          // the BPF object (bpf/<name>.bpf.c), also the key of its stats
  std::string display_name;  // in logs: "pid 7: probing 12 CUDA functions in /usr/lib/..."
  LibraryMatch library;
  std::vector<UprobeSpec> probes;
};

}  // namespace zt::probes
