// The agent's userspace cost per traced HTTP/1 request, without the kernel: ring records as nginx
// and wrk produce them (a request read, a header block written, a sendfile of the body) go through
// the agent's own wiring (EventRouter -> ConnTracker -> HTTP/1 parser -> TraceAssembler with
// propagation -> JsonlExporter writing to /dev/null). Deterministic, so that a change to the hot
// path can be measured on a shared machine, and profiled (perf, callgrind) without root.
//   cmake --build build --target zt_pipeline_bench && ./build/bench/zt_pipeline_bench
#include <arpa/inet.h>
#include <sys/socket.h>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "exporters/jsonl_exporter.h"
#include "pipeline/conn_tracker.h"
#include "pipeline/event_router.h"
#include "pipeline/trace_assembler.h"

namespace {

using namespace zt;

constexpr std::uint32_t kServerPid = 4242;
constexpr std::size_t kConnections = 16;     // wrk -c16
constexpr std::uint64_t kRequestNs = 30'000;  // ~33k requests/s
constexpr std::uint64_t kTickNs = 10'000'000;  // the agent's drain and housekeeping interval

const std::string kRequest = "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:41234\r\n\r\n";
const std::string kResponseHeaders =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 16:00:00 GMT\r\n"
    "Content-Type: text/html\r\nContent-Length: 29\r\nLast-Modified: Wed, 02 Dec 2026 15:59:00 GMT\r\n"
    "Connection: keep-alive\r\nETag: \"692f0b0c-1d\"\r\nAccept-Ranges: bytes\r\n\r\n";
constexpr std::uint64_t kBodyBytes = 29;  // sent with sendfile: counted, never captured

std::shared_ptr<const trace::Resource> nginx_resource() {
  auto r = std::make_shared<trace::Resource>();
  r->pid = kServerPid;
  r->service_name = "nginx";
  r->attributes = {{"service.name", std::string("nginx")},
                   {"service.instance.id", std::string("6f1c7e0a-2b4d-5e8f-9a1b-3c5d7e9f1a2b")},
                   {"process.pid", std::int64_t{kServerPid}},
                   {"process.executable.name", std::string("nginx")},
                   {"process.command_line", std::string("nginx: worker process")},
                   {"host.name", std::string("node-1")},
                   {"os.type", std::string("linux")},
                   {"telemetry.sdk.name", std::string("zerotrace")}};
  return r;
}

zt_tuple loopback(std::uint16_t local_port, std::uint16_t remote_port) {
  zt_tuple t{};
  t.family = AF_INET;
  const std::uint32_t lo = htonl(INADDR_LOOPBACK);
  std::memcpy(t.saddr, &lo, 4);
  std::memcpy(t.daddr, &lo, 4);
  t.sport = local_port;
  t.dport = remote_port;
  return t;
}

// The agent's stages, wired as in agent.cpp (Agent::build_stages and Agent::subscribe).
class Pipeline {
 public:
  Pipeline()
      : exporter_(std::fopen("/dev/null", "w"), true),
        resource_(nginx_resource()),
        assembler_(pipeline::TraceAssemblerOptions{}, [this](std::uint32_t) { return resource_; }, &clock_,
                   [this](std::vector<trace::Span>& batch) { exporter_.export_spans(batch); },
                   [this] { return now_; }),
        tracker_(pipeline::ConnTrackerOptions{},
                 [this](protocols::Record&& r, const pipeline::ConnectionInfo& c, pipeline::FlushCause cause) {
                   assembler_.on_record(r, c, cause);
                 }) {
    tracker_.set_request_observer([this](const pipeline::ConnectionInfo& c, const protocols::RequestView& request,
                                         protocols::RequestIdentity& identity) {
      assembler_.on_request(c, request, identity);
    });
    router_.on_data([this](const zt_data_event& ev, std::string_view payload) {
      tracker_.on_data(ev, payload, ev.hdr.ts_ns);
    });
    for (std::size_t c = 0; c < kConnections; ++c) {
      zt_conn_event ev{};
      ev.hdr.kind = ZT_EV_CONN_OPEN;
      ev.hdr.pid = kServerPid;
      ev.hdr.tid = kServerPid;
      ev.hdr.ts_ns = now_;
      ev.conn_id = c + 1;
      ev.role = ZT_ROLE_SERVER;
      ev.fd = static_cast<std::int32_t>(10 + c);
      ev.tuple = loopback(8080, static_cast<std::uint16_t>(50000 + c));
      tracker_.on_conn_open(ev);
    }
  }

  // One request on connection `c`: the three records nginx's syscalls produce.
  void request(std::size_t c) {
    now_ += kRequestNs;
    auto& pos = positions_[c];
    data(c, ZT_DIR_INGRESS, ZT_SYS_RECVFROM, kRequest, kRequest.size(), pos[1]);
    data(c, ZT_DIR_EGRESS, ZT_SYS_WRITEV, kResponseHeaders, kResponseHeaders.size(), pos[0]);
    data(c, ZT_DIR_EGRESS, ZT_SYS_SENDFILE, {}, kBodyBytes, pos[0]);
    if (now_ >= next_tick_) {
      next_tick_ = now_ + kTickNs;
      tracker_.tick(now_);
      assembler_.tick();
    }
  }

  void finish() {
    tracker_.shutdown(now_);
    assembler_.flush();
  }
  std::uint64_t spans_written() const { return exporter_.spans_written(); }

 private:
  void data(std::size_t c, std::uint8_t dir, std::uint8_t syscall, std::string_view payload, std::uint64_t size,
            std::uint64_t& position) {
    zt_data_event ev{};
    ev.hdr.kind = ZT_EV_DATA;
    ev.hdr.pid = kServerPid;
    ev.hdr.tid = kServerPid;
    ev.hdr.ts_ns = now_;
    ev.start_ns = now_ - 2'000;
    ev.conn_id = c + 1;
    ev.position = position;
    ev.orig_size = size;
    ev.captured = static_cast<std::uint32_t>(payload.size());
    ev.fd = static_cast<std::int32_t>(10 + c);
    ev.direction = dir;
    ev.role = ZT_ROLE_SERVER;
    ev.syscall = syscall;
    ev.tuple = loopback(8080, static_cast<std::uint16_t>(50000 + c));
    position += size;
    record_.resize(sizeof ev + payload.size());
    std::memcpy(record_.data(), &ev, sizeof ev);
    std::memcpy(record_.data() + sizeof ev, payload.data(), payload.size());
    router_.route(record_.data(), record_.size());
  }

  MonotonicToRealtime clock_;
  std::uint64_t now_ = 1'000'000'000;
  std::uint64_t next_tick_ = 0;
  exporters::JsonlExporter exporter_;
  std::shared_ptr<const trace::Resource> resource_;
  pipeline::TraceAssembler assembler_;
  pipeline::ConnTracker tracker_;
  pipeline::EventRouter router_;
  std::array<std::array<std::uint64_t, 2>, kConnections> positions_{};
  std::vector<char> record_;
};

void NginxRequest(benchmark::State& state) {
  Pipeline pipeline;
  std::size_t c = 0;
  for (auto _ : state) {
    pipeline.request(c);
    c = (c + 1) % kConnections;
  }
  pipeline.finish();
  state.SetItemsProcessed(state.iterations());
  state.counters["spans"] = static_cast<double>(pipeline.spans_written());
}
BENCHMARK(NginxRequest)->MinTime(2.0);
// A fixed count, for instruction and allocation counts under callgrind:
//   valgrind --tool=callgrind build/bench/zt_pipeline_bench --benchmark_filter=NginxRequest/iterations
BENCHMARK(NginxRequest)->Iterations(20000);

}  // namespace

BENCHMARK_MAIN();
