#include "trace/ids.h"

#include <sys/random.h>

#include <chrono>
#include <cstring>

namespace zt::trace {
namespace {

// xoshiro256** (Blackman and Vigna): fast, with a 2^256 period; seeded per thread from the OS.
class Xoshiro256 {
 public:
  Xoshiro256() {
    std::uint64_t seed[4] = {};
    if (getrandom(seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) {
      // getrandom cannot fail for 32 bytes once the pool is initialised; fall back to the clock
      // mixed by splitmix64 rather than leave the state zero.
      std::uint64_t x = static_cast<std::uint64_t>(
          std::chrono::steady_clock::now().time_since_epoch().count()) ^ reinterpret_cast<std::uintptr_t>(this);
      for (auto& s : seed) s = splitmix64(x);
    }
    std::memcpy(s_, seed, sizeof s_);
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint64_t s_[4];
};

Xoshiro256& generator() {
  thread_local Xoshiro256 g;
  return g;
}

std::uint64_t nonzero() {
  std::uint64_t v;
  do v = generator().next(); while (v == 0);
  return v;
}

}  // namespace

TraceId new_trace_id() {
  TraceId id;
  const std::uint64_t hi = generator().next();
  const std::uint64_t lo = nonzero();  // the low half alone keeps the id non-zero
  std::memcpy(id.data(), &hi, 8);
  std::memcpy(id.data() + 8, &lo, 8);
  return id;
}

SpanId new_span_id() {
  SpanId id;
  const std::uint64_t v = nonzero();
  std::memcpy(id.data(), &v, 8);
  return id;
}

}  // namespace zt::trace
