#include "loader/bpf_loader.h"

#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "cuda.skel.h"
#include "loader/tracefs.h"
#include "process.skel.h"
#include "sockets.skel.h"
#include "tls.skel.h"
#include "zerotrace/tls_abi.h"

namespace zt::loader {
namespace {

bool g_verbose_libbpf = false;

int libbpf_to_spdlog(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !g_verbose_libbpf) return 0;
  char line[1024];
  int n = std::vsnprintf(line, sizeof line, format, args);
  if (n <= 0) return n;
  std::string_view text(line, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof line - 1));
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  switch (level) {
    case LIBBPF_WARN:
      spdlog::warn("libbpf: {}", text);
      break;
    case LIBBPF_INFO:
      spdlog::debug("libbpf: {}", text);
      break;
    case LIBBPF_DEBUG:
      spdlog::trace("libbpf: {}", text);
      break;
  }
  return n;
}

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

bool is_power_of_two(std::uint64_t v) { return v && !(v & (v - 1)); }

// A uprobe family's programs come in two builds, `p` (SEC("uprobe"), one link per function) and
// `p_multi` (SEC("uprobe.multi")): the kernel takes either kind, not both, so one set is loaded.
constexpr const char* kMultiSuffix = "_multi";

void select_uprobe_programs(bpf_object* obj, bool multi) {
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, obj) {
    const std::string_view name = bpf_program__name(prog);
    if (name.ends_with(kMultiSuffix)) {
      bpf_program__set_autoload(prog, multi);
    } else if (bpf_object__find_program_by_name(obj, (std::string(name) + kMultiSuffix).c_str())) {
      bpf_program__set_autoload(prog, !multi);
    }
  }
}

// uprobe_multi links (6.6) with a process filter that filters processes, not threads (fixed in
// 6.9): a link on "/" is refused as not a regular file (EBADF), one with pid -1 as invalid (EINVAL,
// where the fix checks the pid before the path).
bool kernel_has_uprobe_multi() {
  const bpf_insn insns[] = {{BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0}, {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
  LIBBPF_OPTS(bpf_prog_load_opts, popts, .expected_attach_type = BPF_TRACE_UPROBE_MULTI);
  const int prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, nullptr, "GPL", insns, 2, &popts);
  if (prog < 0) return false;
  const unsigned long offset = 0;
  auto link_errno = [&](int pid) {
    LIBBPF_OPTS(bpf_link_create_opts, lopts);
    lopts.uprobe_multi.path = "/";
    lopts.uprobe_multi.offsets = &offset;
    lopts.uprobe_multi.cnt = 1;
    lopts.uprobe_multi.pid = static_cast<__u32>(pid);
    const int fd = bpf_link_create(prog, -1, BPF_TRACE_UPROBE_MULTI, &lopts);
    const int err = fd < 0 ? errno : 0;
    if (fd >= 0) ::close(fd);
    return err;
  };
  const bool ok = link_errno(0) == EBADF && link_errno(-1) == EINVAL;
  ::close(prog);
  return ok;
}

// The BPF side's view of these (bpf/sockets.bpf.c) is the same header; the sizes pin the layout.
static_assert(sizeof(zt_conn_key) == 8);
static_assert(sizeof(zt_conn_ctl) == 24);
static_assert((ZT_CONN_CTL_SLOTS & (ZT_CONN_CTL_SLOTS - 1)) == 0, "slots are picked by mask");

}  // namespace

void route_libbpf_logs(bool verbose) {
  g_verbose_libbpf = verbose;
  libbpf_set_print(libbpf_to_spdlog);
}

Result<std::unique_ptr<BpfLoader>> BpfLoader::load_and_attach(const LoaderOptions& options) {
  if (!is_power_of_two(options.capture_bytes) || options.capture_bytes > ZT_MAX_CAPTURE) {
    return make_error("capture size must be a power of two no larger than " + std::to_string(ZT_MAX_CAPTURE) +
                      ", got " + std::to_string(options.capture_bytes));
  }
  if (!is_power_of_two(options.ringbuf_bytes) ||
      options.ringbuf_bytes % static_cast<std::uint32_t>(sysconf(_SC_PAGESIZE)) != 0) {
    return make_error("ring buffer size must be a power of two multiple of the page size");
  }
  std::unique_ptr<BpfLoader> loader(new BpfLoader());
  loader->options_ = options;
  route_libbpf_logs(options.verbose_libbpf);
  // Capture itself needs no tracefs (BTF tracepoints); it is mounted for tools and later probe
  // kinds that look for it, and its absence is only worth a debug line.
  if (auto tracefs = ensure_tracefs(); !tracefs) spdlog::debug("{}", tracefs.error().message);
  if (auto r = loader->open_and_load(); !r) return r.error();
  if (auto r = loader->map_conn_control(); !r) return r.error();
  if (auto r = loader->attach(); !r) return r.error();
  return loader;
}

Result<void> BpfLoader::open_and_load() {
  sockets_ = sockets_bpf__open();
  if (!sockets_) return make_error("opening the socket programs failed: " + errno_text(errno));
  sockets_->rodata->capture_bytes = options_.capture_bytes;
  sockets_->rodata->trace_all = options_.trace_all;
  sockets_->rodata->agent_tgid = static_cast<std::uint32_t>(getpid());
  sockets_->rodata->wakeup_threshold = options_.wakeup_threshold;
  // Uprobe families probe libraries loaded after the process became traced (dlopen).
  sockets_->rodata->report_exec_mappings = options_.cuda || options_.tls;
  sockets_->rodata->tls_enabled = options_.tls;
  if (int err = bpf_map__set_max_entries(sockets_->maps.events, options_.ringbuf_bytes); err) {
    return make_error("sizing the ring buffer failed: " + errno_text(err));
  }
  if (int err = sockets_bpf__load(sockets_); err) {
    return make_error("loading the socket programs failed: " + errno_text(err) +
                      " (run `zerotrace check`; -v shows the verifier log)");
  }

  process_ = process_bpf__open();
  if (!process_) return make_error("opening the process programs failed: " + errno_text(errno));
  process_->rodata->trace_all = options_.trace_all;
  process_->rodata->agent_tgid = static_cast<std::uint32_t>(getpid());
  process_->rodata->wakeup_threshold = options_.wakeup_threshold;
  process_->rodata->report_all_execs = options_.report_all_execs;
  // One traced set, one ring buffer, one set of counters for every object (maps.h).
  const auto share_maps = [this](bpf_map* traced, bpf_map* events, bpf_map* counters) -> Result<void> {
    const std::pair<bpf_map*, bpf_map*> shared[] = {{sockets_->maps.traced_pids_map, traced},
                                                    {sockets_->maps.events, events},
                                                    {sockets_->maps.counters_map, counters}};
    for (const auto& [owner, user] : shared) {
      if (int err = bpf_map__reuse_fd(user, bpf_map__fd(owner)); err) {
        return make_error(std::string("sharing map ") + bpf_map__name(owner) + " failed: " + errno_text(err));
      }
    }
    return {};
  };
  if (auto r = share_maps(process_->maps.traced_pids_map, process_->maps.events, process_->maps.counters_map); !r) {
    return r.error();
  }
  if (int err = process_bpf__load(process_); err) {
    return make_error("loading the process programs failed: " + errno_text(err));
  }
  if (options_.cuda || options_.tls) uprobe_multi_ = kernel_has_uprobe_multi();
  if (options_.cuda) {
    // Uprobe programs: loaded now, attached per process and file when CUDA code is found.
    cuda_ = cuda_bpf__open();
    if (!cuda_) return make_error("opening the CUDA programs failed: " + errno_text(errno));
    cuda_->rodata->trace_all = options_.trace_all;
    cuda_->rodata->agent_tgid = static_cast<std::uint32_t>(getpid());
    cuda_->rodata->wakeup_threshold = options_.wakeup_threshold;
    if (auto r = share_maps(cuda_->maps.traced_pids_map, cuda_->maps.events, cuda_->maps.counters_map); !r) {
      return r.error();
    }
    select_uprobe_programs(cuda_->obj, uprobe_multi_);
    if (int err = cuda_bpf__load(cuda_); err) {
      return make_error("loading the CUDA programs failed: " + errno_text(err) + " (--no-cuda leaves them out)");
    }
    uprobe_objects_.emplace_back("cuda", cuda_->obj);
  }
  if (options_.tls) {
    tls_ = tls_bpf__open();
    if (!tls_) return make_error("opening the TLS programs failed: " + errno_text(errno));
    tls_->rodata->trace_all = options_.trace_all;
    tls_->rodata->agent_tgid = static_cast<std::uint32_t>(getpid());
    tls_->rodata->wakeup_threshold = options_.wakeup_threshold;
    tls_->rodata->capture_bytes = options_.capture_bytes;
    if (auto r = share_maps(tls_->maps.traced_pids_map, tls_->maps.events, tls_->maps.counters_map); !r) {
      return r.error();
    }
    // The connections and the TLS call frames (per thread, per goroutine) are the socket programs'
    // (conn_map.h, tls_frame.h).
    const std::pair<bpf_map*, bpf_map*> tls_shared[] = {{sockets_->maps.conn_map, tls_->maps.conn_map},
                                                        {sockets_->maps.tls_frames_map, tls_->maps.tls_frames_map},
                                                        {sockets_->maps.go_tls_calls_map, tls_->maps.go_tls_calls_map}};
    for (const auto& [owner, user] : tls_shared) {
      if (int err = bpf_map__reuse_fd(user, bpf_map__fd(owner)); err) {
        return make_error(std::string("sharing map ") + bpf_map__name(owner) + " failed: " + errno_text(err));
      }
    }
    select_uprobe_programs(tls_->obj, uprobe_multi_);
    if (int err = tls_bpf__load(tls_); err) {
      return make_error("loading the TLS programs failed: " + errno_text(err) + " (--no-tls leaves them out)");
    }
    uprobe_objects_.emplace_back("tls", tls_->obj);
  }
  return {};
}

namespace {

class BpfUprobeLink final : public probes::UprobeLink {
 public:
  explicit BpfUprobeLink(bpf_link* link) : link_(link) {}
  ~BpfUprobeLink() override { bpf_link__destroy(link_); }
  BpfUprobeLink(const BpfUprobeLink&) = delete;
  BpfUprobeLink& operator=(const BpfUprobeLink&) = delete;

 private:
  bpf_link* link_;
};

}  // namespace

Result<probes::UprobeLinkPtr> BpfLoader::attach_uprobe(const probes::UprobeRequest& req) {
  bpf_object* obj = nullptr;
  for (const auto& [family, o] : uprobe_objects_) {
    if (family == req.family) obj = o;
  }
  if (!obj) return make_error("the " + req.family + " uprobe programs are not loaded");
  if (req.offsets.empty() || req.cookies.size() != req.offsets.size() || (!uprobe_multi_ && req.offsets.size() != 1)) {
    return make_error(fmt::format("uprobe request for {} with {} offsets and {} cookies", req.program,
                                  req.offsets.size(), req.cookies.size()));
  }
  const std::string name = uprobe_multi_ ? req.program + kMultiSuffix : req.program;
  bpf_program* prog = bpf_object__find_program_by_name(obj, name.c_str());
  if (!prog) return make_error("no program " + name + " in bpf/" + req.family + ".bpf.c");
  const auto pid = static_cast<pid_t>(req.pid);
  bpf_link* link = nullptr;
  if (uprobe_multi_) {
    static_assert(sizeof(unsigned long) == sizeof(std::uint64_t) && sizeof(__u64) == sizeof(std::uint64_t));
    LIBBPF_OPTS(bpf_uprobe_multi_opts, opts, .offsets = reinterpret_cast<const unsigned long*>(req.offsets.data()),
                .cookies = reinterpret_cast<const __u64*>(req.cookies.data()), .cnt = req.offsets.size(),
                .retprobe = req.retprobe);
    link = bpf_program__attach_uprobe_multi(prog, pid, req.path.c_str(), nullptr, &opts);
  } else {
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = req.cookies.front(), .retprobe = req.retprobe);
    link = bpf_program__attach_uprobe_opts(prog, pid, req.path.c_str(), static_cast<std::size_t>(req.offsets.front()),
                                           &opts);
  }
  if (!link) {
    const int err = errno;
    return make_error(fmt::format("{} ({} function{}) on {}+0x{:x} for pid {}: {}", name, req.offsets.size(),
                                  req.offsets.size() == 1 ? "" : "s", req.path, req.offsets.front(), req.pid,
                                  errno_text(err)));
  }
  return probes::UprobeLinkPtr(new BpfUprobeLink(link));
}

Result<void> BpfLoader::map_conn_control() {
  conn_ctl_bytes_ = sizeof(zt_conn_ctl) * ZT_CONN_CTL_SLOTS;
  void* mem =
      mmap(nullptr, conn_ctl_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(sockets_->maps.conn_ctl_map), 0);
  if (mem == MAP_FAILED) return make_error("mapping the connection control map failed: " + errno_text(errno));
  conn_ctl_ = static_cast<zt_conn_ctl*>(mem);
  return {};
}

void BpfLoader::write_control(std::uint64_t conn_id, std::uint64_t until_egress, std::uint64_t until_ingress) {
  zt_conn_ctl& slot = conn_ctl_[conn_id & (ZT_CONN_CTL_SLOTS - 1)];
  std::atomic_ref<std::uint64_t> owner(slot.conn_id);
  std::atomic_ref<std::uint64_t> egress(slot.skip_until[ZT_DIR_EGRESS]);
  std::atomic_ref<std::uint64_t> ingress(slot.skip_until[ZT_DIR_INGRESS]);
  // The reader (skip_until in sockets.bpf.c) reads the id, a position, then the id again.
  if (owner.load() != conn_id) owner.store(0);
  egress.store(until_egress);
  ingress.store(until_ingress);
  owner.store(conn_id);
}

bool BpfLoader::bind_tls(std::uint32_t tgid, std::uint64_t ssl, std::int32_t fd) {
  if (!tls_) return false;
  zt_ssl_key key{};
  key.tgid = tgid;
  key.ssl = ssl;
  zt_ssl_fd value{};
  value.fd = fd;
  value.proc_start_ns = 0;  // the agent's binding: for the process that has the tgid now
  return bpf_map__update_elem(tls_->maps.ssl_fds_map, &key, sizeof key, &value, sizeof value, BPF_ANY) == 0;
}

void BpfLoader::disable_connection(std::uint64_t conn_id) { write_control(conn_id, ZT_SKIP_ALL, ZT_SKIP_ALL); }

void BpfLoader::skip_payload(std::uint64_t conn_id, zt_direction direction, std::uint64_t until) {
  zt_conn_ctl& slot = conn_ctl_[conn_id & (ZT_CONN_CTL_SLOTS - 1)];
  const bool mine = std::atomic_ref<std::uint64_t>(slot.conn_id).load() == conn_id;
  // The other direction keeps its own skip when this slot is already the connection's.
  std::uint64_t until_dir[2] = {mine ? slot.skip_until[0] : 0, mine ? slot.skip_until[1] : 0};
  until_dir[direction & 1] = until;
  write_control(conn_id, until_dir[ZT_DIR_EGRESS], until_dir[ZT_DIR_INGRESS]);
}

Result<void> BpfLoader::attach() {
  if (int err = sockets_bpf__attach(sockets_); err) {
    return make_error("attaching the syscall tracepoints failed: " + errno_text(err) + " (run `zerotrace check`)");
  }
  if (int err = process_bpf__attach(process_); err) {
    return make_error("attaching the sched tracepoints failed: " + errno_text(err));
  }
  return {};
}

BpfLoader::~BpfLoader() {
  // Detach the process, CUDA and TLS hooks first: they write into maps the socket object owns.
  // (Per-process uprobe links are owned by the agent and destroyed before the loader.)
  if (conn_ctl_) munmap(conn_ctl_, conn_ctl_bytes_);
  if (tls_) tls_bpf__destroy(tls_);
  if (cuda_) cuda_bpf__destroy(cuda_);
  if (process_) process_bpf__destroy(process_);
  if (sockets_) sockets_bpf__destroy(sockets_);
}

Result<void> BpfLoader::trace_pid(std::uint32_t tgid, bool follow_children) {
  zt_traced_pid value{};
  value.flags = follow_children ? ZT_TRACE_F_FOLLOW_CHILDREN : 0;
  if (bpf_map__update_elem(sockets_->maps.traced_pids_map, &tgid, sizeof tgid, &value, sizeof value, BPF_ANY)) {
    return make_error("cannot trace pid " + std::to_string(tgid) + ": " + errno_text(errno));
  }
  return {};
}

void BpfLoader::untrace_pid(std::uint32_t tgid) {
  bpf_map__delete_elem(sockets_->maps.traced_pids_map, &tgid, sizeof tgid, 0);
}

bool BpfLoader::is_traced(std::uint32_t tgid) const {
  zt_traced_pid value{};
  return bpf_map__lookup_elem(sockets_->maps.traced_pids_map, &tgid, sizeof tgid, &value, sizeof value, 0) == 0;
}

int BpfLoader::ringbuf_fd() const { return bpf_map__fd(sockets_->maps.events); }

KernelCounters BpfLoader::read_counters() const {
  KernelCounters totals{};
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return totals;
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(ncpus));
  for (std::uint32_t i = 0; i < ZT_CNT_NR; ++i) {
    if (bpf_map__lookup_elem(sockets_->maps.counters_map, &i, sizeof i, per_cpu.data(),
                             per_cpu.size() * sizeof(std::uint64_t), 0) == 0) {
      for (auto v : per_cpu) totals[i] += v;
    }
  }
  return totals;
}

}  // namespace zt::loader
