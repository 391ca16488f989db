// Node's http module on both ends: the server (tests/workloads/node_server.js) attached by pid,
// the keep-alive client (node_client.js) started under `zerotrace exec`, each by its own agent.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

// One line per request from node_client.js: "<status> <body size> <local port> <url>".

TEST(Node, ServerAndClientSpansForEveryRequest) {
  ZT_REQUIRE_ROOT();
  SubprocessOptions server_env;
  server_env.env["OTEL_SERVICE_NAME"] = "inventory";
  ReadyServer server(ReadyServer::node(), server_env);
  Agent server_agent = Agent::attach({server.pid()});

  const std::vector<std::string> urls{server.url("/api/items/1"), server.url("/api/items/22?fields=name"),
                                      server.url("/health"), server.url("/missing")};
  std::vector<std::string> command{"node", workload("node_client.js")};
  command.insert(command.end(), urls.begin(), urls.end());

  const TimeWindow window_start{unix_now_ns()};
  Agent client_agent = Agent::exec(command);
  std::smatch m;
  const std::string log = client_agent.log();
  ASSERT_TRUE(std::regex_search(log, m, std::regex(R"(tracing node \(pid (\d+)\))"))) << log;
  const pid_t client_pid = std::stoi(m[1]);

  // The agent ends with the command and exits with its status.
  const auto client_spans = sorted_by_start(client_agent.wait_exit());
  EXPECT_EQ(client_agent.exit_status(), 0);
  const std::string client_out = client_agent.process().output(Stream::Out);
  ASSERT_NE(client_out.find("DONE"), std::string::npos) << client_out;
  const auto requests = parse_client_results(client_out);
  ASSERT_EQ(requests.size(), 4u) << client_out;
  for (const auto& r : requests) ASSERT_EQ(r.local_port, requests[0].local_port) << "the client reconnected";

  ASSERT_TRUE(server_agent.wait_for_spans(4)) << "server spans so far: " << server_agent.spans().size();
  const TimeWindow window{window_start.begin_ns, unix_now_ns()};
  const auto server_spans = sorted_by_start(server_agent.stop());

  const std::vector<std::string> expected_names{"GET /api/items/{id}", "GET /api/items/{id}", "GET /health",
                                                "GET /missing"};
  const std::vector<std::string> paths{"/api/items/1", "/api/items/22", "/health", "/missing"};

  expect_well_formed(server_spans, window, {server.pid()});
  ASSERT_EQ(of_kind(server_spans, "SERVER").size(), server_spans.size()) << "the server agent traces only the server";
  EXPECT_EQ(names(server_spans), expected_names);

  expect_well_formed(client_spans, window, {client_pid});
  ASSERT_EQ(of_kind(client_spans, "CLIENT").size(), client_spans.size()) << "the client agent traces only the client";
  EXPECT_EQ(names(client_spans), expected_names);

  ASSERT_EQ(server_spans.size(), 4u);
  ASSERT_EQ(client_spans.size(), 4u);
  const ProcessFacts client_facts{client_pid, std::filesystem::canonical(which("node")).filename().string(), [&] {
                                    std::string joined;
                                    for (const auto& a : command) joined += (joined.empty() ? "" : " ") + a;
                                    return joined;
                                  }()};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& srv = server_spans[i];
    const auto& cli = client_spans[i];
    const auto& r = requests[i];
    SCOPED_TRACE(r.target + "\n  server span: " + srv.dump() + "\n  client span: " + cli.dump());
    for (const auto* s : {&srv, &cli}) {
      EXPECT_EQ(attr(*s, "http.request.method"), "GET");
      EXPECT_EQ(attr(*s, "url.path"), paths[i]);
      EXPECT_EQ(attr(*s, "url.query"), i == 1 ? Json("fields=name") : Json());
      EXPECT_EQ(attr(*s, "http.response.status_code"), r.status);
      EXPECT_EQ(attr(*s, "http.response.body.size"), r.body_size);
      EXPECT_EQ(attr(*s, "http.request.body.size"), 0);
      EXPECT_EQ(attr(*s, "server.address"), "127.0.0.1");
      EXPECT_EQ(attr(*s, "server.port"), server.port());
      EXPECT_EQ(attr(*s, "network.protocol.version"), "1.1");
    }
    EXPECT_EQ(attr(srv, "client.port"), r.local_port);
    EXPECT_EQ(attr(srv, "network.peer.port"), r.local_port);
    EXPECT_EQ(attr(srv, "url.full"), nullptr);
    EXPECT_EQ(srv["status"]["code"], "UNSET") << "a 404 is not a server error";
    EXPECT_EQ(attr(srv, "error.type"), nullptr);
    expect_resource(srv, server.facts(), "inventory");

    EXPECT_EQ(attr(cli, "url.full"), r.target);
    EXPECT_EQ(attr(cli, "network.peer.address"), "127.0.0.1");
    EXPECT_EQ(attr(cli, "network.peer.port"), server.port());
    EXPECT_EQ(attr(cli, "client.port"), nullptr);
    EXPECT_EQ(cli["status"]["code"], r.status >= 400 ? "ERROR" : "UNSET");
    EXPECT_EQ(attr(cli, "error.type"), r.status >= 400 ? Json(std::to_string(r.status)) : Json());
    expect_resource(cli, client_facts, "node");
  }
  EXPECT_EQ(requests[3].status, 404);
}

}  // namespace
}  // namespace zt::e2e
