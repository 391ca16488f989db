#include "core/stats.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace zt {

std::string StatsSnapshot::format_changes(const StatsSnapshot& earlier) const {
  std::string out;
  for (const auto& [name, value] : values_) {
    const std::uint64_t before = earlier.get(name);
    if (value == before) continue;
    if (!out.empty()) out += ' ';
    out += name;
    out += value > before ? "=+" + std::to_string(value - before) : "=" + std::to_string(value);
  }
  return out;
}

std::string StatsSnapshot::to_json() const {
  std::string out = "{";
  std::string group;
  bool first_group = true;
  for (const auto& [name, value] : values_) {
    const auto dot = name.find('.');
    const std::string g = dot == std::string::npos ? std::string("agent") : name.substr(0, dot);
    const std::string key = dot == std::string::npos ? name : name.substr(dot + 1);
    if (first_group || g != group) {
      if (!first_group) out += "},";
      out += "\n  \"" + g + "\": {";
      group = g;
      first_group = false;
    } else {
      out += ",";
    }
    // Names are ours ([a-z0-9_.] and exporter names): nothing to escape.
    out += "\n    \"" + key + "\": " + std::to_string(value);
  }
  if (!first_group) out += "}";
  out += "\n}\n";
  return out;
}

Result<void> StatsSnapshot::write_json_file(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return make_error("cannot write the stats file " + tmp + ": " + std::strerror(errno));
    f << to_json();
    f.flush();
    if (!f) return make_error("cannot write the stats file " + tmp + ": " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return make_error("cannot write the stats file " + path + ": " + std::strerror(err));
  }
  return {};
}

}  // namespace zt
