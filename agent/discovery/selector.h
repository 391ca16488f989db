// Which processes node mode traces: selection rules, and the procfs scans they need.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "discovery/process_info.h"

namespace zt::discovery {

// All fields that are set must match; a rule with no field set matches every process.
// (Explicit initializers let `SelectorRule{.port = 80}` compile cleanly under -Wextra.)
struct SelectorRule {
  std::optional<std::string> exe_name = std::nullopt;  // glob (fnmatch) on the executable's name or comm
  std::optional<std::string> exe_path = std::nullopt;  // glob on the full path; '*' also crosses '/'
  std::optional<std::uint16_t> port = std::nullopt;    // the process listens on this TCP port
  std::optional<std::uint32_t> pid = std::nullopt;
};

bool rule_matches(const SelectorRule& rule, const ProcessIdentity& process,
                  const std::set<std::uint16_t>& listening_ports);

class ProcessSelector {
 public:
  // No rules: every process. `agent_pid` is never selected: tracing the agent would feed its own
  // exports back into it.
  ProcessSelector(std::vector<SelectorRule> rules, std::uint32_t agent_pid);

  // True when any rule matches. `listening_ports` are the process's listening TCP ports; they are
  // only consulted when needs_listening_ports().
  bool matches(const ProcessIdentity& process, const std::set<std::uint16_t>& listening_ports) const;
  // Some rule names a port, so the (costly) socket scan is worth doing.
  bool needs_listening_ports() const;
  const std::vector<SelectorRule>& rules() const { return rules_; }

  // Scans the running processes and returns the selected pids, ascending.
  std::vector<std::uint32_t> select_running(const std::string& proc_root = std::string(kDefaultProcRoot)) const;
  // The same with the listening ports already scanned (listening_tcp_ports_by_pid).
  std::vector<std::uint32_t> select_running(const std::string& proc_root,
                                            const std::map<std::uint32_t, std::set<std::uint16_t>>& ports_by_pid) const;

 private:
  std::vector<SelectorRule> rules_;
  std::uint32_t agent_pid_;
};

// Socket inode -> local port of the LISTEN (state 0A) sockets in a /proc/net/tcp or tcp6 table.
std::map<std::uint64_t, std::uint16_t> parse_listening_tcp_sockets(std::string_view proc_net_tcp);

// Listening TCP ports per pid: LISTEN sockets from the tcp and tcp6 tables of every network
// namespace in use (containers have their own), matched to owners through /proc/PID/fd links.
// Processes whose fds cannot be read (no permission, exited) are left out.
std::map<std::uint32_t, std::set<std::uint16_t>> listening_tcp_ports_by_pid(
    const std::string& proc_root = std::string(kDefaultProcRoot));

// Pids of the processes (thread group leaders) under proc_root, ascending.
std::vector<std::uint32_t> all_pids(const std::string& proc_root = std::string(kDefaultProcRoot));

}  // namespace zt::discovery
