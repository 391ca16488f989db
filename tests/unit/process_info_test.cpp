#include "discovery/process_info.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "core/version.h"

namespace zt::discovery {
namespace {

namespace fs = std::filesystem;

const trace::AttributeValue* find(const trace::Resource& resource, std::string_view key) {
  for (const auto& attribute : resource.attributes) {
    if (attribute.key == key) return &attribute.value;
  }
  return nullptr;
}

std::string string_attribute(const trace::Resource& resource, std::string_view key) {
  const auto* value = find(resource, key);
  if (value == nullptr || !std::holds_alternative<std::string>(*value)) return "<absent>";
  return std::get<std::string>(*value);
}

std::int64_t int_attribute(const trace::Resource& resource, std::string_view key) {
  const auto* value = find(resource, key);
  if (value == nullptr || !std::holds_alternative<std::int64_t>(*value)) return -1;
  return std::get<std::int64_t>(*value);
}

std::string stat_line(std::uint32_t pid, std::string_view comm, std::uint32_t ppid, std::uint64_t start_time) {
  // Fields 3..21 then starttime (22) and a few more, as the kernel writes them.
  return std::to_string(pid) + " (" + std::string(comm) + ") S " + std::to_string(ppid) +
         " 100 100 0 -1 4194560 1000 0 0 0 10 5 0 0 20 0 4 0 " + std::to_string(start_time) +
         " 123456789 1000 18446744073709551615 0 0\n";
}

// A /proc look-alike in a temporary directory.
class FakeProc {
 public:
  FakeProc()
      : root_(fs::temp_directory_path() /
              ("zt_fake_proc_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++))) {
    fs::create_directories(root_);
  }
  ~FakeProc() { fs::remove_all(root_); }

  struct Process {
    Process(std::uint32_t pid_, std::string comm_, std::string exe_)
        : pid(pid_), comm(std::move(comm_)), exe(std::move(exe_)) {}
    Process& with_parent(std::uint32_t parent) { return ppid = parent, *this; }
    Process& started_at(std::uint64_t ticks) { return start_time = ticks, *this; }
    Process& with_cmdline(std::string raw) { return cmdline = std::move(raw), *this; }
    Process& with_environ(std::string raw) { return environ = std::move(raw), *this; }
    Process& with_status(std::string text) { return status = std::move(text), *this; }
    Process& with_cgroup(std::string text) { return cgroup = std::move(text), *this; }
    Process& with_mountinfo(std::string text) { return mountinfo = std::move(text), *this; }

    std::uint32_t pid;
    std::string comm;
    std::string exe;  // symlink target; empty: no exe link (a kernel thread)
    std::uint32_t ppid = 1;
    std::uint64_t start_time = 5000;
    std::string cmdline;
    std::string environ;
    std::optional<std::string> status;  // absent: no such file
    std::optional<std::string> cgroup;
    std::optional<std::string> mountinfo;
  };

  void add(const Process& process) {
    const fs::path dir = root_ / std::to_string(process.pid);
    fs::create_directories(dir);
    write(dir / "stat", stat_line(process.pid, process.comm, process.ppid, process.start_time));
    write(dir / "cmdline", process.cmdline);
    write(dir / "environ", process.environ);
    if (!process.exe.empty()) fs::create_symlink(process.exe, dir / "exe");
    if (process.status) write(dir / "status", *process.status);
    if (process.cgroup) write(dir / "cgroup", *process.cgroup);
    if (process.mountinfo) write(dir / "mountinfo", *process.mountinfo);
  }
  void remove(std::uint32_t pid) { fs::remove_all(root_ / std::to_string(pid)); }
  std::string root() const { return root_.string(); }

 private:
  static void write(const fs::path& path, std::string_view content) {
    std::ofstream(path, std::ios::binary) << content;
  }
  static inline int counter_ = 0;
  fs::path root_;
};

using namespace std::string_literals;

const std::string kMachineId = "3d1219c7c4c5404aaa1f6d2a48adfda4";
const std::string kBootId = "814c8b56-f6a0-4ca8-9b88-a851de3b7ab7";
const std::string kContainerId = "be9a80c5db8be62ab0f01595558a932ab8f5d07ef4abdf0c8711fa465cfa961d";
const std::string kPodUid = "3f8d66cb-0b08-4dde-b5ab-7629054f7eed";

HostIdentity test_host() {
  return HostIdentity{.name = "node-1", .id = kMachineId, .arch = "amd64", .boot_id = kBootId};
}

// /proc/PID/status as the kernel writes it, abridged; uids real, effective, saved, file system.
std::string status_with_uids(std::string_view uids) {
  return "Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4321\nNgid:\t0\nPid:\t4321\n"
         "PPid:\t77\nTracerPid:\t0\nUid:\t" +
         std::string(uids) + "\nGid:\t1000\t1000\t1000\t1000\nFDSize:\t64\nVmRSS:\t  9876 kB\n";
}

TEST(ReadProcessIdentity, ReadsEveryFieldFromProcfs) {
  FakeProc proc;
  proc.add(FakeProc::Process(4321, "python3", "/usr/bin/python3.11")
               .with_parent(77)
               .started_at(98765)
               .with_cmdline("python3\0app.py\0\0--port\08080\0"s)
               .with_environ("PATH=/bin\0OTEL_SERVICE_NAME=checkout\0"
                             "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod,team=pay%20ments\0"s));

  auto identity = read_process_identity(4321, proc.root());

  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(identity->pid, 4321u);
  EXPECT_EQ(identity->parent_pid, 77u);
  EXPECT_EQ(identity->start_time_ticks, 98765u);
  EXPECT_EQ(identity->comm, "python3");
  EXPECT_EQ(identity->exe_path, "/usr/bin/python3.11");
  EXPECT_EQ(identity->exe_name, "python3.11");
  EXPECT_EQ(identity->command_line, "python3 app.py \"\" --port 8080");
  EXPECT_EQ(identity->otel_service_name, "checkout");
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(identity->otel_resource_attributes, (Pairs{{"deployment.environment", "prod"}, {"team", "pay ments"}}));
}

TEST(ReadProcessIdentity, HandlesCommWithSpacesAndParentheses) {
  FakeProc proc;
  proc.add(FakeProc::Process(10, "a) (b c", "/opt/x").with_parent(3).started_at(42));
  auto identity = read_process_identity(10, proc.root());
  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(identity->comm, "a) (b c");
  EXPECT_EQ(identity->parent_pid, 3u);
  EXPECT_EQ(identity->start_time_ticks, 42u);
}

TEST(ReadProcessIdentity, KernelThreadFallsBackToComm) {
  FakeProc proc;
  proc.add(FakeProc::Process(2, "kthreadd", "").with_parent(0));
  auto identity = read_process_identity(2, proc.root());
  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(identity->exe_path, "");
  EXPECT_EQ(identity->exe_name, "kthreadd");
  EXPECT_EQ(identity->command_line, "");
}

TEST(ReadProcessIdentity, StripsDeletedSuffixAndRetitlePadding) {
  FakeProc proc;
  proc.add(FakeProc::Process(11, "nginx", "/usr/sbin/nginx (deleted)")
               .with_cmdline("nginx: master process /usr/sbin/nginx\0\0\0\0\0\0"s));
  auto identity = read_process_identity(11, proc.root());
  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(identity->exe_path, "/usr/sbin/nginx");
  EXPECT_EQ(identity->exe_name, "nginx");
  EXPECT_EQ(identity->command_line, "nginx: master process /usr/sbin/nginx");
}

TEST(ReadProcessIdentity, FailsForAMissingOrMalformedProcess) {
  FakeProc proc;
  EXPECT_FALSE(read_process_identity(999, proc.root()));
  EXPECT_FALSE(process_exists(999, proc.root()));
  proc.add(FakeProc::Process(12, "x", "/bin/x"));
  EXPECT_TRUE(process_exists(12, proc.root()));
  std::ofstream(proc.root() + "/12/stat") << "12 (x) S 1 2\n";  // truncated
  auto identity = read_process_identity(12, proc.root());
  ASSERT_FALSE(identity);
  EXPECT_NE(identity.error().message.find("malformed stat"), std::string::npos) << identity.error().message;
}

TEST(ParseOtelResourceAttributes, DecodesAndTrims) {
  auto parsed = parse_otel_resource_attributes(" a = 1 ,b=x%2Cy%3Dz, c=,d=%E2%9C%93,, ");
  ASSERT_TRUE(parsed) << parsed.error().message;
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(parsed.value(), (Pairs{{"a", "1"}, {"b", "x,y=z"}, {"c", ""}, {"d", "\xE2\x9C\x93"}}));
}

TEST(ParseOtelResourceAttributes, RejectsTheWholeValueOnAnyError) {
  EXPECT_FALSE(parse_otel_resource_attributes("a=1,novalue"));
  EXPECT_FALSE(parse_otel_resource_attributes("a=1,=2"));
  EXPECT_FALSE(parse_otel_resource_attributes("a=%zz"));
  EXPECT_FALSE(parse_otel_resource_attributes("a=%4"));
  EXPECT_EQ(parse_otel_resource_attributes("a=1,novalue").error().message,
            "OTEL_RESOURCE_ATTRIBUTES: \"novalue\" is not key=value");
}

TEST(MakeResource, FollowsSemanticConventions) {
  ProcessIdentity identity;
  identity.pid = 4321;
  identity.parent_pid = 77;
  identity.exe_path = "/usr/bin/python3.11";
  identity.exe_name = "python3.11";
  identity.start_time_ticks = 98765;
  identity.command_line = "python3 app.py";
  identity.otel_resource_attributes = {{"service.name", "from-attributes"}, {"team", "payments"}};
  identity.owner = "www-data";
  identity.container_id = kContainerId;
  identity.k8s_pod_uid = kPodUid;

  const trace::Resource resource = make_resource(identity, test_host());

  EXPECT_EQ(resource.pid, 4321u);
  EXPECT_EQ(resource.service_name, "from-attributes");
  EXPECT_EQ(string_attribute(resource, "service.name"), "from-attributes");
  EXPECT_EQ(string_attribute(resource, "team"), "payments");
  EXPECT_EQ(int_attribute(resource, "process.pid"), 4321);
  EXPECT_EQ(int_attribute(resource, "process.parent_pid"), 77);
  EXPECT_EQ(string_attribute(resource, "process.executable.name"), "python3.11");
  EXPECT_EQ(string_attribute(resource, "process.executable.path"), "/usr/bin/python3.11");
  EXPECT_EQ(string_attribute(resource, "process.command_line"), "python3 app.py");
  EXPECT_EQ(string_attribute(resource, "process.owner"), "www-data");
  EXPECT_EQ(string_attribute(resource, "host.name"), "node-1");
  EXPECT_EQ(string_attribute(resource, "host.id"), kMachineId);
  EXPECT_EQ(string_attribute(resource, "host.arch"), "amd64");
  EXPECT_EQ(string_attribute(resource, "os.type"), "linux");
  EXPECT_EQ(string_attribute(resource, "container.id"), kContainerId);
  EXPECT_EQ(string_attribute(resource, "k8s.pod.uid"), kPodUid);
  // Python: uuid.uuid5(UUID("4d63009a-8d0f-11ee-aad7-4c796ed8e320"), f"{machine_id}/{boot_id}/4321/98765")
  EXPECT_EQ(string_attribute(resource, "service.instance.id"), "466e3f74-0079-58b7-b82c-b411b15edd57");
  EXPECT_EQ(string_attribute(resource, "telemetry.sdk.name"), "zerotrace");
  EXPECT_EQ(string_attribute(resource, "telemetry.sdk.language"), "cpp");
  EXPECT_EQ(string_attribute(resource, "telemetry.sdk.version"), kVersion);
  EXPECT_EQ(string_attribute(resource, "telemetry.distro.name"), "zerotrace");
  EXPECT_EQ(string_attribute(resource, "telemetry.distro.version"), kVersion);
  // Each key once: service.name from OTEL_SERVICE_NAME is not added a second time.
  std::set<std::string> keys;
  for (const auto& attribute : resource.attributes) EXPECT_TRUE(keys.insert(attribute.key).second) << attribute.key;
  EXPECT_EQ(std::count_if(resource.attributes.begin(), resource.attributes.end(),
                          [](const trace::Attribute& a) { return a.key == "service.name"; }),
            1);
}

TEST(MakeResource, LeavesOutWhatIsUnknown) {
  ProcessIdentity identity;
  identity.pid = 9;
  const trace::Resource resource = make_resource(identity, HostIdentity{});
  for (const char* key : {"process.executable.name", "process.executable.path", "process.command_line",
                          "process.owner", "host.name", "host.id", "host.arch", "container.id", "k8s.pod.uid"}) {
    EXPECT_EQ(find(resource, key), nullptr) << key;
  }
  EXPECT_EQ(string_attribute(resource, "os.type"), "linux");
  EXPECT_EQ(string_attribute(resource, "telemetry.sdk.name"), "zerotrace");
  EXPECT_NE(find(resource, "service.instance.id"), nullptr);
}

TEST(ServiceInstanceId, StableForAProcessAndNewForAReusedPid) {
  const HostIdentity host = test_host();
  const std::string id = service_instance_id(host, 4321, 98765);
  EXPECT_EQ(id, "466e3f74-0079-58b7-b82c-b411b15edd57");
  EXPECT_EQ(service_instance_id(test_host(), 4321, 98765), id) << "an agent restarted computes the same";
  EXPECT_NE(service_instance_id(host, 4321, 98766), id) << "pid reused by a later process";
  EXPECT_NE(service_instance_id(host, 4322, 98765), id);
  HostIdentity rebooted = host;
  rebooted.boot_id = "00000000-f6a0-4ca8-9b88-a851de3b7ab7";
  EXPECT_NE(service_instance_id(rebooted, 4321, 98765), id) << "same pid and start time after a reboot";
  HostIdentity other_machine = host;
  other_machine.id = "0f5e4c3b2a1908f7e6d5c4b3a2918070";
  EXPECT_NE(service_instance_id(other_machine, 4321, 98765), id);
  // Without a machine id the host name stands in: "node-1//4321/98765".
  EXPECT_EQ(service_instance_id(HostIdentity{.name = "node-1"}, 4321, 98765), "86bdf1da-0e0c-56d9-a260-c939b3f0e532");
}

TEST(MakeUnknownProcessResource, CarriesWhatIsKnownWithoutTheProcess) {
  const trace::Resource resource = make_unknown_process_resource(60, test_host());
  EXPECT_EQ(resource.service_name, "unknown_service");
  EXPECT_EQ(int_attribute(resource, "process.pid"), 60);
  EXPECT_EQ(string_attribute(resource, "host.id"), kMachineId);
  EXPECT_EQ(string_attribute(resource, "telemetry.sdk.version"), kVersion);
  EXPECT_EQ(find(resource, "service.instance.id"), nullptr) << "needs the start time";
}

TEST(MakeResource, ServiceNamePrecedence) {
  ProcessIdentity identity;
  identity.exe_name = "java";
  const HostIdentity host{.name = "h"};
  EXPECT_EQ(make_resource(identity, host).service_name, "java");
  identity.otel_resource_attributes = {{"service.name", "attr"}};
  EXPECT_EQ(make_resource(identity, host).service_name, "attr");
  identity.otel_service_name = "env";
  EXPECT_EQ(make_resource(identity, host).service_name, "env");
  EXPECT_EQ(string_attribute(make_resource(identity, host), "service.name"), "env");
  EXPECT_EQ(make_resource(ProcessIdentity{}, host).service_name, "unknown_service");
}

TEST(MakeResource, DeclaredAttributesWinOverObservedOnes) {
  ProcessIdentity identity;
  identity.pid = 5;
  identity.exe_name = "app";
  identity.container_id = kContainerId;
  identity.otel_resource_attributes = {{"host.name", "first"},
                                       {"host.name", "declared-host"},
                                       {"service.instance.id", "checkout-7f9c"},
                                       {"container.id", "declared-container"},
                                       {"telemetry.sdk.language", "python"}};
  const trace::Resource resource = make_resource(identity, test_host());
  EXPECT_EQ(string_attribute(resource, "host.name"), "declared-host");
  EXPECT_EQ(string_attribute(resource, "service.instance.id"), "checkout-7f9c");
  EXPECT_EQ(string_attribute(resource, "container.id"), "declared-container");
  EXPECT_EQ(string_attribute(resource, "telemetry.sdk.language"), "python");
  for (const char* key : {"host.name", "service.instance.id", "container.id", "telemetry.sdk.language"}) {
    std::size_t count = 0;
    for (const auto& attribute : resource.attributes) count += attribute.key == key;
    EXPECT_EQ(count, 1u) << key;
  }
}

TEST(ProcessRegistry, CachesRefreshesAndForgets) {
  FakeProc proc;
  proc.add(FakeProc::Process(50, "bash", "/bin/bash").with_cmdline("bash\0"s));
  ProcessRegistry registry(proc.root(), test_host());

  const auto first = registry.resource_for(50);
  EXPECT_EQ(first->service_name, "bash");
  EXPECT_EQ(string_attribute(*first, "host.name"), "node-1");
  EXPECT_EQ(registry.resource_for(50), first) << "served from the cache";
  EXPECT_EQ(registry.size(), 1u);

  // exec: same pid, new program.
  proc.remove(50);
  proc.add(FakeProc::Process(50, "server", "/srv/server").with_environ("OTEL_SERVICE_NAME=api\0"s));
  EXPECT_EQ(registry.resource_for(50)->service_name, "bash") << "stale until refreshed";
  EXPECT_EQ(registry.refresh(50)->service_name, "api");
  EXPECT_EQ(registry.resource_for(50)->service_name, "api");

  registry.forget(50);
  EXPECT_EQ(registry.size(), 0u);
}

TEST(ProcessRegistry, GoneProcessGivesUnknownServiceAndIsNotCached) {
  FakeProc proc;
  ProcessRegistry registry(proc.root(), test_host());
  const auto resource = registry.resource_for(60);
  ASSERT_NE(resource, nullptr);
  EXPECT_EQ(resource->pid, 60u);
  EXPECT_EQ(resource->service_name, "unknown_service");
  EXPECT_EQ(string_attribute(*resource, "service.name"), "unknown_service");
  EXPECT_EQ(int_attribute(*resource, "process.pid"), 60);
  EXPECT_EQ(string_attribute(*resource, "host.name"), "node-1");
  EXPECT_EQ(string_attribute(*resource, "host.id"), kMachineId);
  EXPECT_EQ(registry.size(), 0u);

  proc.add(FakeProc::Process(60, "late", "/bin/late"));
  EXPECT_EQ(registry.resource_for(60)->service_name, "late");
}

TEST(ProcessRegistry, ForgetExitedDropsGoneAndReusedPids) {
  FakeProc proc;
  proc.add(FakeProc::Process(70, "a", "/bin/a").started_at(100));
  proc.add(FakeProc::Process(71, "b", "/bin/b").started_at(100));
  proc.add(FakeProc::Process(72, "c", "/bin/c").started_at(100));
  ProcessRegistry registry(proc.root(), test_host());
  for (std::uint32_t pid : {70u, 71u, 72u}) (void)registry.resource_for(pid);

  proc.remove(70);  // exited
  proc.remove(71);  // exited, and its pid was reused:
  proc.add(FakeProc::Process(71, "other", "/bin/other").started_at(900));

  EXPECT_EQ(registry.forget_exited(), 2u);
  EXPECT_EQ(registry.size(), 1u);
  EXPECT_EQ(registry.resource_for(71)->service_name, "other");
  EXPECT_EQ(registry.resource_for(72)->service_name, "c");
}

TEST(ProcessRegistry, ReadsOwnerContainerAndPod) {
  FakeProc proc;
  proc.add(FakeProc::Process(80, "python3", "/usr/bin/python3.11")
               .started_at(98765)
               .with_status(status_with_uids("0\t0\t0\t0"))
               .with_cgroup("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                            std::string("3f8d66cb_0b08_4dde_b5ab_7629054f7eed") + ".slice/cri-containerd-" +
                            kContainerId + ".scope\n"));
  ProcessRegistry registry(proc.root(), test_host());

  const auto resource = registry.resource_for(80);

  EXPECT_EQ(string_attribute(*resource, "process.owner"), "root");
  EXPECT_EQ(string_attribute(*resource, "container.id"), kContainerId);
  EXPECT_EQ(string_attribute(*resource, "k8s.pod.uid"), kPodUid);
  EXPECT_EQ(string_attribute(*resource, "service.instance.id"), service_instance_id(test_host(), 80, 98765));
  EXPECT_EQ(string_attribute(*resource, "host.arch"), "amd64");
}

TEST(ProcessRegistry, UsesMountsOnlyAtTheRootOfACgroupNamespace) {
  const std::string docker_mounts = "1534 1512 259:2 /var/lib/docker/containers/" + kContainerId +
                                    "/hostname /etc/hostname rw,relatime - ext4 /dev/nvme0n1p2 rw\n";
  FakeProc proc;
  proc.add(FakeProc::Process(81, "app", "/app").with_cgroup("0::/\n").with_mountinfo(docker_mounts));
  proc.add(FakeProc::Process(82, "sshd", "/usr/sbin/sshd")
               .with_cgroup("0::/system.slice/ssh.service\n")
               .with_mountinfo(docker_mounts));
  ProcessRegistry registry(proc.root(), test_host());

  EXPECT_EQ(string_attribute(*registry.resource_for(81), "container.id"), kContainerId);
  EXPECT_EQ(find(*registry.resource_for(82), "container.id"), nullptr);
}

TEST(ProcessRegistry, MissingOddOrHugeFilesLeaveAttributesOut) {
  FakeProc proc;
  proc.add(FakeProc::Process(83, "a", "/bin/a"));  // no status, cgroup or mountinfo
  proc.add(FakeProc::Process(84, "b", "/bin/b")
               .with_status("Uid:\tnot-a-number\n" + std::string(1 << 20, 'x'))
               .with_cgroup(std::string(1 << 20, '\n') + "0::/docker/" + kContainerId + "\n"));
  // The read bound cuts the inner id of a nested container: the cut line is dropped, not taken
  // for the outer container.
  const std::string nested = "0::/docker/" + kContainerId + "/docker/" + std::string(64, 'a') + "\n";
  proc.add(FakeProc::Process(85, "c", "/bin/c").with_cgroup(std::string(64 * 1024 - 93, '\n') + nested));
  proc.add(FakeProc::Process(86, "d", "/bin/d").with_cgroup("0::/\n").with_mountinfo(std::string(8 << 20, ' ')));
  ProcessRegistry registry(proc.root(), test_host());

  for (std::uint32_t pid : {83u, 84u, 85u, 86u}) {
    const auto resource = registry.resource_for(pid);
    EXPECT_EQ(int_attribute(*resource, "process.pid"), static_cast<std::int64_t>(pid));
    EXPECT_EQ(find(*resource, "process.owner"), nullptr) << pid;
    EXPECT_EQ(find(*resource, "container.id"), nullptr) << pid;
    EXPECT_EQ(find(*resource, "k8s.pod.uid"), nullptr) << pid;
    EXPECT_NE(find(*resource, "service.instance.id"), nullptr) << pid;
  }
}

TEST(RealUidFromStatus, TakesTheRealUid) {
  EXPECT_EQ(real_uid_from_status(status_with_uids("1000\t0\t0\t0")), 1000u);
  EXPECT_EQ(real_uid_from_status("Uid:\t0\t0\t0\t0\n"), 0u);
  EXPECT_EQ(real_uid_from_status(status_with_uids("4294967294\t0\t0\t0")), 4294967294u);
  EXPECT_EQ(real_uid_from_status(status_with_uids("4294967296\t0\t0\t0")), std::nullopt);
  EXPECT_EQ(real_uid_from_status(status_with_uids("-1\t0\t0\t0")), std::nullopt);
  EXPECT_EQ(real_uid_from_status(status_with_uids("")), std::nullopt);
  EXPECT_EQ(real_uid_from_status("Name:\tx\nGid:\t0\t0\t0\t0\n"), std::nullopt);
  EXPECT_EQ(real_uid_from_status(""), std::nullopt);
}

TEST(UserName, NamesKnownUidsAndNumbersOthers) {
  EXPECT_EQ(user_name(0), "root");
  EXPECT_EQ(user_name(3999999999u), "3999999999");
}

// The real /proc, with a child process whose environment we control.
class ChildProcess {
 public:
  explicit ChildProcess(std::vector<std::string> env) {
    std::vector<char*> argv = {const_cast<char*>("sleep"), const_cast<char*>("5"), nullptr};
    std::vector<char*> envp;
    for (auto& entry : env) envp.push_back(entry.data());
    envp.push_back(nullptr);
    const char* sleep_path = fs::exists("/usr/bin/sleep") ? "/usr/bin/sleep" : "/bin/sleep";
    if (::posix_spawn(&pid_, sleep_path, nullptr, nullptr, argv.data(), envp.data()) != 0) pid_ = -1;
  }
  ~ChildProcess() { stop(); }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

TEST(RealProc, ReadsAChildProcessAndForgetsItAfterExit) {
  ChildProcess child({"OTEL_SERVICE_NAME=zt-test-service", "OTEL_RESOURCE_ATTRIBUTES=team=obs,tier=back%20end"});
  ASSERT_GT(child.pid(), 0);
  const auto pid = static_cast<std::uint32_t>(child.pid());

  // posix_spawn returns as soon as exec swapped the address space, before the kernel has copied
  // argv and the environment into it: wait for them.
  Result<ProcessIdentity> identity = make_error("not read yet");
  for (int attempt = 0; attempt < 200; ++attempt) {
    identity = read_process_identity(pid);
    if (identity && identity->exe_name == "sleep" && !identity->command_line.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(identity->exe_name, "sleep");
  EXPECT_TRUE(identity->exe_path.ends_with("/sleep")) << identity->exe_path;
  EXPECT_EQ(identity->command_line, "sleep 5");
  EXPECT_EQ(identity->parent_pid, static_cast<std::uint32_t>(::getpid()));
  EXPECT_GT(identity->start_time_ticks, 0u);
  EXPECT_EQ(read_start_time_ticks(pid).value(), identity->start_time_ticks);
  EXPECT_TRUE(process_exists(pid));

  ProcessRegistry registry;
  const auto resource = registry.resource_for(pid);
  EXPECT_EQ(resource->service_name, "zt-test-service");
  EXPECT_EQ(string_attribute(*resource, "team"), "obs");
  EXPECT_EQ(string_attribute(*resource, "tier"), "back end");
  EXPECT_EQ(int_attribute(*resource, "process.pid"), static_cast<std::int64_t>(pid));
  EXPECT_EQ(string_attribute(*resource, "host.name"), local_host_name());
  EXPECT_EQ(string_attribute(*resource, "process.owner"), user_name(::getuid()));
  EXPECT_EQ(string_attribute(*resource, "service.instance.id"),
            service_instance_id(read_host_identity("/", "/proc"), pid, identity->start_time_ticks));
  EXPECT_EQ(string_attribute(*resource, "os.type"), "linux");

  child.stop();
  EXPECT_FALSE(process_exists(pid));
  EXPECT_EQ(registry.forget_exited(), 1u);
  EXPECT_EQ(registry.resource_for(pid)->service_name, "unknown_service");
}

}  // namespace
}  // namespace zt::discovery
