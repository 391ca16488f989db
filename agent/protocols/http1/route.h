// Low-cardinality routes from request targets, for the OpenTelemetry `http.route` attribute.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace zt::protocols::http1 {

// (path, query without '?') of a request target. Absolute-form targets lose their scheme and
// authority ("http://h:8080/a?b" gives ("/a", "b")); a fragment is dropped. The views point into
// `target`, except the "/" given for an absolute-form target with an empty path.
std::pair<std::string_view, std::string_view> split_target(std::string_view target);

// The target's path with identifier-like segments (all digits, UUIDs, hex strings of 16+
// characters, hex strings of 8+ characters with a digit) replaced by "{id}". Query and fragment
// are dropped, percent-encoding is kept as sent, an empty path gives "/".
std::string http_route_from_target(std::string_view target);

}  // namespace zt::protocols::http1
