// zerotrace: command-line entry point. Parses arguments, sets up logging and signals, and runs
// the agent or the kernel check. Every failure ends in one line that says what to do.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "agent.h"
#include "core/version.h"
#include "discovery/config.h"
#include "loader/kernel_features.h"
#include "tls/tls_probes.h"

namespace {

void on_stop_signal(int) { zt::request_agent_stop(); }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the poll loop must wake up
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("zerotrace");
  logger->set_pattern("%^zerotrace %L%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

int run_check() {
  const auto checks = zt::loader::probe_kernel_features(/*mount_tracefs=*/zt::loader::is_privileged());
  bool fatal = false;
  std::printf("%-26s %-6s %s\n", "feature", "state", "detail");
  for (const auto& c : checks) {
    std::printf("%-26s %-6s %s\n", c.name.c_str(), c.available ? "ok" : (c.required ? "MISSING" : "absent"),
                c.detail.c_str());
    if (!c.available && !c.consequence.empty()) std::printf("%-26s %-6s -> %s\n", "", "", c.consequence.c_str());
    fatal |= !c.available && c.required;
  }
  const std::string tls = zt::tls::describe_host_sites();
  std::printf(
      "\nTLS probe sites (uprobes on these in traced processes; an emulated instruction costs one trap, a\n"
      "single-stepped one two: 3-4x more per call on VMs):\n%s",
      tls.empty() ? "  no OpenSSL-compatible library or node found\n" : tls.c_str());
  std::printf("\n%s\n", fatal
                            ? "zerotrace cannot capture on this host: see MISSING above."
                            : "zerotrace can capture on this host (syscall tracepoints + uprobes; no kprobes needed).");
  return fatal ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "zerotrace: OpenTelemetry spans from what services already do, with no change to them (HTTP/1.x, HTTP/2, gRPC, "
      "CUDA)",
      "zerotrace"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", std::string(zt::kVersion));

  bool verbose = false;
  std::string log_level;
  std::vector<std::string> outputs;
  std::optional<std::uint32_t> capture_bytes;
  std::optional<std::uint32_t> assembly_wait_ms;
  std::optional<double> duration;
  bool no_cuda = false;
  bool no_tls = false;
  bool no_kernel_control = false;
  bool no_cupti = false;
  std::optional<double> cuda_fold_rate;
  std::string config_path;
  std::vector<std::uint32_t> pids;
  bool no_children = false;
  std::vector<std::string> command;
  std::string stats_file;
  std::optional<double> stats_interval;

  app.add_flag("-v,--verbose", verbose, "Debug logging and per-connection detail");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error (default info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  auto add_common = [&](CLI::App* sub) {
    sub->add_option("-c,--config", config_path,
                    "YAML configuration file (docs/configuration.md); its select rules apply to `run` only")
        ->check(CLI::ExistingFile);
    sub->add_option("-o,--output", outputs,
                    "Where spans go: console (default), console=FILE, jsonl=FILE, chrome=FILE (FILE - is stdout), "
                    "otlp, otlp=ENDPOINT, zipkin, zipkin=URL; repeatable");
    sub->add_option("--capture-bytes", capture_bytes,
                    "Payload prefix captured per syscall (power of two, 64..8192; default 4096)")
        ->check(CLI::Range(64u, 8192u));
    sub->add_option("--assembly-wait", assembly_wait_ms,
                    "Milliseconds a span waits before export so that late same-node pairings apply (default 500)")
        ->check(CLI::Range(0, 60000));
    sub->add_option("--duration", duration, "Stop after this many seconds")->check(CLI::PositiveNumber);
    sub->add_option("--stats-file", stats_file,
                    "Write the agent's counters as JSON to FILE at each stats report and on exit (docs/cli.md)");
    sub->add_option("--stats-interval", stats_interval,
                    "Seconds between the log lines of counter changes (default 60; 0: only the summary at exit)")
        ->check(CLI::NonNegativeNumber);
    sub->add_flag("--no-kernel-control", no_kernel_control,
                  "Copy every data call's payload prefix, even of connections given up on and of bodies "
                  "the parsers skip (for measuring; costs CPU)");
    sub->add_flag("--no-cuda", no_cuda, "Do not trace CUDA calls (no uprobes on CUDA libraries)");
    sub->add_flag("--no-tls", no_tls, "Do not capture TLS plaintext (no uprobes on OpenSSL-compatible code)");
    sub->add_option("--cuda-fold-rate", cuda_fold_rate,
                    "Launches per second per thread above which repeated launches of a kernel fold into one span "
                    "(default 200; 0 folds every repeat)")
        ->check(CLI::NonNegativeNumber);
  };

  auto* attach =
      app.add_subcommand("attach", "Trace running processes (all their threads and, by default, their children)");
  attach->add_option("-p,--pid", pids, "Process id to trace (repeatable)")->required()->check(CLI::PositiveNumber);
  attach->add_flag("--no-children", no_children, "Do not trace child processes, existing or new");
  add_common(attach);

  auto* exec = app.add_subcommand("exec", "Start a command traced from its first instruction, children too");
  exec->add_option("command", command, "Command and arguments (after --)")->required();
  exec->positionals_at_end();
  exec->add_flag("--no-cupti", no_cupti,
                 "Do not load the CUPTI injection library into the command (no GPU-side timings)");
  add_common(exec);

  auto* run = app.add_subcommand("run", "Node mode: trace every process, or those the config file selects");
  add_common(run);

  auto* check = app.add_subcommand("check", "Show what this kernel offers and what zerotrace will do");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  zt::discovery::Config config;
  if (!config_path.empty()) {
    auto loaded = zt::discovery::load_config(config_path);
    if (!loaded) {
      std::fprintf(stderr, "zerotrace: %s\n", loaded.error().message.c_str());
      return 2;
    }
    config = std::move(loaded.value());
    if (!run->parsed() && !config.select.empty()) {
      // attach and exec name their processes: the node's selection rules do not apply.
      std::fprintf(stderr, "zerotrace: %s: its select rules are ignored (they apply to `zerotrace run`)\n",
                   config_path.c_str());
      config.select.clear();
    }
  }
  // Flags take precedence over the config file.
  if (capture_bytes) {
    if (*capture_bytes & (*capture_bytes - 1)) {
      std::fprintf(stderr, "zerotrace: --capture-bytes must be a power of two (64, 128, ... 8192), got %u\n",
                   *capture_bytes);
      return 2;
    }
    config.capture_bytes = *capture_bytes;
  }
  if (assembly_wait_ms) {
    config.assembly_wait_ms = *assembly_wait_ms;
  }
  if (!outputs.empty()) config.outputs = outputs;
  if (no_cuda) config.cuda.enabled = false;
  if (no_tls) config.tls.enabled = false;
  if (no_kernel_control) config.kernel_control = false;
  if (no_cupti) config.cuda.cupti = false;
  if (cuda_fold_rate) config.cuda.fold_above_per_second = *cuda_fold_rate;
  if (log_level.empty()) log_level = verbose ? "debug" : (config_path.empty() ? "info" : config.log_level);
  setup_logging(log_level);

  if (check->parsed()) return run_check();

  zt::AgentOptions options;
  options.config = config;
  options.verbose = verbose;
  options.duration_s = duration;
  options.console_color = isatty(STDOUT_FILENO);
  options.stats_file = stats_file;
  if (stats_interval) options.stats_interval_s = *stats_interval;
  if (attach->parsed()) {
    options.mode = zt::Mode::Attach;
    options.pids = pids;
    options.follow_children = !no_children;
  } else if (exec->parsed()) {
    options.mode = zt::Mode::Exec;
    options.command = command;
  } else {
    options.mode = zt::Mode::Run;
  }

  install_signal_handlers();
  auto result = zt::run_agent(options);
  if (!result) {
    spdlog::error("{}", result.error().message);
    return 1;
  }
  return *result;
}
