#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "symbols/process_symbols.h"
#include "symbols/proc_maps.h"
#include "symbols/symbol_cache.h"

extern "C" __attribute__((noinline, used)) int zt_symbols_test_marker(int x) { return x * 13 + 5; }

namespace zt::symbols {
namespace {

TEST(ProcMapsTest, ParsesKernelLines) {
  const auto maps = parse_maps(
      "55d0c0a00000-55d0c0a21000 r-xp 00002000 fd:01 1315874                    /usr/bin/my prog\n"
      "7f1c2a000000-7f1c2a100000 r--p 00000000 103:02 42  /tmp/lib.so (deleted)\n"
      "7ffd5b1e4000-7ffd5b205000 rw-p 00000000 00:00 0                          [stack]\n"
      "7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n"
      "garbage line\n"
      "10-5 r-xp 0 00:00 0 /backwards\n"
      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]");
  ASSERT_EQ(maps.size(), 5u);
  EXPECT_EQ(maps[0].start, 0x55d0c0a00000u);
  EXPECT_EQ(maps[0].end, 0x55d0c0a21000u);
  EXPECT_EQ(maps[0].offset, 0x2000u);
  EXPECT_EQ(maps[0].perms, "r-xp");
  EXPECT_EQ(maps[0].dev_major, 0xfdu);
  EXPECT_EQ(maps[0].dev_minor, 1u);
  EXPECT_EQ(maps[0].inode, 1315874u);
  EXPECT_EQ(maps[0].path, "/usr/bin/my prog");
  EXPECT_FALSE(maps[0].deleted);
  EXPECT_EQ(maps[1].dev_major, 0x103u);
  EXPECT_EQ(maps[1].path, "/tmp/lib.so");
  EXPECT_TRUE(maps[1].deleted);
  EXPECT_EQ(maps[2].path, "[stack]");
  EXPECT_EQ(maps[3].path, "");
  EXPECT_FALSE(maps[3].file_backed());
  const auto exec = executable_mappings(maps);
  ASSERT_EQ(exec.size(), 1u);
  EXPECT_EQ(exec[0].path, "/usr/bin/my prog");
}

TEST(ProcMapsTest, PathInProcess) {
  EXPECT_EQ(path_in_process(42, "/usr/lib/libc.so.6"), "/proc/42/root/usr/lib/libc.so.6");
  EXPECT_EQ(path_in_process(7, "/a", "/host/proc"), "/host/proc/7/root/a");
}

TEST(ProcMapsTest, OwnMapsAndRuntimeAddress) {
  auto maps = read_maps(static_cast<std::uint32_t>(::getpid()));
  ASSERT_TRUE(maps.ok());
  const auto addr = reinterpret_cast<std::uint64_t>(&zt_symbols_test_marker);
  const Mapping* found = nullptr;
  for (const auto& m : maps.value()) {
    if (addr >= m.start && addr < m.end) found = &m;
  }
  ASSERT_NE(found, nullptr);
  EXPECT_TRUE(found->executable());
  auto elf = ElfFile::open(path_in_process(static_cast<std::uint32_t>(::getpid()), found->path));
  ASSERT_TRUE(elf.ok()) << elf.error().message;
  const auto vaddr = runtime_to_vaddr(*found, *elf.value(), addr);
  ASSERT_TRUE(vaddr);
  EXPECT_EQ(vaddr, elf.value()->find_function("zt_symbols_test_marker")->address);
  EXPECT_FALSE(runtime_to_vaddr(*found, *elf.value(), found->end));
  EXPECT_FALSE(read_maps(0xfffffff0u).ok());
}

std::string test_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("zt-symbols-" + std::to_string(::getpid()) + "-" + name)).string();
}

TEST(SymbolsCacheTest, SameFileThroughOtherPathsIsParsedOnce) {
  SymbolCache cache(4);
  auto a = cache.get(ZT_ELF_VERSIONED);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(cache.stats().misses, 1u);
  // Same inode through the process's root, and a copy (another inode) with the same build-id.
  auto b = cache.get(path_in_process(static_cast<std::uint32_t>(::getpid()), ZT_ELF_VERSIONED));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.value(), a.value());
  const std::string copy = test_path("copy.so");
  std::filesystem::copy_file(ZT_ELF_VERSIONED, copy, std::filesystem::copy_options::overwrite_existing);
  auto c = cache.get(copy);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value(), a.value());
  EXPECT_EQ(cache.stats().hits, 2u);
  EXPECT_EQ(cache.stats().misses, 1u);
  EXPECT_EQ(cache.size(), 1u);
  std::filesystem::remove(copy);

  EXPECT_FALSE(cache.get("/nonexistent/x.so").ok());
  const std::string text = test_path("text");
  std::ofstream(text) << "not elf";
  EXPECT_FALSE(cache.get(text).ok());
  std::filesystem::remove(text);
  EXPECT_EQ(cache.stats().errors, 2u);
}

TEST(SymbolsCacheTest, LeastRecentlyUsedGoesFirst) {
  SymbolCache cache(2);
  ASSERT_TRUE(cache.get(ZT_ELF_PIE).ok());
  ASSERT_TRUE(cache.get(ZT_ELF_NOPIE).ok());
  ASSERT_TRUE(cache.get(ZT_ELF_PIE).ok());  // now most recent
  ASSERT_TRUE(cache.get(ZT_ELF_VERSIONED).ok());  // evicts the non-PIE one
  EXPECT_EQ(cache.size(), 2u);
  const auto misses = cache.stats().misses;
  ASSERT_TRUE(cache.get(ZT_ELF_PIE).ok());
  EXPECT_EQ(cache.stats().misses, misses);
  ASSERT_TRUE(cache.get(ZT_ELF_NOPIE).ok());
  EXPECT_EQ(cache.stats().misses, misses + 1);
}

// A /proc holding one process (pid 1) whose maps a test writes.
class FakeProcRoot {
 public:
  FakeProcRoot() : root_(test_path("proc")) { std::filesystem::create_directories(root_ + "/1"); }
  ~FakeProcRoot() { std::filesystem::remove_all(root_); }
  void maps(const std::string& text) { std::ofstream(root_ + "/1/maps") << text; }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

TEST(SymbolsProcessTest, ResolvesOwnAndLaterLoadedCode) {
  SymbolCache cache;
  ProcessSymbolizer symbolizer(static_cast<std::uint32_t>(::getpid()), cache);
  const auto marker = reinterpret_cast<std::uint64_t>(&zt_symbols_test_marker);
  auto r = symbolizer.resolve(marker + 3);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->symbol, "zt_symbols_test_marker");
  EXPECT_EQ(r->offset, 3u);

  // A library loaded after the maps were read: found by re-reading them.
  void* h = ::dlopen(ZT_ELF_VERSIONED, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(h, nullptr);
  const auto v1 = reinterpret_cast<std::uint64_t>(::dlvsym(h, "zt_versioned", "VER_1"));
  auto lib = symbolizer.resolve(v1);
  ASSERT_TRUE(lib);
  EXPECT_EQ(lib->symbol, "zt_versioned");  // the exported name wins over the local zt_versioned_v1 alias
  EXPECT_EQ(lib->offset, 0u);
  EXPECT_EQ(lib->module, std::filesystem::canonical(ZT_ELF_VERSIONED).string());
  ::dlclose(h);

  // A C++ name comes back demangled as well.
  auto self = symbolizer.resolve(reinterpret_cast<std::uint64_t>(&path_in_process));
  ASSERT_TRUE(self);
  EXPECT_EQ(self->demangled.rfind("zt::symbols::path_in_process(", 0), 0u) << self->demangled;
  EXPECT_FALSE(symbolizer.resolve(8));
}

TEST(SymbolsProcessTest, ModulesCarryTheirLoadBias) {
  SymbolCache cache;
  ProcessSymbolizer symbolizer(static_cast<std::uint32_t>(::getpid()), cache);
  const auto marker = reinterpret_cast<std::uint64_t>(&zt_symbols_test_marker);
  const auto r = symbolizer.resolve(marker);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->elf);
  // Another symbol of the same file, at its runtime address through the same bias.
  const auto sym = r->elf->find_function("zt_symbols_test_marker");
  ASSERT_TRUE(sym);
  EXPECT_EQ(sym->address + r->bias, marker);

  const auto modules = symbolizer.modules();
  std::set<std::pair<std::uint64_t, std::uint64_t>> files;
  const LoadedModule* own = nullptr;
  for (const auto& m : modules) {
    EXPECT_TRUE(m.mapping.executable());
    EXPECT_TRUE(files.emplace(m.mapping.dev_major * 1000 + m.mapping.dev_minor, m.mapping.inode).second)
        << "listed twice: " << m.mapping.path;
    if (m.elf == r->elf) own = &m;
  }
  ASSERT_NE(own, nullptr);
  EXPECT_EQ(own->bias, r->bias);
}

TEST(SymbolsProcessTest, AddressesOutsideTheMapsCanBeLeftUnread) {
  FakeProcRoot proc;
  proc.maps("00400000-00401000 r-xp 00000000 fd:01 7 /bin/x\n");
  SymbolCache cache;
  ProcessSymbolizer symbolizer(1, cache, proc.root());
  EXPECT_FALSE(symbolizer.resolve(0x500000, false));
  // A library mapped later: found when the maps are read again, not before.
  proc.maps("00400000-00401000 r-xp 00000000 fd:01 7 /bin/x\n"
            "00500000-00501000 r-xp 00000000 fd:01 8 /lib/y.so\n");
  EXPECT_FALSE(symbolizer.resolve(0x500000, false));
  EXPECT_EQ(symbolizer.mappings().size(), 1u);
  EXPECT_FALSE(symbolizer.resolve(0x500000));  // no such file under the fake root
  EXPECT_EQ(symbolizer.mappings().size(), 2u);
}

TEST(SymbolsProcessTest, FilesOfMappingsAndLoadBias) {
  Mapping m;
  m.start = 0x7f0000001000;
  m.end = 0x7f0000003000;
  m.path = "/usr/lib/x.so";
  EXPECT_EQ(mapping_file_path(9, m, "/p"), "/p/9/root/usr/lib/x.so");
  m.deleted = true;
  EXPECT_EQ(mapping_file_path(9, m, "/p"), "/p/9/map_files/7f0000001000-7f0000003000");

  auto elf = ElfFile::open(ZT_ELF_VERSIONED);
  ASSERT_TRUE(elf);
  const auto func = elf.value()->find_function("zt_lib_func");
  ASSERT_TRUE(func);
  // The library's executable mapping in a process that loaded it at 0x7f0000000000.
  const Segment* text = nullptr;
  for (const auto& seg : elf.value()->segments()) {
    if (seg.flags & 1) text = &seg;  // PF_X
  }
  ASSERT_NE(text, nullptr);
  m.offset = text->offset & ~0xfffull;
  m.start = 0x7f0000000000 + (text->vaddr & ~0xfffull);
  EXPECT_EQ(load_bias(m, *elf.value()), 0x7f0000000000u);
  m.offset = 0x7fffffff000;  // beyond every segment
  EXPECT_FALSE(load_bias(m, *elf.value()));
}

}  // namespace
}  // namespace zt::symbols
