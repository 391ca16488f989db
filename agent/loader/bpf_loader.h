// Owns the loaded BPF programs: opens the skeletons, sets load-time settings, shares maps
// between objects, attaches, and gives the agent the handles it needs. Move-only RAII.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "probes/uprobe_link.h"
#include "zerotrace/abi.h"

struct sockets_bpf;
struct process_bpf;
struct cuda_bpf;
struct tls_bpf;
struct bpf_object;

namespace zt::loader {

struct LoaderOptions {
  std::uint32_t capture_bytes = 4096;          // power of two, <= ZT_MAX_CAPTURE
  std::uint32_t ringbuf_bytes = 16u << 20;     // power of two, multiple of the page size
  std::uint64_t wakeup_threshold = 1u << 20;   // bytes pending before a record wakes the reader
  bool trace_all = false;                      // every process except the agent
  bool report_all_execs = false;               // node mode with selection rules
  bool verbose_libbpf = false;                 // libbpf debug messages into the log
  bool cuda = true;                            // load the CUDA uprobe programs (attached per process)
  bool tls = true;                             // load the TLS uprobe programs (attached per process)
};

using KernelCounters = std::array<std::uint64_t, ZT_CNT_NR>;

class BpfLoader {
 public:
  static Result<std::unique_ptr<BpfLoader>> load_and_attach(const LoaderOptions& options);
  ~BpfLoader();
  BpfLoader(const BpfLoader&) = delete;
  BpfLoader& operator=(const BpfLoader&) = delete;

  Result<void> trace_pid(std::uint32_t tgid, bool follow_children);
  void untrace_pid(std::uint32_t tgid);
  bool is_traced(std::uint32_t tgid) const;
  // (A process's connection state needs no cleanup at exit: conn_map is LRU, and an entry left
  // by an earlier process with the same tgid is recognised by its start time and replaced.)

  // Kernel control of capture (abi.h, struct zt_conn_ctl), written through a shared mapping: no
  // syscall. The connection's further data calls produce no events.
  void disable_connection(std::uint64_t conn_id);
  // Data calls of `direction` whose bytes all lie below stream position `until` are reported
  // with their size and position but no payload.
  void skip_payload(std::uint64_t conn_id, zt_direction direction, std::uint64_t until);

  // Attaches program `request.program` of the uprobe family's BPF object (bpf/<family>.bpf.c,
  // looked up by name) to functions of one file for one process: one uprobe_multi link for every
  // offset where the kernel has them, else one offset per request.
  Result<probes::UprobeLinkPtr> attach_uprobe(const probes::UprobeRequest& request);
  // Whether the uprobe programs were loaded for uprobe_multi links (kernel 6.6+, process filter fixed).
  bool uprobe_multi() const { return uprobe_multi_; }
  bool cuda_enabled() const { return cuda_ != nullptr; }
  bool tls_enabled() const { return tls_ != nullptr; }
  // Ties an SSL object of process `tgid` to its socket `fd` for the TLS programs (ssl_fds_map):
  // its later calls that make no socket syscall are tied in the kernel. False when TLS is off or
  // the map refused the entry.
  bool bind_tls(std::uint32_t tgid, std::uint64_t ssl, std::int32_t fd);

  int ringbuf_fd() const;
  KernelCounters read_counters() const;  // summed over CPUs
  const LoaderOptions& options() const { return options_; }

 private:
  BpfLoader() = default;
  Result<void> open_and_load();
  Result<void> attach();
  Result<void> map_conn_control();

  // Claims the slot of `conn_id` (or updates it) so that the BPF reader never pairs one
  // connection's id with another's positions.
  void write_control(std::uint64_t conn_id, std::uint64_t until_egress, std::uint64_t until_ingress);

  LoaderOptions options_;
  sockets_bpf* sockets_ = nullptr;
  process_bpf* process_ = nullptr;
  cuda_bpf* cuda_ = nullptr;
  tls_bpf* tls_ = nullptr;
  bool uprobe_multi_ = false;
  std::vector<std::pair<std::string, bpf_object*>> uprobe_objects_;  // family name -> object
  zt_conn_ctl* conn_ctl_ = nullptr;  // ZT_CONN_CTL_SLOTS entries, mmap of conn_ctl_map
  std::size_t conn_ctl_bytes_ = 0;
};

// Routes libbpf's messages into spdlog (warnings always, debug output when `verbose`).
void route_libbpf_logs(bool verbose);

}  // namespace zt::loader
