// A copy of what a parser's request hook was given (a RequestView is valid only during the call).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common.h"

namespace zt::protocols {

struct HookedRequest {
  std::string protocol;
  std::string method;
  std::string target;
  std::vector<HeaderField> headers;
  std::uint64_t start_ns = 0;
  std::uint32_t tid = 0;

  explicit HookedRequest(const RequestView& view)
      : protocol(view.protocol), method(view.method), target(view.target), headers(view.headers.begin(), view.headers.end()), start_ns(view.start_ns),
        tid(view.tid) {}
  const std::string* header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

}  // namespace zt::protocols
