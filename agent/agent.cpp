// The agent is wiring: it builds the stages, subscribes them to the ring-buffer records they
// consume, and runs the loop that drains the ring buffer and ticks each stage. The work is done in
// the stages (docs/architecture.md):
//   discovery::TargetManager   which processes are traced, per mode
//   pipeline::EventRouter      ring records, decoded, to the stages that subscribed
//   pipeline::ConnTracker      byte streams per connection, protocol detection, parsers
//   pipeline::TraceAssembler   request identity (propagation), spans, the assembly wait, batches
//   probes::UprobeAttacher     probe families (CUDA today) attached per (file, process)
//   cuda::CudaSource           kernel names, CUPTI batches, CUDA spans
//   exporters                  where spans go
#include "agent.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "context/propagation.h"
#include "core/clock.h"
#include "core/stats.h"
#include "cuda/cuda_source.h"
#include "discovery/process_info.h"
#include "exporters/exporter.h"
#include "loader/bpf_kernel_control.h"
#include "loader/bpf_loader.h"
#include "loader/kernel_features.h"
#include "pipeline/conn_tracker.h"
#include "pipeline/event_router.h"
#include "pipeline/events.h"
#include "pipeline/ring_reader.h"
#include "pipeline/trace_assembler.h"
#include "probes/uprobe_attacher.h"
#include "protocols/kafka/kafka_catalog.h"
#include "tls/tls_binder.h"
#include "tls/tls_probes.h"
#include "zerotrace/tls_abi.h"

namespace zt {
namespace {

std::atomic<bool> g_stop{false};

constexpr int kPollTimeoutMs = 10;
constexpr std::uint64_t kTickNs = 100'000'000;              // housekeeping and export
constexpr std::uint64_t kLivenessCheckNs = 500'000'000;     // attach/exec: are the targets alive?
constexpr std::uint64_t kRegistrySweepNs = 30'000'000'000;  // drop identities of exits we missed
constexpr std::uint64_t kClockResyncNs = 60'000'000'000;

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

// The loader's traced-pids map as the targets stage sees it.
class LoaderTraceControl final : public discovery::TraceControl {
 public:
  explicit LoaderTraceControl(loader::BpfLoader& loader) : loader_(loader) {}
  Result<void> trace_pid(std::uint32_t pid, bool follow_children) override {
    return loader_.trace_pid(pid, follow_children);
  }
  void untrace_pid(std::uint32_t pid) override { loader_.untrace_pid(pid); }
  bool is_traced(std::uint32_t pid) const override { return loader_.is_traced(pid); }

 private:
  loader::BpfLoader& loader_;
};

class Agent {
 public:
  explicit Agent(const AgentOptions& options) : options_(options) {}
  Result<int> run();

 private:
  Result<void> start_exporters();
  Result<void> build_stages();
  void subscribe();
  bool loop();  // false: the targets are gone
  StatsSnapshot snapshot() const;
  void report_stats(bool final_report);
  void print_summary(const StatsSnapshot& s) const;

  AgentOptions options_;
  MonotonicToRealtime clock_;
  discovery::ProcessRegistry registry_{"/proc"};
  std::vector<std::unique_ptr<exporters::SpanExporter>> exporters_;
  std::unique_ptr<loader::BpfLoader> loader_;
  std::unique_ptr<LoaderTraceControl> trace_control_;
  std::unique_ptr<discovery::TargetManager> targets_;
  std::unique_ptr<pipeline::TraceAssembler> assembler_;
  std::unique_ptr<pipeline::ConnTracker> tracker_;
  std::unique_ptr<pipeline::KernelControl> kernel_control_;  // the tracker's line to the BPF programs
  std::unique_ptr<cuda::CudaSource> cuda_;
  std::unique_ptr<probes::UprobeAttacher> uprobes_;  // destroyed before loader_: its links go first
  std::unique_ptr<tls::TlsBinder> tls_binder_;       // plaintext of memory-BIO TLS, bound by length
  pipeline::EventRouter router_;
  std::unique_ptr<pipeline::RingReader> reader_;
  StatsSnapshot last_report_;
  bool command_prearmed_ = false;
};

namespace {

// Where the dynamic loader looks for the libraries a command loads: LD_LIBRARY_PATH, then the
// usual system directories (multiarch ones included).
std::vector<std::string> library_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("LD_LIBRARY_PATH")) {
    std::string_view rest(env);
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      if (colon != 0) dirs.emplace_back(rest.substr(0, colon));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  for (const char* d : {"/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib", "/lib/x86_64-linux-gnu",
                        "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"}) {
    dirs.emplace_back(d);
  }
  return dirs;
}

}  // namespace

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

Result<void> Agent::build_stages() {
  const auto& config = options_.config;
  loader::LoaderOptions lopts;
  lopts.capture_bytes = config.capture_bytes;
  lopts.trace_all = options_.mode == Mode::Run && config.select.empty();
  lopts.report_all_execs = options_.mode == Mode::Run && !config.select.empty();
  lopts.verbose_libbpf = options_.verbose;
  lopts.cuda = config.cuda.enabled;
  lopts.tls = config.tls.enabled;
  auto loaded = loader::BpfLoader::load_and_attach(lopts);
  if (!loaded) return loaded.error();
  loader_ = std::move(loaded.value());
  trace_control_ = std::make_unique<LoaderTraceControl>(*loader_);

  const auto resources = [this](std::uint32_t pid) { return registry_.resource_for(pid); };

  pipeline::TraceAssemblerOptions aopts;
  aopts.assembly_wait_ns = config.assembly_wait_ms * 1'000'000ull;
  assembler_ =
      std::make_unique<pipeline::TraceAssembler>(aopts, resources, &clock_, [this](std::vector<trace::Span>& batch) {
        for (auto& e : exporters_) e->export_spans(batch);
      });
  assembler_->set_local_addresses(local_addresses());

  pipeline::ConnTrackerOptions tracker_options;
  tracker_options.tls_handshake_spans = config.tls.handshake_spans;
  tracker_ = std::make_unique<pipeline::ConnTracker>(
      tracker_options, [this](protocols::Record&& r, const pipeline::ConnectionInfo& c,
                                             pipeline::FlushCause cause) { assembler_->on_record(r, c, cause); });
  // Connections given up on, and large bodies the parsers skip, stop being copied in the kernel.
  if (config.kernel_control) {
    kernel_control_ = std::make_unique<loader::BpfKernelControl>(*loader_);
    tracker_->set_kernel_control(kernel_control_.get());
  }
  tracker_->set_request_observer(
      [this](const pipeline::ConnectionInfo& c, const protocols::RequestView& request,
             protocols::RequestIdentity& identity) { assembler_->on_request(c, request, identity); });

  if (loader_->tls_enabled()) {
    tls_binder_ = std::make_unique<tls::TlsBinder>(
        tls::TlsBinderOptions{},
        [this](std::uint32_t pid, const std::function<void(const tls::TlsSocket&)>& visit) {
          tracker_->for_each_tls_socket(pid, [&](const pipeline::TlsSocketRecords& s) {
            visit(tls::TlsSocket{s.conn_id, s.fd, s.records});
          });
        },
        [this](std::uint32_t pid, std::uint64_t ssl, std::int32_t fd) { return loader_->bind_tls(pid, ssl, fd); },
        [this](std::uint64_t conn_id, const tls::UnboundCall& call, std::uint64_t lost_before) {
          tracker_->on_tls_plaintext(conn_id, call.direction, call.tid, call.start_ns, call.end_ns, call.size,
                                     call.data, lost_before, monotonic_now_ns());
        });
    tracker_->set_tls_records_hook([this](std::uint32_t pid) { tls_binder_->on_records(pid, monotonic_now_ns()); });
  }

  // One attacher for every probe family: a process's maps are read once for all of them.
  std::vector<probes::UprobeFamily> families;
  if (loader_->cuda_enabled()) families.push_back(cuda::probe_family());
  if (loader_->tls_enabled()) families.push_back(tls::probe_family(config.tls.internal_sites));
  if (!families.empty()) {
    probes::UprobeAttacherOptions popts;
    popts.uprobe_multi = loader_->uprobe_multi();
    popts.self_pid = static_cast<std::uint32_t>(getpid());
    popts.wait_for_sockets = options_.mode == Mode::Run;
    // Kernel names are resolved after the launching process may have exited: learn its files now.
    popts.on_maps = [this](std::uint32_t pid, const std::vector<symbols::Mapping>& maps) {
      if (cuda_) cuda_->on_maps(pid, maps);
    };
    uprobes_ = std::make_unique<probes::UprobeAttacher>(
        std::move(families), [this](const probes::UprobeRequest& request) { return loader_->attach_uprobe(request); },
        popts);
  }
  if (loader_->cuda_enabled()) {
    cuda::CudaSourceOptions copts;
    copts.spans.fold_above_per_second = config.cuda.fold_above_per_second;
    copts.spans.group_idle_ns = config.cuda.group_idle_ms * 1'000'000ull;
    copts.cupti = config.cuda.cupti;
    cuda_ = std::make_unique<cuda::CudaSource>(
        copts, uprobes_->symbol_cache(), resources,
        [this](std::uint32_t pid, std::uint32_t tid, std::uint64_t ts_ns) {
          return assembler_->active_request(pid, tid, ts_ns);
        },
        &clock_, [this](trace::Span&& span) { assembler_->add_span(std::move(span)); });
  }

  discovery::TargetOptions topts;
  topts.mode = options_.mode;
  topts.pids = options_.pids;
  topts.follow_children = options_.follow_children;
  topts.command = options_.command;
  if (cuda_ && options_.mode == Mode::Exec) topts.child_environment = cuda_->child_environment();
  topts.select = config.select;
  topts.self_pid = static_cast<std::uint32_t>(getpid());
  targets_ = std::make_unique<discovery::TargetManager>(
      std::move(topts), *trace_control_, [this](std::uint32_t pid, bool traced) {
        if (traced) {
          // Read the identity while the process surely exists (not for every process on the node).
          if (!targets_ || !targets_->trace_all()) registry_.resource_for(pid);
          // attach: probed before "tracing pid" is logged, so that work done from then on is seen.
          if (uprobes_ && options_.mode == Mode::Attach) {
            uprobes_->scan(pid);
          } else if (uprobes_ && options_.mode == Mode::Exec && !command_prearmed_) {
            // The command has not exec'd yet: probe the files it will map now, or its first
            // calls (a client's first TLS request) would run before the scan after its exec.
            command_prearmed_ = true;
            uprobes_->prearm(pid, uprobes_->prearm_candidates(options_.command.front(), library_dirs()));
            uprobes_->on_traced(pid, monotonic_now_ns());
          } else if (uprobes_) {
            uprobes_->on_traced(pid, monotonic_now_ns());
          }
        } else if (uprobes_) {
          uprobes_->on_exit(pid);
        }
      });

  auto reader = pipeline::RingReader::create(loader_->ringbuf_fd(),
                                             [this](const void* d, std::size_t n) { router_.route(d, n); });
  if (!reader) return reader.error();
  reader_ = std::move(reader.value());
  return {};
}

// Who hears which record, in order. Order matters at a process exit: spans are flushed while the
// process's resource is still known, and forgotten last.
void Agent::subscribe() {
  router_.on_data(
      [this](const zt_data_event& ev, std::string_view payload) { tracker_->on_data(ev, payload, ev.hdr.ts_ns); });
  router_.on<zt_conn_event>(ZT_EV_CONN_OPEN, [this](const zt_conn_event& ev) {
    tracker_->on_conn_open(ev);
    if (uprobes_) uprobes_->on_socket_activity(ev.hdr.pid);
    if (ev.role == ZT_ROLE_CLIENT) assembler_->on_connect(ev.hdr.tid, ev.conn_id, ev.hdr.ts_ns);
  });
  router_.on<zt_conn_event>(ZT_EV_CONN_CLOSE, [this](const zt_conn_event& ev) {
    tracker_->on_conn_close(ev);
    assembler_->on_connection_closed(ev.conn_id);
  });
  router_.on<zt_proc_event>(ZT_EV_THREAD_NEW, [this](const zt_proc_event& ev) {
    assembler_->on_thread_created(ev.parent_tid, ev.hdr.tid, ev.hdr.pid, ev.hdr.ts_ns);
  });
  router_.on<zt_proc_event>(ZT_EV_PROC_FORK, [this](const zt_proc_event& ev) {
    spdlog::debug("pid {} forked from {}", ev.hdr.pid, ev.ppid);
    assembler_->on_thread_created(ev.parent_tid, ev.hdr.tid, ev.hdr.pid, ev.hdr.ts_ns);
    // Read the child lazily, at its first span: pre-forking servers rename their workers
    // (setproctitle) just after fork, and reading now would cache the parent's identity.
    registry_.forget(ev.hdr.pid);
    // Uprobes bound to the parent do not follow it into the child (a pre-forking server's
    // workers): the child is probed on its own.
    if (uprobes_ && targets_->traced(ev.hdr.pid)) uprobes_->on_fork(ev.hdr.pid, monotonic_now_ns());
  });
  router_.on<zt_proc_event>(ZT_EV_PROC_EXEC, [this](const zt_proc_event& ev) {
    // Selection first (node mode sees every exec on the node): only traced processes are worth an
    // identity in the registry.
    targets_->on_exec(ev.hdr.pid);
    const bool traced = targets_->traced(ev.hdr.pid);
    if (uprobes_ && traced) uprobes_->on_exec(ev.hdr.pid, monotonic_now_ns());
    if (cuda_) cuda_->on_exec(ev.hdr.pid);
    if (traced) {
      registry_.refresh(ev.hdr.pid);
    } else {
      registry_.forget(ev.hdr.pid);
    }
  });
  router_.on<zt_proc_event>(ZT_EV_PROC_EXIT, [this](const zt_proc_event& ev) {
    const std::uint32_t pid = ev.hdr.pid;
    spdlog::debug("pid {} exited with status {}", pid, ev.exit_code);
    tracker_->on_process_exit(pid, ev.hdr.ts_ns);
    if (tls_binder_) tls_binder_->on_process_exit(pid);
    if (uprobes_) uprobes_->on_exit(pid);
    if (cuda_) cuda_->on_exit(pid);
    assembler_->on_process_exit(pid);
    targets_->on_exit(pid);
    registry_.forget(pid);
  });
  if (tls_binder_) {
    router_.on_raw(ZT_EV_TLS_UNBOUND, [this](const void* data, std::size_t size) {
      zt_tls_unbound_event ev;
      if (size < sizeof ev) return router_.count_malformed();
      std::memcpy(&ev, data, sizeof ev);
      if (ev.captured > size - sizeof ev || ev.captured > ev.orig_size || ev.direction > ZT_DIR_INGRESS) {
        return router_.count_malformed();
      }
      tls::UnboundCall call;
      call.pid = ev.hdr.pid;
      call.tid = ev.hdr.tid;
      call.ssl = ev.ssl;
      call.direction = static_cast<protocols::Direction>(ev.direction);
      call.start_ns = ev.start_ns;
      call.end_ns = ev.hdr.ts_ns;
      call.size = ev.orig_size;
      call.data.assign(static_cast<const char*>(data) + sizeof ev, ev.captured);
      tls_binder_->on_unbound(std::move(call), monotonic_now_ns());
    });
  }
  if (uprobes_) {
    router_.on<zt_event_header>(ZT_EV_EXEC_MAPPING, [this](const zt_event_header& hdr) {
      uprobes_->on_exec_mapping(hdr.pid, monotonic_now_ns());
    });
  }
  if (cuda_) {
    router_.on<zt_cuda_call_event>(ZT_EV_CUDA_CALL, [this](const zt_cuda_call_event& ev) { cuda_->on_call(ev); });
    router_.on<zt_cuda_symbol_event>(ZT_EV_CUDA_SYMBOL,
                                     [this](const zt_cuda_symbol_event& ev) { cuda_->on_symbol(ev); });
    router_.on_raw(ZT_EV_CUPTI_BATCH, [this](const void* data, std::size_t size) {
      if (!cuda_->on_cupti_batch(data, size)) router_.count_malformed();
    });
  }
}

bool Agent::loop() {
  const std::uint64_t started = monotonic_now_ns();
  const std::uint64_t deadline =
      options_.duration_s ? started + static_cast<std::uint64_t>(*options_.duration_s * 1e9) : UINT64_MAX;
  const std::uint64_t stats_every =
      options_.stats_interval_s > 0 ? static_cast<std::uint64_t>(options_.stats_interval_s * 1e9) : UINT64_MAX;
  std::uint64_t next_tick = started + kTickNs;
  std::uint64_t next_liveness = started + kLivenessCheckNs;
  std::uint64_t next_clock_resync = started + kClockResyncNs;
  std::uint64_t next_registry_sweep = started + kRegistrySweepNs;
  std::uint64_t next_stats = stats_every == UINT64_MAX ? UINT64_MAX : started + stats_every;

  while (!g_stop.load(std::memory_order_relaxed)) {
    if (reader_->poll(kPollTimeoutMs) < 0) {
      spdlog::error("reading the ring buffer failed: {}", std::strerror(errno));
      return true;
    }
    const std::uint64_t now = monotonic_now_ns();
    if (uprobes_) uprobes_->tick(now);
    if (cuda_) cuda_->tick(now);
    if (now >= next_tick) {
      if (tls_binder_) tls_binder_->tick(now);
      tracker_->tick(now);
      assembler_->tick();
      targets_->tick(now);
      next_tick = now + kTickNs;
    }
    if (options_.mode != Mode::Run && now >= next_liveness) {
      next_liveness = now + kLivenessCheckNs;
      if (!targets_->targets_alive()) return false;
    }
    if (now >= next_registry_sweep) {
      registry_.forget_exited();
      next_registry_sweep = now + kRegistrySweepNs;
    }
    if (now >= next_clock_resync) {
      clock_.resync();
      next_clock_resync = now + kClockResyncNs;
    }
    if (now >= next_stats) {
      report_stats(false);
      next_stats = now + stats_every;
    }
    if (now >= deadline) return true;
  }
  return true;
}

Result<int> Agent::run() {
  if (auto r = start_exporters(); !r) return r.error();
  if (auto r = build_stages(); !r) return r.error();
  subscribe();
  if (auto r = targets_->start(); !r) return r.error();

  if (!loop()) spdlog::info("the traced processes have exited");

  // Drain what the kernel still holds, then flush every open connection as spans.
  reader_->drain();
  tracker_->shutdown(monotonic_now_ns());
  if (cuda_) cuda_->shutdown();
  assembler_->flush();
  for (auto& e : exporters_) e->shutdown();
  report_stats(true);
  return targets_->finish();
}

StatsSnapshot Agent::snapshot() const {
  StatsSnapshot s;
  const auto k = loader_->read_counters();
  s.set("kernel.events", k[ZT_CNT_EVENTS]);
  s.set("kernel.ringbuf_dropped", k[ZT_CNT_DROPPED_RINGBUF]);
  s.set("kernel.truncated", k[ZT_CNT_TRUNCATED]);
  s.set("kernel.conn_map_full", k[ZT_CNT_CONN_MAP_FULL]);
  s.set("kernel.iov_limit", k[ZT_CNT_IOV_LIMIT]);
  s.set("kernel.read_failed", k[ZT_CNT_READ_FAILED]);
  s.set("kernel.args_recovered", k[ZT_CNT_ARGS_RECOVERED]);
  s.set("kernel.payload_skipped", k[ZT_CNT_PAYLOAD_SKIPPED]);
  s.set("kernel.conn_disabled", k[ZT_CNT_CONN_DISABLED]);
  s.set("kernel.tls_bound_syscall", k[ZT_CNT_TLS_BOUND_SYSCALL]);
  s.set("kernel.tls_bound_cache", k[ZT_CNT_TLS_BOUND_CACHE]);
  s.set("kernel.tls_unbound", k[ZT_CNT_TLS_UNBOUND]);
  s.set("kernel.tls_no_conn", k[ZT_CNT_TLS_NO_CONN]);
  s.set("kernel.tls_mismatch", k[ZT_CNT_TLS_MISMATCH]);
  s.set("kernel.tls_nested", k[ZT_CNT_TLS_NESTED]);
  router_.report(s);
  const auto t = tracker_->stats();
  s.set("pipeline.connections", t.connections_opened);
  s.set("pipeline.connections_live", tracker_->live_connections());
  s.set("pipeline.connections_unsupported", t.connections_unsupported);
  s.set("pipeline.connections_evicted", t.connections_evicted);
  s.set("pipeline.parse_errors", t.parse_errors);
  s.set("pipeline.gaps", t.gaps);
  s.set("pipeline.gap_bytes", t.gap_bytes);
  s.set("tls.connections", t.tls_connections);
  s.set("tls.plaintext_streams", t.tls_plaintext_streams);
  s.set("tls.without_plaintext", t.tls_without_plaintext);
  s.set("tls.plaintext_orphaned", t.tls_plaintext_orphaned);
  s.set("tls.handshake_spans", t.tls_handshake_records);
  if (tls_binder_) tls_binder_->report(s);
  if (loader_->tls_enabled()) {
    const auto sites = tls::site_counts();
    s.set("tls.sites_internal", sites.internal);
    s.set("tls.sites_exported", sites.exported);
    s.set("tls.sites_emulated", sites.emulated);
    s.set("tls.sites_single_stepped", sites.single_stepped);
    s.set("tls.sites_go", sites.go);
  }
  assembler_->report(s);
  const auto kafka = protocols::kafka::Catalog::instance().stats();
  s.set("kafka.requests", kafka.requests);
  s.set("kafka.responses", kafka.responses);
  s.set("kafka.produces_without_ack", kafka.produces_without_ack);
  s.set("kafka.fetches_empty", kafka.fetches_empty);
  s.set("kafka.metadata_responses", kafka.metadata_responses);
  s.set("kafka.other_requests", kafka.other_requests);
  s.set("kafka.malformed_bodies", kafka.malformed_bodies);
  s.set("kafka.truncated_bodies", kafka.truncated_bodies);
  s.set("kafka.decompress_failures", kafka.decompress_failures);
  s.set("kafka.links_from_headers", kafka.links_from_headers);
  s.set("kafka.links_from_sends", kafka.links_from_sends);
  s.set("kafka.topic_ids_learned", kafka.topic_ids_learned);
  s.set("kafka.topic_ids_unresolved", kafka.topic_ids_unresolved);
  s.set("kafka.sends_remembered", kafka.sends_remembered);
  s.set("kafka.sends_matched", kafka.sends_matched);
  s.set("kafka.sends_matched_pending", kafka.sends_matched_pending);
  s.set("kafka.catalog_evicted", kafka.evicted);
  const auto& ts = targets_->stats();
  s.set("targets.traced", ts.traced);
  s.set("targets.untraced", ts.untraced);
  s.set("targets.trace_failures", ts.trace_failures);
  if (uprobes_) {
    const auto& u = uprobes_->stats();
    s.set("probes.scans", u.scans);
    s.set("probes.files_examined", u.files_examined);
    s.set("probes.files_unreadable", u.files_unreadable);
    s.set("probes.multi_fallbacks", u.multi_fallbacks);
    s.set("probes.deferred", u.deferred);
    s.set("probes.socket_rechecks", u.socket_rechecks);
    for (const auto& family : uprobes_->families()) {
      const auto& f = uprobes_->family_stats(family.name);
      const std::string p = "probes." + family.name + ".";
      s.set(p + "files_probed", f.files_probed);
      s.set(p + "files_incomplete", f.files_incomplete);
      s.set(p + "functions_attached", f.functions_attached);
      s.set(p + "functions_failed", f.functions_failed);
      s.set(p + "links", f.links);
    }
  }
  if (cuda_) cuda_->report(s);
  for (const auto& e : exporters_) {
    const auto es = e->stats();
    if (!es) continue;
    const std::string p = "export." + std::string(e->name()) + ".";
    s.set(p + "spans_exported", es->spans_exported);
    s.set(p + "spans_rejected", es->spans_rejected);
    s.set(p + "spans_failed", es->spans_failed);
    s.set(p + "spans_dropped", es->spans_dropped);
    s.set(p + "batches_exported", es->batches_exported);
    s.set(p + "retries", es->retries);
    s.set(p + "queue_length", es->queue_length);
  }
  return s;
}

void Agent::report_stats(bool final_report) {
  const StatsSnapshot now = snapshot();
  if (final_report) {
    print_summary(now);
  } else {
    const std::string changes = now.format_changes(last_report_);
    spdlog::info("stats: {}", changes.empty() ? "no change" : changes);
  }
  last_report_ = now;
  if (!options_.stats_file.empty()) {
    if (auto r = now.write_json_file(options_.stats_file); !r) spdlog::warn("{}", r.error().message);
  }
}

// The lines printed on exit, for people (docs/cli.md); --stats-file has every counter for machines.
void Agent::print_summary(const StatsSnapshot& s) const {
  spdlog::info(
      "{} events ({} data; lost in kernel: {} ring-full, {} other; {} payloads truncated to {} bytes), "
      "{} connections ({} without a supported protocol), {} spans, {} parse errors, {} bytes in gaps",
      s.get("pipeline.records"), s.get("pipeline.data_records"), s.get("kernel.ringbuf_dropped"),
      s.get("kernel.conn_map_full") + s.get("kernel.iov_limit") + s.get("kernel.read_failed"),
      s.get("kernel.truncated"), options_.config.capture_bytes, s.get("pipeline.connections"),
      s.get("pipeline.connections_unsupported"), s.get("pipeline.spans"), s.get("pipeline.parse_errors"),
      s.get("pipeline.gap_bytes"));
  spdlog::info(
      "parents: {} from propagation headers, {} same-node peers ({} paired late), {} calls made while serving a "
      "request on the thread ({} at connect, {} inherited by a new thread or process), {} made after a fetch on its "
      "thread, {} roots; {} malformed propagation headers ignored; {} table entries evicted, {} spans released "
      "before the assembly wait",
      s.get("propagation.from_header"), s.get("propagation.from_peer"), s.get("propagation.from_peer_late"),
      s.get("propagation.from_thread") + s.get("propagation.from_connect") + s.get("propagation.from_inherited"),
      s.get("propagation.from_connect"), s.get("propagation.from_inherited"), s.get("propagation.from_scope"),
      s.get("propagation.roots"), s.get("propagation.malformed_headers"), s.get("propagation.evicted"),
      s.get("pipeline.spans_released_early"));
  if (s.get("kafka.requests")) {
    spdlog::info(
        "kafka: {} requests, {} responses ({} produces with acks=0); no span for {} empty fetches, {} metadata "
        "responses, {} other requests; links: {} from record headers, {} to sends on this node; {} topic ids "
        "learned, {} lookups unresolved; {} malformed and {} truncated bodies, {} batches not decompressed",
        s.get("kafka.requests"), s.get("kafka.responses"), s.get("kafka.produces_without_ack"),
        s.get("kafka.fetches_empty"), s.get("kafka.metadata_responses"), s.get("kafka.other_requests"),
        s.get("kafka.links_from_headers"), s.get("kafka.links_from_sends"), s.get("kafka.topic_ids_learned"),
        s.get("kafka.topic_ids_unresolved"), s.get("kafka.malformed_bodies"), s.get("kafka.truncated_bodies"),
        s.get("kafka.decompress_failures"));
  }
  if (cuda_ && (s.get("probes.cuda.files_probed") || s.get("cuda.cupti_batches"))) {
    spdlog::info(
        "cuda: {} probes in {} files of traced processes ({} failed); kernel handles named: {} by naming calls, {} "
        "from memory, {} from the stack, {} launches left unnamed; {} CUDA spans ({} launches folded into {}); "
        "CUPTI: {} batches, {} records, {} malformed",
        s.get("probes.cuda.functions_attached"), s.get("probes.cuda.files_probed"),
        s.get("probes.cuda.functions_failed"), s.get("cuda.names_learned"), s.get("cuda.names_from_memory"),
        s.get("cuda.names_from_stack"), s.get("cuda.names_unknown"), s.get("cuda.spans"), s.get("cuda.folded_launches"),
        s.get("cuda.folded_spans"), s.get("cuda.cupti_batches"), s.get("cuda.cupti_records"),
        s.get("cuda.cupti_malformed"));
  }
  if (const auto bad = s.get("pipeline.malformed_records"))
    spdlog::warn("{} malformed ring-buffer records skipped", bad);
  if (const auto failed = s.get("targets.trace_failures")) {
    spdlog::warn("{} processes could not be traced (the kernel's traced set is full)", failed);
  }
  for (const auto& e : exporters_) {
    if (const auto es = e->stats()) spdlog::info("export {}: {}", e->name(), exporters::format_stats(*es));
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
      return make_error("no process with pid " + std::to_string(pid) + " (check it with: ps -p " + std::to_string(pid) +
                        ")");
    }
  }
  Agent agent(options);
  return agent.run();
}

}  // namespace zt
