// SpanBuilder: HTTP exchanges to spans with the OpenTelemetry HTTP semantic conventions.
#include "pipeline/span_builder.h"

#include <gtest/gtest.h>

#include <set>

namespace zt::pipeline {
namespace {

using protocols::HttpExchange;
using protocols::HttpMessage;
using protocols::Role;
using trace::AttributeValue;

HttpExchange exchange(std::string method, std::string target, int status, std::string host = "svc:8080") {
  HttpExchange ex;
  ex.request.is_request = true;
  ex.request.method = std::move(method);
  ex.request.target = std::move(target);
  ex.request.version = "1.1";
  ex.request.headers = {{"host", std::move(host)}, {"user-agent", "curl/8"}};
  ex.request.body_bytes = 5;
  ex.request.start_ns = 1'000;
  ex.request.end_ns = 2'000;
  ex.request.tid = 42;
  if (status) {
    HttpMessage r;
    r.status_code = status;
    r.version = "1.1";
    r.body_bytes = 11;
    r.start_ns = 3'000;
    r.end_ns = 9'000;
    ex.response = r;
  }
  return ex;
}

ConnectionInfo connection(Role role) {
  ConnectionInfo c;
  c.conn_id = 9;
  c.pid = 1234;
  c.role = role;
  c.local = {"10.0.0.1", role == Role::Server ? std::uint16_t{8080} : std::uint16_t{51000}, false};
  c.remote = {"10.0.0.2", role == Role::Server ? std::uint16_t{51000} : std::uint16_t{8080}, false};
  return c;
}

class SpanBuilderTest : public ::testing::Test {
 protected:
  SpanBuilderTest()
      : builder_(
            [this](std::uint32_t pid) {
              looked_up_ = pid;
              return resource_;
            },
            &clock_) {}

  const AttributeValue& attr(const trace::Span& s, std::string_view key) {
    const auto* v = s.find_attribute(key);
    EXPECT_NE(v, nullptr) << key;
    static const AttributeValue missing = std::string("<missing>");
    return v ? *v : missing;
  }

  MonotonicToRealtime clock_;
  std::shared_ptr<const trace::Resource> resource_ = std::make_shared<trace::Resource>();
  std::uint32_t looked_up_ = 0;
  SpanBuilder builder_;
};

TEST_F(SpanBuilderTest, ServerSpanCarriesTheHttpConventions) {
  const auto span = builder_.build(exchange("GET", "/users/42?verbose=1", 200), connection(Role::Server),
                                        FlushCause::InStream);
  EXPECT_EQ(span.name, "GET /users/{id}");
  EXPECT_EQ(span.kind, trace::SpanKind::Server);
  EXPECT_EQ(span.status, trace::StatusCode::Unset);
  EXPECT_EQ(span.end_unix_ns - span.start_unix_ns, 8'000u);  // request's first byte to response's last
  EXPECT_EQ(span.start_unix_ns, clock_.to_unix_ns(1'000));
  EXPECT_EQ(span.tid, 42u);
  EXPECT_FALSE(span.is_root() && span.trace_id == trace::TraceId{});
  EXPECT_EQ(attr(span, "http.request.method"), AttributeValue(std::string("GET")));
  EXPECT_EQ(attr(span, "url.path"), AttributeValue(std::string("/users/42")));
  EXPECT_EQ(attr(span, "url.query"), AttributeValue(std::string("verbose=1")));
  EXPECT_EQ(attr(span, "http.route"), AttributeValue(std::string("/users/{id}")));
  EXPECT_EQ(attr(span, "http.response.status_code"), AttributeValue(std::int64_t{200}));
  EXPECT_EQ(attr(span, "server.address"), AttributeValue(std::string("svc")));
  EXPECT_EQ(attr(span, "server.port"), AttributeValue(std::int64_t{8080}));
  EXPECT_EQ(attr(span, "client.address"), AttributeValue(std::string("10.0.0.2")));
  EXPECT_EQ(attr(span, "network.peer.port"), AttributeValue(std::int64_t{51000}));
  EXPECT_EQ(attr(span, "network.protocol.version"), AttributeValue(std::string("1.1")));
  EXPECT_EQ(attr(span, "user_agent.original"), AttributeValue(std::string("curl/8")));
  EXPECT_EQ(attr(span, "http.request.body.size"), AttributeValue(std::int64_t{5}));
  EXPECT_EQ(attr(span, "http.response.body.size"), AttributeValue(std::int64_t{11}));
  EXPECT_EQ(span.find_attribute("url.full"), nullptr);
  EXPECT_EQ(looked_up_, 1234u);
  EXPECT_EQ(span.resource, resource_);
}

TEST_F(SpanBuilderTest, ServersOwnFiveHundredsButNotFourHundreds) {
  auto s404 = builder_.build(exchange("GET", "/x", 404), connection(Role::Server), FlushCause::InStream);
  EXPECT_EQ(s404.status, trace::StatusCode::Unset);
  EXPECT_EQ(s404.find_attribute("error.type"), nullptr);
  auto s503 = builder_.build(exchange("GET", "/x", 503), connection(Role::Server), FlushCause::InStream);
  EXPECT_EQ(s503.status, trace::StatusCode::Error);
  EXPECT_EQ(attr(s503, "error.type"), AttributeValue(std::string("503")));
}

TEST_F(SpanBuilderTest, ClientSpanHasTheFullUrlAndFailsOnFourHundreds) {
  auto span = builder_.build(exchange("POST", "/a?b=1", 404), connection(Role::Client), FlushCause::InStream);
  EXPECT_EQ(span.kind, trace::SpanKind::Client);
  EXPECT_EQ(span.status, trace::StatusCode::Error);
  EXPECT_EQ(attr(span, "error.type"), AttributeValue(std::string("404")));
  EXPECT_EQ(attr(span, "url.full"), AttributeValue(std::string("http://svc:8080/a?b=1")));
  EXPECT_EQ(span.find_attribute("client.address"), nullptr);

  auto default_port = builder_.build(exchange("GET", "/", 200, "example.org"), connection(Role::Client),
                                          FlushCause::InStream);
  EXPECT_EQ(attr(default_port, "url.full"), AttributeValue(std::string("http://example.org:8080/")))
      << "no port in Host: the connection's peer port is the server port";
}

TEST_F(SpanBuilderTest, HostHeadersWithIpv6LiteralsAreSplit) {
  auto span = builder_.build(exchange("GET", "/", 200, "[::1]:9000"), connection(Role::Server), FlushCause::InStream);
  EXPECT_EQ(attr(span, "server.address"), AttributeValue(std::string("::1")));
  EXPECT_EQ(attr(span, "server.port"), AttributeValue(std::int64_t{9000}));
}

TEST_F(SpanBuilderTest, NoResponseIsAnErrorWhenTheConnectionEndedButUnknownWhenWeStoppedWatching) {
  auto closed = builder_.build(exchange("GET", "/x", 0), connection(Role::Client), FlushCause::Closed);
  EXPECT_EQ(closed.status, trace::StatusCode::Error);
  EXPECT_EQ(attr(closed, "error.type"), AttributeValue(std::string("no_response")));
  EXPECT_EQ(closed.end_unix_ns, clock_.to_unix_ns(2'000));

  auto stopped = builder_.build(exchange("GET", "/x", 0), connection(Role::Server), FlushCause::Shutdown);
  EXPECT_EQ(stopped.status, trace::StatusCode::Unset);
  EXPECT_EQ(attr(stopped, "zerotrace.incomplete"), AttributeValue(true));
}

}  // namespace
}  // namespace zt::pipeline

namespace zt::pipeline {
namespace {

protocols::Http2Exchange grpc_exchange(std::optional<int> status, std::string message = "") {
  protocols::Http2Exchange ex;
  ex.stream_id = 5;
  ex.method = "POST";
  ex.path = "/shop.v1.Orders/Get";
  ex.scheme = "http";
  ex.authority = "orders:50051";
  ex.grpc = true;
  ex.grpc_status = status;
  ex.grpc_message = std::move(message);
  ex.request.start_ns = 1'000;
  ex.request.grpc_messages = 1;
  protocols::Http2Message response;
  response.grpc_messages = status == 0 ? 1 : 0;
  response.end_ns = 5'000;
  ex.response = response;
  ex.status_code = 200;
  ex.closed_ns = 5'000;
  return ex;
}

TEST_F(SpanBuilderTest, GrpcSpanIsNamedServiceSlashMethodWithRpcAttributes) {
  const auto span = builder_.build(grpc_exchange(0), connection(Role::Server), FlushCause::InStream);
  EXPECT_EQ(span.name, "shop.v1.Orders/Get");
  EXPECT_EQ(std::get<std::string>(attr(span, "rpc.system")), "grpc");
  EXPECT_EQ(std::get<std::string>(attr(span, "rpc.service")), "shop.v1.Orders");
  EXPECT_EQ(std::get<std::string>(attr(span, "rpc.method")), "Get");
  EXPECT_EQ(std::get<std::int64_t>(attr(span, "rpc.grpc.status_code")), 0);
  EXPECT_EQ(std::get<std::string>(attr(span, "server.address")), "orders");
  EXPECT_EQ(std::get<std::int64_t>(attr(span, "server.port")), 50051);
  EXPECT_EQ(span.status, trace::StatusCode::Unset);
}

// gRPC semantic conventions: every non-OK code is an error for the client; for the server only
// UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS.
TEST_F(SpanBuilderTest, GrpcStatusMapsToSpanStatusPerSide) {
  const std::set<int> server_errors{2, 4, 12, 13, 14, 15};
  for (int code = 0; code <= 16; ++code) {
    const auto server = builder_.build(grpc_exchange(code, "why"), connection(Role::Server), FlushCause::InStream);
    const auto client = builder_.build(grpc_exchange(code, "why"), connection(Role::Client), FlushCause::InStream);
    EXPECT_EQ(server.status == trace::StatusCode::Error, server_errors.count(code) == 1) << code;
    EXPECT_EQ(client.status == trace::StatusCode::Error, code != 0) << code;
    if (code != 0) {
      EXPECT_EQ(client.status_message, "why");
    }
  }
  const auto unknown_message = builder_.build(grpc_exchange(14), connection(Role::Client), FlushCause::InStream);
  EXPECT_EQ(unknown_message.status_message, "UNAVAILABLE");
  EXPECT_EQ(std::get<std::string>(attr(unknown_message, "error.type")), "UNAVAILABLE");
}

TEST_F(SpanBuilderTest, ResetStreamWithoutAnswerIsAnErrorNamingTheCode) {
  auto ex = grpc_exchange(std::nullopt);
  ex.response.reset();
  ex.closure = protocols::Http2Closure::Reset;
  ex.error_code = 8;  // CANCEL
  ex.reset_by = Role::Client;
  const auto span = builder_.build(ex, connection(Role::Server), FlushCause::InStream);
  EXPECT_EQ(span.status, trace::StatusCode::Error);
  EXPECT_EQ(span.status_message, "stream reset: CANCEL");
  EXPECT_EQ(std::get<std::string>(attr(span, "zerotrace.http2.reset_by")), "client");
}

TEST_F(SpanBuilderTest, UnresolvedHeadersAreMarkedNotGuessed) {
  auto ex = grpc_exchange(0);
  ex.path = "*";
  ex.unresolved_headers = 4;
  ex.degraded = true;
  const auto span = builder_.build(ex, connection(Role::Server), FlushCause::InStream);
  EXPECT_EQ(span.name, "*/*");
  EXPECT_EQ(std::get<std::int64_t>(attr(span, "zerotrace.http2.unresolved_headers")), 4);
  EXPECT_EQ(std::get<bool>(attr(span, "zerotrace.degraded")), true);
}

}  // namespace
}  // namespace zt::pipeline
