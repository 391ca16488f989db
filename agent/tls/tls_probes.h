// The TLS uprobe family: OpenSSL-compatible libraries (libssl.so.3, libssl.so.1.1) and executables
// that carry OpenSSL themselves and export its functions (node), probed by bpf/tls.bpf.c. The
// attach cookie is the function's calling convention (enum zt_tls_call, zerotrace/tls_abi.h).
// probes::UprobeAttacher finds and attaches them per traced process; the plaintext they capture
// reaches the connection tracker as data events of the socket they were tied to.
#pragma once

#include <cstdint>
#include <string>

#include "probes/uprobe_family.h"

namespace zt::tls {

// Every function optional: SSL_read, SSL_read_ex, SSL_write, SSL_write_ex, SSL_write_ex2 (entry
// and return), SSL_set_fd (entry). `cheap_sites` lets the family pick the internal functions the
// exported ones call where their first instruction costs less to probe (tls_sites.h); without it
// the exported functions are probed.
probes::UprobeFamily probe_family(bool cheap_sites = true);

// Sites chosen by the plan in the files probed so far (one count per file and process).
struct TlsSiteCounts {
  std::uint64_t internal = 0;        // ssl_read_internal/ssl_write_internal instead of the wrappers
  std::uint64_t exported = 0;        // exported entries (SSL_read, SSL_write_ex, ...)
  std::uint64_t emulated = 0;        // sites whose instruction the kernel emulates (one trap)
  std::uint64_t single_stepped = 0;  // sites the kernel single-steps (two traps: 3-4x dearer)
  std::uint64_t go = 0;              // Go crypto/tls sites (entries and `ret`s)
};
TlsSiteCounts site_counts();

// For `zerotrace check`: the OpenSSL-compatible files this host offers traced processes (the
// system's libssl.so.*, and node on PATH), each with the sites the plan chooses and why.
std::string describe_host_sites();

}  // namespace zt::tls
