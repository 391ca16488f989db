#include "exporters/json_writer.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <variant>

namespace zt::exporters {
namespace {

constexpr std::string_view kReplacement = "\xef\xbf\xbd";

bool needs_care(unsigned char c) { return c < 0x20 || c == '"' || c == '\\' || c >= 0x80; }

std::uint64_t load_word(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// True when any byte of `w` needs care. Exact as a yes/no answer (the borrow tricks below may
// misplace which byte, never whether one): a byte with its high bit set, below 0x20 (exact once the
// first term has ruled out high bytes), a quote or a backslash.
bool word_needs_care(std::uint64_t w) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ull;
  constexpr std::uint64_t kHigh = 0x8080808080808080ull;
  const auto has_zero = [](std::uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  const std::uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
  return ((w & kHigh) | below_space | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\'))) != 0;
}

// Length of the valid UTF-8 sequence starting at text[i], or 0 if it is not one (overlong forms,
// surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
    } else if (std::size_t n = utf8_sequence_length(text, i); n > 0) {
      i += n;
    } else {
      return false;
    }
  }
  return true;
}

std::string to_valid_utf8(std::string_view text) {
  if (is_valid_utf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      out.push_back(text[i++]);
    } else if (std::size_t n = utf8_sequence_length(text, i); n > 0) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      out.append(kReplacement);
      ++i;
    }
  }
  return out;
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  const char* const begin = text.data();
  const std::size_t size = text.size();
  std::size_t run = 0;  // start of the bytes that can be copied as they are
  std::size_t i = 0;
  for (;;) {
    // Fast path: most text (keys, paths, addresses) is printable ASCII, passed over 8 bytes at once.
    while (i + 8 <= size && !word_needs_care(load_word(begin + i))) i += 8;
    while (i < size && !needs_care(static_cast<unsigned char>(begin[i]))) ++i;
    if (i >= size) break;
    const auto c = static_cast<unsigned char>(begin[i]);
    if (c >= 0x80) {
      if (std::size_t n = utf8_sequence_length(text, i); n > 0) {
        i += n;
        continue;
      }
    }
    out.append(begin + run, i - run);
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      default:
        if (c < 0x20) {
          const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
          out.append(esc, sizeof esc);
        } else {
          out.append(kReplacement);
        }
    }
    run = ++i;
  }
  out.append(begin + run, size - run);
  out.push_back('"');
}

void append_json_value(std::string& out, const trace::AttributeValue& value) {
  char buf[32];
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          append_json_string(out, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          out.append(v ? "true" : "false");
        } else if constexpr (std::is_same_v<T, double>) {
          if (!std::isfinite(v)) {
            out.append("null");
          } else {
            auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
            out.append(buf, ec == std::errc() ? end : buf);
          }
        } else {
          auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
          out.append(buf, ec == std::errc() ? end : buf);
        }
      },
      value);
}

void append_json_attributes(std::string& out, const std::vector<trace::Attribute>& attributes) {
  out.push_back('{');
  bool first = true;
  for (const auto& a : attributes) {
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, a.key);
    out.push_back(':');
    append_json_value(out, a.value);
  }
  out.push_back('}');
}

}  // namespace zt::exporters
