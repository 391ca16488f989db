// The zerotrace configurations shipped under deploy/ load, and their OTLP settings resolve to the
// endpoint and protocol their comments promise.
#include <gtest/gtest.h>

#include <filesystem>

#include "discovery/config.h"
#include "exporters/otlp/otlp_options.h"

namespace zt {
namespace {

const std::filesystem::path kDeploy = std::filesystem::path(ZT_FIXTURES_DIR).parent_path().parent_path() / "deploy";

exporters::otlp::OtlpOptions load_otlp(const std::string& relative) {
  const auto config = discovery::load_config((kDeploy / relative).string());
  EXPECT_TRUE(config.ok()) << (config.ok() ? "" : config.error().message);
  if (!config.ok()) return {};
  auto options = exporters::otlp::resolve(config->otlp, std::nullopt);
  EXPECT_TRUE(options.ok()) << relative << ": " << (options.ok() ? "" : options.error().message);
  return options.ok() ? *options : exporters::otlp::OtlpOptions{};
}

TEST(DeployExamples, CollectorConfigSendsGrpcWithGzip) {
  const auto o = load_otlp("otel-collector/zerotrace.yaml");
  EXPECT_EQ(o.protocol, exporters::otlp::Protocol::Grpc);
  EXPECT_EQ(o.endpoint, "localhost:4317");
  EXPECT_FALSE(o.use_tls);
  EXPECT_TRUE(o.gzip);
  EXPECT_EQ(o.batch.max_queue_size, 8192u);
}

TEST(DeployExamples, JaegerConfigSendsOtlpHttp) {
  const auto o = load_otlp("jaeger/zerotrace.yaml");
  EXPECT_EQ(o.protocol, exporters::otlp::Protocol::HttpProtobuf);
  EXPECT_EQ(o.endpoint, "http://localhost:4318/v1/traces");
}

TEST(DeployExamples, TempoConfigCarriesTheTenantHeader) {
  const auto o = load_otlp("tempo/zerotrace.yaml");
  EXPECT_EQ(o.protocol, exporters::otlp::Protocol::Grpc);
  ASSERT_EQ(o.headers.size(), 1u);
  EXPECT_EQ(o.headers[0].first, "x-scope-orgid");
  EXPECT_EQ(o.headers[0].second, "team-a");
}

TEST(DeployExamples, SystemdExampleLoads) {
  const auto config = discovery::load_config((kDeploy / "zerotrace.yaml").string());
  EXPECT_TRUE(config.ok()) << (config.ok() ? "" : config.error().message);
}

}  // namespace
}  // namespace zt
