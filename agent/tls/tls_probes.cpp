#include "tls/tls_probes.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <sstream>

#include "tls/tls_sites.h"
#include "zerotrace/tls_abi.h"

namespace zt::tls {

namespace {

// The family's probes in the order of enum zt_tls_call: the spec of call c is probes[c - 1].
probes::UprobeFamily declared() {
  probes::UprobeFamily f;
  f.name = "tls";
  f.display_name = "TLS";
  f.library.file_names = {"libssl.so*"};
  f.library.any_file_defining = true;  // node links OpenSSL statically and exports SSL_*
  f.only_with_sockets = true;          // TLS needs a socket: no probes in processes without one
  const auto add = [&f](zt_tls_call call, std::vector<std::string> symbols, bool has_return,
                        const char* program = "tls_enter") {
    probes::UprobeSpec spec;
    spec.symbols = std::move(symbols);
    spec.every_variant = false;
    spec.entry_program = program;
    spec.return_program = has_return ? "tls_exit" : "";
    spec.cookie = call;
    f.probes.push_back(std::move(spec));
  };
  add(ZT_TLS_READ, {"SSL_read"}, true);
  add(ZT_TLS_READ_EX, {"SSL_read_ex"}, true);
  add(ZT_TLS_INTERNAL_READ, {}, true);  // found by the site plan, never by name
  add(ZT_TLS_WRITE, {"SSL_write"}, true);
  add(ZT_TLS_WRITE_EX, {"SSL_write_ex"}, true);
  add(ZT_TLS_INTERNAL_WRITE, {}, true);
  add(ZT_TLS_WRITE_EX2, {"SSL_write_ex2"}, true);
  add(ZT_TLS_INTERNAL_WRITE_FLAGS, {}, true);
  add(ZT_TLS_SET_FD, {"SSL_set_fd"}, false);
  // Go: found by the Go site plan (entries and every `ret`), one program for all four.
  add(ZT_TLS_GO_READ, {}, false, "go_tls");
  add(ZT_TLS_GO_WRITE, {}, false, "go_tls");
  add(ZT_TLS_GO_READ_RET, {}, false, "go_tls");
  return f;
}

std::atomic<std::uint64_t> g_internal{0}, g_exported{0}, g_emulated{0}, g_single_stepped{0}, g_go{0};

bool go_call(zt_tls_call call) { return call >= ZT_TLS_GO_READ && call <= ZT_TLS_GO_READ_RET; }

// The attach cookie: the call in the low byte, a Go entry's itab above it (tls_abi.h).
std::uint64_t site_cookie(const TlsSite& site) {
  return static_cast<std::uint64_t>(site.call) | (site.tcp_conn_itab << ZT_TLS_COOKIE_ITAB_SHIFT);
}

// Counts a chosen site by kind and by the cost of its instruction.
void count_site(zt_tls_call call, symbols::x86::ProbeCost cost);

bool internal_call(zt_tls_call call) {
  return call == ZT_TLS_INTERNAL_READ || call == ZT_TLS_INTERNAL_WRITE || call == ZT_TLS_INTERNAL_WRITE_FLAGS;
}

// The plan's sites as the attacher takes them: the spec of each site's call (its cookie and
// programs). A read or write site where no return probe may go cannot give plaintext: left out.
void count_site(zt_tls_call call, symbols::x86::ProbeCost cost) {
  if (call == ZT_TLS_SET_FD) return;  // once per connection, not per call
  if (go_call(call)) {
    ++g_go;
  } else {
    (internal_call(call) ? g_internal : g_exported)++;
  }
  if (cost == symbols::x86::ProbeCost::Emulated || cost == symbols::x86::ProbeCost::Nop5) ++g_emulated;
  if (cost == symbols::x86::ProbeCost::SingleStepped) ++g_single_stepped;
}

probes::FoundSites planned_sites(const probes::UprobeFamily& family, const symbols::ElfFile& elf) {
  TlsSitePlan plan = plan_tls_sites(elf);
  const TlsSitePlan go = plan_go_tls_sites(elf);
  plan.sites.insert(plan.sites.end(), go.sites.begin(), go.sites.end());
  plan.notes.insert(plan.notes.end(), go.notes.begin(), go.notes.end());
  probes::FoundSites found;
  for (const auto& site : plan.sites) {
    const auto spec = static_cast<std::size_t>(site.call) - 1;
    if (spec >= family.probes.size()) continue;
    if (!site.with_return && !family.probes[spec].return_program.empty()) continue;
    found.sites.push_back(probes::UprobeSite{spec, site.symbol, site.file_offset, site_cookie(site)});
    count_site(site.call, site.cost);
  }
  // Why these sites, once per file (the plan is the same in every process mapping it).
  static std::mutex mutex;
  static std::set<std::string> explained;
  const std::lock_guard lock(mutex);
  if (!plan.sites.empty() && explained.insert(elf.build_id().empty() ? elf.name() : elf.build_id()).second) {
    for (const auto& note : plan.notes) spdlog::debug("TLS probe sites in {}: {}", elf.name(), note);
  }
  return found;
}

// Without the internal-site plan (tls.internal_sites: false): the exported functions as declared,
// counted like the plan's sites with the cost of their first instruction.
probes::FoundSites exported_sites(const probes::UprobeFamily& family, const symbols::ElfFile& elf) {
  probes::FoundSites found = probes::declared_sites(family, elf);
  for (const auto& site : found.sites) {
    const auto sym = elf.find_function(site.symbol);
    const bool x86 = elf.machine() == 62;  // EM_X86_64: other machines' costs are not decoded
    const auto code = sym && x86 ? elf.read_code(sym->address, 16) : std::nullopt;
    count_site(static_cast<zt_tls_call>(family.probes[site.spec].cookie),
               code ? symbols::x86::probe_cost(*code) : symbols::x86::ProbeCost::Unknown);
  }
  // Go has no exported entries to fall back to: its sites are the plan's either way.
  for (const auto& site : plan_go_tls_sites(elf).sites) {
    found.sites.push_back(
        probes::UprobeSite{static_cast<std::size_t>(site.call) - 1, site.symbol, site.file_offset, site_cookie(site)});
    count_site(site.call, site.cost);
  }
  return found;
}

}  // namespace

TlsSiteCounts site_counts() {
  return {g_internal.load(), g_exported.load(), g_emulated.load(), g_single_stepped.load(), g_go.load()};
}

std::string describe_host_sites() {
  std::vector<std::string> files;
  std::set<std::string> seen;
  const auto add = [&](const std::filesystem::path& path) {
    std::error_code ec;
    const auto real = std::filesystem::canonical(path, ec);
    if (!ec && std::filesystem::is_regular_file(real, ec) && seen.insert(real.string()).second) files.push_back(real);
  };
  for (const char* dir : {"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                          "/usr/lib64", "/usr/lib", "/usr/local/lib"}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().filename().string().starts_with("libssl.so.")) add(entry.path());
    }
  }
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');) {
      std::error_code ec;
      if (std::filesystem::exists(std::filesystem::path(dir) / "node", ec)) {
        add(std::filesystem::path(dir) / "node");
        break;
      }
    }
  }
  std::ostringstream out;
  for (const auto& file : files) {
    auto elf = symbols::ElfFile::open(file);
    if (!elf) {
      out << "  " << file << ": not readable as ELF: " << elf.error().message << "\n";
      continue;
    }
    const TlsSitePlan plan = plan_tls_sites(*elf.value());
    if (plan.sites.empty()) continue;
    out << "  " << file << "\n";
    for (const auto& site : plan.sites) {
      out << "    " << site.symbol << " at file offset 0x" << std::hex << site.file_offset << std::dec << ": "
          << symbols::x86::to_string(site.cost) << (site.with_return ? ", entry and return" : ", entry") << "\n";
    }
    for (const auto& note : plan.notes) out << "      " << note << "\n";
  }
  return out.str();
}

probes::UprobeFamily probe_family(bool cheap_sites) {
  probes::UprobeFamily f = declared();
  f.choose_sites = cheap_sites ? planned_sites : exported_sites;
  return f;
}

}  // namespace zt::tls
