// EventRouter on records built in the test: decoding by kind, subscription order, payload bounds,
// short and unknown records counted instead of read.
#include "pipeline/event_router.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace zt::pipeline {
namespace {

std::vector<std::uint64_t> aligned_buffer(std::size_t bytes) { return std::vector<std::uint64_t>((bytes + 7) / 8); }

TEST(EventRouter, RoutesEachKindToItsSubscribersInOrder) {
  EventRouter router;
  std::vector<std::string> calls;
  router.on<zt_proc_event>(ZT_EV_PROC_EXIT, [&](const zt_proc_event& ev) { calls.push_back("a" + std::to_string(ev.hdr.pid)); });
  router.on<zt_proc_event>(ZT_EV_PROC_EXIT, [&](const zt_proc_event& ev) { calls.push_back("b" + std::to_string(ev.exit_code)); });
  router.on<zt_proc_event>(ZT_EV_PROC_FORK, [&](const zt_proc_event&) { calls.push_back("fork"); });

  zt_proc_event exit{};
  exit.hdr.kind = ZT_EV_PROC_EXIT;
  exit.hdr.pid = 42;
  exit.exit_code = 3;
  router.route(&exit, sizeof exit);

  EXPECT_EQ(calls, (std::vector<std::string>{"a42", "b3"}));
  StatsSnapshot s;
  router.report(s);
  EXPECT_EQ(s.get("pipeline.records"), 1u);
  EXPECT_EQ(s.get("pipeline.malformed_records"), 0u);
}

TEST(EventRouter, DataEventsCarryTheirPayloadAndAreBoundedByTheRecord) {
  EventRouter router;
  std::vector<std::string> payloads;
  router.on_data([&](const zt_data_event& ev, std::string_view payload) {
    EXPECT_EQ(ev.conn_id, 7u);
    payloads.emplace_back(payload);
  });
  const std::string body = "GET / HTTP/1.1\r\n";
  auto buffer = aligned_buffer(sizeof(zt_data_event) + body.size());
  auto* ev = reinterpret_cast<zt_data_event*>(buffer.data());
  ev->hdr.kind = ZT_EV_DATA;
  ev->conn_id = 7;
  ev->captured = static_cast<std::uint32_t>(body.size());
  std::memcpy(reinterpret_cast<char*>(buffer.data()) + sizeof(zt_data_event), body.data(), body.size());

  router.route(buffer.data(), sizeof(zt_data_event) + body.size());
  // The same record claiming more payload than it holds: counted, not read.
  ev->captured = 4096;
  router.route(buffer.data(), sizeof(zt_data_event) + body.size());

  EXPECT_EQ(payloads, std::vector<std::string>{body});
  StatsSnapshot s;
  router.report(s);
  EXPECT_EQ(s.get("pipeline.data_records"), 1u);
  EXPECT_EQ(s.get("pipeline.malformed_records"), 1u);
}

TEST(EventRouter, ShortUnknownAndUnsubscribedRecordsAreCounted) {
  EventRouter router;
  int called = 0;
  router.on<zt_conn_event>(ZT_EV_CONN_OPEN, [&](const zt_conn_event&) { ++called; });

  zt_event_header short_open{};
  short_open.kind = ZT_EV_CONN_OPEN;
  router.route(&short_open, sizeof short_open);  // a header alone: too short for a conn event
  const char crumbs[3] = {1, 2, 3};
  router.route(crumbs, sizeof crumbs);  // not even a header
  zt_event_header strange{};
  strange.kind = 1000;
  router.route(&strange, sizeof strange);
  zt_event_header nobody{};
  nobody.kind = ZT_EV_THREAD_NEW;
  router.route(&nobody, sizeof nobody);

  EXPECT_EQ(called, 0);
  StatsSnapshot s;
  router.report(s);
  EXPECT_EQ(s.get("pipeline.records"), 4u);
  EXPECT_EQ(s.get("pipeline.malformed_records"), 2u);
  EXPECT_EQ(s.get("pipeline.unhandled_records"), 2u);
}

}  // namespace
}  // namespace zt::pipeline
