// The streaming JSON writer behind the JSONL exporter, checked against an independent decoder.
#include "exporters/json_writer.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <random>

namespace zt::exporters {
namespace {

std::string json_quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::string decoded(std::string_view s) { return nlohmann::json::parse(json_quoted(s)).get<std::string>(); }

TEST(JsonWriter, ValidUtf8OfEveryLengthPassesThrough) {
  const std::string text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";  // a é € 😀 z
  EXPECT_EQ(json_quoted(text), "\"" + text + "\"");
  EXPECT_EQ(decoded(text), text);
}

TEST(JsonWriter, InvalidSequencesBecomeOneReplacementPerByte) {
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(decoded("\xc0\xaf"), fffd + fffd);                  // overlong '/'
  EXPECT_EQ(decoded("\xed\xa0\x80"), fffd + fffd + fffd);       // UTF-16 surrogate
  EXPECT_EQ(decoded("\xf4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
  EXPECT_EQ(decoded("ok\xe2\x82"), "ok" + fffd + fffd);         // cut short at the end
  EXPECT_EQ(decoded("\x80"), fffd);                             // lone continuation byte
}

TEST(JsonWriter, ControlCharactersQuotesAndBackslashesAreEscaped) {
  EXPECT_EQ(json_quoted(std::string("\"\\\n\r\t\b\f\x01\x1f", 9)), R"("\"\\\n\r\t\b\f\u0001\u001f")");
  EXPECT_EQ(decoded(std::string("nul\0byte", 8)), std::string("nul\0byte", 8));
}

TEST(JsonWriter, ValuesKeepTheirJsonTypes) {
  std::string out;
  append_json_attributes(out, {{"s", std::string("x")},
                               {"i", std::int64_t{-42}},
                               {"d", 0.1},
                               {"b", true},
                               {"nan", std::numeric_limits<double>::quiet_NaN()},
                               {"big", std::int64_t{9007199254740993}}});
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["s"], "x");
  EXPECT_EQ(j["i"].get<std::int64_t>(), -42);
  EXPECT_DOUBLE_EQ(j["d"].get<double>(), 0.1);
  EXPECT_EQ(j["b"], true);
  EXPECT_TRUE(j["nan"].is_null());
  EXPECT_EQ(j["big"].get<std::int64_t>(), 9007199254740993);  // no detour through double
  EXPECT_EQ(out.substr(0, 9), R"({"s":"x",)");  // order kept
}

// The escaper as it was before its word-at-a-time fast path: byte by byte, the same rules.
std::string reference_quoted(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::string_view rest = text.substr(i);
      std::size_t n = 0;
      for (std::size_t k = 2; k <= 4 && k <= rest.size() && n == 0; ++k) {
        if (to_valid_utf8(rest.substr(0, k)) == rest.substr(0, k)) n = k;
      }
      if (n > 0) {
        out.append(rest.substr(0, n));
        i += n;
      } else {
        out.append("\xef\xbf\xbd");
        ++i;
      }
      continue;
    }
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
          out.append("\\u00").push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
  return out;
}

TEST(JsonWriter, FastPathAgreesWithByteByByteEscaping) {
  // Every special byte at every position of strings around the fast path's 8-byte words.
  std::string specials = "\"\\\n\x01\x1f\x7f\x80\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff ~";
  specials.push_back('\0');
  for (std::size_t length = 0; length <= 24; ++length) {
    for (std::size_t at = 0; at < length; ++at) {
      for (const char special : specials) {
        std::string text(length, 'a');
        text[at] = special;
        ASSERT_EQ(json_quoted(text), reference_quoted(text)) << "length " << length << " at " << at;
      }
    }
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 20000; ++round) {
    std::string text(rng() % 40, '\0');
    // Mostly printable ASCII, as traffic is, with some of everything else.
    for (auto& c : text) c = static_cast<char>(rng() % 8 == 0 ? rng() % 256 : 0x20 + rng() % 0x5f);
    ASSERT_EQ(json_quoted(text), reference_quoted(text)) << "round " << round;
  }
}

}  // namespace
}  // namespace zt::exporters
