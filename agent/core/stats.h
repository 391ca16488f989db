// Self-telemetry: named counters each stage reports ("kernel.ringbuf_dropped",
// "pipeline.spans", ...), a line of what changed printed while running, and a JSON file for
// machines (`--stats-file`, docs/cli.md). The first dot-separated part of a name is its group.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/result.h"

namespace zt {

class StatsSnapshot {
 public:
  void set(std::string_view name, std::uint64_t value) { values_[std::string(name)] = value; }
  void add(std::string_view name, std::uint64_t value) { values_[std::string(name)] += value; }
  std::uint64_t get(std::string_view name) const {
    const auto it = values_.find(std::string(name));
    return it == values_.end() ? 0 : it->second;
  }
  const std::map<std::string, std::uint64_t>& values() const { return values_; }

  // "name=+delta" for each counter that grew since `earlier` (gauges that shrank: "name=value"),
  // space-separated in name order; empty when nothing changed.
  std::string format_changes(const StatsSnapshot& earlier) const;
  // {"group": {"rest.of.name": value, ...}, ...} with the groups and names in order.
  std::string to_json() const;
  // Writes to_json() to `path` through a temporary file and a rename, so a reader never sees half.
  Result<void> write_json_file(const std::string& path) const;

 private:
  std::map<std::string, std::uint64_t> values_;
};

}  // namespace zt
