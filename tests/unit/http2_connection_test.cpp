// Http2ConnectionParser on hand-built frames (header blocks from nghttp2's deflater): stitching,
// concurrency, resets, GOAWAY, gRPC, h2c upgrade, capture loss and attaching mid-connection.
#include "protocols/http2/http2_connection.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/hooked_request.h"
#include "support/http2_frames.h"

namespace zt::protocols::http2 {
namespace {

namespace t = test::http2;
using t::Fields;
using t::HpackEncoder;

std::vector<Http2Exchange> exchanges(ConnectionParser& parser) {
  std::vector<Http2Exchange> out;
  for (Record& record : parser.take_records()) out.push_back(std::get<Http2Exchange>(std::move(record)));
  return out;
}

Fields get(const std::string& path) {
  return {{":method", "GET"}, {":scheme", "http"}, {":path", path}, {":authority", "web.local:8080"},
          {"user-agent", "nghttp2/1.52.0"}};
}

Fields grpc_request(const std::string& method) {
  return {{":method", "POST"},
          {":scheme", "http"},
          {":path", "/shop.v1.Orders/" + method},
          {":authority", "orders:50051"},
          {"content-type", "application/grpc"},
          {"te", "trailers"},
          {"grpc-accept-encoding", "identity, deflate, gzip"}};
}

Fields status(const std::string& code, Fields more = {}) {
  Fields fields = {{":status", code}};
  fields.insert(fields.end(), more.begin(), more.end());
  return fields;
}

// Two peers talking through a parser that traces one of them. Every call is one syscall,
// 100 ns after the previous one, lasting 10 ns.
class Conversation {
 public:
  Conversation(ConnectionParser& parser, Role traced) : parser_(parser), traced_(traced) {}

  void client(const std::string& bytes) { feed(traced_ == Role::Client ? Direction::Egress : Direction::Ingress, bytes); }
  void server(const std::string& bytes) { feed(traced_ == Role::Client ? Direction::Ingress : Direction::Egress, bytes); }
  void feed(Direction dir, const std::string& bytes) {
    parser_.on_chunk(dir, t::chunk(bytes, now_, now_ + 10, tid_));
    now_ += 100;
  }
  // Only the first `captured` bytes of this call are seen.
  void client_truncated(const std::string& bytes, std::size_t captured) {
    const Direction dir = traced_ == Role::Client ? Direction::Egress : Direction::Ingress;
    parser_.on_chunk(dir, t::truncated_chunk(bytes, captured, now_, now_ + 10));
    now_ += 100;
  }
  void server_gap(std::uint64_t size) {
    const Direction dir = traced_ == Role::Client ? Direction::Ingress : Direction::Egress;
    parser_.on_chunk(dir, t::gap_chunk(size, now_, now_ + 10));
    now_ += 100;
  }
  void handshake() {
    client(t::preface() + t::settings({{3, 100}, {4, 65535}}));
    server(t::settings({{3, 128}}));
    client(t::settings_ack());
    server(t::settings_ack());
  }
  void set_tid(std::uint32_t tid) { tid_ = tid; }
  std::uint64_t now() const { return now_; }

  HpackEncoder client_hpack;
  HpackEncoder server_hpack;

 private:
  ConnectionParser& parser_;
  Role traced_;
  std::uint64_t now_ = 1000;
  std::uint32_t tid_ = 7;
};

TEST(Http2ConnectionTest, ServerSideGetIsStitchedWithTimingAndTheHook) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
  std::vector<HookedRequest> hooked;
  parser.set_request_hook([&](const RequestView& request, Role role, RequestIdentity& identity) {
    EXPECT_EQ(role, Role::Server);
    hooked.emplace_back(request);
    identity.assigned = true;
    identity.span_id[0] = 42;
  });
  Conversation c(parser, Role::Server);
  c.handshake();                                                             // 1000 .. 1300
  Fields request = get("/index.html?x=1");
  request.emplace_back("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  c.client(t::headers(1, c.client_hpack.encode(request), true));              // 1400
  c.server(t::headers(1, c.server_hpack.encode(status("200", {{"content-type", "text/html"}}))) +
           t::data(1, std::string(47, 'x'), true));                        // 1500

  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  const Http2Exchange& ex = records[0];
  EXPECT_EQ(ex.stream_id, 1u);
  EXPECT_EQ(ex.method, "GET");
  EXPECT_EQ(ex.path, "/index.html?x=1");
  EXPECT_EQ(ex.scheme, "http");
  EXPECT_EQ(ex.authority, "web.local:8080");
  EXPECT_EQ(ex.status_code, 200);
  EXPECT_EQ(ex.closure, Http2Closure::EndStream);
  EXPECT_FALSE(ex.grpc);
  EXPECT_FALSE(ex.degraded);
  EXPECT_EQ(ex.unresolved_headers, 0u);
  EXPECT_EQ(ex.request.headers.size(), 6u);
  EXPECT_TRUE(ex.request.end_stream);
  EXPECT_EQ(ex.request.data_bytes, 0u);
  EXPECT_EQ(ex.request.start_ns, 1410u);  // Ingress: the read's exit
  EXPECT_EQ(ex.request.end_ns, 1410u);
  EXPECT_EQ(ex.request.tid, 7u);
  ASSERT_TRUE(ex.response.has_value());
  EXPECT_EQ(*ex.response->header("content-type"), "text/html");
  EXPECT_EQ(ex.response->data_bytes, 47u);
  EXPECT_EQ(ex.response->start_ns, 1500u);  // Egress: the write's entry
  EXPECT_EQ(ex.response->end_ns, 1510u);
  EXPECT_EQ(ex.closed_ns, 1510u);
  EXPECT_EQ(ex.identity.span_id[0], 42);

  ASSERT_EQ(hooked.size(), 1u);
  EXPECT_EQ(hooked[0].protocol, "http");
  EXPECT_EQ(hooked[0].method, "GET");
  EXPECT_EQ(hooked[0].target, "/index.html?x=1");
  ASSERT_NE(hooked[0].header("traceparent"), nullptr);
  EXPECT_EQ(hooked[0].start_ns, 1410u);
  EXPECT_EQ(hooked[0].tid, 7u);

  EXPECT_TRUE(parser.hpack_synced(Direction::Ingress));
  EXPECT_TRUE(parser.hpack_synced(Direction::Egress));
  EXPECT_EQ(parser.protocol_name(), "http2");
  EXPECT_EQ(parser.stats().parse_errors, 0u);
  EXPECT_EQ(parser.stats().messages, 2u);
  EXPECT_EQ(parser.http2_stats().streams, 1u);
  EXPECT_EQ(parser.http2_stats().header_blocks, 2u);
}

TEST(Http2ConnectionTest, ClientSideAndUnknownRoleLearnedFromThePreface) {
  for (const Role role : {Role::Client, Role::Unknown}) {
    Http2ConnectionParser parser(role, Http2ConnectionParser::Mode::PriorKnowledge);
    Conversation c(parser, Role::Client);
    c.server(t::settings());  // the server's SETTINGS may come first
    c.handshake();
    c.client(t::headers(1, c.client_hpack.encode(get("/a")), true));
    c.server(t::headers(1, c.server_hpack.encode(status("404")), true));
    const auto records = exchanges(parser);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].status_code, 404);
    EXPECT_EQ(records[0].request.start_ns, records[0].request.end_ns - 10);  // Egress: the write's entry
    EXPECT_EQ(parser.role(), Role::Client);
  }
}

TEST(Http2ConnectionTest, InterleavedStreamsCompleteInTheirOwnOrder) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Server);
  c.handshake();
  // HPACK blocks are encoded in wire order: one statement each.
  std::string requests = t::headers(1, c.client_hpack.encode(get("/slow")), true);
  requests += t::headers(3, c.client_hpack.encode(get("/fast")), true);
  requests += t::headers(5, c.client_hpack.encode(get("/big")), true);
  c.client(requests);
  std::string responses = t::headers(5, c.server_hpack.encode(status("200")));
  responses += t::headers(1, c.server_hpack.encode(status("200")));
  responses += t::data(5, std::string(1000, 'b'));
  responses += t::headers(3, c.server_hpack.encode(status("204")), true);
  responses += t::data(1, "part");
  c.server(responses);
  c.server(t::data(5, std::string(500, 'b'), true) + t::data(1, "rest", true));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].path, "/fast");
  EXPECT_EQ(records[0].status_code, 204);
  EXPECT_EQ(records[1].path, "/big");
  EXPECT_EQ(records[1].response->data_bytes, 1500u);
  EXPECT_EQ(records[2].path, "/slow");
  EXPECT_EQ(records[2].response->data_bytes, 8u);
  EXPECT_EQ(records[2].response->start_ns, records[1].response->start_ns);  // same write
  EXPECT_LT(records[2].response->start_ns, records[2].response->end_ns);
}

TEST(Http2ConnectionTest, ContinuationPaddingAndPriorityFlags) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Server);
  c.handshake();
  Fields big = get("/upload");
  big.emplace_back("cookie", std::string(3000, 'c'));
  const std::string block = c.client_hpack.encode(big);
  c.client(t::frame(FrameType::Headers, 0, 1, block.substr(0, 100)) + t::continuation(1, block.substr(100, 1000), false));
  c.client(t::continuation(1, block.substr(1100), true) + t::padded_data(1, "abcdef", 200, true));
  c.server(t::padded_priority_headers(1, c.server_hpack.encode(status("201")), 30) + t::padded_data(1, "ok", 9, true));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request.header("cookie")->size(), 3000u);
  EXPECT_EQ(records[0].request.header_block_bytes, block.size());
  EXPECT_EQ(records[0].request.data_bytes, 6u);
  EXPECT_EQ(records[0].status_code, 201);
  EXPECT_EQ(records[0].response->data_bytes, 2u);
  EXPECT_FALSE(records[0].degraded);
}

TEST(Http2ConnectionTest, RstStreamEndsTheStreamWithItsCodeAndSender) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Server);
  c.handshake();
  c.client(t::headers(1, c.client_hpack.encode(grpc_request("Watch"))) + t::data(1, t::grpc_message("q")));
  c.server(t::headers(1, c.server_hpack.encode(status("200", {{"content-type", "application/grpc"}}))) +
           t::data(1, t::grpc_message("update 1")));
  c.client(t::rst_stream(1, 8));  // CANCEL
  c.client(t::window_update(1, 100) + t::data(1, "late"));  // in flight: a stream no longer known
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].closure, Http2Closure::Reset);
  EXPECT_EQ(records[0].error_code, 8u);
  EXPECT_EQ(records[0].reset_by, Role::Client);
  EXPECT_EQ(records[0].closed_ns, c.now() - 200 + 10);
  EXPECT_TRUE(records[0].grpc);
  EXPECT_EQ(records[0].response->grpc_messages, 1u);
  EXPECT_FALSE(records[0].grpc_status.has_value());
  EXPECT_EQ(parser.http2_stats().streams_reset, 1u);
  EXPECT_EQ(parser.http2_stats().frames_for_unknown_streams, 1u);
}

TEST(Http2ConnectionTest, ServerGoAwayRefusesStreamsPastItsLastStreamId) {
  Http2ConnectionParser parser(Role::Client, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Client);
  c.handshake();
  std::string requests = t::headers(1, c.client_hpack.encode(get("/1")), true);
  requests += t::headers(3, c.client_hpack.encode(get("/3")), true);
  requests += t::headers(5, c.client_hpack.encode(get("/5")), true);
  c.client(requests);
  c.server(t::goaway(1, 0, "graceful shutdown"));
  c.server(t::headers(1, c.server_hpack.encode(status("200")), true));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].path, "/3");
  EXPECT_EQ(records[0].closure, Http2Closure::GoAway);
  EXPECT_EQ(records[0].error_code, 0u);
  EXPECT_FALSE(records[0].response.has_value());
  EXPECT_EQ(records[1].path, "/5");
  EXPECT_EQ(records[2].path, "/1");
  EXPECT_EQ(records[2].closure, Http2Closure::EndStream);
  EXPECT_EQ(parser.http2_stats().streams_refused, 2u);
}

TEST(Http2ConnectionTest, CloseFlushesOpenStreams) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Server);
  c.handshake();
  c.client(t::headers(1, c.client_hpack.encode(get("/hang")), true));
  c.client(t::headers(3, c.client_hpack.encode(get("/half")), true));
  c.server(t::headers(3, c.server_hpack.encode(status("200"))) + t::data(3, "par"));
  EXPECT_TRUE(parser.take_records().empty());
  parser.on_close(9999);
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].path, "/hang");
  EXPECT_EQ(records[0].closure, Http2Closure::ConnectionClosed);
  EXPECT_EQ(records[0].closed_ns, 9999u);
  EXPECT_FALSE(records[0].response.has_value());
  EXPECT_EQ(records[1].response->data_bytes, 3u);
  EXPECT_FALSE(records[1].response->end_stream);
  parser.on_close(10000);
  EXPECT_TRUE(parser.take_records().empty());
}

TEST(Http2ConnectionTest, GrpcUnaryCountsMessagesAcrossDataFrames) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Server);
  c.handshake();
  const std::string messages = t::grpc_message(std::string(300, 'm')) + t::grpc_message("") + t::grpc_message("xyz");
  c.client(t::headers(1, c.client_hpack.encode(grpc_request("Create"))) + t::data(1, messages.substr(0, 3)));
  c.client(t::data(1, messages.substr(3, 200)) + t::data(1, messages.substr(203)));
  c.client(t::data(1, "", true));
  std::string response = t::headers(1, c.server_hpack.encode(status("200", {{"content-type", "application/grpc"}})));
  response += t::data(1, t::grpc_message("created"));
  response += t::headers(1, c.server_hpack.encode({{"grpc-status", "0"}, {"grpc-message", ""}}), true);
  c.server(response);
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  const Http2Exchange& ex = records[0];
  EXPECT_TRUE(ex.grpc);
  EXPECT_FALSE(ex.grpc_inferred);
  EXPECT_EQ(ex.path, "/shop.v1.Orders/Create");
  EXPECT_EQ(ex.request.grpc_messages, 3u);
  EXPECT_EQ(ex.request.data_bytes, messages.size());
  EXPECT_EQ(ex.response->grpc_messages, 1u);
  EXPECT_EQ(ex.grpc_status, 0);
  EXPECT_FALSE(ex.trailers_only);
  EXPECT_EQ(*ex.response->trailer("grpc-status"), "0");
}

// Bidirectional streaming: messages go both ways, interleaved, before either side ends; each side
// is counted on its own and the stream completes with the trailers after the client's END_STREAM.
TEST(Http2ConnectionTest, GrpcBidirectionalStreamingCountsBothSidesInterleaved) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Server);
  c.handshake();
  c.client(t::headers(1, c.client_hpack.encode(grpc_request("Chat"))) + t::data(1, t::grpc_message("hi 1")));
  c.server(t::headers(1, c.server_hpack.encode(status("200", {{"content-type", "application/grpc"}}))) +
           t::data(1, t::grpc_message("re 1")));
  c.client(t::data(1, t::grpc_message("hi 2")));
  c.server(t::data(1, t::grpc_message("re 2")) + t::data(1, t::grpc_message("re 3")));
  c.client(t::data(1, t::grpc_message("hi 3"), true));
  EXPECT_TRUE(exchanges(parser).empty()) << "the response side is still open";
  c.server(t::headers(1, c.server_hpack.encode({{"grpc-status", "0"}}), true));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].path, "/shop.v1.Orders/Chat");
  EXPECT_EQ(records[0].request.grpc_messages, 3u);
  EXPECT_EQ(records[0].response->grpc_messages, 3u);
  EXPECT_EQ(records[0].grpc_status, 0);
}

TEST(Http2ConnectionTest, GrpcTrailersOnlyResponse) {
  Http2ConnectionParser parser(Role::Client, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Client);
  c.handshake();
  c.client(t::headers(1, c.client_hpack.encode(grpc_request("Get"))) + t::data(1, t::grpc_message("id=7"), true));
  c.server(t::headers(1,
                      c.server_hpack.encode(status("200", {{"content-type", "application/grpc"},
                                                           {"grpc-status", "5"},
                                                           {"grpc-message", "order%207%20not%20found"}})),
                      true));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].trailers_only);
  EXPECT_EQ(records[0].grpc_status, 5);
  EXPECT_EQ(records[0].grpc_message, "order 7 not found");
  EXPECT_EQ(records[0].status_code, 200);
  EXPECT_EQ(records[0].response->grpc_messages, 0u);
}

TEST(Http2ConnectionTest, GrpcStreamingCountsMessagesSkippedByCount) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Server);
  c.handshake();
  c.client(t::headers(1, c.client_hpack.encode(grpc_request("List"))) + t::data(1, t::grpc_message("all"), true));
  c.server(t::headers(1, c.server_hpack.encode(status("200", {{"content-type", "application/grpc"}}))));
  // A 5000-byte message of which the capture keeps 64 bytes; the next message follows.
  const std::string big = t::data(1, t::grpc_message(std::string(5000, 'x')));
  c.server(big.substr(0, 64));
  parser.on_chunk(Direction::Egress, t::truncated_chunk(big.substr(64), 0, 5000, 5010));
  std::string many;
  for (int i = 0; i < 10; ++i) many += t::grpc_message("item " + std::to_string(i));
  c.server(t::data(1, many) + t::headers(1, c.server_hpack.encode({{"grpc-status", "0"}}), true));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].response->grpc_messages, 11u);
  EXPECT_EQ(records[0].response->data_bytes, 5005u + many.size());
  EXPECT_FALSE(records[0].degraded);
}

TEST(Http2ConnectionTest, InterimResponsesAndRequestTrailers) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Server);
  c.handshake();
  Fields put = get("/file");
  put[0].second = "PUT";
  put.emplace_back("expect", "100-continue");
  c.client(t::headers(1, c.client_hpack.encode(put)));
  c.server(t::headers(1, c.server_hpack.encode(status("100"))));
  c.client(t::data(1, "body") + t::headers(1, c.client_hpack.encode({{"x-checksum", "abc"}}), true));
  c.server(t::headers(1, c.server_hpack.encode(status("201")), true));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].interim_responses, 1u);
  EXPECT_EQ(records[0].status_code, 201);
  EXPECT_EQ(*records[0].request.trailer("x-checksum"), "abc");
  EXPECT_EQ(records[0].request.data_bytes, 4u);
}

TEST(Http2ConnectionTest, PushPromiseKeepsTheTableInSyncAndPushedStreamsAreNotReported) {
  Http2ConnectionParser parser(Role::Client, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Client);
  c.handshake();
  c.client(t::headers(1, c.client_hpack.encode(get("/page")), true));
  std::string promise(4, '\0');
  promise[3] = 2;  // promised stream 2
  promise += c.server_hpack.encode({{":method", "GET"}, {":path", "/style.css"}, {"x-pushed-by", "server"}});
  std::string responses = t::frame(FrameType::PushPromise, flags::kEndHeaders, 1, promise);
  responses += t::headers(2, c.server_hpack.encode(status("200", {{"x-pushed-by", "server"}})), true);
  responses += t::headers(1, c.server_hpack.encode(status("200", {{"x-pushed-by", "server"}})), true);
  c.server(responses);
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].path, "/page");
  EXPECT_EQ(*records[0].response->header("x-pushed-by"), "server");  // an entry the promise inserted
  EXPECT_EQ(parser.http2_stats().pushed_streams, 1u);
  EXPECT_TRUE(parser.hpack_synced(Direction::Ingress));
}

TEST(Http2ConnectionTest, AcknowledgedHeaderTableSizeLetsTheEncoderGrowItsTable) {
  for (const bool acknowledged : {true, false}) {
    Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
    Conversation c(parser, Role::Server);
    c.client(t::preface() + t::settings());
    c.server(t::settings({{1, 65536}}));  // the server's decoder may use 64 KiB
    if (acknowledged) c.client(t::settings_ack());
    HpackEncoder encoder(65536);
    encoder.change_table_size(65536);
    Fields fields = get("/big-table");
    fields.emplace_back("x-blob", std::string(8000, 'q'));
    std::string requests = t::headers(1, encoder.encode(fields), true);
    requests += t::headers(3, encoder.encode(fields), true);
    c.client(requests);
    std::string responses = t::headers(1, c.server_hpack.encode(status("200")), true);
    responses += t::headers(3, c.server_hpack.encode(status("200")), true);
    c.server(responses);
    const auto records = exchanges(parser);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(parser.hpack_synced(Direction::Ingress), acknowledged);
    EXPECT_EQ(records[1].request.header("x-blob") != nullptr, acknowledged);
    EXPECT_EQ(records[1].degraded, !acknowledged);
  }
}

TEST(Http2ConnectionTest, TruncatedHeaderBlockDegradesThenNewEntriesResolve) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Server);
  c.handshake();
  c.client(t::headers(1, c.client_hpack.encode(grpc_request("A")), true));
  c.server(t::headers(1, c.server_hpack.encode(status("200")), true));
  // The capture keeps 30 bytes of a 2 KiB header block (a big metadata value).
  Fields big = grpc_request("B");
  big.emplace_back("x-metadata", std::string(2000, 'm'));
  const std::string frame = t::headers(3, c.client_hpack.encode(big), true);
  c.client_truncated(frame, 30);
  c.server(t::headers(3, c.server_hpack.encode(status("200")), true));
  // The encoder now refers to entries the decoder cannot place; then sends a new one.
  Fields third = grpc_request("C");
  third.emplace_back("x-tenant", "blue");
  c.client(t::headers(5, c.client_hpack.encode(third), true));
  c.server(t::headers(5, c.server_hpack.encode(status("200")), true));
  c.client(t::headers(7, c.client_hpack.encode(third), true));
  c.server(t::headers(7, c.server_hpack.encode(status("200")), true));

  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_FALSE(records[0].degraded);
  EXPECT_TRUE(records[1].request.headers_truncated);
  EXPECT_TRUE(records[1].degraded);
  EXPECT_EQ(records[1].method, "POST");
  EXPECT_EQ(records[1].status_code, 200);
  // nghttp2 never indexes :path, so it stays readable; :authority and the rest are "*".
  EXPECT_EQ(records[2].path, "/shop.v1.Orders/C");
  EXPECT_EQ(records[2].authority, "*");
  EXPECT_TRUE(records[2].degraded);
  EXPECT_GT(records[2].unresolved_headers, 0u);
  EXPECT_EQ(*records[2].request.header("x-tenant"), "blue");
  EXPECT_EQ(*records[3].request.header("x-tenant"), "blue");  // inserted after the loss: resolved
  EXPECT_FALSE(parser.hpack_synced(Direction::Ingress));
  EXPECT_TRUE(parser.hpack_synced(Direction::Egress));
  EXPECT_EQ(parser.http2_stats().header_blocks_lost, 1u);
  EXPECT_EQ(parser.http2_stats().hpack_sync_losses, 1u);
  EXPECT_GT(parser.http2_stats().hpack_unresolved_references, 0u);
}

TEST(Http2ConnectionTest, LostFramingResynchronisesAndMarksOpenStreams) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Server);
  c.handshake();
  std::string requests = t::headers(1, c.client_hpack.encode(get("/a")), true);
  requests += t::headers(3, c.client_hpack.encode(get("/b")), true);
  c.client(requests);
  c.server(t::headers(1, c.server_hpack.encode(status("200"))) + t::data(1, "x"));
  c.server_gap(700);  // lost: whatever the server wrote, perhaps the end of stream 1
  c.server(t::headers(3, c.server_hpack.encode(status("200")), true));
  parser.on_close(c.now());
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].stream_id, 3u);
  EXPECT_TRUE(records[0].degraded);  // decoded after the loss: the table was unknown
  EXPECT_EQ(records[0].status_code, 200);
  EXPECT_EQ(records[1].stream_id, 1u);
  EXPECT_TRUE(records[1].response->data_lost);
  EXPECT_EQ(records[1].closure, Http2Closure::ConnectionClosed);
  EXPECT_EQ(parser.stats().resyncs, 1u);
  EXPECT_EQ(parser.stats().bytes_skipped, 700u);
}

TEST(Http2ConnectionTest, MidstreamAttachResolvesWhatItCanAndInfersGrpc) {
  HpackEncoder client_hpack;
  HpackEncoder server_hpack;
  // Before the agent attached: the same call, many times.
  for (int i = 0; i < 3; ++i) {
    client_hpack.encode(grpc_request("Get"));
    server_hpack.encode(status("200", {{"content-type", "application/grpc"}}));
    server_hpack.encode({{"grpc-status", "0"}, {"grpc-message", ""}});
  }
  Http2ConnectionParser parser(Role::Unknown, Http2ConnectionParser::Mode::Midstream);
  Conversation c(parser, Role::Server);
  // The tail of an earlier response, then a whole call, then one with a new metadata entry.
  c.server(std::string(37, 'z') + t::data(101, std::string(20, 'r')) +
           t::headers(101, server_hpack.encode({{"grpc-status", "0"}, {"grpc-message", ""}}), true));
  c.client(t::headers(103, client_hpack.encode(grpc_request("Get"))) + t::data(103, t::grpc_message("id=1"), true));
  std::string response = t::headers(103, server_hpack.encode(status("200", {{"content-type", "application/grpc"}})));
  response += t::data(103, t::grpc_message("order 1"));
  response += t::headers(103, server_hpack.encode({{"grpc-status", "0"}, {"grpc-message", ""}}), true);
  c.server(response);
  Fields request = grpc_request("Get");
  request.emplace_back("x-tenant", "blue");
  for (std::uint32_t id : {105u, 107u}) {
    c.client(t::headers(id, client_hpack.encode(request)) + t::data(id, t::grpc_message("id=2"), true));
    std::string answer = t::headers(id, server_hpack.encode(status("200", {{"content-type", "application/grpc"}})));
    answer += t::data(id, t::grpc_message("order 2"));
    answer += t::headers(id, server_hpack.encode({{"grpc-status", "0"}, {"grpc-message", ""}}), true);
    c.server(answer);
  }
  const auto records = exchanges(parser);
  EXPECT_EQ(parser.role(), Role::Server);
  ASSERT_EQ(records.size(), 3u);
  const Http2Exchange& first = records[0];
  EXPECT_EQ(first.stream_id, 103u);
  EXPECT_EQ(first.method, "POST");
  EXPECT_EQ(first.path, "/shop.v1.Orders/Get");
  EXPECT_EQ(first.authority, "*");
  EXPECT_EQ(first.status_code, 200);
  EXPECT_TRUE(first.degraded);
  EXPECT_EQ(first.unresolved_headers, 4u + 3u);  // authority, content-type, te, accept-encoding; 3 response fields
  EXPECT_TRUE(first.grpc);
  EXPECT_TRUE(first.grpc_inferred);
  EXPECT_FALSE(first.grpc_status.has_value());
  EXPECT_EQ(first.request.grpc_messages, 1u);
  EXPECT_EQ(first.response->grpc_messages, 1u);
  EXPECT_EQ(*records[2].request.header("x-tenant"), "blue");
  EXPECT_FALSE(parser.hpack_synced(Direction::Ingress));
  EXPECT_EQ(parser.http2_stats().frames_for_unknown_streams, 2u);  // stream 101's DATA and trailers
  EXPECT_EQ(parser.stats().bytes_skipped, 37u);
  EXPECT_EQ(parser.stats().resyncs, 0u);
}

TEST(Http2ConnectionTest, MidstreamConnectionKnownToCarryGrpcMakesItsStreamsGrpc) {
  HpackEncoder client_hpack;
  HpackEncoder server_hpack;
  const Fields error_response = status("200", {{"content-type", "application/grpc"}, {"grpc-status", "5"}});
  // Before the agent attached: every field below is already a dynamic table entry.
  for (int i = 0; i < 2; ++i) {
    client_hpack.encode(grpc_request("Get"));
    server_hpack.encode(status("200", {{"content-type", "application/grpc"}}));
    server_hpack.encode({{"grpc-status", "0"}, {"grpc-message", ""}});
    server_hpack.encode(error_response);
  }
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::Midstream);
  Conversation c(parser, Role::Server);
  // 101: a whole unary call, gRPC by its messages and trailers (inferred).
  c.client(t::headers(101, client_hpack.encode(grpc_request("Get"))) + t::data(101, t::grpc_message("id=1"), true));
  std::string answer = t::headers(101, server_hpack.encode(status("200", {{"content-type", "application/grpc"}})));
  answer += t::data(101, t::grpc_message("order 1"));
  answer += t::headers(101, server_hpack.encode({{"grpc-status", "0"}, {"grpc-message", ""}}), true);
  c.server(answer);
  // 103: Trailers-Only (an error): no messages, no trailers block, every field unresolved.
  c.client(t::headers(103, client_hpack.encode(grpc_request("Get"))) + t::data(103, t::grpc_message("id=2"), true));
  c.server(t::headers(103, server_hpack.encode(error_response), true));
  // 105: answered, then the connection ends before its trailers.
  c.client(t::headers(105, client_hpack.encode(grpc_request("Get"))) + t::data(105, t::grpc_message("id=3"), true));
  c.server(t::headers(105, server_hpack.encode(status("200", {{"content-type", "application/grpc"}}))));
  parser.on_close(c.now());
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].stream_id, 101u);
  EXPECT_TRUE(records[0].grpc_inferred);
  for (std::size_t i : {1u, 2u}) {
    const Http2Exchange& ex = records[i];
    EXPECT_GT(ex.request.unresolved_headers, 0u) << ex.stream_id;  // its own evidence is hidden
    const std::string* content_type = ex.request.header("content-type");
    EXPECT_TRUE(content_type == nullptr || *content_type == "*") << *content_type;
    EXPECT_TRUE(ex.grpc) << ex.stream_id;
    EXPECT_TRUE(ex.grpc_inferred) << ex.stream_id;
    EXPECT_EQ(ex.path, "/shop.v1.Orders/Get");
  }
  EXPECT_EQ(records[1].stream_id, 103u);
  EXPECT_TRUE(records[1].trailers_only);
  EXPECT_EQ(records[2].stream_id, 105u);
  EXPECT_EQ(records[2].closure, Http2Closure::ConnectionClosed);
  EXPECT_FALSE(records[2].trailers_only);
}

TEST(Http2ConnectionTest, MidstreamWithoutGrpcEvidenceKeepsUnresolvedStreamsPlain) {
  HpackEncoder client_hpack;
  HpackEncoder server_hpack;
  const Fields upload = {{":method", "POST"}, {":scheme", "http"}, {":path", "/upload"}, {"content-type", "image/png"}};
  client_hpack.encode(upload);
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::Midstream);
  Conversation c(parser, Role::Server);
  c.client(t::headers(7, client_hpack.encode(upload)) + t::data(7, "png", true));
  c.server(t::headers(7, server_hpack.encode(status("201")), true));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_GT(records[0].request.unresolved_headers, 0u);
  EXPECT_FALSE(records[0].grpc);
  EXPECT_EQ(records[0].status_code, 201);
}

TEST(Http2ConnectionTest, MidstreamThatTurnsOutToStartAtThePrefaceIsSynced) {
  Http2ConnectionParser parser(Role::Unknown, Http2ConnectionParser::Mode::Midstream);
  Conversation c(parser, Role::Server);
  c.handshake();
  c.client(t::headers(1, c.client_hpack.encode(get("/")), true));
  c.server(t::headers(1, c.server_hpack.encode(status("200")), true));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].degraded);
  EXPECT_TRUE(parser.hpack_synced(Direction::Ingress));
  EXPECT_TRUE(parser.hpack_synced(Direction::Egress));
  EXPECT_EQ(parser.role(), Role::Server);
}

TEST(Http2ConnectionTest, H2cUpgradeMakesTheHttp1RequestStreamOne) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::Upgrade);
  int hooked = 0;
  parser.set_request_hook([&](const RequestView&, Role, RequestIdentity& identity) {
    identity.assigned = true;
    identity.span_id[0] = static_cast<std::uint8_t>(++hooked);
  });
  Conversation c(parser, Role::Server);
  // HTTP2-Settings: SETTINGS_HEADER_TABLE_SIZE = 8192 for the client's decoder.
  c.client("GET /first HTTP/1.1\r\nHost: web:80\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
           "HTTP2-Settings: AAEAACAA\r\n\r\n");
  HpackEncoder server_hpack(8192);
  server_hpack.change_table_size(8192);
  c.server("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n" + t::settings() +
           t::headers(1, server_hpack.encode(status("200", {{"x-big", std::string(5000, 'b')}}))) +
           t::data(1, "hello", true));
  c.client(t::preface() + t::settings() + t::settings_ack() + t::headers(3, c.client_hpack.encode(get("/second")), true));
  c.server(t::headers(3, server_hpack.encode(status("200", {{"x-big", std::string(5000, 'b')}})), true));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_TRUE(parser.upgraded());
  EXPECT_EQ(records[0].stream_id, 1u);
  EXPECT_TRUE(records[0].upgraded);
  EXPECT_EQ(records[0].method, "GET");
  EXPECT_EQ(records[0].path, "/first");
  EXPECT_EQ(records[0].authority, "web:80");
  EXPECT_EQ(*records[0].request.header("upgrade"), "h2c");
  EXPECT_EQ(records[0].status_code, 200);
  EXPECT_EQ(records[0].response->data_bytes, 5u);
  EXPECT_EQ(records[0].identity.span_id[0], 1);
  EXPECT_EQ(records[1].path, "/second");
  EXPECT_FALSE(records[1].upgraded);
  EXPECT_EQ(records[1].response->header("x-big")->size(), 5000u);  // the 8 KiB table worked
  EXPECT_EQ(records[1].identity.span_id[0], 2);
  EXPECT_TRUE(parser.hpack_synced(Direction::Egress));
  EXPECT_EQ(parser.stats().parse_errors, 0u);
}

TEST(Http2ConnectionTest, DeclinedUpgradeStaysHttp1) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::Upgrade);
  Conversation c(parser, Role::Server);
  c.client("GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
  c.server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  c.client("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  c.server("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  auto records = parser.take_records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(std::get<HttpExchange>(records[0]).response->status_code, 200);
  EXPECT_EQ(std::get<HttpExchange>(records[1]).request.target, "/b");
  EXPECT_FALSE(parser.upgraded());
}

TEST(Http2ConnectionTest, OpenStreamsAreBounded) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Server);
  c.handshake();
  std::string requests;
  for (std::uint32_t i = 0; i <= Http2ConnectionParser::kMaxOpenStreams; ++i) {
    requests += t::headers(2 * i + 1, c.client_hpack.encode(get("/" + std::to_string(i))), true);
  }
  c.client(requests);
  EXPECT_EQ(parser.stats().requests_evicted, 1u);
  c.server(t::headers(1, c.server_hpack.encode(status("200")), true));  // the evicted one
  EXPECT_EQ(parser.stats().unmatched_responses, 1u);
  parser.on_close(c.now());
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), Http2ConnectionParser::kMaxOpenStreams);
  EXPECT_EQ(records.front().path, "/1");
}

TEST(Http2ConnectionTest, ControlFramesAndPriorityOnIdleStreamsAreHarmless) {
  Http2ConnectionParser parser(Role::Server, Http2ConnectionParser::Mode::PriorKnowledge);
  Conversation c(parser, Role::Server);
  c.handshake();
  c.client(t::priority(3) + t::priority(5) + t::ping() + t::window_update(0, 1 << 20) +
           t::frame(static_cast<FrameType>(0xbb), 0x7f, 9, "extension frame") +
           t::headers(7, c.client_hpack.encode(get("/")), true));
  c.server(t::ping(true) + t::headers(7, c.server_hpack.encode(status("200")), true));
  const auto records = exchanges(parser);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].stream_id, 7u);
  EXPECT_EQ(parser.stats().parse_errors, 0u);
  EXPECT_EQ(parser.http2_stats().frames, 4u + 6u + 2u);
}

}  // namespace
}  // namespace zt::protocols::http2
