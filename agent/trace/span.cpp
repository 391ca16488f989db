#include "trace/span.h"

#include <cstdio>

namespace zt::trace {
namespace {
template <std::size_t N>
void append(std::string& out, const std::array<std::uint8_t, N>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  char text[2 * N];
  for (std::size_t i = 0; i < N; ++i) {
    text[2 * i] = kDigits[bytes[i] >> 4];
    text[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  out.append(text, sizeof text);
}
template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& bytes) {
  std::string out;
  append(out, bytes);
  return out;
}
}  // namespace

std::string to_hex(const TraceId& id) { return hex(id); }
std::string to_hex(const SpanId& id) { return hex(id); }
void append_hex(std::string& out, const TraceId& id) { append(out, id); }
void append_hex(std::string& out, const SpanId& id) { append(out, id); }

const char* to_string(SpanKind kind) {
  switch (kind) {
    case SpanKind::Internal: return "INTERNAL";
    case SpanKind::Server: return "SERVER";
    case SpanKind::Client: return "CLIENT";
    case SpanKind::Producer: return "PRODUCER";
    case SpanKind::Consumer: return "CONSUMER";
  }
  return "UNSPECIFIED";
}

const char* to_string(StatusCode code) {
  switch (code) {
    case StatusCode::Unset: return "UNSET";
    case StatusCode::Ok: return "OK";
    case StatusCode::Error: return "ERROR";
  }
  return "UNSET";
}

}  // namespace zt::trace
