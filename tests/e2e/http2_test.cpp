// HTTP/2 and gRPC on real peers: nghttpd and nghttp (Debian nghttp2) for plain h2c, and a C++
// gRPC server and client built with Debian's libgrpc++ (tests/fixtures/http2/grpc_peer.cpp):
// unary, server streaming, client streaming, a call failing with NOT_FOUND (a Trailers-Only
// response). The agent is attached before the connections exist.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

const char* const kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(Http2, NghttpRequestsOnOneConnectionAreServerSpans) {
  ZT_REQUIRE_ROOT();
  ASSERT_FALSE(which("nghttpd").empty()) << "nghttpd missing: scripts/setup.sh installs nghttp2-server";
  TempDir root;
  std::ofstream(root / "index.html") << "hello from h2c\n";
  const std::uint16_t port = free_port();
  Subprocess server({which("nghttpd"), "--no-tls", "-d", root.path().string(), std::to_string(port)});
  ASSERT_TRUE(wait_for_port(port)) << server.output(Stream::Err);
  Agent agent = Agent::attach({server.pid()});
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  const auto client = run_to_completion({which("nghttp"), "-n", "-H", std::string("traceparent: ") + kTraceparent,
                                         base + "/index.html", base + "/missing", base + "/index.html?x=1"});
  ASSERT_EQ(client.status, 0) << client.out;
  ASSERT_TRUE(agent.wait_for_spans(3)) << agent.log();
  const auto spans = sorted_by_start(agent.stop());
  ASSERT_EQ(spans.size(), 3u);
  std::map<std::string, Json> by_query;
  for (const auto& s : spans) {
    EXPECT_EQ(s["kind"], "SERVER");
    EXPECT_EQ(attr(s, "network.protocol.version"), "2");
    EXPECT_EQ(attr(s, "server.port"), port);
    EXPECT_EQ(s["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736") << "the traceparent of each stream";
    EXPECT_EQ(s["parent_span_id"], "00f067aa0ba902b7");
    EXPECT_EQ(s["resource"]["process.pid"], server.pid());
  }
  std::vector<Json> codes, stream_ids;
  std::set<Json> names_seen;
  for (const auto& s : spans) {
    codes.push_back(attr(s, "http.response.status_code"));
    names_seen.insert(s["name"]);
    stream_ids.push_back(attr(s, "http2.stream_id"));
  }
  EXPECT_EQ(names_seen, (std::set<Json>{"GET /index.html", "GET /missing"}));
  EXPECT_EQ(std::count(codes.begin(), codes.end(), Json(200)), 2);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), Json(404)), 1);
  EXPECT_EQ(std::set<Json>(stream_ids.begin(), stream_ids.end()).size(), 3u) << "three streams";
}

// Server and client both traced by one agent, both from before their connection exists: each call
// gives a CLIENT span and a SERVER span, the server's the child of the client's (same-node
// pairing) unless the call carried a traceparent, which then parents both.
TEST(Grpc, UnaryStreamingAndNotFoundCallsBecomeRpcSpans) {
  ZT_REQUIRE_ROOT();
  const std::uint16_t port = free_port();
  Subprocess server({ZT_GRPC_PEER, "server", std::to_string(port)});
  ASSERT_TRUE(wait_for_port(port)) << server.output(Stream::Err);
  // The client waits for a line on stdin, so that the agent is attached before it connects.
  SubprocessOptions with_stdin;
  with_stdin.stdin_pipe = true;
  Subprocess client({"sh", "-c", std::string("read go && exec ") + ZT_GRPC_PEER + " client " + std::to_string(port)},
                    with_stdin);
  Agent agent = Agent::attach({server.pid(), client.pid()});
  client.write_stdin("go\n");
  ASSERT_EQ(client.wait(), 0) << client.output(Stream::Err);
  ASSERT_TRUE(agent.wait_for_spans(10)) << agent.log();
  const auto spans = sorted_by_start(agent.stop());
  const auto servers = sorted_by_start(of_kind(spans, "SERVER"));
  const auto clients = sorted_by_start(of_kind(spans, "CLIENT"));
  ASSERT_EQ(servers.size(), 5u) << Json(spans).dump(1);
  ASSERT_EQ(clients.size(), 5u) << Json(spans).dump(1);
  const std::vector<std::string> expected{"zerotrace.fixture.Orders/Get", "zerotrace.fixture.Orders/Get",
                                          "zerotrace.fixture.Orders/List", "zerotrace.fixture.Orders/Upload",
                                          "zerotrace.fixture.Orders/Get"};
  EXPECT_EQ(names(servers), expected);
  EXPECT_EQ(names(clients), expected);
  for (std::size_t i = 0; i < 5; ++i) {
    for (const auto* s : {&servers[i], &clients[i]}) {
      EXPECT_EQ(attr(*s, "rpc.system"), "grpc");
      EXPECT_EQ(attr(*s, "rpc.service"), "zerotrace.fixture.Orders");
      EXPECT_EQ(attr(*s, "rpc.method"), expected[i].substr(expected[i].find('/') + 1));
      EXPECT_EQ(attr(*s, "server.port"), port);
    }
  }
  // Status codes from the trailers (a Trailers-Only response for NOT_FOUND); NOT_FOUND is an
  // error for the client, not for the server (gRPC semantic conventions).
  EXPECT_EQ(attr(servers[0], "rpc.grpc.status_code"), 0);
  EXPECT_EQ(attr(servers[1], "rpc.grpc.status_code"), 5);
  EXPECT_EQ(attr(clients[1], "rpc.grpc.status_code"), 5);
  EXPECT_EQ(servers[1]["status"]["code"], "UNSET");
  EXPECT_EQ(clients[1]["status"]["code"], "ERROR");
  EXPECT_EQ(clients[1]["status"]["message"], "order 404 not found");
  EXPECT_EQ(attr(servers[1], "zerotrace.grpc.trailers_only"), true);
  EXPECT_EQ(clients[0]["status"]["code"], "UNSET");
  // Message counts: List streams 5 responses, Upload streams 3 requests.
  EXPECT_EQ(attr(servers[2], "rpc.grpc.response.message_count"), 5);
  EXPECT_EQ(attr(clients[2], "rpc.grpc.response.message_count"), 5);
  EXPECT_EQ(attr(servers[3], "rpc.grpc.request.message_count"), 3);
  EXPECT_EQ(attr(clients[3], "rpc.grpc.request.message_count"), 3);
  EXPECT_EQ(attr(servers[0], "rpc.grpc.request.message_count"), 1);
  // Parents: the first call carries a traceparent (both spans join it); the others pair.
  EXPECT_EQ(clients[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(servers[0]["parent_span_id"], "00f067aa0ba902b7");
  for (std::size_t i = 1; i < 5; ++i) {
    EXPECT_EQ(servers[i]["parent_span_id"], clients[i]["span_id"]) << expected[i] << " #" << i;
    EXPECT_EQ(servers[i]["trace_id"], clients[i]["trace_id"]) << expected[i] << " #" << i;
  }
}

}  // namespace
}  // namespace zt::e2e

namespace zt::e2e {
namespace {

// tests/workloads/grpc_front.js (HTTP/1.1 in, gRPC out over one long-lived channel) in front of
// the libgrpc++ Orders server.
struct MixedChain {
  std::uint16_t grpc_port = free_port();
  Subprocess backend{{ZT_GRPC_PEER, "server", std::to_string(grpc_port)}};
  std::optional<Subprocess> front;
  std::uint16_t front_port = 0;

  MixedChain() {
    if (!wait_for_port(grpc_port)) throw std::runtime_error("grpc_peer server did not start");
    front.emplace(std::vector<std::string>{"node", workload("grpc_front.js"), "--backend",
                                           "127.0.0.1:" + std::to_string(grpc_port)});
    const auto ready = front->wait_for_line(Stream::Out, std::regex("^READY [0-9]+"));
    if (!ready) throw std::runtime_error("grpc_front.js did not start: " + front->output(Stream::Err));
    front_port = static_cast<std::uint16_t>(std::stoi(ready->substr(6)));
  }
  int get(int id) const {
    const auto r = run_to_completion({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                      "http://127.0.0.1:" + std::to_string(front_port) + "/order/" + std::to_string(id)});
    return r.status == 0 ? std::stoi(r.out) : -1;
  }
};

std::vector<Json> of_pid(const std::vector<Json>& spans, pid_t pid, const std::string& kind) {
  std::vector<Json> out;
  for (const auto& s : spans) {
    if (s["resource"]["process.pid"] == pid && s["kind"] == kind) out.push_back(s);
  }
  return sorted_by_start(out);
}

TEST(Grpc, Http1FrontEndCallingAGrpcBackEndIsOneTrace) {
  ZT_REQUIRE_ROOT();
  MixedChain chain;
  Agent agent = Agent::attach({chain.front->pid(), chain.backend.pid()});
  ASSERT_EQ(chain.get(7), 200);
  ASSERT_EQ(chain.get(404), 404);
  ASSERT_EQ(chain.get(8), 200);
  ASSERT_TRUE(agent.wait_for_spans(9)) << agent.log();
  const auto spans = agent.stop();
  const auto front_servers = of_pid(spans, chain.front->pid(), "SERVER");
  const auto front_clients = of_pid(spans, chain.front->pid(), "CLIENT");
  const auto backend = of_pid(spans, chain.backend.pid(), "SERVER");
  ASSERT_EQ(front_servers.size(), 3u) << Json(spans).dump(1);
  ASSERT_EQ(front_clients.size(), 3u) << Json(spans).dump(1);
  ASSERT_EQ(backend.size(), 3u) << Json(spans).dump(1);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(front_servers[i]["name"], "GET /order/{id}");
    EXPECT_EQ(front_clients[i]["name"], "zerotrace.fixture.Orders/Get");
    EXPECT_EQ(backend[i]["name"], "zerotrace.fixture.Orders/Get");
    // HTTP/1 SERVER -> gRPC CLIENT (the call made while serving) -> gRPC SERVER (same-node pairing).
    EXPECT_EQ(front_servers[i]["parent_span_id"], "") << i;
    EXPECT_EQ(front_clients[i]["parent_span_id"], front_servers[i]["span_id"]) << i;
    EXPECT_EQ(backend[i]["parent_span_id"], front_clients[i]["span_id"]) << i;
    EXPECT_EQ(backend[i]["trace_id"], front_servers[i]["trace_id"]) << i;
  }
  EXPECT_EQ(attr(front_clients[1], "rpc.grpc.status_code"), 5);
  EXPECT_EQ(front_clients[1]["status"]["code"], "ERROR");
  EXPECT_EQ(backend[1]["status"]["code"], "UNSET");
  EXPECT_EQ(attr(front_servers[1], "http.response.status_code"), 404);
}

// The gRPC connection is open and has carried calls before the agent comes: HPACK entries
// inserted then cannot be read. The spans are still there, with their timing, parents and what
// could be resolved; what could not is "*" and counted.
TEST(Grpc, ConnectionInUseBeforeTheAgentStillGivesSpans) {
  ZT_REQUIRE_ROOT();
  MixedChain chain;
  ASSERT_EQ(chain.get(1), 200);
  ASSERT_EQ(chain.get(2), 200);
  Agent agent = Agent::attach({chain.front->pid(), chain.backend.pid()});
  ASSERT_EQ(chain.get(7), 200);
  ASSERT_EQ(chain.get(8), 200);
  ASSERT_TRUE(agent.wait_for_spans(6)) << agent.log();
  const auto spans = agent.stop();
  const auto front_servers = of_pid(spans, chain.front->pid(), "SERVER");
  const auto front_clients = of_pid(spans, chain.front->pid(), "CLIENT");
  const auto backend = of_pid(spans, chain.backend.pid(), "SERVER");
  ASSERT_EQ(front_servers.size(), 2u) << Json(spans).dump(1);
  ASSERT_EQ(front_clients.size(), 2u) << Json(spans).dump(1);
  ASSERT_EQ(backend.size(), 2u) << Json(spans).dump(1);
  for (std::size_t i = 0; i < 2; ++i) {
    for (const auto* s : {&front_clients[i], &backend[i]}) {
      EXPECT_EQ(attr(*s, "zerotrace.connection.midstream"), true) << s->dump();
      EXPECT_GT(end_ns(*s), start_ns(*s));
      // Whatever was resolved is right; whatever was not is "*", never a guess.
      const Json name = (*s)["name"];
      EXPECT_TRUE(name == "zerotrace.fixture.Orders/Get" || name == "*/*" || name == "POST *") << s->dump();
      if (name != "zerotrace.fixture.Orders/Get") {
        EXPECT_GT(attr(*s, "zerotrace.http2.unresolved_headers"), 0);
      }
    }
    EXPECT_EQ(front_clients[i]["parent_span_id"], front_servers[i]["span_id"]) << i;
    EXPECT_EQ(backend[i]["parent_span_id"], front_clients[i]["span_id"]) << i;
  }
}

}  // namespace
}  // namespace zt::e2e
