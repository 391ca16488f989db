// The YAML file behind `zerotrace run --config FILE`; reference in docs/configuration.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "discovery/selector.h"

namespace zt::discovery {

// The `cuda:` section (docs/gpu.md).
struct CudaConfig {
  bool enabled = true;  // probe CUDA runtime and driver functions in traced processes
  bool cupti = true;    // exec mode: load the CUPTI injection library (GPU-side timings)
  // Per thread: above this many launches a second, consecutive launches of one kernel fold into
  // one span with a count. 0 folds from the first repeated launch.
  double fold_above_per_second = 200;
  // GPU work outside any request is grouped per thread until it idles this long.
  std::uint32_t group_idle_ms = 1000;
};

// The `tls:` section (docs/protocols.md, TLS).
struct TlsConfig {
  bool enabled = true;  // probe OpenSSL-compatible code in traced processes for TLS plaintext
  // Probe the internal read/write functions where the exported ones start with an instruction the
  // kernel must single-step (3-4x dearer per call on VMs); false: the exported functions.
  bool internal_sites = true;
  // A TLS connection whose plaintext is never seen (Java's own TLS, an unprobed library) gives a
  // span of its own at its close, with what its handshake showed.
  bool handshake_spans = false;
};

struct Config {
  std::vector<SelectorRule> select;    // empty: every process on the node except the agent
  std::uint32_t capture_bytes = 4096;  // payload prefix captured per syscall
  // The agent tells the kernel which connections and body bytes it does not need copied
  // (off: every data call's prefix is copied, e.g. to measure what the control saves).
  bool kernel_control = true;
  std::vector<std::string> outputs;  // exporter specs ("console", "jsonl=FILE"); empty: not set
  std::string log_level = "info";    // trace, debug, info, warn, error
  // How long a built span waits before export, so that a same-node pairing learned late (a server
  // that read its request before its client's write was seen) still fixes its trace.
  std::uint32_t assembly_wait_ms = 500;
  // The `otlp:` section as exporter settings (keys of exporters/otlp/otlp_options.h: "endpoint",
  // "protocol", "headers", ..., "bsp.max_queue_size", ...). Values are checked when the exporter
  // is made, where the environment's layer has been applied over them.
  std::map<std::string, std::string> otlp;
  CudaConfig cuda;
  TlsConfig tls;
};

inline constexpr std::uint32_t kMinCaptureBytes = 64;
inline constexpr std::uint32_t kMaxCaptureBytes = 8192;  // ZT_MAX_CAPTURE, the BPF scratch buffer's limit

// Reads and parses a config file. Errors are one line naming the file, the key path and what is
// accepted, e.g. `zerotrace.yaml: select[2].port: expected an integer 1..65535, got "http"`.
Result<Config> load_config(const std::string& path);

// Parses config text; `origin` names it in error messages. An empty document gives the defaults.
Result<Config> parse_config(std::string_view yaml_text, std::string_view origin);

}  // namespace zt::discovery
