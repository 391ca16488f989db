// ElfFile against files the build made (tests/fixtures/elf): addresses are checked against what
// the programs print about themselves and what the dynamic loader returns, not only "found".
#include <dlfcn.h>
#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "support/privileges.h"
#include "symbols/demangle.h"
#include "symbols/elf_file.h"
#include "symbols/proc_maps.h"

namespace zt::symbols {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// What a fixture program prints: "name hex-vaddr" per line.
std::map<std::string, std::uint64_t> run_fixture(const std::string& path) {
  std::map<std::string, std::uint64_t> out;
  FILE* p = ::popen(path.c_str(), "r");
  if (!p) return out;
  char name[256];
  unsigned long long addr = 0;
  while (std::fscanf(p, "%255s %llx", name, &addr) == 2) out[name] = addr;
  ::pclose(p);
  return out;
}

std::shared_ptr<const ElfFile> must_open(const std::string& path, const std::string& debug_root = "/") {
  auto f = ElfFile::open(path, debug_root);
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
  return f.ok() ? f.value() : nullptr;
}

void check_program(const std::string& path, bool pie) {
  const auto printed = run_fixture(path);
  ASSERT_EQ(printed.size(), 5u) << path;
  auto f = must_open(path);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->is_dyn(), pie);
  EXPECT_EQ(f->elf_type(), pie ? ET_DYN : ET_EXEC);
  EXPECT_EQ(f->build_id().size(), 40u);  // SHA-1, ld's default
  EXPECT_TRUE(f->has_symtab());

  const auto global = f->find_function("zt_fixture_global");
  ASSERT_TRUE(global);
  EXPECT_EQ(global->address, printed.at("zt_fixture_global"));
  EXPECT_TRUE(global->global);
  EXPECT_EQ(global->type, Symbol::Func);
  EXPECT_GT(global->size, 0u);

  const auto local = f->find_function("zt_fixture_local");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->address, printed.at("zt_fixture_local"));
  EXPECT_FALSE(local->global);

  // An IFUNC symbol's address is its resolver's.
  const auto ifunc = f->find_function("zt_fixture_ifunc");
  ASSERT_TRUE(ifunc);
  EXPECT_EQ(ifunc->type, Symbol::Ifunc);
  EXPECT_EQ(ifunc->address, printed.at("zt_fixture_ifunc_resolver"));

  EXPECT_FALSE(f->find_function("zt_fixture_object"));  // not a function
  const auto objects = f->find_all("zt_fixture_object");
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].type, Symbol::Object);
  EXPECT_EQ(objects[0].address, printed.at("zt_fixture_object"));
  EXPECT_EQ(objects[0].size, 16 * sizeof(int));

  const auto scale = f->find_function("_ZN2zt7fixture5scaleEdi");
  ASSERT_TRUE(scale);
  EXPECT_EQ(scale->address, printed.at("zt::fixture::scale"));
  EXPECT_EQ(demangle(scale->name), "zt::fixture::scale(double, int)");

  // By address: inside a function, inside an object, and nowhere.
  const Symbol* at = f->symbol_at(scale->address + scale->size - 1);
  ASSERT_NE(at, nullptr);
  EXPECT_EQ(at->name, scale->name);
  at = f->symbol_at(objects[0].address + 8);
  ASSERT_NE(at, nullptr);
  EXPECT_EQ(at->name, "zt_fixture_object");
  EXPECT_EQ(f->symbol_at(0), nullptr);

  // The uprobe offset maps back to the address, and lies in the executable segment.
  const auto off = f->file_offset(*global);
  ASSERT_TRUE(off);
  EXPECT_EQ(f->offset_to_vaddr(*off), global->address);
  bool in_text = false;
  for (const auto& seg : f->segments()) {
    in_text |= (seg.flags & PF_X) && *off >= seg.offset && *off < seg.offset + seg.filesz;
  }
  EXPECT_TRUE(in_text);
}

TEST(ElfFileTest, PieExecutable) { check_program(ZT_ELF_PIE, true); }
TEST(ElfFileTest, FixedAddressExecutable) { check_program(ZT_ELF_NOPIE, false); }

TEST(ElfFileTest, CompressedDebugSectionsChangeNothing) {
  auto plain = must_open(ZT_ELF_PIE);
  auto compressed = must_open(std::string(ZT_ELF_FIXTURES_DIR) + "/zt_elf_pie.zdebug");
  ASSERT_TRUE(plain && compressed);
  EXPECT_EQ(compressed->build_id(), plain->build_id());
  for (const char* name : {"zt_fixture_global", "zt_fixture_local", "_ZN2zt7fixture5scaleEdi"}) {
    ASSERT_TRUE(compressed->find_function(name)) << name;
    EXPECT_EQ(compressed->find_function(name)->address, plain->find_function(name)->address);
  }
}

TEST(ElfFileTest, StrippedExecutableKeepsOnlyDynamicSymbols) {
  auto f = must_open(std::string(ZT_ELF_FIXTURES_DIR) + "/zt_elf_pie.stripped", "");
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->has_symtab());
  EXPECT_FALSE(f->find_function("zt_fixture_local"));
  EXPECT_EQ(f->build_id(), must_open(ZT_ELF_PIE)->build_id());
}

// The shared library as the dynamic loader sees it: dlsym/dlvsym addresses, through
// /proc/self/maps and runtime_to_vaddr, must be the addresses ElfFile finds.
class ElfLoadedLibraryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    handle_ = ::dlopen(ZT_ELF_VERSIONED, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << ::dlerror();
    auto maps = read_maps(static_cast<std::uint32_t>(::getpid()));
    ASSERT_TRUE(maps.ok());
    maps_ = maps.value();
    elf_ = must_open(ZT_ELF_VERSIONED);
    ASSERT_TRUE(elf_);
  }
  void TearDown() override {
    if (handle_) ::dlclose(handle_);
  }
  // The mapping of our library holding runtime address `addr`.
  const Mapping* mapping_of(std::uint64_t addr) const {
    const auto real = std::filesystem::canonical(ZT_ELF_VERSIONED).string();
    for (const auto& m : maps_) {
      if (addr >= m.start && addr < m.end && m.path == real) return &m;
    }
    return nullptr;
  }
  void expect_same(const void* runtime, const std::optional<Symbol>& found) {
    ASSERT_NE(runtime, nullptr);
    ASSERT_TRUE(found);
    const auto addr = reinterpret_cast<std::uint64_t>(runtime);
    const Mapping* m = mapping_of(addr);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(runtime_to_vaddr(*m, *elf_, addr), found->address);
    EXPECT_EQ(elf_->file_offset(*found), addr - m->start + m->offset);
  }

  void* handle_ = nullptr;
  std::vector<Mapping> maps_;
  std::shared_ptr<const ElfFile> elf_;
};

TEST_F(ElfLoadedLibraryTest, VersionedSymbols) {
  EXPECT_TRUE(elf_->is_dyn());
  const auto plain = elf_->find_function("zt_versioned");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->version, "VER_2");
  EXPECT_TRUE(plain->default_version);
  expect_same(::dlsym(handle_, "zt_versioned"), plain);
  expect_same(::dlsym(handle_, "zt_versioned"), elf_->find_function("zt_versioned@@VER_2"));
  expect_same(::dlsym(handle_, "zt_versioned"), elf_->find_function("zt_versioned@VER_2"));

  const auto v1 = elf_->find_function("zt_versioned@VER_1");
  ASSERT_TRUE(v1);
  EXPECT_FALSE(v1->default_version);
  EXPECT_NE(v1->address, plain->address);
  expect_same(::dlvsym(handle_, "zt_versioned", "VER_1"), v1);
  EXPECT_FALSE(elf_->find_function("zt_versioned@@VER_1"));
  EXPECT_FALSE(elf_->find_function("zt_versioned@VER_3"));
  EXPECT_EQ(elf_->find_all("zt_versioned").size(), 2u);
}

TEST_F(ElfLoadedLibraryTest, FunctionsObjectsAndLocals) {
  const auto func = elf_->find_function("zt_lib_func");
  ASSERT_TRUE(func);
  EXPECT_EQ(func->version, "VER_2");
  expect_same(::dlsym(handle_, "zt_lib_func"), func);
  const auto data = elf_->find_all("zt_lib_data");
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0].type, Symbol::Object);
  expect_same(::dlsym(handle_, "zt_lib_data"), data[0]);
  // Hidden by the version script, still in .symtab.
  const auto local = elf_->find_function("zt_lib_local");
  ASSERT_TRUE(local);
  EXPECT_FALSE(local->global);
  EXPECT_EQ(::dlsym(handle_, "zt_lib_local"), nullptr);
  // .symtab and .dynsym both list zt_lib_func: one entry.
  EXPECT_EQ(elf_->find_all("zt_lib_func").size(), 1u);
}

// read_code gives the bytes the loader mapped, whether the file was opened by path or from memory,
// and nothing outside the executable segment.
TEST_F(ElfLoadedLibraryTest, ReadCodeIsWhatTheLoaderMapped) {
  const auto func = elf_->find_function("zt_lib_func");
  ASSERT_TRUE(func);
  const auto code = elf_->read_code(func->address, 32);
  ASSERT_TRUE(code);
  ASSERT_GE(code->size(), 8u);  // the function is near the end of the small library's text
  ASSERT_LE(code->size(), 32u);
  const auto* loaded = static_cast<const std::uint8_t*>(::dlsym(handle_, "zt_lib_func"));
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(std::memcmp(code->data(), loaded, code->size()), 0);
  auto copy = ElfFile::open_memory(read_file(ZT_ELF_VERSIONED), "copy");
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy.value()->read_code(func->address, 32), code);

  const auto data = elf_->find_all("zt_lib_data");
  ASSERT_EQ(data.size(), 1u);
  EXPECT_FALSE(elf_->read_code(data[0].address, 4));  // data, not code
  EXPECT_FALSE(copy.value()->read_code(data[0].address, 4));
  EXPECT_FALSE(elf_->read_code(0xffffffffffffff00ull, 4));

  const auto text = std::find_if(elf_->segments().begin(), elf_->segments().end(),
                                 [](const Segment& s) { return (s.flags & PF_X) != 0; });
  ASSERT_NE(text, elf_->segments().end());
  EXPECT_EQ(elf_->read_code(text->vaddr, 1 << 20)->size(), std::min<std::uint64_t>(kMaxCodeRead, text->filesz));
  const std::uint64_t end = text->vaddr + text->filesz;
  EXPECT_EQ(elf_->read_code(end - 3, 16)->size(), 3u);  // cut at the segment's end
  EXPECT_EQ(copy.value()->read_code(end - 3, 16), elf_->read_code(end - 3, 16));
  EXPECT_FALSE(elf_->read_code(end, 1));
  EXPECT_EQ(elf_->read_code(func->address, 0)->size(), 0u);
}

// A file opened by path is read again, and only while it is still the file that was parsed.
TEST(ElfFileTest, ReadCodeOnlyFromTheFileParsed) {
  const auto path = std::filesystem::temp_directory_path() / ("zt-read-code-" + std::to_string(::getpid()) + ".so");
  std::filesystem::copy_file(ZT_ELF_VERSIONED, path, std::filesystem::copy_options::overwrite_existing);
  auto f = must_open(path.string());
  ASSERT_TRUE(f);
  const auto func = f->find_function("zt_lib_func");
  ASSERT_TRUE(func);
  EXPECT_TRUE(f->read_code(func->address, 16));
  std::ofstream(path, std::ios::app) << "x";  // rewritten: another size
  EXPECT_FALSE(f->read_code(func->address, 16));
  std::filesystem::remove(path);
  EXPECT_FALSE(f->read_code(func->address, 16));
}

TEST(ElfFileTest, StrippedLibraryWithSeparateDebugFile) {
  const std::string stripped = std::string(ZT_ELF_FIXTURES_DIR) + "/libzt_elf_versioned.stripped.so";
  auto bare = must_open(stripped, "");
  ASSERT_TRUE(bare);
  EXPECT_FALSE(bare->has_symtab());
  EXPECT_FALSE(bare->find_function("zt_lib_local"));
  EXPECT_TRUE(bare->find_function("zt_versioned@VER_1"));  // .dynsym survives strip

  // <root>/usr/lib/debug/.build-id/xx/rest.debug, as distributions install -dbg packages.
  const auto root = std::filesystem::temp_directory_path() / ("zt-debug-root-" + std::to_string(::getpid()));
  const auto dir = root / "usr/lib/debug/.build-id" / bare->build_id().substr(0, 2);
  std::filesystem::create_directories(dir);
  const auto debug = dir / (bare->build_id().substr(2) + ".debug");
  std::filesystem::copy_file(std::string(ZT_ELF_FIXTURES_DIR) + "/libzt_elf_versioned.debug", debug,
                             std::filesystem::copy_options::overwrite_existing);
  auto merged = must_open(stripped, root.string());
  std::filesystem::remove_all(root);
  ASSERT_TRUE(merged);
  EXPECT_TRUE(merged->has_symtab());
  EXPECT_EQ(merged->debug_file(), debug.string());
  const auto local = merged->find_function("zt_lib_local");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->address, must_open(ZT_ELF_VERSIONED)->find_function("zt_lib_local")->address);
  EXPECT_EQ(merged->find_all("zt_lib_func").size(), 1u);  // in both files, listed once
}

TEST(ElfFileTest, OpenErrors) {
  auto missing = ElfFile::open("/nonexistent/zt.so");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("cannot open"), std::string::npos);
  auto dir = ElfFile::open("/");
  ASSERT_FALSE(dir.ok());
  auto text = ElfFile::open_memory("#!/bin/sh\necho hello\n", "script");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().message, "script: not an ELF file");
}

// ---- Hostile files: edits of a real one. Every case must give an Error (or a harmless result),
// never a crash, hang or huge allocation (this suite also runs under ASan/UBSan).

struct ElfBytes {
  std::string b;
  Elf64_Ehdr ehdr() const { return get<Elf64_Ehdr>(0); }
  template <typename T>
  T get(std::uint64_t off) const {
    T v;
    std::memcpy(&v, b.data() + off, sizeof v);
    return v;
  }
  template <typename T>
  void set(std::uint64_t off, const T& v) {
    std::memcpy(b.data() + off, &v, sizeof v);
  }
  std::uint64_t shdr_offset(std::size_t i) const { return ehdr().e_shoff + i * sizeof(Elf64_Shdr); }
  Elf64_Shdr shdr(std::size_t i) const { return get<Elf64_Shdr>(shdr_offset(i)); }
  void set_shdr(std::size_t i, const Elf64_Shdr& s) { set(shdr_offset(i), s); }
  std::size_t section(const std::string& name) const {
    const auto strtab = shdr(ehdr().e_shstrndx);
    for (std::size_t i = 1; i < ehdr().e_shnum; ++i) {
      if (name == b.data() + strtab.sh_offset + shdr(i).sh_name) return i;
    }
    return 0;
  }
};

ElfBytes pie_bytes() { return ElfBytes{read_file(ZT_ELF_PIE)}; }

std::string open_error(const std::string& bytes) {
  auto f = ElfFile::open_memory(bytes, "hostile");
  return f.ok() ? std::string() : f.error().message;
}

TEST(ElfCorruptTest, Truncated) {
  const std::string full = pie_bytes().b;
  ASSERT_TRUE(ElfFile::open_memory(full, "full").ok());
  for (std::size_t size : {std::size_t{0}, std::size_t{4}, std::size_t{16}, std::size_t{52}, std::size_t{63},
                           std::size_t{64}, std::size_t{200}, std::size_t{4096}, full.size() / 2, full.size() - 1}) {
    EXPECT_FALSE(open_error(full.substr(0, size)).empty()) << size;
  }
  for (std::size_t size = 0; size < full.size(); size += 97) (void)ElfFile::open_memory(full.substr(0, size), "cut");
}

TEST(ElfCorruptTest, HeaderTablesOutOfFile) {
  auto e = pie_bytes();
  auto h = e.ehdr();
  h.e_shoff = e.b.size() + 100;
  e.set(0, h);
  EXPECT_EQ(open_error(e.b), "hostile: section header table beyond end of file");

  e = pie_bytes();
  h = e.ehdr();
  h.e_shnum = 0xffff;
  e.set(0, h);
  EXPECT_NE(open_error(e.b).find("section header table beyond end of file"), std::string::npos);

  e = pie_bytes();
  h = e.ehdr();
  h.e_phoff = e.b.size() - 10;
  e.set(0, h);
  EXPECT_EQ(open_error(e.b), "hostile: program header table beyond end of file");

  e = pie_bytes();
  h = e.ehdr();
  h.e_shentsize = 20;
  e.set(0, h);
  EXPECT_NE(open_error(e.b).find("section header entry size"), std::string::npos);

  // Extended numbering: e_shnum 0, the count in section 0, absurdly large.
  e = pie_bytes();
  h = e.ehdr();
  h.e_shnum = 0;
  e.set(0, h);
  auto s0 = e.shdr(0);
  s0.sh_size = 1ull << 40;
  e.set_shdr(0, s0);
  EXPECT_NE(open_error(e.b).find("beyond end of file"), std::string::npos);
}

TEST(ElfCorruptTest, SymbolTableDamage) {
  auto e = pie_bytes();
  const std::size_t symtab = e.section(".symtab");
  ASSERT_NE(symtab, 0u);

  auto s = e.shdr(symtab);
  s.sh_link = 9999;
  e.set_shdr(symtab, s);
  EXPECT_NE(open_error(e.b).find("is not a string table"), std::string::npos);

  e = pie_bytes();
  s = e.shdr(symtab);
  s.sh_size -= 1;
  e.set_shdr(symtab, s);
  EXPECT_NE(open_error(e.b).find("not a multiple of the entry size"), std::string::npos);

  e = pie_bytes();
  s = e.shdr(symtab);
  s.sh_entsize = 7;
  e.set_shdr(symtab, s);
  EXPECT_NE(open_error(e.b).find("entry size 7"), std::string::npos);

  e = pie_bytes();
  s = e.shdr(symtab);
  s.sh_offset = e.b.size() - 24;
  e.set_shdr(symtab, s);
  EXPECT_NE(open_error(e.b).find("beyond end of file"), std::string::npos);

  // The string table runs past the end of the file.
  e = pie_bytes();
  const std::size_t strtab = e.shdr(symtab).sh_link;
  auto st = e.shdr(strtab);
  st.sh_offset = e.b.size() - 10;
  e.set_shdr(strtab, st);
  EXPECT_NE(open_error(e.b).find("beyond end of file"), std::string::npos);

  // Names beyond the string table: those symbols are dropped, the rest still read.
  e = pie_bytes();
  s = e.shdr(symtab);
  for (std::uint64_t off = s.sh_offset + sizeof(Elf64_Sym); off < s.sh_offset + s.sh_size; off += 2 * sizeof(Elf64_Sym)) {
    auto sym = e.get<Elf64_Sym>(off);
    sym.st_name = 0xfffffff0;
    e.set(off, sym);
  }
  auto f = ElfFile::open_memory(e.b, "names");
  ASSERT_TRUE(f.ok());
  EXPECT_LT(f.value()->symbols().size(), must_open(ZT_ELF_PIE)->symbols().size());
}

// Rewrites section `index` as SHF_COMPRESSED with the given header and payload, at the file's end.
void compress_section(ElfBytes& e, std::size_t index, const Elf64_Chdr& chdr, const std::string& payload) {
  while (e.b.size() % 8) e.b += '\0';
  auto s = e.shdr(index);
  s.sh_offset = e.b.size();
  s.sh_size = sizeof chdr + payload.size();
  s.sh_flags |= SHF_COMPRESSED;
  s.sh_addralign = 8;
  e.b.append(reinterpret_cast<const char*>(&chdr), sizeof chdr);
  e.b += payload;
  e.set_shdr(index, s);
}

std::string zlib(std::string_view in) {
  uLongf size = compressBound(in.size());
  std::string out(size, '\0');
  compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(in.data()), in.size(), 9);
  out.resize(size);
  return out;
}

TEST(ElfCorruptTest, CompressedSymbolTable) {
  const auto plain = must_open(ZT_ELF_PIE);
  auto e = pie_bytes();
  const std::size_t symtab = e.section(".symtab");
  const auto s = e.shdr(symtab);
  const std::string contents = e.b.substr(s.sh_offset, s.sh_size);
  const Elf64_Chdr good{ELFCOMPRESS_ZLIB, 0, contents.size(), 8};

  ElfBytes ok = e;
  compress_section(ok, symtab, good, zlib(contents));
  auto f = ElfFile::open_memory(ok.b, "compressed");
  ASSERT_TRUE(f.ok()) << f.error().message;
  ASSERT_TRUE(f.value()->find_function("zt_fixture_local"));
  EXPECT_EQ(f.value()->find_function("zt_fixture_local")->address, plain->find_function("zt_fixture_local")->address);

  ElfBytes garbage = e;
  compress_section(garbage, symtab, good, std::string(200, 'x'));
  EXPECT_NE(open_error(garbage.b).find("corrupt zlib data"), std::string::npos);

  ElfBytes short_data = e;
  compress_section(short_data, symtab, good, zlib(contents.substr(0, contents.size() / 2)));
  EXPECT_NE(open_error(short_data.b).find("does not decompress to"), std::string::npos);

  ElfBytes huge = e;
  compress_section(huge, symtab, Elf64_Chdr{ELFCOMPRESS_ZLIB, 0, 1ull << 40, 8}, zlib(contents));
  EXPECT_NE(open_error(huge.b).find("over the limit"), std::string::npos);

  ElfBytes bomb_claim = e;  // within the limit, but more than this input could ever expand to
  compress_section(bomb_claim, symtab, Elf64_Chdr{ELFCOMPRESS_ZLIB, 0, 200u << 20, 8}, zlib(contents));
  EXPECT_NE(open_error(bomb_claim.b).find("more than zlib can expand"), std::string::npos);

  ElfBytes zstd = e;
  compress_section(zstd, symtab, Elf64_Chdr{2, 0, contents.size(), 8}, zlib(contents));
  EXPECT_NE(open_error(zstd.b).find("not supported"), std::string::npos);
}

// What any open of damaged bytes must give: an Error that names the input and says why, or an
// ElfFile whose indexes agree with its symbols. Counts the outcomes.
struct OpenOutcomes {
  int failed = 0;
  int opened = 0;
};

void check_damaged_open(std::string bytes, const std::string& name, OpenOutcomes& outcomes) {
  const auto f = ElfFile::open_memory(std::move(bytes), name);
  if (!f.ok()) {
    ++outcomes.failed;
    const std::string& message = f.error().message;
    EXPECT_EQ(message.rfind(name + ": ", 0), 0u) << message;
    EXPECT_GT(message.size(), name.size() + 2) << "an error without a reason";
    return;
  }
  ++outcomes.opened;
  const ElfFile& elf = *f.value();
  ASSERT_LE(elf.symbols().size(), kMaxSymbols);
  for (const Symbol& s : elf.symbols()) {
    if (s.type == Symbol::Other) continue;
    // Every addressable symbol is found at its own address by something that covers it.
    const Symbol* at = elf.symbol_at(s.address);
    ASSERT_NE(at, nullptr) << name << ": " << s.name << " at 0x" << std::hex << s.address;
    EXPECT_LE(at->address, s.address);
    EXPECT_TRUE(at->size == 0 ? at->address == s.address : s.address - at->address < at->size);
    // Code is read from an executable segment only, and never more than asked.
    if (const auto code = elf.read_code(s.address, 64)) {
      EXPECT_LE(code->size(), 64u);
      EXPECT_TRUE(std::any_of(elf.segments().begin(), elf.segments().end(), [&](const Segment& seg) {
        return (seg.flags & PF_X) && s.address >= seg.vaddr && s.address - seg.vaddr < seg.filesz;
      }));
    }
  }
}

TEST(ElfCorruptTest, RandomAndFlippedBytes) {
  std::mt19937 rng(42);
  const std::string full = pie_bytes().b;
  OpenOutcomes random_outcomes;
  for (int round = 0; round < 200; ++round) {
    std::string random(64 + rng() % 4096, '\0');
    for (auto& c : random) c = static_cast<char>(rng());
    std::memcpy(random.data(), full.data(), 16);  // a valid ident, so the rest gets parsed
    check_damaged_open(std::move(random), "random", random_outcomes);
  }
  EXPECT_EQ(random_outcomes.failed, 200);  // random headers point past the end of the bytes
  // Every byte of the headers and section header table, set to 0xff in turn.
  const auto e = pie_bytes();
  std::vector<std::uint64_t> positions;
  for (std::uint64_t i = 0; i < sizeof(Elf64_Ehdr); ++i) positions.push_back(i);
  for (std::uint64_t i = e.ehdr().e_shoff; i < full.size(); ++i) positions.push_back(i);
  OpenOutcomes flipped_outcomes;
  for (const auto pos : positions) {
    std::string damaged = full;
    damaged[pos] = static_cast<char>(0xff);
    check_damaged_open(std::move(damaged), "flipped", flipped_outcomes);
  }
  // Both outcomes happen: some bytes are fatal (e_shoff, sizes), others harmless (flags, padding).
  EXPECT_GT(flipped_outcomes.failed, 0);
  EXPECT_GT(flipped_outcomes.opened, 0);
}

// ---- CUDA: a program built by nvcc with static and with shared cudart, and libcudart itself.

#ifdef ZT_ELF_CUDA_STATIC
constexpr bool kHaveNvcc = true;
#else
constexpr bool kHaveNvcc = false;
#define ZT_ELF_CUDA_STATIC ""
#define ZT_ELF_CUDA_SHARED ""
#define ZT_CUDA_LIBCUDART ""
#endif

void check_kernel_stub(const ElfFile& f) {
  const auto stub = f.find_function("_Z6vecAddPKfS0_Pfi");
  ASSERT_TRUE(stub);
  const Symbol* at = f.symbol_at(stub->address);
  ASSERT_NE(at, nullptr);
  EXPECT_EQ(at->name, "_Z6vecAddPKfS0_Pfi");
  EXPECT_EQ(demangle(at->name), "vecAdd(float const*, float const*, float*, int)");
  EXPECT_TRUE(f.file_offset(*stub));
}

TEST(ElfCudaTest, StaticCudart) {
  if (!kHaveNvcc) {
    // CI machines have the CUDA toolkit (docs/testing.md): a build without it there is a broken setup.
    if (::zt::testing::in_ci()) FAIL() << "CI=true but built without nvcc: the CUDA fixtures are missing";
    GTEST_SKIP() << "*** NOT RUN: built without nvcc (set CUDA_HOME): no CUDA fixtures ***";
  }
  auto f = must_open(ZT_ELF_CUDA_STATIC);
  ASSERT_TRUE(f);
  check_kernel_stub(*f);
  // CUDA 13's static cudart: the launch entry point is a LOCAL symbol of the executable.
  auto launch = f->find_function("__cudaLaunchKernel");
  if (launch) {
    EXPECT_FALSE(launch->global);
  } else {
    launch = f->find_function("cudaLaunchKernel");
  }
  ASSERT_TRUE(launch);
  const auto off = f->file_offset(*launch);
  ASSERT_TRUE(off);
  EXPECT_EQ(f->offset_to_vaddr(*off), launch->address);
}

TEST(ElfCudaTest, SharedCudart) {
  if (!kHaveNvcc) {
    // CI machines have the CUDA toolkit (platform.md): a build without it there is a broken setup.
    if (::zt::testing::in_ci()) FAIL() << "CI=true but built without nvcc: the CUDA fixtures are missing";
    GTEST_SKIP() << "*** NOT RUN: built without nvcc (set CUDA_HOME): no CUDA fixtures ***";
  }
  auto program = must_open(ZT_ELF_CUDA_SHARED);
  ASSERT_TRUE(program);
  check_kernel_stub(*program);
  EXPECT_FALSE(program->find_function("cudaLaunchKernel"));  // imported, undefined here

  auto cudart = must_open(ZT_CUDA_LIBCUDART);
  ASSERT_TRUE(cudart);
  const auto launch = cudart->find_function("cudaLaunchKernel");
  ASSERT_TRUE(launch);
  EXPECT_EQ(launch->version, "libcudart.so.13");
  EXPECT_TRUE(launch->default_version);
  EXPECT_TRUE(launch->global);
  const auto exact = cudart->find_function("cudaLaunchKernel@@libcudart.so.13");
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->address, launch->address);
  EXPECT_TRUE(cudart->file_offset(*launch));
}

}  // namespace
}  // namespace zt::symbols
