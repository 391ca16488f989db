// DataStream: per-direction ordering by kernel stream position, bounded waiting, explicit gaps.
#include "pipeline/data_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace zt::pipeline {
namespace {

using protocols::Chunk;

struct Delivered {
  std::uint64_t position;
  std::uint64_t size;
  std::string data;
  bool gap;
};

class DataStreamTest : public ::testing::Test {
 protected:
  auto sink() {
    return [this](const Chunk& c) { out_.push_back({c.position, c.size, std::string(c.data), c.gap}); };
  }
  void push(std::uint64_t position, std::string data, std::uint64_t arrival_ns = 0, std::uint64_t size = 0) {
    storage_.push_back(std::move(data));
    Chunk c;
    c.position = position;
    c.data = storage_.back();
    c.size = size ? size : storage_.back().size();
    c.start_ns = c.end_ns = arrival_ns;
    stream_.push(c, arrival_ns, sink());
    storage_.back().assign("clobbered");  // the stream must not keep views into caller memory
  }

  DataStream stream_{DataStreamLimits{4, 64, 1000}};
  std::vector<std::string> storage_;
  std::vector<Delivered> out_;
};

TEST_F(DataStreamTest, InOrderChunksPassStraightThrough) {
  push(0, "abc");
  push(3, "de");
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_EQ(out_[1].position, 3u);
  EXPECT_EQ(out_[1].data, "de");
  EXPECT_FALSE(stream_.has_pending());
}

TEST_F(DataStreamTest, TheFirstChunkSetsTheStartingPosition) {
  push(1000, "mid");  // a connection first seen mid-stream
  push(1003, "x");
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_EQ(out_[0].position, 1000u);
}

TEST_F(DataStreamTest, ASwappedPairIsReorderedWithItsBytesIntact) {
  push(0, "aa");
  push(4, "cc", 10);  // arrives before the chunk at 2
  EXPECT_TRUE(stream_.has_pending());
  ASSERT_EQ(out_.size(), 1u);
  push(2, "bb", 11);
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_EQ(out_[1].data, "bb");
  EXPECT_EQ(out_[2].data, "cc");  // copied when it had to wait
  EXPECT_EQ(stream_.stats().reordered, 1u);
  EXPECT_EQ(stream_.stats().gaps, 0u);
}

TEST_F(DataStreamTest, MissingBytesBecomeAGapAfterTheWait) {
  push(0, "aa");
  push(10, "zz", 100);
  stream_.flush(500, false, sink());  // waited 400 ns of the 1000 allowed
  EXPECT_EQ(out_.size(), 1u);
  stream_.flush(1100, false, sink());
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_TRUE(out_[1].gap);
  EXPECT_EQ(out_[1].position, 2u);
  EXPECT_EQ(out_[1].size, 8u);
  EXPECT_EQ(out_[2].data, "zz");
  EXPECT_EQ(stream_.stats().gap_bytes, 8u);
}

TEST_F(DataStreamTest, TooMuchWaitingDataForcesTheGapAtOnce) {
  push(0, "a");
  for (int i = 0; i < 5; ++i) push(100 + 10 * i, "0123456789", 1);  // limit: 4 chunks
  ASSERT_GE(out_.size(), 2u);
  EXPECT_TRUE(out_[1].gap);
  EXPECT_EQ(out_[1].size, 99u);
  EXPECT_EQ(out_.back().position, 140u);
  EXPECT_FALSE(stream_.has_pending());
}

TEST_F(DataStreamTest, TruncatedChunksKeepTheirFullSize) {
  push(0, "GET", 0, 4000);  // 4000 bytes moved, 3 captured
  push(4000, "next");
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_EQ(out_[0].size, 4000u);
  EXPECT_EQ(out_[0].data, "GET");
  EXPECT_EQ(out_[1].position, 4000u);
}

TEST_F(DataStreamTest, RepeatedBytesAreDroppedAndCounted) {
  push(0, "abcd");
  push(2, "cd");
  EXPECT_EQ(out_.size(), 1u);
  EXPECT_EQ(stream_.stats().duplicates, 1u);
}

}  // namespace
}  // namespace zt::pipeline
