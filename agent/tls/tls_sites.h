// Where the TLS probe family (bpf/include/zerotrace/tls_abi.h) probes one OpenSSL-compatible file:
// libssl.so.1.1/.so.3, or an executable that exports SSL_read/SSL_write (Node).
//
// On x86-64 a uprobe costs 3-4x more when its instruction is single-stepped rather than emulated
// (research/tls.md, 2.1). Debian's exported SSL_read*/SSL_write* start with `sub $n,%rsp`
// (single-stepped) and call the static ssl_read_internal/ssl_write_internal, which start with
// `push` (emulated): the plan probes the internal function instead of the wrappers when every
// exported wrapper provably calls the same one. Computed once per file (the result depends on the
// bytes alone: cache it by build-id), attached per traced process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "symbols/elf_file.h"
#include "symbols/x86_decode.h"
#include "zerotrace/tls_abi.h"

namespace zt::tls {

struct TlsSite {
  zt_tls_call call{};             // the attach cookie: which function, so which arguments
  std::string symbol;             // "SSL_read_ex", or "ssl_read_internal (via SSL_read, SSL_read_ex)"
  std::uint64_t vaddr = 0;        // ELF virtual address of the probed instruction
  std::uint64_t file_offset = 0;  // what the uprobe attaches to
  symbols::x86::ProbeCost cost = symbols::x86::ProbeCost::Unknown;
  // Whether a uretprobe goes here too. Only where [rsp] holds the caller's return address: the
  // function's first instruction, or the one after a leading endbr64 (the plan checks it).
  bool with_return = true;
  // Go entries (ZT_TLS_GO_READ/_WRITE) in a non-PIE executable: the address of the itab that
  // makes a *net.TCPConn a net.Conn (go:itab.*net.TCPConn,net.Conn), 0 when unknown. The entry
  // program reads the socket from the Conn only when its net.Conn has this itab.
  std::uint64_t tcp_conn_itab = 0;
};

struct TlsSitePlan {
  std::vector<TlsSite> sites;
  std::vector<std::string> notes;  // why each choice, for the log and `zerotrace check`
  bool has_read() const;
  bool has_write() const;
};

// Reads:  ssl_read_internal (ZT_TLS_INTERNAL_READ) when SSL_read and SSL_read_ex (those exported)
//         all call it first, nothing else is named there, and it starts (after an endbr64) with
//         an emulated or nop5 instruction; else SSL_read (ZT_TLS_READ) and SSL_read_ex
//         (ZT_TLS_READ_EX) entries.
// Writes: likewise with SSL_write, SSL_write_ex and SSL_write_ex2; the internal function takes
//         flags (ZT_TLS_INTERNAL_WRITE_FLAGS) where SSL_write_ex2 is exported (OpenSSL 3.3+),
//         not (ZT_TLS_INTERNAL_WRITE) before; else ZT_TLS_WRITE, _WRITE_EX, _WRITE_EX2 entries.
// SSL_set_fd (ZT_TLS_SET_FD) entry, without a return probe, when exported.
// Never a wrapper and the function it calls (one call would be seen twice): a wrapper whose first
// call or tail jump goes to another wrapper of its direction is left to that one. An exported
// entry is probed past a leading endbr64 when an emulated instruction follows. Files for other
// machines than x86-64 get the exported entries, cost Unknown. Every function is optional.
TlsSitePlan plan_tls_sites(const symbols::ElfFile& elf);

// Go's crypto/tls in a Go executable (x86-64, Go 1.17+ register ABI), when its symbol table names
// crypto/tls.(*Conn).Read and .Write: for each, the entry (ZT_TLS_GO_READ/_WRITE) on the `push
// %rbp` after the stack check, and for Read a probe on every `ret` of the function
// (ZT_TLS_GO_READ_RET), never a uretprobe; Write's plaintext is taken at its entry. A function whose prologue is not
// the register ABI's (older Go), whose returns cannot all be found (a tail jump), or that is unreadable is left out,
// with a note. Stripped Go binaries (no .symtab) are not probed.
TlsSitePlan plan_go_tls_sites(const symbols::ElfFile& elf);

}  // namespace zt::tls
