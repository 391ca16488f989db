// libFuzzer target for parse_batch: CUPTI batches come from the traced process (the injection
// library runs in it, and the process can call zerotrace_cupti_deliver itself), so every byte is
// untrusted. Input: one batch, as zerotrace_cupti_deliver would pass it.
// Besides memory safety it checks that an accepted batch's records tile it exactly, that kernel
// names lie inside their records, and that rewriting the known records with BatchWriter gives a
// batch parse_batch accepts with the same records.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "cuda/cupti_wire.h"

using zt::cuda::BatchWriter;
using zt::cuda::record_as;

namespace {

bool rewrite(BatchWriter& w, const zt_cupti_record_header& h, std::span<const std::byte> rec) {
  switch (h.type) {
    case ZT_CUPTI_REC_API: return w.add_api(record_as<zt_cupti_api_record>(rec));
    case ZT_CUPTI_REC_KERNEL: return w.add_kernel(record_as<zt_cupti_kernel_record>(rec), zt::cuda::kernel_name(rec));
    case ZT_CUPTI_REC_MEMCPY: return w.add_memcpy(record_as<zt_cupti_memcpy_record>(rec));
    case ZT_CUPTI_REC_MEMSET: return w.add_memset(record_as<zt_cupti_memset_record>(rec));
    case ZT_CUPTI_REC_SYNC: return w.add_sync(record_as<zt_cupti_sync_record>(rec));
    case ZT_CUPTI_REC_STATUS: return w.add_status(record_as<zt_cupti_status_record>(rec));
    default: std::abort();  // for_each gives known types only
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto view = zt::cuda::parse_batch(data, size);
  if (!view.ok()) return 0;
  if (view->header.bytes > size || view->records.size() + sizeof(zt_cupti_batch_header) != view->header.bytes) std::abort();

  static BatchWriter w;  // 16 KiB: not on the stack
  w.reset();
  std::size_t covered = 0;
  std::uint32_t known = 0;
  view->for_each([&](const zt_cupti_record_header& h, std::span<const std::byte> rec) {
    if (rec.size() != h.size || h.size % 8 != 0 || rec.size() < zt::cuda::record_min_size(h.type)) std::abort();
    if (rec.data() < view->records.data() || rec.data() + rec.size() > view->records.data() + view->records.size()) {
      std::abort();
    }
    if (h.type == ZT_CUPTI_REC_KERNEL) {
      const auto name = zt::cuda::kernel_name(rec);
      if (name.size() > ZT_CUPTI_NAME_MAX || name.size() != record_as<zt_cupti_kernel_record>(rec).name_len) std::abort();
    }
    covered += rec.size();
    ++known;
    // A rewritten record is never larger than the original: it always fits an equal-sized batch.
    if (!rewrite(w, h, rec)) std::abort();
  });
  if (known + view->unknown_records != view->header.records) std::abort();
  if (view->unknown_records == 0 && covered != view->records.size()) std::abort();

  const auto again = w.finish(view->header.sequence, view->header.dropped);
  const auto reparsed = zt::cuda::parse_batch(again.data(), again.size());
  if (!reparsed.ok() || reparsed->header.records != known || reparsed->unknown_records != 0) std::abort();
  return 0;
}
