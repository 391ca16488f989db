// Which container and Kubernetes pod a process runs in, from the text of /proc/PID/cgroup and
// /proc/PID/mountinfo. Pure functions: they never touch the file system.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace zt::discovery {

// The container id (64 lowercase hex digits) in a /proc/PID/cgroup file, v1 ("N:controllers:/path"
// lines) or v2 ("0::/path"). Recognised path segments: a bare id (docker and containerd with the
// cgroupfs driver, kubepods), and "<runtime>-<id>[.scope]" for docker, cri-containerd, crio and
// libpod; crio-conmon- and libpod-conmon- scopes hold the runtime's monitor, not the container,
// and are skipped. Nested containers give the innermost id.
std::optional<std::string> container_id_from_cgroup(std::string_view cgroup_file);

// The pod uid (lowercase, with dashes) in a /proc/PID/cgroup file under "kubepods": cgroupfs
// driver ".../pod<uid>/..." and systemd driver "kubepods-<qos>-pod<uid_with_underscores>.slice",
// for every QoS class.
std::optional<std::string> pod_uid_from_cgroup(std::string_view cgroup_file);

// True when every path in a /proc/PID/cgroup file is "/": the process sits at the root of its
// cgroup namespace (a container with a private one), so the path cannot name its container.
bool cgroup_path_is_namespace_root(std::string_view cgroup_file);

// The container id in the mount roots of a /proc/PID/mountinfo file (field 4: the path of the
// mount inside its file system), for when the cgroup path hides it. Only a 64-hex-digit directory
// under "containers" (docker: /var/lib/docker/containers/<id>/hostname), "overlay-containers"
// (podman, CRI-O: .../overlay-containers/<id>/userdata/hostname) or, last, "sandboxes" (containerd
// CRI: .../sandboxes/<id>/hostname, the id of the pod's sandbox) is taken.
std::optional<std::string> container_id_from_mountinfo(std::string_view mountinfo_file);

}  // namespace zt::discovery
