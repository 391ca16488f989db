// The interface every protocol parser implements (one instance per connection), and the hook
// through which requests get their identity as soon as they are seen. Chunks, roles, connections
// and request views: protocols/common.h; the registered protocols and their records:
// protocols/registry.h.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/common.h"
#include "protocols/registry.h"

namespace zt::protocols {

// Ordering contract: the tracker feeds each direction in stream order and the two directions in
// the order the kernel saw them (a response is never fed before the request it answers was).
// Called by a parser for each request as soon as it is complete, with the role of the connection
// (Server: the traced process read it; Client: it wrote it). Fills the identity.
using RequestHook = std::function<void(const RequestView& request, Role role, RequestIdentity& identity)>;

class ConnectionParser {
 public:
  virtual ~ConnectionParser() = default;
  void set_request_hook(RequestHook hook) { request_hook_ = std::move(hook); }
  // The connection this parser reads (process, endpoints), owned by the tracker and outliving the
  // parser. For protocols that keep facts across connections (Kafka: a consumer's group, learned
  // on one connection, names the fetches of another).
  void set_connection(const ConnectionInfo* info) { connection_ = info; }
  // Next chunk of one direction, in stream order.
  virtual void on_chunk(Direction dir, const Chunk& chunk) = 0;
  // The connection closed (or was evicted or its process exited) at `ts_ns`: flush what can
  // still become a record (e.g. a body delimited by close, a request that never got an answer).
  virtual void on_close(std::uint64_t ts_ns) = 0;
  // Records completed since the last call, in completion order.
  virtual std::vector<Record> take_records() = 0;
  // The role, once the traffic showed it (requests flow from client to server).
  virtual Role role() const = 0;
  virtual const ParserStats& stats() const = 0;
  virtual std::string_view protocol_name() const = 0;
  // Stream position of `dir` below which this parser needs no payload (a body it skips by
  // count); 0 when it needs every byte. The tracker may ask the kernel not to copy those bytes.
  virtual std::uint64_t skip_until(Direction /*dir*/) const { return 0; }

 protected:
  void identify(const RequestView& request, Role role, RequestIdentity& identity) const {
    if (request_hook_) request_hook_(request, role, identity);
  }
  // nullptr when the parser runs without a tracker (tests, fuzzing).
  const ConnectionInfo* connection() const { return connection_; }

 private:
  RequestHook request_hook_;
  const ConnectionInfo* connection_ = nullptr;
};

}  // namespace zt::protocols
