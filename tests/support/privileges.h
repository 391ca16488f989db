// Tests that need root and BPF: they run in CI (CI=true) and must fail there when BPF is
// unavailable; elsewhere they skip, loudly, so a developer without root knows what did not run.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace zt::testing {

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && *ci && std::strcmp(ci, "false") != 0 && std::strcmp(ci, "0") != 0;
}

}  // namespace zt::testing

// Use at the top of a test body.
#define ZT_REQUIRE_ROOT()                                                                         \
  do {                                                                                            \
    if (geteuid() != 0) {                                                                         \
      if (::zt::testing::in_ci()) FAIL() << "CI=true but not running as root: BPF tests cannot run"; \
      GTEST_SKIP() << "*** NOT RUN: needs root for BPF (runs in CI, where it must pass) ***";       \
    }                                                                                             \
  } while (0)
