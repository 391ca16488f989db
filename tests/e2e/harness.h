// End-to-end test harness: real processes (workloads, curl, the agent itself) started and always
// reaped, their output, and the spans the agent wrote.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace zt::e2e {

using Json = nlohmann::json;
using Millis = std::chrono::milliseconds;

inline constexpr Millis kReadyTimeout{15000};  // loading BPF programs, starting interpreters
inline constexpr Millis kSpanTimeout{5000};    // spans of traffic that already happened

// The paths the build gives the tests.
std::string agent_binary();
std::string workload(std::string_view name);
// The executable execvp would run for `name` (searched in PATH unless it contains a slash).
std::string which(const std::string& name);
// The interpreter `python3` from PATH runs, past wrappers like pyenv shims (a second per start).
std::string python3();

// Calls `done` every 10 ms until it returns true or `timeout` passes; returns its last answer.
bool poll_until(const std::function<bool()>& done, Millis timeout);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

enum class Stream { Out, Err };

struct SubprocessOptions {
  std::map<std::string, std::string> env;  // added to the test's environment, replacing equal names
  bool stdin_pipe = false;                 // otherwise stdin is /dev/null
};

// A child process started with fork/exec in its own process group, stdout and stderr captured to
// files. The destructor terminates it (SIGTERM, then SIGKILL), reaps it and kills whatever is left
// of its process group, so a failed assertion leaks no process. While a test is failing, the
// destructor also prints the tail of the child's output.
class Subprocess {
 public:
  explicit Subprocess(std::vector<std::string> argv, SubprocessOptions options = {});
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  const std::vector<std::string>& argv() const { return argv_; }

  // Everything the child wrote so far.
  std::string output(Stream stream) const;
  // The first complete line that matches, waiting for it; nullopt on timeout or when the child
  // exited without writing it.
  std::optional<std::string> wait_for_line(Stream stream, const std::regex& pattern, Millis timeout = kReadyTimeout);
  std::optional<std::string> wait_for_line(Stream stream, std::string_view substring, Millis timeout = kReadyTimeout);

  void write_stdin(std::string_view data);
  void close_stdin();
  void send_signal(int signo) const;

  bool running();
  // Waits for the exit; returns the status as a shell reports it (exit code, or 128 + signal).
  std::optional<int> wait(Millis timeout = kReadyTimeout);
  // SIGTERM, up to `grace` to exit, then SIGKILL; returns the exit status.
  int terminate(Millis grace = Millis(5000));
  std::optional<int> exit_status() const { return status_; }

 private:
  bool reap(bool block);
  void kill_group();

  std::vector<std::string> argv_;
  TempDir dir_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::optional<int> status_;
};

// Runs a command to completion (stdout and stderr captured), for short-lived clients like curl.
struct Completed {
  int status = -1;
  std::string out;
  std::string err;
};
Completed run_to_completion(std::vector<std::string> argv, Millis timeout = Millis(30000));

// One line of the workload clients' output (node_client.js, keepalive_client.py):
// "STATUS BODY_SIZE LOCAL_PORT TARGET", TARGET being the URL or path requested.
struct ClientResult {
  int status = 0;
  std::int64_t body_size = 0;
  int local_port = 0;
  std::string target;
};
std::vector<ClientResult> parse_client_results(const std::string& out);

// A loopback TCP port nobody listens on right now.
std::uint16_t free_port();
// Waits until some socket listens on the TCP port (read from /proc/net/tcp*, without connecting,
// so that no connection reaches a traced server).
bool wait_for_port(std::uint16_t port, Millis timeout = kReadyTimeout);

// One JSON value per non-empty line; throws, naming the line, on invalid JSON.
std::vector<Json> read_jsonl(const std::filesystem::path& path);

// The agent's counters, from its --stats-file (docs/cli.md): `stats["pipeline"]["spans"]`.
struct AgentStats {
  Json json;
  // A counter by its full name ("pipeline.spans", "export.otlp.retries"); 0 when absent.
  std::uint64_t get(std::string_view name) const;
};

// The agent, writing spans to a JSONL file of its own. The constructor returns once the agent
// logged that it is tracing (its programs are attached), and throws when it does not.
class Agent {
 public:
  // `env` is added to the agent's environment (OTEL_EXPORTER_OTLP_*, ...).
  static Agent attach(const std::vector<pid_t>& pids, std::vector<std::string> extra_args = {},
                      std::map<std::string, std::string> env = {});
  static Agent exec(const std::vector<std::string>& command, std::vector<std::string> extra_args = {});
  // Node mode with a config file; ready once the agent logged a line matching `ready`.
  static Agent run(const std::filesystem::path& config, const std::regex& ready,
                   std::vector<std::string> extra_args = {});

  pid_t pid() const { return process_.pid(); }
  Subprocess& process() { return process_; }
  const std::filesystem::path& output_path() const { return output_; }
  std::string log() const { return process_.output(Stream::Err); }

  // Spans exported so far.
  std::vector<Json> spans() const;
  // Waits until at least `count` spans are exported (the agent exports every 100 ms).
  bool wait_for_spans(std::size_t count, Millis timeout = kSpanTimeout) const;
  // SIGINT, wait for the exit (the agent flushes everything first); returns every span.
  std::vector<Json> stop();
  // For runs that end by themselves (exec, --duration): waits for the exit; returns every span.
  std::vector<Json> wait_exit(Millis timeout = kReadyTimeout);

  std::optional<int> exit_status() const { return process_.exit_status(); }
  // The stats file the agent writes on exit and, with --stats-interval, while it runs; nullopt
  // until it exists.
  std::optional<AgentStats> stats() const;
  // Waits until the stats file shows counter `name` at `at_least` (needs --stats-interval).
  bool wait_for_stat(std::string_view name, std::uint64_t at_least, Millis timeout = kSpanTimeout) const;

 private:
  // `args` follow the binary; `ready` matches the log line that says tracing has begun.
  Agent(std::vector<std::string> args, const std::regex& ready, std::map<std::string, std::string> env = {});

  TempDir dir_;
  std::filesystem::path output_;
  std::filesystem::path stats_path_;
  Subprocess process_;
};

// What a span's resource must say about a process, read from /proc while it runs (empty strings
// once it has exited).
struct ProcessFacts {
  pid_t pid = 0;
  std::string exe_name;      // basename of /proc/PID/exe
  std::string command_line;  // arguments joined by spaces
};
ProcessFacts process_facts(pid_t pid);
std::string host_name();
// pid and every descendant of it.
std::set<pid_t> process_tree(pid_t root);

// A workload server that takes a port as its last argument and prints "READY <port>" once it
// listens (tests/workloads/http_server.py, node_server.js). The constructor returns when it is ready.
class ReadyServer {
 public:
  explicit ReadyServer(std::vector<std::string> argv, SubprocessOptions options = {});
  static std::vector<std::string> python() { return {python3(), workload("http_server.py")}; }
  static std::vector<std::string> node() { return {"node", workload("node_server.js")}; }

  pid_t pid() const { return process_.pid(); }
  std::uint16_t port() const { return port_; }
  std::string url(std::string_view path) const;
  const ProcessFacts& facts() const { return facts_; }
  Subprocess& process() { return process_; }

 private:
  std::uint16_t port_;
  Subprocess process_;
  ProcessFacts facts_;
};

// tests/js: the Node.js test peers, with the OpenTelemetry JS packages in its node_modules.
std::filesystem::path js_dir();

// tests/js/otlp_receiver.js as a child process: an OTLP receiver that decodes with OpenTelemetry
// JS's own generated protobuf code. Ports read from its ready file.
class JsReceiver {
 public:
  JsReceiver();

  std::string url(bool grpc) const;  // http://127.0.0.1:PORT of the gRPC or the HTTP server
  // One line per export request received, normalised (tests/js/README.md).
  std::vector<Json> requests() const;
  // Every span of every request, in the order received (OTLP JSON: ids in hex, kind a number).
  std::vector<Json> spans() const;
  std::string log() const { return process_.output(Stream::Err); }

 private:
  TempDir dir_;
  Subprocess process_;
  int http_port_ = 0;
  int grpc_port_ = 0;
};

// Wall-clock time (CLOCK_REALTIME) in Unix nanoseconds, the clock spans are stamped with.
std::uint64_t unix_now_ns();

// The interval in which the traffic of a test happened.
struct TimeWindow {
  std::uint64_t begin_ns = 0;
  std::uint64_t end_ns = 0;
};

// Spans helpers.
Json attr(const Json& span, const std::string& key);  // null when absent
Json res(const Json& span, const std::string& key);   // resource attribute, null when absent
std::uint64_t start_ns(const Json& span);             // start_time_unix_nano, 0 when absent
std::uint64_t end_ns(const Json& span);               // end_time_unix_nano, 0 when absent
std::vector<Json> of_kind(const std::vector<Json>& spans, std::string_view kind);
std::vector<Json> sorted_by_start(std::vector<Json> spans);
std::vector<std::string> names(const std::vector<Json>& spans);

// Checks that hold for every span of every test (non-fatal gtest expectations): well-formed ids,
// no duplicate span id, every parent a span of the set (no orphans), end >= start, duration = end - start and under a
// few seconds, times inside `window`, and a process.pid among `pids`.
void expect_well_formed(const std::vector<Json>& spans, const TimeWindow& window, const std::set<pid_t>& pids);

// Checks the resource of a span against the process it must come from.
void expect_resource(const Json& span, const ProcessFacts& process, const std::string& service_name);

}  // namespace zt::e2e
