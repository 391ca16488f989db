// nginx (master and one worker, tests/workloads/nginx.conf.in) under wrk load: attached through the
// master pid, the worker's spans must account for every request wrk made.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

TEST(Nginx, EveryWrkRequestIsOneServerSpan) {
  ZT_REQUIRE_ROOT();
  TempDir dir;
  // The worker runs as an unprivileged user: it must be able to read the files.
  chmod(dir.path().c_str(), 0755);
  std::filesystem::create_directory(dir / "www");
  std::string page = "<!doctype html>\n<title>zerotrace e2e</title>\n";
  while (page.size() < 600) page += "<p>static content served by nginx</p>\n";
  std::ofstream(dir / "www" / "index.html") << page;
  const std::uint16_t port = free_port();
  const auto config = dir / "nginx.conf";
  std::ofstream(config) << replace_all(replace_all(read_text(workload("nginx.conf.in")), "@DIR@", dir.path().string()),
                                       "@PORT@", std::to_string(port));

  Subprocess nginx({"/usr/sbin/nginx", "-p", dir.path().string(), "-e", (dir / "error.log").string(), "-c",
                    config.string()});
  ASSERT_TRUE(wait_for_port(port)) << nginx.output(Stream::Err);
  std::set<pid_t> workers;
  ASSERT_TRUE(poll_until(
      [&] {
        workers = process_tree(nginx.pid());
        workers.erase(nginx.pid());
        return workers.size() == 1;
      },
      kReadyTimeout))
      << "nginx did not start its worker";

  Agent agent = Agent::attach({nginx.pid()});
  EXPECT_NE(agent.log().find("tracing pid " + std::to_string(nginx.pid()) + " and 1 child processes"),
            std::string::npos)
      << agent.log();

  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/index.html";
  const TimeWindow window_start{unix_now_ns()};
  const auto wrk = run_to_completion({"wrk", "-t1", "-c4", "-d2s", url});
  ASSERT_EQ(wrk.status, 0) << wrk.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(wrk.out, m, std::regex(R"((\d+) requests in)"))) << wrk.out;
  const std::size_t requests = std::stoul(m[1]);
  ASSERT_EQ(wrk.out.find("Non-2xx"), std::string::npos) << wrk.out;
  ASSERT_EQ(wrk.out.find("Socket errors"), std::string::npos) << wrk.out;
  ASSERT_GT(requests, 1000u) << wrk.out;
  // Read now: right after the fork, the worker has not retitled itself "nginx: worker process" yet.
  const ProcessFacts worker = process_facts(*workers.begin());

  const std::size_t tolerance = requests / 100;
  EXPECT_TRUE(agent.wait_for_spans(requests - tolerance, Millis(10000)))
      << "spans so far: " << agent.spans().size() << " of " << requests;
  const TimeWindow window{window_start.begin_ns, unix_now_ns()};
  const auto spans = agent.stop();

  // wrk counts the responses it read before its deadline; requests in flight then can be spans too.
  EXPECT_GE(spans.size() + tolerance, requests) << "wrk: " << requests << " requests; " << agent.log();
  EXPECT_LE(spans.size(), requests + tolerance) << "wrk: " << requests << " requests; " << agent.log();

  expect_well_formed(spans, window, {worker.pid});
  std::map<std::string, std::size_t> kinds, names_seen, statuses, codes, body_sizes, services, executables;
  std::set<std::int64_t> client_ports;
  for (const auto& s : spans) {
    ++kinds[s.value("kind", "")];
    ++names_seen[s.value("name", "")];
    ++statuses[attr(s, "http.response.status_code").dump()];
    ++codes[s["status"].value("code", "")];
    ++body_sizes[attr(s, "http.response.body.size").dump()];
    ++services[res(s, "service.name").dump()];
    ++executables[res(s, "process.executable.name").dump()];
    if (attr(s, "client.port").is_number_integer()) client_ports.insert(attr(s, "client.port").get<std::int64_t>());
  }
  const std::size_t n = spans.size();
  using Counts = std::map<std::string, std::size_t>;
  EXPECT_EQ(kinds, (Counts{{"SERVER", n}}));
  EXPECT_EQ(names_seen, (Counts{{"GET /index.html", n}}));
  EXPECT_EQ(statuses, (Counts{{"200", n}}));
  EXPECT_EQ(codes, (Counts{{"UNSET", n}}));
  EXPECT_EQ(body_sizes, (Counts{{std::to_string(page.size()), n}}));
  EXPECT_EQ(services, (Counts{{"\"nginx\"", n}}));
  EXPECT_EQ(executables, (Counts{{"\"" + worker.exe_name + "\"", n}}));
  EXPECT_EQ(client_ports.size(), 4u) << "wrk -c4 keeps four connections open";
  if (!spans.empty()) {
    EXPECT_EQ(attr(spans.front(), "server.port"), port);
    EXPECT_EQ(attr(spans.front(), "url.path"), "/index.html");
    EXPECT_EQ(res(spans.front(), "process.command_line"), worker.command_line);
  }

  const auto stats = agent.stats();
  ASSERT_TRUE(stats) << agent.log();
  EXPECT_EQ(stats->spans, spans.size());
  EXPECT_EQ(stats->parse_errors, 0u);
}

}  // namespace
}  // namespace zt::e2e
