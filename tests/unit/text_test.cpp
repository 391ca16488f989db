// core/text.h: the shared text helpers.
#include "core/text.h"

#include <gtest/gtest.h>

namespace zt::text {
namespace {

TEST(Text, TrimRemovesSpacesAndTabsOnly) {
  EXPECT_EQ(trim(" \t a b \t"), "a b");
  EXPECT_EQ(trim("\r\nx\r\n"), "\r\nx\r\n");  // line ends are not OWS
  EXPECT_EQ(trim("   "), "");
  EXPECT_EQ(trim(""), "");
}

TEST(Text, CaseFoldingIsAsciiOnly) {
  EXPECT_EQ(to_lower("Content-TYPE"), "content-type");
  EXPECT_EQ(to_lower("\xc3\x89t\xc3\xa9"), "\xc3\x89t\xc3\xa9");  // UTF-8 bytes untouched
  EXPECT_TRUE(iequals("Transfer-Encoding", "transfer-encoding"));
  EXPECT_FALSE(iequals("chunked", "chunke"));
  EXPECT_FALSE(iequals("a", "b"));
  EXPECT_FALSE(iequals("@", "`"));  // 0x40 and 0x60 differ by the case bit but are not letters
}

TEST(Text, HexDigits) {
  EXPECT_EQ(hex_value('0'), 0);
  EXPECT_EQ(hex_value('9'), 9);
  EXPECT_EQ(hex_value('a'), 10);
  EXPECT_EQ(hex_value('F'), 15);
  EXPECT_EQ(hex_value('g'), -1);
  EXPECT_EQ(hex_value('/'), -1);
  EXPECT_TRUE(is_lower_hex_digit('f'));
  EXPECT_FALSE(is_lower_hex_digit('F'));
}

TEST(Text, UuidShape) {
  EXPECT_TRUE(is_uuid("4d63009a-8d0f-11ee-aad7-4c796ed8e320"));
  EXPECT_TRUE(is_uuid("4D63009A-8D0F-11EE-AAD7-4C796ED8E320"));
  EXPECT_FALSE(is_uuid("4D63009A-8D0F-11EE-AAD7-4C796ED8E320", HexCase::LowerOnly));
  EXPECT_TRUE(is_uuid("4d63009a-8d0f-11ee-aad7-4c796ed8e320", HexCase::LowerOnly));
  EXPECT_FALSE(is_uuid("4d63009a-8d0f-11ee-aad7-4c796ed8e32"));    // short
  EXPECT_FALSE(is_uuid("4d63009a08d0f-11ee-aad7-4c796ed8e320"));   // dash missing
  EXPECT_FALSE(is_uuid("4d63009a-8d0f-11ee-aad7-4c796ed8e32g"));   // not hex
}

TEST(Text, LenientPercentDecodingKeepsBadEscapes) {
  EXPECT_EQ(percent_decode_lenient("not%20found%3A%20x"), "not found: x");
  EXPECT_EQ(percent_decode_lenient("100%"), "100%");
  EXPECT_EQ(percent_decode_lenient("%zz%4"), "%zz%4");
  EXPECT_EQ(percent_decode_lenient("%e2%9c%93"), "\xe2\x9c\x93");
}

TEST(Text, StrictPercentDecodingRejectsBadEscapes) {
  EXPECT_EQ(percent_decode_strict("a%3Db"), "a=b");
  EXPECT_EQ(percent_decode_strict(""), "");
  EXPECT_FALSE(percent_decode_strict("100%").has_value());
  EXPECT_FALSE(percent_decode_strict("%4").has_value());
  EXPECT_FALSE(percent_decode_strict("%zz").has_value());
}

TEST(Text, Base64BothAlphabetsWithOrWithoutPadding) {
  // RFC 4648 section 10 test vectors.
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_EQ(base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zm8="), "fo");
  EXPECT_EQ(base64_decode("Zm9v"), "foo");
  EXPECT_EQ(base64_decode("Zm9vYg"), "foob");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(base64_decode("Zm9v\nYmFy"), "foobar");
  EXPECT_EQ(base64_decode("-_8"), "\xfb\xff");  // base64url
  EXPECT_EQ(base64_decode("+/8"), "\xfb\xff");
  // HTTP2-Settings of curl: SETTINGS_MAX_CONCURRENT_STREAMS 100, SETTINGS_INITIAL_WINDOW_SIZE 33554432.
  EXPECT_EQ(base64_decode("AAMAAABkAAQCAAAAAAIAAAAA"),
            std::string("\x00\x03\x00\x00\x00\x64\x00\x04\x02\x00\x00\x00\x00\x02\x00\x00\x00\x00", 18));
}

TEST(Text, Base64RejectsWhatNoEncoderWrites) {
  EXPECT_FALSE(base64_decode("Zm9v!").has_value());
  EXPECT_FALSE(base64_decode("Zg==Zg").has_value());  // data after padding
  EXPECT_FALSE(base64_decode("Zm9vY").has_value());   // one character left over
}

}  // namespace
}  // namespace zt::text
