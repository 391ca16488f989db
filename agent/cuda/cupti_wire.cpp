#include "cuda/cupti_wire.h"

#include <string>

namespace zt::cuda {

namespace {

constexpr std::size_t align8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

std::string at(std::uint32_t index, std::size_t offset) {
  return "record " + std::to_string(index) + " at byte " + std::to_string(offset) + ": ";
}

}  // namespace

bool BatchWriter::append(const void* record, std::size_t size, std::string_view tail) {
  if (size < sizeof(zt_cupti_record_header)) return false;
  const std::size_t total = align8(size + tail.size());
  // The size must fit the header's u16 and the batch; a record that can never fit is refused too
  // (the caller sees false on an empty batch and drops it).
  if (total > 0xffff || total > sizeof buffer_ - used_) return false;
  std::byte* out = buffer_ + used_;
  std::memcpy(out, record, size);
  if (!tail.empty()) std::memcpy(out + size, tail.data(), tail.size());
  std::memset(out + size + tail.size(), 0, total - size - tail.size());
  const auto size16 = static_cast<std::uint16_t>(total);
  std::memcpy(out + offsetof(zt_cupti_record_header, size), &size16, sizeof size16);
  used_ += static_cast<std::uint32_t>(total);
  ++records_;
  return true;
}

bool BatchWriter::add_kernel(const zt_cupti_kernel_record& r, std::string_view name) {
  zt_cupti_kernel_record k = r;
  name = name.substr(0, ZT_CUPTI_NAME_MAX);
  k.h.type = ZT_CUPTI_REC_KERNEL;
  k.name_len = static_cast<std::uint16_t>(name.size());
  return append(&k, sizeof k, name);
}

std::span<const std::byte> BatchWriter::finish(std::uint64_t sequence, std::uint64_t dropped, std::uint16_t flags) {
  zt_cupti_batch_header h{};
  h.magic = ZT_CUPTI_MAGIC;
  h.version = ZT_CUPTI_VERSION;
  h.flags = flags;
  h.records = records_;
  h.bytes = used_;
  h.sequence = sequence;
  h.dropped = dropped;
  std::memcpy(buffer_, &h, sizeof h);
  return {buffer_, used_};
}

void BatchWriter::reset() {
  used_ = sizeof(zt_cupti_batch_header);
  records_ = 0;
}

std::size_t record_min_size(std::uint16_t type) {
  switch (type) {
    case ZT_CUPTI_REC_API: return sizeof(zt_cupti_api_record);
    case ZT_CUPTI_REC_KERNEL: return sizeof(zt_cupti_kernel_record);
    case ZT_CUPTI_REC_MEMCPY: return sizeof(zt_cupti_memcpy_record);
    case ZT_CUPTI_REC_MEMSET: return sizeof(zt_cupti_memset_record);
    case ZT_CUPTI_REC_SYNC: return sizeof(zt_cupti_sync_record);
    case ZT_CUPTI_REC_STATUS: return sizeof(zt_cupti_status_record);
    default: return 0;
  }
}

std::string_view kernel_name(std::span<const std::byte> record) {
  const auto k = record_as<zt_cupti_kernel_record>(record);
  if (record.size() < sizeof k + k.name_len) return {};  // not a record parse_batch accepted
  return {reinterpret_cast<const char*>(record.data()) + sizeof k, k.name_len};
}

Result<BatchView> parse_batch(const void* data, std::size_t n) {
  BatchView view;
  if (data == nullptr || n < sizeof view.header) return make_error("batch shorter than its header");
  std::memcpy(&view.header, data, sizeof view.header);
  const auto& h = view.header;
  if (h.magic != ZT_CUPTI_MAGIC) return make_error("bad magic");
  if (h.version != ZT_CUPTI_VERSION) return make_error("unsupported version " + std::to_string(h.version));
  if (h.bytes < sizeof h || h.bytes > n || h.bytes > ZT_CUPTI_BATCH_MAX) {
    return make_error("batch size " + std::to_string(h.bytes) + " outside [header, " + std::to_string(n) +
                      " received, " + std::to_string(ZT_CUPTI_BATCH_MAX) + " max]");
  }
  view.records = std::span<const std::byte>(static_cast<const std::byte*>(data) + sizeof h, h.bytes - sizeof h);

  // Each record advances by at least 8 bytes, so the loop is bounded by the batch size whatever
  // `records` claims.
  std::size_t offset = 0;
  for (std::uint32_t i = 0; i < h.records; ++i) {
    const std::size_t left = view.records.size() - offset;
    if (left < sizeof(zt_cupti_record_header)) return make_error(at(i, offset) + "past the end of the batch");
    zt_cupti_record_header rh;
    std::memcpy(&rh, view.records.data() + offset, sizeof rh);
    if (rh.size < sizeof rh || rh.size % 8 != 0) {
      return make_error(at(i, offset) + "size " + std::to_string(rh.size) + " not a multiple of 8 of at least 8");
    }
    if (rh.size > left) return make_error(at(i, offset) + "size " + std::to_string(rh.size) + " past the end of the batch");
    const std::size_t min = record_min_size(rh.type);
    if (min == 0) {
      ++view.unknown_records;
    } else if (rh.size < min) {
      return make_error(at(i, offset) + "type " + std::to_string(rh.type) + " needs " + std::to_string(min) +
                        " bytes, has " + std::to_string(rh.size));
    } else if (rh.type == ZT_CUPTI_REC_KERNEL) {
      const auto k = record_as<zt_cupti_kernel_record>(view.records.subspan(offset, rh.size));
      if (k.name_len > ZT_CUPTI_NAME_MAX || sizeof k + k.name_len > rh.size) {
        return make_error(at(i, offset) + "kernel name of " + std::to_string(k.name_len) + " bytes does not fit");
      }
    }
    offset += rh.size;
  }
  if (offset != view.records.size()) {
    return make_error(std::to_string(view.records.size() - offset) + " bytes after the last record");
  }
  return view;
}

std::optional<ClockCalibration> ClockAligner::calibrate(std::span<const ClockSample> samples) {
  std::optional<ClockCalibration> best;
  for (const auto& s : samples) {
    if (s.cpu_after < s.cpu_before) continue;  // a broken reading, not a clock
    const std::uint64_t window = s.cpu_after - s.cpu_before;
    if (best && window >= best->window) continue;
    const std::uint64_t mid = s.cpu_before + window / 2;
    // Unsigned difference reinterpreted: the clocks may be decades apart (CUPTI's is often realtime).
    best = ClockCalibration{s.gpu, static_cast<std::int64_t>(mid - s.gpu), window};
  }
  return best;
}

void ClockAligner::add(const ClockCalibration& c) {
  if (!have_latest_) {
    first_ = latest_ = c;
    have_latest_ = true;
    return;
  }
  latest_ = c;
  // Drift from the longest baseline available (first to latest): its error shrinks as the two
  // calibrations' jitter is divided by an ever longer interval.
  if (c.gpu > first_.gpu && c.gpu - first_.gpu >= kMinDriftBaselineNs) {
    const double d = static_cast<double>(c.offset - first_.offset) / static_cast<double>(c.gpu - first_.gpu);
    drift_ = (d > kMaxDrift || d < -kMaxDrift) ? 0 : d;
  }
}

std::uint64_t ClockAligner::to_monotonic(std::uint64_t gpu) const {
  if (gpu == 0) return 0;  // before any calibration offset and drift are 0: the identity
  const double since = static_cast<double>(static_cast<std::int64_t>(gpu - latest_.gpu));
  const auto correction = static_cast<std::int64_t>(drift_ * since);
  return gpu + static_cast<std::uint64_t>(latest_.offset + correction);
}

}  // namespace zt::cuda
