// Drains the BPF ring buffer. Records are submitted without wakeups (a wakeup per record cost
// ~4 us on the development VM, more than the capture itself), so the reader polls with a short timeout and then consumes whatever
// is there; the kernel forces a wakeup only when the buffer fills past a threshold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/result.h"

struct ring_buffer;

namespace zt::pipeline {

class RingReader {
 public:
  // Called once per record; the bytes are valid only during the call.
  using Handler = std::function<void(const void* data, std::size_t size)>;

  static Result<std::unique_ptr<RingReader>> create(int ringbuf_fd, Handler handler);
  ~RingReader();
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  // Waits up to `timeout_ms` for a wakeup, then drains everything available. Returns the number
  // of records handled, or -1 on error.
  int poll(int timeout_ms);
  // Drains without waiting.
  int drain();
  std::uint64_t records() const { return records_; }

 private:
  RingReader() = default;
  static int on_record(void* self, void* data, std::size_t size);

  ring_buffer* ring_ = nullptr;
  Handler handler_;
  std::uint64_t records_ = 0;
};

}  // namespace zt::pipeline
