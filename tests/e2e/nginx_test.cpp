// nginx (master and one worker, tests/workloads/nginx.conf.in) attached through the master pid: the
// worker's spans account for every request wrk made, and workers forked later are traced too.
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>

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

// nginx from tests/workloads/nginx.conf.in, serving `page` as /index.html on a free loopback port.
class Nginx {
 public:
  explicit Nginx(const std::string& page) : port_(free_port()), process_(start(dir_, port_, page)) {
    if (!wait_for_port(port_)) throw std::runtime_error("nginx does not listen: " + process_.output(Stream::Err));
  }

  pid_t master() const { return process_.pid(); }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::uint16_t port() const { return port_; }

  // The workers once there are `count` of them, none in `exclude`, each retitled "nginx: worker
  // process" (right after the fork a worker still has the master's command line).
  std::set<pid_t> wait_for_workers(std::size_t count, const std::set<pid_t>& exclude = {}) const {
    std::set<pid_t> workers;
    const bool ready = poll_until(
        [&] {
          workers = process_tree(master());
          workers.erase(master());
          if (workers.size() != count) return false;
          for (pid_t w : workers) {
            if (exclude.count(w) || process_facts(w).command_line != "nginx: worker process") return false;
          }
          return true;
        },
        kReadyTimeout);
    if (!ready) throw std::runtime_error("nginx did not get its " + std::to_string(count) + " new worker(s) ready");
    return workers;
  }

 private:
  static std::vector<std::string> start(const TempDir& dir, std::uint16_t port, const std::string& page) {
    // The workers run as an unprivileged user: they must be able to read the files.
    chmod(dir.path().c_str(), 0755);
    std::filesystem::create_directory(dir / "www");
    std::ofstream(dir / "www" / "index.html") << page;
    const std::string config =
        replace_all(replace_all(read_text(workload("nginx.conf.in")), "@DIR@", dir.path().string()), "@PORT@",
                    std::to_string(port));
    std::ofstream(dir / "nginx.conf") << config;
    return {"/usr/sbin/nginx", "-p", dir.path().string(), "-e", (dir / "error.log").string(), "-c",
            (dir / "nginx.conf").string()};
  }

  TempDir dir_;
  std::uint16_t port_;
  Subprocess process_;
};

TEST(Nginx, EveryWrkRequestIsOneServerSpan) {
  ZT_REQUIRE_ROOT();
  std::string page = "<!doctype html>\n<title>zerotrace e2e</title>\n";
  while (page.size() < 600) page += "<p>static content served by nginx</p>\n";
  Nginx nginx(page);
  const std::set<pid_t> workers = nginx.wait_for_workers(1);
  const ProcessFacts worker = process_facts(*workers.begin());

  // Attached through the master: the worker, its child, is traced too.
  Agent agent = Agent::attach({nginx.master()});
  EXPECT_NE(agent.log().find("tracing pid " + std::to_string(nginx.master()) + " and 1 child processes"),
            std::string::npos)
      << agent.log();

  const TimeWindow window_start{unix_now_ns()};
  const auto wrk = run_to_completion({"wrk", "-t1", "-c4", "-d2s", nginx.url("/index.html")});
  ASSERT_EQ(wrk.status, 0) << wrk.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(wrk.out, m, std::regex(R"((\d+) requests in)"))) << wrk.out;
  const std::size_t requests = std::stoul(m[1]);
  ASSERT_EQ(wrk.out.find("Non-2xx"), std::string::npos) << wrk.out;
  ASSERT_EQ(wrk.out.find("Socket errors"), std::string::npos) << wrk.out;
  ASSERT_GT(requests, 1000u) << wrk.out;

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
    EXPECT_EQ(attr(spans.front(), "server.port"), nginx.port());
    EXPECT_EQ(attr(spans.front(), "url.path"), "/index.html");
    EXPECT_EQ(res(spans.front(), "process.command_line"), worker.command_line);
  }

  const auto stats = agent.stats();
  ASSERT_TRUE(stats) << agent.log();
  EXPECT_EQ(stats->get("pipeline.spans"), spans.size());
  EXPECT_EQ(stats->get("pipeline.parse_errors"), 0u);
}

TEST(Nginx, WorkersForkedAfterAttachAreTracedUnderTheirOwnIdentity) {
  ZT_REQUIRE_ROOT();
  Nginx nginx("<html>reloaded</html>\n");
  const std::set<pid_t> old_workers = nginx.wait_for_workers(1);
  const ProcessFacts old_worker = process_facts(*old_workers.begin());
  Agent agent = Agent::attach({nginx.master()});

  const TimeWindow window_start{unix_now_ns()};
  ASSERT_EQ(run_to_completion({"curl", "-s", "-o", "/dev/null", nginx.url("/index.html?before")}).status, 0);
  // A reload: the master forks new workers, which retitle themselves; the old worker exits.
  kill(nginx.master(), SIGHUP);
  const std::set<pid_t> new_workers = nginx.wait_for_workers(1, old_workers);
  const ProcessFacts new_worker = process_facts(*new_workers.begin());
  ASSERT_EQ(run_to_completion({"curl", "-s", nginx.url("/index.html?after=1"), "-o", "/dev/null",
                               nginx.url("/index.html?after=2"), "-o", "/dev/null"})
                .status,
            0);

  EXPECT_TRUE(agent.wait_for_spans(3)) << "spans so far: " << agent.spans().size();
  const TimeWindow window{window_start.begin_ns, unix_now_ns()};
  const auto spans = sorted_by_start(agent.stop());
  expect_well_formed(spans, window, {old_worker.pid, new_worker.pid});
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(attr(spans[0], "url.query"), "before");
  EXPECT_EQ(attr(spans[1], "url.query"), "after=1");
  EXPECT_EQ(attr(spans[2], "url.query"), "after=2");
  expect_resource(spans[0], old_worker, "nginx");
  expect_resource(spans[1], new_worker, "nginx");
  expect_resource(spans[2], new_worker, "nginx");
}

}  // namespace
}  // namespace zt::e2e
