// Trace-context headers: W3C traceparent/tracestate, B3 single and multi, Jaeger; precedence.
#include "context/trace_context.h"

#include <gtest/gtest.h>

namespace zt::context {
namespace {

const char* const kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
const char* const kSpan = "00f067aa0ba902b7";

std::string tp(std::string version, std::string trace, std::string span, std::string flags) {
  return version + "-" + trace + "-" + span + "-" + flags;
}

TEST(Traceparent, ValidVersion00) {
  auto ctx = parse_traceparent(tp("00", kTrace, kSpan, "01"));
  ASSERT_TRUE(ctx);
  EXPECT_EQ(trace::to_hex(ctx->trace_id), kTrace);
  EXPECT_EQ(trace::to_hex(ctx->span_id), kSpan);
  EXPECT_TRUE(ctx->sampled);
  EXPECT_FALSE(parse_traceparent(tp("00", kTrace, kSpan, "00"))->sampled);
  EXPECT_TRUE(parse_traceparent(" " + tp("00", kTrace, kSpan, "01") + "\t")) << "OWS around the value";
}

TEST(Traceparent, InvalidValuesAreRejected) {
  EXPECT_FALSE(parse_traceparent(tp("00", std::string(32, '0'), kSpan, "01"))) << "zero trace id";
  EXPECT_FALSE(parse_traceparent(tp("00", kTrace, std::string(16, '0'), "01"))) << "zero span id";
  EXPECT_FALSE(parse_traceparent(tp("ff", kTrace, kSpan, "01"))) << "version ff";
  EXPECT_FALSE(parse_traceparent(tp("00", "4BF92F3577B34DA6A3CE929D0E0E4736", kSpan, "01"))) << "upper case";
  EXPECT_FALSE(parse_traceparent(tp("00", kTrace, kSpan, "01") + "-extra")) << "version 00 has 4 fields";
  EXPECT_FALSE(parse_traceparent(tp("00", std::string(kTrace).substr(1), kSpan, "01"))) << "short trace id";
  EXPECT_FALSE(parse_traceparent(tp("00", kTrace, kSpan, "0g")));
  EXPECT_FALSE(parse_traceparent(""));
  EXPECT_FALSE(parse_traceparent(std::string(55, '-')));
}

TEST(Traceparent, LaterVersionsAreReadByTheirFirstFields) {
  EXPECT_TRUE(parse_traceparent(tp("01", kTrace, kSpan, "01")));
  EXPECT_TRUE(parse_traceparent(tp("cc", kTrace, kSpan, "01") + "-what-the-future-adds"));
  EXPECT_FALSE(parse_traceparent(tp("cc", kTrace, kSpan, "01") + "x")) << "no dash after the flags";
}

TEST(Tracestate, ListsAreValidatedPerMember) {
  EXPECT_TRUE(valid_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
  EXPECT_TRUE(valid_tracestate("tenant@vendor=x, ,other=y"));
  EXPECT_FALSE(valid_tracestate("Upper=1"));
  EXPECT_FALSE(valid_tracestate("novalue"));
  EXPECT_FALSE(valid_tracestate("k=a=b"));
  EXPECT_FALSE(valid_tracestate(""));
  std::string many;
  for (int i = 0; i < 33; ++i) many += "k" + std::to_string(i) + "=v,";
  EXPECT_FALSE(valid_tracestate(many)) << "more than 32 members";
}

TEST(B3Single, AllForms) {
  auto full = parse_b3_single(std::string(kTrace) + "-" + kSpan + "-1-" + "05e3ac9a4f6e3b90");
  ASSERT_TRUE(full);
  EXPECT_EQ(trace::to_hex(full->trace_id), kTrace);
  EXPECT_EQ(full->format, Format::B3Single);
  auto short_id = parse_b3_single(std::string("a3ce929d0e0e4736-") + kSpan);
  ASSERT_TRUE(short_id);
  EXPECT_EQ(trace::to_hex(short_id->trace_id), "0000000000000000a3ce929d0e0e4736") << "64-bit ids are left-padded";
  EXPECT_TRUE(short_id->sampled);
  EXPECT_FALSE(parse_b3_single(std::string(kTrace) + "-" + kSpan + "-0")->sampled);
  EXPECT_TRUE(parse_b3_single(std::string(kTrace) + "-" + kSpan + "-d")->sampled);
  EXPECT_FALSE(parse_b3_single("0")) << "a bare sampling decision carries no ids";
  EXPECT_FALSE(parse_b3_single(std::string(kTrace) + "-" + kSpan + "-x"));
  EXPECT_FALSE(parse_b3_single(std::string(kTrace).substr(2) + "-" + kSpan)) << "30 hex digits";
  EXPECT_FALSE(parse_b3_single(std::string(kTrace) + "-" + kSpan + "-1-zz"));
}

TEST(B3Multi, IdsSamplingAndDebug) {
  auto ctx = parse_b3_multi(kTrace, kSpan, "0", "");
  ASSERT_TRUE(ctx);
  EXPECT_FALSE(ctx->sampled);
  EXPECT_TRUE(parse_b3_multi(kTrace, kSpan, "0", "1")->sampled) << "debug implies sampled";
  EXPECT_TRUE(parse_b3_multi(kTrace, kSpan, "true", "")->sampled);
  EXPECT_FALSE(parse_b3_multi(kTrace, "", "1", "")) << "span id required";
  EXPECT_FALSE(parse_b3_multi(kTrace, kSpan, "maybe", ""));
}

TEST(Jaeger, IdsFlagsAndEncodings) {
  auto ctx = parse_jaeger(std::string(kTrace) + ":" + kSpan + ":0:1");
  ASSERT_TRUE(ctx);
  EXPECT_EQ(trace::to_hex(ctx->trace_id), kTrace);
  EXPECT_TRUE(ctx->sampled);
  auto shortened = parse_jaeger("abc:12:0:0");
  ASSERT_TRUE(shortened);
  EXPECT_EQ(trace::to_hex(shortened->trace_id), "00000000000000000000000000000abc");
  EXPECT_EQ(trace::to_hex(shortened->span_id), "0000000000000012");
  EXPECT_FALSE(shortened->sampled);
  EXPECT_TRUE(parse_jaeger(std::string(kTrace) + "%3A" + kSpan + "%3a0%3A3")) << "URL-encoded colons";
  EXPECT_FALSE(parse_jaeger("0:12:0:1")) << "zero trace id";
  EXPECT_FALSE(parse_jaeger("abc:12:0")) << "three fields";
  EXPECT_FALSE(parse_jaeger(std::string(33, 'a') + ":12:0:1")) << "trace id too long";
}

TEST(Extract, W3cWinsAndMalformedHeadersFallThroughAndAreCounted) {
  const std::string w3c = tp("00", kTrace, kSpan, "01");
  const std::string other = "11111111111111111111111111111111";
  ExtractStats stats;
  auto ctx = extract({{"b3", other + "-" + kSpan}, {"traceparent", w3c}, {"tracestate", "rojo=1"}}, &stats);
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->format, Format::W3C);
  EXPECT_EQ(ctx->trace_state, "rojo=1");
  EXPECT_EQ(stats.extracted, 1u);

  auto fallback = extract({{"traceparent", "garbage"}, {"uber-trace-id", other + ":" + kSpan + ":0:1"}}, &stats);
  ASSERT_TRUE(fallback);
  EXPECT_EQ(fallback->format, Format::Jaeger);
  EXPECT_EQ(stats.malformed, 1u);

  auto multi = extract({{"x-b3-traceid", kTrace}, {"x-b3-spanid", kSpan}, {"x-b3-sampled", "1"}}, &stats);
  ASSERT_TRUE(multi);
  EXPECT_EQ(multi->format, Format::B3Multi);

  EXPECT_FALSE(extract({{"b3", "1"}}, &stats)) << "sampling only";
  EXPECT_EQ(stats.malformed, 1u) << "a bare b3 sampling flag is legal, not malformed";
  EXPECT_FALSE(extract({{"host", "x"}}, &stats));
  auto bad_state = extract({{"traceparent", w3c}, {"tracestate", "Bad Key=1"}});
  ASSERT_TRUE(bad_state);
  EXPECT_TRUE(bad_state->trace_state.empty()) << "an invalid tracestate is dropped, the traceparent kept";
}

}  // namespace
}  // namespace zt::context
