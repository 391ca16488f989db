#include "tls/tls_probes.h"

#include <spdlog/spdlog.h>

#include <mutex>
#include <set>

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
  const auto add = [&f](zt_tls_call call, std::vector<std::string> symbols, bool has_return) {
    probes::UprobeSpec spec;
    spec.symbols = std::move(symbols);
    spec.every_variant = false;
    spec.entry_program = "tls_enter";
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
  return f;
}

}  // namespace

// The plan's sites as the attacher takes them: the spec of each site's call (its cookie and
// programs). A read or write site where no return probe may go cannot give plaintext: left out.
probes::FoundSites planned_sites(const probes::UprobeFamily& family, const symbols::ElfFile& elf) {
  const TlsSitePlan plan = plan_tls_sites(elf);
  probes::FoundSites found;
  for (const auto& site : plan.sites) {
    const auto spec = static_cast<std::size_t>(site.call) - 1;
    if (spec >= family.probes.size()) continue;
    if (!site.with_return && !family.probes[spec].return_program.empty()) continue;
    found.sites.push_back(probes::UprobeSite{spec, site.symbol, site.file_offset});
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

probes::UprobeFamily probe_family(bool cheap_sites) {
  probes::UprobeFamily f = declared();
  if (cheap_sites) f.choose_sites = planned_sites;
  return f;
}

}  // namespace zt::tls
