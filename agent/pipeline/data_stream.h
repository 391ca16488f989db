// One direction of a connection as an ordered sequence of chunks.
//
// Chunks normally arrive in stream order (the ring buffer keeps the order in which records were
// reserved). Two threads writing one socket can swap their order, and a full ring buffer loses
// records: a chunk that arrives ahead of the expected position waits briefly for the missing
// bytes; when they do not come (too long, too much waiting) they are declared a gap and parsing
// goes on past it. Positions come from the kernel, so a loss is always visible, never silent.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "protocols/protocol.h"

namespace zt::pipeline {

struct DataStreamLimits {
  std::size_t max_pending_chunks = 64;
  std::size_t max_pending_bytes = 1u << 20;
  std::uint64_t max_wait_ns = 50'000'000;  // 50 ms
};

struct DataStreamStats {
  std::uint64_t chunks = 0;
  std::uint64_t reordered = 0;   // arrived ahead of a missing chunk that came later
  std::uint64_t gaps = 0;        // missing ranges given up on
  std::uint64_t gap_bytes = 0;
  std::uint64_t duplicates = 0;  // chunks for bytes already delivered (dropped)
};

class DataStream {
 public:
  explicit DataStream(DataStreamLimits limits = {}) : limits_(limits) {}

  // Accepts a chunk (its data is copied only if it has to wait) and delivers, through
  // `deliver(const protocols::Chunk&)`, every chunk that is now in order.
  template <typename Deliver>
  void push(const protocols::Chunk& chunk, std::uint64_t arrival_ns, Deliver&& deliver);

  // Gives up on missing bytes that have been waited for long enough (or at once when `force`):
  // delivers a gap chunk and whatever follows it in order.
  template <typename Deliver>
  void flush(std::uint64_t now_ns, bool force, Deliver&& deliver);

  bool has_pending() const { return !pending_.empty(); }
  // Syscall exit time of the oldest chunk waiting (UINT64_MAX when none waits).
  std::uint64_t first_pending_ns() const {
    return pending_.empty() ? UINT64_MAX : pending_.begin()->second.chunk.end_ns;
  }
  const DataStreamStats& stats() const { return stats_; }

 private:
  struct Pending {
    protocols::Chunk chunk;  // data points into `bytes`
    std::string bytes;
    std::uint64_t arrival_ns = 0;
  };

  template <typename Deliver>
  void deliver_ready(Deliver&& deliver);

  DataStreamLimits limits_;
  DataStreamStats stats_;
  bool started_ = false;
  std::uint64_t next_ = 0;  // position of the next byte to deliver
  std::map<std::uint64_t, Pending> pending_;
  std::size_t pending_bytes_ = 0;
};

template <typename Deliver>
void DataStream::push(const protocols::Chunk& chunk, std::uint64_t arrival_ns, Deliver&& deliver) {
  ++stats_.chunks;
  if (!started_) {
    started_ = true;
    next_ = chunk.position;
  }
  if (chunk.position < next_) {
    ++stats_.duplicates;  // only possible if the kernel counters wrapped or a record repeated
    return;
  }
  if (chunk.position == next_) {
    next_ += chunk.size;
    deliver(chunk);
    deliver_ready(deliver);
    return;
  }
  Pending p;
  p.bytes.assign(chunk.data);
  p.chunk = chunk;
  p.chunk.data = p.bytes;
  p.arrival_ns = arrival_ns;
  pending_bytes_ += p.bytes.size();
  auto [it, inserted] = pending_.emplace(chunk.position, std::move(p));
  if (!inserted) {
    ++stats_.duplicates;
    return;
  }
  it->second.chunk.data = it->second.bytes;  // the string moved: re-point the view
  if (pending_.size() > limits_.max_pending_chunks || pending_bytes_ > limits_.max_pending_bytes) {
    flush(arrival_ns, true, deliver);
  }
}

template <typename Deliver>
void DataStream::flush(std::uint64_t now_ns, bool force, Deliver&& deliver) {
  if (pending_.empty()) return;
  auto& first = pending_.begin()->second;
  if (!force && now_ns - first.arrival_ns < limits_.max_wait_ns) return;
  protocols::Chunk gap;
  gap.position = next_;
  gap.size = first.chunk.position - next_;
  gap.start_ns = first.chunk.start_ns;
  gap.end_ns = first.chunk.start_ns;
  gap.tid = first.chunk.tid;
  gap.gap = true;
  ++stats_.gaps;
  stats_.gap_bytes += gap.size;
  next_ = first.chunk.position;
  deliver(gap);
  deliver_ready(deliver);
}

template <typename Deliver>
void DataStream::deliver_ready(Deliver&& deliver) {
  while (!pending_.empty()) {
    auto it = pending_.begin();
    if (it->first > next_) return;
    Pending p = std::move(it->second);
    pending_.erase(it);
    pending_bytes_ -= p.bytes.size();
    p.chunk.data = p.bytes;
    if (p.chunk.position < next_) {
      ++stats_.duplicates;
      continue;
    }
    ++stats_.reordered;
    next_ += p.chunk.size;
    deliver(p.chunk);
  }
}

}  // namespace zt::pipeline
