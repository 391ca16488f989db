// OTLP over TLS with certificates made for the test by openssl: the CA file, mutual TLS with a
// client certificate and key, the insecure switch, and what happens without the right CA. The
// agent exports a real workload's spans each time.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "e2e/harness.h"
#include "support/otlp_receiver.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

using testing::OtlpReceiver;
using testing::ReceiverTls;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A CA, a server certificate for localhost/127.0.0.1 and a client certificate, all signed by it.
class Pki {
 public:
  Pki() {
    run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=zerotrace-test-ca -keyout ca.key -out ca.pem");
    issue("server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1");
    issue("client", "/CN=zerotrace-agent", "extendedKeyUsage=clientAuth");
    run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca -keyout other.key -out other.pem");
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string pem(const std::string& name) const { return slurp(dir_ / name); }

 private:
  void run(const std::string& command) {
    const auto r = run_to_completion({"sh", "-c", "cd " + dir_.path().string() + " && " + command + " 2>&1"});
    if (r.status != 0) throw std::runtime_error(command + " failed: " + r.out);
  }
  void issue(const std::string& name, const std::string& subject, const std::string& extension) {
    run("openssl req -newkey rsa:2048 -nodes -subj " + subject + " -keyout " + name + ".key -out " + name + ".csr");
    run("printf '%s\\n' '" + extension + "' > " + name + ".ext && openssl x509 -req -in " + name +
        ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile " + name + ".ext -out " + name + ".pem");
  }
  TempDir dir_;
};

// The agent traces a python server for a few requests and exports with `env`; returns its log.
std::string trace_and_export(const std::string& endpoint, std::map<std::string, std::string> env,
                             const std::function<bool()>& arrived) {
  ReadyServer server(ReadyServer::python());
  env["OTEL_BSP_SCHEDULE_DELAY"] = "100";
  env["OTEL_BSP_EXPORT_TIMEOUT"] = "2000";
  Agent agent = Agent::attach({server.pid()}, {"-o", "otlp=" + endpoint}, std::move(env));
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/users/1";
  EXPECT_EQ(run_to_completion({"curl", "-s", "-o", "/dev/null", url, "-o", "/dev/null", url}).status, 0);
  EXPECT_TRUE(agent.wait_for_spans(2));
  poll_until(arrived, Millis(5000));
  agent.stop();
  return agent.log();
}

TEST(OtlpTls, GrpcWithTheCaFileAndMutualTls) {
  ZT_REQUIRE_ROOT();
  Pki pki;
  {
    OtlpReceiver rx(0, 0, ReceiverTls{pki.pem("server.pem"), pki.pem("server.key"), ""});
    const std::string endpoint = "https://localhost:" + std::to_string(rx.grpc_port());
    const auto log = trace_and_export(endpoint, {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                                                 {"OTEL_EXPORTER_OTLP_CERTIFICATE", pki.path("ca.pem")}},
                                      [&] { return rx.accepted_span_count() >= 2; });
    EXPECT_EQ(rx.accepted_span_count(), 2u) << log;
  }
  {
    // The server's certificate is not signed by the CA the agent trusts: nothing is accepted,
    // the agent says so, and every span is accounted for.
    OtlpReceiver rx(0, 0, ReceiverTls{pki.pem("server.pem"), pki.pem("server.key"), ""});
    const std::string endpoint = "https://localhost:" + std::to_string(rx.grpc_port());
    const auto log = trace_and_export(endpoint, {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                                                 {"OTEL_EXPORTER_OTLP_CERTIFICATE", pki.path("other.pem")}},
                                      [] { return false; });
    EXPECT_EQ(rx.accepted_span_count(), 0u);
    EXPECT_NE(log.find("UNAVAILABLE"), std::string::npos) << log;
    EXPECT_NE(log.find("exported 0 spans"), std::string::npos) << log;
    EXPECT_NE(log.find("failed 2"), std::string::npos) << log;
  }
  {
    // Mutual TLS: the receiver requires a client certificate signed by the CA.
    OtlpReceiver rx(0, 0, ReceiverTls{pki.pem("server.pem"), pki.pem("server.key"), pki.pem("ca.pem")});
    const std::string endpoint = "https://localhost:" + std::to_string(rx.grpc_port());
    const auto log = trace_and_export(endpoint, {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                                                 {"OTEL_EXPORTER_OTLP_CERTIFICATE", pki.path("ca.pem")},
                                                 {"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", pki.path("client.pem")},
                                                 {"OTEL_EXPORTER_OTLP_CLIENT_KEY", pki.path("client.key")}},
                                      [&] { return rx.accepted_span_count() >= 2; });
    EXPECT_EQ(rx.accepted_span_count(), 2u) << log;
  }
}

class HttpsSink {
 public:
  explicit HttpsSink(std::vector<std::string> args) : process_([&] {
      std::vector<std::string> argv{python3(), workload("https_sink.py")};
      argv.insert(argv.end(), args.begin(), args.end());
      return argv;
    }()) {
    const auto line = process_.wait_for_line(Stream::Out, std::regex("^READY [0-9]+"));
    if (!line) throw std::runtime_error("https_sink.py did not start: " + process_.output(Stream::Err));
    port_ = std::stoi(line->substr(6));
  }
  std::string url() const { return "https://localhost:" + std::to_string(port_); }
  std::vector<std::string> requests() const {
    std::vector<std::string> lines;
    std::istringstream in(process_.output(Stream::Out));
    for (std::string l; std::getline(in, l);) {
      if (!l.starts_with("READY")) lines.push_back(l);
    }
    return lines;
  }

 private:
  Subprocess process_;
  int port_ = 0;
};

TEST(OtlpTls, HttpWithTheCaFileMutualTlsAndTheInsecureSwitch) {
  ZT_REQUIRE_ROOT();
  Pki pki;
  {
    HttpsSink sink({pki.path("server.pem"), pki.path("server.key")});
    const auto log = trace_and_export(sink.url(), {{"OTEL_EXPORTER_OTLP_CERTIFICATE", pki.path("ca.pem")}},
                                      [&] { return !sink.requests().empty(); });
    ASSERT_FALSE(sink.requests().empty()) << log;
    EXPECT_TRUE(sink.requests()[0].starts_with("/v1/traces ")) << sink.requests()[0];
    EXPECT_NE(log.find("exported 2 spans"), std::string::npos) << log;
  }
  {
    // Without the CA the certificate does not verify; with the insecure switch it is not checked.
    HttpsSink sink({pki.path("server.pem"), pki.path("server.key")});
    auto log = trace_and_export(sink.url(), {}, [] { return false; });
    EXPECT_TRUE(sink.requests().empty());
    EXPECT_NE(log.find("exported 0 spans"), std::string::npos) << log;
    log = trace_and_export(sink.url(), {{"OTEL_EXPORTER_OTLP_INSECURE", "true"}},
                           [&] { return !sink.requests().empty(); });
    EXPECT_FALSE(sink.requests().empty()) << log;
  }
  {
    HttpsSink sink({pki.path("server.pem"), pki.path("server.key"), pki.path("ca.pem")});
    const auto log = trace_and_export(sink.url(), {{"OTEL_EXPORTER_OTLP_CERTIFICATE", pki.path("ca.pem")},
                                                   {"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", pki.path("client.pem")},
                                                   {"OTEL_EXPORTER_OTLP_CLIENT_KEY", pki.path("client.key")}},
                                      [&] { return !sink.requests().empty(); });
    ASSERT_FALSE(sink.requests().empty()) << log;
    EXPECT_NE(sink.requests()[0].find(" zerotrace-agent"), std::string::npos) << sink.requests()[0];
  }
}

}  // namespace
}  // namespace zt::e2e
