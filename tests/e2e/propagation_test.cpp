// Context propagation across real services (docs/context-propagation.md): the agent traces every
// process of a chain and links their spans into one trace with no help from the programs, which
// forward no headers (tests/workloads/chain_service.py, chain_service.js, pool_service.py).
//
//   in-process      a CLIENT request made while a thread serves a request is that SERVER span's child
//   same-node       a SERVER span's parent is the traced CLIENT span at the other end of the connection
//   header wins     a request that carries a trace context (an OpenTelemetry SDK's) keeps it
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <regex>
#include <sstream>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

// The chain tests need more than the default: a few hundred spans pass through three processes.
constexpr Millis kChainSpanTimeout{8000};

std::vector<std::string> python_chain(const std::string& name) {
  return {python3(), workload("chain_service.py"), "--name", name};
}
std::vector<std::string> node_chain(const std::string& name) {
  return {"node", workload("chain_service.js"), "--name", name};
}
std::vector<std::string> with_next(std::vector<std::string> argv, const ReadyServer& next) {
  argv.insert(argv.end(), {"--next", next.url("")});
  return argv;
}

pid_t pid_of(const Json& span) {
  const Json pid = res(span, "process.pid");
  return pid.is_number_integer() ? pid.get<pid_t>() : -1;
}

std::string dump(const std::vector<Json>& spans) {
  std::string out;
  for (const auto& s : sorted_by_start(spans)) {
    out += "\n  " + s.value("kind", "?") + " pid " + std::to_string(pid_of(s)) + " " + s.value("name", "?") + " " +
           Json(attr(s, "url.path")).dump() + " trace " + s.value("trace_id", "?") + " span " +
           s.value("span_id", "?") + " parent " + Json(s.value("parent_span_id", Json())).dump();
  }
  return out;
}

std::map<std::string, std::vector<Json>> by_trace(const std::vector<Json>& spans) {
  std::map<std::string, std::vector<Json>> traces;
  for (const auto& s : spans) traces[s.value("trace_id", "")].push_back(s);
  return traces;
}

struct Hop {
  std::string kind;  // SERVER or CLIENT
  pid_t pid;
};

// `trace` holds exactly one span per hop and nothing else, each the child of the one before it;
// the first one's parent is `root_parent` ("" for a root).
::testing::AssertionResult is_chain(const std::vector<Json>& trace, const std::vector<Hop>& hops,
                                    const std::string& root_parent = "") {
  auto failure = [&](const std::string& what) {
    return ::testing::AssertionFailure() << what << "; the trace:" << dump(trace);
  };
  if (trace.size() != hops.size()) {
    return failure(std::to_string(trace.size()) + " spans where " + std::to_string(hops.size()) + " were expected");
  }
  std::string parent = root_parent;
  for (std::size_t i = 0; i < hops.size(); ++i) {
    std::vector<const Json*> children;
    for (const auto& s : trace) {
      if (s.value("parent_span_id", "") == parent) children.push_back(&s);
    }
    const std::string where = "hop " + std::to_string(i) + " (" + hops[i].kind + " in pid " +
                              std::to_string(hops[i].pid) + "), parent " + Json(parent).dump();
    if (children.size() != 1) {
      return failure(where + ": " + std::to_string(children.size()) + " spans have that parent");
    }
    const Json& s = *children.front();
    if (s.value("kind", "") != hops[i].kind || pid_of(s) != hops[i].pid) {
      return failure(where + ": found " + s.value("kind", "?") + " in pid " + std::to_string(pid_of(s)));
    }
    parent = s.value("span_id", "");
  }
  return ::testing::AssertionSuccess();
}

// Every trace of `spans` is_chain(hops); failures reported for the first few traces only.
void expect_every_trace_is_chain(const std::vector<Json>& spans, const std::vector<Hop>& hops) {
  std::size_t bad = 0;
  for (const auto& [trace_id, trace] : by_trace(spans)) {
    const auto chained = is_chain(trace, hops);
    if (!chained && ++bad <= 5) ADD_FAILURE() << "trace " << trace_id << ": " << chained.message();
  }
  EXPECT_EQ(bad, 0u) << "traces not shaped as expected (first 5 shown)";
}

// How each span got its parent, from the agent's stats file (docs/cli.md: propagation.*).
struct ParentCounts {
  int headers = -1;        // from propagation headers
  int peers = -1;          // same-node pairing (late ones included)
  int while_serving = -1;  // CLIENT spans parented by the request their thread served...
  int at_connect = -1;     // ... of which by the request served at connect()
  int inherited = -1;      // ... of which by the creator of their thread or process
  int roots = -1;
  int evicted = -1;
  int released_early = -1;
};

ParentCounts parent_counts(const Agent& agent) {
  const auto stats = agent.stats();
  if (!stats) {
    ADD_FAILURE() << "no stats file from the agent:\n" << agent.log();
    return {};
  }
  const auto get = [&](std::string_view name) { return static_cast<int>(stats->get(name)); };
  return {get("propagation.from_header"),
          get("propagation.from_peer"),
          get("propagation.from_thread") + get("propagation.from_connect") + get("propagation.from_inherited"),
          get("propagation.from_connect"),
          get("propagation.from_inherited"),
          get("propagation.roots"),
          get("propagation.evicted"),
          get("pipeline.spans_released_early")};
}

// Every span id is unique and every span well-formed enough to be linked.
void expect_distinct_ids(const std::vector<Json>& spans) {
  std::set<std::string> ids;
  for (const auto& s : spans) {
    EXPECT_TRUE(ids.insert(s.value("span_id", "")).second) << "duplicate span id: " << s.dump();
    EXPECT_EQ(s.value("trace_id", "").size(), 32u) << s.dump();
    EXPECT_NE(s.value("parent_span_id", ""), s.value("span_id", "")) << "its own parent: " << s.dump();
  }
}

// python svc1 -> node svc2 -> python svc3, each calling the next over keep-alive connections.
class Chain {
 public:
  Chain()
      : svc3_(python_chain("svc3")),
        svc2_(with_next(node_chain("svc2"), svc3_)),
        svc1_(with_next(python_chain("svc1"), svc2_)) {}

  std::vector<pid_t> pids() const { return {svc1_.pid(), svc2_.pid(), svc3_.pid()}; }
  std::string url() const { return svc1_.url("/work"); }
  // The shape of every request's trace.
  std::vector<Hop> hops() const {
    return {{"SERVER", svc1_.pid()}, {"CLIENT", svc1_.pid()}, {"SERVER", svc2_.pid()},
            {"CLIENT", svc2_.pid()}, {"SERVER", svc3_.pid()}};
  }
  pid_t svc2() const { return svc2_.pid(); }

  static constexpr const char* kBody = "svc1 > svc2 > svc3";

 private:
  ReadyServer svc3_;
  ReadyServer svc2_;
  ReadyServer svc1_;
};

// curl GETs `url` `times` times over one keep-alive connection, printing each body on a line.
std::vector<std::string> curl_args(const std::string& url, int times, const std::vector<std::string>& headers = {}) {
  std::vector<std::string> argv{"curl", "-sS", "--fail", "-w", "\\n"};
  for (const auto& h : headers) argv.insert(argv.end(), {"-H", h});
  for (int i = 0; i < times; ++i) argv.push_back(url);
  return argv;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(Propagation, ChainOfThreeServicesIsOneTracePerRequest) {
  ZT_REQUIRE_ROOT();
  Chain chain;
  Agent agent = Agent::attach(chain.pids());

  // One request on a fresh connection at every hop, then three on connections kept alive: the
  // later ones cannot be told apart by connect() and need the order of requests on a connection.
  const auto first = run_to_completion(curl_args(chain.url(), 1));
  ASSERT_EQ(first.status, 0) << first.err;
  const auto more = run_to_completion(curl_args(chain.url(), 3));
  ASSERT_EQ(more.status, 0) << more.err;
  EXPECT_EQ(lines(first.out + more.out), std::vector<std::string>(4, Chain::kBody));

  ASSERT_TRUE(agent.wait_for_spans(20, kChainSpanTimeout)) << "spans so far:" << dump(agent.spans());
  const auto spans = agent.stop();
  ASSERT_EQ(spans.size(), 20u) << dump(spans);
  expect_distinct_ids(spans);

  EXPECT_EQ(by_trace(spans).size(), 4u) << "one trace per request:" << dump(spans);
  expect_every_trace_is_chain(spans, chain.hops());

  // The three later requests reached svc2 over one connection from svc1 (keep-alive reuse).
  std::set<Json> svc1_ports;
  for (const auto& s : of_kind(spans, "SERVER")) {
    if (pid_of(s) == chain.svc2()) svc1_ports.insert(attr(s, "client.port"));
  }
  EXPECT_EQ(svc1_ports.size(), 2u) << "svc1 -> svc2 connections: one per curl connection" << dump(spans);

  const auto counts = parent_counts(agent);
  EXPECT_EQ(counts.headers, 0);
  EXPECT_EQ(counts.peers, 8) << "svc2's and svc3's SERVER spans";
  EXPECT_EQ(counts.while_serving, 8) << "svc1's and svc2's CLIENT spans";
  EXPECT_GE(counts.at_connect, 3) << "svc1 connected twice, svc2 at least once";
  EXPECT_EQ(counts.inherited, 0);
  EXPECT_EQ(counts.roots, 4) << "svc1's SERVER spans";
  EXPECT_EQ(counts.evicted, 0);
  EXPECT_EQ(counts.released_early, 0);
}

TEST(Propagation, ConcurrentRequestsThroughTheChainStayApart) {
  ZT_REQUIRE_ROOT();
  Chain chain;
  Agent agent = Agent::attach(chain.pids());

  // Eight curl processes at once, five keep-alive requests each: svc1 serves them on eight
  // threads, node (svc2) interleaves them on its event loop, each handler issuing its call in
  // the tick that read its request. (A call made after awaiting something else could be
  // mis-linked under concurrency: syscalls cannot follow a continuation. Not tested here.)
  constexpr int kClients = 8;
  constexpr int kRequests = 5;
  std::vector<std::unique_ptr<Subprocess>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<Subprocess>(curl_args(chain.url(), kRequests)));
  for (auto& c : clients) {
    ASSERT_EQ(c->wait(Millis(20000)), 0) << c->output(Stream::Err);
    EXPECT_EQ(lines(c->output(Stream::Out)), std::vector<std::string>(kRequests, Chain::kBody));
  }

  constexpr std::size_t kTraces = kClients * kRequests;
  ASSERT_TRUE(agent.wait_for_spans(kTraces * 5, kChainSpanTimeout)) << "spans so far: " << agent.spans().size();
  const auto spans = agent.stop();
  ASSERT_EQ(spans.size(), kTraces * 5) << dump(spans);
  expect_distinct_ids(spans);

  EXPECT_EQ(by_trace(spans).size(), kTraces) << "one trace per request";
  expect_every_trace_is_chain(spans, chain.hops());
  const auto counts = parent_counts(agent);
  EXPECT_EQ(counts.peers, 2 * static_cast<int>(kTraces));
  EXPECT_EQ(counts.while_serving, 2 * static_cast<int>(kTraces));
  EXPECT_EQ(counts.roots, static_cast<int>(kTraces));
  EXPECT_EQ(counts.evicted, 0);
}

TEST(Propagation, IncomingContextCarriesThroughTheChain) {
  ZT_REQUIRE_ROOT();
  Chain chain;
  Agent agent = Agent::attach(chain.pids());

  struct Case {
    std::vector<std::string> headers;
    std::string trace_id;  // as every span must carry it
    std::string parent;    // svc1's SERVER span's parent: the caller's span
  };
  const std::vector<Case> cases = {
      {{"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate: rojo=1"},
       "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"},
      {{"b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"},
       "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1"},
      {{"X-B3-TraceId: a3ce929d0e0e4736", "X-B3-SpanId: 00f067aa0ba902b8", "X-B3-Sampled: 1"},
       "0000000000000000a3ce929d0e0e4736", "00f067aa0ba902b8"},
      {{"uber-trace-id: 5af7183fb1d4cf5f3b6d7e6a8c2f1d0e:8b2a57d3eff7e457:0:1"},
       "5af7183fb1d4cf5f3b6d7e6a8c2f1d0e", "8b2a57d3eff7e457"},
  };
  for (const auto& c : cases) {
    const auto r = run_to_completion(curl_args(chain.url(), 1, c.headers));
    ASSERT_EQ(r.status, 0) << r.err;
  }

  ASSERT_TRUE(agent.wait_for_spans(cases.size() * 5, kChainSpanTimeout)) << "spans so far:" << dump(agent.spans());
  const auto spans = agent.stop();
  ASSERT_EQ(spans.size(), cases.size() * 5) << dump(spans);
  expect_distinct_ids(spans);

  const auto traces = by_trace(spans);
  EXPECT_EQ(traces.size(), cases.size()) << dump(spans);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.headers.front());
    const auto it = traces.find(c.trace_id);
    ASSERT_NE(it, traces.end()) << "no span joined the caller's trace" << dump(spans);
    EXPECT_TRUE(is_chain(it->second, chain.hops(), c.parent));
  }
  const auto counts = parent_counts(agent);
  EXPECT_EQ(counts.headers, 4) << "svc1's SERVER spans";
  EXPECT_EQ(counts.peers, 8);
  EXPECT_EQ(counts.while_serving, 8);
  EXPECT_EQ(counts.roots, 0);
}

// An OpenTelemetry-SDK-instrumented Node service in the middle: curl -> sdk-peer (node, OTel JS
// HTTP instrumentation) -> backend (python). Both are traced by the agent as well; the SDK's
// client span injects a traceparent into the request to the backend.
TEST(Propagation, HeaderFromAnSdkWinsOverTheAgentsOwnLinks) {
  ZT_REQUIRE_ROOT();
  ASSERT_TRUE(std::filesystem::exists(js_dir() / "node_modules" / "@opentelemetry" / "sdk-trace-node"))
      << "tests/js/node_modules is missing: run scripts/setup.sh (it runs npm ci there)";
  JsReceiver rx;
  ReadyServer backend(python_chain("backend"));
  ReadyServer sdk_peer({"node", workload("otel_sdk_service.js"), "--name", "sdk-peer", "--next", backend.url(""),
                        "--otlp", rx.url(false) + "/v1/traces"});
  Agent agent = Agent::attach({sdk_peer.pid(), backend.pid()});

  const auto r = run_to_completion(curl_args(sdk_peer.url("/work"), 1));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "sdk-peer > backend\n");

  // The SDK's own spans: its SERVER span for curl's request and its CLIENT span for the backend.
  ASSERT_TRUE(poll_until([&] { return rx.spans().size() >= 2; }, kSpanTimeout)) << rx.log();
  const auto sdk_spans = rx.spans();
  ASSERT_EQ(sdk_spans.size(), 2u);
  const Json* sdk_client = nullptr;
  const Json* sdk_server = nullptr;
  for (const auto& s : sdk_spans) (s["kind"] == 3 ? sdk_client : sdk_server) = &s;
  ASSERT_TRUE(sdk_client && sdk_server && (*sdk_server)["kind"] == 2) << Json(sdk_spans).dump();
  ASSERT_EQ((*sdk_client)["parentSpanId"], (*sdk_server)["spanId"]) << Json(sdk_spans).dump();
  const std::string sdk_trace = (*sdk_client)["traceId"];
  const std::string sdk_client_id = (*sdk_client)["spanId"];

  // Ours: the backend's SERVER span, and sdk-peer's SERVER and CLIENT spans for /work. sdk-peer
  // also posts the SDK's spans to the receiver (untraced); those CLIENT spans are left aside.
  auto work_spans = [&](const std::vector<Json>& spans) {
    std::vector<Json> out;
    for (const auto& s : spans) {
      if (attr(s, "url.path") == "/work") out.push_back(s);
    }
    return out;
  };
  ASSERT_TRUE(poll_until([&] { return work_spans(agent.spans()).size() >= 3; }, kSpanTimeout))
      << dump(agent.spans());
  const auto all = agent.stop();
  const auto spans = work_spans(all);
  ASSERT_EQ(spans.size(), 3u) << dump(all);
  expect_distinct_ids(all);

  const Json* backend_server = nullptr;
  const Json* peer_server = nullptr;
  const Json* peer_client = nullptr;
  for (const auto& s : spans) {
    const bool server = s["kind"] == "SERVER";
    if (pid_of(s) == backend.pid() && server) backend_server = &s;
    if (pid_of(s) == sdk_peer.pid()) (server ? peer_server : peer_client) = &s;
  }
  ASSERT_TRUE(backend_server && peer_server && peer_client) << dump(spans);

  // The backend's SERVER span follows the header: child of the SDK's CLIENT span, in its trace,
  // not of the agent's CLIENT span on the same connection.
  EXPECT_EQ((*backend_server)["trace_id"], sdk_trace) << dump(spans);
  EXPECT_EQ((*backend_server)["parent_span_id"], sdk_client_id) << dump(spans);
  // The agent's CLIENT span joins the SDK's trace, under the SDK's CLIENT span.
  EXPECT_EQ((*peer_client)["trace_id"], sdk_trace) << dump(spans);
  EXPECT_EQ((*peer_client)["parent_span_id"], sdk_client_id) << dump(spans);
  // curl sent no context: the agent's SERVER span is a root, in a trace the SDK never saw (the SDK
  // picks its trace id after reading the request).
  EXPECT_EQ((*peer_server)["parent_span_id"], "") << dump(spans);
  EXPECT_NE((*peer_server)["trace_id"], sdk_trace) << dump(spans);
  for (const auto* s : {backend_server, peer_server, peer_client}) {
    EXPECT_NE((*s)["span_id"], sdk_client_id);
    EXPECT_NE((*s)["span_id"], (*sdk_server)["spanId"]);
  }
  const auto counts = parent_counts(agent);
  EXPECT_EQ(counts.headers, 2) << "sdk-peer's CLIENT span and the backend's SERVER span";
  EXPECT_EQ(counts.peers, 0) << "the header wins over same-node pairing";
}

// pool_service.py -> chain_service.py, three requests over one keep-alive connection.
struct PoolRun {
  std::vector<Json> spans;
  ParentCounts counts;
  pid_t front = 0;
  pid_t backend = 0;
};

PoolRun run_pool_service(const std::vector<std::string>& mode) {
  ReadyServer backend(python_chain("backend"));
  std::vector<std::string> argv{python3(), workload("pool_service.py"), "--name", "front", "--next", backend.url("")};
  argv.insert(argv.end(), mode.begin(), mode.end());
  ReadyServer front(argv);
  Agent agent = Agent::attach({front.pid(), backend.pid()});
  const auto r = run_to_completion(curl_args(front.url("/work"), 3));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(lines(r.out), std::vector<std::string>(3, "front > backend"));
  EXPECT_TRUE(agent.wait_for_spans(9)) << dump(agent.spans());
  auto spans = agent.stop();
  return {std::move(spans), parent_counts(agent), front.pid(), backend.pid()};
}

TEST(Propagation, ThreadPerCallInheritsTheServerSpan) {
  ZT_REQUIRE_ROOT();
  const auto run = run_pool_service({"--thread-per-call"});
  ASSERT_EQ(run.spans.size(), 9u) << dump(run.spans);
  expect_distinct_ids(run.spans);
  // The serving thread creates the calling thread: the call is the request's child.
  EXPECT_EQ(by_trace(run.spans).size(), 3u) << dump(run.spans);
  expect_every_trace_is_chain(run.spans, {{"SERVER", run.front}, {"CLIENT", run.front}, {"SERVER", run.backend}});
  EXPECT_EQ(run.counts.while_serving, 3);
  // Each call is a new thread's first request on a new connection: the agent counts it "at
  // connect", though the connecting thread's request was inherited from its creator.
  EXPECT_EQ(run.counts.at_connect + run.counts.inherited, 3);
  EXPECT_EQ(run.counts.peers, 3);
  EXPECT_EQ(run.counts.roots, 3);
}

TEST(Propagation, ThreadPoolCallsAreNotLinkedToTheRequest) {
  ZT_REQUIRE_ROOT();
  // The known limit: the request reaches a worker thread that existed before it, through a queue
  // in the process's memory. No syscall shows the hand-off, so the worker's CLIENT span starts a
  // trace of its own; the backend still pairs with it over the connection (same node).
  const auto run = run_pool_service({"--workers", "2"});
  ASSERT_EQ(run.spans.size(), 9u) << dump(run.spans);
  expect_distinct_ids(run.spans);
  std::size_t front_servers = 0;
  for (const auto& [trace_id, trace] : by_trace(run.spans)) {
    const bool front_server = trace.size() == 1 && trace[0]["kind"] == "SERVER" && pid_of(trace[0]) == run.front;
    if (front_server) {
      ++front_servers;
      EXPECT_EQ(trace[0]["parent_span_id"], "") << dump(trace);
    } else {
      EXPECT_TRUE(is_chain(trace, {{"CLIENT", run.front}, {"SERVER", run.backend}})) << trace_id;
    }
  }
  EXPECT_EQ(front_servers, 3u) << "each request's SERVER span alone in its trace:" << dump(run.spans);
  EXPECT_EQ(run.counts.while_serving, 0);
  EXPECT_EQ(run.counts.peers, 3);
  EXPECT_EQ(run.counts.roots, 6) << "the front's SERVER and CLIENT spans";
}

}  // namespace
}  // namespace zt::e2e
