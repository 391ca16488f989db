// libFuzzer target for the trace-context header parsers (values come straight off the wire).
// Input: header lines "name: value" separated by '\n'; every parser also sees each value alone.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "context/trace_context.h"

namespace {

void check(const std::optional<zt::context::TraceContext>& ctx) {
  if (!ctx) return;
  // Every parser must refuse all-zero ids: a context it returns is always usable.
  if (ctx->trace_id == zt::trace::TraceId{} || ctx->span_id == zt::trace::SpanId{}) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t start = 0;
  while (start <= input.size()) {
    auto end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    const auto line = input.substr(start, end - start);
    const auto colon = line.find(':');
    const auto value = colon == std::string_view::npos ? line : line.substr(colon + 1);
    check(zt::context::parse_traceparent(value));
    check(zt::context::parse_b3_single(value));
    check(zt::context::parse_jaeger(value));
    check(zt::context::parse_b3_multi(value, value, value, value));
    zt::context::valid_tracestate(value);
    if (colon != std::string_view::npos) headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    start = end + 1;
  }
  zt::context::ExtractStats stats;
  check(zt::context::extract(headers, &stats));
  return 0;
}
