// Protocol detection: which parser, if any, should own a connection, judged from one chunk.
#pragma once

#include <memory>

#include "protocols/protocol.h"

namespace zt::protocols {

// A parser for the connection when `chunk` (the first chunk tried, in direction `dir`) shows
// its protocol, else nullptr: the caller tries again on later chunks, up to a limit it owns, and
// then feeds this chunk to the parser. Pass `midstream` when the parser will not see the
// connection from its first byte (it predates the agent, or earlier chunks were not fed).
// An Unknown `role` is settled from the chunk where it can be; a known role must agree with it.
std::unique_ptr<ConnectionParser> detect_protocol(Direction dir, const Chunk& chunk, Role role, bool midstream);

}  // namespace zt::protocols
