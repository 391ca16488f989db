// The real libzerotrace_cupti.so, loaded as the CUDA driver would load it, on a machine without a
// GPU or driver: it must give up cleanly (one stderr line, a status batch) and let the process run.
// Runs it in a child (zt_cupti_probe_host) because its effects - stderr, atexit, CUPTI - are
// process-wide.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/cuda_source.h"
#include "cuda/cupti_wire.h"

#if defined(ZT_CUPTI_INJECTION_LIBRARY) && defined(ZT_CUPTI_PROBE_HOST)

namespace zt::cuda {
namespace {

struct ChildRun {
  int exit_status = -1;  // -1: did not exit normally
  std::string out;
  std::string err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ChildRun run_probe_host(const std::vector<std::string>& env) {
  const std::string dir = ::testing::TempDir();
  const std::string out_path = dir + "cupti_probe.out", err_path = dir + "cupti_probe.err";
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(err, 2);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    execl(ZT_CUPTI_PROBE_HOST, ZT_CUPTI_PROBE_HOST, ZT_CUPTI_INJECTION_LIBRARY, static_cast<char*>(nullptr));
    _exit(127);
  }
  ChildRun r;
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) r.exit_status = WEXITSTATUS(status);
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

// The batches the library appended to its ZEROTRACE_CUPTI_DUMP file, parsed.
std::vector<zt_cupti_status_record> statuses_in_dump(const std::string& dump, std::uint64_t& batches) {
  std::vector<zt_cupti_status_record> out;
  batches = 0;
  std::size_t at = 0;
  while (at < dump.size()) {
    const auto view = parse_batch(dump.data() + at, dump.size() - at);
    if (!view.ok()) {
      ADD_FAILURE() << "batch at " << at << ": " << view.error().message;
      break;
    }
    EXPECT_EQ(view->header.sequence, batches);
    ++batches;
    view->for_each([&](const zt_cupti_record_header& h, std::span<const std::byte> rec) {
      if (h.type == ZT_CUPTI_REC_STATUS) out.push_back(record_as<zt_cupti_status_record>(rec));
    });
    at += view->header.bytes;
  }
  return out;
}

TEST(CuptiInjection, WithoutADriverItGivesUpCleanly) {
  const std::string dump = ::testing::TempDir() + "cupti_dump.bin";
  std::remove(dump.c_str());
  const auto run = run_probe_host({"ZEROTRACE_CUPTI_DUMP=" + dump, "ZEROTRACE_CUPTI_STATS=1"});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out, "InitializeInjection=0\n");
  // Exactly one line, ours, saying what failed and what still works.
  ASSERT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  EXPECT_EQ(run.err.rfind("zerotrace: ", 0), 0u) << run.err;
  EXPECT_NE(run.err.find("GPU timings off, uprobes still trace CUDA calls"), std::string::npos) << run.err;
  std::cout << "library said: " << run.err;

  std::uint64_t batches = 0;
  const auto statuses = statuses_in_dump(slurp(dump), batches);
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(batches, 1u);
  EXPECT_EQ(statuses[0].status, ZT_CUPTI_STATUS_ERROR);
  EXPECT_NE(statuses[0].detail, 0);
  // The CUptiResult in the record is the one the line names.
  EXPECT_NE(run.err.find("(CUptiResult " + std::to_string(statuses[0].detail) + ")"), std::string::npos) << run.err;
}

TEST(CuptiInjection, OffMeansNothingAtAll) {
  const std::string dump = ::testing::TempDir() + "cupti_dump_off.bin";
  std::remove(dump.c_str());
  const auto run = run_probe_host({"ZEROTRACE_CUPTI=off", "ZEROTRACE_CUPTI_DUMP=" + dump});
  EXPECT_EQ(run.exit_status, 0);
  EXPECT_EQ(run.out, "InitializeInjection=0\n");
  EXPECT_EQ(run.err, "");
  EXPECT_EQ(access(dump.c_str(), F_OK), -1);
}

TEST(CuptiInjection, AMissingCuptiIsOneLineToo) {
  // Only the first candidate can be steered; the others find the toolkit's CUPTI here, so this
  // checks that a bad ZEROTRACE_CUPTI_LIBRARY is not fatal, and ends the same way as above.
  const auto run = run_probe_host({"ZEROTRACE_CUPTI_LIBRARY=/nonexistent/libcupti.so"});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
}

TEST(CuptiInjection, StepsAsideForAnotherSubscriber) {
  // The fake CUPTI answers cuptiSubscribe like a process already under Nsight Systems.
  const std::string dump = ::testing::TempDir() + "cupti_dump_other.bin";
  std::remove(dump.c_str());
  const auto run =
      run_probe_host({std::string("ZEROTRACE_CUPTI_LIBRARY=") + ZT_FAKE_CUPTI, "ZEROTRACE_CUPTI_DUMP=" + dump});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_EQ(run.out, "InitializeInjection=0\n");
  EXPECT_EQ(run.err,
            "zerotrace: another CUPTI subscriber (Nsight Systems, a profiler) holds this process; GPU timings off, "
            "uprobes still trace CUDA calls\n");
  std::uint64_t batches = 0;
  const auto statuses = statuses_in_dump(slurp(dump), batches);
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0].status, ZT_CUPTI_STATUS_OTHER_SUBSCRIBER);
}

// GPU review, finding 6: ZEROTRACE_CUPTI_LIBRARY meant the injection library to the agent and
// libcupti to the injection library, so the troubleshooting advice (point it at libcupti) put
// libcupti in CUDA_INJECTION64_PATH and CUPTI never loaded. Now the agent reads
// ZEROTRACE_CUPTI_INJECTION, refuses a file without InitializeInjection, and leaves
// ZEROTRACE_CUPTI_LIBRARY to the injection library.
TEST(CuptiInjection, GpuReview6TheAgentAndTheInjectionLibraryReadDifferentVariables) {
  const auto saved = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  const auto saved_injection = saved("ZEROTRACE_CUPTI_INJECTION");
  const auto saved_library = saved("ZEROTRACE_CUPTI_LIBRARY");
  EXPECT_TRUE(is_injection_library(ZT_CUPTI_INJECTION_LIBRARY));
  EXPECT_FALSE(is_injection_library(ZT_FAKE_CUPTI)) << "a libcupti stand-in has no InitializeInjection";

  // The advice of docs/troubleshooting.md: libcupti's path in ZEROTRACE_CUPTI_LIBRARY. The agent's
  // choice of injection library is not affected by it.
  unsetenv("ZEROTRACE_CUPTI_INJECTION");
  setenv("ZEROTRACE_CUPTI_LIBRARY", ZT_FAKE_CUPTI, 1);
  EXPECT_NE(find_cupti_library(), ZT_FAKE_CUPTI);
  // Naming libcupti as the injection library is refused rather than handed to the driver.
  setenv("ZEROTRACE_CUPTI_INJECTION", ZT_FAKE_CUPTI, 1);
  EXPECT_EQ(find_cupti_library(), "");
  setenv("ZEROTRACE_CUPTI_INJECTION", ZT_CUPTI_INJECTION_LIBRARY, 1);
  EXPECT_EQ(find_cupti_library(), ZT_CUPTI_INJECTION_LIBRARY);
  setenv("ZEROTRACE_CUPTI_INJECTION", "/nonexistent/libzerotrace_cupti.so", 1);
  EXPECT_EQ(find_cupti_library(), "");

  if (saved_injection) {
    setenv("ZEROTRACE_CUPTI_INJECTION", saved_injection->c_str(), 1);
  } else {
    unsetenv("ZEROTRACE_CUPTI_INJECTION");
  }
  if (saved_library) {
    setenv("ZEROTRACE_CUPTI_LIBRARY", saved_library->c_str(), 1);
  } else {
    unsetenv("ZEROTRACE_CUPTI_LIBRARY");
  }
}

}  // namespace
}  // namespace zt::cuda

#endif
