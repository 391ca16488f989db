#include "discovery/host_info.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace zt::discovery {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMachineId = "3d1219c7c4c5404aaa1f6d2a48adfda4";
constexpr std::string_view kDbusMachineId = "0f5e4c3b2a1908f7e6d5c4b3a2918070";

// A host root and a proc root in a temporary directory.
class FakeHost {
 public:
  FakeHost() : root_(fs::temp_directory_path() / ("zt_fake_host_" + std::to_string(::getpid()))) {
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  ~FakeHost() { fs::remove_all(root_); }

  void write(const std::string& relative_path, std::string_view content) const {
    const fs::path path = root_ / relative_path;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
  }
  std::string host_root() const { return (root_ / "host").string(); }
  std::string proc_root() const { return (root_ / "proc").string(); }

 private:
  fs::path root_;
};

TEST(ReadHostIdentity, ReadsMachineIdAndBootId) {
  FakeHost host;
  host.write("host/etc/machine-id", std::string(kMachineId) + "\n");
  host.write("host/var/lib/dbus/machine-id", std::string(kDbusMachineId) + "\n");
  host.write("proc/sys/kernel/random/boot_id", "814c8b56-f6a0-4ca8-9b88-a851de3b7ab7\n");

  const HostIdentity identity = read_host_identity(host.host_root(), host.proc_root());

  EXPECT_EQ(identity.id, kMachineId);
  EXPECT_EQ(identity.boot_id, "814c8b56-f6a0-4ca8-9b88-a851de3b7ab7");
  EXPECT_EQ(identity.name, local_host_name());
  EXPECT_FALSE(identity.arch.empty());
}

TEST(ReadHostIdentity, FallsBackToTheDbusMachineId) {
  FakeHost host;
  host.write("host/var/lib/dbus/machine-id", std::string(kDbusMachineId) + "\n");
  EXPECT_EQ(read_host_identity(host.host_root(), host.proc_root()).id, kDbusMachineId);
  // systemd writes this placeholder until the first boot has completed.
  host.write("host/etc/machine-id", "uninitialized\n");
  EXPECT_EQ(read_host_identity(host.host_root(), host.proc_root()).id, kDbusMachineId);
}

TEST(ReadHostIdentity, MissingFilesLeaveFieldsEmpty) {
  FakeHost host;
  const HostIdentity identity = read_host_identity(host.host_root(), host.proc_root());
  EXPECT_EQ(identity.id, "");
  EXPECT_EQ(identity.boot_id, "");
  // A huge file is no machine id, and reading it stops early.
  host.write("host/etc/machine-id", std::string(1 << 20, 'a'));
  EXPECT_EQ(read_host_identity(host.host_root(), host.proc_root()).id, "");
}

TEST(MachineIdFromFile, AcceptsOnly32LowercaseHexDigits) {
  EXPECT_EQ(machine_id_from_file(std::string(kMachineId) + "\n"), kMachineId);
  EXPECT_EQ(machine_id_from_file(kMachineId), kMachineId);
  EXPECT_EQ(machine_id_from_file(""), std::nullopt);
  EXPECT_EQ(machine_id_from_file("\n"), std::nullopt);
  EXPECT_EQ(machine_id_from_file("uninitialized\n"), std::nullopt);
  EXPECT_EQ(machine_id_from_file("3D1219C7C4C5404AAA1F6D2A48ADFDA4\n"), std::nullopt);
  EXPECT_EQ(machine_id_from_file(std::string(kMachineId.substr(1)) + "\n"), std::nullopt);
  EXPECT_EQ(machine_id_from_file(std::string(kMachineId) + "0\n"), std::nullopt);
  EXPECT_EQ(machine_id_from_file("3d1219c7-c4c5-404a-aa1f-6d2a48adfda4\n"), std::nullopt);
}

TEST(HostArchFromMachine, UsesOpenTelemetryValues) {
  EXPECT_EQ(host_arch_from_machine("x86_64"), "amd64");
  EXPECT_EQ(host_arch_from_machine("aarch64"), "arm64");
  EXPECT_EQ(host_arch_from_machine("arm64"), "arm64");
  EXPECT_EQ(host_arch_from_machine("armv7l"), "arm32");
  EXPECT_EQ(host_arch_from_machine("armv6l"), "arm32");
  EXPECT_EQ(host_arch_from_machine("i686"), "x86");
  EXPECT_EQ(host_arch_from_machine("i386"), "x86");
  EXPECT_EQ(host_arch_from_machine("ppc64le"), "ppc64");
  EXPECT_EQ(host_arch_from_machine("ppc64"), "ppc64");
  EXPECT_EQ(host_arch_from_machine("ppc"), "ppc32");
  EXPECT_EQ(host_arch_from_machine("s390x"), "s390x");
  EXPECT_EQ(host_arch_from_machine("ia64"), "ia64");
  EXPECT_EQ(host_arch_from_machine("riscv64"), "riscv64");
  EXPECT_EQ(host_arch_from_machine("i786"), "i786");
}

}  // namespace
}  // namespace zt::discovery
