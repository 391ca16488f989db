// Finding CUDA functions in real programs built with nvcc (tests/workloads/cuda): in the executable
// with the default static cudart, in libcudart.so with -cudart shared, and in a running process.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>

#include "cuda/cuda_api.h"
#include "cuda/cuda_probes.h"

namespace zt::cuda {
namespace {

#if defined(ZT_GPU_STEPS_STATIC)

std::map<std::string, ProbeSite> by_symbol(const std::vector<ProbeSite>& sites) {
  std::map<std::string, ProbeSite> out;
  for (const auto& s : sites) out[s.symbol] = s;
  return out;
}

// A workload started with its stdin a pipe: it waits there (after printing "ready") until closed.
class Waiting {
 public:
  explicit Waiting(const char* program) {
    int in[2];
    int out[2];
    EXPECT_EQ(pipe(in), 0);
    EXPECT_EQ(pipe(out), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
      execl(program, program, static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    char buf[6] = {};
    EXPECT_EQ(read(out[0], buf, 6), 6);  // "ready\n": its libraries are mapped
    close(out[0]);
  }
  ~Waiting() {
    close(stdin_);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  std::uint32_t pid() const { return static_cast<std::uint32_t>(pid_); }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
};

TEST(CudaProbeSites, StaticCudartIsFoundInTheExecutable) {
  auto elf = symbols::ElfFile::open(ZT_GPU_STEPS_STATIC);
  ASSERT_TRUE(elf) << elf.error().message;
  const auto sites = by_symbol(find_probe_sites(**elf));
  // CUDA 13's <<<>>> stubs call __cudaLaunchKernel (a local symbol of the executable here).
  for (const char* name : {"__cudaLaunchKernel", "cudaLaunchKernel", "cudaMemcpy", "cudaMalloc", "cudaFree",
                           "cudaMemset", "cudaDeviceSynchronize", "__cudaGetKernel"}) {
    ASSERT_TRUE(sites.contains(name)) << name;
    const auto sym = (*elf)->find_function(name);
    ASSERT_TRUE(sym);
    EXPECT_EQ(sites.at(name).offset, (*elf)->file_offset(*sym)) << name;
  }
  EXPECT_EQ(sites.at("__cudaLaunchKernel").api, static_cast<std::uint32_t>(ZT_CUDA_LAUNCH_KERNEL_HANDLE));
  EXPECT_EQ(sites.at("cudaLaunchKernel").api, static_cast<std::uint32_t>(ZT_CUDA_LAUNCH_KERNEL));
  EXPECT_EQ(sites.at("cudaMemcpy").api, static_cast<std::uint32_t>(ZT_CUDA_MEMCPY));
  // No driver in an executable.
  for (const auto& [name, site] : sites) EXPECT_FALSE(api_info(site.api)->driver) << name;
  // One site per address, however many names it has.
  std::set<std::uint64_t> offsets;
  for (const auto& [name, site] : sites) EXPECT_TRUE(offsets.insert(site.offset).second) << name;
}

TEST(CudaProbeSites, SharedCudartProgramHasNoneOfItsOwn) {
  auto elf = symbols::ElfFile::open(ZT_GPU_STEPS_SHARED);
  ASSERT_TRUE(elf) << elf.error().message;
  // The stubs themselves are in the program; the functions they call are in libcudart.so.
  EXPECT_TRUE(find_probe_sites(**elf).empty());
}

class RecordingAttach {
 public:
  CudaProbes::Attach fn() {
    return [this](std::uint32_t pid, const ProbeSite& site) -> Result<std::shared_ptr<void>> {
      attached.push_back({pid, site});
      return std::shared_ptr<void>(std::make_shared<int>(0));
    };
  }
  std::vector<std::pair<std::uint32_t, ProbeSite>> attached;
};

TEST(CudaProbes, ScanFindsTheStaticRuntimeInARunningProcess) {
  Waiting program(ZT_GPU_STEPS_STATIC);
  RecordingAttach rec;
  CudaProbes probes(rec.fn());
  const std::size_t n = probes.scan(program.pid());
  ASSERT_GT(n, 5u);
  ASSERT_EQ(rec.attached.size(), n);
  std::set<std::string> symbols;
  for (const auto& [pid, site] : rec.attached) {
    EXPECT_EQ(pid, program.pid());
    EXPECT_EQ(site.module, ZT_GPU_STEPS_STATIC);
    // Reached through the process's own root, so a container's files are its own.
    EXPECT_EQ(site.path, "/proc/" + std::to_string(program.pid()) + "/root" + ZT_GPU_STEPS_STATIC);
    symbols.insert(site.symbol);
  }
  EXPECT_TRUE(symbols.contains("__cudaLaunchKernel"));
  EXPECT_EQ(probes.probed_processes(), 1u);
  // A second scan finds nothing new: files already examined in the process are skipped.
  EXPECT_EQ(probes.scan(program.pid()), 0u);
  EXPECT_EQ(probes.stats().carriers, 1u);
  probes.forget(program.pid());
  EXPECT_EQ(probes.probed_processes(), 0u);
}

TEST(CudaProbes, ScanFindsLibcudartOfASharedProgram) {
  Waiting program(ZT_GPU_STEPS_SHARED);
  RecordingAttach rec;
  CudaProbes probes(rec.fn());
  ASSERT_GT(probes.scan(program.pid()), 5u);
  std::set<std::string> modules;
  for (const auto& [pid, site] : rec.attached) modules.insert(site.module);
  ASSERT_EQ(modules.size(), 1u);
  EXPECT_NE(modules.begin()->find("libcudart.so"), std::string::npos) << *modules.begin();
}

TEST(CudaProbes, FailedAttachmentsAreCountedNotFatal) {
  Waiting program(ZT_GPU_STEPS_STATIC);
  CudaProbes probes([](std::uint32_t, const ProbeSite&) -> Result<std::shared_ptr<void>> {
    return make_error("no uprobes here");
  });
  EXPECT_EQ(probes.scan(program.pid()), 0u);
  EXPECT_GT(probes.stats().probes_failed, 5u);
  EXPECT_EQ(probes.probed_processes(), 0u);
}

#endif

TEST(CudaProbes, AGoneProcessIsNotAnError) {
  CudaProbes probes([](std::uint32_t, const ProbeSite&) -> Result<std::shared_ptr<void>> {
    ADD_FAILURE() << "nothing to attach";
    return make_error("unexpected");
  });
  EXPECT_EQ(probes.scan(0x7ffffff0u), 0u);
  EXPECT_EQ(probes.stats().scans, 0u);
}

TEST(CudaApi, EveryApiHasANameAndSymbols) {
  std::set<std::uint32_t> values;
  for (const auto& a : all_apis()) {
    EXPECT_TRUE(values.insert(static_cast<std::uint32_t>(a.api)).second) << a.name;
    EXPECT_FALSE(a.symbols.empty()) << a.name;
    EXPECT_EQ(api_name(a.api), a.name);
  }
  EXPECT_EQ(api_name(9999), "cuda_api_unknown");
  EXPECT_EQ(memcpy_kind_name(ZT_MEMCPY_HOST_TO_DEVICE), "HtoD");
  EXPECT_EQ(memcpy_kind_name(77), "");
}

}  // namespace
}  // namespace zt::cuda
