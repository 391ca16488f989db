// The zerotrace configurations shipped under deploy/ load, and their OTLP settings resolve to the
// endpoint and protocol their comments promise.
#include <gtest/gtest.h>

#include <filesystem>

#include <yaml-cpp/yaml.h>

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

// The GPU pod example mounts the directory the DaemonSet's init container fills and points the
// CUDA driver at the library inside it (docs/gpu.md, "Kubernetes").
TEST(DeployExamples, GpuPodFindsTheCuptiLibraryTheDaemonSetShips) {
  const auto docs = YAML::LoadAllFromFile((kDeploy / "kubernetes/zerotrace-daemonset.yaml").string());
  std::string host_dir;
  std::string copied;
  for (const auto& doc : docs) {
    if (doc["kind"].as<std::string>("") != "DaemonSet") continue;
    const auto spec = doc["spec"]["template"]["spec"];
    for (const auto& v : spec["volumes"]) {
      if (v["name"].as<std::string>() == "cupti-library") host_dir = v["hostPath"]["path"].as<std::string>();
    }
    const auto init = spec["initContainers"][0];
    copied = init["command"][1].as<std::string>();
    EXPECT_EQ(init["volumeMounts"][0]["name"].as<std::string>(), "cupti-library");
  }
  ASSERT_EQ(host_dir, "/var/lib/zerotrace/lib");
  ASSERT_EQ(std::filesystem::path(copied).filename(), "libzerotrace_cupti.so");

  const auto pod = YAML::LoadFile((kDeploy / "kubernetes/gpu-workload-example.yaml").string());
  const auto spec = pod["spec"];
  std::string mount_path;
  for (const auto& v : spec["volumes"]) {
    if (v["hostPath"] && v["hostPath"]["path"].as<std::string>() == host_dir) {
      for (const auto& m : spec["containers"][0]["volumeMounts"]) {
        if (m["name"].as<std::string>() == v["name"].as<std::string>()) mount_path = m["mountPath"].as<std::string>();
      }
    }
  }
  ASSERT_FALSE(mount_path.empty()) << "the pod does not mount " << host_dir;
  std::string injection;
  for (const auto& e : spec["containers"][0]["env"]) {
    if (e["name"].as<std::string>() == "CUDA_INJECTION64_PATH") injection = e["value"].as<std::string>();
  }
  EXPECT_EQ(injection, mount_path + "/libzerotrace_cupti.so");
}

}  // namespace
}  // namespace zt
