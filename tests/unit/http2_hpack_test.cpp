// HPACK decoding on both paths (hpack_decoder.h): nghttp2 when every block was seen, the shadow
// table when the decoder starts inside a connection or after a loss. Blocks come from nghttp2's
// deflater, as a real peer would send them.
#include "protocols/http2/hpack_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/http2_frames.h"

namespace zt::protocols::http2 {
namespace {

using test::http2::Fields;
using test::http2::HpackEncoder;

Fields request_fields(const std::string& path, const std::string& traceparent = "") {
  Fields fields = {{":method", "POST"},
                   {":scheme", "http"},
                   {":path", path},
                   {":authority", "orders.internal:50051"},
                   {"content-type", "application/grpc"},
                   {"te", "trailers"},
                   {"user-agent", "grpc-c++/1.51.1"}};
  if (!traceparent.empty()) fields.emplace_back("traceparent", traceparent);
  return fields;
}

std::string traceparent(int i) {
  char id[17];
  std::snprintf(id, sizeof id, "%016x", 0x1000 + i);
  return "00-0af7651916cd43dd8448eb211c80319c-" + std::string(id) + "-01";
}

HeaderList as_list(const Fields& fields) { return HeaderList(fields.begin(), fields.end()); }

TEST(HpackDecoderTest, NghttpPathDecodesDynamicTableAndHuffman) {
  HpackEncoder encoder;
  HpackDecoder decoder(true);
  ASSERT_TRUE(decoder.synced());
  for (int i = 0; i < 5; ++i) {
    const Fields fields = request_fields("/shop.Orders/Get", traceparent(i));
    const std::string block = encoder.encode(fields);
    const DecodedHeaderBlock decoded = decoder.decode(block, true);
    EXPECT_EQ(decoded.fields, as_list(fields));
    EXPECT_EQ(decoded.unresolved, 0u);
    EXPECT_TRUE(decoded.table_complete);
    EXPECT_FALSE(decoded.cut);
    EXPECT_FALSE(decoded.error);
    if (i > 0) {
      EXPECT_LT(block.size(), 80u);  // later blocks are mostly indices into the dynamic table
    }
  }
  EXPECT_TRUE(decoder.synced());
  EXPECT_EQ(decoder.stats().blocks, 5u);
  EXPECT_EQ(decoder.stats().errors, 0u);
}

TEST(HpackDecoderTest, ShadowFromConnectionStartMatchesNghttp) {
  HpackEncoder encoder;
  HpackDecoder reference(true);
  HpackDecoder shadow = HpackDecoder::shadow_from_connection_start();
  ASSERT_FALSE(shadow.synced());
  for (int i = 0; i < 200; ++i) {
    Fields fields = request_fields("/svc.Api/Method" + std::to_string(i % 7), traceparent(i));
    fields.emplace_back("x-request-id", std::string(static_cast<std::size_t>(i % 50), 'r'));
    const std::string block = encoder.encode(fields, {"x-request-id"});
    const DecodedHeaderBlock expected = reference.decode(block, true);
    const DecodedHeaderBlock actual = shadow.decode(block, true);
    ASSERT_EQ(actual.fields, expected.fields) << "block " << i;
    ASSERT_EQ(actual.unresolved, 0u);
    ASSERT_FALSE(actual.error);
  }
  EXPECT_TRUE(shadow.table_complete());
}

TEST(HpackDecoderTest, TableSizeUpdatesAndAcknowledgedSettingsAreHonoured) {
  HpackEncoder encoder(65536);
  HpackDecoder decoder(true);
  HpackDecoder shadow = HpackDecoder::shadow_from_connection_start();
  // Before the decoder's SETTINGS_HEADER_TABLE_SIZE=65536 is acknowledged, a larger table is an error.
  encoder.change_table_size(16384);
  const std::string first = encoder.encode(request_fields("/a"));
  HpackDecoder strict(true);
  EXPECT_TRUE(strict.decode(first, true).error);
  EXPECT_FALSE(strict.synced());  // it lost sync and went to the shadow path

  decoder.set_settings_table_size(65536);
  shadow.set_settings_table_size(65536);
  EXPECT_EQ(decoder.decode(first, true).fields, as_list(request_fields("/a")));
  EXPECT_EQ(shadow.decode(first, true).fields, as_list(request_fields("/a")));
  // Shrinking to 0 empties the table: everything is literal again.
  encoder.change_table_size(0);
  const std::string second = encoder.encode(request_fields("/b"));
  EXPECT_EQ(decoder.decode(second, true).fields, as_list(request_fields("/b")));
  EXPECT_EQ(shadow.decode(second, true).fields, as_list(request_fields("/b")));
  EXPECT_TRUE(decoder.synced());
}

TEST(HpackDecoderTest, MidstreamMarksEntriesFromBeforeAttachAndResolvesNewOnes) {
  HpackEncoder encoder;
  // What the peer sent before the agent attached.
  for (int i = 0; i < 3; ++i) encoder.encode(request_fields("/shop.Orders/Get", traceparent(i)));

  HpackDecoder decoder(false);
  EXPECT_FALSE(decoder.synced());
  EXPECT_FALSE(decoder.table_complete());
  const DecodedHeaderBlock first = decoder.decode(encoder.encode(request_fields("/shop.Orders/Get", traceparent(3))), true);
  EXPECT_FALSE(first.table_complete);
  EXPECT_FALSE(first.error);
  // :method and :scheme are static entries and nghttp2 never indexes :path; the repeated
  // fields come from old dynamic entries; the new traceparent is a literal whose name was an
  // old entry: its name is inferred from the value's shape.
  ASSERT_EQ(first.fields.size(), 8u);
  EXPECT_EQ(first.fields[0], HeaderField(":method", "POST"));
  EXPECT_EQ(first.fields[1], HeaderField(":scheme", "http"));
  EXPECT_EQ(first.fields[2], HeaderField(":path", "/shop.Orders/Get"));
  EXPECT_EQ(first.fields[3], HeaderField("*", "*"));
  EXPECT_EQ(first.fields[7], HeaderField("traceparent", traceparent(3)));
  EXPECT_EQ(first.unresolved, 4u);
  EXPECT_EQ(first.inferred_names, 1u);

  // A field first sent now is inserted now: later blocks resolve it through the dynamic table.
  Fields next = request_fields("/shop.Orders/Create");
  next.emplace_back("x-tenant", "blue");
  const DecodedHeaderBlock second = decoder.decode(encoder.encode(next), true);
  EXPECT_EQ(second.fields[7], HeaderField("x-tenant", "blue"));
  const std::string third_block = encoder.encode(next);
  const DecodedHeaderBlock third = decoder.decode(third_block, true);
  EXPECT_EQ(third.fields[7], HeaderField("x-tenant", "blue"));
  EXPECT_EQ(third.fields[3], HeaderField("*", "*"));  // :authority: still the entry from before
  EXPECT_EQ(third.unresolved, 4u);
  EXPECT_EQ(decoder.stats().unresolved_references, 5u + 4u + 4u);
  EXPECT_EQ(decoder.stats().errors, 0u);
}

TEST(HpackDecoderTest, ShadowTableBecomesCompleteWhenOldEntriesMustHaveBeenEvicted) {
  HpackEncoder encoder;
  encoder.encode(request_fields("/old.Service/Call"));
  HpackDecoder decoder(false);
  // A size update makes the maximum known; entries filling it leave no room for old ones.
  encoder.change_table_size(256);
  decoder.decode(encoder.encode({{"x-a", std::string(100, 'a')}}), true);
  EXPECT_FALSE(decoder.table_complete());
  decoder.decode(encoder.encode({{"x-b", std::string(100, 'b')}}), true);
  EXPECT_TRUE(decoder.table_complete());
  const DecodedHeaderBlock block = decoder.decode(encoder.encode(request_fields("/old.Service/Call")), true);
  EXPECT_EQ(block.unresolved, 0u);
  EXPECT_TRUE(block.table_complete);
  EXPECT_EQ(block.fields, as_list(request_fields("/old.Service/Call")));
}

TEST(HpackDecoderTest, SizeUpdateToZeroResynchronisesAtOnce) {
  HpackEncoder encoder;
  encoder.encode(request_fields("/old.Service/Call"));
  HpackDecoder decoder(false);
  encoder.change_table_size(0);
  encoder.change_table_size(4096);  // nghttp2 sends the minimum, then the final size
  const DecodedHeaderBlock block = decoder.decode(encoder.encode(request_fields("/old.Service/Call")), true);
  EXPECT_TRUE(decoder.table_complete());
  EXPECT_EQ(block.unresolved, 0u);
  EXPECT_EQ(block.fields, as_list(request_fields("/old.Service/Call")));
}

TEST(HpackDecoderTest, CutBlockKeepsItsPrefixAndLosesTheTable) {
  HpackEncoder encoder;
  HpackDecoder decoder(true);
  decoder.decode(encoder.encode(request_fields("/a.B/C")), true);
  const Fields fields = request_fields("/a.B/D", traceparent(1));
  const std::string block = encoder.encode(fields);
  const DecodedHeaderBlock prefix = decoder.decode(std::string_view(block).substr(0, 4), false);
  EXPECT_TRUE(prefix.cut);
  EXPECT_FALSE(prefix.error);
  ASSERT_GE(prefix.fields.size(), 2u);
  EXPECT_EQ(prefix.fields[0], HeaderField(":method", "POST"));
  EXPECT_FALSE(decoder.synced());
  EXPECT_FALSE(decoder.table_complete());
  EXPECT_EQ(decoder.stats().sync_losses, 1u);
  // The next block is decoded against an unknown table: indices into it are "*".
  const DecodedHeaderBlock next = decoder.decode(encoder.encode(request_fields("/a.B/D")), true);
  EXPECT_FALSE(next.error);
  EXPECT_GT(next.unresolved, 0u);
  EXPECT_EQ(next.fields[0], HeaderField(":method", "POST"));
}

TEST(HpackDecoderTest, ShadowPathCutBlockAlsoLosesTheTable) {
  HpackEncoder encoder;
  HpackDecoder decoder = HpackDecoder::shadow_from_connection_start();
  const std::string block = encoder.encode(request_fields("/x.Y/Z"));
  const DecodedHeaderBlock prefix = decoder.decode(std::string_view(block).substr(0, block.size() - 3), false);
  EXPECT_TRUE(prefix.cut);
  EXPECT_FALSE(prefix.error);
  EXPECT_GE(prefix.fields.size(), 3u);
  EXPECT_FALSE(decoder.table_complete());
}

TEST(HpackDecoderTest, InvalidBlocksLoseSyncOnBothPaths) {
  // Indexed field 0 is invalid; index 70 is past an empty, fully known table.
  for (const std::string& bad : {std::string("\x80", 1), std::string("\xc6", 1)}) {
    HpackDecoder synced(true);
    const DecodedHeaderBlock a = synced.decode(bad, true);
    EXPECT_TRUE(a.error);
    EXPECT_EQ(synced.stats().errors, 1u);
    HpackDecoder shadow = HpackDecoder::shadow_from_connection_start();
    EXPECT_TRUE(shadow.decode(bad, true).error);
    EXPECT_FALSE(shadow.table_complete());
  }
  // Index 70 into an unknown table is merely unresolved.
  HpackDecoder midstream(false);
  const DecodedHeaderBlock unknown = midstream.decode(std::string("\xc6", 1), true);
  EXPECT_FALSE(unknown.error);
  EXPECT_EQ(unknown.fields, HeaderList({{"*", "*"}}));
  // Huffman with an invalid padding (all-zero bits are not a valid EOS prefix).
  HpackDecoder huffman = HpackDecoder::shadow_from_connection_start();
  EXPECT_TRUE(huffman.decode(std::string("\x40\x81\x00\x01\x61", 5), true).error);
  // A size update after a field.
  HpackDecoder late_update = HpackDecoder::shadow_from_connection_start();
  EXPECT_TRUE(late_update.decode(std::string("\x82\x20", 2), true).error);
  // A block ending inside a representation, said to be complete.
  HpackDecoder incomplete = HpackDecoder::shadow_from_connection_start();
  EXPECT_TRUE(incomplete.decode(std::string("\x40\x05" "ab", 4), true).error);
}

TEST(HpackDecoderTest, LimitsDropFieldsButKeepDecodingTheTable) {
  HpackEncoder encoder;
  HpackDecoder decoder(true);
  Fields many;
  for (int i = 0; i < 10; ++i) many.emplace_back("x-field-" + std::to_string(i), "v" + std::to_string(i));
  HpackLimits limits;
  limits.max_fields = 4;
  const DecodedHeaderBlock first = decoder.decode(encoder.encode(many), true, limits);
  EXPECT_EQ(first.fields.size(), 4u);
  EXPECT_EQ(first.dropped, 6u);
  const DecodedHeaderBlock second = decoder.decode(encoder.encode(many), true);
  EXPECT_EQ(second.fields, as_list(many));
}

TEST(HpackDecoderTest, TraceHeaderNamesAreInferredOnlyFromTheirExactShape) {
  EXPECT_EQ(infer_header_name("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), "traceparent");
  EXPECT_EQ(infer_header_name("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"), "b3");
  EXPECT_EQ(infer_header_name("e457b5a2e4d86bd1-05e3ac9a4f6e3b90"), "b3");
  EXPECT_EQ(infer_header_name("5af7183fb1d4cf5f:6f2a9d7e1c3b4a59:0:1"), "uber-trace-id");
  EXPECT_EQ(infer_header_name("application/grpc"), "");
  EXPECT_EQ(infer_header_name("0"), "");
  EXPECT_EQ(infer_header_name("00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01"), "");
  EXPECT_EQ(infer_header_name("1:2:3"), "");
  EXPECT_EQ(infer_header_name("2024-01-01"), "");
}

}  // namespace
}  // namespace zt::protocols::http2
