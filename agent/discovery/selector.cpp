#include "discovery/selector.h"

#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <system_error>
#include <utility>

namespace zt::discovery {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kListenState = "0A";  // TCP_LISTEN in the kernel's tcp_states.h

bool glob_matches(const std::string& pattern, const std::string& text) {
  return ::fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

template <typename Integer>
std::optional<Integer> parse_integer(std::string_view text, int base) {
  Integer value{};
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::vector<std::string_view> split_on_whitespace(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t begin = 0;
  while ((begin = line.find_first_not_of(" \t", begin)) != std::string_view::npos) {
    const std::size_t end = std::min(line.find_first_of(" \t", begin), line.size());
    words.push_back(line.substr(begin, end - begin));
    begin = end;
  }
  return words;
}

// "socket:[12345]" -> 12345; anything else (files, pipes) -> nullopt.
std::optional<std::uint64_t> socket_inode_of_link(std::string_view link) {
  constexpr std::string_view kPrefix = "socket:[";
  if (!link.starts_with(kPrefix) || !link.ends_with(']')) return std::nullopt;
  return parse_integer<std::uint64_t>(link.substr(kPrefix.size(), link.size() - kPrefix.size() - 1), 10);
}

std::optional<std::string> read_link(const fs::path& link) {
  std::error_code error;
  fs::path target = fs::read_symlink(link, error);
  if (error) return std::nullopt;
  return target.string();
}

void add_listening_sockets_from(const std::string& tcp_table_path, std::map<std::uint64_t, std::uint16_t>& ports) {
  auto table = read_procfs_file(tcp_table_path);
  if (!table) return;
  ports.merge(parse_listening_tcp_sockets(*table));
}

// Listening sockets of every network namespace the processes use. Socket inodes are unique
// across namespaces, so one map holds them all.
std::map<std::uint64_t, std::uint16_t> listening_sockets_of_all_namespaces(const std::string& proc_root,
                                                                           const std::vector<std::uint32_t>& pids) {
  std::map<std::uint64_t, std::uint16_t> ports;
  add_listening_sockets_from(proc_root + "/net/tcp", ports);
  add_listening_sockets_from(proc_root + "/net/tcp6", ports);
  std::set<std::string> namespaces_read;
  for (const std::uint32_t pid : pids) {
    const std::string dir = proc_root + "/" + std::to_string(pid);
    const auto net_namespace = read_link(dir + "/ns/net");
    if (!net_namespace || !namespaces_read.insert(*net_namespace).second) continue;
    add_listening_sockets_from(dir + "/net/tcp", ports);
    add_listening_sockets_from(dir + "/net/tcp6", ports);
  }
  return ports;
}

std::set<std::uint16_t> listening_ports_of(const std::string& pid_dir,
                                           const std::map<std::uint64_t, std::uint16_t>& port_by_inode) {
  std::set<std::uint16_t> ports;
  std::error_code error;
  for (fs::directory_iterator it(pid_dir + "/fd", error), end; !error && it != end; it.increment(error)) {
    const auto link = read_link(it->path());
    if (!link) continue;
    const auto inode = socket_inode_of_link(*link);
    if (!inode) continue;
    if (const auto found = port_by_inode.find(*inode); found != port_by_inode.end()) ports.insert(found->second);
  }
  return ports;
}

}  // namespace

bool rule_matches(const SelectorRule& rule, const ProcessIdentity& process,
                  const std::set<std::uint16_t>& listening_ports) {
  // The comm is the name the process was started as ("python3"), the exe name the file it runs
  // ("python3.11"): users write either.
  if (rule.exe_name && !glob_matches(*rule.exe_name, process.exe_name) && !glob_matches(*rule.exe_name, process.comm)) {
    return false;
  }
  if (rule.exe_path && !glob_matches(*rule.exe_path, process.exe_path)) return false;
  if (rule.port && !listening_ports.contains(*rule.port)) return false;
  if (rule.pid && *rule.pid != process.pid) return false;
  return true;
}

ProcessSelector::ProcessSelector(std::vector<SelectorRule> rules, std::uint32_t agent_pid)
    : rules_(std::move(rules)), agent_pid_(agent_pid) {}

bool ProcessSelector::matches(const ProcessIdentity& process, const std::set<std::uint16_t>& listening_ports) const {
  if (process.pid == agent_pid_) return false;
  if (rules_.empty()) return true;
  return std::any_of(rules_.begin(), rules_.end(),
                     [&](const SelectorRule& rule) { return rule_matches(rule, process, listening_ports); });
}

bool ProcessSelector::needs_listening_ports() const {
  return std::any_of(rules_.begin(), rules_.end(), [](const SelectorRule& rule) { return rule.port.has_value(); });
}

std::vector<std::uint32_t> ProcessSelector::select_running(const std::string& proc_root) const {
  return select_running(proc_root, needs_listening_ports() ? listening_tcp_ports_by_pid(proc_root)
                                                           : std::map<std::uint32_t, std::set<std::uint16_t>>{});
}

std::vector<std::uint32_t> ProcessSelector::select_running(
    const std::string& proc_root, const std::map<std::uint32_t, std::set<std::uint16_t>>& ports_by_pid) const {
  const std::set<std::uint16_t> no_ports;
  std::vector<std::uint32_t> selected;
  for (const std::uint32_t pid : all_pids(proc_root)) {
    if (pid == agent_pid_) continue;
    auto process = read_process_identity(pid, proc_root);
    if (!process) continue;  // exited since the directory was listed
    const auto ports = ports_by_pid.find(pid);
    if (matches(*process, ports == ports_by_pid.end() ? no_ports : ports->second)) selected.push_back(pid);
  }
  return selected;
}

std::map<std::uint64_t, std::uint16_t> parse_listening_tcp_sockets(std::string_view proc_net_tcp) {
  // Columns: sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
  constexpr std::size_t kLocalAddress = 1, kState = 3, kInode = 9;
  std::map<std::uint64_t, std::uint16_t> port_by_inode;
  std::size_t begin = 0;
  while (begin < proc_net_tcp.size()) {
    const std::size_t end = std::min(proc_net_tcp.find('\n', begin), proc_net_tcp.size());
    const auto columns = split_on_whitespace(proc_net_tcp.substr(begin, end - begin));
    begin = end + 1;
    if (columns.size() <= kInode || columns[kState] != kListenState) continue;
    const std::string_view local = columns[kLocalAddress];
    const std::size_t colon = local.rfind(':');
    if (colon == std::string_view::npos) continue;
    const auto port = parse_integer<std::uint16_t>(local.substr(colon + 1), 16);
    const auto inode = parse_integer<std::uint64_t>(columns[kInode], 10);
    if (port && inode && *inode != 0) port_by_inode.emplace(*inode, *port);
  }
  return port_by_inode;
}

std::map<std::uint32_t, std::set<std::uint16_t>> listening_tcp_ports_by_pid(const std::string& proc_root) {
  const std::vector<std::uint32_t> pids = all_pids(proc_root);
  const auto port_by_inode = listening_sockets_of_all_namespaces(proc_root, pids);
  std::map<std::uint32_t, std::set<std::uint16_t>> ports_by_pid;
  if (port_by_inode.empty()) return ports_by_pid;
  for (const std::uint32_t pid : pids) {
    auto ports = listening_ports_of(proc_root + "/" + std::to_string(pid), port_by_inode);
    if (!ports.empty()) ports_by_pid.emplace(pid, std::move(ports));
  }
  return ports_by_pid;
}

std::vector<std::uint32_t> all_pids(const std::string& proc_root) {
  std::vector<std::uint32_t> pids;
  std::error_code error;
  for (fs::directory_iterator it(proc_root, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (const auto pid = parse_integer<std::uint32_t>(name, 10); pid && *pid != 0) pids.push_back(*pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace zt::discovery
