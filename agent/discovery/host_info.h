// The machine the agent runs on, as the OpenTelemetry host.* resource attributes name it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace zt::discovery {

inline constexpr std::string_view kDefaultHostRoot = "/";

struct HostIdentity {
  std::string name;     // host.name: gethostname()
  std::string id;       // host.id: the machine id, "" when unknown
  std::string arch;     // host.arch: the kernel's machine name in OpenTelemetry's words (amd64, arm64, ...)
  std::string boot_id;  // changes at every boot; not exported, it makes service.instance.id unique
};

// Reads what HostIdentity holds: the machine id from `host_root`/etc/machine-id, else
// `host_root`/var/lib/dbus/machine-id (host_root is where the host's / is mounted when the agent
// runs in a container), the boot id from `proc_root`/sys/kernel/random/boot_id, name and arch
// from the kernel. Unreadable or malformed files leave their field empty.
HostIdentity read_host_identity(const std::string& host_root, const std::string& proc_root);

// The machine id in the text of a machine-id file (32 lowercase hex digits and a newline); none
// for an empty file or systemd's "uninitialized" placeholder.
std::optional<std::string> machine_id_from_file(std::string_view machine_id_file);

// host.arch for uname's machine field: x86_64 -> amd64, aarch64 -> arm64, i686 -> x86, armv7l ->
// arm32, ppc64le -> ppc64, ...; a machine OpenTelemetry has no value for is passed through.
std::string host_arch_from_machine(std::string_view machine);

// This machine's host name (gethostname), "" when unavailable.
std::string local_host_name();

}  // namespace zt::discovery
