// A python ThreadingHTTPServer (tests/workloads/http_server.py) attached by pid: one span per
// request on a keep-alive connection, chunked responses, and processes the agent must leave alone.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

// What curl's --write-out reports about one transfer.
struct Transfer {
  int local_port = 0;
  int new_connections = 0;
  std::int64_t body_size = 0;
  int status = 0;
};

// A uuid and a long hex string: both route segments become {id}.
const char* const kOrderPath = "/orders/550e8400-e29b-41d4-a716-446655440000/items/9f86d081884c7d65";

const char* const kWriteOut = "%{local_port} %{num_connects} %{size_download} %{response_code}\\n";

std::vector<Transfer> parse_transfers(const std::string& out) {
  std::vector<Transfer> transfers;
  std::istringstream lines(out);
  for (Transfer t; lines >> t.local_port >> t.new_connections >> t.body_size >> t.status;) transfers.push_back(t);
  return transfers;
}

std::string curl_user_agent() {
  const auto version = run_to_completion({"curl", "--version"});
  std::smatch m;
  if (!std::regex_search(version.out, m, std::regex(R"(^curl (\S+))"))) return "curl/?";
  return "curl/" + m[1].str();
}

std::vector<Json> attrs(const std::vector<Json>& spans, const std::string& key) {
  std::vector<Json> out;
  for (const auto& s : spans) out.push_back(attr(s, key));
  return out;
}

std::vector<Json> status_codes(const std::vector<Json>& spans) {
  std::vector<Json> out;
  for (const auto& s : spans) out.push_back(s["status"]["code"]);
  return out;
}

TEST(PythonServer, OneKeepAliveConnectionGivesOneServerSpanPerRequest) {
  ZT_REQUIRE_ROOT();
  ReadyServer server(ReadyServer::python());
  Agent agent = Agent::attach({server.pid()});

  std::string body;
  for (int i = 0; body.size() < 5000; ++i) body += std::to_string(i) + ",";
  body.resize(5000);  // more than the 4096 bytes captured per syscall: sizes come from the headers

  const TimeWindow window_start{unix_now_ns()};
  // One curl, one connection: --next keeps curl's connection pool, so the POST reuses it too.
  const auto curl = run_to_completion({"curl", "-s", "-w", kWriteOut,
                                       server.url("/users/42"), "-o", "/dev/null",
                                       server.url("/users/7?verbose=1"), "-o", "/dev/null",
                                       server.url("/nope"), "-o", "/dev/null",
                                       server.url("/error"), "-o", "/dev/null",
                                       server.url(kOrderPath), "-o", "/dev/null",
                                       "--next", "-s", "-w", kWriteOut, "-H", "Expect:",
                                       "-H", "Content-Type: application/octet-stream",
                                       "--data-binary", body, server.url("/echo"), "-o", "/dev/null"});
  ASSERT_EQ(curl.status, 0) << curl.err;
  const auto transfers = parse_transfers(curl.out);
  ASSERT_EQ(transfers.size(), 6u) << curl.out;
  EXPECT_EQ(transfers[0].new_connections, 1);
  for (std::size_t i = 1; i < transfers.size(); ++i) {
    EXPECT_EQ(transfers[i].new_connections, 0) << "curl opened a new connection for request " << i;
    EXPECT_EQ(transfers[i].local_port, transfers[0].local_port);
  }
  EXPECT_EQ(transfers[5].body_size, 5000) << "the server did not echo the body";

  ASSERT_TRUE(agent.wait_for_spans(6)) << "spans so far: " << agent.spans().size();
  const TimeWindow window{window_start.begin_ns, unix_now_ns()};
  const auto spans = sorted_by_start(agent.stop());
  EXPECT_EQ(agent.exit_status(), 0);

  ASSERT_EQ(spans.size(), 6u);
  expect_well_formed(spans, window, {server.pid()});
  EXPECT_EQ(names(spans), (std::vector<std::string>{"GET /users/{id}", "GET /users/{id}", "GET /nope", "GET /error",
                                                    "GET /orders/{id}/items/{id}", "POST /echo"}));
  EXPECT_EQ(of_kind(spans, "SERVER").size(), 6u);
  EXPECT_EQ(attrs(spans, "http.request.method"), (std::vector<Json>{"GET", "GET", "GET", "GET", "GET", "POST"}));
  EXPECT_EQ(attrs(spans, "url.path"),
            (std::vector<Json>{"/users/42", "/users/7", "/nope", "/error", kOrderPath, "/echo"}));
  EXPECT_EQ(attrs(spans, "url.query"), (std::vector<Json>{nullptr, "verbose=1", nullptr, nullptr, nullptr, nullptr}));
  EXPECT_EQ(attrs(spans, "http.route"), (std::vector<Json>{"/users/{id}", "/users/{id}", "/nope", "/error",
                                                           "/orders/{id}/items/{id}", "/echo"}));
  EXPECT_EQ(attrs(spans, "http.response.status_code"), (std::vector<Json>{200, 200, 404, 500, 404, 200}));
  EXPECT_EQ(status_codes(spans), (std::vector<Json>{"UNSET", "UNSET", "UNSET", "ERROR", "UNSET", "UNSET"}));
  EXPECT_EQ(attrs(spans, "error.type"), (std::vector<Json>{nullptr, nullptr, nullptr, "500", nullptr, nullptr}));
  EXPECT_EQ(attrs(spans, "http.request.body.size"), (std::vector<Json>{0, 0, 0, 0, 0, 5000}));
  std::vector<Json> downloaded;
  for (const auto& t : transfers) downloaded.push_back(t.body_size);
  EXPECT_EQ(attrs(spans, "http.response.body.size"), downloaded);

  const std::string user_agent = curl_user_agent();
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const auto& s = spans[i];
    SCOPED_TRACE("span " + std::to_string(i) + ": " + s.dump());
    EXPECT_EQ(attr(s, "url.scheme"), "http");
    EXPECT_EQ(attr(s, "network.protocol.version"), "1.1");
    EXPECT_EQ(attr(s, "server.address"), "127.0.0.1");
    EXPECT_EQ(attr(s, "server.port"), server.port());
    EXPECT_EQ(attr(s, "client.address"), "127.0.0.1");
    EXPECT_EQ(attr(s, "client.port"), transfers[0].local_port) << "not the connection curl reused";
    EXPECT_EQ(attr(s, "network.peer.address"), "127.0.0.1");
    EXPECT_EQ(attr(s, "network.peer.port"), transfers[0].local_port);
    EXPECT_EQ(attr(s, "user_agent.original"), user_agent);
    EXPECT_EQ(attr(s, "url.full"), nullptr) << "url.full is for client spans";
    EXPECT_EQ(attr(s, "zerotrace.connection.midstream"), nullptr) << "the connection opened after the attach";
    EXPECT_EQ(attr(s, "zerotrace.incomplete"), nullptr);
    expect_resource(s, server.facts(), server.facts().exe_name);
    // Requests on one connection are sequential: spans must not overlap.
    if (i > 0) {
      EXPECT_LE(end_ns(spans[i - 1]), start_ns(s));
    }
  }

  const auto stats = agent.stats();
  ASSERT_TRUE(stats) << agent.log();
  EXPECT_EQ(stats->get("pipeline.spans"), 6u);
  EXPECT_EQ(stats->get("pipeline.parse_errors"), 0u);
}

TEST(PythonServer, ChunkedResponseBodySizeIsTheDecodedLength) {
  ZT_REQUIRE_ROOT();
  ReadyServer server(ReadyServer::python());
  Agent agent = Agent::attach({server.pid()});

  const TimeWindow window_start{unix_now_ns()};
  // The request after the chunked response checks that the parser found where the response ended.
  const auto curl = run_to_completion({"curl", "-s", "-w", kWriteOut, server.url("/chunked"), "-o", "/dev/null",
                                       server.url("/users/3"), "-o", "/dev/null"});
  ASSERT_EQ(curl.status, 0) << curl.err;
  const auto transfers = parse_transfers(curl.out);
  ASSERT_EQ(transfers.size(), 2u) << curl.out;
  ASSERT_EQ(transfers[1].new_connections, 0);
  const std::int64_t decoded = transfers[0].body_size;  // curl decodes the chunked encoding
  EXPECT_EQ(decoded, 12 + 34 + 1000 + 4);  // the chunks http_server.py writes

  ASSERT_TRUE(agent.wait_for_spans(2)) << "spans so far: " << agent.spans().size();
  const TimeWindow window{window_start.begin_ns, unix_now_ns()};
  const auto spans = sorted_by_start(agent.stop());

  ASSERT_EQ(spans.size(), 2u);
  expect_well_formed(spans, window, {server.pid()});
  EXPECT_EQ(names(spans), (std::vector<std::string>{"GET /chunked", "GET /users/{id}"}));
  EXPECT_EQ(attr(spans[0], "http.response.status_code"), 200);
  EXPECT_EQ(attr(spans[0], "http.response.body.size"), decoded);
  EXPECT_EQ(spans[0]["status"]["code"], "UNSET");
  EXPECT_EQ(attr(spans[0], "zerotrace.incomplete"), nullptr);
  EXPECT_EQ(attr(spans[1], "http.response.status_code"), 200);
  EXPECT_EQ(attr(spans[1], "http.response.body.size"), transfers[1].body_size);
  EXPECT_EQ(attr(spans[0], "client.port"), attr(spans[1], "client.port"));
  EXPECT_EQ(agent.stats().value_or(AgentStats{}).get("pipeline.parse_errors"), 0u);
}

TEST(PythonServer, UntracedProcessesProduceNoSpans) {
  ZT_REQUIRE_ROOT();
  ReadyServer traced(ReadyServer::python());
  ReadyServer untraced(ReadyServer::python());
  Agent agent = Agent::attach({traced.pid()});

  const TimeWindow window_start{unix_now_ns()};
  const auto curl = run_to_completion({"curl", "-s", "-w", kWriteOut,
                                       traced.url("/users/1"), "-o", "/dev/null",
                                       untraced.url("/users/2"), "-o", "/dev/null",
                                       traced.url("/users/3"), "-o", "/dev/null",
                                       untraced.url("/error"), "-o", "/dev/null",
                                       untraced.url("/users/4"), "-o", "/dev/null"});
  ASSERT_EQ(curl.status, 0) << curl.err;
  ASSERT_EQ(parse_transfers(curl.out).size(), 5u) << curl.out;

  ASSERT_TRUE(agent.wait_for_spans(2)) << "spans so far: " << agent.spans().size();
  const TimeWindow window{window_start.begin_ns, unix_now_ns()};
  const auto spans = agent.stop();

  expect_well_formed(spans, window, {traced.pid()});
  EXPECT_EQ(attrs(sorted_by_start(spans), "url.path"), (std::vector<Json>{"/users/1", "/users/3"}));
  for (const auto& s : spans) {
    SCOPED_TRACE(s.dump());
    EXPECT_EQ(s["kind"], "SERVER") << "curl is not traced";
    EXPECT_EQ(attr(s, "server.port"), traced.port());
    for (const char* key : {"server.port", "client.port", "network.peer.port"}) {
      EXPECT_NE(attr(s, key), untraced.port()) << key << " is the untraced server's port";
    }
  }
}

}  // namespace
}  // namespace zt::e2e
