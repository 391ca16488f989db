// Finding CUDA functions in real programs built with nvcc (tests/workloads/cuda): in the executable
// with the default static cudart, in libcudart.so with -cudart shared, and in a running process;
// naming their kernels. The attacher itself is tested on a fake /proc in uprobe_attacher_test.cpp.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <spdlog/fmt/fmt.h>

#include "cuda/cuda_api.h"
#include "cuda/cuda_probes.h"
#include "cuda/kernel_naming.h"
#include "probes/uprobe_attacher.h"
#include "symbols/proc_maps.h"

namespace zt::cuda {
namespace {

#if defined(ZT_GPU_STEPS_STATIC)

struct Site {
  std::uint64_t offset = 0;
  std::uint32_t api = 0;
};

// The CUDA functions `elf` defines, by the symbol found.
std::map<std::string, Site> by_symbol(const symbols::ElfFile& elf) {
  const auto& family = probe_family();
  std::map<std::string, Site> out;
  for (const auto& s : probes::find_sites(family, elf).sites) {
    out[s.symbol] = Site{s.offset, static_cast<std::uint32_t>(family.probes[s.spec].cookie)};
  }
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
  const auto sites = by_symbol(**elf);
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
  EXPECT_TRUE(by_symbol(**elf).empty());
}

class RecordingAttach {
 public:
  struct Link : probes::UprobeLink {};
  probes::AttachUprobe fn() {
    return [this](const probes::UprobeRequest& r) -> Result<probes::UprobeLinkPtr> {
      requests.push_back(r);
      return probes::UprobeLinkPtr(new Link);
    };
  }
  std::vector<probes::UprobeRequest> requests;
};

probes::UprobeAttacher cuda_attacher(probes::AttachUprobe attach) {
  probes::UprobeAttacherOptions o;
  o.uprobe_multi = true;
  return probes::UprobeAttacher({probe_family()}, std::move(attach), o);
}

TEST(CudaProbes, ScanFindsTheStaticRuntimeInARunningProcess) {
  Waiting program(ZT_GPU_STEPS_STATIC);
  RecordingAttach rec;
  auto probes = cuda_attacher(rec.fn());
  const std::size_t n = probes.scan(program.pid());
  ASSERT_GT(n, 5u);
  // One link per program for the executable: calls (entry and return); no CUPTI library here.
  ASSERT_EQ(rec.requests.size(), 2u);
  std::set<std::string> programs;
  for (const auto& r : rec.requests) {
    EXPECT_EQ(r.family, "cuda");
    EXPECT_EQ(r.pid, program.pid());
    // Reached through the process's own root, so a container's files are its own.
    EXPECT_EQ(r.path, "/proc/" + std::to_string(program.pid()) + "/root" + ZT_GPU_STEPS_STATIC);
    EXPECT_EQ(r.offsets.size(), n);
    programs.insert(r.program);
  }
  EXPECT_EQ(programs, (std::set<std::string>{"cuda_enter", "cuda_exit"}));
  auto elf = symbols::ElfFile::open(ZT_GPU_STEPS_STATIC);
  ASSERT_TRUE(elf);
  const auto sym = (*elf)->find_function("__cudaLaunchKernel");
  ASSERT_TRUE(sym);
  const auto& offsets = rec.requests.front().offsets;
  const auto at = std::find(offsets.begin(), offsets.end(), *(*elf)->file_offset(*sym));
  ASSERT_NE(at, offsets.end());
  EXPECT_EQ(rec.requests.front().cookies[static_cast<std::size_t>(at - offsets.begin())],
            static_cast<std::uint64_t>(ZT_CUDA_LAUNCH_KERNEL_HANDLE));
  EXPECT_EQ(probes.probed_processes("cuda"), 1u);
  // A second scan finds nothing new: files already examined in the process are skipped.
  EXPECT_EQ(probes.scan(program.pid()), 0u);
  EXPECT_EQ(probes.family_stats("cuda").files_probed, 1u);
  probes.on_exit(program.pid());
  EXPECT_EQ(probes.probed_processes(), 0u);
}

TEST(CudaProbes, ScanFindsLibcudartOfASharedProgram) {
  Waiting program(ZT_GPU_STEPS_SHARED);
  RecordingAttach rec;
  auto probes = cuda_attacher(rec.fn());
  ASSERT_GT(probes.scan(program.pid()), 5u);
  std::set<std::string> paths;
  for (const auto& r : rec.requests) paths.insert(r.path);
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_NE(paths.begin()->find("libcudart.so"), std::string::npos) << *paths.begin();
}

TEST(CudaProbes, FailedAttachmentsAreCountedNotFatal) {
  Waiting program(ZT_GPU_STEPS_STATIC);
  auto probes = cuda_attacher(
      [](const probes::UprobeRequest&) -> Result<probes::UprobeLinkPtr> { return make_error("no uprobes here"); });
  EXPECT_EQ(probes.scan(program.pid()), 0u);
  EXPECT_GT(probes.family_stats("cuda").functions_failed, 5u);
  EXPECT_EQ(probes.probed_processes(), 0u);
}

// Kernel names of a running program through its symbols: a host function (the address a
// cudaLaunchKernel call carries) names its kernel; an address inside a function does not.
TEST(KernelNaming, HostFunctionsAreNamedThroughTheProcessSymbols) {
  Waiting program(ZT_GPU_STEPS_STATIC);
  auto elf = symbols::ElfFile::open(ZT_GPU_STEPS_STATIC);
  ASSERT_TRUE(elf);
  const symbols::Symbol* stub = nullptr;
  for (const auto& s : (*elf)->symbols()) {
    if (s.type == symbols::Symbol::Func && s.name.find("__device_stub__") != std::string::npos) stub = &s;
  }
  ASSERT_NE(stub, nullptr) << "no kernel stub in " << ZT_GPU_STEPS_STATIC;
  symbols::SymbolCache cache;
  symbols::ProcessSymbolizer symbolizer(program.pid(), cache);
  std::optional<std::uint64_t> bias;
  for (const auto& m : symbolizer.modules()) {
    if (m.mapping.path == ZT_GPU_STEPS_STATIC) bias = m.bias;
  }
  ASSERT_TRUE(bias);
  KernelNaming naming(cache);
  const auto name = naming.kernel_name(program.pid(), ZT_CUDA_LAUNCH_KERNEL, stub->address + *bias);
  ASSERT_TRUE(name);
  EXPECT_EQ(name->mangled, stub->name);
  EXPECT_FALSE(naming.kernel_name(program.pid(), ZT_CUDA_LAUNCH_KERNEL, stub->address + *bias + 1));
  EXPECT_EQ(naming.stats().names_unknown, 1u);
}

// GPU review, finding 2: the fallbacks that name a kernel handle from the stub's statics needed
// `__f`, which optimised builds (this one: -O2) do not have. A process whose first <<<>>> launch
// happened before the agent looked is named from the stub's `__handle` and the stub's own name.
TEST(KernelNaming, GpuReview2AHandleIsNamedWithoutTheStubsHostFunctionVariable) {
  auto elf = symbols::ElfFile::open(ZT_GPU_STEPS_STATIC);
  ASSERT_TRUE(elf);
  std::optional<symbols::Symbol> handle_var;
  bool has_f = false;
  for (const auto& s : (*elf)->symbols()) {
    if (s.name.find("__device_stub__Z6vecAdd") == std::string::npos) continue;
    if (s.name.starts_with("_ZZ") && s.name.ends_with("E8__handle")) handle_var = s;
    if (s.name.ends_with("E3__f")) has_f = true;
  }
  ASSERT_TRUE(handle_var) << "vecAdd's stub keeps its handle in a static";
  EXPECT_FALSE(has_f) << "an optimised build: no __f (the finding)";

  // The program after one round: its vecAdd launch made the stub store the handle (without a
  // driver, __cudaGetKernel stores the host function there before it fails).
  int in[2];
  int out[2];
  ASSERT_EQ(pipe(in), 0);
  ASSERT_EQ(pipe(out), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[1]);
    close(out[0]);
    execl(ZT_GPU_STEPS_STATIC, ZT_GPU_STEPS_STATIC, static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  FILE* from = fdopen(out[0], "r");
  ASSERT_NE(from, nullptr);
  const auto wait_for = [&](const std::string& want) {
    char line[256];
    while (std::fgets(line, sizeof line, from)) {
      if (std::string(line) == want + "\n") return true;
    }
    return false;
  };
  ASSERT_TRUE(wait_for("ready"));
  ASSERT_EQ(write(in[1], "\n", 1), 1);
  ASSERT_TRUE(wait_for("done"));

  symbols::SymbolCache cache;
  symbols::ProcessSymbolizer symbolizer(pid, cache);
  std::optional<std::uint64_t> bias;
  for (const auto& m : symbolizer.modules()) {
    if (m.mapping.path == ZT_GPU_STEPS_STATIC) bias = m.bias;
  }
  ASSERT_TRUE(bias);
  std::uint64_t handle = 0;
  {
    std::ifstream mem(fmt::format("/proc/{}/mem", pid), std::ios::binary);
    mem.seekg(static_cast<std::streamoff>(handle_var->address + *bias));
    mem.read(reinterpret_cast<char*>(&handle), sizeof handle);
  }
  ASSERT_NE(handle, 0u) << "the stub stored a handle";

  KernelNaming naming(cache);
  const auto maps = symbols::read_maps(pid, "/proc");
  ASSERT_TRUE(maps);
  naming.on_maps(pid, maps.value());
  const auto name = naming.kernel_name(pid, ZT_CUDA_LAUNCH_KERNEL_HANDLE, handle);
  close(in[1]);
  std::fclose(from);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(name) << "unnamed: the __f fallback alone cannot name it";
  EXPECT_EQ(name->mangled, "_Z6vecAddPKfS0_Pfi");
  EXPECT_EQ(naming.stats().names_from_memory, 1u);
}

#endif

TEST(KernelNaming, TheKernelIsReadFromItsStubsName) {
  EXPECT_EQ(kernel_of_stub("_Z32__device_stub__Z6vecAddPKfS0_PfiPKfS0_Pfi"), "_Z6vecAddPKfS0_Pfi");
  EXPECT_EQ(kernel_of_stub("_Z32__device_stub__Z6vecAddPKfS0_PfiPKfS0_Pfi.cold"), "_Z6vecAddPKfS0_Pfi");
  EXPECT_EQ(kernel_of_stub("_ZL40__device_stub__ZN4demo5scaleIfEEvPT_S1_iPffi"), "_ZN4demo5scaleIfEEvPT_S1_i");
  EXPECT_EQ(kernel_of_stub("_ZZL40__device_stub__ZN4demo5scaleIfEEvPT_S1_iPffiE8__handle"),
            "_ZN4demo5scaleIfEEvPT_S1_i");
  EXPECT_EQ(kernel_of_stub("_Z25__device_stub__Z6vecAddPfPf"), "_Z6vecAddPf");
  // Not a stub, or a lying length: nothing.
  EXPECT_FALSE(kernel_of_stub("_Z6vecAddPf"));
  EXPECT_FALSE(kernel_of_stub("_Z99__device_stub__Z6vecAddPf"));
  EXPECT_FALSE(kernel_of_stub("__device_stub__Z6vecAddPf"));
  EXPECT_FALSE(kernel_of_stub("_Z15__device_stub__"));
  EXPECT_FALSE(kernel_of_stub("_Z20__device_stub__abcdePf"));
}

// Launch records are read after the launching process may have exited: names come from the files
// its last scan saw.
TEST(KernelNaming, AnExitedProcessIsNamedFromItsLastScan) {
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("zt-naming-" + std::to_string(::getpid()));
  std::filesystem::create_directories(root / "77" / "root" / "usr" / "bin");
  std::filesystem::create_symlink(ZT_ELF_PIE, root / "77" / "root" / "usr" / "bin" / "prog");
  auto elf = symbols::ElfFile::open(ZT_ELF_PIE);
  ASSERT_TRUE(elf);
  const symbols::Segment* text = nullptr;
  for (const auto& seg : (*elf)->segments()) {
    if (seg.flags & 1) text = &seg;  // PF_X
  }
  ASSERT_NE(text, nullptr);
  constexpr std::uint64_t kBase = 0x555555554000;
  const std::uint64_t start = kBase + (text->vaddr & ~0xfffull);
  const auto maps =
      symbols::parse_maps(fmt::format("{:x}-{:x} r-xp {:08x} fd:01 5 /usr/bin/prog\n", start,
                                      start + ((text->filesz + 0xfff) & ~0xfffull) + 0x1000, text->offset & ~0xfffull));
  ASSERT_EQ(maps.size(), 1u);
  symbols::SymbolCache cache;
  KernelNaming naming(cache, root.string());
  naming.on_maps(77, maps);
  std::filesystem::remove_all(root);  // the process is gone

  const auto func = (*elf)->find_function("zt_fixture_global");
  ASSERT_TRUE(func);
  const auto name = naming.kernel_name(77, ZT_CUDA_LAUNCH_KERNEL, kBase + func->address);
  ASSERT_TRUE(name);
  EXPECT_EQ(name->mangled, "zt_fixture_global");
  naming.on_exit(77);
  EXPECT_FALSE(naming.kernel_name(77, ZT_CUDA_LAUNCH_KERNEL, kBase + func->address));
}

TEST(CudaProbes, TheFamilyCoversEveryApiOnce) {
  const auto& family = probe_family();
  EXPECT_EQ(family.name, "cuda");
  EXPECT_TRUE(family.library.any_file_defining);  // static cudart
  ASSERT_EQ(family.probes.size(), all_apis().size());
  std::set<std::uint64_t> cookies;
  for (const auto& spec : family.probes) {
    EXPECT_TRUE(cookies.insert(spec.cookie).second);
    EXPECT_FALSE(spec.required);
    if (spec.cookie == ZT_CUPTI_DELIVER) {
      EXPECT_EQ(spec.entry_program, "cupti_deliver");
      EXPECT_TRUE(spec.return_program.empty());
    } else {
      EXPECT_EQ(spec.entry_program, "cuda_enter");
      EXPECT_EQ(spec.return_program, "cuda_exit");
    }
  }
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
