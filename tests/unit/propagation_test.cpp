// The propagation model on request sequences built in the test: header precedence, same-node
// pairing by 4-tuple and order (also when the server side is seen first), calls made while a
// thread serves a request, connect-time parents, inheritance by new threads and its end, bounds.
#include "context/propagation.h"

#include <gtest/gtest.h>

#include "trace/ids.h"

namespace zt::context {
namespace {

using protocols::HttpMessage;
using protocols::RequestIdentity;
using protocols::Role;

const SocketAddress kClient{"127.0.0.1", 40000};
const SocketAddress kServer{"127.0.0.1", 8080};

// An HTTP request as propagation sees it (the view lives as long as the temporary holding it).
struct TestRequest {
  HttpMessage message;
  operator protocols::RequestView() const { return protocols::request_view(message); }  // NOLINT
};

TestRequest request(std::uint32_t tid, std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpMessage m;
  m.is_request = true;
  m.method = "GET";
  m.target = "/";
  m.tid = tid;
  m.headers = std::move(headers);
  return {std::move(m)};
}

struct Fixture {
  Propagator p;
  std::uint64_t now = 1'000'000'000;

  RequestIdentity serve(std::uint32_t pid, std::uint32_t tid, std::uint64_t conn, SocketAddress local,
                        SocketAddress remote, std::vector<std::pair<std::string, std::string>> headers = {}) {
    RequestIdentity id;
    p.on_request(RequestSite{pid, tid, conn, Role::Server, local, remote, now += 1000}, request(tid, headers), id);
    return id;
  }
  RequestIdentity call(std::uint32_t pid, std::uint32_t tid, std::uint64_t conn, SocketAddress local,
                       SocketAddress remote, std::vector<std::pair<std::string, std::string>> headers = {}) {
    RequestIdentity id;
    p.on_request(RequestSite{pid, tid, conn, Role::Client, local, remote, now += 1000}, request(tid, headers), id);
    return id;
  }
};

constexpr trace::SpanId kNone{};

TEST(Propagation, ServerWithoutContextStartsATrace) {
  Fixture f;
  const auto s = f.serve(1, 10, 100, kServer, {"10.9.9.9", 5555});
  EXPECT_TRUE(s.assigned);
  EXPECT_EQ(s.parent_span_id, kNone);
  EXPECT_NE(s.trace_id, trace::TraceId{});
  EXPECT_NE(s.span_id, kNone);
  EXPECT_EQ(f.p.stats().roots, 1u);
}

TEST(Propagation, CallWhileServingIsAChildAndStopsWhenTheResponseIsWritten) {
  Fixture f;
  const auto s = f.serve(1, 10, 100, kServer, {"10.9.9.9", 5555});
  const auto c = f.call(1, 10, 101, {"10.0.0.1", 41000}, {"10.9.9.8", 80});
  EXPECT_EQ(c.trace_id, s.trace_id);
  EXPECT_EQ(c.parent_span_id, s.span_id);
  EXPECT_FALSE(c.parent_is_remote);
  // Another thread of the same process is not serving anything.
  EXPECT_EQ(f.call(1, 11, 102, {"10.0.0.1", 41001}, {"10.9.9.8", 80}).parent_span_id, kNone);
  f.p.on_server_done(10, s.span_id);
  EXPECT_EQ(f.call(1, 10, 101, {"10.0.0.1", 41000}, {"10.9.9.8", 80}).parent_span_id, kNone);
  EXPECT_EQ(f.p.stats().from_thread, 1u);
}

TEST(Propagation, FirstRequestOnANewConnectionUsesTheRequestServedAtConnect) {
  Fixture f;
  const auto a = f.serve(1, 10, 100, kServer, {"10.9.9.9", 5555});
  f.p.on_connect(10, 200, f.now);
  // The event loop reads request B before the connection made for A is writable.
  const auto b = f.serve(1, 10, 101, kServer, {"10.9.9.9", 5556});
  const auto first = f.call(1, 10, 200, {"10.0.0.1", 41000}, {"10.9.9.8", 80});
  EXPECT_EQ(first.parent_span_id, a.span_id);
  const auto second = f.call(1, 10, 200, {"10.0.0.1", 41000}, {"10.9.9.8", 80});
  EXPECT_EQ(second.parent_span_id, b.span_id);  // later requests: the thread's current request
  EXPECT_EQ(f.p.stats().from_connect, 1u);
}

TEST(Propagation, NewThreadsAndProcessesInheritUntilTheRequestEnds) {
  Fixture f;
  const auto s = f.serve(1, 10, 100, kServer, {"10.9.9.9", 5555});
  f.p.on_thread_created(10, 12, 1, f.now);  // thread per call
  f.p.on_thread_created(10, 2000, 2000, f.now);  // a forked child
  EXPECT_EQ(f.call(1, 12, 300, {"10.0.0.1", 41000}, {"10.9.9.8", 80}).parent_span_id, s.span_id);
  EXPECT_EQ(f.call(2000, 2000, 301, {"10.0.0.1", 41001}, {"10.9.9.8", 80}).parent_span_id, s.span_id);
  EXPECT_EQ(f.p.stats().from_inherited, 2u);
  f.p.on_server_done(10, s.span_id);
  // A long-lived thread created during the request (a lazily started pool) serves it no more.
  EXPECT_EQ(f.call(1, 12, 300, {"10.0.0.1", 41000}, {"10.9.9.8", 80}).parent_span_id, kNone);
}

TEST(Propagation, ThreadCreatedOutsideARequestInheritsNothingEvenWithAReusedTid) {
  Fixture f;
  const auto s = f.serve(1, 12, 100, kServer, {"10.9.9.9", 5555});
  (void)s;
  f.p.on_thread_created(10, 12, 1, f.now);  // tid 12 reused for a new thread of an idle creator
  EXPECT_EQ(f.call(1, 12, 300, {"10.0.0.1", 41000}, {"10.9.9.8", 80}).parent_span_id, kNone);
}

TEST(Propagation, SameNodeServerIsTheChildOfItsClientInOrder) {
  Fixture f;
  const auto s1 = f.serve(1, 10, 100, kServer, {"10.9.9.9", 5555});
  // Two pipelined requests on one connection, then the server reads them.
  const auto c1 = f.call(1, 10, 200, kClient, kServer);
  const auto c2 = f.call(1, 10, 200, kClient, kServer);
  const auto s2a = f.serve(2, 20, 300, kServer, kClient);
  const auto s2b = f.serve(2, 20, 300, kServer, kClient);
  EXPECT_EQ(s2a.parent_span_id, c1.span_id);
  EXPECT_EQ(s2b.parent_span_id, c2.span_id);
  EXPECT_EQ(s2a.trace_id, s1.trace_id);
  EXPECT_TRUE(s2a.parent_is_remote);
  EXPECT_EQ(f.p.stats().from_peer, 2u);
  // A different client port is another connection: no match.
  EXPECT_EQ(f.serve(2, 20, 301, kServer, {"127.0.0.1", 40001}).parent_span_id, kNone);
}

TEST(Propagation, ServerSeenBeforeItsClientIsCorrectedAfterwards) {
  Fixture f;
  const auto s1 = f.serve(1, 10, 100, kServer, {"10.9.9.9", 5555});
  const auto s2 = f.serve(2, 20, 300, kServer, kClient);  // the client's write event comes later
  EXPECT_EQ(s2.parent_span_id, kNone);
  const auto c3 = f.call(2, 20, 301, {"127.0.0.1", 40100}, {"127.0.0.1", 9090});  // S2's own call
  EXPECT_EQ(c3.trace_id, s2.trace_id);
  const auto c1 = f.call(1, 10, 200, kClient, kServer);
  EXPECT_EQ(f.p.stats().from_peer_late, 1u);

  trace::Span server;
  server.trace_id = s2.trace_id;
  server.span_id = s2.span_id;
  EXPECT_TRUE(f.p.finalize(server));
  EXPECT_EQ(server.parent_span_id, c1.span_id);
  EXPECT_EQ(server.trace_id, s1.trace_id);
  // Spans that took the provisional trace id follow it.
  trace::Span grandchild;
  grandchild.trace_id = c3.trace_id;
  grandchild.span_id = c3.span_id;
  grandchild.parent_span_id = c3.parent_span_id;
  EXPECT_TRUE(f.p.finalize(grandchild));
  EXPECT_EQ(grandchild.trace_id, s1.trace_id);
  EXPECT_EQ(grandchild.parent_span_id, s2.span_id);
  // So do links to them (a consumer's fetch linked to a send S2 made).
  trace::Span fetch;
  fetch.trace_id = trace::new_trace_id();
  fetch.span_id = trace::new_span_id();
  fetch.links.push_back(trace::Link{c3.trace_id, c3.span_id, trace::kTraceFlagSampled, {}, true, {}});
  EXPECT_TRUE(f.p.finalize(fetch));
  EXPECT_EQ(fetch.links[0].trace_id, s1.trace_id);
  EXPECT_EQ(fetch.links[0].span_id, c3.span_id);
}

TEST(Propagation, HeaderWinsOverPairingAndKeepsTheQueueInStep) {
  Fixture f;
  const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
  // An SDK-instrumented caller: its request carries its own client span's context.
  const auto c1 = f.call(1, 10, 200, kClient, kServer, {{"traceparent", tp}});
  EXPECT_EQ(trace::to_hex(c1.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(trace::to_hex(c1.parent_span_id), "00f067aa0ba902b7");
  EXPECT_EQ(c1.trace_flags, 0);  // not sampled: kept
  const auto s = f.serve(2, 20, 300, kServer, kClient, {{"traceparent", tp}});
  EXPECT_EQ(trace::to_hex(s.parent_span_id), "00f067aa0ba902b7");  // the SDK's span, not ours
  // The next request on the connection, without a header, pairs with its own client request.
  const auto c2 = f.call(1, 10, 200, kClient, kServer);
  EXPECT_EQ(f.serve(2, 20, 300, kServer, kClient).parent_span_id, c2.span_id);
}

TEST(Propagation, RemotePeersAreNotHeldForPairing) {
  Fixture f;
  f.call(1, 10, 200, {"10.0.0.1", 40000}, {"93.184.216.34", 80});
  f.serve(2, 20, 300, kServer, {"93.184.216.34", 5000});
  // Nothing waits: a later local pairing on these ports would otherwise be confused.
  f.p.expire(f.now + 60'000'000'000ull);
  EXPECT_EQ(f.p.stats().evicted, 0u);
}

TEST(Propagation, LocalAddressesOfTheNodeArePaired) {
  Propagator p({}, {"10.0.0.5"});
  RequestIdentity c, s;
  p.on_request({1, 10, 200, Role::Client, {"10.0.0.5", 40000}, {"10.0.0.5", 8080}, 1}, request(10), c);
  p.on_request({2, 20, 300, Role::Server, {"10.0.0.5", 8080}, {"10.0.0.5", 40000}, 2}, request(20), s);
  EXPECT_EQ(s.parent_span_id, c.span_id);
}

TEST(Propagation, TablesAreBounded) {
  PropagationOptions o;
  o.max_threads = 64;
  o.max_peer_requests = 64;
  Propagator p(o);
  for (std::uint32_t i = 0; i < 10000; ++i) {
    RequestIdentity s, c;
    p.on_request({1, i, i, Role::Server, {"10.0.0.1", 80}, {"10.0.0.2", static_cast<std::uint16_t>(i)}, i}, request(i), s);
    p.on_request({1, i, i, Role::Client, {"127.0.0.1", static_cast<std::uint16_t>(i)}, {"127.0.0.1", 9}, i},
                 request(i), c);
  }
  EXPECT_GT(p.stats().evicted, 0u);
  // Still works after evicting.
  RequestIdentity s, c;
  p.on_request({1, 5, 1, Role::Server, {"10.0.0.1", 80}, {"10.0.0.2", 1}, 20000}, request(5), s);
  p.on_request({1, 5, 2, Role::Client, {"10.0.0.1", 3}, {"10.0.0.9", 80}, 20001}, request(5), c);
  EXPECT_EQ(c.parent_span_id, s.span_id);
}

}  // namespace
}  // namespace zt::context

namespace zt::context {
namespace {

TEST(Propagation, ServerWithAHeaderSeenBeforeItsClientKeepsTheQueueInStep) {
  Fixture f;
  const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const auto s1 = f.serve(2, 20, 300, kServer, kClient, {{"traceparent", tp}});  // read first
  f.call(1, 10, 200, kClient, kServer, {{"traceparent", tp}});                   // its write, seen later
  EXPECT_EQ(trace::to_hex(s1.parent_span_id), "00f067aa0ba902b7");
  // The next request on the connection, without a header, pairs with its own client request.
  const auto c2 = f.call(1, 10, 200, kClient, kServer);
  EXPECT_EQ(f.serve(2, 20, 300, kServer, kClient).parent_span_id, c2.span_id);
  EXPECT_EQ(f.p.stats().from_peer_late, 0u);
}

TEST(Propagation, AClosedConnectionLeavesNothingForAReusedFourTuple) {
  Fixture f;
  f.call(1, 10, 200, kClient, kServer);  // its server is not traced: nobody takes it
  f.p.on_connection_closed(200);
  // A new connection from the same ephemeral port, to a traced server.
  const auto c = f.call(1, 10, 201, kClient, kServer);
  EXPECT_EQ(f.serve(2, 20, 300, kServer, kClient).parent_span_id, c.span_id);
  // And a server read whose client is not traced, then closed: not paired with a later client.
  const auto s = f.serve(2, 20, 301, kServer, {"127.0.0.1", 40009});
  f.p.on_connection_closed(301);
  f.call(1, 10, 202, {"127.0.0.1", 40009}, kServer);
  trace::Span span;
  span.trace_id = s.trace_id;
  span.span_id = s.span_id;
  EXPECT_FALSE(f.p.finalize(span));
}

TEST(Propagation, ConnectionOpenedByAnInheritingThreadCountsAsInherited) {
  Fixture f;
  const auto s = f.serve(1, 10, 100, kServer, {"10.9.9.9", 5555});
  f.p.on_thread_created(10, 12, 1, f.now);
  f.p.on_connect(12, 400, f.now);
  EXPECT_EQ(f.call(1, 12, 400, {"10.0.0.1", 41000}, {"10.9.9.8", 80}).parent_span_id, s.span_id);
  EXPECT_EQ(f.p.stats().from_inherited, 1u);
  EXPECT_EQ(f.p.stats().from_connect, 0u);
}

}  // namespace
}  // namespace zt::context

namespace zt::context {
namespace {

// A consumer's fetch as propagation sees it: the one message's creation context in `headers`.
RequestIdentity fetch(Fixture& f, std::uint32_t pid, std::uint32_t tid, std::uint64_t conn,
                      protocols::RequestView::Scope scope,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
  protocols::RequestView view{"kafka", "fetch", "orders", headers, f.now, tid};
  view.headers_from_elsewhere = true;
  view.scope = scope;
  RequestIdentity id;
  f.p.on_request(RequestSite{pid, tid, conn, Role::Client, {"127.0.0.1", 41000}, {"127.0.0.1", 9092}, f.now += 1000},
                 view, id);
  return id;
}

using Scope = protocols::RequestView::Scope;

TEST(PropagationScopes, WorkAfterAFetchIsItsChildUntilTheNextFetch) {
  Fixture f;
  const auto fetched = fetch(f, 1, 10, 200, Scope::Opens);
  ASSERT_TRUE(fetched.assigned);
  const auto work = f.call(1, 10, 201, {"10.0.0.1", 41000}, {"10.9.9.8", 80});
  EXPECT_EQ(work.trace_id, fetched.trace_id);
  EXPECT_EQ(work.parent_span_id, fetched.span_id);
  EXPECT_EQ(f.p.stats().from_scope, 1u);
  // Another thread of the consumer did not fetch: nothing of it.
  EXPECT_EQ(f.call(1, 11, 202, {"10.0.0.1", 41001}, {"10.9.9.8", 80}).parent_span_id, kNone);
  // An empty fetch ends the scope without a span.
  RequestIdentity none = fetch(f, 1, 10, 200, Scope::Closes);
  EXPECT_FALSE(none.assigned);
  EXPECT_EQ(f.call(1, 10, 201, {"10.0.0.1", 41000}, {"10.9.9.8", 80}).parent_span_id, kNone);
}

TEST(PropagationScopes, AFetchCarryingACreationContextJoinsItsTraceAsARemoteChild) {
  Fixture f;
  const std::string producer_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const auto fetched =
      fetch(f, 1, 10, 200, Scope::Opens, {{"traceparent", "00-" + producer_trace + "-00f067aa0ba902b7-01"}});
  EXPECT_EQ(trace::to_hex(fetched.trace_id), producer_trace);
  EXPECT_EQ(trace::to_hex(fetched.parent_span_id), "00f067aa0ba902b7");
  EXPECT_TRUE(fetched.parent_is_remote);
  // What the consumer does next joins the producer's trace, under the fetch.
  const auto work = f.call(1, 10, 201, {"10.0.0.1", 41000}, {"10.9.9.8", 80});
  EXPECT_EQ(trace::to_hex(work.trace_id), producer_trace);
  EXPECT_EQ(work.parent_span_id, fetched.span_id);
}

TEST(PropagationScopes, AFetchMadeWhileServingARequestLeavesTheRequestAsParent) {
  Fixture f;
  const auto s = f.serve(1, 10, 100, kServer, {"10.9.9.9", 5555});
  const auto fetched = fetch(f, 1, 10, 200, Scope::Opens);
  EXPECT_EQ(fetched.parent_span_id, s.span_id);  // the fetch is work of the request
  const auto work = f.call(1, 10, 201, {"10.0.0.1", 41000}, {"10.9.9.8", 80});
  EXPECT_EQ(work.parent_span_id, s.span_id);
  EXPECT_EQ(f.p.stats().scopes_opened, 0u);
}

}  // namespace
}  // namespace zt::context

namespace zt::context {
namespace {

TEST(PropagationScopes, AFetchIsNeverTheChildOfTheFetchBeforeIt) {
  // librdkafka's broker thread fetches again and again: each fetch starts from nothing.
  Fixture f;
  const auto first = fetch(f, 1, 10, 200, protocols::RequestView::Scope::Opens);
  const auto second = fetch(f, 1, 10, 200, protocols::RequestView::Scope::Opens);
  EXPECT_EQ(second.parent_span_id, kNone);
  EXPECT_NE(second.trace_id, first.trace_id);
  // ... and the work after the second is its child, not the first's.
  EXPECT_EQ(f.call(1, 10, 201, {"10.0.0.1", 41000}, {"10.9.9.8", 80}).parent_span_id, second.span_id);
}

}  // namespace
}  // namespace zt::context
