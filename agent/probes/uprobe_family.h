// A uprobe family declared as data: which files carry it, which functions to probe there, and
// which BPF programs of the family's object go on them. probes::UprobeAttacher finds and probes
// them in traced processes; docs/probe-families.md shows how to add one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace zt::symbols {
class ElfFile;
}

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

// A function of a family found in a file.
struct UprobeSite {
  std::size_t spec = 0;      // index into UprobeFamily::probes
  std::string symbol;        // the name found ("cudaMemcpy_ptds")
  std::uint64_t offset = 0;  // file offset of its first instruction (or of the probed instruction)
  std::uint64_t cookie = 0;  // nonzero: this site's attach cookie instead of its spec's
};

struct FoundSites {
  std::vector<UprobeSite> sites;  // in the order of the family's probes; one per address (aliases)
  std::string missing_required;   // the first name of a required function the file lacks
};

struct UprobeFamily {
  std::string name;          // the BPF object (bpf/<name>.bpf.c), also the key of its stats
  std::string display_name;  // in logs: "pid 7: probing 12 CUDA functions in /usr/lib/..."
  LibraryMatch library;
  std::vector<UprobeSpec> probes;
  // Where the family's functions are in a file, when names alone do not say it (TLS probes an
  // internal function found by decoding the exported one's first call). Null: the symbols of
  // `probes`, as declared.
  std::function<FoundSites(const UprobeFamily&, const symbols::ElfFile&)> choose_sites;
  // Where the attacher waits for sockets (UprobeAttacherOptions::wait_for_sockets): probed only in
  // processes that use them, at a scan that finds the process holding a socket, else at its first
  // connection (UprobeAttacher::on_socket_activity). A process that never talks over a socket (a
  // build step, a CLI tool) then pays no attach work. TLS.
  bool only_with_sockets = false;
};

// The functions of `family` that `elf` defines by the names of `probes`, as declared.
FoundSites declared_sites(const UprobeFamily& family, const symbols::ElfFile& elf);
// The family's own choice (UprobeFamily::choose_sites), or declared_sites.
FoundSites find_sites(const UprobeFamily& family, const symbols::ElfFile& elf);

}  // namespace zt::probes
