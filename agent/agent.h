// The agent: loads the programs, selects processes, runs the pipeline until told to stop.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "discovery/config.h"

namespace zt {

enum class Mode { Attach, Exec, Run };

struct AgentOptions {
  Mode mode = Mode::Run;
  std::vector<std::uint32_t> pids;       // attach
  bool follow_children = true;           // attach: existing and future child processes too
  std::vector<std::string> command;      // exec
  discovery::Config config;              // run: selection; all modes: capture size, outputs
  bool verbose = false;
  std::optional<double> duration_s;      // stop by itself after this long
  bool console_color = false;
};

struct AgentStats {
  std::uint64_t events = 0;
  std::uint64_t data_events = 0;
  std::uint64_t kernel_dropped = 0;    // ring buffer full
  std::uint64_t kernel_truncated = 0;  // payload longer than the capture size
  std::uint64_t kernel_other_losses = 0;
  std::uint64_t malformed_records = 0;
  std::uint64_t spans = 0;
  std::uint64_t parse_errors = 0;
  std::uint64_t gap_bytes = 0;
  std::uint64_t connections = 0;
  std::uint64_t unsupported_connections = 0;
};

// Asks a running agent to stop; safe to call from a signal handler.
void request_agent_stop();

// Runs the agent to completion and returns the process exit status: 0, or in exec mode the
// traced command's own exit status. Start-up failures come back as an Error.
Result<int> run_agent(const AgentOptions& options);

}  // namespace zt
