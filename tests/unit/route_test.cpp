#include "protocols/http1/route.h"

#include <gtest/gtest.h>

namespace zt::protocols::http1 {
namespace {

TEST(SplitTargetTest, SplitsPathAndQuery) {
  EXPECT_EQ(split_target("/a/b?x=1&y=2"), std::make_pair(std::string_view("/a/b"), std::string_view("x=1&y=2")));
  EXPECT_EQ(split_target("/a/b"), std::make_pair(std::string_view("/a/b"), std::string_view()));
  EXPECT_EQ(split_target("/a?"), std::make_pair(std::string_view("/a"), std::string_view()));
  EXPECT_EQ(split_target("/a?q#frag"), std::make_pair(std::string_view("/a"), std::string_view("q")));
  EXPECT_EQ(split_target("/a#frag?not-query"), std::make_pair(std::string_view("/a"), std::string_view()));
  EXPECT_EQ(split_target("*"), std::make_pair(std::string_view("*"), std::string_view()));
  EXPECT_EQ(split_target(""), std::make_pair(std::string_view(), std::string_view()));
}

TEST(SplitTargetTest, DropsSchemeAndAuthorityOfAbsoluteForm) {
  EXPECT_EQ(split_target("http://example.com:8080/v1/items?id=3"),
            std::make_pair(std::string_view("/v1/items"), std::string_view("id=3")));
  EXPECT_EQ(split_target("https://user@host/x"), std::make_pair(std::string_view("/x"), std::string_view()));
  EXPECT_EQ(split_target("http://host"), std::make_pair(std::string_view("/"), std::string_view()));
  EXPECT_EQ(split_target("http://host?q=1"), std::make_pair(std::string_view("/"), std::string_view("q=1")));
  // Not a scheme: "://" inside a path is kept.
  EXPECT_EQ(split_target("/redirect?to=http://x/y"),
            std::make_pair(std::string_view("/redirect"), std::string_view("to=http://x/y")));
}

TEST(HttpRouteTest, KeepsStaticPaths) {
  EXPECT_EQ(http_route_from_target("/"), "/");
  EXPECT_EQ(http_route_from_target(""), "/");
  EXPECT_EQ(http_route_from_target("/api/v1/users"), "/api/v1/users");
  EXPECT_EQ(http_route_from_target("/api/users/"), "/api/users/");
  EXPECT_EQ(http_route_from_target("/static/app.js?v=3"), "/static/app.js");
  EXPECT_EQ(http_route_from_target("/a%20b/c"), "/a%20b/c");
  EXPECT_EQ(http_route_from_target("*"), "*");
}

TEST(HttpRouteTest, CollapsesIdentifierSegments) {
  EXPECT_EQ(http_route_from_target("/users/12345"), "/users/{id}");
  EXPECT_EQ(http_route_from_target("/users/42/orders/7?expand=1"), "/users/{id}/orders/{id}");
  EXPECT_EQ(http_route_from_target("/items/0b8f7a4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b"), "/items/{id}");
  EXPECT_EQ(http_route_from_target("/items/0B8F7A4E-3C2D-4E1F-9A8B-7C6D5E4F3A2B/x"), "/items/{id}/x");
  EXPECT_EQ(http_route_from_target("/blobs/deadbeefcafebabe"), "/blobs/{id}");  // 16 hex
  EXPECT_EQ(http_route_from_target("/commits/3f2a9c1e"), "/commits/{id}");      // 8 hex with a digit
  EXPECT_EQ(http_route_from_target("http://h:1/v2/77"), "/v2/{id}");
}

TEST(HttpRouteTest, KeepsWordsThatOnlyLookHexadecimal) {
  EXPECT_EQ(http_route_from_target("/feed/deadbeef"), "/feed/deadbeef");  // 8 hex, no digit
  EXPECT_EQ(http_route_from_target("/cafe/abc123"), "/cafe/abc123");      // too short
  EXPECT_EQ(http_route_from_target("/v2/api"), "/v2/api");
  EXPECT_EQ(http_route_from_target("/users/12a"), "/users/12a");
  EXPECT_EQ(http_route_from_target("/x/0b8f7a4e-3c2d-4e1f-9a8b-7c6d5e4f3a2"), "/x/0b8f7a4e-3c2d-4e1f-9a8b-7c6d5e4f3a2");
}

TEST(HttpRouteTest, KeepsEmptySegments) { EXPECT_EQ(http_route_from_target("//a//1"), "//a//{id}"); }

}  // namespace
}  // namespace zt::protocols::http1
