// What the span builder knows about the connection a record came from (protocols/common.h).
#pragma once

#include "protocols/common.h"

namespace zt::pipeline {

using protocols::ConnectionInfo;
using protocols::FlushCause;

}  // namespace zt::pipeline
