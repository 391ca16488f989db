// Symbols of one ELF file (executable, shared object or separate debug file), read with libelf.
// Everything is parsed at open and copied out: an ElfFile holds no file descriptor, no mapping and
// no libelf handle, so it can be shared freely (SymbolCache) and outlives the file. The one thing
// read later, machine code for choosing probe sites (read_code), is read by opening the file again.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace zt::symbols {

struct Symbol {
  enum Type { Func, Ifunc, Object, Other };

  std::string name;              // without version: "cudaLaunchKernel"
  std::string version;           // "libcudart.so.13", empty when unversioned
  bool default_version = true;   // what a plain reference binds to: "@@" versions and unversioned symbols
  std::uint64_t address = 0;     // ELF virtual address (st_value); for Ifunc the resolver's address
  std::uint64_t size = 0;
  Type type = Other;
  bool global = false;           // STB_GLOBAL, STB_WEAK or STB_GNU_UNIQUE; false for STB_LOCAL
};

// A PT_LOAD segment.
struct Segment {
  std::uint64_t vaddr = 0;
  std::uint64_t memsz = 0;
  std::uint64_t offset = 0;
  std::uint64_t filesz = 0;
  std::uint32_t flags = 0;  // PF_X, PF_W, PF_R
};

// What stat() says identifies a file's contents: equal values, the same bytes (as far as anyone
// can tell without reading them). A rewritten file has a new size or mtime.
struct FileIdentity {
  std::uint64_t dev = 0;
  std::uint64_t inode = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};
// Of an open descriptor, or of a path (following links); nullopt with errno set when stat fails.
std::optional<FileIdentity> file_identity(int fd);
std::optional<FileIdentity> file_identity(const std::string& path);

// Limits against hostile files; a file beyond them is refused with an Error.
inline constexpr std::uint64_t kMaxSymbols = 16u << 20;                  // per file, all tables
inline constexpr std::uint64_t kMaxDecompressedSection = 256ull << 20;  // SHF_COMPRESSED sections
inline constexpr std::size_t kMaxCodeRead = 4096;                       // bytes per read_code

class ElfFile {
 public:
  struct Parser;  // implementation detail of elf_file.cpp

  // Opens `path` (O_RDONLY|O_CLOEXEC; libelf reads the sections it needs with pread, so a file of
  // hundreds of MB costs its symbol tables, not its size). When the file has no .symtab, the
  // separate debug file `<debug_root>/usr/lib/debug/.build-id/xx/yyyy.debug` named by its
  // build-id is read too, if present, and its .symtab merged (an empty debug_root disables this).
  static Result<std::shared_ptr<const ElfFile>> open(const std::string& path, const std::string& debug_root = "/");
  // Only the build-id (program headers and their notes): cheap, to recognise a file already parsed.
  static Result<std::string> read_build_id(const std::string& path);
  // The same from bytes in memory (tests, fuzzer); `name` only appears in errors. No debug file.
  static Result<std::shared_ptr<const ElfFile>> open_memory(std::string bytes, std::string name);

  const std::string& name() const { return name_; }
  // Hex of the NT_GNU_BUILD_ID note, empty when there is none.
  const std::string& build_id() const { return build_id_; }
  // e_machine: EM_X86_64 (62), EM_AARCH64 (183), ...
  std::uint16_t machine() const { return machine_; }
  // ET_DYN: PIE executable or shared object, loaded at a bias; ET_EXEC: fixed addresses.
  bool is_dyn() const { return elf_type_ == kTypeDyn; }
  std::uint16_t elf_type() const { return elf_type_; }
  // Whether a .symtab was read (the file's own, or the debug file's).
  bool has_symtab() const { return has_symtab_; }
  // The separate debug file whose .symtab was merged, empty when none.
  const std::string& debug_file() const { return debug_file_; }
  const std::vector<Segment>& segments() const { return segments_; }
  // Defined symbols of .dynsym and .symtab; one entry where both tables hold the same symbol.
  const std::vector<Symbol>& symbols() const { return symbols_; }

  // A function (Func or Ifunc) by name: "f", "f@VER" (that version, default or not) or "f@@VER"
  // (that version, as the default). Prefers global over local, then the default version, then a
  // symbol with a size, then the lowest address.
  std::optional<Symbol> find_function(std::string_view name) const;
  // Every symbol of any type matching `name` as in find_function, best first.
  std::vector<Symbol> find_all(std::string_view name) const;
  // The function or object containing `vaddr` (innermost; a size-0 symbol only at its exact address).
  // The pointer stays valid as long as this ElfFile.
  const Symbol* symbol_at(std::uint64_t vaddr) const;

  // Through the PT_LOAD segments; nullopt outside their file-backed part.
  std::optional<std::uint64_t> vaddr_to_offset(std::uint64_t vaddr) const;
  std::optional<std::uint64_t> offset_to_vaddr(std::uint64_t file_offset) const;
  // The file offset of a symbol, what a uprobe attaches to.
  std::optional<std::uint64_t> file_offset(const Symbol& symbol) const { return vaddr_to_offset(symbol.address); }

  // Machine code at `vaddr`, from the file-backed part of an executable (PF_X) PT_LOAD segment: `n`
  // bytes, fewer where the segment or the file ends first, at most kMaxCodeRead. nullopt when
  // `vaddr` is in no such segment, or the bytes cannot be read: a file opened by path is opened
  // again for each call and must still be the file that was parsed (same FileIdentity); a file
  // opened from memory keeps a copy of its executable segments' bytes for this.
  std::optional<std::vector<std::uint8_t>> read_code(std::uint64_t vaddr, std::size_t n) const;

 private:
  static constexpr std::uint16_t kTypeDyn = 3;  // ET_DYN, without <elf.h> in this header

  ElfFile() = default;
  void index();

  std::string name_;
  std::string build_id_;
  std::string debug_file_;
  std::uint16_t elf_type_ = 0;
  std::uint16_t machine_ = 0;
  // Where read_code finds the bytes: the file by path, checked against its identity at open, or
  // (open_memory) a copy of the file's bytes [code_offset_, code_offset_ + code_.size()), the
  // span of its executable segments.
  std::optional<FileIdentity> identity_;
  std::uint64_t code_offset_ = 0;
  std::string code_;
  bool has_symtab_ = false;
  std::vector<Segment> segments_;
  std::vector<Symbol> symbols_;
  std::vector<std::uint32_t> by_name_;     // indexes into symbols_, sorted by name
  std::vector<std::uint32_t> by_address_;  // Func/Ifunc/Object, sorted by address, best last at equal address
  std::vector<std::uint64_t> max_end_;     // max_end_[i]: highest end of by_address_[0..i]
};

}  // namespace zt::symbols
