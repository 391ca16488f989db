#include "context/trace_context.h"

#include <algorithm>
#include <array>

#include "core/text.h"

namespace zt::context {
namespace {

using text::hex_value;
using text::trim;

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), text::is_lower_hex_digit);
}

// Decodes exactly 2*N hex digits (any case) into N bytes.
template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> decode_hex(std::string_view s) {
  if (s.size() != 2 * N) return std::nullopt;
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

// Hex of up to 2*N digits, zero-padded on the left (B3 64-bit trace ids, Jaeger short ids).
template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> decode_padded_hex(std::string_view s) {
  if (s.empty() || s.size() > 2 * N) return std::nullopt;
  std::string padded(2 * N - s.size(), '0');
  padded.append(s);
  return decode_hex<N>(padded);
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& id) {
  return std::all_of(id.begin(), id.end(), [](std::uint8_t b) { return b == 0; });
}

TraceContext make_context(const std::array<std::uint8_t, 16>& trace_id, const std::array<std::uint8_t, 8>& span_id,
                          Format format) {
  TraceContext ctx;
  ctx.trace_id = trace_id;
  ctx.span_id = span_id;
  ctx.format = format;
  return ctx;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const auto end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

bool valid_tracestate_key(std::string_view key) {
  // simple-key: lcalpha 0*255(lcalpha / DIGIT / "_" / "-"/ "*" / "/"); multi-tenant: tenant@system.
  const auto ok_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/';
  };
  const auto at = key.find('@');
  const auto tenant = key.substr(0, at);
  if (tenant.empty() || tenant.size() > 256 || !std::all_of(tenant.begin(), tenant.end(), ok_char)) return false;
  if (at == std::string_view::npos) return tenant.front() >= 'a' && tenant.front() <= 'z';
  const auto system = key.substr(at + 1);
  return !system.empty() && system.size() <= 14 && system.front() >= 'a' && system.front() <= 'z' &&
         std::all_of(system.begin(), system.end(), ok_char);
}

bool valid_tracestate_value(std::string_view value) {
  // 0*255(chr) nblk-chr, chr being printable ASCII except ',' and '='.
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  return std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c <= 0x7e && c != ',' && c != '='; });
}

}  // namespace

std::optional<TraceContext> parse_traceparent(std::string_view value) {
  value = trim(value);
  // version "-" trace-id "-" parent-id "-" flags: 55 characters for version 00.
  if (value.size() < 55 || value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  const auto version = value.substr(0, 2);
  if (!is_lower_hex(version) || version == "ff") return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may append "-..." fields.
  if (version == "00" ? value.size() != 55 : (value.size() > 55 && value[55] != '-')) return std::nullopt;
  const auto trace_hex = value.substr(3, 32), span_hex = value.substr(36, 16), flags_hex = value.substr(53, 2);
  if (!is_lower_hex(trace_hex) || !is_lower_hex(span_hex) || !is_lower_hex(flags_hex)) return std::nullopt;
  auto trace_id = decode_hex<16>(trace_hex);
  auto span_id = decode_hex<8>(span_hex);
  auto flags = decode_hex<1>(flags_hex);
  if (!trace_id || !span_id || !flags || all_zero(*trace_id) || all_zero(*span_id)) return std::nullopt;
  auto ctx = make_context(*trace_id, *span_id, Format::W3C);
  ctx.sampled = ((*flags)[0] & 0x01) != 0;
  return ctx;
}

bool valid_tracestate(std::string_view value) {
  const auto members = split(value, ',');
  if (members.size() > 32) return false;
  std::size_t non_empty = 0;
  for (auto member : members) {
    member = trim(member);
    if (member.empty()) continue;  // empty list members are allowed and ignored
    const auto eq = member.find('=');
    if (eq == std::string_view::npos || !valid_tracestate_key(member.substr(0, eq)) ||
        !valid_tracestate_value(member.substr(eq + 1))) {
      return false;
    }
    ++non_empty;
  }
  return non_empty > 0;
}

std::optional<TraceContext> parse_b3_single(std::string_view value) {
  const auto parts = split(trim(value), '-');
  if (parts.size() < 2 || parts.size() > 4) return std::nullopt;
  if (parts[0].size() != 16 && parts[0].size() != 32) return std::nullopt;
  auto trace_id = decode_padded_hex<16>(parts[0]);
  auto span_id = decode_hex<8>(parts[1]);
  if (!trace_id || !span_id || all_zero(*trace_id) || all_zero(*span_id)) return std::nullopt;
  auto ctx = make_context(*trace_id, *span_id, Format::B3Single);
  if (parts.size() >= 3) {
    if (parts[2] == "0") ctx.sampled = false;
    else if (parts[2] == "1" || parts[2] == "d") ctx.sampled = true;
    else return std::nullopt;
  }
  if (parts.size() == 4 && !decode_hex<8>(parts[3])) return std::nullopt;
  return ctx;
}

std::optional<TraceContext> parse_b3_multi(std::string_view trace_id_text, std::string_view span_id_text,
                                           std::string_view sampled, std::string_view flags) {
  trace_id_text = trim(trace_id_text);
  if (trace_id_text.size() != 16 && trace_id_text.size() != 32) return std::nullopt;
  auto trace_id = decode_padded_hex<16>(trace_id_text);
  auto span_id = decode_hex<8>(trim(span_id_text));
  if (!trace_id || !span_id || all_zero(*trace_id) || all_zero(*span_id)) return std::nullopt;
  auto ctx = make_context(*trace_id, *span_id, Format::B3Multi);
  sampled = trim(sampled);
  if (trim(flags) == "1") ctx.sampled = true;  // debug
  else if (sampled == "0" || sampled == "false") ctx.sampled = false;
  else if (sampled.empty() || sampled == "1" || sampled == "true") ctx.sampled = true;
  else return std::nullopt;
  return ctx;
}

std::optional<TraceContext> parse_jaeger(std::string_view value) {
  // Some clients send the value URL-encoded (%3A for ':').
  std::string decoded;
  value = trim(value);
  for (std::size_t i = 0; i < value.size(); ++i) {
    const bool escaped_colon =
        value[i] == '%' && i + 2 < value.size() && value[i + 1] == '3' && (value[i + 2] == 'A' || value[i + 2] == 'a');
    decoded.push_back(escaped_colon ? ':' : value[i]);
    if (escaped_colon) i += 2;
  }
  const auto parts = split(decoded, ':');
  if (parts.size() != 4) return std::nullopt;
  auto trace_id = decode_padded_hex<16>(parts[0]);
  auto span_id = decode_padded_hex<8>(parts[1]);
  auto flags = decode_padded_hex<1>(parts[3]);
  if (!trace_id || !span_id || !flags || all_zero(*trace_id) || all_zero(*span_id)) return std::nullopt;
  if (parts[2] != "0" && !decode_padded_hex<8>(parts[2])) return std::nullopt;
  auto ctx = make_context(*trace_id, *span_id, Format::Jaeger);
  ctx.sampled = ((*flags)[0] & 0x01) != 0;
  return ctx;
}

std::optional<TraceContext> extract(std::span<const std::pair<std::string, std::string>> headers,
                                    ExtractStats* stats) {
  const auto find = [&](std::string_view name) -> const std::string* {
    for (const auto& [k, v] : headers) {
      if (k == name) return &v;
    }
    return nullptr;
  };
  const auto result = [&](std::optional<TraceContext> ctx) {
    if (stats) ++(ctx ? stats->extracted : stats->malformed);
    return ctx;
  };
  if (const auto* tp = find("traceparent")) {
    if (auto ctx = parse_traceparent(*tp)) {
      if (const auto* ts = find("tracestate"); ts && valid_tracestate(*ts)) ctx->trace_state = *ts;
      return result(ctx);
    }
    result(std::nullopt);
  }
  if (const auto* b3 = find("b3")) {
    if (auto ctx = parse_b3_single(*b3)) return result(ctx);
    const auto v = trim(*b3);
    if (v != "0" && v != "1" && v != "d") result(std::nullopt);  // a bare sampling flag is legal
  }
  if (const auto* tid = find("x-b3-traceid")) {
    const auto* sid = find("x-b3-spanid");
    const auto* sampled = find("x-b3-sampled");
    const auto* flags = find("x-b3-flags");
    if (auto ctx = parse_b3_multi(*tid, sid ? *sid : "", sampled ? *sampled : "", flags ? *flags : "")) {
      return result(ctx);
    }
    result(std::nullopt);
  }
  if (const auto* jaeger = find("uber-trace-id")) {
    if (auto ctx = parse_jaeger(*jaeger)) return result(ctx);
    result(std::nullopt);
  }
  return std::nullopt;
}

}  // namespace zt::context
