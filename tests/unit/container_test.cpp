#include "discovery/container.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

namespace zt::discovery {
namespace {

// Ids as runtimes make them: 64 lowercase hex digits; pod uids as Kubernetes makes them.
const std::string kId = "216d8dbb9846a31d53e3438c8cf1b2f1faa0076c81150d11c6688fe9fe86edfd";
const std::string kOtherId = "6a9bf823a8a61ed41496d1ed2432530d7ca775f4a998c3f73c2d9a9bce7c239c";
const std::string kPodUid = "c1cbf795-b705-470a-9809-ccfa355fb498";
const std::string kPodUidUnderscores = "c1cbf795_b705_470a_9809_ccfa355fb498";  // systemd unit names

// A cgroup v1 file: one line per hierarchy, all with `path`, and the unified line of hybrid mode.
std::string cgroup_v1(const std::string& path) {
  std::string file;
  for (const char* controllers : {"12:pids", "11:hugetlb", "10:net_cls,net_prio", "9:perf_event", "8:memory",
                                  "7:blkio", "6:cpuset", "5:devices", "4:freezer", "3:cpu,cpuacct", "2:rdma",
                                  "1:name=systemd"}) {
    file += std::string(controllers) + ":" + path + "\n";
  }
  return file + "0::/\n";
}

std::string cgroup_v2(const std::string& path) { return "0::" + path + "\n"; }

TEST(ContainerIdFromCgroup, DockerCgroupfsDriverV1) {
  EXPECT_EQ(container_id_from_cgroup(cgroup_v1("/docker/" + kId)), kId);
}

TEST(ContainerIdFromCgroup, DockerSystemdDriver) {
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2("/system.slice/docker-" + kId + ".scope")), kId);
  EXPECT_EQ(container_id_from_cgroup(cgroup_v1("/system.slice/docker-" + kId + ".scope")), kId);
}

TEST(ContainerIdFromCgroup, ContainerdInKubernetes) {
  // systemd driver, cgroup v2
  const std::string v2 = cgroup_v2("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                                   kPodUidUnderscores + ".slice/cri-containerd-" + kId + ".scope");
  EXPECT_EQ(container_id_from_cgroup(v2), kId);
  EXPECT_EQ(pod_uid_from_cgroup(v2), kPodUid);
  // cgroupfs driver, cgroup v1: the id is a bare directory under the pod's
  const std::string v1 = cgroup_v1("/kubepods/burstable/pod" + kPodUid + "/" + kId);
  EXPECT_EQ(container_id_from_cgroup(v1), kId);
  EXPECT_EQ(pod_uid_from_cgroup(v1), kPodUid);
}

TEST(ContainerIdFromCgroup, CriO) {
  const std::string pod_slice = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                                kPodUidUnderscores + ".slice/";
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2(pod_slice + "crio-" + kId + ".scope")), kId);
  // conmon, CRI-O's monitor of the container, sits beside it under the same id.
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2(pod_slice + "crio-conmon-" + kId + ".scope")), std::nullopt);
  EXPECT_EQ(pod_uid_from_cgroup(cgroup_v2(pod_slice + "crio-conmon-" + kId + ".scope")), kPodUid);
}

TEST(ContainerIdFromCgroup, Podman) {
  const std::string user_slice = "/user.slice/user-1000.slice/user@1000.service/user.slice/";
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2(user_slice + "libpod-" + kId + ".scope")), kId);
  // --systemd=always puts the container's processes one level down.
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2(user_slice + "libpod-" + kId + ".scope/container")), kId);
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2(user_slice + "libpod-conmon-" + kId + ".scope")), std::nullopt);
  // cgroupfs manager, cgroup v1
  EXPECT_EQ(container_id_from_cgroup(cgroup_v1("/libpod_parent/libpod-" + kId)), kId);
}

TEST(ContainerIdFromCgroup, NestedContainersGiveTheInnermost) {
  EXPECT_EQ(container_id_from_cgroup(cgroup_v1("/docker/" + kOtherId + "/docker/" + kId)), kId);
  // kind: a Kubernetes node in a docker container
  const std::string kind = cgroup_v2("/system.slice/docker-" + kOtherId +
                                     ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
                                     "kubelet-kubepods-besteffort-pod" +
                                     kPodUidUnderscores + ".slice/cri-containerd-" + kId + ".scope");
  EXPECT_EQ(container_id_from_cgroup(kind), kId);
  EXPECT_EQ(pod_uid_from_cgroup(kind), kPodUid);
}

TEST(ContainerIdFromCgroup, SeenFromAnotherCgroupNamespace) {
  // A reader in a container with its own cgroup namespace sees paths above its root as "..".
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2("/../../system.slice/docker-" + kId + ".scope")), kId);
}

TEST(ContainerIdFromCgroup, HybridModeTakesTheLineThatNamesTheContainer) {
  const std::string file = "12:pids:/\n1:name=systemd:/\n0::/system.slice/docker-" + kId + ".scope\n";
  EXPECT_EQ(container_id_from_cgroup(file), kId);
}

TEST(ContainerIdFromCgroup, NothingOutsideContainers) {
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2("/system.slice/sshd.service")), std::nullopt);
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2("/user.slice/user-1000.slice/session-3.scope")), std::nullopt);
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2("/init.scope")), std::nullopt);
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2("/")), std::nullopt);
  EXPECT_EQ(container_id_from_cgroup(cgroup_v1("/user.slice")), std::nullopt);
}

TEST(ContainerIdFromCgroup, OnlyWholeLowercaseIds) {
  std::string upper = kId;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2("/docker/" + upper)), std::nullopt);
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2("/docker/" + kId.substr(1))), std::nullopt);
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2("/docker/" + kId + "0")), std::nullopt);
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2("/docker/" + kId.substr(0, 63) + "g")), std::nullopt);
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2("/system.slice/rkt-" + kId + ".scope")), std::nullopt);
  EXPECT_EQ(container_id_from_cgroup(cgroup_v2("/system.slice/docker-" + kId + ".service")), std::nullopt);
}

TEST(ContainerIdFromCgroup, SurvivesGarbage) {
  for (const std::string& file :
       {std::string(), std::string("\n\n\n"), std::string("no colons at all"), std::string("::::::"),
        std::string("12:pids"), std::string("0::"), std::string("0::////"), std::string("\0\0\xff\xfe:\x01:/\x80", 9),
        std::string(1 << 20, 'a'), std::string(1 << 16, '/'), "0::/docker-" + std::string(1 << 16, 'f') + ".scope"}) {
    EXPECT_EQ(container_id_from_cgroup(file), std::nullopt);
    EXPECT_EQ(pod_uid_from_cgroup(file), std::nullopt);
  }
  // A path may hold ':'; the last line may lack its '\n'.
  EXPECT_EQ(container_id_from_cgroup("0::/odd:name/docker/" + kId), kId);
}

TEST(PodUidFromCgroup, EveryQosClassAndDriver) {
  // Guaranteed pods have no QoS level in the path.
  EXPECT_EQ(pod_uid_from_cgroup(cgroup_v1("/kubepods/pod" + kPodUid + "/" + kId)), kPodUid);
  EXPECT_EQ(pod_uid_from_cgroup(cgroup_v2("/kubepods.slice/kubepods-pod" + kPodUidUnderscores +
                                          ".slice/cri-containerd-" + kId + ".scope")),
            kPodUid);
  EXPECT_EQ(pod_uid_from_cgroup(cgroup_v1("/kubepods/besteffort/pod" + kPodUid + "/" + kId)), kPodUid);
  // cgroupfs driver on cgroup v2
  EXPECT_EQ(pod_uid_from_cgroup(cgroup_v2("/kubepods/burstable/pod" + kPodUid + "/" + kId)), kPodUid);
  // The pod's own cgroup (the sandbox's pause process is in a container below it, but the path is enough).
  EXPECT_EQ(pod_uid_from_cgroup(cgroup_v2("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                                          kPodUidUnderscores + ".slice")),
            kPodUid);
}

TEST(PodUidFromCgroup, OnlyUnderKubepods) {
  EXPECT_EQ(pod_uid_from_cgroup(cgroup_v2("/system.slice/pod" + kPodUid)), std::nullopt);
  EXPECT_EQ(pod_uid_from_cgroup(cgroup_v2("/machine.slice/machine-pod" + kPodUidUnderscores + ".slice")),
            std::nullopt);
  EXPECT_EQ(pod_uid_from_cgroup(cgroup_v2("/docker/" + kId)), std::nullopt);
  EXPECT_EQ(pod_uid_from_cgroup(cgroup_v2("/kubepods/burstable/pod" + kPodUid.substr(1))), std::nullopt);
  EXPECT_EQ(pod_uid_from_cgroup(cgroup_v2("/kubepods/burstable/pod" + kPodUidUnderscores)), std::nullopt);
  EXPECT_EQ(pod_uid_from_cgroup(cgroup_v2("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod.slice")),
            std::nullopt);
}

TEST(CgroupPathIsNamespaceRoot, OnlyWhenEveryPathIsTheRoot) {
  EXPECT_TRUE(cgroup_path_is_namespace_root("0::/\n"));
  EXPECT_TRUE(cgroup_path_is_namespace_root(cgroup_v1("/")));
  EXPECT_FALSE(cgroup_path_is_namespace_root(cgroup_v2("/system.slice/sshd.service")));
  EXPECT_FALSE(cgroup_path_is_namespace_root("12:pids:/docker/" + kId + "\n0::/\n"));
  EXPECT_FALSE(cgroup_path_is_namespace_root(""));
  EXPECT_FALSE(cgroup_path_is_namespace_root("garbage\n"));
}

// Mount table lines as the kernel writes them: id, parent, major:minor, root, mount point,
// options, optional fields, "-", type, source, super options.
std::string mount(const std::string& root, const std::string& mount_point, const std::string& type = "ext4") {
  return "1534 1512 259:2 " + root + " " + mount_point + " rw,relatime - " + type + " /dev/nvme0n1p2 rw\n";
}

std::string docker_overlay_root() {
  return "1512 1380 0:312 / / rw,relatime master:1 - overlay overlay "
         "rw,lowerdir=/var/lib/docker/overlay2/l/ABCD:/var/lib/docker/overlay2/l/EFGH,upperdir=/var/lib/docker/"
         "overlay2/" +
         kOtherId + "/diff,workdir=/var/lib/docker/overlay2/" + kOtherId + "/work\n";
}

TEST(ContainerIdFromMountinfo, Docker) {
  const std::string mountinfo = docker_overlay_root() +
                                "1513 1512 0:315 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n" +
                                mount("/var/lib/docker/containers/" + kId + "/resolv.conf", "/etc/resolv.conf") +
                                mount("/var/lib/docker/containers/" + kId + "/hostname", "/etc/hostname") +
                                mount("/var/lib/docker/containers/" + kId + "/hosts", "/etc/hosts");
  EXPECT_EQ(container_id_from_mountinfo(mountinfo), kId);
  // /var/lib/docker on a file system of its own: roots are relative to it.
  EXPECT_EQ(container_id_from_mountinfo(mount("/containers/" + kId + "/hostname", "/etc/hostname")), kId);
}

TEST(ContainerIdFromMountinfo, ContainerdTakesTheSandbox) {
  const std::string mountinfo =
      mount("/var/lib/kubelet/pods/" + kPodUid + "/etc-hosts", "/etc/hosts") +
      mount("/var/lib/kubelet/pods/" + kPodUid + "/containers/app/6f1c2a9e", "/dev/termination-log") +
      mount("/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/" + kId + "/hostname", "/etc/hostname") +
      mount("/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/" + kId + "/resolv.conf", "/etc/resolv.conf");
  EXPECT_EQ(container_id_from_mountinfo(mountinfo), kId);
}

TEST(ContainerIdFromMountinfo, PodmanAndCriO) {
  // containers/storage keeps per-container files on /run, a tmpfs: roots are relative to it.
  const std::string mountinfo =
      mount("/containers/storage/overlay-containers/" + kId + "/userdata/hostname", "/etc/hostname", "tmpfs") +
      mount("/containers/storage/overlay-containers/" + kId + "/userdata/.containerenv", "/run/.containerenv",
            "tmpfs");
  EXPECT_EQ(container_id_from_mountinfo(mountinfo), kId);
}

TEST(ContainerIdFromMountinfo, ContainerDirectoriesWinOverSandboxes) {
  const std::string mountinfo =
      mount("/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/" + kOtherId + "/hostname", "/etc/hostname") +
      mount("/var/lib/docker/containers/" + kId + "/hosts", "/etc/hosts");
  EXPECT_EQ(container_id_from_mountinfo(mountinfo), kId);
}

TEST(ContainerIdFromMountinfo, NothingButContainerDirectoriesInMountRoots) {
  // The host's own table: container files are mount points there, with root "/".
  EXPECT_EQ(container_id_from_mountinfo(
                "1 0 0:5 / /var/lib/docker/containers/" + kId + "/mounts/shm rw - tmpfs shm rw,size=65536k\n" +
                mount("/", "/") + docker_overlay_root()),
            std::nullopt);
  EXPECT_EQ(container_id_from_mountinfo(mount("/var/lib/docker/overlay2/" + kId + "/diff", "/data")), std::nullopt);
  EXPECT_EQ(container_id_from_mountinfo(mount("/var/lib/docker/containers/abc123/hostname", "/etc/hostname")),
            std::nullopt);
  EXPECT_EQ(container_id_from_mountinfo(mount("/srv/" + kId + "/hostname", "/etc/hostname")), std::nullopt);
}

TEST(ContainerIdFromMountinfo, SurvivesGarbage) {
  for (const std::string& file :
       {std::string(), std::string("\n"), std::string("1 2 3"), std::string("1 2 3 /containers/"),
        std::string("   \n   "), std::string(1 << 20, ' '), "1 2 3 " + std::string(1 << 16, '/'),
        std::string("\0\0\0 \xff \x80 /containers/\0", 20)}) {
    EXPECT_EQ(container_id_from_mountinfo(file), std::nullopt);
  }
  // A line without the fields after the root still has a root.
  EXPECT_EQ(container_id_from_mountinfo("1 2 3 /var/lib/docker/containers/" + kId + "/hostname"), kId);
}

}  // namespace
}  // namespace zt::discovery

namespace zt::discovery {
namespace {

// Found by the fuzzer: a slice name mixing '-' and '_' in the uid is not a systemd pod slice
// (systemd escapes every '-'), so no uid is made up from it.
TEST(PodUid, MixedSeparatorsInASystemdSliceAreNotAUid) {
  EXPECT_FALSE(pod_uid_from_cgroup("0::/kubepods.slice/kubepods-burstable.slice/"
                                   "kubepods-burstable-podc1cbf795_b705-b70a_9809_ccfa355fb498.slice/x.scope\n")
                   .has_value());
  EXPECT_EQ(pod_uid_from_cgroup("0::/kubepods.slice/kubepods-burstable.slice/"
                                "kubepods-burstable-podc1cbf795_b705_470a_9809_ccfa355fb498.slice/x.scope\n"),
            "c1cbf795-b705-470a-9809-ccfa355fb498");
}

}  // namespace
}  // namespace zt::discovery
