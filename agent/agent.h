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
#include "discovery/targets.h"

namespace zt {

struct AgentOptions {
  Mode mode = Mode::Run;
  std::vector<std::uint32_t> pids;       // attach
  bool follow_children = true;           // attach: existing and future child processes too
  std::vector<std::string> command;      // exec
  discovery::Config config;              // run: selection; all modes: capture size, outputs
  bool verbose = false;
  std::optional<double> duration_s;      // stop by itself after this long
  bool console_color = false;
  std::string stats_file;                // written at each stats report and on exit (JSON); empty: none
  double stats_interval_s = 60;          // a line of counter changes this often; 0: only at exit
};

// Asks a running agent to stop; safe to call from a signal handler.
void request_agent_stop();

// Runs the agent to completion and returns the process exit status: 0, or in exec mode the
// traced command's own exit status. Start-up failures come back as an Error.
Result<int> run_agent(const AgentOptions& options);

}  // namespace zt
