// Trace and span id generation: random, never all-zero, cheap enough to call per span.
#pragma once

#include "trace/span.h"

namespace zt::trace {

// Thread-safe; each thread owns a xoshiro256** generator seeded from getrandom(2).
TraceId new_trace_id();
SpanId new_span_id();

}  // namespace zt::trace
