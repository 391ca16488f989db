#include "discovery/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace zt::discovery {
namespace {

std::string error_of(std::string_view yaml) {
  auto config = parse_config(yaml, "zerotrace.yaml");
  return config ? std::string("<no error>") : config.error().message;
}

TEST(ParseConfig, ReadsEveryKey) {
  auto config = parse_config(R"(
select:            # any rule selects
  - exe_name: "python3*"
  - exe_path: "/usr/sbin/nginx"
  - port: 8080
  - pid: 1234
  - exe_name: java
    port: 9090
capture_bytes: 1024
outputs: ["console", "jsonl=/var/log/zerotrace.jsonl"]
log_level: debug
)",
                             "zerotrace.yaml");
  ASSERT_TRUE(config) << config.error().message;

  ASSERT_EQ(config->select.size(), 5u);
  EXPECT_EQ(config->select[0].exe_name, "python3*");
  EXPECT_FALSE(config->select[0].exe_path || config->select[0].port || config->select[0].pid);
  EXPECT_EQ(config->select[1].exe_path, "/usr/sbin/nginx");
  EXPECT_EQ(config->select[2].port, std::uint16_t{8080});
  EXPECT_EQ(config->select[3].pid, 1234u);
  EXPECT_EQ(config->select[4].exe_name, "java");
  EXPECT_EQ(config->select[4].port, std::uint16_t{9090});
  EXPECT_EQ(config->capture_bytes, 1024u);
  EXPECT_EQ(config->outputs, (std::vector<std::string>{"console", "jsonl=/var/log/zerotrace.jsonl"}));
  EXPECT_EQ(config->log_level, "debug");
}

TEST(ParseConfig, EmptyDocumentAndEmptyValuesGiveDefaults) {
  for (const char* yaml : {"", "# only a comment\n", "select:\noutputs:\n", "select: []\noutputs: []\n"}) {
    auto config = parse_config(yaml, "zerotrace.yaml");
    ASSERT_TRUE(config) << yaml << ": " << config.error().message;
    EXPECT_TRUE(config->select.empty());
    EXPECT_EQ(config->capture_bytes, 4096u);
    EXPECT_TRUE(config->outputs.empty());
    EXPECT_EQ(config->log_level, "info");
  }
}

TEST(ParseConfig, AcceptsTheBoundsOfEachRange) {
  auto config = parse_config("capture_bytes: 64\nselect: [{port: 1}, {port: 65535}, {pid: 4194304}]\n", "f");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->capture_bytes, 64u);
  EXPECT_EQ(config->select[1].port, std::uint16_t{65535});
  EXPECT_EQ(config->select[2].pid, 4194304u);
  EXPECT_EQ(parse_config("capture_bytes: 8192", "f")->capture_bytes, 8192u);
}

TEST(ParseConfig, RejectsBadPorts) {
  const char* yaml = "select:\n  - exe_name: a\n  - port: 80\n  - port: http\n";
  EXPECT_EQ(error_of(yaml), R"(zerotrace.yaml: select[2].port: expected an integer 1..65535, got "http")");
  EXPECT_EQ(error_of("select: [{port: 0}]"),
            R"(zerotrace.yaml: select[0].port: expected an integer 1..65535, got "0")");
  EXPECT_EQ(error_of("select: [{port: 65536}]"),
            R"(zerotrace.yaml: select[0].port: expected an integer 1..65535, got "65536")");
  EXPECT_EQ(error_of("select: [{port: 80.5}]"),
            R"(zerotrace.yaml: select[0].port: expected an integer 1..65535, got "80.5")");
  EXPECT_EQ(error_of("select: [{port: [80]}]"),
            "zerotrace.yaml: select[0].port: expected an integer 1..65535, got a list");
}

TEST(ParseConfig, RejectsBadPidsAndGlobs) {
  EXPECT_EQ(error_of("select: [{pid: -1}]"),
            R"(zerotrace.yaml: select[0].pid: expected an integer 1..4194304, got "-1")");
  EXPECT_EQ(error_of("select: [{exe_name: \"\"}]"),
            R"(zerotrace.yaml: select[0].exe_name: expected a glob pattern such as "python3*", got "")");
  EXPECT_EQ(error_of("select: [{exe_path: {a: b}}]"),
            R"(zerotrace.yaml: select[0].exe_path: expected a glob pattern such as "python3*", got a mapping)");
  EXPECT_EQ(error_of("select: [{exe_path: }]"),
            R"(zerotrace.yaml: select[0].exe_path: expected a glob pattern such as "python3*", got nothing)");
}

TEST(ParseConfig, RejectsBadRuleShapes) {
  EXPECT_EQ(error_of("select: python3"), R"(zerotrace.yaml: select: expected a list of rules, got "python3")");
  EXPECT_EQ(error_of("select: [python3]"),
            R"(zerotrace.yaml: select[0]: expected a rule with any of exe_name, exe_path, port, pid, got "python3")");
  EXPECT_EQ(error_of("select: [{}]"),
            "zerotrace.yaml: select[0]: a rule needs at least one of exe_name, exe_path, port, pid");
  EXPECT_EQ(error_of("select: [{exe: nginx}]"),
            "zerotrace.yaml: select[0].exe: unknown key; accepted keys are exe_name, exe_path, port, pid");
}

TEST(ParseConfig, RejectsBadCaptureBytes) {
  for (const char* value : {"100", "32", "16384", "0", "4k", "-4096"}) {
    EXPECT_EQ(error_of(std::string("capture_bytes: ") + value),
              std::string(R"(zerotrace.yaml: capture_bytes: expected a power of two 64..8192, got ")") + value + "\"");
  }
}

TEST(ParseConfig, RejectsBadOutputsAndLogLevels) {
  EXPECT_EQ(
      error_of("outputs: console"),
      R"(zerotrace.yaml: outputs: expected a list of outputs such as ["console", "jsonl=/var/log/zerotrace.jsonl"], got "console")");
  EXPECT_EQ(error_of("outputs: [console, [x]]"),
            R"(zerotrace.yaml: outputs[1]: expected an output such as "console" or "jsonl=FILE", got a list)");
  EXPECT_EQ(error_of("log_level: verbose"),
            R"(zerotrace.yaml: log_level: expected one of trace, debug, info, warn, error, got "verbose")");
  EXPECT_EQ(error_of("log_level: INFO"),
            R"(zerotrace.yaml: log_level: expected one of trace, debug, info, warn, error, got "INFO")");
}

TEST(ParseConfig, RejectsUnknownAndDuplicateKeys) {
  EXPECT_EQ(error_of("selct: []"),
            "zerotrace.yaml: selct: unknown key; accepted keys are select, capture_bytes, outputs, log_level, otlp, "
            "assembly_wait_ms, cuda, kernel_control, tls");
  EXPECT_EQ(error_of("log_level: info\nlog_level: debug\n"), "zerotrace.yaml: log_level: duplicate key");
}

TEST(ParseConfig, KernelControlIsOnByDefaultAndABoolean) {
  EXPECT_TRUE(parse_config("capture_bytes: 64", "f")->kernel_control);
  EXPECT_FALSE(parse_config("kernel_control: false", "f")->kernel_control);
  EXPECT_EQ(error_of("kernel_control: sometimes"),
            R"(zerotrace.yaml: kernel_control: expected true or false, got "sometimes")");
}

TEST(ParseConfig, RejectsADocumentThatIsNotAMapping) {
  EXPECT_EQ(error_of("- a\n- b\n"),
            "zerotrace.yaml: expected a mapping of settings (select, capture_bytes, outputs, log_level, otlp, "
            "assembly_wait_ms, cuda, kernel_control, tls), got a list");
  EXPECT_EQ(error_of("just text"),
            "zerotrace.yaml: expected a mapping of settings (select, capture_bytes, outputs, log_level, otlp, "
            "assembly_wait_ms, cuda, kernel_control, tls), got \"just "
            "text\"");
}

TEST(ParseConfig, ReportsMalformedYamlWithItsPosition) {
  const std::string error = error_of("select:\n  - exe_name: [python\nlog_level: info\n");
  EXPECT_EQ(error.rfind("zerotrace.yaml: malformed YAML at line ", 0), 0u) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);
  EXPECT_NE(error_of("a: b: c"), "<no error>");
  EXPECT_EQ(error_of("a: b: c").rfind("zerotrace.yaml: malformed YAML at line 1, column ", 0), 0u)
      << error_of("a: b: c");
}

TEST(LoadConfig, ReadsAFileAndNamesItInErrors) {
  const auto path = std::filesystem::temp_directory_path() / ("zt_config_test_" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << "capture_bytes: 2048\nselect:\n  - port: 99999\n";
  auto config = load_config(path.string());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message, path.string() + R"(: select[0].port: expected an integer 1..65535, got "99999")");

  std::ofstream(path) << "capture_bytes: 2048\n";
  config = load_config(path.string());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->capture_bytes, 2048u);
  std::filesystem::remove(path);
}

TEST(LoadConfig, ReportsAMissingFileOrADirectory) {
  EXPECT_EQ(load_config("/nonexistent/zerotrace.yaml").error().message,
            "cannot read config /nonexistent/zerotrace.yaml: No such file or directory");
  EXPECT_EQ(load_config("/tmp").error().message, "cannot read config /tmp: is a directory");
}

}  // namespace
}  // namespace zt::discovery

namespace zt::discovery {
namespace {

TEST(ConfigOtlp, SectionBecomesExporterSettingsAndImpliesTheOtlpOutput) {
  const auto config = parse_config(R"(
otlp:
  endpoint: http://collector:4318
  protocol: http/json
  compression: gzip
  timeout: 2500
  headers:
    authorization: "Bearer a=b,c"
    x-tenant: acme
  batch:
    max_queue_size: 4096
    schedule_delay: 1000
)",
                                   "zerotrace.yaml");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->outputs, std::vector<std::string>{"otlp"});
  EXPECT_EQ(config->otlp.at("endpoint"), "http://collector:4318");
  EXPECT_EQ(config->otlp.at("protocol"), "http/json");
  EXPECT_EQ(config->otlp.at("timeout"), "2500");
  // Reserved characters are percent-encoded so the header string parses back to the same values.
  EXPECT_EQ(config->otlp.at("headers"), "authorization=Bearer a%3Db%2Cc,x-tenant=acme");
  EXPECT_EQ(config->otlp.at("bsp.max_queue_size"), "4096");
  EXPECT_EQ(config->otlp.at("bsp.schedule_delay"), "1000");
}

TEST(ConfigOtlp, ExplicitOutputsAreKept) {
  const auto config = parse_config("outputs: [console]\notlp:\n  endpoint: http://c:4318\n", "f.yaml");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->outputs, std::vector<std::string>{"console"});
}

TEST(ConfigOtlp, UnknownKeysAndBadShapesAreNamed) {
  auto config = parse_config("otlp:\n  endpiont: http://c:4318\n", "f.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("f.yaml: otlp.endpiont: unknown key"), std::string::npos)
      << config.error().message;
  config = parse_config("otlp:\n  batch:\n    max_queue_size: lots\n", "f.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("otlp.batch.max_queue_size"), std::string::npos) << config.error().message;
  config = parse_config("otlp: [1, 2]\n", "f.yaml");
  ASSERT_FALSE(config.ok());
}

TEST(ParseConfig, TlsSectionTurnsCaptureInternalSitesAndHandshakeSpansOnAndOff) {
  const auto defaults = parse_config("capture_bytes: 64", "f");
  EXPECT_TRUE(defaults->tls.enabled);
  EXPECT_TRUE(defaults->tls.internal_sites);
  EXPECT_FALSE(defaults->tls.handshake_spans);
  const auto off = parse_config("tls:\n  enabled: false\n  internal_sites: false\n", "f");
  EXPECT_FALSE(off->tls.enabled);
  EXPECT_FALSE(off->tls.internal_sites);
  EXPECT_FALSE(off->tls.handshake_spans);
  const auto spans = parse_config("tls:\n  handshake_spans: true\n", "f");
  EXPECT_TRUE(spans->tls.handshake_spans);
  EXPECT_TRUE(spans->tls.enabled);
  EXPECT_TRUE(spans->tls.internal_sites);
  EXPECT_EQ(error_of("tls: yes"),
            "zerotrace.yaml: tls: expected a mapping (enabled, internal_sites, handshake_spans), got \"yes\"");
  EXPECT_EQ(error_of("tls:\n  sites: 3\n"),
            "zerotrace.yaml: tls.sites: unknown key; accepted keys are enabled, internal_sites, handshake_spans");
  EXPECT_EQ(error_of("tls:\n  enabled: maybe\n"),
            R"(zerotrace.yaml: tls.enabled: expected true or false, got "maybe")");
  EXPECT_EQ(error_of("tls:\n  handshake_spans: 2\n"),
            R"(zerotrace.yaml: tls.handshake_spans: expected true or false, got "2")");
}

}  // namespace
}  // namespace zt::discovery
