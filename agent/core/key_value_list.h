// The "key1=value1,key2=value2" lists of the OpenTelemetry environment (OTEL_RESOURCE_ATTRIBUTES,
// OTEL_EXPORTER_OTLP_HEADERS): members separated by commas, optional white space around keys and
// values, values percent-encoded. One parser for both, so they accept the same text.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace zt {

// `text` without leading and trailing spaces and tabs (RFC 9110 OWS).
inline std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// %XX escapes decoded; nullopt for a '%' not followed by two hex digits.
inline std::optional<std::string> percent_decode(std::string_view text) {
  const auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      decoded += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hex(text[i + 1]);
    const int low = hex(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    decoded += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return decoded;
}

// Parses the list; `what` names it in errors ("OTEL_RESOURCE_ATTRIBUTES: \"x\" is not key=value").
// Empty members are skipped ("a=1,,b=2", a trailing comma); a member without '=', with an empty
// key or with a bad escape fails the whole list, as the OpenTelemetry specification asks.
inline Result<std::vector<std::pair<std::string, std::string>>> parse_key_value_list(std::string_view text,
                                                                                  std::string_view what) {
  std::vector<std::pair<std::string, std::string>> members;
  const std::string prefix = std::string(what) + ": ";
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view member = text.substr(0, comma);
    if (!trim_ows(member).empty()) {
      const std::size_t equals = member.find('=');
      if (equals == std::string_view::npos) return make_error(prefix + "\"" + std::string(member) + "\" is not key=value");
      const std::string_view key = trim_ows(member.substr(0, equals));
      if (key.empty()) return make_error(prefix + "empty key in \"" + std::string(member) + "\"");
      auto value = percent_decode(trim_ows(member.substr(equals + 1)));
      if (!value) return make_error(prefix + "bad percent-encoding in \"" + std::string(member) + "\"");
      members.emplace_back(std::string(key), std::move(*value));
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return members;
}

}  // namespace zt
