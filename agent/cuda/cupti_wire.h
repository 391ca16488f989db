// The CUPTI batch wire format (struct zt_cupti_batch_header + records, bpf/include/zerotrace/cuda_abi.h):
// BatchWriter fills batches inside the traced process (agent/cuda/injection), parse_batch checks
// them in the agent, and ClockAligner maps CUPTI timestamps to CLOCK_MONOTONIC.
// Compiled into both the agent and the injection library: no CUDA, no CUPTI, no logging here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "core/result.h"
#include "cuda/cuda_abi_layout.h"
#include "zerotrace/cuda_abi.h"

namespace zt::cuda {

// Builds one batch in a fixed buffer. Every add_* returns false, leaving the batch unchanged, when
// the record does not fit: the caller delivers the batch, reset()s and adds again.
class BatchWriter {
 public:
  BatchWriter() { reset(); }

  // Appends a record of `size` bytes whose header type is already set, then `tail`, zero-padded to
  // a multiple of 8; writes the header's size. `size` must be at least sizeof(zt_cupti_record_header).
  bool append(const void* record, std::size_t size, std::string_view tail = {});

  // The typed forms set h.type and h.size; h.correlation_id is taken from the argument.
  bool add_api(const zt_cupti_api_record& r) { return add(r, ZT_CUPTI_REC_API); }
  // The name is cut to ZT_CUPTI_NAME_MAX bytes; name_len is set from it.
  bool add_kernel(const zt_cupti_kernel_record& r, std::string_view name);
  bool add_memcpy(const zt_cupti_memcpy_record& r) { return add(r, ZT_CUPTI_REC_MEMCPY); }
  bool add_memset(const zt_cupti_memset_record& r) { return add(r, ZT_CUPTI_REC_MEMSET); }
  bool add_sync(const zt_cupti_sync_record& r) { return add(r, ZT_CUPTI_REC_SYNC); }
  bool add_status(const zt_cupti_status_record& r) { return add(r, ZT_CUPTI_REC_STATUS); }

  // Fills the batch header; the bytes stay valid until the next reset() or add.
  std::span<const std::byte> finish(std::uint64_t sequence, std::uint64_t dropped, std::uint16_t flags = 0);
  void reset();

  bool empty() const { return records_ == 0; }
  std::uint32_t records() const { return records_; }
  std::size_t bytes() const { return used_; }

 private:
  template <typename T>
  bool add(T r, std::uint16_t type) {
    r.h.type = type;
    return append(&r, sizeof r);
  }

  alignas(8) std::byte buffer_[ZT_CUPTI_BATCH_MAX];
  std::uint32_t used_ = 0;
  std::uint32_t records_ = 0;
};

// A checked batch. The bytes it points at must outlive it; they may be unaligned, so records are
// read with record_as (a copy), never by casting.
struct BatchView {
  zt_cupti_batch_header header{};
  std::span<const std::byte> records;  // the bytes after the header, up to header.bytes
  std::uint32_t unknown_records = 0;   // records of a type this agent does not know, skipped

  // Calls f(const zt_cupti_record_header&, std::span<const std::byte> whole_record) for each record
  // of a known type, in order. Sizes were checked by parse_batch: record_as<T> of the type's struct
  // is always in bounds.
  template <typename F>
  void for_each(F&& f) const;
};

// Checks an untrusted batch: magic, version, sizes, every record's bounds and kernel names.
Result<BatchView> parse_batch(const void* data, std::size_t n);

// The fixed part of a record, copied out (records need not be aligned in the caller's buffer).
template <typename T>
T record_as(std::span<const std::byte> record) {
  static_assert(std::is_trivially_copyable_v<T>);
  T out{};
  std::memcpy(&out, record.data(), record.size() < sizeof out ? record.size() : sizeof out);
  return out;
}

// The name after a kernel record (checked by parse_batch to lie within the record).
std::string_view kernel_name(std::span<const std::byte> record);

// The smallest record size of a known type; 0 for an unknown type.
std::size_t record_min_size(std::uint16_t type);

template <typename F>
void BatchView::for_each(F&& f) const {
  std::size_t at = 0;
  for (std::uint32_t i = 0; i < header.records; ++i) {
    zt_cupti_record_header h;
    std::memcpy(&h, records.data() + at, sizeof h);
    const auto whole = records.subspan(at, h.size);
    if (record_min_size(h.type) != 0) f(std::as_const(h), whole);
    at += h.size;
  }
}

// CUPTI's clock to CLOCK_MONOTONIC. A calibration reads CLOCK_MONOTONIC, the CUPTI clock, and
// CLOCK_MONOTONIC again, several times; the sample with the shortest CPU window bounds the CUPTI
// read best (least preempted), and its midpoint minus the CUPTI time is the offset. Two
// calibrations far apart give the drift between the clocks, applied linearly.
struct ClockSample {
  std::uint64_t cpu_before;  // CLOCK_MONOTONIC ns
  std::uint64_t gpu;         // CUPTI timestamp ns
  std::uint64_t cpu_after;
};

struct ClockCalibration {
  std::uint64_t gpu;      // the CUPTI time it was taken at
  std::int64_t offset;    // CLOCK_MONOTONIC - CUPTI at that time
  std::uint64_t window;   // cpu_after - cpu_before of the sample used: the error bound (x 1/2)
};

class ClockAligner {
 public:
  // Calibrations closer than this give no drift estimate: jitter would dominate.
  static constexpr std::uint64_t kMinDriftBaselineNs = 1'000'000'000;
  // A larger estimate is taken for noise (real oscillators stay within ~100 ppm).
  static constexpr double kMaxDrift = 1e-3;

  // The best of the samples; nullopt when there is none or each has cpu_after < cpu_before.
  static std::optional<ClockCalibration> calibrate(std::span<const ClockSample> samples);

  // Takes n samples from `sample()` (a ClockSample-returning callable) and adds their calibration.
  template <typename Sampler>
  bool calibrate_with(Sampler&& sample, int n) {
    ClockSample s[32];
    if (n > 32) n = 32;
    for (int i = 0; i < n; ++i) s[i] = sample();
    const auto c = calibrate(std::span<const ClockSample>(s, static_cast<std::size_t>(n)));
    if (c) add(*c);
    return c.has_value();
  }

  // The first calibration anchors the drift estimate; each later one moves the offset to itself.
  void add(const ClockCalibration& c);

  bool calibrated() const { return have_latest_; }
  // CLOCK_MONOTONIC ns for a CUPTI timestamp; 0 stays 0 (CUPTI's "not recorded").
  std::uint64_t to_monotonic(std::uint64_t gpu) const;
  // The offset at the latest calibration (CLOCK_MONOTONIC - CUPTI).
  std::int64_t offset() const { return latest_.offset; }
  // d(offset)/d(CUPTI time), 0 until two calibrations are kMinDriftBaselineNs apart.
  double drift() const { return drift_; }

 private:
  ClockCalibration first_{};
  ClockCalibration latest_{};
  bool have_latest_ = false;
  double drift_ = 0;
};

}  // namespace zt::cuda
