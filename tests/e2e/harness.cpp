#include "e2e/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>

extern char** environ;

namespace zt::e2e {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kClockSlackNs = 1'000'000;           // agent and test read the clocks apart
constexpr std::uint64_t kMaxSpanDurationNs = 5'000'000'000;  // nothing in these tests takes longer
constexpr std::size_t kReportedBadSpans = 10;

std::string system_error(const std::string& what) { return what + ": " + std::strerror(errno); }

// Owns a file descriptor; -1 when empty.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Both ends of a close-on-exec pipe.
std::pair<Fd, Fd> make_pipe() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(system_error("pipe2"));
  return {Fd(p[0]), Fd(p[1])};
}

Fd open_file(const fs::path& path, int flags) {
  Fd fd(open(path.c_str(), flags | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw std::runtime_error(system_error("open " + path.string()));
  return fd;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The text up to and including the last newline: lines a writer may still be writing are left out.
std::string_view complete_lines(std::string_view text) {
  const auto last = text.rfind('\n');
  return last == std::string_view::npos ? std::string_view() : text.substr(0, last + 1);
}

std::vector<Json> parse_jsonl(std::string_view text, const std::string& origin) {
  std::vector<Json> out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    try {
      out.push_back(Json::parse(line));
    } catch (const Json::parse_error& e) {
      throw std::runtime_error(origin + ":" + std::to_string(line_no) + ": invalid JSON: " + e.what());
    }
  }
  return out;
}

}  // namespace

std::string which(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  throw std::runtime_error("cannot run " + name + ": not found in PATH");
}

namespace {

std::vector<std::string> merged_environment(const std::map<std::string, std::string>& additions) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (additions.count(std::string(entry.substr(0, entry.find('='))))) continue;
    env.emplace_back(entry);
  }
  for (const auto& [name, value] : additions) env.push_back(name + "=" + value);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int shell_status(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

bool listening_on(const fs::path& table, std::uint16_t port) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    const auto colon = local.rfind(':');
    if (state == "0A" && colon != std::string::npos && std::stoul(local.substr(colon + 1), nullptr, 16) == port) {
      return true;
    }
  }
  return false;
}

std::string tail(const std::string& text, std::size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

bool is_hex(const Json& value, std::size_t length) {
  if (!value.is_string()) return false;
  const auto& s = value.get_ref<const std::string&>();
  return s.size() == length && s.find_first_not_of("0123456789abcdef") == std::string::npos &&
         s.find_first_not_of('0') != std::string::npos;
}

std::uint64_t u64(const Json& value) { return value.is_number_unsigned() ? value.get<std::uint64_t>() : 0; }

}  // namespace

std::string agent_binary() { return ZT_BINARY; }

std::string workload(std::string_view name) { return (fs::path(ZT_WORKLOADS_DIR) / name).string(); }

std::string python3() {
  static const std::string path = [] {
    auto r = run_to_completion({"python3", "-c", "import sys; print(sys.executable)"});
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    if (r.status != 0 || r.out.empty()) throw std::runtime_error("python3 does not run: " + r.err);
    return r.out;
  }();
  return path;
}

bool poll_until(const std::function<bool()>& done, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(Millis(10));
  }
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = (fs::path(base && *base ? base : "/tmp") / "zt-e2e-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error(system_error("mkdtemp " + pattern));
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

Subprocess::Subprocess(std::vector<std::string> argv, SubprocessOptions options) : argv_(std::move(argv)) {
  if (argv_.empty()) throw std::invalid_argument("Subprocess: empty argv");
  // A child that closed its stdin must not kill the test with SIGPIPE; children get the default back.
  signal(SIGPIPE, SIG_IGN);

  const std::string program = which(argv_[0]);  // before fork: the child only calls execve
  std::vector<std::string> args = argv_;
  std::vector<std::string> env = merged_environment(options.env);
  const std::vector<char*> c_args = c_strings(args);
  const std::vector<char*> c_env = c_strings(env);

  const Fd out_fd = open_file(dir_ / "stdout", O_WRONLY | O_CREAT | O_TRUNC);
  const Fd err_fd = open_file(dir_ / "stderr", O_WRONLY | O_CREAT | O_TRUNC);
  Fd in_fd, stdin_writer;
  if (options.stdin_pipe) {
    std::tie(in_fd, stdin_writer) = make_pipe();
  } else {
    in_fd = open_file("/dev/null", O_RDONLY);
  }
  auto [error_reader, error_writer] = make_pipe();  // the child's execve errno, if it fails

  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(system_error("fork"));
  if (pid_ == 0) {
    // Only async-signal-safe calls from here to execve.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // the test binary died: take the child with it
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(in_fd.get(), STDIN_FILENO) < 0 || dup2(out_fd.get(), STDOUT_FILENO) < 0 ||
        dup2(err_fd.get(), STDERR_FILENO) < 0) {
      _exit(127);
    }
    execve(program.c_str(), c_args.data(), c_env.data());
    const int error = errno;
    if (write(error_writer.get(), &error, sizeof error) < 0) _exit(126);
    _exit(127);
  }
  setpgid(pid_, pid_);   // both sides set it: no window where kill(-pid) misses the child
  error_writer.reset();  // the read below ends at the child's execve (close-on-exec) or exit
  int error = 0;
  if (read(error_reader.get(), &error, sizeof error) == static_cast<ssize_t>(sizeof error)) {
    reap(true);
    throw std::runtime_error("cannot run " + program + ": " + std::strerror(error));
  }
  stdin_fd_ = stdin_writer.release();
}

Subprocess::~Subprocess() {
  if (::testing::Test::HasFailure()) {
    std::string report;
    for (const auto& [stream, name] : {std::pair{Stream::Out, "stdout"}, std::pair{Stream::Err, "stderr"}}) {
      const std::string text = output(stream);
      if (!text.empty()) report += std::string("--- ") + name + ":\n" + tail(text, 3000) + "\n";
    }
    if (!report.empty()) {
      std::fprintf(stderr, "=== output of [%s] (pid %d) ===\n%s", argv_.front().c_str(), pid_, report.c_str());
    }
  }
  terminate();
  close_stdin();
}

std::string Subprocess::output(Stream stream) const {
  return read_file(dir_ / (stream == Stream::Out ? "stdout" : "stderr"));
}

std::optional<std::string> Subprocess::wait_for_line(Stream stream, const std::regex& pattern, Millis timeout) {
  std::optional<std::string> found;
  poll_until(
      [&] {
        const bool exited = !running();  // checked first: after the exit, the output is complete
        std::istringstream lines{std::string(complete_lines(output(stream)))};
        for (std::string line; std::getline(lines, line);) {
          if (std::regex_search(line, pattern)) {
            found = line;
            return true;
          }
        }
        return exited;
      },
      timeout);
  return found;
}

std::optional<std::string> Subprocess::wait_for_line(Stream stream, std::string_view substring, Millis timeout) {
  std::string escaped;
  for (char c : substring) {
    if (std::strchr("\\^$.|?*+()[]{}", c) != nullptr) escaped += '\\';
    escaped += c;
  }
  return wait_for_line(stream, std::regex(escaped), timeout);
}

void Subprocess::write_stdin(std::string_view data) {
  if (stdin_fd_ < 0) throw std::logic_error("write_stdin: the child's stdin is not a pipe (or was closed)");
  while (!data.empty()) {
    const ssize_t n = write(stdin_fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(system_error("write to the child's stdin"));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void Subprocess::close_stdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

void Subprocess::send_signal(int signo) const {
  if (!status_) kill(pid_, signo);
}

bool Subprocess::reap(bool block) {
  if (status_) return true;
  int wait_status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &wait_status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    status_ = shell_status(wait_status);
  } else if (r < 0) {
    status_ = -1;  // not our child any more: nothing left to wait for
  }
  return status_.has_value();
}

bool Subprocess::running() { return !reap(false); }

std::optional<int> Subprocess::wait(Millis timeout) {
  poll_until([this] { return reap(false); }, timeout);
  return status_;
}

int Subprocess::terminate(Millis grace) {
  if (running()) {
    kill(pid_, SIGTERM);
    if (!wait(grace)) {
      kill_group();
      reap(true);
    }
  }
  kill_group();
  return *status_;
}

void Subprocess::kill_group() { kill(-pid_, SIGKILL); }

Completed run_to_completion(std::vector<std::string> argv, Millis timeout) {
  Subprocess p(std::move(argv));
  const auto status = p.wait(timeout);
  if (!status) {
    p.terminate();
    throw std::runtime_error(p.argv().front() + " did not finish within " + std::to_string(timeout.count()) +
                             " ms; stderr: " + p.output(Stream::Err));
  }
  return {*status, p.output(Stream::Out), p.output(Stream::Err)};
}

std::uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(system_error("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) throw std::runtime_error(system_error("bind to a free port"));
  return ntohs(addr.sin_port);
}

bool wait_for_port(std::uint16_t port, Millis timeout) {
  return poll_until([port] { return listening_on("/proc/net/tcp", port) || listening_on("/proc/net/tcp6", port); },
                    timeout);
}

std::vector<Json> read_jsonl(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (!text.empty() && text.back() != '\n') throw std::runtime_error(path.string() + ": last line is not terminated");
  return parse_jsonl(text, path.string());
}

Agent Agent::attach(const std::vector<pid_t>& pids, std::vector<std::string> extra_args,
                    std::map<std::string, std::string> env) {
  if (pids.empty()) throw std::invalid_argument("Agent::attach: no pid");
  std::vector<std::string> args{"attach"};
  for (auto pid : pids) {
    args.push_back("--pid");
    args.push_back(std::to_string(pid));
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  // One "tracing pid N" line per pid, in order: the last one means all are traced.
  return Agent(std::move(args), std::regex("^zerotrace I tracing pid " + std::to_string(pids.back()) + "\\b"),
               std::move(env));
}

Agent Agent::exec(const std::vector<std::string>& command, std::vector<std::string> extra_args) {
  std::vector<std::string> args{"exec"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  args.push_back("--");
  args.insert(args.end(), command.begin(), command.end());
  return Agent(std::move(args), std::regex("^zerotrace I tracing .* \\(pid [0-9]+\\)"));
}

std::vector<ClientResult> parse_client_results(const std::string& out) {
  std::vector<ClientResult> results;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    ClientResult r;
    if (fields >> r.status >> r.body_size >> r.local_port >> r.target) results.push_back(r);
  }
  return results;
}

Agent Agent::run(const std::filesystem::path& config, const std::regex& ready, std::vector<std::string> extra_args) {
  std::vector<std::string> args{"run", "--config", config.string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  return Agent(args, ready);
}

Agent::Agent(std::vector<std::string> args, const std::regex& ready, std::map<std::string, std::string> env)
    : output_(dir_ / "spans.jsonl"),
      stats_path_(dir_ / "stats.json"),
      process_(
          [&] {
            std::vector<std::string> argv{agent_binary()};
            argv.insert(argv.end(), args.begin(), args.end());
            // Options go before "--" (exec) so that they are the agent's, not the command's.
            auto at = std::find(argv.begin(), argv.end(), "--");
            argv.insert(at, {"-o", "jsonl=" + output_.string(), "--stats-file", stats_path_.string()});
            return argv;
          }(),
          SubprocessOptions{.env = std::move(env)}) {
  if (!process_.wait_for_line(Stream::Err, ready)) {
    throw std::runtime_error("the agent did not start tracing; its log:\n" + log());
  }
}

std::vector<Json> Agent::spans() const { return parse_jsonl(complete_lines(read_file(output_)), output_.string()); }

bool Agent::wait_for_spans(std::size_t count, Millis timeout) const {
  return poll_until(
      [&] {
        const std::string text = read_file(output_);
        return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) >= count;
      },
      timeout);
}

std::vector<Json> Agent::stop() {
  process_.send_signal(SIGINT);
  return wait_exit();
}

std::vector<Json> Agent::wait_exit(Millis timeout) {
  if (!process_.wait(timeout)) {
    throw std::runtime_error("the agent did not exit within " + std::to_string(timeout.count()) + " ms; its log:\n" +
                             log());
  }
  return read_jsonl(output_);
}

std::uint64_t AgentStats::get(std::string_view name) const {
  const auto dot = name.find('.');
  const std::string group(name.substr(0, dot));
  const std::string key(dot == std::string_view::npos ? "" : name.substr(dot + 1));
  if (!json.contains(group) || !json[group].contains(key)) return 0;
  return json[group][key].get<std::uint64_t>();
}

std::optional<AgentStats> Agent::stats() const {
  if (!std::filesystem::exists(stats_path_)) return std::nullopt;
  // Written through a rename: a reader sees a whole file or the previous one.
  return AgentStats{Json::parse(read_file(stats_path_))};
}

bool Agent::wait_for_stat(std::string_view name, std::uint64_t at_least, Millis timeout) const {
  return poll_until(
      [&] {
        const auto s = stats();
        return s && s->get(name) >= at_least;
      },
      timeout);
}

ReadyServer::ReadyServer(std::vector<std::string> argv, SubprocessOptions options)
    : port_(free_port()),
      process_(
          [&] {
            argv.push_back(std::to_string(port_));
            return std::move(argv);
          }(),
          std::move(options)) {
  if (!process_.wait_for_line(Stream::Out, std::regex("^READY " + std::to_string(port_) + "$"))) {
    throw std::runtime_error(process_.argv()[1] + " did not get ready; stderr:\n" + process_.output(Stream::Err));
  }
  facts_ = process_facts(process_.pid());
}

std::string ReadyServer::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

std::filesystem::path js_dir() { return fs::path(ZT_WORKLOADS_DIR).parent_path() / "js"; }

JsReceiver::JsReceiver()
    : process_({"node", (js_dir() / "otlp_receiver.js").string(), "--http-port", "0", "--grpc-port", "0", "--out",
                (dir_ / "requests.jsonl").string(), "--ready", (dir_ / "ready.json").string()}) {
  const bool ready = poll_until([&] { return fs::exists(dir_ / "ready.json"); }, kReadyTimeout);
  if (!ready) throw std::runtime_error("the JS OTLP receiver did not start:\n" + process_.output(Stream::Err));
  const Json ports = Json::parse(std::ifstream(dir_ / "ready.json"));
  http_port_ = ports["http_port"];
  grpc_port_ = ports["grpc_port"];
}

std::string JsReceiver::url(bool grpc) const {
  return "http://127.0.0.1:" + std::to_string(grpc ? grpc_port_ : http_port_);
}

std::vector<Json> JsReceiver::requests() const { return read_jsonl(dir_ / "requests.jsonl"); }

std::vector<Json> JsReceiver::spans() const {
  std::vector<Json> out;
  for (const auto& r : requests()) {
    if (!r["request"].is_object()) continue;
    for (const auto& rs : r["request"]["resourceSpans"]) {
      for (const auto& ss : rs["scopeSpans"]) {
        for (const auto& s : ss["spans"]) out.push_back(s);
      }
    }
  }
  return out;
}

std::uint64_t unix_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

ProcessFacts process_facts(pid_t pid) {
  const fs::path proc = fs::path("/proc") / std::to_string(pid);
  std::string cmdline = read_file(proc / "cmdline");
  while (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  std::error_code gone;  // the process exited: empty facts
  return {pid, fs::read_symlink(proc / "exe", gone).filename().string(), cmdline};
}

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

std::set<pid_t> process_tree(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = read_file(entry.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    fields >> state >> ppid;
    children.emplace(ppid, static_cast<pid_t>(std::stoi(name)));
  }
  std::set<pid_t> tree{root};
  std::vector<pid_t> todo{root};
  while (!todo.empty()) {
    const pid_t p = todo.back();
    todo.pop_back();
    for (auto [it, end] = children.equal_range(p); it != end; ++it) {
      if (tree.insert(it->second).second) todo.push_back(it->second);
    }
  }
  return tree;
}

Json attr(const Json& span, const std::string& key) {
  const auto a = span.find("attributes");
  if (a == span.end() || !a->is_object()) return {};
  const auto v = a->find(key);
  return v == a->end() ? Json() : *v;
}

Json res(const Json& span, const std::string& key) {
  const auto r = span.find("resource");
  if (r == span.end() || !r->is_object()) return {};
  const auto v = r->find(key);
  return v == r->end() ? Json() : *v;
}

std::uint64_t start_ns(const Json& span) { return u64(span.value("start_time_unix_nano", Json())); }

std::uint64_t end_ns(const Json& span) { return u64(span.value("end_time_unix_nano", Json())); }

std::vector<Json> of_kind(const std::vector<Json>& spans, std::string_view kind) {
  std::vector<Json> out;
  for (const auto& s : spans) {
    if (s.value("kind", "") == kind) out.push_back(s);
  }
  return out;
}

std::vector<Json> sorted_by_start(std::vector<Json> spans) {
  std::stable_sort(spans.begin(), spans.end(), [](const Json& a, const Json& b) { return start_ns(a) < start_ns(b); });
  return spans;
}

std::vector<std::string> names(const std::vector<Json>& spans) {
  std::vector<std::string> out;
  for (const auto& s : spans) out.push_back(s.value("name", "<no name>"));
  return out;
}

void expect_well_formed(const std::vector<Json>& spans, const TimeWindow& window, const std::set<pid_t>& pids) {
  std::set<std::string> all_ids;
  for (const auto& s : spans) all_ids.insert(s.value("span_id", ""));
  std::set<std::string> span_ids;
  std::size_t bad = 0;
  for (const auto& s : spans) {
    std::vector<std::string> problems;
    auto check = [&](bool ok, const char* what) {
      if (!ok) problems.emplace_back(what);
    };
    check(is_hex(s.value("trace_id", Json()), 32), "trace_id is not 32 hex digits (nor all zero)");
    check(is_hex(s.value("span_id", Json()), 16), "span_id is not 16 hex digits (nor all zero)");
    check(span_ids.insert(s.value("span_id", "")).second, "duplicate span_id");
    const Json parent = s.value("parent_span_id", Json());
    check(parent == "" || all_ids.count(parent.is_string() ? parent.get<std::string>() : "") == 1,
          "parent_span_id is neither \"\" nor a span of this test (an orphan)");
    // Requests are SERVER or CLIENT; CUDA work (docs/gpu.md) is INTERNAL and says it is CUDA's.
    const bool cuda = s.contains("attributes") &&
                      (s["attributes"].contains("cuda.api") || s["attributes"].contains("cuda.group.calls"));
    check(s.value("kind", "") == "SERVER" || s.value("kind", "") == "CLIENT" ||
              (cuda && s.value("kind", "") == "INTERNAL"),
          "kind is neither SERVER nor CLIENT (nor INTERNAL for CUDA work)");
    const std::string code = s.contains("status") ? s["status"].value("code", "") : "";
    check(code == "UNSET" || code == "OK" || code == "ERROR", "status.code is not UNSET, OK or ERROR");

    const std::uint64_t start = start_ns(s);
    const std::uint64_t end = end_ns(s);
    const std::uint64_t duration = u64(s.value("duration_ns", Json()));
    check(end >= start, "end before start");
    check(end < start || duration == end - start, "duration_ns is not end - start");
    check(duration < kMaxSpanDurationNs, "implausible duration (>= 5 s)");
    check(start + kClockSlackNs >= window.begin_ns, "starts before the test's traffic began");
    check(end <= window.end_ns + kClockSlackNs, "ends after the test's traffic ended");

    const Json pid = res(s, "process.pid");
    check(pid.is_number_integer() && pids.count(pid.get<pid_t>()) == 1, "process.pid is not a traced process");

    if (!problems.empty() && ++bad <= kReportedBadSpans) {
      std::string list;
      for (const auto& p : problems) list += "\n  - " + p;
      ADD_FAILURE() << "malformed span:" << list << "\n  span: " << s.dump() << "\n  window: [" << window.begin_ns
                    << ", " << window.end_ns << "]";
    }
  }
  if (bad > kReportedBadSpans) {
    ADD_FAILURE() << bad << " malformed spans in all (first " << kReportedBadSpans << " shown)";
  }
}

void expect_resource(const Json& span, const ProcessFacts& process, const std::string& service_name) {
  SCOPED_TRACE("span: " + span.dump());
  EXPECT_EQ(res(span, "process.pid"), process.pid);
  EXPECT_EQ(res(span, "service.name"), service_name);
  EXPECT_EQ(res(span, "process.executable.name"), process.exe_name);
  EXPECT_EQ(res(span, "process.command_line"), process.command_line);
  EXPECT_EQ(res(span, "host.name"), host_name());
  EXPECT_EQ(res(span, "os.type"), "linux");
  EXPECT_EQ(res(span, "telemetry.sdk.name"), "zerotrace");
  const Json instance_id = res(span, "service.instance.id");
  EXPECT_TRUE(instance_id.is_string() && instance_id.get<std::string>().size() == 36) << instance_id;
  EXPECT_TRUE(res(span, "process.owner").is_string());
}

}  // namespace zt::e2e
