// Small text helpers shared by the parsers, the context formats and the configuration: one copy
// of each, ASCII only (protocol text, not user language). For prefix and suffix tests use
// std::string_view's starts_with and ends_with.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zt::text {

// `s` without leading and trailing spaces and tabs (RFC 9110 OWS).
constexpr std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

constexpr char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string to_lower(std::string_view s) {
  std::string out(s.size(), '\0');
  std::transform(s.begin(), s.end(), out.begin(), [](char c) { return to_lower(c); });
  return out;
}

// ASCII case-insensitive equality (header names, tokens).
constexpr bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return to_lower(x) == to_lower(y); });
}

// The value of a hex digit of either case; -1 for any other character.
constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr bool is_hex_digit(char c) { return hex_value(c) >= 0; }
constexpr bool is_lower_hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

enum class HexCase : std::uint8_t { Any, LowerOnly };

// 8-4-4-4-12 hex digits separated by dashes (the textual UUID shape; the version is not checked).
constexpr bool is_uuid(std::string_view s, HexCase hex_case = HexCase::Any) {
  constexpr std::size_t kUuidLength = 36;
  if (s.size() != kUuidLength) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    const bool digit = hex_case == HexCase::LowerOnly ? is_lower_hex_digit(s[i]) : is_hex_digit(s[i]);
    if (dash_position ? s[i] != '-' : !digit) return false;
  }
  return true;
}

// %XX escapes decoded; a '%' not followed by two hex digits is kept as it is. For text shown to a
// person, where a stray '%' should not lose the rest (grpc-message).
inline std::string percent_decode_lenient(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && is_hex_digit(s[i + 1]) && is_hex_digit(s[i + 2])) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// %XX escapes decoded; nullopt when a '%' is not followed by two hex digits. For configuration,
// where a bad escape is the user's mistake to report.
inline std::optional<std::string> percent_decode_strict(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size() || !is_hex_digit(s[i + 1]) || !is_hex_digit(s[i + 2])) return std::nullopt;
    out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
    i += 2;
  }
  return out;
}

// Base64 in either alphabet (RFC 4648 sections 4 and 5: "+/" or "-_"), with or without '='
// padding; spaces, tabs and line breaks are ignored. nullopt for any other character, for data
// after padding and for a length no encoder produces (one character left over).
inline std::optional<std::string> base64_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size() / 4 * 3 + 2);
  std::uint32_t bits = 0;
  int bit_count = 0;
  std::size_t symbols = 0;
  bool padding = false;
  for (const char c : s) {
    int value = -1;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    if (c >= '0' && c <= '9') value = c - '0' + 52;
    if (c == '+' || c == '-') value = 62;
    if (c == '/' || c == '_') value = 63;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    if (value < 0 || padding) return std::nullopt;
    ++symbols;
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<char>((bits >> bit_count) & 0xff));
    }
  }
  if (symbols % 4 == 1) return std::nullopt;
  return out;
}

}  // namespace zt::text
