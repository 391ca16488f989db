// StatsSnapshot: the periodic line of changes and the JSON stats file (read back with a JSON parser).
#include "core/stats.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace zt {
namespace {

TEST(Stats, ChangesListOnlyWhatMovedWithDeltas) {
  StatsSnapshot before;
  before.set("kernel.events", 100);
  before.set("pipeline.spans", 10);
  before.set("pipeline.spans_held", 5);
  StatsSnapshot after = before;
  after.set("kernel.events", 250);
  after.set("pipeline.spans_held", 2);  // a gauge that went down
  after.set("export.jsonl.spans_exported", 7);

  EXPECT_EQ(after.format_changes(before), "export.jsonl.spans_exported=+7 kernel.events=+150 pipeline.spans_held=2");
  EXPECT_EQ(after.format_changes(after), "");
}

TEST(Stats, JsonFileGroupsByTheFirstNamePart) {
  StatsSnapshot s;
  s.set("kernel.events", 3);
  s.set("kernel.ringbuf_dropped", 0);
  s.set("export.otlp.spans_exported", 12);
  s.add("pipeline.spans", 2);
  s.add("pipeline.spans", 3);
  const auto path = std::filesystem::temp_directory_path() / ("zt_stats_test_" + std::to_string(::getpid()) + ".json");

  ASSERT_TRUE(s.write_json_file(path.string()));

  const auto json = nlohmann::json::parse(std::ifstream(path));
  EXPECT_EQ(json["kernel"]["events"], 3);
  EXPECT_EQ(json["kernel"]["ringbuf_dropped"], 0);
  EXPECT_EQ(json["export"]["otlp.spans_exported"], 12);
  EXPECT_EQ(json["pipeline"]["spans"], 5);
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  std::filesystem::remove(path);
}

TEST(Stats, UnwritableFileIsAnErrorNamingThePath) {
  StatsSnapshot s;
  const auto r = s.write_json_file("/nonexistent-dir/zt/stats.json");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent-dir/zt/stats.json"), std::string::npos);
}

}  // namespace
}  // namespace zt
