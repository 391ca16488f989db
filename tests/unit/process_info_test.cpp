#include "discovery/process_info.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

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

    std::uint32_t pid;
    std::string comm;
    std::string exe;  // symlink target; empty: no exe link (a kernel thread)
    std::uint32_t ppid = 1;
    std::uint64_t start_time = 5000;
    std::string cmdline;
    std::string environ;
  };

  void add(const Process& process) {
    const fs::path dir = root_ / std::to_string(process.pid);
    fs::create_directories(dir);
    write(dir / "stat", stat_line(process.pid, process.comm, process.ppid, process.start_time));
    write(dir / "cmdline", process.cmdline);
    write(dir / "environ", process.environ);
    if (!process.exe.empty()) fs::create_symlink(process.exe, dir / "exe");
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
  identity.command_line = "python3 app.py";
  identity.otel_resource_attributes = {{"service.name", "from-attributes"}, {"team", "payments"}};

  const trace::Resource resource = make_resource(identity, "node-1");

  EXPECT_EQ(resource.pid, 4321u);
  EXPECT_EQ(resource.service_name, "from-attributes");
  EXPECT_EQ(string_attribute(resource, "service.name"), "from-attributes");
  EXPECT_EQ(string_attribute(resource, "team"), "payments");
  EXPECT_EQ(int_attribute(resource, "process.pid"), 4321);
  EXPECT_EQ(int_attribute(resource, "process.parent_pid"), 77);
  EXPECT_EQ(string_attribute(resource, "process.executable.name"), "python3.11");
  EXPECT_EQ(string_attribute(resource, "process.executable.path"), "/usr/bin/python3.11");
  EXPECT_EQ(string_attribute(resource, "process.command_line"), "python3 app.py");
  EXPECT_EQ(string_attribute(resource, "host.name"), "node-1");
  EXPECT_EQ(resource.attributes.size(), 8u) << "service.name appears once";
}

TEST(MakeResource, ServiceNamePrecedence) {
  ProcessIdentity identity;
  identity.exe_name = "java";
  EXPECT_EQ(make_resource(identity, "h").service_name, "java");
  identity.otel_resource_attributes = {{"service.name", "attr"}};
  EXPECT_EQ(make_resource(identity, "h").service_name, "attr");
  identity.otel_service_name = "env";
  EXPECT_EQ(make_resource(identity, "h").service_name, "env");
  EXPECT_EQ(string_attribute(make_resource(identity, "h"), "service.name"), "env");
  EXPECT_EQ(make_resource(ProcessIdentity{}, "h").service_name, "unknown_service");
}

TEST(MakeResource, DeclaredAttributesWinOverObservedOnes) {
  ProcessIdentity identity;
  identity.pid = 5;
  identity.exe_name = "app";
  identity.otel_resource_attributes = {{"host.name", "first"}, {"host.name", "declared-host"}};
  const trace::Resource resource = make_resource(identity, "observed-host");
  EXPECT_EQ(string_attribute(resource, "host.name"), "declared-host");
  std::size_t host_names = 0;
  for (const auto& attribute : resource.attributes) host_names += attribute.key == "host.name";
  EXPECT_EQ(host_names, 1u);
}

TEST(ProcessRegistry, CachesRefreshesAndForgets) {
  FakeProc proc;
  proc.add(FakeProc::Process(50, "bash", "/bin/bash").with_cmdline("bash\0"s));
  ProcessRegistry registry(proc.root(), "node-1");

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
  ProcessRegistry registry(proc.root(), "node-1");
  const auto resource = registry.resource_for(60);
  ASSERT_NE(resource, nullptr);
  EXPECT_EQ(resource->pid, 60u);
  EXPECT_EQ(resource->service_name, "unknown_service");
  EXPECT_EQ(string_attribute(*resource, "service.name"), "unknown_service");
  EXPECT_EQ(int_attribute(*resource, "process.pid"), 60);
  EXPECT_EQ(string_attribute(*resource, "host.name"), "node-1");
  EXPECT_EQ(registry.size(), 0u);

  proc.add(FakeProc::Process(60, "late", "/bin/late"));
  EXPECT_EQ(registry.resource_for(60)->service_name, "late");
}

TEST(ProcessRegistry, ForgetExitedDropsGoneAndReusedPids) {
  FakeProc proc;
  proc.add(FakeProc::Process(70, "a", "/bin/a").started_at(100));
  proc.add(FakeProc::Process(71, "b", "/bin/b").started_at(100));
  proc.add(FakeProc::Process(72, "c", "/bin/c").started_at(100));
  ProcessRegistry registry(proc.root(), "h");
  for (std::uint32_t pid : {70u, 71u, 72u}) (void)registry.resource_for(pid);

  proc.remove(70);  // exited
  proc.remove(71);  // exited, and its pid was reused:
  proc.add(FakeProc::Process(71, "other", "/bin/other").started_at(900));

  EXPECT_EQ(registry.forget_exited(), 2u);
  EXPECT_EQ(registry.size(), 1u);
  EXPECT_EQ(registry.resource_for(71)->service_name, "other");
  EXPECT_EQ(registry.resource_for(72)->service_name, "c");
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

  child.stop();
  EXPECT_FALSE(process_exists(pid));
  EXPECT_EQ(registry.forget_exited(), 1u);
  EXPECT_EQ(registry.resource_for(pid)->service_name, "unknown_service");
}

}  // namespace
}  // namespace zt::discovery
