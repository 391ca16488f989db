// tracefs is where libbpf finds syscall tracepoint ids; some hosts boot without it mounted.
#pragma once

#include <string>

#include "core/result.h"

namespace zt::loader {

// The mounted tracefs directory, or an empty string when none is mounted.
std::string find_tracefs();
// Mounts tracefs at /sys/kernel/tracing when it is not mounted anywhere; returns its path.
Result<std::string> ensure_tracefs();

}  // namespace zt::loader
