#include "symbols/elf_file.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <limits>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "core/fd.h"

namespace zt::symbols {

namespace {

constexpr unsigned char kNativeData = std::endian::native == std::endian::little ? ELFDATA2LSB : ELFDATA2MSB;
// Most zlib can expand: about 1032:1. A header claiming more is a lie; refuse before allocating.
constexpr std::uint64_t kMaxZlibRatio = 1100;
constexpr std::size_t kMaxVersionDefinitions = 65536;
constexpr std::size_t kMaxBuildIdBytes = 64;

template <typename T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // section data carries no alignment promise
  return v;
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

std::string libelf_error() {
  const char* m = elf_errmsg(-1);
  return m ? m : "unknown libelf error";
}

FileIdentity identity_of(const struct stat& st) {
  return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
          static_cast<std::uint64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

// Owns a libelf handle for the duration of one parse.
struct ElfCloser {
  Elf* elf = nullptr;
  ~ElfCloser() {
    if (elf) elf_end(elf);
  }
};

// The bytes of one section: a view of libelf's buffer, or a decompressed copy we own.
struct Bytes {
  const char* raw = nullptr;
  std::size_t raw_size = 0;
  std::string owned;
  bool is_owned = false;
  std::string_view view() const { return is_owned ? std::string_view(owned) : std::string_view(raw, raw_size); }
};

// A NUL-terminated string at `offset` of a string table, or nullopt when it does not end inside it.
std::optional<std::string_view> string_at(std::string_view table, std::uint64_t offset) {
  if (offset >= table.size()) return std::nullopt;
  const char* begin = table.data() + offset;
  const void* nul = std::memchr(begin, '\0', table.size() - offset);
  if (!nul) return std::nullopt;
  return std::string_view(begin, static_cast<const char*>(nul) - begin);
}

// The build-id in a run of ELF notes (4-byte aligned in practice; 8 for PT_NOTE with p_align 8).
std::string build_id_in_notes(std::string_view notes, std::uint64_t align) {
  align = align == 8 ? 8 : 4;
  const auto pad = [align](std::uint64_t n) { return (n + align - 1) & ~(align - 1); };
  std::uint64_t off = 0;
  while (notes.size() - off >= sizeof(Elf64_Nhdr)) {
    const auto nhdr = load<Elf64_Nhdr>(notes.data() + off);  // same layout as Elf32_Nhdr
    off += sizeof nhdr;
    const std::uint64_t name_end = off + pad(nhdr.n_namesz);
    if (name_end > notes.size()) break;
    const std::uint64_t desc_end = name_end + pad(nhdr.n_descsz);
    if (name_end + nhdr.n_descsz > notes.size()) break;
    const std::string_view owner(notes.data() + off, nhdr.n_namesz);
    if (nhdr.n_type == NT_GNU_BUILD_ID && owner == std::string_view("GNU\0", 4) && nhdr.n_descsz > 0 &&
        nhdr.n_descsz <= kMaxBuildIdBytes) {
      return hex(notes.substr(name_end, nhdr.n_descsz));
    }
    if (desc_end >= notes.size()) break;
    off = desc_end;
  }
  return {};
}

Result<std::string> inflate_section(std::string_view raw, bool is64, const std::string& what) {
  std::uint32_t type = 0;
  std::uint64_t size = 0;
  std::size_t header = 0;
  if (is64) {
    if (raw.size() < sizeof(Elf64_Chdr)) return make_error(what + ": compression header truncated");
    const auto ch = load<Elf64_Chdr>(raw.data());
    type = ch.ch_type;
    size = ch.ch_size;
    header = sizeof ch;
  } else {
    if (raw.size() < sizeof(Elf32_Chdr)) return make_error(what + ": compression header truncated");
    const auto ch = load<Elf32_Chdr>(raw.data());
    type = ch.ch_type;
    size = ch.ch_size;
    header = sizeof ch;
  }
  if (type != ELFCOMPRESS_ZLIB) {
    return make_error(what + ": compression type " + std::to_string(type) + " not supported (zlib only)");
  }
  const std::string_view in = raw.substr(header);
  if (size > kMaxDecompressedSection) {
    return make_error(what + ": claims " + std::to_string(size) + " bytes decompressed, over the limit of " +
                      std::to_string(kMaxDecompressedSection));
  }
  if (size > (in.size() + 64) * kMaxZlibRatio) {
    return make_error(what + ": claims " + std::to_string(size) + " bytes from " + std::to_string(in.size()) +
                      " compressed, more than zlib can expand");
  }
  std::string out(size, '\0');
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return make_error(what + ": zlib initialisation failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());  // in.size() < 4 GiB follows from the ratio check
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  const std::uint64_t produced = zs.total_out;
  const std::string msg = zs.msg ? zs.msg : "";
  inflateEnd(&zs);
  if (rc == Z_STREAM_END && produced == size) return out;
  if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) return make_error(what + ": corrupt zlib data (" + msg + ")");
  return make_error(what + ": does not decompress to the " + std::to_string(size) + " bytes its header claims");
}

Symbol::Type symbol_type(unsigned type) {
  switch (type) {
    case STT_FUNC: return Symbol::Func;
    case STT_GNU_IFUNC: return Symbol::Ifunc;
    case STT_OBJECT: return Symbol::Object;
    default: return Symbol::Other;
  }
}

// Which of two symbols of one name a plain lookup should return.
bool better(const Symbol& a, const Symbol& b) {
  return std::make_tuple(a.global, a.default_version, a.size != 0, b.address) >
         std::make_tuple(b.global, b.default_version, b.size != 0, a.address);
}

struct Query {
  std::string_view name;
  std::optional<std::string_view> version;
  bool want_default = false;
};

Query parse_query(std::string_view q) {
  Query out{q, std::nullopt, false};
  const auto at = q.find('@');
  if (at == std::string_view::npos) return out;
  out.name = q.substr(0, at);
  if (at + 1 < q.size() && q[at + 1] == '@') {
    out.want_default = true;
    out.version = q.substr(at + 2);
  } else {
    out.version = q.substr(at + 1);
  }
  return out;
}

bool matches(const Symbol& s, const Query& q) {
  if (q.version && s.version != *q.version) return false;
  return !q.want_default || s.default_version;
}

}  // namespace

// One parse of one file: libelf handle, size, and the checks that keep hostile input harmless.
struct ElfFile::Parser {
  Elf* elf = nullptr;
  std::uint64_t file_size = 0;
  std::string name;
  bool is64 = true;
  std::size_t shstrndx = 0;
  bool have_shstrndx = false;
  std::vector<GElf_Shdr> shdrs;  // index 0 included
  std::unordered_map<std::uint16_t, std::string> versions;
  // Reads raw bytes before libelf is involved; false when they are not all there.
  std::function<bool(std::uint64_t offset, char* out, std::size_t size)> read_raw;
  // Of the file opened by path, for read_code's check that it is still the same file.
  std::optional<FileIdentity> identity;

  Error fail(const std::string& what) const { return make_error(name + ": " + what); }

  std::string section_name(std::size_t i) const {
    const char* n = have_shstrndx ? elf_strptr(elf, shstrndx, shdrs[i].sh_name) : nullptr;
    return n && *n ? "section " + std::to_string(i) + " (" + n + ")" : "section " + std::to_string(i);
  }

  // Checks what libelf would otherwise be trusted with: the header tables lie inside the file.
  // Runs before libelf sees the file: libelf sizes its own tables by these counts.
  Result<void> check_header() {
    char buf[sizeof(Elf64_Ehdr)] = {};
    const std::string_view head(buf, std::min<std::uint64_t>(file_size, sizeof buf));
    if (!read_raw(0, buf, head.size())) return fail("cannot read the ELF header");
    if (head.size() < EI_NIDENT || std::memcmp(head.data(), ELFMAG, SELFMAG) != 0) return fail("not an ELF file");
    const auto cls = static_cast<unsigned char>(head[EI_CLASS]);
    if (cls != ELFCLASS32 && cls != ELFCLASS64) return fail("unknown ELF class " + std::to_string(cls));
    is64 = cls == ELFCLASS64;
    if (static_cast<unsigned char>(head[EI_DATA]) != kNativeData) return fail("byte order differs from this machine's");
    std::uint64_t shoff, phoff, shentsize, phentsize, shnum, phnum;
    if (is64) {
      if (head.size() < sizeof(Elf64_Ehdr)) return fail("ELF header truncated");
      const auto h = load<Elf64_Ehdr>(head.data());
      std::tie(shoff, phoff, shentsize, phentsize, shnum, phnum) =
          std::make_tuple(h.e_shoff, h.e_phoff, h.e_shentsize, h.e_phentsize, h.e_shnum, h.e_phnum);
    } else {
      if (head.size() < sizeof(Elf32_Ehdr)) return fail("ELF header truncated");
      const auto h = load<Elf32_Ehdr>(head.data());
      std::tie(shoff, phoff, shentsize, phentsize, shnum, phnum) =
          std::make_tuple(h.e_shoff, h.e_phoff, h.e_shentsize, h.e_phentsize, h.e_shnum, h.e_phnum);
    }
    const std::uint64_t shdr_size = is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
    const std::uint64_t phdr_size = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    if (shoff != 0) {
      if (shentsize != shdr_size) return fail("section header entry size " + std::to_string(shentsize) + ", expected " + std::to_string(shdr_size));
      if (!table_fits(shoff, std::max<std::uint64_t>(shnum, 1), shdr_size)) return fail("section header table beyond end of file");
      // Extended numbering: e_shnum 0 (or e_phnum PN_XNUM) puts the real count in section 0.
      if (shnum == 0 || phnum == PN_XNUM) {
        char first[sizeof(Elf64_Shdr)];
        if (!read_raw(shoff, first, shdr_size)) return fail("cannot read section header 0");
        if (is64) {
          const auto sh0 = load<Elf64_Shdr>(first);
          if (shnum == 0) shnum = sh0.sh_size;
          if (phnum == PN_XNUM) phnum = sh0.sh_info;
        } else {
          const auto sh0 = load<Elf32_Shdr>(first);
          if (shnum == 0) shnum = sh0.sh_size;
          if (phnum == PN_XNUM) phnum = sh0.sh_info;
        }
        if (!table_fits(shoff, shnum, shdr_size)) return fail("section header table (" + std::to_string(shnum) + " entries) beyond end of file");
      }
    } else if (phnum == PN_XNUM) {
      return fail("extended program header count without section headers");
    }
    if (phnum != 0) {
      if (phentsize != phdr_size) return fail("program header entry size " + std::to_string(phentsize) + ", expected " + std::to_string(phdr_size));
      if (!table_fits(phoff, phnum, phdr_size)) return fail("program header table beyond end of file");
    }
    return {};
  }

  bool table_fits(std::uint64_t offset, std::uint64_t count, std::uint64_t entry) const {
    return offset <= file_size && count <= (file_size - offset) / entry;
  }

  Result<void> read_section_headers() {
    std::size_t n = 0;
    if (elf_getshdrnum(elf, &n) != 0) return fail("cannot read the section count: " + libelf_error());
    GElf_Ehdr eh;
    if (!gelf_getehdr(elf, &eh)) return fail("cannot read the ELF header: " + libelf_error());
    if (n > 0 && !table_fits(eh.e_shoff, n, is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr))) {
      return fail("section header table (" + std::to_string(n) + " entries) beyond end of file");
    }
    shdrs.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      Elf_Scn* scn = elf_getscn(elf, i);
      if (!scn || !gelf_getshdr(scn, &shdrs[i])) return fail("cannot read section header " + std::to_string(i) + ": " + libelf_error());
    }
    have_shstrndx = elf_getshdrstrndx(elf, &shstrndx) == 0 && shstrndx < n && shdrs[shstrndx].sh_type == SHT_STRTAB &&
                    section_in_file(shstrndx);
    return {};
  }

  bool section_in_file(std::size_t i) const {
    const auto& sh = shdrs[i];
    return sh.sh_type == SHT_NOBITS || (sh.sh_offset <= file_size && sh.sh_size <= file_size - sh.sh_offset);
  }

  // The contents of section i, decompressed when SHF_COMPRESSED; empty for SHT_NOBITS.
  Result<Bytes> section_bytes(std::size_t i) const {
    Bytes out;
    const auto& sh = shdrs[i];
    if (sh.sh_type == SHT_NOBITS || sh.sh_size == 0) return out;
    if (!section_in_file(i)) return fail(section_name(i) + " beyond end of file");
    Elf_Scn* scn = elf_getscn(elf, i);
    Elf_Data* data = scn ? elf_rawdata(scn, nullptr) : nullptr;
    if (!data || (data->d_size > 0 && !data->d_buf)) return fail("cannot read " + section_name(i) + ": " + libelf_error());
    out.raw = static_cast<const char*>(data->d_buf);
    out.raw_size = std::min<std::uint64_t>(data->d_size, sh.sh_size);
    if (sh.sh_flags & SHF_COMPRESSED) {
      auto inflated = inflate_section(out.view(), is64, section_name(i));
      if (!inflated) return fail(inflated.error().message);  // named after the file, as every error
      out.owned = std::move(inflated.value());
      out.is_owned = true;
    }
    return out;
  }

  // Version index -> name, from .gnu.version_d (the versions this file defines).
  Result<void> read_version_definitions(std::size_t i) {
    const auto& sh = shdrs[i];
    if (sh.sh_link >= shdrs.size()) return fail(section_name(i) + ": string table link " + std::to_string(sh.sh_link) + " out of range");
    auto bytes = section_bytes(i);
    if (!bytes) return bytes.error();
    auto strings = section_bytes(sh.sh_link);
    if (!strings) return strings.error();
    const std::string_view defs = bytes->view();
    const std::string_view strtab = strings->view();
    std::uint64_t off = 0;
    for (std::size_t n = 0; n < kMaxVersionDefinitions && defs.size() >= sizeof(Elf64_Verdef) &&
                            off <= defs.size() - sizeof(Elf64_Verdef);
         ++n) {
      const auto vd = load<Elf64_Verdef>(defs.data() + off);  // same layout in ELF32
      if (vd.vd_cnt > 0 && !(vd.vd_flags & VER_FLG_BASE) && defs.size() >= sizeof(Elf64_Verdaux) &&
          vd.vd_aux <= defs.size() - sizeof(Elf64_Verdaux) - off) {
        const auto aux = load<Elf64_Verdaux>(defs.data() + off + vd.vd_aux);
        if (const auto v = string_at(strtab, aux.vda_name)) versions[vd.vd_ndx & 0x7fff] = std::string(*v);
      }
      if (vd.vd_next == 0) break;
      off += vd.vd_next;
    }
    return {};
  }

  template <typename Sym>
  Result<void> read_symbols(std::size_t i, std::vector<Symbol>& out, std::unordered_set<std::string>& seen) {
    const auto& sh = shdrs[i];
    const bool dynamic = sh.sh_type == SHT_DYNSYM;
    const std::string what = section_name(i);
    if (sh.sh_type == SHT_NOBITS || sh.sh_size == 0) return {};
    if (sh.sh_entsize != sizeof(Sym)) return fail(what + ": entry size " + std::to_string(sh.sh_entsize) + ", expected " + std::to_string(sizeof(Sym)));
    // A compressed table's sh_size is the compressed size; its real size is checked below.
    if (!(sh.sh_flags & SHF_COMPRESSED) && sh.sh_size % sizeof(Sym) != 0) {
      return fail(what + ": size " + std::to_string(sh.sh_size) + " is not a multiple of the entry size");
    }
    if (sh.sh_link == 0 || sh.sh_link >= shdrs.size() || shdrs[sh.sh_link].sh_type != SHT_STRTAB) {
      return fail(what + ": link " + std::to_string(sh.sh_link) + " is not a string table");
    }
    auto bytes = section_bytes(i);
    if (!bytes) return bytes.error();
    auto strings = section_bytes(sh.sh_link);
    if (!strings) return strings.error();
    const std::string_view table = bytes->view();
    const std::string_view strtab = strings->view();
    if (table.size() % sizeof(Sym) != 0) return fail(what + ": decompressed size is not a multiple of the entry size");
    const std::uint64_t count = table.size() / sizeof(Sym);
    if (count + out.size() > kMaxSymbols) return fail(what + ": more than " + std::to_string(kMaxSymbols) + " symbols");

    // .gnu.version: one index per .dynsym entry (bit 15: hidden, i.e. not the default version).
    std::string_view versym;
    Bytes versym_bytes;
    if (dynamic) {
      for (std::size_t v = 1; v < shdrs.size(); ++v) {
        if (shdrs[v].sh_type != SHT_GNU_versym || shdrs[v].sh_link != i) continue;
        auto vb = section_bytes(v);
        if (!vb) return vb.error();
        versym_bytes = std::move(vb.value());
        versym = versym_bytes.view();
        break;
      }
    }

    for (std::uint64_t k = 1; k < count; ++k) {
      const auto sym = load<Sym>(table.data() + k * sizeof(Sym));
      if (sym.st_shndx == SHN_UNDEF || sym.st_shndx == SHN_ABS || sym.st_shndx == SHN_COMMON) continue;
      const unsigned type = is64 ? ELF64_ST_TYPE(sym.st_info) : ELF32_ST_TYPE(sym.st_info);
      const unsigned bind = is64 ? ELF64_ST_BIND(sym.st_info) : ELF32_ST_BIND(sym.st_info);
      const Symbol::Type t = symbol_type(type);
      // Local labels without a type ($x, .L...) are noise; section and file symbols are not code.
      if (t == Symbol::Other && (type != STT_NOTYPE || bind == STB_LOCAL)) continue;
      const auto sym_name = string_at(strtab, sym.st_name);
      if (!sym_name || sym_name->empty()) continue;

      Symbol s;
      s.address = sym.st_value;
      s.size = sym.st_size;
      s.type = t;
      s.global = bind != STB_LOCAL;
      s.name = std::string(*sym_name);
      if (dynamic) {
        if ((k + 1) * 2 <= versym.size()) {
          const auto v = load<std::uint16_t>(versym.data() + k * 2);
          if (const auto it = versions.find(v & 0x7fff); it != versions.end()) {
            s.version = it->second;
            s.default_version = !(v & 0x8000);
          }
        }
      } else if (const auto at = s.name.find('@'); at != std::string::npos) {
        // .symtab spells versions into the name: "f@VER" and "f@@VER".
        const bool dflt = at + 1 < s.name.size() && s.name[at + 1] == '@';
        s.version = s.name.substr(at + (dflt ? 2 : 1));
        s.default_version = dflt;
        s.name.resize(at);
      }
      // .symtab repeats what .dynsym holds (read first, with versions): keep one.
      std::string key = s.name + '\0' + std::to_string(s.address);
      if (dynamic) {
        seen.insert(std::move(key));
      } else if (seen.count(key)) {
        continue;
      }
      out.push_back(std::move(s));
    }
    return {};
  }

  // ELF type, PT_LOAD segments, build-id from PT_NOTE: what the program headers say.
  Result<void> parse_program_headers(ElfFile& f) {
    GElf_Ehdr eh;
    if (!gelf_getehdr(elf, &eh)) return fail("cannot read the ELF header: " + libelf_error());
    if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) return fail("ELF type " + std::to_string(eh.e_type) + " is not an executable or shared object");
    f.elf_type_ = eh.e_type;
    f.machine_ = eh.e_machine;

    std::size_t phnum = 0;
    if (elf_getphdrnum(elf, &phnum) != 0) return fail("cannot read the program header count: " + libelf_error());
    if (phnum > 0 && !table_fits(eh.e_phoff, phnum, is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr))) {
      return fail("program header table (" + std::to_string(phnum) + " entries) beyond end of file");
    }
    for (std::size_t i = 0; i < phnum; ++i) {
      GElf_Phdr ph;
      if (!gelf_getphdr(elf, static_cast<int>(i), &ph)) return fail("cannot read program header " + std::to_string(i) + ": " + libelf_error());
      if (ph.p_type == PT_LOAD) {
        f.segments_.push_back({ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz, ph.p_flags});
      } else if (ph.p_type == PT_NOTE && f.build_id_.empty() && ph.p_filesz > 0 && ph.p_offset <= file_size &&
                 ph.p_filesz <= file_size - ph.p_offset) {
        // A separate debug file keeps the original's program headers, not what they point to: skip quietly.
        if (Elf_Data* d = elf_getdata_rawchunk(elf, static_cast<int64_t>(ph.p_offset), ph.p_filesz, ELF_T_BYTE); d && d->d_buf) {
          f.build_id_ = build_id_in_notes({static_cast<const char*>(d->d_buf), d->d_size}, ph.p_align);
        }
      }
    }

    return {};
  }

  Result<void> parse(ElfFile& f) {
    if (auto ok = parse_program_headers(f); !ok) return ok;
    if (auto ok = read_section_headers(); !ok) return ok;
    for (std::size_t i = 1; i < shdrs.size() && f.build_id_.empty(); ++i) {
      if (shdrs[i].sh_type != SHT_NOTE) continue;
      auto notes = section_bytes(i);
      if (!notes) return notes.error();
      f.build_id_ = build_id_in_notes(notes->view(), shdrs[i].sh_addralign);
    }
    for (std::size_t i = 1; i < shdrs.size(); ++i) {
      if (shdrs[i].sh_type != SHT_GNU_verdef) continue;
      if (auto ok = read_version_definitions(i); !ok) return ok;
    }
    std::unordered_set<std::string> seen;
    for (const std::uint32_t type : {SHT_DYNSYM, SHT_SYMTAB}) {
      for (std::size_t i = 1; i < shdrs.size(); ++i) {
        if (shdrs[i].sh_type != type) continue;
        if (type == SHT_SYMTAB && shdrs[i].sh_size > 0) f.has_symtab_ = true;
        auto ok = is64 ? read_symbols<Elf64_Sym>(i, f.symbols_, seen) : read_symbols<Elf32_Sym>(i, f.symbols_, seen);
        if (!ok) return ok;
      }
    }
    return {};
  }
};

namespace {

void init_libelf() {
  static const bool ready = elf_version(EV_CURRENT) != EV_NONE;
  (void)ready;
}

}  // namespace

Result<std::shared_ptr<const ElfFile>> ElfFile::open_memory(std::string bytes, std::string name) {
  init_libelf();
  std::shared_ptr<ElfFile> f(new ElfFile());
  f->name_ = name;
  Parser p;
  p.name = std::move(name);
  p.file_size = bytes.size();
  p.read_raw = [&bytes](std::uint64_t offset, char* out, std::size_t size) {
    if (offset > bytes.size() || size > bytes.size() - offset) return false;
    std::memcpy(out, bytes.data() + offset, size);
    return true;
  };
  if (auto ok = p.check_header(); !ok) return ok.error();
  ElfCloser closer{elf_memory(bytes.data(), bytes.size())};
  if (!closer.elf) return p.fail("libelf cannot read it: " + libelf_error());
  p.elf = closer.elf;
  if (auto ok = p.parse(*f); !ok) return ok.error();
  f->index();
  // read_code has no file to go back to: keep the bytes of the executable segments, one span from
  // the lowest to the highest (overlapping segments of a hostile file cost no more than the file).
  std::uint64_t lo = bytes.size();
  std::uint64_t hi = 0;
  for (const auto& seg : f->segments_) {
    if (!(seg.flags & PF_X) || seg.offset >= bytes.size() || seg.filesz == 0) continue;
    lo = std::min(lo, seg.offset);
    hi = std::max(hi, seg.offset + std::min<std::uint64_t>(seg.filesz, bytes.size() - seg.offset));
  }
  if (lo < hi) {
    f->code_offset_ = lo;
    f->code_ = bytes.substr(lo, hi - lo);
  }
  return std::shared_ptr<const ElfFile>(std::move(f));
}

namespace {

// Opens `path` for libelf after the header checks. ELF_C_READ: libelf reads what is asked for with
// pread, no mapping (a file truncated under us gives a read error, not SIGBUS) and no copy of the
// whole file.
Result<void> begin_file(const std::string& path, ElfFile::Parser& p, UniqueFd& fd, ElfCloser& elf) {
  init_libelf();
  p.name = path;
  fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return p.fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return p.fail(std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return p.fail("not a regular file");
  p.file_size = static_cast<std::uint64_t>(st.st_size);
  p.identity = identity_of(st);
  p.read_raw = [f = fd.get()](std::uint64_t offset, char* out, std::size_t size) {
    return ::pread(f, out, size, static_cast<off_t>(offset)) == static_cast<ssize_t>(size);
  };
  if (auto ok = p.check_header(); !ok) return ok;
  elf.elf = elf_begin(fd.get(), ELF_C_READ, nullptr);
  if (!elf.elf) return p.fail("libelf cannot read it: " + libelf_error());
  p.elf = elf.elf;
  return {};
}

}  // namespace

Result<std::string> ElfFile::read_build_id(const std::string& path) {
  Parser p;
  UniqueFd fd;
  ElfCloser elf;
  if (auto ok = begin_file(path, p, fd, elf); !ok) return ok.error();
  ElfFile f;
  if (auto ok = p.parse_program_headers(f); !ok) return ok.error();
  return f.build_id_;
}

Result<std::shared_ptr<const ElfFile>> ElfFile::open(const std::string& path, const std::string& debug_root) {
  std::shared_ptr<ElfFile> f(new ElfFile());
  f->name_ = path;
  Parser p;
  UniqueFd fd;
  ElfCloser elf;
  if (auto ok = begin_file(path, p, fd, elf); !ok) return ok.error();
  if (auto ok = p.parse(*f); !ok) return ok.error();
  f->identity_ = p.identity;

  // A stripped file: the symbols of its separate debug file, found by build-id, if installed.
  if (!f->has_symtab_ && f->build_id_.size() > 2 && !debug_root.empty()) {
    std::string root = debug_root;
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    if (root == "/") root.clear();
    const std::string debug_path = root + "/usr/lib/debug/.build-id/" + f->build_id_.substr(0, 2) + "/" +
                                   f->build_id_.substr(2) + ".debug";
    // A missing, broken or mismatched debug file leaves the stripped file's own symbols.
    if (auto debug = ElfFile::open(debug_path, ""); debug && (*debug)->build_id_ == f->build_id_ && (*debug)->has_symtab_) {
      std::unordered_set<std::string> seen;
      for (const auto& s : f->symbols_) seen.insert(s.name + '\0' + std::to_string(s.address));
      for (const auto& s : (*debug)->symbols_) {
        if (!seen.count(s.name + '\0' + std::to_string(s.address))) f->symbols_.push_back(s);
      }
      f->has_symtab_ = true;
      f->debug_file_ = debug_path;
    }
  }
  f->index();
  return std::shared_ptr<const ElfFile>(std::move(f));
}

std::optional<FileIdentity> file_identity(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::nullopt;
  return identity_of(st);
}

std::optional<FileIdentity> file_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return identity_of(st);
}

void ElfFile::index() {
  by_name_.resize(symbols_.size());
  for (std::uint32_t i = 0; i < symbols_.size(); ++i) by_name_[i] = i;
  std::sort(by_name_.begin(), by_name_.end(), [this](std::uint32_t a, std::uint32_t b) {
    const Symbol& x = symbols_[a];
    const Symbol& y = symbols_[b];
    if (x.name != y.name) return x.name < y.name;
    return better(x, y);
  });

  by_address_.clear();
  for (std::uint32_t i = 0; i < symbols_.size(); ++i) {
    if (symbols_[i].type != Symbol::Other) by_address_.push_back(i);
  }
  // At one address the best candidate sorts last: symbol_at walks backwards and takes the first hit.
  const auto quality = [](const Symbol& s) {
    return std::make_tuple(s.size != 0, s.type != Symbol::Object, s.global, s.default_version);
  };
  std::sort(by_address_.begin(), by_address_.end(), [&](std::uint32_t a, std::uint32_t b) {
    const Symbol& x = symbols_[a];
    const Symbol& y = symbols_[b];
    if (x.address != y.address) return x.address < y.address;
    if (quality(x) != quality(y)) return quality(x) < quality(y);
    return x.name > y.name;
  });
  max_end_.resize(by_address_.size());
  std::uint64_t max_end = 0;
  for (std::size_t i = 0; i < by_address_.size(); ++i) {
    const Symbol& s = symbols_[by_address_[i]];
    const std::uint64_t size = std::max<std::uint64_t>(s.size, 1);
    const std::uint64_t end = s.address > std::numeric_limits<std::uint64_t>::max() - size
                                  ? std::numeric_limits<std::uint64_t>::max()
                                  : s.address + size;
    max_end = std::max(max_end, end);
    max_end_[i] = max_end;
  }
}

std::vector<Symbol> ElfFile::find_all(std::string_view name) const {
  const Query q = parse_query(name);
  const auto range = std::equal_range(by_name_.begin(), by_name_.end(), q.name, [this](const auto& a, const auto& b) {
    if constexpr (std::is_same_v<std::decay_t<decltype(a)>, std::uint32_t>) {
      return std::string_view(symbols_[a].name) < b;
    } else {
      return a < std::string_view(symbols_[b].name);
    }
  });
  std::vector<Symbol> out;
  for (auto it = range.first; it != range.second; ++it) {  // already best first
    if (matches(symbols_[*it], q)) out.push_back(symbols_[*it]);
  }
  return out;
}

std::optional<Symbol> ElfFile::find_function(std::string_view name) const {
  for (auto& s : find_all(name)) {
    if (s.type == Symbol::Func || s.type == Symbol::Ifunc) return std::move(s);
  }
  return std::nullopt;
}

const Symbol* ElfFile::symbol_at(std::uint64_t vaddr) const {
  auto it = std::upper_bound(by_address_.begin(), by_address_.end(), vaddr,
                             [this](std::uint64_t v, std::uint32_t i) { return v < symbols_[i].address; });
  // Walk back over the symbols starting at or before vaddr until none earlier can reach it.
  for (auto j = static_cast<std::size_t>(it - by_address_.begin()); j-- > 0;) {
    if (max_end_[j] <= vaddr) break;
    const Symbol& s = symbols_[by_address_[j]];
    if (s.size == 0 ? s.address == vaddr : vaddr - s.address < s.size) return &s;
  }
  return nullptr;
}

std::optional<std::uint64_t> ElfFile::vaddr_to_offset(std::uint64_t vaddr) const {
  for (const auto& seg : segments_) {
    if (vaddr >= seg.vaddr && vaddr - seg.vaddr < seg.filesz) return seg.offset + (vaddr - seg.vaddr);
  }
  return std::nullopt;
}

std::optional<std::vector<std::uint8_t>> ElfFile::read_code(std::uint64_t vaddr, std::size_t n) const {
  const Segment* seg = nullptr;
  for (const auto& s : segments_) {
    if ((s.flags & PF_X) && vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz) {
      seg = &s;
      break;
    }
  }
  if (!seg) return std::nullopt;
  const std::uint64_t delta = vaddr - seg->vaddr;
  if (seg->offset > std::numeric_limits<std::uint64_t>::max() - delta) return std::nullopt;
  const std::uint64_t offset = seg->offset + delta;
  n = static_cast<std::size_t>(std::min<std::uint64_t>({n, kMaxCodeRead, seg->filesz - delta}));

  std::vector<std::uint8_t> out;
  if (!identity_) {  // opened from memory
    if (offset < code_offset_ || offset - code_offset_ >= code_.size()) return std::nullopt;
    const std::uint64_t at = offset - code_offset_;
    const auto* begin = reinterpret_cast<const std::uint8_t*>(code_.data()) + at;
    out.assign(begin, begin + std::min<std::uint64_t>(n, code_.size() - at));
    return out;
  }
  // Opened by path: the same file still, or these bytes would describe another program.
  UniqueFd fd(::open(name_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  if (file_identity(fd.get()) != identity_) return std::nullopt;
  if (offset >= identity_->size) return std::nullopt;
  out.resize(n);
  const ssize_t got = ::pread(fd.get(), out.data(), n, static_cast<off_t>(offset));
  if (got < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(got));
  return out;
}

std::optional<std::uint64_t> ElfFile::offset_to_vaddr(std::uint64_t file_offset) const {
  for (const auto& seg : segments_) {
    if (file_offset >= seg.offset && file_offset - seg.offset < seg.filesz) return seg.vaddr + (file_offset - seg.offset);
  }
  return std::nullopt;
}

}  // namespace zt::symbols
