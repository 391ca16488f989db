// HTTP/2 streams that the connection's end cut short after their response began, from frames to
// span: the span reports what the response showed, not "no response".
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "pipeline/span_builder.h"
#include "protocols/http2/http2_connection.h"
#include "support/http2_frames.h"

namespace zt::protocols::http2 {
namespace {

namespace t = test::http2;
using t::Fields;
using trace::AttributeValue;

// One connection traced on `traced`'s side: the request of stream 1, its response's HEADERS and
// some DATA, then the connection closes.
struct CutShortStream {
  CutShortStream(Role traced_side, bool grpc, const std::string& status)
      : parser(traced_side, Http2ConnectionParser::Mode::PriorKnowledge), traced(traced_side) {
    client(t::preface() + t::settings());
    server(t::settings());
    Fields request = {{":method", grpc ? "POST" : "GET"}, {":scheme", "http"},
                      {":path", grpc ? "/shop.v1.Orders/Watch" : "/download"}, {":authority", "shop:8080"}};
    if (grpc) request.emplace_back("content-type", "application/grpc");
    client(t::headers(1, client_hpack.encode(request), !grpc) + (grpc ? t::data(1, t::grpc_message("id=1"), true) : ""));
    Fields response = {{":status", status}};
    if (grpc) response.emplace_back("content-type", "application/grpc");
    server(t::headers(1, server_hpack.encode(response)) + t::data(1, grpc ? t::grpc_message("update 1") : "part"));
    parser.on_close(now);
  }
  void client(const std::string& bytes) { feed(traced == Role::Client ? Direction::Egress : Direction::Ingress, bytes); }
  void server(const std::string& bytes) { feed(traced == Role::Client ? Direction::Ingress : Direction::Egress, bytes); }
  void feed(Direction dir, const std::string& bytes) {
    parser.on_chunk(dir, t::chunk(bytes, now, now + 10));
    now += 100;
  }
  Http2Exchange record() {
    auto records = parser.take_records();
    EXPECT_EQ(records.size(), 1u);
    return std::get<Http2Exchange>(std::move(records.at(0)));
  }
  trace::Span span(pipeline::FlushCause cause) {
    pipeline::SpanBuilder builder([](std::uint32_t) { return std::shared_ptr<const trace::Resource>(); }, &clock);
    pipeline::ConnectionInfo conn;
    conn.role = traced;
    return builder.build(record(), conn, cause);
  }

  Http2ConnectionParser parser;
  Role traced;
  t::HpackEncoder client_hpack;
  t::HpackEncoder server_hpack;
  std::uint64_t now = 1000;
  MonotonicToRealtime clock;
};

const AttributeValue* attribute(const trace::Span& span, std::string_view key) { return span.find_attribute(key); }

// The attribute's value, or the string "<missing>".
AttributeValue value(const trace::Span& span, std::string_view key) {
  const AttributeValue* found = span.find_attribute(key);
  return found != nullptr ? *found : AttributeValue(std::string("<missing>"));
}

TEST(Http2CutShort, TheRecordKeepsTheResponseAndSaysTheConnectionEndedIt) {
  CutShortStream s(Role::Server, false, "200");
  const Http2Exchange ex = s.record();
  EXPECT_EQ(ex.closure, Http2Closure::ConnectionClosed);
  ASSERT_TRUE(ex.response.has_value());
  EXPECT_FALSE(ex.response->end_stream);
  EXPECT_EQ(ex.status_code, 200);
  EXPECT_EQ(ex.response->data_bytes, 4u);
}

TEST(Http2CutShort, HttpSpanCarriesTheStatusAndNotNoResponse) {
  for (const Role role : {Role::Server, Role::Client}) {
    CutShortStream ok(role, false, "200");
    const trace::Span span = ok.span(pipeline::FlushCause::Closed);
    EXPECT_EQ(value(span, "http.response.status_code"), AttributeValue(std::int64_t{200}));
    EXPECT_EQ(value(span, "zerotrace.http2.cut_short"), AttributeValue(true));
    EXPECT_EQ(attribute(span, "error.type"), nullptr);
    EXPECT_EQ(span.status, trace::StatusCode::Unset);
    EXPECT_NE(span.status_message, "connection closed before a response");

    CutShortStream failed(role, false, "503");
    const trace::Span error = failed.span(pipeline::FlushCause::Closed);
    EXPECT_EQ(error.status, trace::StatusCode::Error);
    EXPECT_EQ(value(error, "error.type"), AttributeValue(std::string("503")));
  }
}

TEST(Http2CutShort, GrpcSpanWithoutStatusFailsOnTheClientOnly) {
  CutShortStream client(Role::Client, true, "200");
  const trace::Span client_span = client.span(pipeline::FlushCause::Closed);
  EXPECT_EQ(client_span.name, "shop.v1.Orders/Watch");
  EXPECT_EQ(value(client_span, "http.response.status_code"), AttributeValue(std::int64_t{200}));
  EXPECT_EQ(value(client_span, "rpc.grpc.response.message_count"), AttributeValue(std::int64_t{1}));
  EXPECT_EQ(value(client_span, "zerotrace.http2.cut_short"), AttributeValue(true));
  EXPECT_EQ(client_span.status, trace::StatusCode::Error);
  EXPECT_EQ(value(client_span, "error.type"), AttributeValue(std::string("UNAVAILABLE")));

  // The server's call was cancelled by its client going away: not a server fault.
  CutShortStream server(Role::Server, true, "200");
  const trace::Span server_span = server.span(pipeline::FlushCause::Closed);
  EXPECT_EQ(server_span.status, trace::StatusCode::Unset);
  EXPECT_EQ(attribute(server_span, "error.type"), nullptr);
  EXPECT_EQ(value(server_span, "zerotrace.http2.cut_short"), AttributeValue(true));
}

TEST(Http2CutShort, AgentStoppingWatchingIsIncompleteNotCutShort) {
  CutShortStream s(Role::Client, true, "200");
  const trace::Span span = s.span(pipeline::FlushCause::Shutdown);
  EXPECT_EQ(value(span, "zerotrace.incomplete"), AttributeValue(true));
  EXPECT_EQ(attribute(span, "zerotrace.http2.cut_short"), nullptr);
  EXPECT_EQ(span.status, trace::StatusCode::Unset);
}

}  // namespace
}  // namespace zt::protocols::http2
