// Attaching to a server that already has an open, idle keep-alive connection: the agent must pick
// the connection up at the next request boundary, one span per request after the attach on each
// side, and invent nothing for the request before it. Two servers, because they wait differently
// on the idle connection: python's handler thread is blocked in recv() when the agent attaches,
// node's event loop in epoll_wait() (it reads only after the attach).
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

struct OpenConnectionCase {
  const char* name;
  std::vector<std::string> (*server)();
  std::string before;              // the request made before the attach
  std::vector<std::string> after;  // the requests made after it
  std::vector<std::string> names;  // the span names they must give
};

void PrintTo(const OpenConnectionCase& c, std::ostream* os) { *os << c.name; }

// One line per request of keepalive_client.py: "<status> <body size> <local port> <path>".

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

class OpenConnection : public ::testing::TestWithParam<OpenConnectionCase> {};

TEST_P(OpenConnection, PickedUpAtTheNextRequest) {
  ZT_REQUIRE_ROOT();
  const OpenConnectionCase& c = GetParam();
  ReadyServer server(c.server());
  SubprocessOptions with_stdin;
  with_stdin.stdin_pipe = true;
  Subprocess client(
      {python3(), workload("keepalive_client.py"), std::to_string(server.port()), c.before, join(c.after)}, with_stdin);
  ASSERT_TRUE(client.wait_for_line(Stream::Out, "PHASE1 DONE")) << client.output(Stream::Err);
  const ProcessFacts client_facts = process_facts(client.pid());

  // The connection is open and idle: now the agent comes, for both ends.
  Agent agent = Agent::attach({server.pid(), client.pid()});
  const TimeWindow window_start{unix_now_ns()};
  client.write_stdin("go\n");
  ASSERT_TRUE(client.wait_for_line(Stream::Out, "PHASE2 DONE")) << client.output(Stream::Err);
  ASSERT_EQ(client.wait(), 0);
  const auto responses = parse_client_results(client.output(Stream::Out));
  ASSERT_EQ(responses.size(), 1 + c.after.size()) << client.output(Stream::Out);
  for (const auto& r : responses) ASSERT_EQ(r.local_port, responses[0].local_port) << "the client reconnected";

  EXPECT_TRUE(agent.wait_for_spans(2 * c.after.size())) << "spans so far: " << agent.spans().size();
  const TimeWindow window{window_start.begin_ns, unix_now_ns()};
  const auto spans = agent.stop();
  expect_well_formed(spans, window, {server.pid(), client.pid()});

  const auto server_spans = sorted_by_start(of_kind(spans, "SERVER"));
  const auto client_spans = sorted_by_start(of_kind(spans, "CLIENT"));
  std::vector<Json> paths;
  for (const auto& p : c.after) paths.emplace_back(p);
  EXPECT_EQ(names(server_spans), c.names);
  EXPECT_EQ(names(client_spans), c.names);
  std::vector<Json> server_paths, client_paths;
  for (const auto& s : server_spans) server_paths.push_back(attr(s, "url.path"));
  for (const auto& s : client_spans) client_paths.push_back(attr(s, "url.path"));
  EXPECT_EQ(server_paths, paths) << "exactly one SERVER span per request after the attach";
  EXPECT_EQ(client_paths, paths) << "exactly one CLIENT span per request after the attach";
  // Both ends are traced by one agent: each SERVER span is the child of its CLIENT span (same-node
  // pairing by 4-tuple and order), also on a connection opened before the agent.
  if (server_spans.size() == client_spans.size()) {
    for (std::size_t i = 0; i < server_spans.size(); ++i) {
      EXPECT_EQ(server_spans[i]["parent_span_id"], client_spans[i]["span_id"]) << "request " << i;
      EXPECT_EQ(server_spans[i]["trace_id"], client_spans[i]["trace_id"]) << "request " << i;
    }
  }

  // Each span against its request, matched by path so that a missing span hides nothing else.
  std::map<std::string, const Json*> server_by_path, client_by_path;
  for (const auto& s : server_spans) server_by_path[attr(s, "url.path").dump()] = &s;
  for (const auto& s : client_spans) client_by_path[attr(s, "url.path").dump()] = &s;
  for (std::size_t i = 0; i < c.after.size(); ++i) {
    const ClientResult& r = responses[i + 1];
    const Json* srv = server_by_path[Json(r.target).dump()];
    const Json* cli = client_by_path[Json(r.target).dump()];
    SCOPED_TRACE("request " + r.target);
    for (const Json* s : {srv, cli}) {
      if (s == nullptr) continue;
      SCOPED_TRACE(s->dump());
      EXPECT_EQ(attr(*s, "http.response.status_code"), r.status);
      EXPECT_EQ(attr(*s, "http.response.body.size"), r.body_size);
      EXPECT_EQ(attr(*s, "server.port"), server.port());
      EXPECT_EQ(attr(*s, "zerotrace.connection.midstream"), true);
      EXPECT_EQ(attr(*s, "zerotrace.incomplete"), nullptr);
    }
    if (srv != nullptr) {
      EXPECT_EQ(attr(*srv, "client.port"), r.local_port);
      EXPECT_EQ((*srv)["status"]["code"], "UNSET");
      expect_resource(*srv, server.facts(), server.facts().exe_name);
    }
    if (cli != nullptr) {
      EXPECT_EQ(attr(*cli, "url.full"), server.url(r.target));
      EXPECT_EQ(attr(*cli, "network.peer.port"), server.port());
      EXPECT_EQ((*cli)["status"]["code"], r.status >= 400 ? "ERROR" : "UNSET");
      EXPECT_EQ(attr(*cli, "error.type"), r.status >= 400 ? Json(std::to_string(r.status)) : Json());
      expect_resource(*cli, client_facts, client_facts.exe_name);
    }
    if (srv != nullptr && cli != nullptr) {
      // Same host, same agent clock: the client's span encloses the server's.
      EXPECT_LE(start_ns(*cli), start_ns(*srv));
      EXPECT_GE(end_ns(*cli), end_ns(*srv));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Attach, OpenConnection,
    ::testing::Values(OpenConnectionCase{"python_blocking_recv", &ReadyServer::python, "/users/1",
                                         {"/users/2", "/users/3", "/nope"},
                                         {"GET /users/{id}", "GET /users/{id}", "GET /nope"}},
                      OpenConnectionCase{"node_epoll", &ReadyServer::node, "/api/items/1",
                                         {"/api/items/2", "/api/items/3", "/nope"},
                                         {"GET /api/items/{id}", "GET /api/items/{id}", "GET /nope"}}),
    [](const ::testing::TestParamInfo<OpenConnectionCase>& param) { return std::string(param.param.name); });

}  // namespace
}  // namespace zt::e2e
