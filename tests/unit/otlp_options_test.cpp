// OTLP exporter configuration: the standard environment variables, their precedence and the
// endpoint rules of the OpenTelemetry specification.
#include "exporters/otlp/otlp_options.h"

#include <gtest/gtest.h>

namespace zt::exporters::otlp {
namespace {

using namespace std::chrono_literals;

Getenv env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

OtlpOptions resolve_env(std::map<std::string, std::string> vars, std::optional<std::string> cli = std::nullopt) {
  auto r = resolve(settings_from_environment(env_of(std::move(vars))), cli);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : OtlpOptions{};
}

std::string resolve_error(std::map<std::string, std::string> vars) {
  auto r = resolve(settings_from_environment(env_of(std::move(vars))), std::nullopt);
  return r.ok() ? "" : r.error().message;
}

TEST(OtlpOptions, DefaultsFollowTheSpecification) {
  const auto o = resolve_env({});
  EXPECT_EQ(o.protocol, Protocol::HttpProtobuf);
  EXPECT_EQ(o.endpoint, "http://localhost:4318/v1/traces");
  EXPECT_FALSE(o.gzip);
  EXPECT_EQ(o.timeout, 10000ms);
  EXPECT_EQ(o.batch.max_queue_size, 2048u);
  EXPECT_EQ(o.batch.max_export_batch_size, 512u);
  EXPECT_EQ(o.batch.schedule_delay, 5000ms);
  EXPECT_EQ(o.batch.export_timeout, 30000ms);
  const auto g = resolve_env({{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}});
  EXPECT_EQ(g.endpoint, "localhost:4317");
  EXPECT_FALSE(g.use_tls);
}

TEST(OtlpOptions, GenericEndpointGetsTheSignalPathAppended) {
  EXPECT_EQ(resolve_env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"}}).endpoint,
            "http://collector:4318/v1/traces");
  EXPECT_EQ(resolve_env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://gw.example.com/otlp/"}}).endpoint,
            "https://gw.example.com/otlp/v1/traces");
  EXPECT_EQ(resolve_env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://gw.example.com/otlp"}}).endpoint,
            "https://gw.example.com/otlp/v1/traces");
}

TEST(OtlpOptions, TracesEndpointIsUsedAsIsAndWins) {
  const auto o = resolve_env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"},
                              {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/custom/path"}});
  EXPECT_EQ(o.endpoint, "http://traces:9999/custom/path");
}

TEST(OtlpOptions, CommandLineEndpointBeatsTheEnvironment) {
  const auto o = resolve_env({{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/x"}}, "http://cli:4318");
  EXPECT_EQ(o.endpoint, "http://cli:4318/v1/traces");
  // A path given on the command line is kept.
  EXPECT_EQ(resolve_env({}, "http://cli:4318/v1/traces").endpoint, "http://cli:4318/v1/traces");
}

TEST(OtlpOptions, SignalSpecificVariablesOverrideGenericOnes) {
  const auto o = resolve_env({{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"},
                              {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"},
                              {"OTEL_EXPORTER_OTLP_COMPRESSION", "none"},
                              {"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"},
                              {"OTEL_EXPORTER_OTLP_TIMEOUT", "1000"},
                              {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"}});
  EXPECT_EQ(o.protocol, Protocol::HttpJson);
  EXPECT_TRUE(o.gzip);
  EXPECT_EQ(o.timeout, 2500ms);
  EXPECT_EQ(o.batch.request_timeout, 2500ms);
}

TEST(OtlpOptions, EmptyVariablesCountAsUnset) {
  const auto o = resolve_env({{"OTEL_EXPORTER_OTLP_PROTOCOL", ""}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "  "}});
  EXPECT_EQ(o.protocol, Protocol::HttpProtobuf);
  EXPECT_EQ(o.endpoint, "http://localhost:4318/v1/traces");
}

TEST(OtlpOptions, GrpcSchemeDecidesTlsAndInsecureAppliesWithoutScheme) {
  auto o = resolve_env({{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4317"}});
  EXPECT_EQ(o.endpoint, "c:4317");
  EXPECT_TRUE(o.use_tls);
  o = resolve_env({{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317"}});
  EXPECT_TRUE(o.use_tls);  // no scheme, not insecure: TLS, as the specification says
  o = resolve_env({{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                   {"OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317"},
                   {"OTEL_EXPORTER_OTLP_INSECURE", "true"}});
  EXPECT_FALSE(o.use_tls);
}

TEST(OtlpOptions, Port4317WithoutAProtocolMeansGrpc) {
  const auto o = resolve_env({}, "http://collector:4317");
  EXPECT_EQ(o.protocol, Protocol::Grpc);
  EXPECT_EQ(o.endpoint, "collector:4317");
  // An explicit protocol is never second-guessed.
  EXPECT_EQ(resolve_env({{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}}, "http://collector:4317").protocol,
            Protocol::HttpJson);
}

TEST(OtlpOptions, HeadersArePercentDecodedAndTrimmed) {
  const auto o = resolve_env({{"OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20abc%3D, x-tenant = acme ,"}});
  ASSERT_EQ(o.headers.size(), 2u);
  EXPECT_EQ(o.headers[0], (std::pair<std::string, std::string>{"authorization", "Bearer abc="}));
  EXPECT_EQ(o.headers[1], (std::pair<std::string, std::string>{"x-tenant", "acme"}));
}

TEST(OtlpOptions, BadHeadersAreRejected) {
  EXPECT_NE(resolve_error({{"OTEL_EXPORTER_OTLP_HEADERS", "novalue"}}).find("key=value"), std::string::npos);
  EXPECT_NE(resolve_error({{"OTEL_EXPORTER_OTLP_HEADERS", "a=%zz"}}).find("percent"), std::string::npos);
  EXPECT_NE(resolve_error({{"OTEL_EXPORTER_OTLP_HEADERS", "bad key=1"}}).find("not a valid header name"),
            std::string::npos);
  EXPECT_NE(resolve_error({{"OTEL_EXPORTER_OTLP_HEADERS", "a=x%0d%0aInjected: 1"}}).find("line break"),
            std::string::npos);
}

TEST(OtlpOptions, BspVariablesAreReadAndChecked) {
  const auto o = resolve_env({{"OTEL_BSP_MAX_QUEUE_SIZE", "100"},
                              {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "50"},
                              {"OTEL_BSP_SCHEDULE_DELAY", "200"},
                              {"OTEL_BSP_EXPORT_TIMEOUT", "3000"}});
  EXPECT_EQ(o.batch.max_queue_size, 100u);
  EXPECT_EQ(o.batch.max_export_batch_size, 50u);
  EXPECT_EQ(o.batch.schedule_delay, 200ms);
  EXPECT_EQ(o.batch.export_timeout, 3000ms);
  EXPECT_NE(resolve_error({{"OTEL_BSP_MAX_QUEUE_SIZE", "10"}}).find("must not exceed"), std::string::npos);
  EXPECT_NE(resolve_error({{"OTEL_BSP_SCHEDULE_DELAY", "soon"}}).find("OTEL_BSP_SCHEDULE_DELAY"), std::string::npos);
}

TEST(OtlpOptions, BadValuesNameTheSettingAndWhatIsAccepted) {
  EXPECT_NE(resolve_error({{"OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"}}).find("grpc, http/protobuf or http/json"),
            std::string::npos);
  EXPECT_NE(resolve_error({{"OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"}}).find("gzip or none"), std::string::npos);
  EXPECT_NE(resolve_error({{"OTEL_EXPORTER_OTLP_TIMEOUT", "-5"}}).find("timeout"), std::string::npos);
  EXPECT_NE(resolve_error({{"OTEL_EXPORTER_OTLP_INSECURE", "maybe"}}).find("true or false"), std::string::npos);
  EXPECT_NE(resolve_error({{"OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x"}}).find("http:// or https://"), std::string::npos);
  EXPECT_NE(resolve_error({{"OTEL_EXPORTER_OTLP_CLIENT_KEY", "/k.pem"}}).find("set both or neither"),
            std::string::npos);
}

TEST(OtlpOptions, ConfigFileLayerIsOverriddenByTheEnvironment) {
  Settings file{{"endpoint", "http://from-file:4318"}, {"compression", "gzip"}};
  for (auto& [k, v] : settings_from_environment(env_of({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://from-env:4318"}}))) {
    file[k] = v;
  }
  const auto o = resolve(file, std::nullopt);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->endpoint, "http://from-env:4318/v1/traces");
  EXPECT_TRUE(o->gzip);
}

}  // namespace
}  // namespace zt::exporters::otlp
