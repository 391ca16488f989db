// Kernel timestamps are CLOCK_MONOTONIC (bpf_ktime_get_ns); spans carry wall-clock (Unix) times.
#pragma once

#include <cstdint>
#include <ctime>

namespace zt {

inline std::uint64_t monotonic_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

inline std::uint64_t realtime_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Converts monotonic kernel timestamps to Unix time with one offset taken at start-up; re-sampled
// by the agent periodically so that an NTP step does not skew long runs.
class MonotonicToRealtime {
 public:
  MonotonicToRealtime() { resync(); }
  void resync() {
    // Bracket the realtime read between two monotonic reads to halve the uncertainty.
    const std::uint64_t m1 = monotonic_now_ns();
    const std::uint64_t r = realtime_now_ns();
    const std::uint64_t m2 = monotonic_now_ns();
    offset_ = static_cast<std::int64_t>(r) - static_cast<std::int64_t>(m1 + (m2 - m1) / 2);
  }
  std::uint64_t to_unix_ns(std::uint64_t monotonic_ns) const {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(monotonic_ns) + offset_);
  }

 private:
  std::int64_t offset_ = 0;
};

}  // namespace zt
