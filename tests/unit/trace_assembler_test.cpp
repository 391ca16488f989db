// TraceAssembler with an injected clock: identity at request time, SERVER spans releasing their
// thread, CUDA-style spans parented by the request being served, the assembly wait, late same-node
// pairing applied before export, batches, and the bound of the wait.
#include "pipeline/trace_assembler.h"

#include <gtest/gtest.h>

#include <vector>

namespace zt::pipeline {
namespace {

using protocols::HttpExchange;
using protocols::HttpMessage;
using protocols::Role;

ConnectionInfo connection(std::uint64_t id, Role role, std::uint16_t local_port, std::uint16_t remote_port) {
  ConnectionInfo c;
  c.conn_id = id;
  c.pid = role == Role::Server ? 100 : 200;
  c.role = role;
  c.local = {"127.0.0.1", local_port, false};
  c.remote = {"127.0.0.1", remote_port, false};
  return c;
}

HttpExchange exchange(std::uint32_t tid, std::uint64_t start_ns, std::vector<protocols::HeaderField> headers = {}) {
  HttpExchange ex;
  ex.request.is_request = true;
  ex.request.method = "GET";
  ex.request.target = "/work";
  ex.request.version = "1.1";
  ex.request.tid = tid;
  ex.request.start_ns = start_ns;
  ex.request.end_ns = start_ns + 10;
  ex.request.headers = std::move(headers);
  HttpMessage response;
  response.status_code = 200;
  response.version = "1.1";
  response.start_ns = start_ns + 100;
  response.end_ns = start_ns + 200;
  ex.response = response;
  return ex;
}

class TraceAssemblerTest : public ::testing::Test {
 protected:
  TraceAssemblerTest() : assembler_(options(), nullptr, &clock_, sink(), [this] { return now_; }) {}

  static TraceAssemblerOptions options() {
    TraceAssemblerOptions o;
    o.assembly_wait_ns = 1'000'000;
    o.export_batch = 4;
    o.max_held = 6;
    return o;
  }
  TraceAssembler::SpanSink sink() {
    return [this](std::vector<trace::Span>& batch) {
      ++batches_;
      for (auto& s : batch) exported_.push_back(std::move(s));
    };
  }
  // The parser's path: the hook when the request is complete, the record when it is answered.
  void see_request(HttpExchange& ex, const ConnectionInfo& conn) {
    assembler_.on_request(conn, protocols::request_view(ex.request), ex.identity);
  }

  std::uint64_t now_ = 1'000'000'000;
  MonotonicToRealtime clock_;
  std::vector<trace::Span> exported_;
  int batches_ = 0;
  TraceAssembler assembler_;
};

TEST_F(TraceAssemblerTest, SpansWaitTheAssemblyTimeThenLeaveWithTheirRequestIdentity) {
  const auto conn = connection(1, Role::Server, 8080, 40000);
  auto ex = exchange(10, now_);
  see_request(ex, conn);
  ASSERT_TRUE(ex.identity.assigned);
  assembler_.on_record(ex, conn, FlushCause::InStream);

  assembler_.tick();
  EXPECT_TRUE(exported_.empty()) << "still inside the assembly wait";
  EXPECT_EQ(assembler_.held(), 1u);
  now_ += 1'000'000;
  assembler_.tick();
  ASSERT_EQ(exported_.size(), 1u);
  EXPECT_EQ(exported_[0].span_id, ex.identity.span_id);
  EXPECT_EQ(exported_[0].trace_id, ex.identity.trace_id);
  EXPECT_EQ(exported_[0].kind, trace::SpanKind::Server);
}

TEST_F(TraceAssemblerTest, WorkOnTheServingThreadIsParentedUntilTheServerSpanIsBuilt) {
  const auto conn = connection(1, Role::Server, 8080, 40000);
  auto ex = exchange(10, now_);
  see_request(ex, conn);

  const auto active = assembler_.active_request(100, 10);
  ASSERT_TRUE(active);
  EXPECT_EQ(active->span_id, ex.identity.span_id);
  EXPECT_EQ(active->trace_id, ex.identity.trace_id);

  // An outgoing call made while serving joins the trace as a child.
  const auto out = connection(2, Role::Client, 51000, 9090);
  HttpExchange call = exchange(10, now_ + 20);
  call.request.tid = 10;
  assembler_.on_request(ConnectionInfo{2, 100, -1, Role::Client, out.local, {"10.1.1.1", 9090, false}},
                        protocols::request_view(call.request), call.identity);
  EXPECT_EQ(call.identity.trace_id, ex.identity.trace_id);
  EXPECT_EQ(call.identity.parent_span_id, ex.identity.span_id);

  // Once the server span is built its thread serves nothing: later calls start their own trace.
  assembler_.on_record(ex, conn, FlushCause::InStream);
  EXPECT_FALSE(assembler_.active_request(100, 10));
  HttpExchange later = exchange(10, now_ + 500);
  assembler_.on_request(ConnectionInfo{3, 100, -1, Role::Client, out.local, {"10.1.1.1", 9090, false}},
                        protocols::request_view(later.request), later.identity);
  EXPECT_NE(later.identity.trace_id, ex.identity.trace_id);
}

TEST_F(TraceAssemblerTest, ServerReadBeforeItsSameNodeClientIsCorrectedBeforeExport) {
  // The server (pid 100, port 8080) read the request before the client's write (pid 200) was seen.
  const auto server_conn = connection(1, Role::Server, 8080, 40000);
  const auto client_conn = connection(2, Role::Client, 40000, 8080);
  auto server = exchange(10, now_);
  see_request(server, server_conn);
  auto client = exchange(20, now_ + 5);
  see_request(client, client_conn);
  assembler_.on_record(server, server_conn, FlushCause::InStream);
  assembler_.on_record(client, client_conn, FlushCause::InStream);

  assembler_.flush();

  ASSERT_EQ(exported_.size(), 2u);
  const auto& s = exported_[0];
  const auto& c = exported_[1];
  EXPECT_EQ(s.trace_id, c.trace_id) << "one trace across the two processes";
  EXPECT_EQ(s.parent_span_id, c.span_id);
  StatsSnapshot stats;
  assembler_.report(stats);
  EXPECT_EQ(stats.get("propagation.from_peer_late"), 1u);
  EXPECT_EQ(stats.get("pipeline.spans"), 2u);
}

TEST_F(TraceAssemblerTest, SpansFromOtherSourcesWaitTooAndBatchesAreBounded) {
  for (int i = 0; i < 9; ++i) {
    trace::Span span;
    span.name = "cuda launch " + std::to_string(i);
    assembler_.add_span(std::move(span));
  }
  // max_held 6: three left early; export_batch 4 sends them once four are waiting.
  StatsSnapshot stats;
  assembler_.report(stats);
  EXPECT_EQ(stats.get("pipeline.spans_released_early"), 3u);
  EXPECT_EQ(exported_.size(), 0u) << "three early spans do not make a batch of four";
  assembler_.flush();
  ASSERT_EQ(exported_.size(), 9u);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(exported_[i].name, "cuda launch " + std::to_string(i)) << "order kept";
}

}  // namespace
}  // namespace zt::pipeline
