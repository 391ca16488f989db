// What the pipeline may ask of the kernel's capture for one connection: stop copying it, or skip
// the payload of bytes it will not parse. Advisory: the kernel applies it to calls that come
// after the request (the ring buffer lags), and nothing is lost when it does not.
#pragma once

#include <cstdint>

#include "pipeline/connection_info.h"
#include "protocols/protocol.h"

namespace zt::pipeline {

class KernelControl {
 public:
  virtual ~KernelControl() = default;
  // The connection carries no supported protocol: its further data calls produce no events.
  virtual void disable_connection(const ConnectionInfo& conn) = 0;
  // Data calls of `dir` whose bytes all lie below stream position `until_position` are reported
  // with their size and position only; parsers skip such bytes by count.
  virtual void skip(const ConnectionInfo& conn, protocols::Direction dir, std::uint64_t until_position) = 0;
};

}  // namespace zt::pipeline
