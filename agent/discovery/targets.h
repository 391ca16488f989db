// Which processes are traced, for each way the agent is run:
//   attach: the given pids (and, by default, their descendants, existing and future);
//   exec:   a command the agent starts, traced from its first instruction;
//   run:    node mode: every process, or those the selection rules pick, re-judged at exec and,
//           for port rules, by a periodic rescan.
// The stage asks the kernel side to trace or untrace through TraceControl and tells listeners
// (probe families) when a process becomes traced. /proc is injected so that it runs on a fake tree.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "discovery/selector.h"

namespace zt {

enum class Mode { Attach, Exec, Run };

}  // namespace zt

namespace zt::discovery {

// The kernel's traced set (the BPF loader in the agent; a fake in tests).
class TraceControl {
 public:
  virtual ~TraceControl() = default;
  virtual Result<void> trace_pid(std::uint32_t pid, bool follow_children) = 0;
  virtual void untrace_pid(std::uint32_t pid) = 0;
  virtual bool is_traced(std::uint32_t pid) const = 0;
};

struct TargetOptions {
  Mode mode = Mode::Run;
  std::vector<std::uint32_t> pids;    // attach
  bool follow_children = true;        // attach: descendants too
  std::vector<std::string> command;   // exec
  std::vector<std::pair<std::string, std::string>> child_environment;  // exec: set in the command's environment
  std::vector<SelectorRule> select;   // run: none means every process
  std::string proc_root = std::string(kDefaultProcRoot);
  std::uint32_t self_pid = 0;         // the agent: never traced
  std::uint64_t port_rescan_ns = 2'000'000'000;
};

struct TargetStats {
  std::uint64_t traced = 0;          // processes the stage asked the kernel to trace
  std::uint64_t untraced = 0;
  std::uint64_t trace_failures = 0;  // the kernel refused (traced set full): counted, logged once
  std::uint64_t rescans = 0;
};

class TargetManager {
 public:
  // A process became traced (true) or stopped being traced (false).
  using Listener = std::function<void(std::uint32_t pid, bool traced)>;

  TargetManager(TargetOptions options, TraceControl& control, Listener listener = {});

  // attach: traces the pids (and descendants); exec: starts the command; run: selects.
  Result<void> start();
  // Whether the kernel traces every process (run without rules): nothing to select then.
  bool trace_all() const { return options_.mode == Mode::Run && options_.select.empty(); }
  // Whether `pid` is traced (trace_all counts every process but the agent).
  bool traced(std::uint32_t pid) const;

  // A process called exec: run mode re-judges it (its name and path changed).
  void on_exec(std::uint32_t pid);
  void on_exit(std::uint32_t pid);
  // Periodic: port-rule rescans in run mode.
  void tick(std::uint64_t now_ns);

  // attach and exec: whether any target is still alive (the run ends when none is).
  bool targets_alive();
  // exec: the command's pid (0 otherwise).
  pid_t child() const { return child_; }
  // exec: stops the command if it still runs and returns its exit status (0 in other modes).
  int finish();

  const TargetStats& stats() const { return stats_; }

 private:
  Result<void> spawn_command();
  Result<void> trace(std::uint32_t pid, bool follow_children);
  void untrace(std::uint32_t pid);
  void consider(std::uint32_t pid);
  void rescan();
  std::vector<std::uint32_t> descendants_of(std::uint32_t root) const;

  TargetOptions options_;
  TraceControl& control_;
  Listener listener_;
  std::optional<ProcessSelector> selector_;
  std::map<std::uint32_t, std::set<std::uint16_t>> listening_ports_;  // run: port rules, last scan
  std::set<std::uint32_t> selected_;  // run with rules: traced because a rule matched
  std::set<std::uint32_t> targets_;   // attach/exec: processes whose exit ends the run
  std::uint64_t next_rescan_ns_ = 0;
  pid_t child_ = -1;
  int child_status_ = 0;
  bool child_exited_ = false;
  TargetStats stats_;
};

}  // namespace zt::discovery
