// Zipkin v2 JSON encoding, checked by parsing it with an independent JSON library.
#include "exporters/zipkin_exporter.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

namespace zt::exporters {
namespace {

using nlohmann::json;

std::shared_ptr<const trace::Resource> process(const std::string& service) {
  auto resource = std::make_shared<trace::Resource>();
  resource->pid = 4242;
  resource->service_name = service;
  resource->attributes = {{"service.name", service}, {"process.pid", std::int64_t{4242}}};
  return resource;
}

// A SERVER span as the HTTP span builder makes it (docs/span-schema.md).
trace::Span server_span() {
  trace::Span span;
  for (std::uint8_t i = 0; i < 16; ++i) span.trace_id[i] = static_cast<std::uint8_t>(0x10 + i);
  for (std::uint8_t i = 0; i < 8; ++i) span.span_id[i] = static_cast<std::uint8_t>(0xa0 + i);
  for (std::uint8_t i = 0; i < 8; ++i) span.parent_span_id[i] = static_cast<std::uint8_t>(0xb0 + i);
  span.name = "GET /Users/{id}";
  span.kind = trace::SpanKind::Server;
  span.start_unix_ns = 1'714'564'800'123'456'789ull;
  span.end_unix_ns = span.start_unix_ns + 12'345'678;
  span.attributes = {{"http.request.method", std::string("GET")},
                     {"url.path", std::string("/Users/42")},
                     {"network.peer.address", std::string("10.0.0.7")},
                     {"network.peer.port", std::int64_t{51234}},
                     {"client.address", std::string("10.0.0.7")},
                     {"client.port", std::int64_t{51234}},
                     {"server.address", std::string("10.0.0.2")},
                     {"server.port", std::int64_t{8080}},
                     {"http.response.status_code", std::int64_t{200}}};
  span.resource = process("checkout");
  return span;
}

trace::Span client_span() {
  trace::Span span = server_span();
  span.kind = trace::SpanKind::Client;
  span.parent_span_id = {};
  span.attributes = {{"http.request.method", std::string("POST")},
                     {"url.full", std::string("http://payments:8081/charge")},
                     {"network.peer.address", std::string("10.0.0.9")},
                     {"network.peer.port", std::int64_t{8081}},
                     {"server.address", std::string("payments")},
                     {"server.port", std::int64_t{8081}}};
  return span;
}

json encode_one(const trace::Span& span) {
  const json spans = json::parse(encode_zipkin_v2({span}));
  EXPECT_TRUE(spans.is_array());
  EXPECT_EQ(spans.size(), 1u);
  return spans.at(0);
}

TEST(ZipkinV2, EncodesAServerSpan) {
  const json j = encode_one(server_span());
  EXPECT_EQ(j["traceId"], "101112131415161718191a1b1c1d1e1f");
  EXPECT_EQ(j["id"], "a0a1a2a3a4a5a6a7");
  EXPECT_EQ(j["parentId"], "b0b1b2b3b4b5b6b7");
  EXPECT_EQ(j["name"], "GET /Users/{id}") << "the name is kept as it is";
  EXPECT_EQ(j["kind"], "SERVER");
  EXPECT_EQ(j["timestamp"].get<std::uint64_t>(), 1'714'564'800'123'456ull);
  EXPECT_EQ(j["duration"].get<std::uint64_t>(), 12'346u);  // 800'135'802 us - 800'123'456 us
  EXPECT_EQ(j["localEndpoint"], json({{"serviceName", "checkout"}, {"ipv4", "10.0.0.2"}, {"port", 8080}}));
  EXPECT_EQ(j["remoteEndpoint"], json({{"ipv4", "10.0.0.7"}, {"port", 51234}}));
  EXPECT_EQ(j["tags"]["http.request.method"], "GET");
  EXPECT_EQ(j["tags"]["http.response.status_code"], "200");
  EXPECT_EQ(j["tags"]["server.port"], "8080");
  EXPECT_EQ(j["tags"]["otel.scope.name"], "zerotrace");
  EXPECT_FALSE(j["tags"].contains("otel.status_code")) << "UNSET is not reported";
  EXPECT_FALSE(j["tags"].contains("error"));
  EXPECT_EQ(j["tags"].size(), server_span().attributes.size() + 1);
  for (const auto& [key, value] : j["tags"].items()) EXPECT_TRUE(value.is_string()) << key;
}

TEST(ZipkinV2, KeepsZipkinsFieldOrder) {
  const std::string text = encode_zipkin_v2({server_span()});
  std::size_t previous = 0;
  for (const char* field : {"\"traceId\"", "\"parentId\"", "\"id\"", "\"kind\"", "\"name\"", "\"timestamp\"",
                            "\"duration\"", "\"localEndpoint\"", "\"remoteEndpoint\"", "\"tags\""}) {
    const std::size_t at = text.find(field);
    ASSERT_NE(at, std::string::npos) << field;
    EXPECT_GT(at, previous) << field;
    previous = at;
  }
}

TEST(ZipkinV2, EncodesAClientSpanWithItsRemoteService) {
  const json j = encode_one(client_span());
  EXPECT_EQ(j["kind"], "CLIENT");
  EXPECT_FALSE(j.contains("parentId")) << "a root span has no parentId";
  EXPECT_EQ(j["localEndpoint"], json({{"serviceName", "checkout"}}));
  EXPECT_EQ(j["remoteEndpoint"], json({{"serviceName", "payments"}, {"ipv4", "10.0.0.9"}, {"port", 8081}}));
}

TEST(ZipkinV2, RemoteEndpointPrefersPeerServiceAndTakesIpv6) {
  trace::Span span = client_span();
  span.attributes = {{"server.address", std::string("2001:db8::1")},
                     {"server.port", std::int64_t{443}},
                     {"peer.service", std::string("payments-api")}};
  EXPECT_EQ(encode_one(span)["remoteEndpoint"],
            json({{"serviceName", "payments-api"}, {"ipv6", "2001:db8::1"}, {"port", 443}}));

  span.attributes = {{"server.address", std::string("api.example.com")},
                     {"network.peer.address", std::string("::ffff:zz")},  // not an address: left out
                     {"network.peer.port", std::int64_t{8443}}};
  EXPECT_EQ(encode_one(span)["remoteEndpoint"], json({{"serviceName", "api.example.com"}, {"port", 8443}}));
}

TEST(ZipkinV2, ServerOnAHostNameHasNoLocalIpAndBadPortsAreLeftOut) {
  trace::Span span = server_span();
  span.attributes = {{"server.address", std::string("localhost")},
                     {"server.port", std::int64_t{70000}},
                     {"client.address", std::string("::1")},
                     {"client.port", std::int64_t{0}}};
  const json j = encode_one(span);
  EXPECT_EQ(j["localEndpoint"], json({{"serviceName", "checkout"}}));
  EXPECT_EQ(j["remoteEndpoint"], json({{"ipv6", "::1"}}));
}

TEST(ZipkinV2, InternalSpansHaveNoKindAndNoRemoteEndpoint) {
  trace::Span span = server_span();
  span.kind = trace::SpanKind::Internal;
  const json j = encode_one(span);
  EXPECT_FALSE(j.contains("kind"));
  EXPECT_FALSE(j.contains("remoteEndpoint"));
  EXPECT_EQ(j["localEndpoint"], json({{"serviceName", "checkout"}}));
}

TEST(ZipkinV2, ProducerAndConsumerKinds) {
  trace::Span span = client_span();
  span.kind = trace::SpanKind::Producer;
  EXPECT_EQ(encode_one(span)["kind"], "PRODUCER");
  span.kind = trace::SpanKind::Consumer;
  const json j = encode_one(span);
  EXPECT_EQ(j["kind"], "CONSUMER");
  EXPECT_EQ(j["remoteEndpoint"], json({{"ipv4", "10.0.0.9"}, {"port", 8081}})) << "the broker, as connected to";
}

TEST(ZipkinV2, TimesAreWholeMicrosecondsAndDurationAtLeastOne) {
  trace::Span span = server_span();
  span.start_unix_ns = 5'999;  // 5.999 us
  span.end_unix_ns = 6'001;    // 6.001 us: 2 ns later, but across a microsecond boundary
  json j = encode_one(span);
  EXPECT_EQ(j["timestamp"], 5);
  EXPECT_EQ(j["duration"], 1);
  EXPECT_TRUE(j["timestamp"].is_number_integer());

  span.start_unix_ns = 7'000'100;
  span.end_unix_ns = 7'000'900;  // sub-microsecond span
  j = encode_one(span);
  EXPECT_EQ(j["timestamp"], 7000);
  EXPECT_EQ(j["duration"], 1);

  span.end_unix_ns = 1'000;  // ended before it began: clock skew
  EXPECT_EQ(encode_one(span)["duration"], 1);

  span.start_unix_ns = 1'000'000'000;
  span.end_unix_ns = 3'500'000'999;
  j = encode_one(span);
  EXPECT_EQ(j["timestamp"], 1'000'000);
  EXPECT_EQ(j["duration"], 2'500'000);
}

TEST(ZipkinV2, TagsAreStrings) {
  trace::Span span = server_span();
  span.attributes = {{"i", std::int64_t{-42}},
                     {"big", std::int64_t{9007199254740993}},
                     {"d", 0.1},
                     {"whole", 2.0},
                     {"tiny", 1e-7},
                     {"nan", std::numeric_limits<double>::quiet_NaN()},
                     {"inf", std::numeric_limits<double>::infinity()},
                     {"-inf", -std::numeric_limits<double>::infinity()},
                     {"yes", true},
                     {"no", false},
                     {"s", std::string("text")}};
  const json tags = encode_one(span)["tags"];
  EXPECT_EQ(tags["i"], "-42");
  EXPECT_EQ(tags["big"], "9007199254740993");
  EXPECT_EQ(tags["d"], "0.1");
  EXPECT_EQ(tags["whole"], "2");
  EXPECT_EQ(tags["tiny"], "1e-07");
  EXPECT_EQ(tags["nan"], "NaN");
  EXPECT_EQ(tags["inf"], "Infinity");
  EXPECT_EQ(tags["-inf"], "-Infinity");
  EXPECT_EQ(tags["yes"], "true");
  EXPECT_EQ(tags["no"], "false");
  EXPECT_EQ(tags["s"], "text");
}

TEST(ZipkinV2, StatusBecomesTheOpenTelemetryTags) {
  trace::Span span = server_span();
  span.status = trace::StatusCode::Ok;
  json tags = encode_one(span)["tags"];
  EXPECT_EQ(tags["otel.status_code"], "OK");
  EXPECT_FALSE(tags.contains("error"));

  span.status = trace::StatusCode::Error;
  span.status_message = "connection closed before a response";
  tags = encode_one(span)["tags"];
  EXPECT_EQ(tags["otel.status_code"], "ERROR");
  EXPECT_EQ(tags["error"], "connection closed before a response");

  span.status_message.clear();  // a 5xx: error with no description
  tags = encode_one(span)["tags"];
  EXPECT_EQ(tags["error"], "") << "the mapping asks for an empty string";
}

TEST(ZipkinV2, OnlyTheStatusDecidesTheErrorTag) {
  trace::Span span = server_span();
  span.attributes = {{"error", false}, {"otel.status_code", std::string("made up")}, {"k", std::string("1")},
                     {"k", std::string("2")}};
  json tags = encode_one(span)["tags"];
  EXPECT_FALSE(tags.contains("error")) << "Zipkin fails any span that has the tag";
  EXPECT_EQ(tags["k"], "2") << "last value wins";
  EXPECT_EQ(tags["otel.status_code"], "made up");

  span.status = trace::StatusCode::Error;
  span.status_message = "boom";
  tags = encode_one(span)["tags"];
  EXPECT_EQ(tags["error"], "boom");
  EXPECT_EQ(tags["otel.status_code"], "ERROR");
  const std::string text = encode_zipkin_v2({span});
  EXPECT_EQ(text.find("\"error\":", text.find("\"error\":") + 1), std::string::npos) << "one error key: " << text;
}

TEST(ZipkinV2, HostileTextIsEscapedAndInvalidUtf8Replaced) {
  trace::Span span = server_span();
  span.name = "GET /\"x\"\\\n\r\t\x01\x1b[2J\x7f \xff\xc0\xaf caf\xc3\xa9";
  span.status = trace::StatusCode::Error;
  span.status_message = std::string("nul\0byte \xed\xa0\x80", 12);
  span.attributes = {{"user_agent.original", std::string("\"}],\"evil\":{\"")},
                     {"key\xfe", std::string("v")},
                     {"key\xff", std::string("w")}};
  span.resource = process("svc\n\xe2\x82");

  const std::string text = encode_zipkin_v2({span});
  for (const char c : text) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << "no raw control characters";
  const json j = json::parse(text).at(0);  // throws, failing the test, on invalid JSON or UTF-8
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(j["name"], "GET /\"x\"\\\n\r\t\x01\x1b[2J\x7f " + fffd + fffd + fffd + " caf\xc3\xa9");
  EXPECT_EQ(j["tags"]["error"], std::string("nul\0byte ", 9) + fffd + fffd + fffd);
  EXPECT_EQ(j["tags"]["user_agent.original"], "\"}],\"evil\":{\"");
  EXPECT_EQ(j["tags"]["key" + fffd], "w") << "keys that sanitise alike are one tag";
  EXPECT_EQ(j["localEndpoint"]["serviceName"], "svc\n" + fffd + fffd);
  EXPECT_FALSE(j.contains("evil"));
}

TEST(ZipkinV2, ServiceNameFallsBackToUnknownService) {
  trace::Span span = server_span();
  span.resource = nullptr;
  EXPECT_EQ(encode_one(span)["localEndpoint"]["serviceName"], "unknown_service");

  auto only_attribute = std::make_shared<trace::Resource>();
  only_attribute->attributes = {{"service.name", std::string("from-attribute")}};
  span.resource = only_attribute;
  EXPECT_EQ(encode_one(span)["localEndpoint"]["serviceName"], "from-attribute");
}

TEST(ZipkinV2, EncodesABatchAsOneArrayInOrder) {
  EXPECT_EQ(encode_zipkin_v2({}), "[]");
  trace::Span second = client_span();
  second.span_id[7] = 0x01;
  const json spans = json::parse(encode_zipkin_v2({server_span(), second, server_span()}));
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0]["kind"], "SERVER");
  EXPECT_EQ(spans[1]["id"], "a0a1a2a3a4a5a601");
  EXPECT_EQ(spans[2]["kind"], "SERVER");
}

TEST(ZipkinV2, LinksAreLeftOutWithoutAnError) {
  // Zipkin v2 has no links: a span that has some encodes exactly as the same span without them.
  trace::Span linked = server_span();
  trace::Link link;
  link.trace_id[0] = 0x7a;
  link.span_id[7] = 0x01;
  link.trace_state = "congo=t61rcWkgMzE";
  link.attributes = {{"zerotrace.link.source", std::string("kafka")}};
  linked.links = {link, link};
  linked.dropped_links = 3;
  const std::string encoded = encode_zipkin_v2({linked});
  EXPECT_EQ(encoded, encode_zipkin_v2({server_span()}));
  EXPECT_EQ(encoded.find("link"), std::string::npos);
  EXPECT_EQ(encoded.find("kafka"), std::string::npos);
}

}  // namespace
}  // namespace zt::exporters
