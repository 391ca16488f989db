// TLS probe sites (agent/tls/tls_sites.h): the rules on small shared objects built in memory, and
// the plans for the OpenSSL builds installed here (Debian's libssl3, Node's static OpenSSL).
#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/privileges.h"
#include "symbols/elf_file.h"
#include "symbols/x86_decode.h"
#include "tls/tls_sites.h"

namespace zt::tls {
namespace {

using symbols::ElfFile;
using symbols::x86::ProbeCost;
using Bytes = std::vector<std::uint8_t>;

constexpr std::uint64_t kText = 0x1000;  // where the code starts, in the file and in memory

// A minimal ELF64 shared object: one R+X PT_LOAD mapping the whole file at vaddr 0 (so file
// offsets equal addresses), the code placed at the addresses given, named in .dynsym.
class FakeLibrary {
 public:
  explicit FakeLibrary(std::uint16_t machine = EM_X86_64) : machine_(machine) {}

  FakeLibrary& code(std::uint64_t vaddr, const Bytes& bytes) {
    if (text_.size() < vaddr - kText + bytes.size()) text_.resize(vaddr - kText + bytes.size(), 0xcc);
    std::copy(bytes.begin(), bytes.end(), text_.begin() + static_cast<std::ptrdiff_t>(vaddr - kText));
    return *this;
  }
  // A function symbol at `vaddr` with `bytes` as its code; replaces an earlier one of that name.
  FakeLibrary& function(const std::string& name, std::uint64_t vaddr, const Bytes& bytes, bool global = true) {
    code(vaddr, bytes);
    std::erase_if(symbols_, [&](const Sym& s) { return s.name == name; });
    symbols_.push_back({name, vaddr, bytes.size(), global});
    return *this;
  }
  // A symbol at an address outside the file (hostile): nothing to read there.
  FakeLibrary& dangling(const std::string& name, std::uint64_t vaddr) {
    symbols_.push_back({name, vaddr, 16, true});
    return *this;
  }

  std::shared_ptr<const ElfFile> open() const {
    std::string dynstr(1, '\0');
    std::string dynsym(sizeof(Elf64_Sym), '\0');
    std::vector<const Sym*> order;  // locals first, as ELF wants
    for (const auto& s : symbols_) {
      if (!s.global) order.push_back(&s);
    }
    const auto locals = order.size() + 1;
    for (const auto& s : symbols_) {
      if (s.global) order.push_back(&s);
    }
    for (const Sym* s : order) {
      Elf64_Sym sym{};
      sym.st_name = static_cast<Elf64_Word>(dynstr.size());
      dynstr += s->name + '\0';
      sym.st_info = ELF64_ST_INFO(s->global ? STB_GLOBAL : STB_LOCAL, STT_FUNC);
      sym.st_shndx = 1;
      sym.st_value = s->vaddr;
      sym.st_size = s->size;
      dynsym.append(reinterpret_cast<const char*>(&sym), sizeof sym);
    }
    const std::string shstrtab = std::string("\0.text\0.dynstr\0.dynsym\0.shstrtab\0", 33);

    std::string file(kText, '\0');
    file.append(text_.begin(), text_.end());
    const auto place = [&file](const std::string& bytes) {
      while (file.size() % 8) file += '\0';
      const std::uint64_t at = file.size();
      file += bytes;
      return at;
    };
    const std::uint64_t dynstr_at = place(dynstr);
    const std::uint64_t dynsym_at = place(dynsym);
    const std::uint64_t shstrtab_at = place(shstrtab);
    while (file.size() % 8) file += '\0';
    const std::uint64_t shoff = file.size();

    std::vector<Elf64_Shdr> sh(5);
    sh[1] = {1, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, kText, kText, text_.size(), 0, 0, 16, 0};
    sh[2] = {7, SHT_STRTAB, SHF_ALLOC, dynstr_at, dynstr_at, dynstr.size(), 0, 0, 1, 0};
    sh[3] = {15, SHT_DYNSYM,       SHF_ALLOC, dynsym_at, dynsym_at, dynsym.size(), 2, static_cast<Elf64_Word>(locals),
             8,  sizeof(Elf64_Sym)};
    sh[4] = {23, SHT_STRTAB, 0, 0, shstrtab_at, shstrtab.size(), 0, 0, 1, 0};
    for (const auto& s : sh) file.append(reinterpret_cast<const char*>(&s), sizeof s);

    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_DYN;
    eh.e_machine = machine_;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_shoff = shoff;
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 1;
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = static_cast<Elf64_Half>(sh.size());
    eh.e_shstrndx = 4;
    std::memcpy(file.data(), &eh, sizeof eh);
    Elf64_Phdr ph{PT_LOAD, PF_R | PF_X, 0, 0, 0, shoff, shoff, 0x1000};
    std::memcpy(file.data() + sizeof eh, &ph, sizeof ph);

    auto elf = ElfFile::open_memory(std::move(file), "fake");
    EXPECT_TRUE(elf.ok()) << (elf.ok() ? "" : elf.error().message);
    return elf.ok() ? elf.value() : nullptr;
  }

 private:
  struct Sym {
    std::string name;
    std::uint64_t vaddr, size;
    bool global;
  };
  std::uint16_t machine_;
  Bytes text_;
  std::vector<Sym> symbols_;
};

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// `call target` or `jmp target` placed at `at`.
Bytes branch(std::uint8_t opcode, std::uint64_t at, std::uint64_t target) {
  const auto rel = static_cast<std::uint32_t>(target - (at + 5));
  return {opcode, static_cast<std::uint8_t>(rel), static_cast<std::uint8_t>(rel >> 8),
          static_cast<std::uint8_t>(rel >> 16), static_cast<std::uint8_t>(rel >> 24)};
}

const Bytes kEndbr64 = {0xf3, 0x0f, 0x1e, 0xfa};
const Bytes kEpilogue = {0x31, 0xd2, 0x85, 0xc0, 0x0f, 0x48, 0xc2, 0x48, 0x83, 0xc4, 0x08, 0xc3};

// Debian's SSL_read_ex shape: sub $8,%rsp; call target; ...
Bytes thin_wrapper(std::uint64_t at, std::uint64_t target, bool endbr = false) {
  const std::uint64_t start = at + (endbr ? 4 : 0);
  return cat({endbr ? kEndbr64 : Bytes{}, {0x48, 0x83, 0xec, 0x08}, branch(0xe8, start + 4, target), kEpilogue});
}
// Debian's SSL_read shape: the stack protector and a `num < 0` check before the call.
Bytes checking_wrapper(std::uint64_t at, std::uint64_t target) {
  const Bytes head = {0x48, 0x83, 0xec, 0x18, 0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0,    0,    0,    0x48, 0x89,
                      0x44, 0x24, 0x08, 0x31, 0xc0, 0x85, 0xd2, 0x78, 0x2f, 0x48, 0x89, 0xe1, 0x48, 0x63, 0xd2};
  return cat({head, branch(0xe8, at + head.size(), target), kEpilogue});
}
// ssl_read_internal's shape: push %r13; push %r12; push %rbp; push %rbx; sub $0x38,%rsp; ...
const Bytes kInternal = {0x41, 0x55, 0x41, 0x54, 0x55, 0x53, 0x48, 0x83, 0xec, 0x38, 0xc3};
// Node's shape: push %rbp; mov %rsp,%rbp; ...; no call in the first bytes.
const Bytes kFatFunction = {0x55, 0x48, 0x89, 0xe5, 0x41, 0x56, 0x48, 0x83, 0xec, 0x48,
                            0x85, 0xd2, 0x0f, 0x88, 0x37, 0x01, 0x00, 0x00, 0x5d, 0xc3};

constexpr std::uint64_t kRead = 0x1100, kReadEx = 0x1200, kWrite = 0x1300, kWriteEx = 0x1400, kWriteEx2 = 0x1500,
                        kSetFd = 0x1600, kReadInternal = 0x2000, kWriteInternal = 0x2100, kOther = 0x2200;

// Debian 3.0's layout.
FakeLibrary debian_like() {
  FakeLibrary lib;
  lib.function("SSL_read", kRead, checking_wrapper(kRead, kReadInternal))
      .function("SSL_read_ex", kReadEx, thin_wrapper(kReadEx, kReadInternal))
      .function("SSL_write", kWrite, checking_wrapper(kWrite, kWriteInternal))
      .function("SSL_write_ex", kWriteEx, thin_wrapper(kWriteEx, kWriteInternal))
      .function("SSL_set_fd", kSetFd, {0x41, 0x54, 0x41, 0x89, 0xf4, 0x55, 0xc3})
      .code(kReadInternal, kInternal)
      .code(kWriteInternal, kInternal);
  return lib;
}

std::map<zt_tls_call, TlsSite> by_call(const TlsSitePlan& plan) {
  std::map<zt_tls_call, TlsSite> out;
  for (const auto& s : plan.sites) {
    EXPECT_TRUE(out.emplace(s.call, s).second) << "two sites for cookie " << s.call;
  }
  return out;
}

std::string notes(const TlsSitePlan& plan) {
  std::string out;
  for (const auto& n : plan.notes) out += "  " + n + "\n";
  return out;
}

// The plan as a table, for the logs of the tests on installed files.
std::string describe(const TlsSitePlan& plan) {
  std::string out;
  for (const auto& s : plan.sites) {
    char line[256];
    std::snprintf(line, sizeof line, "  cookie %d  %-48s vaddr 0x%llx offset 0x%llx %s%s\n", s.call, s.symbol.c_str(),
                  static_cast<unsigned long long>(s.vaddr), static_cast<unsigned long long>(s.file_offset),
                  symbols::x86::to_string(s.cost), s.with_return ? " +return" : "");
    out += line;
  }
  return out + notes(plan);
}

// What every plan must hold: never a wrapper and the internal function of one direction; return
// probes only at a first instruction or just past endbr64; file offsets that map back.
void check_invariants(const ElfFile& elf, const TlsSitePlan& plan) {
  std::set<zt_tls_call> calls;
  std::set<std::uint64_t> addresses;
  for (const auto& s : plan.sites) {
    calls.insert(s.call);
    EXPECT_TRUE(addresses.insert(s.vaddr).second) << "two probes at " << s.vaddr;
    EXPECT_EQ(elf.vaddr_to_offset(s.vaddr), s.file_offset) << s.symbol;
    EXPECT_EQ(s.with_return, s.call != ZT_TLS_SET_FD) << s.symbol;
    if (elf.machine() != EM_X86_64) continue;
    EXPECT_NE(s.cost, ProbeCost::Unknown) << s.symbol;
    if (s.with_return) {
      // At a function start (a symbol there, or the call target of a wrapper), or 4 past one that
      // starts with endbr64.
      const auto before = s.vaddr >= 4 ? elf.read_code(s.vaddr - 4, 4) : std::nullopt;
      const bool past_endbr = before && symbols::x86::endbr64_skip(*before) == 4;
      const auto* at = elf.symbol_at(s.vaddr);
      const bool at_start = (at && at->address == s.vaddr) || s.call == ZT_TLS_INTERNAL_READ ||
                            s.call == ZT_TLS_INTERNAL_WRITE || s.call == ZT_TLS_INTERNAL_WRITE_FLAGS;
      EXPECT_TRUE(past_endbr || at_start) << s.symbol;
      if (past_endbr) {
        EXPECT_TRUE(symbols::x86::return_address_on_stack(*elf.read_code(s.vaddr - 4, 16), 4));
      }
    }
  }
  const bool internal_read = calls.count(ZT_TLS_INTERNAL_READ);
  EXPECT_FALSE(internal_read && (calls.count(ZT_TLS_READ) || calls.count(ZT_TLS_READ_EX))) << notes(plan);
  const bool internal_write = calls.count(ZT_TLS_INTERNAL_WRITE) || calls.count(ZT_TLS_INTERNAL_WRITE_FLAGS);
  EXPECT_FALSE(internal_write &&
               (calls.count(ZT_TLS_WRITE) || calls.count(ZT_TLS_WRITE_EX) || calls.count(ZT_TLS_WRITE_EX2)))
      << notes(plan);
  EXPECT_FALSE(calls.count(ZT_TLS_INTERNAL_WRITE) && calls.count(ZT_TLS_INTERNAL_WRITE_FLAGS));
}

TlsSitePlan plan_of(const FakeLibrary& lib) {
  const auto elf = lib.open();
  if (!elf) return {};
  auto plan = plan_tls_sites(*elf);
  check_invariants(*elf, plan);
  return plan;
}

// ---- The rules, on built files.

TEST(TlsSitesTest, WrappersOfOneInternalFunctionProbeIt) {
  const auto plan = plan_of(debian_like());
  const auto sites = by_call(plan);
  ASSERT_EQ(sites.size(), 3u) << notes(plan);
  const auto& read = sites.at(ZT_TLS_INTERNAL_READ);
  EXPECT_EQ(read.vaddr, kReadInternal);
  EXPECT_EQ(read.file_offset, kReadInternal);
  EXPECT_EQ(read.cost, ProbeCost::Emulated);
  EXPECT_TRUE(read.with_return);
  EXPECT_EQ(read.symbol, "ssl_read_internal (via SSL_read, SSL_read_ex)");
  const auto& write = sites.at(ZT_TLS_INTERNAL_WRITE);
  EXPECT_EQ(write.vaddr, kWriteInternal);
  EXPECT_EQ(write.symbol, "ssl_write_internal (via SSL_write, SSL_write_ex)");
  const auto& set_fd = sites.at(ZT_TLS_SET_FD);
  EXPECT_EQ(set_fd.vaddr, kSetFd);
  EXPECT_EQ(set_fd.cost, ProbeCost::Emulated);
  EXPECT_FALSE(set_fd.with_return);
  EXPECT_TRUE(plan.has_read());
  EXPECT_TRUE(plan.has_write());
  EXPECT_FALSE(plan.notes.empty());
}

TEST(TlsSitesTest, OneWrapperIsEnough) {
  FakeLibrary lib;
  lib.function("SSL_read_ex", kReadEx, thin_wrapper(kReadEx, kReadInternal)).code(kReadInternal, kInternal);
  const auto plan = plan_of(lib);
  const auto sites = by_call(plan);
  ASSERT_EQ(sites.size(), 1u) << notes(plan);
  EXPECT_EQ(sites.at(ZT_TLS_INTERNAL_READ).symbol, "ssl_read_internal (via SSL_read_ex)");
  EXPECT_TRUE(plan.has_read());
  EXPECT_FALSE(plan.has_write());
}

TEST(TlsSitesTest, WrappersCallingDifferentFunctionsAreProbedThemselves) {
  FakeLibrary lib = debian_like();
  lib.function("SSL_read_ex", kReadEx, thin_wrapper(kReadEx, kOther)).code(kOther, kInternal);
  const auto plan = plan_of(lib);
  const auto sites = by_call(plan);
  ASSERT_EQ(sites.size(), 4u) << notes(plan);
  EXPECT_EQ(sites.at(ZT_TLS_READ).vaddr, kRead);
  EXPECT_EQ(sites.at(ZT_TLS_READ).cost, ProbeCost::SingleStepped);
  EXPECT_EQ(sites.at(ZT_TLS_READ).symbol, "SSL_read");
  EXPECT_EQ(sites.at(ZT_TLS_READ_EX).vaddr, kReadEx);
  EXPECT_TRUE(sites.count(ZT_TLS_INTERNAL_WRITE));  // the writes still agree
  EXPECT_NE(notes(plan).find("read: the exported entries"), std::string::npos) << notes(plan);
}

TEST(TlsSitesTest, Endbr64IsSkipped) {
  // A CET build: every function starts with endbr64.
  FakeLibrary lib;
  lib.function("SSL_read", kRead, thin_wrapper(kRead, kReadInternal, true))
      .function("SSL_read_ex", kReadEx, thin_wrapper(kReadEx, kReadInternal, true))
      .code(kReadInternal, cat({kEndbr64, kInternal}))
      // Writes fall back to the entries (different targets): one with a push after endbr64
      // (probed past it), one with a sub (probed at endbr64: both are single-stepped).
      .function("SSL_write", kWrite, cat({kEndbr64, {0x55}, branch(0xe8, kWrite + 5, kWriteInternal), {0x5d, 0xc3}}))
      .function("SSL_write_ex", kWriteEx, thin_wrapper(kWriteEx, kOther, true))
      .code(kWriteInternal, kInternal)
      .code(kOther, kInternal)
      .function("SSL_set_fd", kSetFd, cat({kEndbr64, {0x41, 0x54, 0xc3}}));
  const auto plan = plan_of(lib);
  const auto sites = by_call(plan);
  ASSERT_EQ(sites.size(), 4u) << notes(plan);
  EXPECT_EQ(sites.at(ZT_TLS_INTERNAL_READ).vaddr, kReadInternal + 4);
  EXPECT_EQ(sites.at(ZT_TLS_INTERNAL_READ).cost, ProbeCost::Emulated);
  EXPECT_EQ(sites.at(ZT_TLS_WRITE).vaddr, kWrite + 4);
  EXPECT_EQ(sites.at(ZT_TLS_WRITE).cost, ProbeCost::Emulated);
  EXPECT_EQ(sites.at(ZT_TLS_WRITE_EX).vaddr, kWriteEx);
  EXPECT_EQ(sites.at(ZT_TLS_WRITE_EX).cost, ProbeCost::SingleStepped);
  EXPECT_EQ(sites.at(ZT_TLS_SET_FD).vaddr, kSetFd + 4);
}

TEST(TlsSitesTest, SslWriteEx2MeansTheInternalWriteTakesFlags) {
  FakeLibrary lib = debian_like();
  lib.function("SSL_write_ex2", kWriteEx2, thin_wrapper(kWriteEx2, kWriteInternal));
  const auto plan = plan_of(lib);
  const auto sites = by_call(plan);
  ASSERT_TRUE(sites.count(ZT_TLS_INTERNAL_WRITE_FLAGS)) << notes(plan);
  EXPECT_FALSE(sites.count(ZT_TLS_INTERNAL_WRITE));
  EXPECT_EQ(sites.at(ZT_TLS_INTERNAL_WRITE_FLAGS).symbol,
            "ssl_write_internal (via SSL_write, SSL_write_ex, SSL_write_ex2)");
  EXPECT_TRUE(sites.count(ZT_TLS_INTERNAL_READ));
}

TEST(TlsSitesTest, AWrapperOfAWrapperIsLeftToIt) {
  // SSL_write_ex as `jmp SSL_write_ex2` (a tail call): not a participant, not probed.
  FakeLibrary lib = debian_like();
  lib.function("SSL_write_ex", kWriteEx, branch(0xe9, kWriteEx, kWriteEx2))
      .function("SSL_write_ex2", kWriteEx2, thin_wrapper(kWriteEx2, kWriteInternal));
  auto plan = plan_of(lib);
  auto sites = by_call(plan);
  ASSERT_TRUE(sites.count(ZT_TLS_INTERNAL_WRITE_FLAGS)) << notes(plan);
  EXPECT_EQ(sites.at(ZT_TLS_INTERNAL_WRITE_FLAGS).symbol, "ssl_write_internal (via SSL_write, SSL_write_ex2)");
  EXPECT_NE(notes(plan).find("SSL_write_ex jumps to SSL_write_ex2 first"), std::string::npos) << notes(plan);

  // The same when the wrappers are probed: SSL_write_ex2 sees SSL_write_ex's calls.
  lib.function("SSL_write", kWrite, checking_wrapper(kWrite, kOther)).code(kOther, kInternal);
  plan = plan_of(lib);
  sites = by_call(plan);
  EXPECT_TRUE(sites.count(ZT_TLS_WRITE)) << notes(plan);
  EXPECT_TRUE(sites.count(ZT_TLS_WRITE_EX2));
  EXPECT_FALSE(sites.count(ZT_TLS_WRITE_EX));

  // A wrapper that calls another one first is left to it too.
  FakeLibrary calls;
  calls.function("SSL_read", kRead, thin_wrapper(kRead, kReadEx))
      .function("SSL_read_ex", kReadEx, cat({{0x55}, {0x48, 0x89, 0xe5}, {0x5d, 0xc3}}));
  plan = plan_of(calls);
  sites = by_call(plan);
  ASSERT_EQ(sites.size(), 1u) << notes(plan);
  EXPECT_EQ(sites.at(ZT_TLS_READ_EX).vaddr, kReadEx);

  // Wrappers jumping to each other (a hostile file): neither is dropped.
  FakeLibrary cycle;
  cycle.function("SSL_write", kWrite, branch(0xe9, kWrite, kWriteEx))
      .function("SSL_write_ex", kWriteEx, branch(0xe9, kWriteEx, kWrite));
  plan = plan_of(cycle);
  EXPECT_EQ(by_call(plan).size(), 2u) << notes(plan);
}

TEST(TlsSitesTest, AFunctionBothDirectionsCallIsNotInternal) {
  // Node-like: every wrapper first calls one state-checking helper.
  FakeLibrary lib;
  lib.function("SSL_read", kRead, thin_wrapper(kRead, kOther))
      .function("SSL_write", kWrite, thin_wrapper(kWrite, kOther))
      .code(kOther, kInternal);
  const auto plan = plan_of(lib);
  const auto sites = by_call(plan);
  ASSERT_EQ(sites.size(), 2u) << notes(plan);
  EXPECT_TRUE(sites.count(ZT_TLS_READ));
  EXPECT_TRUE(sites.count(ZT_TLS_WRITE));
  EXPECT_NE(notes(plan).find("reads and writes first call the same function"), std::string::npos) << notes(plan);
}

TEST(TlsSitesTest, ANamedTargetMustBeTheInternalFunction) {
  // The common target is an exported function: not the internal one.
  FakeLibrary exported = debian_like();
  exported.function("SSL_get_error", kReadInternal, kInternal);
  auto plan = plan_of(exported);
  auto sites = by_call(plan);
  EXPECT_TRUE(sites.count(ZT_TLS_READ)) << notes(plan);
  EXPECT_TRUE(sites.count(ZT_TLS_READ_EX));
  EXPECT_TRUE(sites.count(ZT_TLS_INTERNAL_WRITE));

  // A .symtab (or a debug file) naming it ssl_read_internal: accepted, under that name.
  FakeLibrary named = debian_like();
  named.function("ssl_read_internal", kReadInternal, kInternal, false);
  plan = plan_of(named);
  sites = by_call(plan);
  ASSERT_TRUE(sites.count(ZT_TLS_INTERNAL_READ)) << notes(plan);
  EXPECT_EQ(sites.at(ZT_TLS_INTERNAL_READ).symbol, "ssl_read_internal (via SSL_read, SSL_read_ex)");

  // Inside a named function: not a function entry at all.
  FakeLibrary inside = debian_like();
  inside.function("ossl_something", kReadInternal - 8, cat({Bytes(8, 0x90), kInternal}), false);
  plan = plan_of(inside);
  EXPECT_TRUE(by_call(plan).count(ZT_TLS_READ)) << notes(plan);
}

TEST(TlsSitesTest, ASingleSteppedTargetGainsNothing) {
  FakeLibrary lib = debian_like();
  lib.code(kReadInternal, {0x48, 0x83, 0xec, 0x08, 0xc3});                     // sub $8,%rsp
  lib.code(kWriteInternal, {0xff, 0x25, 0x00, 0x10, 0x00, 0x00, 0x68, 0x01});  // a PLT stub
  const auto plan = plan_of(lib);
  const auto sites = by_call(plan);
  EXPECT_EQ(sites.size(), 5u) << notes(plan);
  for (const auto call : {ZT_TLS_READ, ZT_TLS_READ_EX, ZT_TLS_WRITE, ZT_TLS_WRITE_EX, ZT_TLS_SET_FD}) {
    EXPECT_TRUE(sites.count(call)) << call << "\n" << notes(plan);
  }
}

TEST(TlsSitesTest, FatFunctionsAreProbedAtTheirEntries) {
  // Node: OpenSSL inlined into each exported function, which starts with push %rbp.
  FakeLibrary lib;
  lib.function("SSL_read", kRead, kFatFunction)
      .function("SSL_read_ex", kReadEx, kFatFunction)
      .function("SSL_write", kWrite, kFatFunction)
      .function("SSL_write_ex", kWriteEx, kFatFunction);
  const auto plan = plan_of(lib);
  const auto sites = by_call(plan);
  ASSERT_EQ(sites.size(), 4u) << notes(plan);
  for (const auto& [call, site] : sites) {
    EXPECT_EQ(site.cost, ProbeCost::Emulated) << site.symbol;
    EXPECT_EQ(site.vaddr, lib.open()->find_function(site.symbol)->address);
  }
}

TEST(TlsSitesTest, OtherMachinesGetTheExportedEntries) {
  FakeLibrary lib(EM_AARCH64);
  lib.function("SSL_read", kRead, thin_wrapper(kRead, kReadInternal))
      .function("SSL_read_ex", kReadEx, thin_wrapper(kReadEx, kReadInternal))
      .function("SSL_write", kWrite, thin_wrapper(kWrite, kWriteInternal))
      .function("SSL_set_fd", kSetFd, kInternal)
      .code(kReadInternal, kInternal);
  const auto plan = plan_of(lib);
  const auto sites = by_call(plan);
  ASSERT_EQ(sites.size(), 4u) << notes(plan);
  for (const auto call : {ZT_TLS_READ, ZT_TLS_READ_EX, ZT_TLS_WRITE, ZT_TLS_SET_FD}) {
    ASSERT_TRUE(sites.count(call)) << call;
    EXPECT_EQ(sites.at(call).cost, ProbeCost::Unknown);
  }
}

TEST(TlsSitesTest, MissingAndBrokenFunctions) {
  const auto empty = plan_of(FakeLibrary().function("BIO_read", kRead, kInternal));
  EXPECT_TRUE(empty.sites.empty());
  EXPECT_FALSE(empty.has_read());
  EXPECT_FALSE(empty.has_write());
  EXPECT_NE(notes(empty).find("read: no exported function"), std::string::npos) << notes(empty);

  // A symbol pointing outside the file, a call target outside it, a local SSL_write.
  FakeLibrary lib;
  lib.dangling("SSL_read", 0x900000)
      .function("SSL_read_ex", kReadEx, thin_wrapper(kReadEx, 0x800000))
      .function("SSL_write", kWrite, kFatFunction, false);
  const auto plan = plan_of(lib);
  const auto sites = by_call(plan);
  ASSERT_EQ(sites.size(), 1u) << notes(plan);
  EXPECT_EQ(sites.at(ZT_TLS_READ_EX).vaddr, kReadEx);
  EXPECT_FALSE(plan.has_write());
  EXPECT_NE(notes(plan).find("SSL_read at 0x900000: no code readable"), std::string::npos) << notes(plan);
  EXPECT_NE(notes(plan).find("SSL_write: a local symbol"), std::string::npos) << notes(plan);

  // Two names for one address: one probe.
  FakeLibrary alias;
  alias.function("SSL_read", kRead, kFatFunction).function("SSL_read_ex", kRead, kFatFunction);
  EXPECT_EQ(plan_of(alias).sites.size(), 1u);
}

// ---- The builds installed on this machine.

std::shared_ptr<const ElfFile> open_system_file(const char* path) {
  if (!std::filesystem::exists(path)) return nullptr;
  auto elf = ElfFile::open(path);
  EXPECT_TRUE(elf.ok()) << (elf.ok() ? "" : elf.error().message);
  return elf.ok() ? elf.value() : nullptr;
}

// The internal site must be the call target of every wrapper there, and start with a push.
void expect_internal(const ElfFile& elf, const TlsSite& site, std::initializer_list<const char*> wrappers) {
  for (const char* name : wrappers) {
    const auto f = elf.find_function(name);
    if (!f) continue;
    const auto code = elf.read_code(f->address, 64);
    ASSERT_TRUE(code);
    const auto target = symbols::x86::first_call_target(*code, f->address);
    ASSERT_TRUE(target) << name;
    const auto internal = elf.read_code(*target, 16);
    ASSERT_TRUE(internal);
    EXPECT_EQ(site.vaddr, *target + symbols::x86::endbr64_skip(*internal)) << name;
  }
  const auto bytes = elf.read_code(site.vaddr, 2);
  ASSERT_TRUE(bytes && bytes->size() == 2);
  const std::uint8_t first = (*bytes)[0] == 0x41 ? (*bytes)[1] : (*bytes)[0];
  EXPECT_TRUE(first >= 0x50 && first <= 0x57) << site.symbol;
}

TEST(TlsSitesSystemTest, DebianLibssl3) {
  const char* path = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
  const auto elf = open_system_file(path);
  if (!elf) GTEST_SKIP() << "*** NOT RUN: " << path << " is not installed (apt-get install libssl3) ***";
  const auto plan = plan_tls_sites(*elf);
  check_invariants(*elf, plan);
  const auto sites = by_call(plan);
  std::cout << "libssl.so.3 plan:\n" << describe(plan);
  ASSERT_TRUE(sites.count(ZT_TLS_INTERNAL_READ)) << notes(plan);
  const bool v33 = elf->find_function("SSL_write_ex2").has_value();
  const zt_tls_call write_call = v33 ? ZT_TLS_INTERNAL_WRITE_FLAGS : ZT_TLS_INTERNAL_WRITE;
  ASSERT_TRUE(sites.count(write_call)) << notes(plan);
  EXPECT_EQ(sites.size(), 3u) << notes(plan);
  EXPECT_EQ(sites.at(ZT_TLS_INTERNAL_READ).cost, ProbeCost::Emulated);
  EXPECT_EQ(sites.at(write_call).cost, ProbeCost::Emulated);
  EXPECT_EQ(sites.at(ZT_TLS_INTERNAL_READ).symbol.rfind("ssl_read_internal (via SSL_read, SSL_read_ex", 0), 0u);
  expect_internal(*elf, sites.at(ZT_TLS_INTERNAL_READ), {"SSL_read", "SSL_read_ex"});
  expect_internal(*elf, sites.at(write_call), {"SSL_write", "SSL_write_ex"});
  ASSERT_TRUE(sites.count(ZT_TLS_SET_FD));
  EXPECT_EQ(sites.at(ZT_TLS_SET_FD).vaddr, elf->find_function("SSL_set_fd")->address);
  EXPECT_EQ(sites.at(ZT_TLS_SET_FD).cost, ProbeCost::Emulated);
  EXPECT_FALSE(sites.at(ZT_TLS_SET_FD).with_return);
}

TEST(TlsSitesSystemTest, NodeStaticOpenssl) {
  const char* path = "/usr/bin/node";
  const auto elf = open_system_file(path);
  if (!elf) GTEST_SKIP() << "*** NOT RUN: " << path << " is not installed ***";
  if (!elf->find_function("SSL_read")) GTEST_SKIP() << "*** NOT RUN: " << path << " does not export SSL_read ***";
  const auto plan = plan_tls_sites(*elf);
  check_invariants(*elf, plan);
  const auto sites = by_call(plan);
  std::cout << "node plan:\n" << describe(plan);
  EXPECT_FALSE(sites.count(ZT_TLS_INTERNAL_READ)) << notes(plan);
  EXPECT_FALSE(sites.count(ZT_TLS_INTERNAL_WRITE)) << notes(plan);
  for (const auto call : {ZT_TLS_READ, ZT_TLS_WRITE}) {
    ASSERT_TRUE(sites.count(call)) << notes(plan);
    EXPECT_EQ(sites.at(call).cost, ProbeCost::Emulated) << sites.at(call).symbol;
    EXPECT_EQ(sites.at(call).vaddr, elf->find_function(sites.at(call).symbol)->address);
  }
}

TEST(TlsSitesSystemTest, Libssl11) {
  const char* path = "/usr/lib/x86_64-linux-gnu/libssl.so.1.1";
  const auto elf = open_system_file(path);
  if (!elf) GTEST_SKIP() << "*** NOT RUN: " << path << " is not installed (libssl1.1) ***";
  const auto plan = plan_tls_sites(*elf);
  check_invariants(*elf, plan);
  std::cout << "libssl.so.1.1 plan:\n" << describe(plan);
  EXPECT_TRUE(plan.has_read()) << notes(plan);
  EXPECT_TRUE(plan.has_write()) << notes(plan);
  EXPECT_FALSE(by_call(plan).count(ZT_TLS_INTERNAL_WRITE_FLAGS));
}

}  // namespace
}  // namespace zt::tls

namespace zt::tls {
namespace {

// The Go plan on a real Go executable (tests/workloads/go/tls_peer.go, built by Debian's
// golang-1.22-go): Read's entry after the stack check and every `ret`, Write's entry only, and the
// *net.TCPConn itab for reading the socket.
TEST(TlsSitesSystemTest, GoCryptoTls) {
#ifndef ZT_GO_TLS_PEER
  if (::zt::testing::in_ci()) FAIL() << "CI=true but the Go TLS peer was not built (scripts/setup.sh)";
  GTEST_SKIP() << "*** NOT RUN: go was not found at build time (golang-1.22-go; scripts/setup.sh) ***";
#else
  const auto opened = ElfFile::open(ZT_GO_TLS_PEER);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  const ElfFile& elf = *opened.value();
  const auto plan = plan_go_tls_sites(elf);
  std::cout << "Go plan:\n" << describe(plan);
  const auto read = elf.find_function("crypto/tls.(*Conn).Read");
  const auto write = elf.find_function("crypto/tls.(*Conn).Write");
  ASSERT_TRUE(read && write);
  std::size_t entries = 0, rets = 0;
  for (const auto& site : plan.sites) {
    const auto byte = elf.read_code(site.vaddr, 1);
    ASSERT_TRUE(byte && byte->size() == 1);
    EXPECT_FALSE(site.with_return) << "never a uretprobe on Go: " << site.symbol;
    EXPECT_EQ(elf.vaddr_to_offset(site.vaddr), site.file_offset);
    if (site.call == ZT_TLS_GO_READ || site.call == ZT_TLS_GO_WRITE) {
      ++entries;
      const auto& fn = site.call == ZT_TLS_GO_READ ? *read : *write;
      EXPECT_EQ((*byte)[0], 0x55) << "push %rbp after the stack check";
      EXPECT_GT(site.vaddr, fn.address);
      EXPECT_LT(site.vaddr, fn.address + 16);
      EXPECT_EQ(site.cost, ProbeCost::Emulated);
      const auto itab = elf.find_all("go:itab.*net.TCPConn,net.Conn");
      ASSERT_FALSE(itab.empty());
      EXPECT_EQ(site.tcp_conn_itab, itab.front().address);
    } else {
      ASSERT_EQ(site.call, ZT_TLS_GO_READ_RET) << site.symbol;
      ++rets;
      EXPECT_EQ((*byte)[0], 0xc3) << site.symbol;
      EXPECT_GE(site.vaddr, read->address);
      EXPECT_LT(site.vaddr, read->address + read->size);
    }
  }
  EXPECT_EQ(entries, 2u) << notes(plan);
  EXPECT_GE(rets, 2u) << notes(plan);
  // Not Go: nothing.
  if (const auto libssl = open_system_file("/usr/lib/x86_64-linux-gnu/libssl.so.3")) {
    EXPECT_TRUE(plan_go_tls_sites(*libssl).sites.empty());
  }
#endif
}

}  // namespace
}  // namespace zt::tls
