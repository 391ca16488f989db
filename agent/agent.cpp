#include "agent.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "discovery/process_info.h"
#include "discovery/selector.h"
#include "exporters/exporter.h"
#include "loader/bpf_kernel_control.h"
#include "loader/bpf_loader.h"
#include "loader/kernel_features.h"
#include "pipeline/conn_tracker.h"
#include "pipeline/events.h"
#include "pipeline/ring_reader.h"
#include "pipeline/span_builder.h"
#include "context/propagation.h"
#include "cuda/cuda_probes.h"
#include "cuda/cuda_spans.h"
#include "cuda/cupti_wire.h"
#include <deque>
#include <ifaddrs.h>
#include <arpa/inet.h>
#include <netinet/in.h>

namespace zt {
namespace {

std::atomic<bool> g_stop{false};

constexpr int kPollTimeoutMs = 10;
constexpr std::uint64_t kTickNs = 100'000'000;          // housekeeping and export
constexpr std::uint64_t kLivenessCheckNs = 500'000'000;  // attach/exec: are the targets alive?
constexpr std::uint64_t kPortRescanNs = 2'000'000'000;   // run: listening-port rules
constexpr std::uint64_t kRegistrySweepNs = 30'000'000'000;  // drop identities of exits we missed
constexpr std::size_t kExportBatch = 512;
constexpr std::size_t kMaxHeldSpans = 200'000;  // bound of the assembly hold

// Child processes of `pid` found by walking /proc (nginx workers under their master, say).
std::vector<std::uint32_t> descendants_of(std::uint32_t root) {
  std::map<std::uint32_t, std::vector<std::uint32_t>> children;
  for (auto pid : discovery::all_pids("/proc")) {
    auto identity = discovery::read_process_identity(pid, "/proc");
    if (identity) children[identity->parent_pid].push_back(pid);
  }
  std::vector<std::uint32_t> out;
  std::vector<std::uint32_t> todo{root};
  while (!todo.empty()) {
    auto p = todo.back();
    todo.pop_back();
    for (auto c : children[p]) {
      out.push_back(c);
      todo.push_back(c);
    }
  }
  return out;
}

class Agent {
 public:
  explicit Agent(const AgentOptions& options) : options_(options) {}

  Result<int> run();

 private:
  Result<void> start_exporters();
  Result<void> start_targets();
  Result<void> spawn_command();
  void select_processes();
  void consider_process(std::uint32_t pid);
  void on_record(const void* data, std::size_t size);
  void start_cuda();
  // Whether `pid` is traced, for CUDA probing (node mode without rules traces every process).
  bool cuda_traced(std::uint32_t pid) const {
    return loader_->options().trace_all ? pid != static_cast<std::uint32_t>(getpid()) : loader_->is_traced(pid);
  }
  void on_cuda_record(const zt_event_header& hdr, const void* data, std::size_t size);
  void hold_span(trace::Span&& span);
  void on_span_record(protocols::Record&& record, const pipeline::ConnectionInfo& conn,
                      pipeline::FlushCause cause);
  // Moves built spans to the exporters once they waited `assembly_wait_ms` (late same-node
  // pairings are applied then); `all` releases everything (shutdown, process exit).
  void export_pending(bool all = false);
  bool targets_alive();
  void print_stats();

  AgentOptions options_;
  MonotonicToRealtime clock_;
  std::unique_ptr<loader::BpfLoader> loader_;
  std::unique_ptr<pipeline::RingReader> reader_;
  std::unique_ptr<pipeline::ConnTracker> tracker_;
  std::unique_ptr<pipeline::KernelControl> kernel_control_;  // the tracker's line to the BPF programs
  std::unique_ptr<pipeline::SpanBuilder> builder_;
  context::Propagator propagator_;
  std::unique_ptr<cuda::CudaProbes> cuda_probes_;     // before loader_ in destruction: links first
  std::unique_ptr<cuda::CudaSpanBuilder> cuda_spans_;
  struct CuptiStats {
    std::uint64_t batches = 0;
    std::uint64_t malformed = 0;
    std::uint64_t truncated = 0;
    std::uint64_t records = 0;
  } cupti_;
  struct HeldSpan {
    std::uint64_t release_ns;
    trace::Span span;
  };
  std::deque<HeldSpan> held_;  // built spans waiting for late pairings, oldest first
  std::uint64_t released_early_ = 0;  // held spans released before their time (hold bound reached)
  discovery::ProcessRegistry registry_{"/proc"};
  std::optional<discovery::ProcessSelector> selector_;
  std::vector<std::unique_ptr<exporters::SpanExporter>> exporters_;
  std::vector<trace::Span> batch_;
  std::map<std::uint32_t, std::set<std::uint16_t>> listening_ports_;  // run: port rules
  std::set<std::uint32_t> targets_;  // attach/exec: processes whose exit ends the run
  pid_t child_ = -1;
  int child_status_ = 0;
  bool child_exited_ = false;
  AgentStats stats_;
};

Result<void> Agent::start_exporters() {
  exporters::ExporterOptions eopts;
  eopts.color = options_.console_color;
  eopts.otlp_settings = options_.config.otlp;
  auto specs = options_.config.outputs;
  if (specs.empty()) specs.push_back("console");
  for (const auto& spec : specs) {
    auto e = exporters::make_exporter(spec, eopts);
    if (!e) return e.error();
    exporters_.push_back(std::move(e.value()));
  }
  return {};
}

// The CUPTI injection library: $ZEROTRACE_CUPTI_LIBRARY, else beside the zerotrace binary (build
// tree: agent/cuda/injection/; installed: ../lib/zerotrace/). Empty when none is found.
std::string find_cupti_library() {
  if (const char* env = std::getenv("ZEROTRACE_CUPTI_LIBRARY"); env && *env) return access(env, R_OK) == 0 ? env : "";
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  std::string dir(self, static_cast<std::size_t>(n));
  dir = dir.substr(0, dir.rfind('/'));
  for (const char* rel : {"/libzerotrace_cupti.so", "/cuda/injection/libzerotrace_cupti.so",
                          "/../lib/zerotrace/libzerotrace_cupti.so"}) {
    const std::string candidate = dir + rel;
    if (access(candidate.c_str(), R_OK) == 0) return candidate;
  }
  return "";
}

Result<void> Agent::spawn_command() {
  // GPU-side timings come from the CUPTI injection library, which the CUDA driver loads at cuInit
  // from CUDA_INJECTION64_PATH. A value the user set is theirs: it is left alone.
  std::string injection;
  if (options_.config.cuda.enabled && options_.config.cuda.cupti) {
    if (const char* existing = std::getenv("CUDA_INJECTION64_PATH"); existing && *existing) {
      spdlog::info("CUDA_INJECTION64_PATH is already set ({}): zerotrace's CUPTI library is not loaded", existing);
    } else {
      injection = find_cupti_library();
      if (injection.empty()) {
        spdlog::debug("no CUPTI injection library found (built only with the CUDA toolkit): CUDA is traced by uprobes alone");
      } else {
        spdlog::debug("CUDA_INJECTION64_PATH={}", injection);
      }
    }
  }
  // The child waits on a pipe until its pid is in the traced set, so that it is traced from its
  // first instruction after exec.
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) != 0) return make_error(std::string("pipe: ") + std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0) return make_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    close(gate[1]);
    char go;
    if (read(gate[0], &go, 1) != 1) _exit(127);
    std::vector<char*> argv;
    for (const auto& a : options_.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (!injection.empty()) setenv("CUDA_INJECTION64_PATH", injection.c_str(), 1);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "zerotrace: cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  close(gate[0]);
  child_ = pid;
  auto r = loader_->trace_pid(static_cast<std::uint32_t>(pid), true);
  const char go = 1;
  if (!r || write(gate[1], &go, 1) != 1) {
    close(gate[1]);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return r ? make_error("cannot release the traced command") : r.error();
  }
  close(gate[1]);
  targets_.insert(static_cast<std::uint32_t>(pid));
  spdlog::info("tracing {} (pid {})", options_.command.front(), pid);
  return {};
}

Result<void> Agent::start_targets() {
  switch (options_.mode) {
    case Mode::Attach:
      for (auto pid : options_.pids) {
        std::vector<std::uint32_t> family{pid};
        if (options_.follow_children) {
          auto d = descendants_of(pid);
          family.insert(family.end(), d.begin(), d.end());
        }
        for (auto p : family) {
          if (auto r = loader_->trace_pid(p, options_.follow_children); !r) return r.error();
          registry_.resource_for(p);  // read identity while the process surely exists
          targets_.insert(p);
          if (cuda_probes_) cuda_probes_->scan(p);
        }
        spdlog::info("tracing pid {}{}", pid,
                     family.size() > 1 ? fmt::format(" and {} child processes", family.size() - 1) : "");
      }
      return {};
    case Mode::Exec:
      return spawn_command();
    case Mode::Run:
      if (options_.config.select.empty()) {
        spdlog::info("tracing every process on this node (no selection rules)");
        if (cuda_probes_) {
          const std::uint64_t now = monotonic_now_ns();
          for (auto pid : discovery::all_pids("/proc")) {
            if (pid != static_cast<std::uint32_t>(getpid())) cuda_probes_->request_scan(pid, now);
          }
        }
      } else {
        selector_.emplace(options_.config.select, static_cast<std::uint32_t>(getpid()));
        select_processes();
        spdlog::info("selecting processes by {} rule{}; new processes are checked at exec{}",
                     options_.config.select.size(), options_.config.select.size() == 1 ? "" : "s",
                     selector_->needs_listening_ports() ? ", listening ports every 2 s" : "");
      }
      return {};
  }
  return {};
}

void Agent::consider_process(std::uint32_t pid) {
  if (!selector_ || pid == static_cast<std::uint32_t>(getpid())) return;
  auto identity = discovery::read_process_identity(pid, "/proc");
  if (!identity) return;
  static const std::set<std::uint16_t> kNoPorts;
  const auto ports = listening_ports_.find(pid);
  const bool selected = selector_->matches(*identity, ports == listening_ports_.end() ? kNoPorts : ports->second);
  const bool traced = loader_->is_traced(pid);
  if (selected && !traced) {
    if (loader_->trace_pid(pid, true)) {
      spdlog::info("tracing pid {} ({})", pid, identity->exe_name);
      if (cuda_probes_) cuda_probes_->request_scan(pid, monotonic_now_ns());
    }
  } else if (!selected && traced) {
    loader_->untrace_pid(pid);
    if (cuda_probes_) cuda_probes_->forget(pid);
  }
}

void Agent::select_processes() {
  if (selector_->needs_listening_ports()) listening_ports_ = discovery::listening_tcp_ports_by_pid("/proc");
  for (auto pid : discovery::all_pids("/proc")) consider_process(pid);
}

void Agent::on_span_record(protocols::Record&& record, const pipeline::ConnectionInfo& conn,
                           pipeline::FlushCause cause) {
  hold_span(builder_->build(record, conn, cause));
}

void Agent::hold_span(trace::Span&& span) {
  const std::uint64_t now = monotonic_now_ns();
  held_.push_back({now + options_.config.assembly_wait_ms * 1'000'000ull, std::move(span)});
  ++stats_.spans;
  if (held_.size() > kMaxHeldSpans) {
    ++released_early_;
    batch_.push_back(std::move(held_.front().span));
    held_.pop_front();
  }
  if (batch_.size() >= kExportBatch) export_pending();
}

void Agent::export_pending(bool all) {
  const std::uint64_t now = monotonic_now_ns();
  while (!held_.empty() && (all || held_.front().release_ns <= now)) {
    batch_.push_back(std::move(held_.front().span));
    held_.pop_front();
  }
  if (batch_.empty()) return;
  for (auto& span : batch_) propagator_.finalize(span);
  for (auto& e : exporters_) e->export_spans(batch_);
  batch_.clear();
}

// This node's own addresses: a peer at one of them may be traced here too (same-node pairing).
std::vector<std::string> local_addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (i->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof text);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, text, sizeof text);
    } else {
      continue;
    }
    out.emplace_back(text);
  }
  freeifaddrs(list);
  return out;
}

void Agent::on_record(const void* data, std::size_t size) {
  ++stats_.events;
  auto hdr = pipeline::read_record<zt_event_header>(data, size);
  if (!hdr) {
    ++stats_.malformed_records;
    return;
  }
  switch (hdr->kind) {
    case ZT_EV_DATA: {
      auto ev = pipeline::read_record<zt_data_event>(data, size);
      if (!ev || sizeof(zt_data_event) + ev->captured > size) {
        ++stats_.malformed_records;
        return;
      }
      ++stats_.data_events;
      std::string_view payload(static_cast<const char*>(data) + sizeof(zt_data_event), ev->captured);
      tracker_->on_data(*ev, payload, ev->hdr.ts_ns);
      break;
    }
    case ZT_EV_CONN_OPEN:
      if (auto ev = pipeline::read_record<zt_conn_event>(data, size)) {
        tracker_->on_conn_open(*ev);
        if (ev->role == ZT_ROLE_CLIENT) propagator_.on_connect(ev->hdr.tid, ev->conn_id, ev->hdr.ts_ns);
      }
      break;
    case ZT_EV_CONN_CLOSE:
      if (auto ev = pipeline::read_record<zt_conn_event>(data, size)) {
        tracker_->on_conn_close(*ev, ev->hdr.ts_ns);
        propagator_.on_connection_closed(ev->conn_id);
      }
      break;
    case ZT_EV_THREAD_NEW:
      if (auto ev = pipeline::read_record<zt_proc_event>(data, size)) {
        propagator_.on_thread_created(ev->parent_tid, ev->hdr.tid, ev->hdr.pid, ev->hdr.ts_ns);
      }
      break;
    case ZT_EV_PROC_FORK:
      if (auto ev = pipeline::read_record<zt_proc_event>(data, size)) {
        spdlog::debug("pid {} forked from {}", ev->hdr.pid, ev->ppid);
        propagator_.on_thread_created(ev->parent_tid, ev->hdr.tid, ev->hdr.pid, ev->hdr.ts_ns);
        // Read the child lazily, at its first span: pre-forking servers rename their workers
        // (setproctitle) just after fork, and reading now would cache the parent's identity.
        registry_.forget(ev->hdr.pid);
        // Uprobes bound to the parent do not follow it into the child (a pre-forking server's
        // workers): the child is probed on its own.
        if (cuda_probes_ && cuda_traced(ev->hdr.pid)) cuda_probes_->request_scan(ev->hdr.pid, monotonic_now_ns());
      }
      break;
    case ZT_EV_PROC_EXEC:
      if (auto ev = pipeline::read_record<zt_proc_event>(data, size)) {
        // Selection first (node mode sees every exec on the node): only traced processes are
        // worth an identity in the registry.
        consider_process(ev->hdr.pid);
        if (cuda_probes_ && cuda_traced(ev->hdr.pid)) cuda_probes_->on_exec(ev->hdr.pid, monotonic_now_ns());
        if (loader_->is_traced(ev->hdr.pid)) {
          registry_.refresh(ev->hdr.pid);
        } else {
          registry_.forget(ev->hdr.pid);
        }
      }
      break;
    case ZT_EV_PROC_EXIT:
      if (auto ev = pipeline::read_record<zt_proc_event>(data, size)) {
        const std::uint32_t pid = ev->hdr.pid;
        spdlog::debug("pid {} exited with status {}", pid, ev->exit_code);
        tracker_->on_process_exit(pid, ev->hdr.ts_ns);
        if (cuda_probes_) {
          // Before the registry forgets the process: the flushed spans need its resource.
          cuda_spans_->on_process_exit(pid);
          cuda_probes_->forget(pid);
        }
        propagator_.on_process_exit(pid);
        registry_.forget(pid);
        listening_ports_.erase(pid);
      }
      break;
    case ZT_EV_CUDA_CALL:
    case ZT_EV_CUDA_SYMBOL:
    case ZT_EV_CUPTI_BATCH:
    case ZT_EV_EXEC_MAPPING:
      on_cuda_record(*hdr, data, size);
      break;
    default:
      ++stats_.malformed_records;
  }
}

void Agent::on_cuda_record(const zt_event_header& hdr, const void* data, std::size_t size) {
  if (!cuda_probes_) return;  // CUDA tracing off: only exec mappings arrive, and they are moot
  switch (hdr.kind) {
    case ZT_EV_EXEC_MAPPING:
      // The mmap is still in progress when the event is written: look a moment later.
      cuda_probes_->request_scan(hdr.pid, monotonic_now_ns() + 20'000'000);
      break;
    case ZT_EV_CUDA_CALL:
      if (auto ev = pipeline::read_record<zt_cuda_call_event>(data, size)) {
        if (ev->api == ZT_CUDA_LAUNCH_KERNEL_HANDLE) {
          // Name a handle launch by its host function, as cudaLaunchKernel calls are.
          if (auto host = cuda_probes_->host_function(*ev)) {
            ev->api = ZT_CUDA_LAUNCH_KERNEL;
            ev->function = *host;
          }
        }
        cuda_spans_->on_call(*ev);
      } else {
        ++stats_.malformed_records;
      }
      break;
    case ZT_EV_CUDA_SYMBOL:
      if (auto ev = pipeline::read_record<zt_cuda_symbol_event>(data, size)) {
        cuda_probes_->on_symbol(*ev);
      } else {
        ++stats_.malformed_records;
      }
      break;
    case ZT_EV_CUPTI_BATCH: {
      auto ev = pipeline::read_record<zt_cupti_batch_event>(data, size);
      if (!ev || sizeof(zt_cupti_batch_event) + ev->bytes > size) {
        ++stats_.malformed_records;
        return;
      }
      ++cupti_.batches;
      if (ev->flags & ZT_CUPTI_F_TRUNCATED) ++cupti_.truncated;
      // The batch comes from inside a traced process: untrusted bytes, validated before use.
      const auto* bytes = static_cast<const std::uint8_t*>(data) + sizeof(zt_cupti_batch_event);
      auto batch = cuda::parse_batch(bytes, ev->bytes);
      if (!batch) {
        ++cupti_.malformed;
        spdlog::debug("pid {}: CUPTI batch rejected: {}", hdr.pid, batch.error().message);
        return;
      }
      if (batch->header.flags & ZT_CUPTI_BATCH_F_COLLECTING) cuda_spans_->on_cupti_collecting(hdr.pid);
      batch->for_each([&](const zt_cupti_record_header&, std::span<const std::byte> whole) {
        ++cupti_.records;
        // The builder reads the record in place (header and body); the ring buffer keeps records
        // 8-byte aligned and parse_batch checked the bounds.
        cuda_spans_->on_cupti_record(hdr.pid, *reinterpret_cast<const zt_cupti_record_header*>(whole.data()));
      });
      break;
    }
    default:
      break;
  }
}

void Agent::start_cuda() {
  if (!loader_->cuda_enabled()) return;
  cuda_probes_ = std::make_unique<cuda::CudaProbes>(
      [this](std::uint32_t pid, const cuda::ProbeSite& site) -> Result<std::shared_ptr<void>> {
        auto link = loader_->attach_cuda_probe(pid, site.path, site.offset, site.api);
        if (!link) return link.error();
        return std::shared_ptr<void>(std::move(link.value()));
      });
  cuda::CudaSpanOptions copts;
  copts.fold_above_per_second = options_.config.cuda.fold_above_per_second;
  copts.group_idle_ns = options_.config.cuda.group_idle_ms * 1'000'000ull;
  cuda_spans_ = std::make_unique<cuda::CudaSpanBuilder>(
      copts, [this](std::uint32_t pid) { return registry_.resource_for(pid); },
      [this](std::uint32_t pid, std::uint32_t api, std::uint64_t function) {
        return cuda_probes_->kernel_name(pid, api, function);
      },
      [this](std::uint32_t pid, std::uint32_t tid, std::uint64_t ts_ns) -> std::optional<cuda::ParentContext> {
        auto active = propagator_.active_request(pid, tid, ts_ns);
        if (!active) return std::nullopt;
        return cuda::ParentContext{active->trace_id, active->span_id, active->trace_flags, active->trace_state};
      },
      &clock_, [this](trace::Span&& span) { hold_span(std::move(span)); });
}

bool Agent::targets_alive() {
  if (child_ > 0 && !child_exited_) {
    int status = 0;
    if (waitpid(child_, &status, WNOHANG) == child_) {
      child_exited_ = true;
      child_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
  }
  for (auto it = targets_.begin(); it != targets_.end();) {
    const bool alive = (static_cast<pid_t>(*it) == child_) ? !child_exited_ : discovery::process_exists(*it, "/proc");
    it = alive ? std::next(it) : targets_.erase(it);
  }
  return !targets_.empty();
}

Result<int> Agent::run() {
  if (auto r = start_exporters(); !r) return r.error();

  loader::LoaderOptions lopts;
  lopts.capture_bytes = options_.config.capture_bytes;
  lopts.trace_all = options_.mode == Mode::Run && options_.config.select.empty();
  lopts.report_all_execs = options_.mode == Mode::Run && !options_.config.select.empty();
  lopts.verbose_libbpf = options_.verbose;
  lopts.cuda = options_.config.cuda.enabled;
  auto loaded = loader::BpfLoader::load_and_attach(lopts);
  if (!loaded) return loaded.error();
  loader_ = std::move(loaded.value());

  propagator_.set_local_addresses(local_addresses());
  builder_ = std::make_unique<pipeline::SpanBuilder>(
      [this](std::uint32_t pid) { return registry_.resource_for(pid); }, &clock_, &propagator_);
  tracker_ = std::make_unique<pipeline::ConnTracker>(
      pipeline::ConnTrackerOptions{},
      [this](protocols::Record&& r, const pipeline::ConnectionInfo& c, pipeline::FlushCause cause) {
        on_span_record(std::move(r), c, cause);
      });
  // Kernel control (issue 11 item 4): unsupported connections and large bodies stop being copied.
  if (options_.config.kernel_control) {
    kernel_control_ = std::make_unique<loader::BpfKernelControl>(*loader_);
    tracker_->set_kernel_control(kernel_control_.get());
  }
  tracker_->set_request_observer([this](const pipeline::ConnectionInfo& c, const protocols::HttpMessage& request,
                                        protocols::RequestIdentity& identity) {
    context::RequestSite site;
    site.pid = c.pid;
    site.tid = request.tid;
    site.conn_id = c.conn_id;
    site.role = c.role;
    site.local = {c.local.address, c.local.port};
    site.remote = {c.remote.address, c.remote.port};
    site.ts_ns = request.start_ns;
    propagator_.on_request(site, request, identity);
  });
  auto reader = pipeline::RingReader::create(loader_->ringbuf_fd(),
                                             [this](const void* d, std::size_t n) { on_record(d, n); });
  if (!reader) return reader.error();
  reader_ = std::move(reader.value());

  start_cuda();
  if (auto r = start_targets(); !r) return r.error();

  const std::uint64_t started = monotonic_now_ns();
  const std::uint64_t deadline =
      options_.duration_s ? started + static_cast<std::uint64_t>(*options_.duration_s * 1e9) : UINT64_MAX;
  std::uint64_t next_tick = started + kTickNs;
  std::uint64_t next_liveness = started + kLivenessCheckNs;
  std::uint64_t next_rescan = started + kPortRescanNs;
  std::uint64_t next_clock_resync = started + 60'000'000'000ull;
  std::uint64_t next_registry_sweep = started + kRegistrySweepNs;
  bool targets_gone = false;

  while (!g_stop.load(std::memory_order_relaxed)) {
    if (reader_->poll(kPollTimeoutMs) < 0) {
      spdlog::error("reading the ring buffer failed: {}", std::strerror(errno));
      break;
    }
    const std::uint64_t now = monotonic_now_ns();
    if (cuda_probes_) cuda_probes_->tick(now);
    if (now >= next_tick) {
      tracker_->tick(now);
      if (cuda_spans_) cuda_spans_->tick(now);
      propagator_.expire(now);
      export_pending();
      next_tick = now + kTickNs;
    }
    if (options_.mode != Mode::Run && now >= next_liveness) {
      next_liveness = now + kLivenessCheckNs;
      if (!targets_alive()) {
        targets_gone = true;
        break;
      }
    }
    if (selector_ && selector_->needs_listening_ports() && now >= next_rescan) {
      next_rescan = now + kPortRescanNs;
      select_processes();
    }
    if (now >= next_registry_sweep) {
      registry_.forget_exited();
      next_registry_sweep = now + kRegistrySweepNs;
    }
    if (now >= next_clock_resync) {
      clock_.resync();
      next_clock_resync = now + 60'000'000'000ull;
    }
    if (now >= deadline) break;
  }
  if (targets_gone) spdlog::info("the traced processes have exited");

  // Drain what the kernel still holds, then flush every open connection as spans.
  reader_->drain();
  tracker_->shutdown(monotonic_now_ns());
  if (cuda_spans_) cuda_spans_->shutdown();
  export_pending(true);
  for (auto& e : exporters_) e->shutdown();
  print_stats();

  if (child_ > 0 && !child_exited_) {
    // Stopped by a signal or a duration while the command still runs: it was ours, stop it too.
    kill(child_, SIGTERM);
    int status = 0;
    waitpid(child_, &status, 0);
    child_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return child_ > 0 ? child_status_ : 0;
}

void Agent::print_stats() {
  const auto k = loader_->read_counters();
  const auto t = tracker_->stats();
  stats_.kernel_dropped = k[ZT_CNT_DROPPED_RINGBUF];
  stats_.kernel_truncated = k[ZT_CNT_TRUNCATED];
  stats_.kernel_other_losses = k[ZT_CNT_CONN_MAP_FULL] + k[ZT_CNT_IOV_LIMIT] + k[ZT_CNT_READ_FAILED];
  stats_.parse_errors = t.parse_errors;
  stats_.gap_bytes = t.gap_bytes;
  stats_.connections = t.connections_opened;
  stats_.unsupported_connections = t.connections_unsupported;
  spdlog::info(
      "{} events ({} data; lost in kernel: {} ring-full, {} other; {} payloads truncated to {} bytes), "
      "{} connections ({} without a supported protocol), {} spans, {} parse errors, {} bytes in gaps",
      stats_.events, stats_.data_events, stats_.kernel_dropped, stats_.kernel_other_losses,
      stats_.kernel_truncated, options_.config.capture_bytes, stats_.connections,
      stats_.unsupported_connections, stats_.spans, stats_.parse_errors, stats_.gap_bytes);
  const auto& p = propagator_.stats();
  const auto& fallback = builder_->context_stats();
  spdlog::info(
      "parents: {} from propagation headers, {} same-node peers ({} paired late), {} calls made while serving a "
      "request on the thread ({} at connect, {} inherited by a new thread or process), {} roots; {} malformed "
      "propagation headers ignored; {} table entries evicted, {} spans released before the assembly wait",
      p.from_header + fallback.extracted, p.from_peer + p.from_peer_late, p.from_peer_late,
      p.from_thread + p.from_connect + p.from_inherited, p.from_connect, p.from_inherited, p.roots,
      p.extract.malformed + fallback.malformed, p.evicted, released_early_);
  if (cuda_probes_ && (cuda_probes_->stats().carriers || cupti_.batches)) {
    const auto& c = cuda_probes_->stats();
    const auto& b = cuda_spans_->stats();
    spdlog::info(
        "cuda: {} probes in {} files of traced processes ({} failed); kernel handles named: {} by naming calls, {} "
        "from memory, {} from the stack, {} launches left unnamed; {} CUDA spans ({} launches folded into {}); "
        "CUPTI: {} batches, {} records, {} malformed",
        c.probes_attached, c.carriers, c.probes_failed, c.names_learned, c.names_from_memory, c.names_from_stack,
        c.names_unknown, b.spans, b.folded_launches, b.folded_spans, cupti_.batches, cupti_.records, cupti_.malformed);
  }
  if (stats_.malformed_records) spdlog::warn("{} malformed ring-buffer records skipped", stats_.malformed_records);
  for (const auto& e : exporters_) {
    if (const auto s = e->stats()) spdlog::info("export {}: {}", e->name(), exporters::format_stats(*s));
  }
}

}  // namespace

void request_agent_stop() { g_stop.store(true, std::memory_order_relaxed); }

Result<int> run_agent(const AgentOptions& options) {
  if (!loader::is_privileged()) {
    return make_error("zerotrace needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN): run it with sudo");
  }
  if (!loader::has_btf()) {
    return make_error("this kernel has no BTF (/sys/kernel/btf/vmlinux): zerotrace needs CONFIG_DEBUG_INFO_BTF=y");
  }
  for (auto pid : options.pids) {
    if (!discovery::process_exists(pid, "/proc")) {
      return make_error("no process with pid " + std::to_string(pid) + " (check it with: ps -p " + std::to_string(pid) + ")");
    }
  }
  Agent agent(options);
  return agent.run();
}

}  // namespace zt
