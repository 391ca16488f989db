// 1 MiB request and response bodies through a python server, with the kernel told to skip the
// body bytes no parser reads (docs/architecture.md, "Kernel control"), and with that control off:
// the spans must be the same, sizes included.
#include <gtest/gtest.h>

#include <sstream>

#include "e2e/harness.h"
#include "support/privileges.h"

namespace zt::e2e {
namespace {

// A slow uploader on one keep-alive connection: the header block and the first 64 KiB, a pause
// (the agent reads the header block while the body is still coming, so the skip has calls left
// to apply to), then the rest in 64 KiB writes. Prints "STATUS BODY_BYTES" per response.
const char* const kUploader = R"PY(
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
body = bytes(range(256)) * 4096
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
for _ in range(count):
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: upload\r\nContent-Type: application/octet-stream\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body[:65536])
    time.sleep(0.3)
    for off in range(65536, len(body), 65536):
        s.sendall(body[off:off + 65536])
        time.sleep(0.002)
    status = int(f.readline().split()[1])
    length = 0
    while True:
        line = f.readline().strip()
        if not line:
            break
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    echoed = f.read(length)
    print(status, len(echoed) if echoed == body else -1, flush=True)
)PY";

void expect_three_echoed_uploads(const std::vector<std::string>& extra_args, bool kernel_control) {
  ReadyServer server(ReadyServer::python());
  Agent agent = Agent::attach({server.pid()}, extra_args);

  const TimeWindow window_start{unix_now_ns()};
  const auto client = run_to_completion({python3(), "-c", kUploader, std::to_string(server.port()), "3"});
  ASSERT_EQ(client.status, 0) << client.err;
  EXPECT_EQ(client.out, "200 1048576\n200 1048576\n200 1048576\n") << "the server did not echo every body";

  ASSERT_TRUE(agent.wait_for_spans(3)) << "spans so far: " << agent.spans().size();
  const TimeWindow window{window_start.begin_ns, unix_now_ns()};
  const auto spans = sorted_by_start(agent.stop());
  EXPECT_EQ(agent.exit_status(), 0);
  ASSERT_EQ(spans.size(), 3u);
  expect_well_formed(spans, window, {server.pid()});
  for (const auto& s : spans) {
    SCOPED_TRACE(s.dump());
    EXPECT_EQ(s["name"], "POST /echo");
    EXPECT_EQ(attr(s, "http.request.method"), "POST");
    EXPECT_EQ(attr(s, "http.response.status_code"), 200);
    EXPECT_EQ(attr(s, "http.request.body.size"), 1048576);
    EXPECT_EQ(attr(s, "http.response.body.size"), 1048576);
    EXPECT_EQ(attr(s, "zerotrace.incomplete"), nullptr);
  }
  const auto stats = agent.stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->get("pipeline.parse_errors"), 0u) << stats->json.dump();
  // The uploads pause after their first 64 KiB, so the agent has the headers before the rest of
  // each body arrives: with kernel control those reads come without payload.
  if (kernel_control) {
    EXPECT_GT(stats->get("kernel.payload_skipped"), 0u) << stats->json.dump();
  } else {
    EXPECT_EQ(stats->get("kernel.payload_skipped"), 0u) << stats->json.dump();
  }
}

TEST(LargeBodies, OneMiBUploadsAndEchoesGiveExactSpansWithTheKernelSkippingBodies) {
  ZT_REQUIRE_ROOT();
  expect_three_echoed_uploads({}, true);
}

TEST(LargeBodies, TheSameSpansComeWithKernelControlOff) {
  ZT_REQUIRE_ROOT();
  expect_three_echoed_uploads({"--no-kernel-control"}, false);
}

}  // namespace
}  // namespace zt::e2e
