// Decodes ring-buffer records and routes each, by kind, to the stages that subscribed to it, in
// the order they subscribed (the agent's wiring decides that order: agent.cpp). A record too short
// for its kind, or of a kind nobody handles, is counted and skipped. Stages never see raw bytes:
// a handler gets the decoded struct (and a data event its payload).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "core/stats.h"
#include "pipeline/events.h"

namespace zt::pipeline {

class EventRouter {
 public:
  static constexpr std::size_t kKinds = 32;  // record kinds are small numbers (abi.h, cuda_abi.h)
  using RawHandler = std::function<void(const void* data, std::size_t size)>;
  using DataHandler = std::function<void(const zt_data_event& event, std::string_view payload)>;

  // Records of `kind` decoded as T (a fixed-size struct that starts with zt_event_header).
  template <typename T>
  void on(std::uint32_t kind, std::function<void(const T&)> handler) {
    on_raw(kind, [this, handler = std::move(handler)](const void* data, std::size_t size) {
      if (auto ev = read_record<T>(data, size)) {
        handler(*ev);
      } else {
        ++malformed_;
      }
    });
  }
  // Data events: the struct and its captured payload (checked against the record's size).
  void on_data(DataHandler handler);
  // Records of `kind` as bytes, for kinds with a variable part the handler validates itself.
  void on_raw(std::uint32_t kind, RawHandler handler);

  // One ring-buffer record.
  void route(const void* data, std::size_t size);
  // A handler found a record of its kind invalid.
  void count_malformed() { ++malformed_; }

  void report(StatsSnapshot& out) const;

 private:
  std::array<std::vector<RawHandler>, kKinds> handlers_;
  std::uint64_t records_ = 0;
  std::uint64_t data_records_ = 0;
  std::uint64_t malformed_ = 0;
  std::uint64_t unhandled_ = 0;
};

}  // namespace zt::pipeline
