// Incoming trace context: a SERVER span whose request carries W3C, B3 (single or multi) or
// Jaeger headers joins that trace with the caller's span as its parent.
#include <gtest/gtest.h>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

struct Case {
  std::vector<std::string> headers;  // curl -H arguments
  std::string trace_id;              // as the span must carry it (32 hex)
  std::string parent_span_id;
};

TEST(TraceContext, ServerSpansJoinTheCallersTraceInEveryFormat) {
  ZT_REQUIRE_ROOT();
  ReadyServer server(ReadyServer::python());
  Agent agent = Agent::attach({server.pid()});

  const std::vector<Case> cases = {
      {{"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate: rojo=1"},
       "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"},
      {{"b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"},
       "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1"},
      {{"X-B3-TraceId: a3ce929d0e0e4736", "X-B3-SpanId: 00f067aa0ba902b7", "X-B3-Sampled: 1"},
       "0000000000000000a3ce929d0e0e4736", "00f067aa0ba902b7"},
      {{"uber-trace-id: 5af7183fb1d4cf5f3b6d7e6a8c2f1d0e:8b2a57d3eff7e457:0:1"},
       "5af7183fb1d4cf5f3b6d7e6a8c2f1d0e", "8b2a57d3eff7e457"},
      {{"traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01"}, "", ""},  // invalid: own trace
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::vector<std::string> argv{"curl", "-s", "-o", "/dev/null"};
    for (const auto& h : cases[i].headers) {
      argv.push_back("-H");
      argv.push_back(h);
    }
    argv.push_back(server.url("/users/" + std::to_string(i)));
    ASSERT_EQ(run_to_completion(argv).status, 0);
  }
  ASSERT_TRUE(agent.wait_for_spans(cases.size()));
  const auto spans = agent.stop();
  ASSERT_EQ(spans.size(), cases.size()) << agent.log();

  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Json* span = nullptr;
    for (const auto& s : spans) {
      if (attr(s, "url.path") == "/users/" + std::to_string(i)) span = &s;
    }
    ASSERT_NE(span, nullptr) << i;
    SCOPED_TRACE(span->dump());
    if (cases[i].trace_id.empty()) {
      EXPECT_EQ((*span)["parent_span_id"], "") << "a malformed header is ignored: the span is a root";
      EXPECT_NE((*span)["trace_id"], "00000000000000000000000000000000");
    } else {
      EXPECT_EQ((*span)["trace_id"], cases[i].trace_id);
      EXPECT_EQ((*span)["parent_span_id"], cases[i].parent_span_id);
      EXPECT_NE((*span)["span_id"], cases[i].parent_span_id);
    }
  }
  const auto stats = agent.stats();
  ASSERT_TRUE(stats) << agent.log();
  EXPECT_EQ(stats->get("propagation.from_header"), 4u) << stats->json.dump();
  EXPECT_EQ(stats->get("propagation.malformed_headers"), 1u) << stats->json.dump();
}

}  // namespace
}  // namespace zt::e2e
