// TLS: the plaintext of OpenSSL calls (bpf/tls.bpf.c) becomes the same spans as the plaintext
// protocol would give, with url.scheme https. Real peers: python's ssl (SSL_read_ex/SSL_write_ex,
// socket BIO), curl (SSL_read/SSL_write, its own BIO), nginx (forked worker), openssl s_server,
// nghttpd and nghttp (HTTP/2 over TLS). Certificates are made per test by `openssl req`.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

// A self-signed certificate for 127.0.0.1 and localhost, made by Debian's openssl.
struct Certificate {
  TempDir dir;
  std::string cert = (dir / "cert.pem").string();
  std::string key = (dir / "key.pem").string();

  Certificate() {
    const auto made =
        run_to_completion({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                           "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext",
                           "subjectAltName=DNS:localhost,IP:127.0.0.1"});
    if (made.status != 0) throw std::runtime_error("openssl req failed: " + made.err);
    // nginx's workers run unprivileged and read the files.
    chmod(dir.path().c_str(), 0755);
    chmod(key.c_str(), 0644);
  }
};

std::vector<std::string> https_python(const Certificate& c) {
  return {python3(), workload("http_server.py"), "--tls", c.cert, c.key};
}

std::string https_url(std::uint16_t port, std::string_view path) {
  return "https://127.0.0.1:" + std::to_string(port) + std::string(path);
}

std::vector<Json> by_path(const std::vector<Json>& spans, const std::string& path) {
  std::vector<Json> out;
  for (const auto& s : spans) {
    if (attr(s, "url.path") == path) out.push_back(s);
  }
  return out;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

// The keep-alive client (tests/workloads/keepalive_client.py) over TLS: phase 1, a line on stdin,
// phase 2; one connection throughout.
std::vector<std::string> tls_client(const Certificate& c, std::uint16_t port, const std::vector<std::string>& phase1,
                                    const std::vector<std::string>& phase2, int read_size = 0) {
  std::vector<std::string> argv{python3(), workload("keepalive_client.py"), "--tls", c.cert};
  if (read_size) argv.insert(argv.end(), {"--read-size", std::to_string(read_size)});
  argv.insert(argv.end(), {std::to_string(port), join(phase1), join(phase2)});
  return argv;
}

// The attributes a user compares between an HTTP and an HTTPS server span of the same request.
void expect_same_request(const Json& plain, const Json& tls) {
  EXPECT_EQ(tls["name"], plain["name"]);
  EXPECT_EQ(tls["kind"], plain["kind"]);
  EXPECT_EQ(tls["status"]["code"], plain["status"]["code"]);
  for (const char* key : {"http.request.method", "url.path", "http.route", "http.response.status_code",
                          "http.response.body.size", "network.protocol.version", "user_agent.original"}) {
    EXPECT_EQ(attr(tls, key), attr(plain, key)) << key;
  }
  EXPECT_EQ(attr(plain, "url.scheme"), "http");
  EXPECT_EQ(attr(tls, "url.scheme"), "https");
  EXPECT_EQ(attr(tls, "tls.protocol.name"), "tls");
  EXPECT_TRUE(attr(plain, "tls.protocol.name").is_null());
}

TEST(Tls, PythonHttpsServerGivesTheSpansOfItsPlaintextTwin) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  ReadyServer plain(ReadyServer::python());
  ReadyServer tls(https_python(cert));
  Agent agent = Agent::attach({plain.pid(), tls.pid()});
  const TimeWindow start{unix_now_ns()};
  const std::vector<std::string> paths{"/users/7", "/chunked", "/bytes/30000", "/error", "/nothing"};

  Subprocess plain_client(
      {python3(), workload("keepalive_client.py"), std::to_string(plain.port()), join(paths), "/users/1"},
      {.env = {}, .stdin_pipe = true});
  Subprocess tls_client_process(tls_client(cert, tls.port(), paths, {"/users/1"}), {.env = {}, .stdin_pipe = true});
  for (Subprocess* c : {&plain_client, &tls_client_process}) {
    ASSERT_TRUE(c->wait_for_line(Stream::Out, "PHASE1 DONE")) << c->output(Stream::Err);
    c->write_stdin("\n");
    ASSERT_TRUE(c->wait_for_line(Stream::Out, "PHASE2 DONE")) << c->output(Stream::Err);
  }
  const auto tls_results = parse_client_results(tls_client_process.output(Stream::Out));
  ASSERT_EQ(tls_results.size(), paths.size() + 1);
  EXPECT_EQ(tls_results[2].body_size, 30000);

  ASSERT_TRUE(agent.wait_for_spans(2 * (paths.size() + 1))) << agent.log();
  const auto spans = agent.stop();
  expect_well_formed(spans, {start.begin_ns, unix_now_ns()}, {plain.pid(), tls.pid()});
  std::vector<Json> plain_spans, tls_spans;
  for (const auto& s : spans) {
    (res(s, "process.pid") == tls.pid() ? tls_spans : plain_spans).push_back(s);
  }
  ASSERT_EQ(tls_spans.size(), paths.size() + 1) << agent.log();
  ASSERT_EQ(plain_spans.size(), paths.size() + 1);
  for (const auto& path : paths) {
    SCOPED_TRACE(path);
    const auto p = by_path(plain_spans, path);
    const auto t = by_path(tls_spans, path);
    ASSERT_EQ(p.size(), 1u);
    ASSERT_EQ(t.size(), 1u);
    expect_same_request(p[0], t[0]);
    EXPECT_EQ(attr(t[0], "server.port"), tls.port());
    EXPECT_EQ(attr(t[0], "client.port"), tls_results[0].local_port);
  }
  const auto stats = agent.stats();
  ASSERT_TRUE(stats);
  EXPECT_GE(stats->get("probes.tls.files_probed"), 1u);
  EXPECT_GE(stats->get("kernel.tls_bound_syscall"), 2 * (paths.size() + 1));
  EXPECT_EQ(stats->get("kernel.tls_mismatch"), 0u);
  EXPECT_EQ(stats->get("tls.plaintext_streams"), 1u);
}

TEST(Tls, CurlUnderExecGivesClientSpansFromItsFirstRequest) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  ReadyServer server(https_python(cert));
  // curl links libssl at start: the agent probes it before the command runs, or the first
  // request would be gone before the scan after exec.
  Agent agent = Agent::exec({"curl", "-sS", "--cacert", cert.cert, https_url(server.port(), "/users/1"), "-o",
                             "/dev/null", https_url(server.port(), "/nothing"), "-o", "/dev/null"});
  const auto spans = agent.wait_exit();
  ASSERT_EQ(agent.exit_status(), 0) << agent.log();
  const auto clients = of_kind(spans, "CLIENT");
  ASSERT_EQ(clients.size(), 2u) << agent.log();
  EXPECT_EQ(attr(clients[0], "url.full"), https_url(server.port(), "/users/1"));
  EXPECT_EQ(attr(clients[0], "http.response.status_code"), 200);
  EXPECT_EQ(attr(clients[1], "url.full"), https_url(server.port(), "/nothing"));
  EXPECT_EQ(attr(clients[1], "http.response.status_code"), 404);
  for (const auto& c : clients) {
    EXPECT_EQ(attr(c, "url.scheme"), "https");
    EXPECT_EQ(attr(c, "server.port"), server.port());
    EXPECT_EQ(attr(c, "tls.protocol.name"), "tls");
  }
  EXPECT_EQ(agent.stats()->get("pipeline.parse_errors"), 0u);
}

TEST(Tls, SmallReadsOfALargeResponseAreTiedByTheSslObject) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  ReadyServer server(https_python(cert));
  // 100-byte reads of a 64 KiB body: OpenSSL serves most of them from a record it already read,
  // with no syscall inside the call. (The client's stdin is the agent's, /dev/null: phase 2
  // follows phase 1 at once.)
  Agent agent = Agent::exec(tls_client(cert, server.port(), {"/bytes/65536", "/users/2"}, {"/users/3"}, 100));
  const auto spans = agent.wait_exit();
  const auto clients = of_kind(spans, "CLIENT");
  ASSERT_EQ(clients.size(), 3u) << agent.log();
  EXPECT_EQ(attr(clients[0], "url.path"), "/bytes/65536");
  EXPECT_EQ(attr(clients[0], "http.response.body.size"), 65536);
  EXPECT_EQ(attr(clients[0], "http.response.status_code"), 200);
  EXPECT_EQ(attr(clients[1], "url.path"), "/users/2");
  EXPECT_EQ(attr(clients[2], "url.path"), "/users/3");
  const auto stats = agent.stats();
  ASSERT_TRUE(stats);
  EXPECT_GT(stats->get("kernel.tls_bound_cache"), 100u) << "reads served from a buffered record";
  EXPECT_EQ(stats->get("kernel.tls_unbound"), 0u);
  EXPECT_EQ(stats->get("pipeline.parse_errors"), 0u);
}

TEST(Tls, ConnectionOpenedBeforeTheAttachIsPickedUpAtTheNextRequest) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  ReadyServer server(https_python(cert));
  Subprocess client(tls_client(cert, server.port(), {"/users/1"}, {"/users/2", "/users/3", "/users/4"}),
                    {.env = {}, .stdin_pipe = true});
  ASSERT_TRUE(client.wait_for_line(Stream::Out, "PHASE1 DONE")) << client.output(Stream::Err);
  // The server's handler thread now waits inside SSL_read_ex for the next request: that call
  // began before its probe existed, so its plaintext (/users/2) cannot be seen, and its response
  // alone must not become a span. The calls after it are seen.
  Agent agent = Agent::attach({server.pid()});
  client.write_stdin("go\n");
  ASSERT_TRUE(client.wait_for_line(Stream::Out, "PHASE2 DONE")) << client.output(Stream::Err);
  EXPECT_TRUE(agent.wait_for_spans(2)) << agent.log();
  const auto spans = sorted_by_start(agent.stop());
  ASSERT_EQ(spans.size(), 2u) << agent.log();
  EXPECT_EQ(attr(spans[0], "url.path"), "/users/3");
  EXPECT_EQ(attr(spans[1], "url.path"), "/users/4");
  for (const auto& s : spans) {
    EXPECT_EQ(s["kind"], "SERVER");
    EXPECT_EQ(attr(s, "url.scheme"), "https");
    EXPECT_EQ(attr(s, "http.response.status_code"), 200);
  }
}

TEST(Tls, NginxWorkerServesHttpsOnKeepAlive) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  TempDir dir;
  chmod(dir.path().c_str(), 0755);
  std::filesystem::create_directory(dir / "www");
  std::ofstream(dir / "www" / "index.html") << "<h1>tls</h1>\n";
  const std::uint16_t port = free_port();
  std::ofstream(dir / "nginx.conf") << "worker_processes 1;\ndaemon off;\npid " << (dir / "nginx.pid").string()
                                    << ";\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n"
                                    << "  server {\n    listen 127.0.0.1:" << port << " ssl;\n"
                                    << "    ssl_certificate " << cert.cert << ";\n    ssl_certificate_key " << cert.key
                                    << ";\n    root " << (dir / "www").string() << ";\n  }\n}\n";
  Subprocess nginx({"/usr/sbin/nginx", "-p", dir.path().string(), "-e", (dir / "error.log").string(), "-c",
                    (dir / "nginx.conf").string()});
  ASSERT_TRUE(wait_for_port(port)) << nginx.output(Stream::Err);
  Agent agent = Agent::attach({nginx.pid()});
  const auto curl = run_to_completion({"curl", "-sS", "--cacert", cert.cert, https_url(port, "/"), "-o", "/dev/null",
                                       https_url(port, "/index.html"), "-o", "/dev/null", https_url(port, "/missing"),
                                       "-o", "/dev/null"});
  ASSERT_EQ(curl.status, 0) << curl.err;
  ASSERT_TRUE(agent.wait_for_spans(3)) << agent.log();
  const auto spans = sorted_by_start(agent.stop());
  ASSERT_EQ(spans.size(), 3u);
  const std::vector<std::pair<std::string, int>> want{{"/", 200}, {"/index.html", 200}, {"/missing", 404}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(attr(spans[i], "url.path"), want[i].first);
    EXPECT_EQ(attr(spans[i], "http.response.status_code"), want[i].second);
    EXPECT_EQ(attr(spans[i], "url.scheme"), "https");
    EXPECT_NE(res(spans[i], "process.pid"), nginx.pid()) << "served by the worker, not the master";
  }
  // One keep-alive connection for the three requests.
  EXPECT_EQ(attr(spans[0], "client.port"), attr(spans[2], "client.port"));
}

TEST(Tls, OpensslSServerWwwGivesAServerSpan) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  const std::uint16_t port = free_port();
  Subprocess server({"openssl", "s_server", "-www", "-quiet", "-accept", "127.0.0.1:" + std::to_string(port), "-cert",
                     cert.cert, "-key", cert.key});
  ASSERT_TRUE(wait_for_port(port)) << server.output(Stream::Err);
  Agent agent = Agent::attach({server.pid()});
  const auto curl = run_to_completion({"curl", "-sS", "--cacert", cert.cert, https_url(port, "/stats")});
  ASSERT_EQ(curl.status, 0) << curl.err;
  ASSERT_TRUE(agent.wait_for_spans(1)) << agent.log();
  const auto spans = agent.stop();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0]["kind"], "SERVER");
  EXPECT_EQ(attr(spans[0], "http.request.method"), "GET");
  EXPECT_EQ(attr(spans[0], "url.path"), "/stats");
  EXPECT_EQ(attr(spans[0], "http.response.status_code"), 200);
  EXPECT_EQ(attr(spans[0], "url.scheme"), "https");
}

TEST(Tls, Http2OverTlsFromNghttpdToNghttpAndCurl) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  TempDir www;
  std::ofstream(www / "index.html") << "h2 over tls\n";
  const std::uint16_t port = free_port();
  Subprocess server(
      {"nghttpd", "-d", www.path().string(), "--address=127.0.0.1", std::to_string(port), cert.key, cert.cert});
  ASSERT_TRUE(wait_for_port(port)) << server.output(Stream::Err);
  Agent agent = Agent::attach({server.pid()});
  const auto nghttp = run_to_completion({"nghttp", "-n", https_url(port, "/index.html"), https_url(port, "/nope")});
  ASSERT_EQ(nghttp.status, 0) << nghttp.err;
  const auto curl =
      run_to_completion({"curl", "-sS", "--http2", "--cacert", cert.cert, https_url(port, "/index.html")});
  ASSERT_EQ(curl.status, 0) << curl.err;
  ASSERT_TRUE(agent.wait_for_spans(3)) << agent.log();
  const auto spans = sorted_by_start(agent.stop());
  ASSERT_EQ(spans.size(), 3u) << agent.log();
  const std::vector<std::pair<std::string, int>> want{{"/index.html", 200}, {"/nope", 404}, {"/index.html", 200}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(spans[i]["kind"], "SERVER");
    EXPECT_EQ(attr(spans[i], "url.path"), want[i].first);
    EXPECT_EQ(attr(spans[i], "http.response.status_code"), want[i].second);
    EXPECT_EQ(attr(spans[i], "network.protocol.version"), "2");
    EXPECT_EQ(attr(spans[i], "url.scheme"), "https");
  }
}

// The bytes of the executable mappings of `path` in `pid`, read through /proc/PID/mem.
std::map<std::uint64_t, std::string> text_of(pid_t pid, const std::string& library_suffix, std::string* file) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::map<std::uint64_t, std::string> out;
  std::string line;
  const int mem = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY);
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, path;
    in >> range >> perms >> offset >> dev >> inode >> path;
    if (perms.find('x') == std::string::npos || !path.ends_with(library_suffix)) continue;
    *file = path;
    const auto dash = range.find('-');
    const std::uint64_t begin = std::stoull(range.substr(0, dash), nullptr, 16);
    const std::uint64_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    std::string bytes(end - begin, '\0');
    if (::pread(mem, bytes.data(), bytes.size(), static_cast<off_t>(begin)) == static_cast<ssize_t>(bytes.size())) {
      out[std::stoull(offset, nullptr, 16)] = bytes;
    }
  }
  ::close(mem);
  return out;
}

std::string file_bytes(const std::string& path, std::uint64_t offset, std::size_t size) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  return bytes;
}

TEST(Tls, AnUntracedProcessMappingTheSameLibsslHasNoBreakpoints) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  ReadyServer traced(https_python(cert));
  ReadyServer untraced(https_python(cert));
  Agent agent = Agent::attach({traced.pid()});
  ASSERT_TRUE(poll_until([&] { return agent.log().find("TLS functions in") != std::string::npos; }, kReadyTimeout))
      << agent.log();
  std::string traced_file, untraced_file;
  const auto traced_text = text_of(traced.pid(), "/libssl.so.3", &traced_file);
  const auto untraced_text = text_of(untraced.pid(), "/libssl.so.3", &untraced_file);
  ASSERT_FALSE(traced_text.empty()) << "python's ssl module maps libssl.so.3";
  ASSERT_EQ(traced_file, untraced_file);
  std::size_t traced_differences = 0;
  for (const auto& [offset, bytes] : traced_text) {
    const std::string original = file_bytes(traced_file, offset, bytes.size());
    for (std::size_t i = 0; i < bytes.size(); ++i) traced_differences += bytes[i] != original[i];
  }
  // The traced process carries the breakpoints (one byte each), so the comparison can see them.
  EXPECT_GE(traced_differences, 2u);
  EXPECT_LE(traced_differences, 8u);
  for (const auto& [offset, bytes] : untraced_text) {
    EXPECT_EQ(bytes, file_bytes(untraced_file, offset, bytes.size()))
        << "untraced libssl text changed at file offset " << offset;
  }
  agent.stop();
}

}  // namespace
}  // namespace zt::e2e

namespace zt::e2e {
namespace {

// tests/workloads/chain_service.js over TLS: Node's OpenSSL is linked into the node binary and
// runs on memory BIOs, so no socket syscall happens inside a TLS call; the agent binds each SSL
// object to its socket by matching plaintext lengths with the socket's record lengths.
std::vector<std::string> node_service(const std::string& name, const std::vector<std::string>& extra) {
  std::vector<std::string> argv{"node", workload("chain_service.js"), "--name", name};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

TEST(Tls, NodeHttpsServerIsBoundByRecordLengths) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  ReadyServer server(node_service("leaf", {"--cert", cert.cert, "--key", cert.key}));
  Agent agent = Agent::attach({server.pid()});
  const auto curl = run_to_completion({"curl", "-sS", "--cacert", cert.cert, https_url(server.port(), "/work"), "-o",
                                       "/dev/null", https_url(server.port(), "/nothing"), "-o", "/dev/null",
                                       https_url(server.port(), "/work"), "-o", "/dev/null"});
  ASSERT_EQ(curl.status, 0) << curl.err;
  ASSERT_TRUE(agent.wait_for_spans(3)) << agent.log();
  const auto spans = sorted_by_start(agent.stop());
  ASSERT_EQ(spans.size(), 3u) << agent.log();
  const std::vector<std::pair<std::string, int>> want{{"/work", 200}, {"/nothing", 404}, {"/work", 200}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(spans[i]["kind"], "SERVER");
    EXPECT_EQ(attr(spans[i], "url.path"), want[i].first);
    EXPECT_EQ(attr(spans[i], "http.response.status_code"), want[i].second);
    EXPECT_EQ(attr(spans[i], "url.scheme"), "https");
    EXPECT_EQ(attr(spans[i], "server.port"), server.port());
    EXPECT_EQ(attr(spans[i], "tls.protocol.version"), "1.3");
    EXPECT_EQ(attr(spans[i], "zerotrace.tls.bound_by"), "record_length");
  }
  const auto stats = agent.stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->get("kernel.tls_bound_syscall"), 0u) << "node's TLS makes no socket syscall inside a TLS call";
  EXPECT_EQ(stats->get("tls.bound_by_length"), 1u);
  EXPECT_EQ(stats->get("tls.length_contradictions"), 0u);
}

// The shape OBI #2998 got wrong: one Node thread serves plain HTTP inbound and calls an HTTPS
// upstream for each request. The upstream's plaintext must land on the upstream's socket (a
// CLIENT span to the upstream's port, child of the inbound SERVER span), never on the inbound one.
TEST(Tls, NodeServiceCallingAnHttpsUpstreamKeepsTheConnectionsApart) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  ReadyServer upstream(node_service("upstream", {"--cert", cert.cert, "--key", cert.key}));
  ReadyServer front(node_service("front", {"--next", https_url(upstream.port(), ""), "--ca", cert.cert}));
  Agent agent = Agent::attach({front.pid()});
  for (int i = 0; i < 3; ++i) {
    const auto curl = run_to_completion({"curl", "-sS", "http://127.0.0.1:" + std::to_string(front.port()) + "/work"});
    ASSERT_EQ(curl.status, 0) << curl.err;
    ASSERT_EQ(curl.out, "front > upstream");
  }
  ASSERT_TRUE(agent.wait_for_spans(6)) << agent.log();
  const auto spans = agent.stop();
  const auto servers = of_kind(spans, "SERVER");
  const auto clients = of_kind(spans, "CLIENT");
  ASSERT_EQ(servers.size(), 3u) << agent.log();
  ASSERT_EQ(clients.size(), 3u) << agent.log();
  std::set<std::string> server_ids;
  for (const auto& s : servers) {
    EXPECT_EQ(attr(s, "url.scheme"), "http");
    EXPECT_EQ(attr(s, "server.port"), front.port());
    EXPECT_TRUE(attr(s, "tls.protocol.name").is_null());
    server_ids.insert(s["span_id"].get<std::string>());
  }
  for (const auto& c : clients) {
    EXPECT_EQ(attr(c, "url.full"), https_url(upstream.port(), "/work"));
    EXPECT_EQ(attr(c, "server.port"), upstream.port());
    EXPECT_EQ(attr(c, "http.response.status_code"), 200);
    EXPECT_EQ(attr(c, "zerotrace.tls.bound_by"), "record_length");
    EXPECT_TRUE(server_ids.contains(c.value("parent_span_id", ""))) << "the call is the inbound request's child";
  }
}

TEST(Tls, PythonAsyncioClientIsBoundByRecordLengths) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  ReadyServer server(https_python(cert));
  // asyncio's SSL transport runs OpenSSL over memory BIOs (SSLObject): no syscall inside a call.
  const std::string script =
      "import asyncio, ssl, sys\n"
      "async def main(port, ca):\n"
      "    ctx = ssl.create_default_context(cafile=ca)\n"
      "    reader, writer = await asyncio.open_connection('127.0.0.1', port, ssl=ctx)\n"
      "    for path in ('/users/1', '/users/2', '/nothing'):\n"
      "        writer.write(f'GET {path} HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n'.encode())\n"
      "        await writer.drain()\n"
      "        head = await reader.readuntil(b'\\r\\n\\r\\n')\n"
      "        length = int([l for l in head.split(b'\\r\\n') if "
      "l.lower().startswith(b'content-length')][0].split(b':')[1])\n"
      "        await reader.readexactly(length)\n"
      "        print(head.split(b' ')[1].decode(), path, flush=True)\n"
      "    writer.close()\n"
      "    await writer.wait_closed()\n"
      "asyncio.run(main(int(sys.argv[1]), sys.argv[2]))\n";
  Agent agent = Agent::exec({python3(), "-c", script, std::to_string(server.port()), cert.cert});
  const auto spans = agent.wait_exit();
  ASSERT_EQ(agent.exit_status(), 0) << agent.log();
  const auto clients = sorted_by_start(of_kind(spans, "CLIENT"));
  ASSERT_EQ(clients.size(), 3u) << agent.log();
  const std::vector<std::pair<std::string, int>> want{{"/users/1", 200}, {"/users/2", 200}, {"/nothing", 404}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(attr(clients[i], "url.full"), https_url(server.port(), want[i].first));
    EXPECT_EQ(attr(clients[i], "http.response.status_code"), want[i].second);
    EXPECT_EQ(attr(clients[i], "zerotrace.tls.bound_by"), "record_length");
  }
}

}  // namespace
}  // namespace zt::e2e

namespace zt::e2e {
namespace {

// `zerotrace check` shows where TLS would be probed on this host, and why; a traced process's
// counters say which kind of site it got.
TEST(Tls, CheckShowsTheProbeSitesAndTheAgentCountsThem) {
  ZT_REQUIRE_ROOT();
  const auto check = run_to_completion({agent_binary(), "check"});
  ASSERT_EQ(check.status, 0) << check.err;
  const auto at = check.out.find("/libssl.so.3\n");
  ASSERT_NE(at, std::string::npos) << check.out;
  // Debian's libssl3: the exported read/write wrappers start with a single-stepped `sub`, the
  // internal functions they call with an emulated `push`.
  EXPECT_NE(check.out.find("ssl_read_internal (via SSL_read, SSL_read_ex) at file offset", at), std::string::npos)
      << check.out;
  EXPECT_NE(check.out.find("ssl_write_internal (via SSL_write, SSL_write_ex) at file offset", at), std::string::npos);
  EXPECT_NE(check.out.find("emulated, entry and return", at), std::string::npos);

  const Certificate cert;
  ReadyServer server(https_python(cert));
  Agent agent = Agent::attach({server.pid()});
  const auto curl = run_to_completion({"curl", "-sS", "--cacert", cert.cert, https_url(server.port(), "/users/1")});
  ASSERT_EQ(curl.status, 0) << curl.err;
  ASSERT_TRUE(agent.wait_for_spans(1)) << agent.log();
  agent.stop();
  const auto stats = agent.stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->get("tls.sites_internal"), 2u);
  EXPECT_EQ(stats->get("tls.sites_exported"), 0u);
  EXPECT_EQ(stats->get("tls.sites_emulated"), 2u);
  EXPECT_EQ(stats->get("tls.sites_single_stepped"), 0u);

  // With `internal_sites: false` the exported entries are probed, and counted by their cost:
  // Debian's SSL_read/SSL_write start with a single-stepped `sub`.
  TempDir dir;
  std::ofstream(dir / "zerotrace.yaml") << "select:\n  - pid: " << server.pid() << "\ntls:\n  internal_sites: false\n";
  // Selected by a rule, the server is probed at the scan after "tracing pid": wait for it.
  Agent exported = Agent::run(dir / "zerotrace.yaml",
                              std::regex("pid " + std::to_string(server.pid()) + ": probing [0-9]+ TLS functions"));
  ASSERT_EQ(run_to_completion({"curl", "-sS", "--cacert", cert.cert, https_url(server.port(), "/users/2")}).status, 0);
  ASSERT_TRUE(exported.wait_for_spans(1)) << exported.log();
  exported.stop();
  const auto counted = exported.stats();
  ASSERT_TRUE(counted);
  EXPECT_EQ(counted->get("tls.sites_internal"), 0u);
  EXPECT_GE(counted->get("tls.sites_exported"), 4u) << "SSL_read, SSL_read_ex, SSL_write, SSL_write_ex";
  EXPECT_GE(counted->get("tls.sites_single_stepped"), 2u);
  EXPECT_EQ(counted->get("tls.sites_emulated") + counted->get("tls.sites_single_stepped"),
            counted->get("tls.sites_exported"))
      << "every exported x86-64 entry has a known cost";
}

}  // namespace
}  // namespace zt::e2e

namespace zt::e2e {
namespace {

// In node mode TLS probes go only into processes that use sockets: a process that has loaded
// libssl but holds no socket is left alone until its first connection.
TEST(Tls, AProcessWithoutSocketsIsProbedAtItsFirstConnection) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  ReadyServer server(https_python(cert));
  const std::string script =
      "import http.client, ssl, sys\n"
      "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
      "print('LOADED', flush=True)\n"
      "sys.stdin.readline()\n"
      "conn = http.client.HTTPSConnection('127.0.0.1', int(sys.argv[1]), context=ctx)\n"
      "conn.connect()\n"
      "print('CONNECTED', flush=True)\n"
      "sys.stdin.readline()\n"
      "conn.request('GET', '/users/5')\n"
      "r = conn.getresponse()\n"
      "r.read()\n"
      "print('DONE', r.status, flush=True)\n";
  Subprocess client({python3(), "-c", script, std::to_string(server.port()), cert.cert},
                    {.env = {}, .stdin_pipe = true});
  ASSERT_TRUE(client.wait_for_line(Stream::Out, "LOADED")) << client.output(Stream::Err);
  TempDir dir;
  std::ofstream(dir / "zerotrace.yaml") << "select:\n  - pid: " << client.pid() << "\n";
  Agent agent = Agent::run(dir / "zerotrace.yaml", std::regex("tracing pid " + std::to_string(client.pid())),
                           {"--stats-interval", "0.1"});
  ASSERT_TRUE(agent.wait_for_stat("probes.deferred", 1)) << agent.log();
  EXPECT_EQ(agent.stats()->get("probes.tls.functions_attached"), 0u) << "no socket yet: no probe";

  client.write_stdin("connect\n");
  ASSERT_TRUE(client.wait_for_line(Stream::Out, "CONNECTED")) << client.output(Stream::Err);
  ASSERT_TRUE(agent.wait_for_stat("probes.tls.functions_attached", 2)) << agent.log();
  client.write_stdin("request\n");
  ASSERT_TRUE(client.wait_for_line(Stream::Out, "DONE 200")) << client.output(Stream::Err);
  ASSERT_TRUE(agent.wait_for_spans(1)) << agent.log();
  const auto spans = agent.stop();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0]["kind"], "CLIENT");
  EXPECT_EQ(attr(spans[0], "url.full"), https_url(server.port(), "/users/5"));
  EXPECT_EQ(attr(spans[0], "http.response.status_code"), 200);
}

}  // namespace
}  // namespace zt::e2e

namespace zt::e2e {
namespace {

std::vector<Json> of_process(const std::vector<Json>& spans, pid_t pid, const std::string& kind) {
  std::vector<Json> out;
  for (const auto& s : spans) {
    if (res(s, "process.pid") == pid && s["kind"] == kind) out.push_back(s);
  }
  return sorted_by_start(out);
}

// gRPC C++ (Debian's libgrpc++ over libssl.so.3) runs TLS through a BIO pair: no socket syscall
// inside SSL_read/SSL_write, so both ends are bound by record lengths. Same calls, same spans as
// the h2c test of http2_test.cpp.
TEST(Tls, GrpcCppOverTlsGivesTheRpcSpansOfBothEnds) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  const std::uint16_t port = free_port();
  Subprocess server({ZT_GRPC_PEER, "server", std::to_string(port), cert.cert, cert.key});
  ASSERT_TRUE(wait_for_port(port)) << server.output(Stream::Err);
  // Loaded first, then waiting for a line: the agent probes its libssl before its first call (an
  // exec after the attach would race the scan that follows it).
  Subprocess client({ZT_GRPC_PEER, "client-after-line", std::to_string(port), cert.cert},
                    {.env = {}, .stdin_pipe = true});
  ASSERT_TRUE(client.wait_for_line(Stream::Out, "ready")) << client.output(Stream::Err);
  Agent agent = Agent::attach({server.pid(), client.pid()});
  client.write_stdin("go\n");
  ASSERT_EQ(client.wait(), 0) << client.output(Stream::Err);
  ASSERT_TRUE(agent.wait_for_spans(10)) << agent.log();
  const auto spans = agent.stop();
  const auto servers = of_process(spans, server.pid(), "SERVER");
  const auto clients = of_process(spans, client.pid(), "CLIENT");
  ASSERT_EQ(servers.size(), 5u) << Json(spans).dump(1);
  ASSERT_EQ(clients.size(), 5u) << Json(spans).dump(1);
  const std::vector<std::string> expected{"zerotrace.fixture.Orders/Get", "zerotrace.fixture.Orders/Get",
                                          "zerotrace.fixture.Orders/List", "zerotrace.fixture.Orders/Upload",
                                          "zerotrace.fixture.Orders/Get"};
  EXPECT_EQ(names(servers), expected);
  EXPECT_EQ(names(clients), expected);
  for (const auto& s : servers) {
    EXPECT_EQ(attr(s, "rpc.system"), "grpc");
    EXPECT_EQ(attr(s, "server.port"), port);
    EXPECT_EQ(attr(s, "tls.protocol.name"), "tls");
    EXPECT_EQ(attr(s, "zerotrace.tls.bound_by"), "record_length");
  }
  EXPECT_EQ(attr(servers[1], "rpc.grpc.status_code"), 5);
  EXPECT_EQ(attr(clients[1], "rpc.grpc.status_code"), 5);
  // The client sent a traceparent in the first call's metadata: the server's span continues it.
  EXPECT_EQ(clients[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(servers[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
}

// @grpc/grpc-js over TLS (Node's OpenSSL, memory BIOs) calling the libgrpc++ server over TLS, behind
// an HTTP/1.1 front end: one trace per request, HTTP/1 SERVER -> gRPC CLIENT -> gRPC SERVER.
TEST(Tls, GrpcJsOverTlsFromAnHttpFrontEndIsOneTrace) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  const std::uint16_t grpc_port = free_port();
  Subprocess backend({ZT_GRPC_PEER, "server", std::to_string(grpc_port), cert.cert, cert.key});
  ASSERT_TRUE(wait_for_port(grpc_port)) << backend.output(Stream::Err);
  Subprocess front({"node", workload("grpc_front.js"), "--backend", "127.0.0.1:" + std::to_string(grpc_port),
                    "--backend-ca", cert.cert});
  const auto ready = front.wait_for_line(Stream::Out, std::regex("^READY [0-9]+"));
  ASSERT_TRUE(ready) << front.output(Stream::Err);
  const std::string front_url = "http://127.0.0.1:" + ready->substr(6);
  Agent agent = Agent::attach({front.pid(), backend.pid()});
  for (const auto& [id, status] : std::vector<std::pair<int, std::string>>{{7, "200"}, {404, "404"}, {8, "200"}}) {
    const auto r = run_to_completion(
        {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", front_url + "/order/" + std::to_string(id)});
    ASSERT_EQ(r.out, status) << r.err;
  }
  ASSERT_TRUE(agent.wait_for_spans(9)) << agent.log();
  const auto spans = agent.stop();
  const auto front_servers = of_process(spans, front.pid(), "SERVER");
  const auto front_clients = of_process(spans, front.pid(), "CLIENT");
  const auto backend_servers = of_process(spans, backend.pid(), "SERVER");
  ASSERT_EQ(front_servers.size(), 3u) << Json(spans).dump(1);
  ASSERT_EQ(front_clients.size(), 3u) << Json(spans).dump(1);
  ASSERT_EQ(backend_servers.size(), 3u) << Json(spans).dump(1);
  for (std::size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(front_servers[i]["name"], "GET /order/{id}");
    EXPECT_EQ(front_clients[i]["name"], "zerotrace.fixture.Orders/Get");
    EXPECT_EQ(backend_servers[i]["name"], "zerotrace.fixture.Orders/Get");
    EXPECT_EQ(attr(front_clients[i], "server.port"), grpc_port);
    EXPECT_EQ(front_clients[i]["parent_span_id"], front_servers[i]["span_id"]);
    EXPECT_EQ(backend_servers[i]["parent_span_id"], front_clients[i]["span_id"]);
    EXPECT_EQ(backend_servers[i]["trace_id"], front_servers[i]["trace_id"]);
  }
}

}  // namespace
}  // namespace zt::e2e

namespace zt::e2e {
namespace {

// Java's TLS (JSSE) is not OpenSSL: the agent sees a TLS socket whose plaintext it cannot read.
// It must say so (counted) and make nothing of the ciphertext.
TEST(Tls, JavaHttpsServerIsCountedAsUnreadableOrGivesHandshakeSpansWhenAsked) {
  ZT_REQUIRE_ROOT();
  TempDir dir;
  const std::string keystore = (dir / "ks.p12").string();
  const auto made = run_to_completion({"keytool", "-genkeypair", "-keyalg", "EC", "-alias", "k", "-keystore", keystore,
                                       "-storetype", "PKCS12", "-storepass", "changeit", "-dname", "CN=localhost",
                                       "-ext", "SAN=ip:127.0.0.1", "-validity", "2"});
  ASSERT_EQ(made.status, 0) << made.err;
  ReadyServer server({"java", workload("HttpsEcho.java"), keystore, "changeit"});
  Agent agent = Agent::attach({server.pid()}, {"--stats-interval", "0.1"});
  for (const char* path : {"/a", "/b"}) {
    const auto curl = run_to_completion({"curl", "-sSk", https_url(server.port(), path)});
    ASSERT_EQ(curl.status, 0) << curl.err;
    EXPECT_EQ(curl.out, std::string("java ") + path);
  }
  ASSERT_TRUE(agent.wait_for_stat("tls.without_plaintext", 2)) << agent.log();
  const auto spans = agent.stop();
  EXPECT_TRUE(spans.empty()) << Json(spans).dump(1);
  const auto stats = agent.stats();
  EXPECT_EQ(stats->get("tls.connections"), 2u);
  EXPECT_EQ(stats->get("tls.plaintext_streams"), 0u);
  EXPECT_EQ(stats->get("pipeline.parse_errors"), 0u);

  // With tls.handshake_spans (a config file given to attach), each connection gives one span with
  // what its handshake showed, and nothing from its ciphertext.
  std::ofstream(dir / "zerotrace.yaml") << "tls:\n  handshake_spans: true\n";
  Agent with_spans = Agent::attach({server.pid()}, {"--config", (dir / "zerotrace.yaml").string()});
  for (const char* path : {"/c", "/d"}) {
    ASSERT_EQ(run_to_completion({"curl", "-sSk", https_url(server.port(), path)}).status, 0);
  }
  ASSERT_TRUE(with_spans.wait_for_spans(2)) << with_spans.log();
  const auto handshakes = with_spans.stop();
  ASSERT_EQ(handshakes.size(), 2u) << Json(handshakes).dump(1);
  for (const auto& s : handshakes) {
    EXPECT_EQ(s["name"], "TLS") << "curl sends no server name for an address";
    EXPECT_EQ(s["kind"], "SERVER");
    EXPECT_EQ(attr(s, "tls.protocol.name"), "tls");
    EXPECT_EQ(attr(s, "tls.protocol.version"), "1.3");
    EXPECT_TRUE(attr(s, "tls.cipher").is_string() && !attr(s, "tls.cipher").get<std::string>().empty());
    EXPECT_EQ(attr(s, "zerotrace.tls.plaintext_seen"), false);
    EXPECT_EQ(attr(s, "server.port"), server.port());
    EXPECT_TRUE(attr(s, "url.path").is_null()) << "no request is guessed from ciphertext";
    EXPECT_EQ(res(s, "process.pid"), server.pid());
  }
  EXPECT_EQ(with_spans.stats()->get("tls.handshake_spans"), 2u);
}

// A process whose seccomp filter kills it on the uretprobe syscall keeps running while traced:
// this kernel lets the return of a uretprobe pass seccomp.
TEST(Tls, AProcessUnderASeccompFilterKeepsRunning) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  ReadyServer server({python3(), workload("seccomp_https_server.py"), cert.cert, cert.key});
  Agent agent = Agent::attach({server.pid()});
  for (int i = 0; i < 3; ++i) {
    const auto curl = run_to_completion({"curl", "-sS", "--cacert", cert.cert, https_url(server.port(), "/users/9")});
    ASSERT_EQ(curl.status, 0) << curl.err << server.process().output(Stream::Err);
  }
  ASSERT_TRUE(agent.wait_for_spans(3)) << agent.log();
  EXPECT_TRUE(server.process().running()) << server.process().output(Stream::Err);
  const auto spans = agent.stop();
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(attr(spans[0], "url.scheme"), "https");
}

}  // namespace
}  // namespace zt::e2e

namespace zt::e2e {
namespace {

// Node mode with no selection traces every process but the agent: the agent's own OTLP exports
// over TLS (libcurl on libssl.so.3) are never probed nor turned into spans.
TEST(Tls, TheAgentsOwnTlsExportsAreNeverTraced) {
  ZT_REQUIRE_ROOT();
  const Certificate cert;
  Subprocess sink({python3(), workload("https_sink.py"), cert.cert, cert.key});
  const auto ready = sink.wait_for_line(Stream::Out, std::regex("^READY [0-9]+"));
  ASSERT_TRUE(ready) << sink.output(Stream::Err);
  const std::string port = ready->substr(6);
  TempDir dir;
  std::ofstream(dir / "zerotrace.yaml") << "otlp:\n  endpoint: https://127.0.0.1:" << port
                                        << "\n  protocol: http/protobuf\n  certificate: " << cert.cert
                                        << "\n  batch:\n    schedule_delay: 100\n";
  Agent agent = Agent::run(dir / "zerotrace.yaml", std::regex("tracing every process"),
                           {"-o", "otlp", "--stats-interval", "0.2"});
  ReadyServer server(https_python(cert));
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(run_to_completion({"curl", "-sS", "--cacert", cert.cert, https_url(server.port(), "/users/1")}).status,
              0);
  }
  // The exports reached the sink over TLS (it logs one line per request).
  ASSERT_TRUE(sink.wait_for_line(Stream::Out, "/v1/traces")) << agent.log();
  ASSERT_TRUE(agent.wait_for_spans(3)) << agent.log();
  std::string agent_libssl;
  const auto agent_text = text_of(agent.pid(), "/libssl.so.3", &agent_libssl);
  const auto spans = agent.stop();
  bool served = false;
  for (const auto& s : spans) {
    EXPECT_NE(res(s, "process.pid"), agent.pid()) << s.dump();
    served |= res(s, "process.pid") == server.pid() && attr(s, "url.scheme") == "https";
  }
  EXPECT_TRUE(served) << "the traced HTTPS server's spans were written";
  ASSERT_FALSE(agent_text.empty()) << "the agent maps libssl.so.3 (its exporters)";
  for (const auto& [offset, bytes] : agent_text) {
    EXPECT_EQ(bytes, file_bytes(agent_libssl, offset, bytes.size())) << "breakpoint in the agent's libssl";
  }
}

}  // namespace
}  // namespace zt::e2e

namespace zt::e2e {
namespace {

// Go's own crypto/tls (tests/workloads/go/tls_peer.go, built with Debian's golang-1.22-go): entry
// probes and probes on every `ret` (never uretprobes), calls kept per goroutine.
std::string go_peer() {
#ifdef ZT_GO_TLS_PEER
  return ZT_GO_TLS_PEER;
#else
  return {};
#endif
}

#define ZT_REQUIRE_GO_PEER()                                                                                \
  do {                                                                                                      \
    if (go_peer().empty()) {                                                                                \
      if (::zt::testing::in_ci()) FAIL() << "CI=true but the Go TLS peer was not built (scripts/setup.sh)"; \
      GTEST_SKIP() << "*** NOT RUN: go was not found at build time (golang-1.22-go; scripts/setup.sh) ***"; \
    }                                                                                                       \
  } while (0)

// One Go process serving HTTPS (HTTP/2 and HTTP/1.1) and plain HTTP at once, under concurrent
// keep-alive clients: goroutines move between threads inside Read, and the plain port's
// connections, served by the same threads, must stay plaintext HTTP.
TEST(Tls, GoServerGivesHttp1AndHttp2SpansOverTlsAndItsPlainPortStaysPlain) {
  ZT_REQUIRE_ROOT();
  ZT_REQUIRE_GO_PEER();
  const Certificate cert;
  const auto tls_port = std::to_string(free_port());
  const auto plain_port = std::to_string(free_port());
  Subprocess server({go_peer(), "server", cert.cert, cert.key, tls_port, plain_port});
  ASSERT_TRUE(server.wait_for_line(Stream::Out, "READY")) << server.output(Stream::Err);
  Agent agent = Agent::attach({server.pid()}, {"--stats-interval", "0.2"});
  const std::string tls_base = "https://127.0.0.1:" + tls_port;
  const std::string plain_base = "http://127.0.0.1:" + plain_port;

  ASSERT_EQ(run_to_completion({"curl", "-sS", "--http2", "--cacert", cert.cert, tls_base + "/users/1"}).status, 0);
  ASSERT_EQ(run_to_completion({"curl", "-sS", "--http1.1", "--cacert", cert.cert, tls_base + "/users/2"}).status, 0);
  // Concurrent keep-alive clients, TLS and plain, 4 connections each.
  std::vector<std::string> tls_urls, plain_urls;
  for (int i = 10; i < 30; ++i) tls_urls.push_back(tls_base + "/users/" + std::to_string(i));
  for (int i = 50; i < 70; ++i) plain_urls.push_back(plain_base + "/users/" + std::to_string(i));
  tls_urls.push_back(tls_base + "/error");
  std::vector<std::string> tls_cmd{go_peer(), "client", cert.cert, "4"};
  tls_cmd.insert(tls_cmd.end(), tls_urls.begin(), tls_urls.end());
  std::vector<std::string> plain_cmd{go_peer(), "client", cert.cert, "4"};
  plain_cmd.insert(plain_cmd.end(), plain_urls.begin(), plain_urls.end());
  Subprocess tls_client(tls_cmd);
  Subprocess plain_client(plain_cmd);
  for (Subprocess* c : {&tls_client, &plain_client}) {
    ASSERT_TRUE(c->wait_for_line(Stream::Out, "DONE")) << c->output(Stream::Err);
    EXPECT_EQ(c->output(Stream::Out).find("ERROR"), std::string::npos) << c->output(Stream::Out);
  }
  ASSERT_TRUE(agent.wait_for_spans(2 + 21 + 20)) << agent.log();
  const auto spans = agent.stop();
  EXPECT_TRUE(server.running()) << "the Go server survived its probes";

  std::map<std::string, Json> by_path_seen;
  for (const auto& s : spans) {
    EXPECT_EQ(s["kind"], "SERVER") << s.dump();
    by_path_seen[attr(s, "url.path").is_string() ? attr(s, "url.path").get<std::string>() : ""] = s;
  }
  ASSERT_TRUE(by_path_seen.contains("/users/1")) << Json(spans).dump(1);
  EXPECT_EQ(attr(by_path_seen["/users/1"], "network.protocol.version"), "2");
  EXPECT_EQ(attr(by_path_seen["/users/1"], "url.scheme"), "https");
  EXPECT_EQ(attr(by_path_seen["/users/1"], "tls.protocol.version"), "1.3");
  ASSERT_TRUE(by_path_seen.contains("/users/2"));
  EXPECT_EQ(attr(by_path_seen["/users/2"], "network.protocol.version"), "1.1");
  EXPECT_EQ(attr(by_path_seen["/users/2"], "url.scheme"), "https");
  for (int i = 10; i < 30; ++i) {
    const auto path = "/users/" + std::to_string(i);
    ASSERT_TRUE(by_path_seen.contains(path)) << path;
    EXPECT_EQ(attr(by_path_seen[path], "url.scheme"), "https") << path;
    EXPECT_EQ(attr(by_path_seen[path], "http.response.status_code"), 200) << path;
    EXPECT_EQ(attr(by_path_seen[path], "server.port"), std::stoi(tls_port)) << path;
  }
  ASSERT_TRUE(by_path_seen.contains("/error"));
  EXPECT_EQ(attr(by_path_seen["/error"], "http.response.status_code"), 500);
  for (int i = 50; i < 70; ++i) {
    const auto path = "/users/" + std::to_string(i);
    ASSERT_TRUE(by_path_seen.contains(path)) << path;
    EXPECT_EQ(attr(by_path_seen[path], "url.scheme"), "http") << path;
    EXPECT_FALSE(by_path_seen[path]["attributes"].contains("tls.protocol.version")) << path;
  }
  EXPECT_EQ(spans.size(), 2u + 21u + 20u) << "one span per request, none twice";
  const auto stats = agent.stats();
  ASSERT_TRUE(stats);
  EXPECT_GE(stats->get("tls.sites_go"), 4u) << "two entries and their ret sites";
  EXPECT_EQ(stats->get("pipeline.parse_errors"), 0u);
  EXPECT_EQ(stats->get("kernel.tls_mismatch"), 0u);
}

// A Go client under `zerotrace exec`: its executable is probed before it runs, and every request
// of its keep-alive connections (4 goroutines at a time) is a client span.
TEST(Tls, GoClientUnderExecGivesAClientSpanPerRequest) {
  ZT_REQUIRE_ROOT();
  ZT_REQUIRE_GO_PEER();
  const Certificate cert;
  ReadyServer server(https_python(cert));
  std::vector<std::string> command{go_peer(), "client", cert.cert, "4"};
  std::vector<std::string> paths;
  for (int i = 1; i <= 12; ++i) paths.push_back("/users/" + std::to_string(i));
  paths.push_back("/nothing");
  for (const auto& p : paths) command.push_back(https_url(server.port(), p));
  Agent agent = Agent::exec(command);
  ASSERT_TRUE(agent.process().wait_for_line(Stream::Out, "DONE")) << agent.log();
  const auto spans = agent.stop();
  const auto clients = of_kind(spans, "CLIENT");
  ASSERT_EQ(clients.size(), paths.size()) << Json(spans).dump(1) << agent.log();
  std::set<std::string> seen;
  for (const auto& c : clients) {
    seen.insert(attr(c, "url.full").is_string() ? attr(c, "url.full").get<std::string>() : "");
    EXPECT_EQ(attr(c, "http.request.method"), "GET");
    EXPECT_EQ(attr(c, "tls.protocol.version"), "1.3");
    const bool missing = attr(c, "url.full") == https_url(server.port(), "/nothing");
    EXPECT_EQ(attr(c, "http.response.status_code"), missing ? 404 : 200) << c.dump();
  }
  for (const auto& p : paths) EXPECT_TRUE(seen.contains(https_url(server.port(), p))) << p;
}

}  // namespace
}  // namespace zt::e2e
