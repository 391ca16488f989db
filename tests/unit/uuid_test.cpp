#include "discovery/uuid.h"

#include <gtest/gtest.h>

#include <string>

namespace zt::discovery {
namespace {

// Expected values from Python's uuid.uuid5.
TEST(UuidV5, MatchesRfcImplementations) {
  constexpr Uuid kDnsNamespace = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
                                  0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
  EXPECT_EQ(uuid_v5(kDnsNamespace, "www.example.com"), "2ed6657d-e927-568b-95e1-2665a8aea6a2");
  EXPECT_EQ(uuid_v5(kServiceInstanceIdNamespace, ""), "778f72e5-f77c-594e-9915-b8a66fe1b88d");
}

TEST(UuidV5, EveryPaddingCase) {
  // With the 16 namespace bytes: 55 and 56 bytes around the one-block limit of SHA-1 padding,
  // 63 and 64 around the block size, 135 over two blocks.
  EXPECT_EQ(uuid_v5(kServiceInstanceIdNamespace, std::string(39, 'x')), "7c69ae69-5803-5f9d-824a-e7f8b7db65cb");
  EXPECT_EQ(uuid_v5(kServiceInstanceIdNamespace, std::string(40, 'x')), "726d968a-7078-59d9-aec4-5963acb2dc07");
  EXPECT_EQ(uuid_v5(kServiceInstanceIdNamespace, std::string(47, 'x')), "37e2aff0-4b16-5cfe-af25-69b5f85d45ed");
  EXPECT_EQ(uuid_v5(kServiceInstanceIdNamespace, std::string(48, 'x')), "1b0e8afc-4030-5e60-8507-86baf7091aff");
  EXPECT_EQ(uuid_v5(kServiceInstanceIdNamespace, std::string(119, 'x')), "82a693bb-f8fe-5902-a70a-d6e9fdc63cc9");
  EXPECT_EQ(uuid_v5(kServiceInstanceIdNamespace, std::string(200, 'a')), "2f9c3e7e-7c5e-521b-a49d-be9cd0f4e94c");
}

}  // namespace
}  // namespace zt::discovery
