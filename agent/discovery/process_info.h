// Who a process is, read from procfs, and the OpenTelemetry Resource that names it on spans.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/result.h"
#include "discovery/host_info.h"
#include "trace/span.h"

namespace zt::discovery {

inline constexpr std::string_view kDefaultProcRoot = "/proc";

struct ProcessIdentity {
  std::uint32_t pid = 0;
  std::uint32_t parent_pid = 0;
  // /proc/PID/stat field 22, clock ticks after boot: a pid reused by a new process has another.
  std::uint64_t start_time_ticks = 0;
  std::string comm;               // kernel's name (15 bytes at most): basename of the file exec'd
  std::string exe_path;           // target of /proc/PID/exe; empty for kernel threads or without permission
  std::string exe_name;           // basename of exe_path (python3 -> "python3.11"), else comm
  std::string command_line;       // argv joined by spaces, an empty argument shown as ""
  std::string otel_service_name;  // OTEL_SERVICE_NAME from the environment, empty if unset
  // OTEL_RESOURCE_ATTRIBUTES, percent-decoded, in order; empty when unset or malformed.
  std::vector<std::pair<std::string, std::string>> otel_resource_attributes;

  // Filled by read_owner_and_container; empty when unknown.
  std::string owner;         // user name of the real uid, or the uid in decimal when it has no name
  std::string container_id;  // 64 hex digits (container.h)
  std::string k8s_pod_uid;   // with dashes
};

// Reads /proc/PID/{stat,exe,cmdline,environ} under `proc_root`. Fails only when the process is
// gone (stat unreadable); unreadable exe or environ (permissions) leave those fields empty.
Result<ProcessIdentity> read_process_identity(std::uint32_t pid,
                                              const std::string& proc_root = std::string(kDefaultProcRoot));

// Adds what only the Resource needs, from /proc/PID/{status,cgroup,mountinfo}: the owner, the
// container (from the cgroup path; from the mounts when the process is at the root of a private
// cgroup namespace) and the Kubernetes pod. Kept out of read_process_identity, which process
// selection calls for every process. Missing or unreadable files leave fields empty.
void read_owner_and_container(ProcessIdentity& identity, const std::string& proc_root = std::string(kDefaultProcRoot));

// The real uid in the text of /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs").
std::optional<std::uint32_t> real_uid_from_status(std::string_view status);

// The user name of `uid` (getpwuid_r), or the uid in decimal when it has none.
std::string user_name(std::uint32_t uid);

bool process_exists(std::uint32_t pid, const std::string& proc_root = std::string(kDefaultProcRoot));

// Start time of a running process (stat field 22), for telling a reused pid apart.
Result<std::uint64_t> read_start_time_ticks(std::uint32_t pid,
                                            const std::string& proc_root = std::string(kDefaultProcRoot));

// Parses OTEL_RESOURCE_ATTRIBUTES ("k1=v1,k2=v2", values percent-encoded, whitespace around keys
// and values trimmed). As the OpenTelemetry spec asks, a malformed value is rejected as a whole.
Result<std::vector<std::pair<std::string, std::string>>> parse_otel_resource_attributes(std::string_view text);

// The Resource for a process: service.name, the OTEL_RESOURCE_ATTRIBUTES pairs, then what the agent
// observed (service.instance.id, process.*, host.*, os.type, container.id, k8s.pod.uid,
// telemetry.*), each unless declared. docs/span-schema.md lists them with their sources.
trace::Resource make_resource(const ProcessIdentity& identity, const HostIdentity& host);
// What is known about a process that exited before it could be read.
trace::Resource make_unknown_process_resource(std::uint32_t pid, const HostIdentity& host);

// service.instance.id: UUID version 5 in OpenTelemetry's namespace of
// "<host.id, else host.name>/<boot id>/<pid>/<start time ticks>": the same for a process however
// often the agent restarts; another for a reused pid, and after a reboot.
std::string service_instance_id(const HostIdentity& host, std::uint32_t pid, std::uint64_t start_time_ticks);

// Reads a procfs (or any) file to its end, or to its first `max_bytes`; procfs files report
// size 0, so stat() cannot size them.
Result<std::string> read_procfs_file(const std::string& path,
                                     std::size_t max_bytes = std::numeric_limits<std::size_t>::max());

// Resources per pid, read from procfs once and shared by every span of the process. The host is
// read once, when the registry is made. Safe for concurrent use (one mutex; procfs is read outside it).
class ProcessRegistry {
 public:
  explicit ProcessRegistry(std::string proc_root = std::string(kDefaultProcRoot),
                           HostIdentity host = read_host_identity(std::string(kDefaultHostRoot),
                                                                  std::string(kDefaultProcRoot)));

  // The cached Resource, reading procfs on first use. Never null; for a process already gone it
  // carries service.name "unknown_service", process.pid and the host's attributes, and is not cached.
  std::shared_ptr<const trace::Resource> resource_for(std::uint32_t pid);
  // Re-reads the process (after exec, when its name and environment change).
  std::shared_ptr<const trace::Resource> refresh(std::uint32_t pid);
  // Drops the process (after exit), so that a pid reused later is read afresh.
  void forget(std::uint32_t pid);
  // Drops cached processes that exited or whose pid now belongs to another process (an exit
  // event was lost). Returns how many were dropped. For a periodic sweep.
  std::size_t forget_exited();
  std::size_t size() const;

 private:
  struct Entry {
    std::uint64_t start_time_ticks = 0;
    std::shared_ptr<const trace::Resource> resource;
  };
  std::shared_ptr<const trace::Resource> read_and_cache(std::uint32_t pid);

  const std::string proc_root_;
  const HostIdentity host_;
  mutable std::mutex mutex_;
  std::unordered_map<std::uint32_t, Entry> entries_;
};

}  // namespace zt::discovery
