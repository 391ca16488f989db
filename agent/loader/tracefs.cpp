#include "loader/tracefs.h"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace zt::loader {

std::string find_tracefs() {
  for (const char* dir : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    if (access((std::string(dir) + "/events").c_str(), F_OK) == 0) return dir;
  }
  return {};
}

Result<std::string> ensure_tracefs() {
  if (auto dir = find_tracefs(); !dir.empty()) return dir;
  const char* target = "/sys/kernel/tracing";
  if (mount("nodev", target, "tracefs", 0, nullptr) != 0) {
    return make_error(std::string("tracefs is not mounted and mounting it at ") + target +
                      " failed: " + std::strerror(errno) +
                      " (mount it yourself: mount -t tracefs nodev /sys/kernel/tracing)");
  }
  spdlog::info("mounted tracefs at {}", target);
  return std::string(target);
}

}  // namespace zt::loader
