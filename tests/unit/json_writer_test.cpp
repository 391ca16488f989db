// The streaming JSON writer behind the JSONL exporter, checked against an independent decoder.
#include "exporters/json_writer.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace zt::exporters
