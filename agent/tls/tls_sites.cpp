#include "tls/tls_sites.h"

#include <elf.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <span>
#include <utility>

namespace zt::tls {

namespace {

namespace x86 = symbols::x86;
using x86::ProbeCost;

// A wrapper's prologue and the call that ends it (an instruction is at most 15 bytes).
constexpr std::size_t kCodeBytes = x86::kMaxWrapperPrologue + 16;

struct Wrapper {
  const char* name;
  zt_tls_call call;
};

// One direction's exported functions and the internal function they wrap.
struct Direction {
  const char* what;  // "read", "write": in notes
  std::vector<Wrapper> wrappers;
  const char* internal_name;
};

// An exported wrapper found in the file, with its first bytes.
struct Function {
  Wrapper wrapper;
  std::uint64_t vaddr = 0;
  std::vector<std::uint8_t> code;
  std::optional<x86::Transfer> transfer;  // x86-64 only
  std::optional<std::size_t> defers_to;   // the wrapper it calls first or tail-jumps to, if any
};

// The internal function every probed wrapper of a direction calls.
struct Internal {
  std::uint64_t target = 0;
  std::vector<std::uint8_t> code;
  std::size_t skip = 0;  // past a leading endbr64
  std::string symbol;    // "ssl_read_internal (via SSL_read, SSL_read_ex)"
};

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

bool cheap(ProbeCost cost) { return cost == ProbeCost::Emulated || cost == ProbeCost::Nop5; }

std::optional<Function> find_exported(const symbols::ElfFile& elf, const Wrapper& w, bool x86_64,
                                      std::vector<std::string>& notes) {
  const auto sym = elf.find_function(w.name);
  if (!sym) return std::nullopt;
  if (!sym->global || sym->type != symbols::Symbol::Func) {
    // A local copy is not what applications call; an IFUNC's address is its resolver's.
    notes.push_back(std::string(w.name) + ": " + (sym->global ? "an IFUNC" : "a local symbol") + ", not probed");
    return std::nullopt;
  }
  auto code = elf.read_code(sym->address, kCodeBytes);
  if (!code || code->empty()) {
    notes.push_back(std::string(w.name) + " at " + hex(sym->address) +
                    ": no code readable there (not in an executable segment, or the file changed), not probed");
    return std::nullopt;
  }
  Function f{w, sym->address, std::move(*code), std::nullopt, std::nullopt};
  if (x86_64) f.transfer = x86::first_transfer(f.code, f.vaddr);
  return f;
}

// Where to probe an entry: past a leading endbr64 (itself single-stepped) when what follows is
// cheap; the return address is still at [rsp] there.
std::size_t entry_skip(std::span<const std::uint8_t> code, bool x86_64) {
  if (!x86_64) return 0;
  const std::size_t skip = x86::endbr64_skip(code);
  return skip != 0 && cheap(x86::probe_cost(code.subspan(skip))) ? skip : 0;
}

// Adds the probe `skip` bytes into the function at `entry` whose code starts with `code`, unless
// a uretprobe there would not find the return address at [rsp], or the address is not in the file.
void add_site(const symbols::ElfFile& elf, bool x86_64, TlsSitePlan& plan, zt_tls_call call, std::string symbol,
              std::uint64_t entry, std::span<const std::uint8_t> code, std::size_t skip, bool with_return) {
  if (with_return && x86_64 && !x86::return_address_on_stack(code, skip)) {
    plan.notes.push_back(symbol + ": +" + std::to_string(skip) + " is past the return address, not probed");
    return;
  }
  const std::uint64_t vaddr = entry + skip;
  const auto offset = elf.vaddr_to_offset(vaddr);
  if (!offset) {
    plan.notes.push_back(symbol + " at " + hex(vaddr) + ": not in the file, not probed");
    return;
  }
  const ProbeCost cost = x86_64 ? x86::probe_cost(code.subspan(std::min(skip, code.size()))) : ProbeCost::Unknown;
  plan.sites.push_back({call, std::move(symbol), vaddr, *offset, cost, with_return});
}

// Marks the wrappers whose first call or tail jump goes to another wrapper of the same direction
// (OpenSSL 3.3+'s SSL_write_ex may just call SSL_write_ex2): that one's probe sees their calls.
// A chain is followed to its end; a cycle (a hostile file) defers nothing.
void find_deferrals(std::vector<Function>& fs, const char* what, std::vector<std::string>& notes) {
  for (std::size_t i = 0; i < fs.size(); ++i) {
    if (!fs[i].transfer) continue;
    for (std::size_t j = 0; j < fs.size(); ++j) {
      if (j != i && fs[j].vaddr == fs[i].transfer->target) fs[i].defers_to = j;
    }
  }
  std::vector<std::optional<std::size_t>> ends(fs.size());
  for (std::size_t i = 0; i < fs.size(); ++i) {
    std::size_t end = i;
    for (std::size_t steps = 0; fs[end].defers_to && steps <= fs.size(); ++steps) end = *fs[end].defers_to;
    if (!fs[end].defers_to) ends[i] = end;  // else in a cycle: probed like any other
  }
  for (std::size_t i = 0; i < fs.size(); ++i) {
    if (!fs[i].defers_to) continue;
    if (!ends[i]) {
      fs[i].defers_to.reset();
      continue;
    }
    notes.push_back(std::string(what) + ": " + fs[i].wrapper.name + " " +
                    (fs[i].transfer->kind == x86::Transfer::Call ? "calls " : "jumps to ") +
                    fs[*fs[i].defers_to].wrapper.name + " first: left to " + fs[*ends[i]].wrapper.name + "'s probe");
  }
}

// The internal function of a direction, when every wrapper left to probe calls the same function
// first and nothing says it is another function; else nullopt with the reason in `why`.
std::optional<Internal> find_internal(const symbols::ElfFile& elf, const Direction& dir,
                                      const std::vector<const Function*>& probed, std::string& why) {
  std::optional<std::uint64_t> target;
  std::string via;
  for (const Function* f : probed) {
    const char* name = f->wrapper.name;
    if (!f->transfer) {
      why = std::string(name) + " makes no call that its first " + std::to_string(x86::kMaxWrapperPrologue) +
            " bytes show (not decoded, or a branch first)";
      return std::nullopt;
    }
    if (f->transfer->kind != x86::Transfer::Call) {
      why = std::string(name) + " jumps to " + hex(f->transfer->target) + " before any call";
      return std::nullopt;
    }
    if (target && *target != f->transfer->target) {
      why = std::string(name) + " calls " + hex(f->transfer->target) + ", " + probed.front()->wrapper.name + " calls " +
            hex(*target);
      return std::nullopt;
    }
    target = f->transfer->target;
    via += via.empty() ? name : std::string(", ") + name;
  }
  if (!target) {
    why = "no wrapper to follow";
    return std::nullopt;
  }
  // A stripped libssl names only exported functions, and those are not the internal one (the
  // wrappers of Node's OpenSSL first call ossl_statem_check_finish_init, for one).
  std::string name = dir.internal_name;
  if (const auto* s = elf.symbol_at(*target)) {
    if (s->address != *target || s->name != dir.internal_name) {
      why = "the common call target " + hex(*target) + " is " +
            (s->address == *target ? s->name : "inside " + s->name) + ", not " + dir.internal_name;
      return std::nullopt;
    }
    name = s->name;
  }
  auto code = elf.read_code(*target, kCodeBytes);
  if (!code || code->empty()) {
    why = "no code readable at the common call target " + hex(*target);
    return std::nullopt;
  }
  const std::size_t skip = x86::endbr64_skip(*code);
  const ProbeCost cost = x86::probe_cost(std::span<const std::uint8_t>(*code).subspan(skip));
  if (!cheap(cost)) {
    // A PLT stub (an indirect jmp) ends up here too: it is never the internal function.
    why = "the common call target " + hex(*target) + " starts with a " + x86::to_string(cost) + " instruction";
    return std::nullopt;
  }
  return Internal{*target, std::move(*code), skip, name + " (via " + via + ")"};
}

// What a direction probes: its functions, those left to another wrapper, and the internal function
// when there is one.
struct DirectionPlan {
  std::vector<Function> functions;
  std::optional<Internal> internal;
  std::string why_not_internal;
};

DirectionPlan examine(const symbols::ElfFile& elf, bool x86_64, const Direction& dir, std::vector<std::string>& notes) {
  DirectionPlan out;
  for (const auto& w : dir.wrappers) {
    auto f = find_exported(elf, w, x86_64, notes);
    if (!f) continue;
    const auto same = std::find_if(out.functions.begin(), out.functions.end(),
                                   [&](const Function& g) { return g.vaddr == f->vaddr; });
    if (same != out.functions.end()) {  // aliases: one probe, or each call is seen twice
      notes.push_back(std::string(dir.what) + ": " + w.name + " is " + same->wrapper.name +
                      " (same address), not probed");
      continue;
    }
    out.functions.push_back(std::move(*f));
  }
  if (out.functions.empty()) {
    notes.push_back(std::string(dir.what) + ": no exported function to probe");
    return out;
  }
  if (!x86_64) return out;
  find_deferrals(out.functions, dir.what, notes);
  std::vector<const Function*> probed;
  for (const auto& f : out.functions) {
    if (!f.defers_to) probed.push_back(&f);
  }
  out.internal = find_internal(elf, dir, probed, out.why_not_internal);
  return out;
}

void add_direction(const symbols::ElfFile& elf, bool x86_64, const Direction& dir, const DirectionPlan& d,
                   zt_tls_call internal_call, TlsSitePlan& plan) {
  if (d.functions.empty()) return;
  if (d.internal) {
    const Internal& in = *d.internal;
    plan.notes.push_back(std::string(dir.what) + ": " + in.symbol + " at " + hex(in.target) +
                         (in.skip ? " (+4 past endbr64)" : "") + ", " +
                         x86::to_string(x86::probe_cost(std::span<const std::uint8_t>(in.code).subspan(in.skip))) +
                         ", instead of the exported entries");
    add_site(elf, x86_64, plan, internal_call, in.symbol, in.target, in.code, in.skip, true);
    return;
  }
  if (x86_64) {
    plan.notes.push_back(std::string(dir.what) + ": the exported entries (" + d.why_not_internal + ")");
  } else {
    plan.notes.push_back(std::string(dir.what) +
                         ": the exported entries (not x86-64: no internal function, cost unknown)");
  }
  for (const auto& f : d.functions) {
    if (f.defers_to) continue;
    add_site(elf, x86_64, plan, f.wrapper.call, f.wrapper.name, f.vaddr, f.code, entry_skip(f.code, x86_64), true);
  }
}

}  // namespace

bool TlsSitePlan::has_read() const {
  return std::any_of(sites.begin(), sites.end(), [](const TlsSite& s) {
    return s.call == ZT_TLS_READ || s.call == ZT_TLS_READ_EX || s.call == ZT_TLS_INTERNAL_READ;
  });
}

bool TlsSitePlan::has_write() const {
  return std::any_of(sites.begin(), sites.end(), [](const TlsSite& s) {
    return s.call == ZT_TLS_WRITE || s.call == ZT_TLS_WRITE_EX || s.call == ZT_TLS_WRITE_EX2 ||
           s.call == ZT_TLS_INTERNAL_WRITE || s.call == ZT_TLS_INTERNAL_WRITE_FLAGS;
  });
}

TlsSitePlan plan_tls_sites(const symbols::ElfFile& elf) {
  TlsSitePlan plan;
  const bool x86_64 = elf.machine() == EM_X86_64;
  const Direction read{"read", {{"SSL_read", ZT_TLS_READ}, {"SSL_read_ex", ZT_TLS_READ_EX}}, "ssl_read_internal"};
  const Direction write{
      "write",
      {{"SSL_write", ZT_TLS_WRITE}, {"SSL_write_ex", ZT_TLS_WRITE_EX}, {"SSL_write_ex2", ZT_TLS_WRITE_EX2}},
      "ssl_write_internal"};

  DirectionPlan reads = examine(elf, x86_64, read, plan.notes);
  DirectionPlan writes = examine(elf, x86_64, write, plan.notes);
  // One function that both directions call first is a helper (a state check, an error routine),
  // not either internal function.
  if (reads.internal && writes.internal && reads.internal->target == writes.internal->target) {
    reads.why_not_internal = writes.why_not_internal = "reads and writes first call the same function " +
                                                       hex(reads.internal->target) + ": not an internal read or write";
    reads.internal.reset();
    writes.internal.reset();
  }
  add_direction(elf, x86_64, read, reads, ZT_TLS_INTERNAL_READ, plan);
  // OpenSSL 3.3 added SSL_write_ex2 and a flags argument to ssl_write_internal, before `written`.
  const auto ex2 = elf.find_function("SSL_write_ex2");
  const bool write_flags = ex2 && ex2->global;
  if (write_flags && writes.internal) {
    plan.notes.emplace_back("write: SSL_write_ex2 is exported (OpenSSL 3.3+): the internal write takes flags");
  }
  add_direction(elf, x86_64, write, writes, write_flags ? ZT_TLS_INTERNAL_WRITE_FLAGS : ZT_TLS_INTERNAL_WRITE, plan);

  // Once per connection, and no return value needed: the entry alone, wherever it is.
  if (auto f = find_exported(elf, {"SSL_set_fd", ZT_TLS_SET_FD}, x86_64, plan.notes)) {
    add_site(elf, x86_64, plan, ZT_TLS_SET_FD, "SSL_set_fd", f->vaddr, f->code, entry_skip(f->code, x86_64), false);
  }
  return plan;
}

}  // namespace zt::tls
