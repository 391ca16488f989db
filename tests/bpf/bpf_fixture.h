// Loads the real BPF programs, traces the test process itself, and collects what they emit.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "loader/bpf_loader.h"
#include "pipeline/events.h"
#include "pipeline/ring_reader.h"
#include "support/privileges.h"

namespace zt::testing {

struct CapturedData {
  zt_data_event event;
  std::string payload;
};

class BpfFixture : public ::testing::Test {
 protected:
  void load(std::uint32_t capture_bytes = 4096, bool follow_children = false) {
    loader::LoaderOptions opts;
    opts.capture_bytes = capture_bytes;
    auto loaded = loader::BpfLoader::load_and_attach(opts);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    loader_ = std::move(loaded.value());
    auto reader = pipeline::RingReader::create(loader_->ringbuf_fd(), [this](const void* d, std::size_t n) {
      zt_event_header hdr;
      ASSERT_GE(n, sizeof hdr);
      std::memcpy(&hdr, d, sizeof hdr);
      if (hdr.kind == ZT_EV_DATA) {
        CapturedData c;
        ASSERT_GE(n, sizeof c.event);
        std::memcpy(&c.event, d, sizeof c.event);
        ASSERT_EQ(n, sizeof c.event + c.event.captured) << "record size disagrees with its header";
        c.payload.assign(static_cast<const char*>(d) + sizeof c.event, c.event.captured);
        data_.push_back(std::move(c));
      } else if (hdr.kind == ZT_EV_CONN_OPEN || hdr.kind == ZT_EV_CONN_CLOSE) {
        zt_conn_event ev;
        std::memcpy(&ev, d, sizeof ev);
        conns_.push_back(ev);
      } else {
        zt_proc_event ev;
        std::memcpy(&ev, d, sizeof ev);
        procs_.push_back(ev);
      }
    });
    ASSERT_TRUE(reader.ok()) << reader.error().message;
    reader_ = std::move(reader.value());
    ASSERT_TRUE(loader_->trace_pid(static_cast<std::uint32_t>(getpid()), follow_children).ok());
  }

  void drain() {
    while (reader_->drain() > 0) {
    }
  }

  // Data events of one connection and direction, in stream order.
  std::vector<CapturedData> data_of(std::uint64_t conn_id, int direction) const {
    std::vector<CapturedData> out;
    for (const auto& d : data_) {
      if (d.event.conn_id == conn_id && d.event.direction == direction) out.push_back(d);
    }
    return out;
  }

  std::unique_ptr<loader::BpfLoader> loader_;
  std::unique_ptr<pipeline::RingReader> reader_;
  std::vector<CapturedData> data_;
  std::vector<zt_conn_event> conns_;
  std::vector<zt_proc_event> procs_;
};

}  // namespace zt::testing
