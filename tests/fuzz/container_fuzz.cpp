// libFuzzer target for the /proc/PID/cgroup and /proc/PID/mountinfo parsers (cgroup and mount
// paths are partly chosen by unprivileged users: delegated cgroups, rootless containers).
// Input: the text of either file; every parser sees all of it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "discovery/container.h"

namespace {

bool lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// A container id the parsers return is always 64 lowercase hex digits taken from the input.
void check_container_id(const std::optional<std::string>& id, std::string_view input) {
  if (!id) return;
  if (id->size() != 64 || !std::all_of(id->begin(), id->end(), lower_hex)) std::abort();
  if (input.find(*id) == std::string_view::npos) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_container_id(zt::discovery::container_id_from_cgroup(input), input);
  check_container_id(zt::discovery::container_id_from_mountinfo(input), input);
  zt::discovery::cgroup_path_is_namespace_root(input);
  if (const auto uid = zt::discovery::pod_uid_from_cgroup(input)) {
    if (uid->size() != 36 || uid->find('_') != std::string::npos) std::abort();
    std::string as_in_systemd_slice = *uid;
    std::replace(as_in_systemd_slice.begin(), as_in_systemd_slice.end(), '-', '_');
    if (input.find(*uid) == std::string_view::npos && input.find(as_in_systemd_slice) == std::string_view::npos) {
      std::abort();
    }
  }
  return 0;
}
