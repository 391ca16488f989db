#include "loader/kernel_features.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "loader/bpf_loader.h"
#include "loader/tracefs.h"

namespace zt::loader {
namespace {

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

std::uint64_t effective_caps() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return 0;
  return static_cast<std::uint64_t>(data[0].effective) | (static_cast<std::uint64_t>(data[1].effective) << 32);
}

bool has_cap(std::uint64_t caps, int cap) { return (caps >> cap) & 1; }

}  // namespace

bool has_btf() { return exists("/sys/kernel/btf/vmlinux"); }

bool is_privileged() {
  const std::uint64_t caps = effective_caps();
  if (has_cap(caps, CAP_SYS_ADMIN)) return true;
#ifdef CAP_BPF
  return has_cap(caps, CAP_BPF) && has_cap(caps, CAP_PERFMON);
#else
  return false;
#endif
}

std::vector<FeatureCheck> probe_kernel_features(bool mount_tracefs) {
  std::vector<FeatureCheck> out;
  utsname uts{};
  uname(&uts);

  {
    FeatureCheck c{"kernel", true, std::string(uts.sysname) + " " + uts.release + " " + uts.machine, "", false};
    out.push_back(c);
  }
  {
    const bool ok = is_privileged();
    out.push_back({"privileges", ok, ok ? "CAP_BPF/CAP_PERFMON or CAP_SYS_ADMIN present" : "missing CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN",
                   ok ? "" : "cannot load programs: run as root or grant CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN", true});
  }
  {
    const bool ok = has_btf();
    out.push_back({"BTF", ok, ok ? "/sys/kernel/btf/vmlinux" : "no /sys/kernel/btf/vmlinux",
                   ok ? "" : "CO-RE programs cannot be relocated: zerotrace needs a kernel built with CONFIG_DEBUG_INFO_BTF", true});
  }
  {
    std::string dir = find_tracefs();
    std::string detail = dir.empty() ? "not mounted" : "mounted at " + dir;
    if (dir.empty() && mount_tracefs) {
      if (auto r = ensure_tracefs(); r) {
        dir = *r;
        detail = "was not mounted; mounted at " + dir;
      } else {
        detail = r.error().message;
      }
    }
    const bool ok = !dir.empty();
    out.push_back({"tracefs", ok, detail, ok ? "" : "not needed for capture (BTF tracepoints); the agent mounts it when it can", false});
  }
  {
    const bool ok = exists("/sys/bus/event_source/devices/uprobe");
    out.push_back({"uprobes", ok, ok ? "/sys/bus/event_source/devices/uprobe" : "absent",
                   ok ? "" : "no CUDA capture; socket protocols still work", false});
  }
  {
    const bool ok = exists("/sys/bus/event_source/devices/kprobe");
    out.push_back({"kprobes", ok, ok ? "/sys/bus/event_source/devices/kprobe" : "absent (CONFIG_KPROBES not set)",
                   ok ? "" : "none needed: zerotrace captures through tracepoints and uprobes only", false});
  }
  {
    const bool ok = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
    out.push_back({"BPF ring buffer", ok, ok ? "BPF_MAP_TYPE_RINGBUF loads" : "BPF_MAP_TYPE_RINGBUF unsupported (kernel < 5.8?)",
                   ok ? "" : "events cannot be delivered: zerotrace needs Linux 5.8 or newer", true});
  }
  {
    // The decisive check: load and attach zerotrace's own programs (then detach at once).
    const bool can_try = is_privileged() && has_btf();
    std::string detail = "not tried: needs privileges and BTF";
    bool ok = false;
    if (can_try) {
      LoaderOptions opts;
      opts.ringbuf_bytes = 1u << 16;
      auto loaded = BpfLoader::load_and_attach(opts);
      ok = loaded.ok();
      detail = ok ? "tp_btf/sys_enter, sys_exit, sched_process_fork, _exec, _exit load and attach"
                  : loaded.error().message;
    }
    out.push_back({"zerotrace programs", ok, detail, ok ? "" : "nothing can be captured", true});
  }
  return out;
}

}  // namespace zt::loader
