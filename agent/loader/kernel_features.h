// What this kernel and this process offer, for `zerotrace check` and for clear start-up errors.
#pragma once

#include <string>
#include <vector>

namespace zt::loader {

struct FeatureCheck {
  std::string name;         // "BTF", "tracefs", ...
  bool available = false;
  std::string detail;       // what was seen
  std::string consequence;  // what zerotrace does without it (empty when available)
  bool required = false;    // zerotrace cannot capture without it
};

// Probes without side effects, except that tracefs is mounted when `mount_tracefs` is set and it
// is missing (the agent would do the same at start-up).
std::vector<FeatureCheck> probe_kernel_features(bool mount_tracefs);

bool has_btf();
bool is_privileged();  // CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN)

}  // namespace zt::loader
