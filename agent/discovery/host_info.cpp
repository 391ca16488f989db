#include "discovery/host_info.h"

#include <limits.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <utility>

#include "discovery/process_info.h"

namespace zt::discovery {
namespace {

constexpr std::size_t kMachineIdLength = 32;
constexpr std::size_t kMaxSmallFileBytes = 4096;  // machine-id and boot_id are one short line

std::string_view trim_line(std::string_view text) {
  const std::size_t first = text.find_first_not_of(" \t\n");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\n") - first + 1);
}

std::string read_machine_id(const std::string& host_root) {
  // The D-Bus copy predates systemd's and is still the only one on some distributions.
  for (const char* file : {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
    auto content = read_procfs_file(host_root + file, kMaxSmallFileBytes);
    if (!content) continue;
    if (auto id = machine_id_from_file(*content)) return std::move(*id);
  }
  return {};
}

std::string read_boot_id(const std::string& proc_root) {
  auto content = read_procfs_file(proc_root + "/sys/kernel/random/boot_id", kMaxSmallFileBytes);
  return content ? std::string(trim_line(*content)) : std::string();
}

std::string local_machine() {
  struct utsname names {};
  if (::uname(&names) != 0) return {};
  return names.machine;
}

}  // namespace

HostIdentity read_host_identity(const std::string& host_root, const std::string& proc_root) {
  HostIdentity host;
  host.name = local_host_name();
  host.id = read_machine_id(host_root);
  host.arch = host_arch_from_machine(local_machine());
  host.boot_id = read_boot_id(proc_root);
  return host;
}

std::optional<std::string> machine_id_from_file(std::string_view machine_id_file) {
  const std::string_view id = trim_line(machine_id_file);
  const bool hex =
      std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  if (id.size() != kMachineIdLength || !hex) return std::nullopt;
  return std::string(id);
}

std::string host_arch_from_machine(std::string_view machine) {
  // OpenTelemetry's host.arch values: amd64, arm32, arm64, ia64, ppc32, ppc64, s390x, x86.
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kExact = {{
      {"x86_64", "amd64"}, {"amd64", "amd64"}, {"aarch64", "arm64"}, {"aarch64_be", "arm64"}, {"arm64", "arm64"},
      {"ia64", "ia64"}, {"ppc", "ppc32"}, {"ppcle", "ppc32"}, {"s390x", "s390x"}}};
  for (const auto& [uname_machine, arch] : kExact) {
    if (machine == uname_machine) return std::string(arch);
  }
  if (machine.starts_with("ppc64")) return "ppc64";  // ppc64, ppc64le
  if (machine.size() == 4 && machine[0] == 'i' && machine.substr(2) == "86" && machine[1] >= '3' && machine[1] <= '6') {
    return "x86";  // i386 ... i686
  }
  if (machine.starts_with("arm")) return "arm32";  // armv6l, armv7l, armv8l (32-bit userland)
  return std::string(machine);
}

std::string local_host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return {};
  return name;
}

}  // namespace zt::discovery
