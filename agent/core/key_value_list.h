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
#include "core/text.h"

namespace zt {

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
    if (!text::trim(member).empty()) {
      const std::size_t equals = member.find('=');
      if (equals == std::string_view::npos) return make_error(prefix + "\"" + std::string(member) + "\" is not key=value");
      const std::string_view key = text::trim(member.substr(0, equals));
      if (key.empty()) return make_error(prefix + "empty key in \"" + std::string(member) + "\"");
      auto value = text::percent_decode_strict(text::trim(member.substr(equals + 1)));
      if (!value) return make_error(prefix + "bad percent-encoding in \"" + std::string(member) + "\"");
      members.emplace_back(std::string(key), std::move(*value));
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return members;
}

}  // namespace zt
