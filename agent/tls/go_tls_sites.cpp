// Where the TLS family probes Go's crypto/tls (tls_sites.h: plan_go_tls_sites).
#include <elf.h>

#include <cinttypes>
#include <cstdio>
#include <optional>
#include <span>
#include <vector>

#include "tls/tls_sites.h"

namespace zt::tls {

namespace {

namespace x86 = symbols::x86;

// The largest function read whole (Go 1.22's Write is about 2 KiB).
constexpr std::uint64_t kMaxGoFunction = 64 * 1024;

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

std::optional<std::vector<std::uint8_t>> read_function(const symbols::ElfFile& elf, const symbols::Symbol& sym) {
  std::vector<std::uint8_t> code;
  while (code.size() < sym.size) {
    const auto chunk = elf.read_code(sym.address + code.size(),
                                     std::min<std::uint64_t>(symbols::kMaxCodeRead, sym.size - code.size()));
    if (!chunk || chunk->empty()) return std::nullopt;
    code.insert(code.end(), chunk->begin(), chunk->end());
  }
  return code;
}

bool starts_with(std::span<const std::uint8_t> code, std::size_t at, std::initializer_list<std::uint8_t> bytes) {
  if (at + bytes.size() > code.size()) return false;
  std::size_t i = at;
  for (const auto b : bytes) {
    if (code[i++] != b) return false;
  }
  return true;
}

// The offset of the `push %rbp` that follows the register ABI's stack check:
//   cmp 0x10(%r14),%rsp                     49 3b 66 10
// or, for a large frame,
//   lea -N(%rsp),%r12                       4c 8d 64 24 d8 / 4c 8d a4 24 <disp32>
//   cmp 0x10(%r14),%r12                     4d 3b 66 10
// then jbe to the stack growth (76 rel8 / 0f 86 rel32), then push %rbp (55). The check reads the
// goroutine from R14, which only the register ABI (Go 1.17+) reserves for it: a function without
// it is older Go (arguments on the stack) and is not probed. The probe goes on the push: emulated,
// reached once per call (after a stack growth the function restarts at the check), and the
// arguments are still in their registers.
std::optional<std::size_t> entry_after_stack_check(std::span<const std::uint8_t> code) {
  std::size_t at = 0;
  if (starts_with(code, 0, {0x49, 0x3b, 0x66, 0x10})) {
    at = 4;
  } else if (starts_with(code, 0, {0x4c, 0x8d, 0x64, 0x24}) && starts_with(code, 5, {0x4d, 0x3b, 0x66, 0x10})) {
    at = 9;
  } else if (starts_with(code, 0, {0x4c, 0x8d, 0xa4, 0x24}) && starts_with(code, 8, {0x4d, 0x3b, 0x66, 0x10})) {
    at = 12;
  } else {
    return std::nullopt;
  }
  if (starts_with(code, at, {0x0f}) && at + 1 < code.size() && code[at + 1] == 0x86) {
    at += 6;
  } else if (at < code.size() && code[at] == 0x76) {
    at += 2;
  } else {
    return std::nullopt;
  }
  if (at >= code.size() || code[at] != 0x55) return std::nullopt;
  return at;
}

}  // namespace

TlsSitePlan plan_go_tls_sites(const symbols::ElfFile& elf) {
  TlsSitePlan plan;
  struct GoFunction {
    const char* name;
    zt_tls_call entry;
    std::optional<zt_tls_call> ret;  // Write: entry only (its plaintext is known there)
  };
  const GoFunction functions[] = {{"crypto/tls.(*Conn).Read", ZT_TLS_GO_READ, ZT_TLS_GO_READ_RET},
                                  {"crypto/tls.(*Conn).Write", ZT_TLS_GO_WRITE, std::nullopt}};
  // Positions are absolute only in a non-PIE executable (Go's default): a PIE's itab would need
  // each process's load bias.
  std::uint64_t itab = 0;
  if (!elf.is_dyn()) {
    const auto found = elf.find_all("go:itab.*net.TCPConn,net.Conn");
    if (!found.empty() && found.front().address < (1ull << 56)) itab = found.front().address;
  }
  for (const auto& f : functions) {
    const auto sym = elf.find_function(f.name);
    if (!sym) continue;
    if (elf.machine() != EM_X86_64) {
      plan.notes.push_back(std::string(f.name) + ": Go is probed on x86-64 only");
      continue;
    }
    if (sym->size == 0 || sym->size > kMaxGoFunction) {
      plan.notes.push_back(std::string(f.name) + ": size " + std::to_string(sym->size) + ", not probed");
      continue;
    }
    const auto code = read_function(elf, *sym);
    if (!code) {
      plan.notes.push_back(std::string(f.name) + ": code not readable, not probed");
      continue;
    }
    const auto entry = entry_after_stack_check(*code);
    if (!entry) {
      plan.notes.push_back(std::string(f.name) +
                           ": no register-ABI stack check (Go before 1.17?): arguments not in registers, not probed");
      continue;
    }
    const auto rets = f.ret ? x86::return_sites(*code, sym->address) : std::vector<std::uint64_t>{};
    if (!rets || (f.ret && rets->empty())) {
      plan.notes.push_back(std::string(f.name) + ": its returns could not all be found, not probed");
      continue;
    }
    const auto entry_vaddr = sym->address + *entry;
    const auto entry_offset = elf.vaddr_to_offset(entry_vaddr);
    if (!entry_offset) continue;
    std::vector<TlsSite> sites;
    sites.push_back(TlsSite{f.entry, f.name, entry_vaddr, *entry_offset,
                            x86::probe_cost(std::span(*code).subspan(*entry)), false, itab});
    bool all = true;
    for (const auto ret : *rets) {
      const auto offset = elf.vaddr_to_offset(ret);
      if (!offset) {
        all = false;
        break;
      }
      sites.push_back(TlsSite{*f.ret, std::string(f.name) + " ret at +" + hex(ret - sym->address), ret, *offset,
                              x86::probe_cost(std::span(*code).subspan(ret - sym->address)), false});
    }
    if (!all) continue;
    plan.notes.push_back(std::string(f.name) + ": entry at +" + hex(*entry) + " (push %rbp, after the stack check)" +
                         (f.ret ? ", " + std::to_string(rets->size()) + " ret sites (no uretprobes on Go)"
                                : ", entry only (the plaintext is known there)") +
                         (itab ? "; sockets read from *net.TCPConn" : "; sockets by nested syscalls only"));
    plan.sites.insert(plan.sites.end(), sites.begin(), sites.end());
  }
  return plan;
}

}  // namespace zt::tls
