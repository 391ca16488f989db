// TlsBinder: plaintext of TLS calls with no socket tied to a socket by record lengths. Sockets are
// real TlsStreamParsers fed application data records (midstream: no handshake, so the binder
// tries the usual overheads; TLS 1.3's is 22 bytes with the header).
#include "tls/tls_binder.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace zt::tls {
namespace {

using protocols::Chunk;
using protocols::Direction;
using protocols::tls::TlsStreamParser;

constexpr std::uint32_t kPid = 42;
constexpr std::uint64_t kMs = 1'000'000;

struct Socket {
  std::uint64_t conn_id;
  std::int32_t fd;
  std::unique_ptr<TlsStreamParser> parser = std::make_unique<TlsStreamParser>(true);
  std::uint64_t position[2] = {0, 0};

  // One TLS 1.3 application data record carrying `plaintext` bytes, moved by one call at `ts`.
  void record(Direction dir, std::size_t plaintext, std::uint64_t ts) {
    const std::size_t body = plaintext + 17;
    std::string bytes{'\x17', '\x03', '\x03', static_cast<char>(body >> 8), static_cast<char>(body & 0xff)};
    bytes.append(body, 'c');
    Chunk chunk;
    chunk.position = position[static_cast<int>(dir)];
    chunk.size = bytes.size();
    chunk.data = bytes;
    chunk.start_ns = ts;
    chunk.end_ns = ts;
    position[static_cast<int>(dir)] += bytes.size();
    parser->on_chunk(dir, chunk);
  }
};

struct Delivered {
  std::uint64_t conn_id;
  std::string data;
  std::uint64_t lost_before;
};

class TlsBinderTest : public ::testing::Test {
 protected:
  TlsBinderTest()
      : binder_(
            TlsBinderOptions{.window_ns = 50 * kMs, .votes_to_bind = 2, .max_held_calls = 4},
            [this](std::uint32_t pid, const std::function<void(const TlsSocket&)>& visit) {
              if (pid != kPid) return;
              for (auto& s : sockets_) visit(TlsSocket{s.conn_id, s.fd, s.parser.get()});
            },
            [this](std::uint32_t pid, std::uint64_t ssl, std::int32_t fd) {
              binds_.push_back({pid, ssl, fd});
              return true;
            },
            [this](std::uint64_t conn_id, const UnboundCall& call, std::uint64_t lost_before) {
              delivered_.push_back({conn_id, call.data, lost_before});
            }) {
    sockets_.push_back(Socket{1, 10});
    sockets_.push_back(Socket{2, 11});
  }

  void call(Direction dir, std::size_t size, std::uint64_t ts, std::string data, std::uint64_t ssl = 0xab) {
    UnboundCall c;
    c.pid = kPid;
    c.tid = kPid;
    c.ssl = ssl;
    c.direction = dir;
    c.start_ns = ts;
    c.end_ns = ts + 10'000;
    c.size = size;
    c.data = std::move(data);
    binder_.on_unbound(std::move(c), ts + 20'000);
  }

  struct BindCall {
    std::uint32_t pid;
    std::uint64_t ssl;
    std::int32_t fd;
  };
  std::vector<Socket> sockets_;
  std::vector<BindCall> binds_;
  std::vector<Delivered> delivered_;
  TlsBinder binder_;
};

TEST_F(TlsBinderTest, AReadAndAWriteMatchingOneSocketBindTheObjectAndReplayItsCalls) {
  sockets_[0].record(Direction::Ingress, 100, 1 * kMs);      // the request's record arrives...
  sockets_[1].record(Direction::Ingress, 300, 1 * kMs);      // (another connection's, another size)
  call(Direction::Ingress, 100, 2 * kMs, "GET / HTTP/1.1");  // ...and the read returns its plaintext
  EXPECT_TRUE(binds_.empty()) << "one match is not enough";
  EXPECT_TRUE(delivered_.empty()) << "held until bound";
  call(Direction::Egress, 50, 3 * kMs, "HTTP/1.1 200 OK");  // the write comes before its record
  EXPECT_TRUE(binds_.empty());
  sockets_[0].record(Direction::Egress, 50, 4 * kMs);
  binder_.on_records(kPid, 5 * kMs);
  ASSERT_EQ(binds_.size(), 1u);
  EXPECT_EQ(binds_[0].pid, kPid);
  EXPECT_EQ(binds_[0].ssl, 0xabu);
  EXPECT_EQ(binds_[0].fd, 10);
  ASSERT_EQ(delivered_.size(), 2u);
  EXPECT_EQ(delivered_[0].conn_id, 1u);
  EXPECT_EQ(delivered_[0].data, "GET / HTTP/1.1");
  EXPECT_EQ(delivered_[1].data, "HTTP/1.1 200 OK");
  EXPECT_EQ(binder_.stats().bound, 1u);
  EXPECT_EQ(binder_.stats().matches, 2u);

  // Calls made before the kernel learnt the binding go straight to the socket.
  call(Direction::Ingress, 7, 6 * kMs, "more");
  ASSERT_EQ(delivered_.size(), 3u);
  EXPECT_EQ(delivered_[2].conn_id, 1u);
}

TEST_F(TlsBinderTest, ARecordOfTheSameSizeOnTwoSocketsIsNoEvidence) {
  sockets_[0].record(Direction::Ingress, 100, 1 * kMs);
  sockets_[1].record(Direction::Ingress, 100, 1 * kMs);
  call(Direction::Ingress, 100, 2 * kMs, "a");
  sockets_[0].record(Direction::Ingress, 100, 3 * kMs);
  sockets_[1].record(Direction::Ingress, 100, 3 * kMs);
  call(Direction::Ingress, 100, 4 * kMs, "b");
  EXPECT_TRUE(binds_.empty());
  EXPECT_EQ(binder_.stats().ambiguous, 2u);
  EXPECT_EQ(binder_.stats().matches, 0u);
}

TEST_F(TlsBinderTest, AVoteForAnotherSocketStartsTheCountAgain) {
  sockets_[0].record(Direction::Ingress, 100, 1 * kMs);
  call(Direction::Ingress, 100, 2 * kMs, "a");
  sockets_[1].record(Direction::Ingress, 200, 3 * kMs);
  call(Direction::Ingress, 200, 4 * kMs, "b");
  EXPECT_TRUE(binds_.empty());
  EXPECT_EQ(binder_.stats().contradictions, 1u);
  sockets_[1].record(Direction::Ingress, 300, 5 * kMs);
  call(Direction::Ingress, 300, 6 * kMs, "c");
  ASSERT_EQ(binds_.size(), 1u);
  EXPECT_EQ(binds_[0].fd, 11);
}

TEST_F(TlsBinderTest, ARecordIsUsedOnceAndOnlyWithinTheWindow) {
  sockets_[0].record(Direction::Ingress, 100, 1 * kMs);
  call(Direction::Ingress, 100, 2 * kMs, "a");
  // The same record cannot answer a second read of the same size.
  call(Direction::Ingress, 100, 3 * kMs, "b");
  EXPECT_EQ(binder_.stats().matches, 1u);
  // A read long after its record: no match (it came from elsewhere, or from the buffer).
  sockets_[0].record(Direction::Ingress, 400, 4 * kMs);
  call(Direction::Ingress, 400, 200 * kMs, "c");
  EXPECT_EQ(binder_.stats().matches, 1u);
  binder_.tick(400 * kMs);
  EXPECT_EQ(binder_.stats().unmatched, 2u);
  EXPECT_TRUE(binds_.empty());
}

TEST_F(TlsBinderTest, AWriteWhoseRecordNeverComesIsUnmatchedAfterTheWindow) {
  call(Direction::Egress, 64, 1 * kMs, "x");
  binder_.tick(10 * kMs);
  EXPECT_EQ(binder_.stats().unmatched, 0u) << "still waiting";
  binder_.tick(100 * kMs);
  EXPECT_EQ(binder_.stats().unmatched, 1u);
}

TEST_F(TlsBinderTest, CallsOverTheBoundAreDroppedAndTheReplayShowsTheLoss) {
  for (int i = 0; i < 5; ++i) call(Direction::Ingress, 10, (1 + i) * kMs, "r" + std::to_string(i));
  EXPECT_EQ(binder_.stats().dropped, 4u) << "the fifth call found four held: they went";
  sockets_[0].record(Direction::Ingress, 30, 10 * kMs);
  call(Direction::Ingress, 30, 11 * kMs, "m1");
  sockets_[0].record(Direction::Egress, 40, 12 * kMs);
  call(Direction::Egress, 40, 11 * kMs, "m2");
  binder_.on_records(kPid, 13 * kMs);
  ASSERT_EQ(binds_.size(), 1u);
  ASSERT_EQ(delivered_.size(), 3u);
  EXPECT_EQ(delivered_[0].data, "r4");
  EXPECT_EQ(delivered_[0].lost_before, 40u) << "four ingress calls of 10 bytes lost before it";
  EXPECT_EQ(delivered_[1].lost_before, 0u);
}

TEST_F(TlsBinderTest, AProcessExitForgetsItsObjects) {
  call(Direction::Ingress, 10, 1 * kMs, "a");
  binder_.on_process_exit(kPid);
  EXPECT_EQ(binder_.stats().dropped, 1u);
  sockets_[0].record(Direction::Ingress, 10, 2 * kMs);
  sockets_[0].record(Direction::Egress, 20, 3 * kMs);
  binder_.on_records(kPid, 4 * kMs);
  EXPECT_TRUE(binds_.empty());
}

}  // namespace
}  // namespace zt::tls
