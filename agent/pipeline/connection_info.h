// What the span builder knows about the connection a record came from.
#pragma once

#include <cstdint>

#include "pipeline/events.h"
#include "protocols/protocol.h"

namespace zt::pipeline {

// Why a connection's pending records are being flushed.
enum class FlushCause : std::uint8_t {
  InStream,     // the record completed on the wire
  Closed,       // the traced process closed the socket
  ProcessExit,  // the process exited
  Idle,         // no traffic for the idle timeout
  Evicted,      // connection table full
  Shutdown,     // the agent is stopping
};

struct ConnectionInfo {
  std::uint64_t conn_id = 0;
  std::uint32_t pid = 0;
  std::int32_t fd = -1;
  protocols::Role role = protocols::Role::Unknown;
  Endpoint local;
  Endpoint remote;
  bool midstream = false;  // first seen after it was opened (predates the agent)
};

}  // namespace zt::pipeline
