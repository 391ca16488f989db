#include "discovery/process_info.h"

#include <fcntl.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "core/fd.h"
#include "core/version.h"
#include "core/key_value_list.h"
#include "discovery/container.h"
#include "discovery/uuid.h"

namespace zt::discovery {
namespace {

constexpr std::string_view kUnknownService = "unknown_service";  // OpenTelemetry's name for "not known"
constexpr std::string_view kDeletedSuffix = " (deleted)";        // exe replaced on disk while running
constexpr std::string_view kAgentName = "zerotrace";            // telemetry.sdk.name and telemetry.distro.name
// Bounds on files read for the Resource: far above what real ones hold (a status file is ~1.5 KiB,
// a cgroup file a dozen lines, a container's mount table a few hundred), so that a pathological
// one costs memory and time in proportion to these, not to its size.
constexpr std::size_t kMaxStatusBytes = 64 * 1024;
constexpr std::size_t kMaxCgroupBytes = 64 * 1024;
constexpr std::size_t kMaxMountinfoBytes = 4 * 1024 * 1024;

std::string pid_dir(const std::string& proc_root, std::uint32_t pid) { return proc_root + "/" + std::to_string(pid); }

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t end = text.find(separator, begin);
    parts.push_back(text.substr(begin, end - begin));
    if (end == std::string_view::npos) return parts;
    begin = end + 1;
  }
}

std::string_view trim(std::string_view text, std::string_view characters) {
  const std::size_t first = text.find_first_not_of(characters);
  if (first == std::string_view::npos) return {};
  const std::size_t last = text.find_last_not_of(characters);
  return text.substr(first, last - first + 1);
}

// Optional white space around baggage keys and values (RFC 7230 OWS).
std::string_view trim_whitespace(std::string_view text) { return trim(text, " \t"); }

template <typename Integer>
bool parse_decimal(std::string_view text, Integer& value) {
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

struct StatFields {
  std::string comm;
  std::uint32_t parent_pid = 0;
  std::uint64_t start_time_ticks = 0;
};

// /proc/PID/stat is "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields
// are counted from the last ')'.
Result<StatFields> parse_stat(std::string_view stat, std::string_view origin) {
  const std::size_t open = stat.find('(');
  const std::size_t close = stat.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return make_error(std::string(origin) + ": malformed stat");
  }
  StatFields fields;
  fields.comm = std::string(stat.substr(open + 1, close - open - 1));
  const auto after_comm = split(trim(stat.substr(close + 1), " \n"), ' ');  // [0] is field 3, state
  constexpr std::size_t kParentPid = 4 - 3;
  constexpr std::size_t kStartTime = 22 - 3;
  if (after_comm.size() <= kStartTime || !parse_decimal(after_comm[kParentPid], fields.parent_pid) ||
      !parse_decimal(after_comm[kStartTime], fields.start_time_ticks)) {
    return make_error(std::string(origin) + ": malformed stat");
  }
  return fields;
}

std::string read_exe_path(const std::string& dir) {
  std::error_code error;
  std::string path = std::filesystem::read_symlink(dir + "/exe", error).string();
  if (error) return {};
  if (path.ends_with(kDeletedSuffix)) path.resize(path.size() - kDeletedSuffix.size());
  return path;
}

std::string basename_of(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// Arguments are NUL-terminated. Trailing NULs are dropped: programs that retitle themselves
// (nginx, postgres) pad the argument area with them.
std::string join_command_line(std::string_view raw) {
  while (!raw.empty() && raw.back() == '\0') raw.remove_suffix(1);
  if (raw.empty()) return {};
  std::string joined;
  for (const std::string_view argument : split(raw, '\0')) {
    if (!joined.empty()) joined += ' ';
    joined += argument.empty() ? std::string_view("\"\"") : argument;
  }
  return joined;
}

// First value of `name` in a NUL-separated environ block, as getenv would return it.
std::optional<std::string_view> find_environment_variable(std::string_view environ, std::string_view name) {
  for (const std::string_view entry : split(environ, '\0')) {
    if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=') {
      return entry.substr(name.size() + 1);
    }
  }
  return std::nullopt;
}


void add_environment_identity(ProcessIdentity& identity, std::string_view environ) {
  if (const auto service_name = find_environment_variable(environ, "OTEL_SERVICE_NAME")) {
    identity.otel_service_name = std::string(trim_whitespace(*service_name));
  }
  if (const auto attributes = find_environment_variable(environ, "OTEL_RESOURCE_ATTRIBUTES")) {
    auto parsed = parse_otel_resource_attributes(*attributes);
    if (parsed) {
      identity.otel_resource_attributes = std::move(parsed).value();
    } else {
      spdlog::debug("pid {}: ignoring its {}", identity.pid, parsed.error().message);
    }
  }
}

trace::Attribute* find_attribute(trace::Resource& resource, std::string_view key) {
  for (auto& attribute : resource.attributes) {
    if (attribute.key == key) return &attribute;
  }
  return nullptr;
}

// A key the process declared twice keeps its last value, as in OpenTelemetry SDKs.
void put_declared(trace::Resource& resource, const std::string& key, const std::string& value) {
  if (auto* existing = find_attribute(resource, key)) {
    existing->value = value;
  } else {
    resource.attributes.push_back({key, value});
  }
}

// Values the process declared itself (OTEL_RESOURCE_ATTRIBUTES) win over what the agent observes,
// as they would in an OpenTelemetry SDK.
void add_observed(trace::Resource& resource, std::string key, trace::AttributeValue value) {
  if (find_attribute(resource, key) != nullptr) return;
  resource.attributes.push_back({std::move(key), std::move(value)});
}

std::string service_name_of(const ProcessIdentity& identity) {
  if (!identity.otel_service_name.empty()) return identity.otel_service_name;
  for (const auto& [key, value] : identity.otel_resource_attributes) {
    if (key == "service.name" && !value.empty()) return value;
  }
  if (!identity.exe_name.empty()) return identity.exe_name;
  return std::string(kUnknownService);
}

// A line-oriented file read with a bound: a last line cut short by the bound is dropped, so that
// no parser sees half a path.
std::string read_whole_lines(const std::string& path, std::size_t max_bytes) {
  auto content = read_procfs_file(path, max_bytes);
  if (!content) return {};
  if (content->size() == max_bytes) content->resize(content->rfind('\n') + 1);  // npos + 1 == 0
  return std::move(content).value();
}

void add_host_attributes(trace::Resource& resource, const HostIdentity& host) {
  if (!host.name.empty()) add_observed(resource, "host.name", host.name);
  if (!host.id.empty()) add_observed(resource, "host.id", host.id);
  if (!host.arch.empty()) add_observed(resource, "host.arch", host.arch);
  add_observed(resource, "os.type", std::string("linux"));
}

void add_telemetry_attributes(trace::Resource& resource) {
  add_observed(resource, "telemetry.sdk.name", std::string(kAgentName));
  add_observed(resource, "telemetry.sdk.language", std::string("cpp"));
  add_observed(resource, "telemetry.sdk.version", std::string(kVersion));
  add_observed(resource, "telemetry.distro.name", std::string(kAgentName));
  add_observed(resource, "telemetry.distro.version", std::string(kVersion));
}

}  // namespace

Result<std::string> read_procfs_file(const std::string& path, std::size_t max_bytes) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return make_error(path + ": " + std::strerror(errno));
  std::string content;
  char buf[4096];
  while (content.size() < max_bytes) {
    const ssize_t n = ::read(fd.get(), buf, std::min(sizeof buf, max_bytes - content.size()));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(path + ": " + std::strerror(errno));
    }
    content.append(buf, static_cast<std::size_t>(n));
  }
  return content;
}

Result<std::vector<std::pair<std::string, std::string>>> parse_otel_resource_attributes(std::string_view text) {
  return parse_key_value_list(text, "OTEL_RESOURCE_ATTRIBUTES");
}

Result<std::uint64_t> read_start_time_ticks(std::uint32_t pid, const std::string& proc_root) {
  const std::string path = pid_dir(proc_root, pid) + "/stat";
  auto stat = read_procfs_file(path);
  if (!stat) return stat.error();
  auto fields = parse_stat(*stat, path);
  if (!fields) return fields.error();
  return fields->start_time_ticks;
}

Result<ProcessIdentity> read_process_identity(std::uint32_t pid, const std::string& proc_root) {
  const std::string dir = pid_dir(proc_root, pid);
  auto stat = read_procfs_file(dir + "/stat");
  if (!stat) return stat.error();
  auto fields = parse_stat(*stat, dir + "/stat");
  if (!fields) return fields.error();

  ProcessIdentity identity;
  identity.pid = pid;
  identity.parent_pid = fields->parent_pid;
  identity.start_time_ticks = fields->start_time_ticks;
  identity.comm = std::move(fields->comm);
  identity.exe_path = read_exe_path(dir);
  identity.exe_name = identity.exe_path.empty() ? identity.comm : basename_of(identity.exe_path);
  if (auto cmdline = read_procfs_file(dir + "/cmdline")) identity.command_line = join_command_line(*cmdline);
  if (auto environ = read_procfs_file(dir + "/environ")) add_environment_identity(identity, *environ);
  return identity;
}

void read_owner_and_container(ProcessIdentity& identity, const std::string& proc_root) {
  const std::string dir = pid_dir(proc_root, identity.pid);
  if (auto status = read_procfs_file(dir + "/status", kMaxStatusBytes)) {
    if (const auto uid = real_uid_from_status(*status)) identity.owner = user_name(*uid);
  }
  const std::string cgroup = read_whole_lines(dir + "/cgroup", kMaxCgroupBytes);
  auto container_id = container_id_from_cgroup(cgroup);
  // Only at the root of a private cgroup namespace does the path hide a container; elsewhere the
  // mounts of a process outside any container could only mislead.
  if (!container_id && cgroup_path_is_namespace_root(cgroup)) {
    container_id = container_id_from_mountinfo(read_whole_lines(dir + "/mountinfo", kMaxMountinfoBytes));
  }
  if (container_id) identity.container_id = std::move(*container_id);
  if (auto pod_uid = pod_uid_from_cgroup(cgroup)) identity.k8s_pod_uid = std::move(*pod_uid);
}

std::optional<std::uint32_t> real_uid_from_status(std::string_view status) {
  constexpr std::string_view kUidField = "Uid:";
  for (const std::string_view line : split(status, '\n')) {
    if (!line.starts_with(kUidField)) continue;
    const std::string_view values = trim_whitespace(line.substr(kUidField.size()));
    std::uint32_t uid = 0;
    if (!parse_decimal(values.substr(0, values.find_first_of(" \t")), uid)) return std::nullopt;
    return uid;
  }
  return std::nullopt;
}

std::string user_name(std::uint32_t uid) {
  struct passwd entry {};
  struct passwd* found = nullptr;
  std::vector<char> buffer(1024);
  for (;;) {
    const int error = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found);
    // ERANGE: an entry longer than the buffer (long GECOS fields, NSS back ends).
    if (error == ERANGE && buffer.size() < 1024 * 1024) {
      buffer.resize(buffer.size() * 4);
      continue;
    }
    if (error == 0 && found != nullptr && found->pw_name != nullptr && found->pw_name[0] != '\0') {
      return found->pw_name;
    }
    return std::to_string(uid);
  }
}

bool process_exists(std::uint32_t pid, const std::string& proc_root) {
  std::error_code error;
  return std::filesystem::exists(pid_dir(proc_root, pid) + "/stat", error);
}

trace::Resource make_resource(const ProcessIdentity& identity, const HostIdentity& host) {
  trace::Resource resource;
  resource.pid = identity.pid;
  resource.service_name = service_name_of(identity);
  resource.attributes.push_back({"service.name", resource.service_name});
  for (const auto& [key, value] : identity.otel_resource_attributes) {
    if (key != "service.name") put_declared(resource, key, value);
  }
  add_observed(resource, "service.instance.id", service_instance_id(host, identity.pid, identity.start_time_ticks));
  add_observed(resource, "process.pid", static_cast<std::int64_t>(identity.pid));
  add_observed(resource, "process.parent_pid", static_cast<std::int64_t>(identity.parent_pid));
  if (!identity.exe_name.empty()) add_observed(resource, "process.executable.name", identity.exe_name);
  if (!identity.exe_path.empty()) add_observed(resource, "process.executable.path", identity.exe_path);
  if (!identity.command_line.empty()) add_observed(resource, "process.command_line", identity.command_line);
  if (!identity.owner.empty()) add_observed(resource, "process.owner", identity.owner);
  add_host_attributes(resource, host);
  if (!identity.container_id.empty()) add_observed(resource, "container.id", identity.container_id);
  if (!identity.k8s_pod_uid.empty()) add_observed(resource, "k8s.pod.uid", identity.k8s_pod_uid);
  add_telemetry_attributes(resource);
  return resource;
}

trace::Resource make_unknown_process_resource(std::uint32_t pid, const HostIdentity& host) {
  trace::Resource resource;
  resource.pid = pid;
  resource.service_name = std::string(kUnknownService);
  resource.attributes.push_back({"service.name", resource.service_name});
  add_observed(resource, "process.pid", static_cast<std::int64_t>(pid));
  add_host_attributes(resource, host);
  add_telemetry_attributes(resource);
  return resource;
}

std::string service_instance_id(const HostIdentity& host, std::uint32_t pid, std::uint64_t start_time_ticks) {
  const std::string& host_key = host.id.empty() ? host.name : host.id;
  return uuid_v5(kServiceInstanceIdNamespace,
                 host_key + "/" + host.boot_id + "/" + std::to_string(pid) + "/" + std::to_string(start_time_ticks));
}

ProcessRegistry::ProcessRegistry(std::string proc_root, HostIdentity host)
    : proc_root_(std::move(proc_root)), host_(std::move(host)) {}

std::shared_ptr<const trace::Resource> ProcessRegistry::resource_for(std::uint32_t pid) {
  {
    const std::lock_guard lock(mutex_);
    if (const auto found = entries_.find(pid); found != entries_.end()) return found->second.resource;
  }
  return read_and_cache(pid);
}

std::shared_ptr<const trace::Resource> ProcessRegistry::refresh(std::uint32_t pid) { return read_and_cache(pid); }

void ProcessRegistry::forget(std::uint32_t pid) {
  const std::lock_guard lock(mutex_);
  entries_.erase(pid);
}

std::size_t ProcessRegistry::forget_exited() {
  std::vector<std::pair<std::uint32_t, std::uint64_t>> cached;
  {
    const std::lock_guard lock(mutex_);
    cached.reserve(entries_.size());
    for (const auto& [pid, entry] : entries_) cached.emplace_back(pid, entry.start_time_ticks);
  }
  std::size_t dropped = 0;
  for (const auto& [pid, start_time] : cached) {
    const auto current = read_start_time_ticks(pid, proc_root_);
    if (current && current.value() == start_time) continue;
    const std::lock_guard lock(mutex_);
    const auto found = entries_.find(pid);
    // Re-check: refresh() may have replaced the entry while procfs was being read.
    if (found != entries_.end() && found->second.start_time_ticks == start_time) {
      entries_.erase(found);
      ++dropped;
    }
  }
  return dropped;
}

std::size_t ProcessRegistry::size() const {
  const std::lock_guard lock(mutex_);
  return entries_.size();
}

std::shared_ptr<const trace::Resource> ProcessRegistry::read_and_cache(std::uint32_t pid) {
  auto identity = read_process_identity(pid, proc_root_);
  if (!identity) return std::make_shared<const trace::Resource>(make_unknown_process_resource(pid, host_));
  read_owner_and_container(*identity, proc_root_);
  auto resource = std::make_shared<const trace::Resource>(make_resource(*identity, host_));
  const std::lock_guard lock(mutex_);
  entries_[pid] = Entry{identity->start_time_ticks, resource};
  return resource;
}

}  // namespace zt::discovery
