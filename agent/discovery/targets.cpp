#include "discovery/targets.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "core/fd.h"

namespace zt::discovery {

TargetManager::TargetManager(TargetOptions options, TraceControl& control, Listener listener)
    : options_(std::move(options)), control_(control), listener_(std::move(listener)) {}

std::vector<std::uint32_t> TargetManager::descendants_of(std::uint32_t root) const {
  std::map<std::uint32_t, std::vector<std::uint32_t>> children;
  for (auto pid : all_pids(options_.proc_root)) {
    auto identity = read_process_identity(pid, options_.proc_root);
    if (identity) children[identity->parent_pid].push_back(pid);
  }
  std::vector<std::uint32_t> out;
  std::vector<std::uint32_t> todo{root};
  while (!todo.empty()) {
    const auto p = todo.back();
    todo.pop_back();
    for (auto c : children[p]) {
      out.push_back(c);
      todo.push_back(c);
    }
  }
  return out;
}

Result<void> TargetManager::trace(std::uint32_t pid, bool follow_children) {
  if (auto r = control_.trace_pid(pid, follow_children); !r) {
    if (stats_.trace_failures++ == 0) spdlog::warn("{} (further failures are only counted)", r.error().message);
    return r;
  }
  ++stats_.traced;
  if (listener_) listener_(pid, true);
  return {};
}

void TargetManager::untrace(std::uint32_t pid) {
  control_.untrace_pid(pid);
  ++stats_.untraced;
  if (listener_) listener_(pid, false);
}

Result<void> TargetManager::start() {
  switch (options_.mode) {
    case Mode::Attach:
      for (auto pid : options_.pids) {
        std::vector<std::uint32_t> family{pid};
        if (options_.follow_children) {
          auto d = descendants_of(pid);
          family.insert(family.end(), d.begin(), d.end());
        }
        for (auto p : family) {
          if (auto r = trace(p, options_.follow_children); !r) return r.error();
          targets_.insert(p);
        }
        spdlog::info("tracing pid {}{}", pid,
                     family.size() > 1 ? fmt::format(" and {} child processes", family.size() - 1) : "");
      }
      return {};
    case Mode::Exec:
      return spawn_command();
    case Mode::Run:
      if (options_.select.empty()) {
        spdlog::info("tracing every process on this node (no selection rules)");
        // The kernel traces them all already; probe families still look at each one.
        if (listener_) {
          for (auto pid : all_pids(options_.proc_root)) {
            if (pid != options_.self_pid) listener_(pid, true);
          }
        }
        return {};
      }
      selector_.emplace(options_.select, options_.self_pid);
      rescan();
      spdlog::info("selecting processes by {} rule{}; new processes are checked at exec{}", options_.select.size(),
                   options_.select.size() == 1 ? "" : "s",
                   selector_->needs_listening_ports() ? ", listening ports every 2 s" : "");
      return {};
  }
  return {};
}

bool TargetManager::traced(std::uint32_t pid) const {
  if (pid == options_.self_pid) return false;
  return trace_all() || control_.is_traced(pid);
}

Result<void> TargetManager::spawn_command() {
  if (options_.command.empty()) return make_error("no command to run");
  // The child waits on a pipe until its pid is in the traced set, so that it is traced from its
  // first instruction after exec.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return make_error(std::string("pipe: ") + std::strerror(errno));
  UniqueFd gate_read(fds[0]);
  UniqueFd gate_write(fds[1]);
  const pid_t pid = fork();
  if (pid < 0) return make_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    gate_write.reset();
    char go;
    if (read(gate_read.get(), &go, 1) != 1) _exit(127);
    std::vector<char*> argv;
    for (const auto& a : options_.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    for (const auto& [name, value] : options_.child_environment) setenv(name.c_str(), value.c_str(), 1);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "zerotrace: cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  gate_read.reset();
  child_ = pid;
  auto r = trace(static_cast<std::uint32_t>(pid), true);
  const char go = 1;
  const bool released = r && write(gate_write.get(), &go, 1) == 1;
  gate_write.reset();
  if (!released) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    child_exited_ = true;
    return r ? make_error("cannot release the traced command") : r.error();
  }
  targets_.insert(static_cast<std::uint32_t>(pid));
  spdlog::info("tracing {} (pid {})", options_.command.front(), pid);
  return {};
}

void TargetManager::consider(std::uint32_t pid) {
  if (!selector_ || pid == options_.self_pid) return;
  auto identity = read_process_identity(pid, options_.proc_root);
  if (!identity) return;
  static const std::set<std::uint16_t> kNoPorts;
  const auto ports = listening_ports_.find(pid);
  const bool selected = selector_->matches(*identity, ports == listening_ports_.end() ? kNoPorts : ports->second);
  const bool traced_now = control_.is_traced(pid);
  if (selected && !traced_now) {
    if (trace(pid, true)) {
      selected_.insert(pid);
      spdlog::info("tracing pid {} ({})", pid, identity->exe_name);
    }
  } else if (!selected && traced_now) {
    selected_.erase(pid);
    untrace(pid);
  }
}

void TargetManager::rescan() {
  ++stats_.rescans;
  if (selector_->needs_listening_ports()) listening_ports_ = listening_tcp_ports_by_pid(options_.proc_root);
  const auto chosen = selector_->select_running(options_.proc_root, listening_ports_);
  const std::set<std::uint32_t> now(chosen.begin(), chosen.end());
  for (auto it = selected_.begin(); it != selected_.end();) {
    if (!now.contains(*it) && control_.is_traced(*it)) {
      untrace(*it);
      it = selected_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto pid : chosen) {
    if (control_.is_traced(pid)) continue;
    if (trace(pid, true)) {
      selected_.insert(pid);
      spdlog::info("tracing pid {}", pid);
    }
  }
}

void TargetManager::on_exec(std::uint32_t pid) { consider(pid); }

void TargetManager::on_exit(std::uint32_t pid) {
  listening_ports_.erase(pid);
  selected_.erase(pid);
}

void TargetManager::tick(std::uint64_t now_ns) {
  if (!selector_ || !selector_->needs_listening_ports()) return;
  if (next_rescan_ns_ == 0) next_rescan_ns_ = now_ns + options_.port_rescan_ns;
  if (now_ns < next_rescan_ns_) return;
  next_rescan_ns_ = now_ns + options_.port_rescan_ns;
  rescan();
}

bool TargetManager::targets_alive() {
  if (child_ > 0 && !child_exited_) {
    int status = 0;
    if (waitpid(child_, &status, WNOHANG) == child_) {
      child_exited_ = true;
      child_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
  }
  for (auto it = targets_.begin(); it != targets_.end();) {
    const bool alive =
        static_cast<pid_t>(*it) == child_ ? !child_exited_ : process_exists(*it, options_.proc_root);
    it = alive ? std::next(it) : targets_.erase(it);
  }
  return !targets_.empty();
}

int TargetManager::finish() {
  if (child_ <= 0) return 0;
  if (!child_exited_) {
    // Stopped by a signal or a duration while the command still runs: it was ours, stop it too.
    kill(child_, SIGTERM);
    int status = 0;
    waitpid(child_, &status, 0);
    child_exited_ = true;
    child_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return child_status_;
}

}  // namespace zt::discovery
