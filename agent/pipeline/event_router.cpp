#include "pipeline/event_router.h"

namespace zt::pipeline {

void EventRouter::on_raw(std::uint32_t kind, RawHandler handler) {
  if (kind < kKinds) handlers_[kind].push_back(std::move(handler));
}

void EventRouter::on_data(DataHandler handler) {
  on_raw(ZT_EV_DATA, [this, handler = std::move(handler)](const void* data, std::size_t size) {
    const auto* ev = size >= sizeof(zt_data_event) ? static_cast<const zt_data_event*>(data) : nullptr;
    if (!ev || sizeof(zt_data_event) + ev->captured > size) {
      ++malformed_;
      return;
    }
    ++data_records_;
    handler(*ev, std::string_view(static_cast<const char*>(data) + sizeof(zt_data_event), ev->captured));
  });
}

void EventRouter::route(const void* data, std::size_t size) {
  ++records_;
  auto hdr = read_record<zt_event_header>(data, size);
  if (!hdr) {
    ++malformed_;
    return;
  }
  if (hdr->kind >= kKinds || handlers_[hdr->kind].empty()) {
    ++unhandled_;
    return;
  }
  for (const auto& handler : handlers_[hdr->kind]) handler(data, size);
}

void EventRouter::report(StatsSnapshot& out) const {
  out.set("pipeline.records", records_);
  out.set("pipeline.data_records", data_records_);
  out.set("pipeline.malformed_records", malformed_);
  out.set("pipeline.unhandled_records", unhandled_);
}

}  // namespace zt::pipeline
