#include "tls/tls_probes.h"

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

probes::UprobeFamily probe_family(bool cheap_sites) {
  probes::UprobeFamily f = declared();
  (void)cheap_sites;
  return f;
}

}  // namespace zt::tls
