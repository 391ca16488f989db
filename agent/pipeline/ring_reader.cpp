#include "pipeline/ring_reader.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

namespace zt::pipeline {

Result<std::unique_ptr<RingReader>> RingReader::create(int ringbuf_fd, Handler handler) {
  std::unique_ptr<RingReader> reader(new RingReader());
  reader->handler_ = std::move(handler);
  reader->ring_ = ring_buffer__new(ringbuf_fd, &RingReader::on_record, reader.get(), nullptr);
  if (!reader->ring_) return make_error(std::string("cannot map the ring buffer: ") + std::strerror(errno));
  return reader;
}

RingReader::~RingReader() {
  if (ring_) ring_buffer__free(ring_);
}

int RingReader::on_record(void* self, void* data, std::size_t size) {
  auto* reader = static_cast<RingReader*>(self);
  ++reader->records_;
  reader->handler_(data, size);
  return 0;
}

int RingReader::poll(int timeout_ms) {
  // poll() returns on a forced wakeup or the timeout; records submitted without a wakeup are
  // only seen by consume(), so always consume afterwards.
  int n = ring_buffer__poll(ring_, timeout_ms);
  if (n < 0 && n != -EINTR) return -1;
  int m = ring_buffer__consume(ring_);
  if (m < 0 && m != -EINTR) return -1;
  return (n > 0 ? n : 0) + (m > 0 ? m : 0);
}

int RingReader::drain() {
  int m = ring_buffer__consume(ring_);
  return m < 0 ? (m == -EINTR ? 0 : -1) : m;
}

}  // namespace zt::pipeline
