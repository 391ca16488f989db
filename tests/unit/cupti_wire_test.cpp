// The CUPTI batch format (BatchWriter -> parse_batch) and ClockAligner.
#include "cuda/cupti_wire.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace zt::cuda {
namespace {

std::vector<std::byte> bytes_of(std::span<const std::byte> s) { return {s.begin(), s.end()}; }

zt_cupti_api_record api_record(std::uint32_t i) {
  zt_cupti_api_record r{};
  r.h.correlation_id = 100 + i;
  r.start_ns = 1000 + i;
  r.end_ns = 2000 + i;
  r.tid = 77;
  r.api = ZT_CUDA_LAUNCH_KERNEL;
  r.cbid = 211;
  r.result = -3;
  r.domain = 2;
  return r;
}

zt_cupti_kernel_record kernel_record() {
  zt_cupti_kernel_record r{};
  r.h.correlation_id = 9;
  r.start_ns = 10;
  r.end_ns = 20;
  r.stream_id = 7;
  r.device_id = 1;
  r.context_id = 2;
  r.grid[0] = 4096;
  r.block[0] = 256;
  r.registers_per_thread = 32;
  r.dynamic_shared_memory = 1024;
  return r;
}

// A batch with one record of each type, as the library would write it.
std::vector<std::byte> every_type_batch(const std::string& kernel_name) {
  BatchWriter w;
  EXPECT_TRUE(w.add_api(api_record(0)));
  EXPECT_TRUE(w.add_kernel(kernel_record(), kernel_name));
  zt_cupti_memcpy_record m{};
  m.h.correlation_id = 10;
  m.bytes = 4 << 20;
  m.copy_kind = 1;
  m.async = 1;
  EXPECT_TRUE(w.add_memcpy(m));
  zt_cupti_memset_record s{};
  s.bytes = 64;
  s.value = 0xab;
  EXPECT_TRUE(w.add_memset(s));
  zt_cupti_sync_record y{};
  y.type = 3;
  y.stream_id = 7;
  EXPECT_TRUE(w.add_sync(y));
  zt_cupti_status_record st{};
  st.status = ZT_CUPTI_STATUS_STARTED;
  st.clock_offset_ns = static_cast<std::uint64_t>(std::int64_t{-5});
  EXPECT_TRUE(w.add_status(st));
  return bytes_of(w.finish(42, 3));
}

template <typename T>
void put(std::vector<std::byte>& b, std::size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

constexpr std::size_t kFirstRecord = sizeof(zt_cupti_batch_header);

std::string parse_error(const std::vector<std::byte>& b) {
  const auto r = parse_batch(b.data(), b.size());
  return r.ok() ? "" : r.error().message;
}

TEST(CuptiWire, EveryRecordTypeRoundTrips) {
  const auto b = every_type_batch("_Z6vecAddPfS_S_i");
  const auto view = parse_batch(b.data(), b.size());
  ASSERT_TRUE(view.ok()) << view.error().message;
  EXPECT_EQ(view->header.sequence, 42u);
  EXPECT_EQ(view->header.dropped, 3u);
  EXPECT_EQ(view->header.records, 6u);
  EXPECT_EQ(view->header.bytes, b.size());
  EXPECT_EQ(view->unknown_records, 0u);

  std::vector<std::uint16_t> types;
  view->for_each([&](const zt_cupti_record_header& h, std::span<const std::byte> rec) {
    types.push_back(h.type);
    EXPECT_EQ(rec.size(), h.size);
    EXPECT_EQ(h.size % 8, 0u);
    switch (h.type) {
      case ZT_CUPTI_REC_API: {
        const auto a = record_as<zt_cupti_api_record>(rec);
        EXPECT_EQ(a.h.correlation_id, 100u);
        EXPECT_EQ(a.start_ns, 1000u);
        EXPECT_EQ(a.end_ns, 2000u);
        EXPECT_EQ(a.result, -3);
        EXPECT_EQ(a.api, ZT_CUDA_LAUNCH_KERNEL);
        EXPECT_EQ(h.size, sizeof a);
        break;
      }
      case ZT_CUPTI_REC_KERNEL: {
        const auto k = record_as<zt_cupti_kernel_record>(rec);
        EXPECT_EQ(k.grid[0], 4096u);
        EXPECT_EQ(k.dynamic_shared_memory, 1024u);
        EXPECT_EQ(kernel_name(rec), "_Z6vecAddPfS_S_i");
        EXPECT_EQ(h.size, sizeof k + 16);  // 16 name bytes, already a multiple of 8
        break;
      }
      case ZT_CUPTI_REC_MEMCPY: {
        const auto m = record_as<zt_cupti_memcpy_record>(rec);
        EXPECT_EQ(m.bytes, 4u << 20);
        EXPECT_EQ(m.async, 1);
        break;
      }
      case ZT_CUPTI_REC_MEMSET:
        EXPECT_EQ(record_as<zt_cupti_memset_record>(rec).value, 0xabu);
        break;
      case ZT_CUPTI_REC_SYNC:
        EXPECT_EQ(record_as<zt_cupti_sync_record>(rec).stream_id, 7u);
        break;
      case ZT_CUPTI_REC_STATUS: {
        const auto s = record_as<zt_cupti_status_record>(rec);
        EXPECT_EQ(s.status, ZT_CUPTI_STATUS_STARTED);
        EXPECT_EQ(static_cast<std::int64_t>(s.clock_offset_ns), -5);
        EXPECT_EQ(s.h.correlation_id, 0u);
        break;
      }
      default:
        ADD_FAILURE() << "type " << h.type;
    }
  });
  EXPECT_EQ(types, (std::vector<std::uint16_t>{1, 2, 3, 4, 5, 6}));
}

// GPU review, finding 8: a CUTLASS-sized mangled name (621 bytes, as the review's probe kernel) comes
// through whole, demangles, and several of them fill a batch without being cut.
TEST(CuptiWire, GpuReview8LongKernelNamesComeThroughWhole) {
  std::string name = "_ZN7cutlass13device_kernelINS_4gemm6kernel13GemmUniversal";
  while (name.size() < 600) name += "INS_5tupleIJNS_1CILi128EEES6_EEE";
  name += "EEEvNT_6ParamsE";
  ASSERT_GT(name.size(), 600u);
  BatchWriter w;
  int added = 0;
  while (w.add_kernel(kernel_record(), name)) ++added;
  ASSERT_GE(added, 10) << "a 16 KiB batch holds many such records";
  const auto b = bytes_of(w.finish(0, 0));
  const auto view = parse_batch(b.data(), b.size());
  ASSERT_TRUE(view.ok()) << view.error().message;
  int seen = 0;
  view->for_each([&](const zt_cupti_record_header&, std::span<const std::byte> rec) {
    EXPECT_EQ(kernel_name(rec), name);
    ++seen;
  });
  EXPECT_EQ(seen, added);
}

TEST(CuptiWire, KernelNamesArePaddedAndCut) {
  BatchWriter w;
  ASSERT_TRUE(w.add_kernel(kernel_record(), "abcde"));
  const std::string long_name(ZT_CUPTI_NAME_MAX + 100, 'x');
  ASSERT_TRUE(w.add_kernel(kernel_record(), long_name));
  ASSERT_TRUE(w.add_kernel(kernel_record(), ""));
  const auto b = bytes_of(w.finish(0, 0));
  const auto view = parse_batch(b.data(), b.size());
  ASSERT_TRUE(view.ok()) << view.error().message;
  std::vector<std::pair<std::size_t, std::string>> seen;
  view->for_each([&](const zt_cupti_record_header& h, std::span<const std::byte> rec) {
    seen.emplace_back(h.size, std::string(kernel_name(rec)));
  });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::make_pair(sizeof(zt_cupti_kernel_record) + 8, std::string("abcde")));
  EXPECT_EQ(seen[1].first, sizeof(zt_cupti_kernel_record) + ZT_CUPTI_NAME_MAX);
  EXPECT_EQ(seen[1].second, long_name.substr(0, ZT_CUPTI_NAME_MAX));
  EXPECT_EQ(seen[2], std::make_pair(sizeof(zt_cupti_kernel_record), std::string()));
  // GPU review, finding 8: names were cut at 512 bytes; CUTLASS-style names are longer.
  EXPECT_GE(ZT_CUPTI_NAME_MAX, 4096);
  // The padding is zeros, not leftovers of an earlier batch.
  const auto k0 = kFirstRecord + sizeof(zt_cupti_kernel_record);
  for (std::size_t i = 5; i < 8; ++i) EXPECT_EQ(b[k0 + i], std::byte{0});
}

TEST(CuptiWire, FullBatchRefusesAndKeepsItsContent) {
  BatchWriter w;
  std::uint32_t added = 0;
  while (w.add_api(api_record(added))) ++added;
  EXPECT_EQ(added, (ZT_CUPTI_BATCH_MAX - kFirstRecord) / sizeof(zt_cupti_api_record));
  const std::size_t bytes = w.bytes();
  EXPECT_FALSE(w.add_api(api_record(0)));
  EXPECT_FALSE(w.add_kernel(kernel_record(), "k"));
  EXPECT_EQ(w.bytes(), bytes);
  EXPECT_EQ(w.records(), added);
  const auto b = bytes_of(w.finish(1, 0));
  ASSERT_TRUE(parse_batch(b.data(), b.size()).ok());

  w.reset();
  EXPECT_TRUE(w.empty());
  EXPECT_TRUE(w.add_api(api_record(0)));
  EXPECT_EQ(w.finish(2, 0).size(), kFirstRecord + sizeof(zt_cupti_api_record));
}

TEST(CuptiWire, RecordsNeedNotBeAligned) {
  const auto b = every_type_batch("k");
  std::vector<std::byte> shifted(b.size() + 3);
  std::memcpy(shifted.data() + 3, b.data(), b.size());
  const auto view = parse_batch(shifted.data() + 3, b.size());
  ASSERT_TRUE(view.ok()) << view.error().message;
  int n = 0;
  view->for_each([&](const zt_cupti_record_header&, std::span<const std::byte>) { ++n; });
  EXPECT_EQ(n, 6);
}

TEST(CuptiWire, UnknownRecordTypesAreSkippedAndCounted) {
  BatchWriter w;
  ASSERT_TRUE(w.add_api(api_record(0)));
  struct {
    zt_cupti_record_header h;
    std::uint64_t future[2];
  } future{{99, 0, 5}, {1, 2}};
  ASSERT_TRUE(w.append(&future, sizeof future, "tail"));
  ASSERT_TRUE(w.add_api(api_record(1)));
  const auto b = bytes_of(w.finish(0, 0));
  const auto view = parse_batch(b.data(), b.size());
  ASSERT_TRUE(view.ok()) << view.error().message;
  EXPECT_EQ(view->unknown_records, 1u);
  std::vector<std::uint32_t> ids;
  view->for_each([&](const zt_cupti_record_header& h, std::span<const std::byte>) { ids.push_back(h.correlation_id); });
  EXPECT_EQ(ids, (std::vector<std::uint32_t>{100, 101}));
}

TEST(CuptiWire, MalformedBatchesAreRejectedWithAReason) {
  const auto good = every_type_batch("_Z1kv");
  ASSERT_EQ(parse_error(good), "");
  const std::size_t size_at = kFirstRecord + offsetof(zt_cupti_record_header, size);
  const std::size_t kernel_at = kFirstRecord + sizeof(zt_cupti_api_record);

  EXPECT_NE(parse_error({good.begin(), good.begin() + 10}).find("shorter than its header"), std::string::npos);
  EXPECT_NE(parse_error({good.begin(), good.end() - 8}).find("batch size"), std::string::npos);  // truncated

  auto b = good;
  put<std::uint32_t>(b, 0, 0x12345678);
  EXPECT_EQ(parse_error(b), "bad magic");

  b = good;
  put<std::uint16_t>(b, offsetof(zt_cupti_batch_header, version), 2);
  EXPECT_NE(parse_error(b).find("unsupported version"), std::string::npos);

  b = good;
  put<std::uint16_t>(b, size_at, 0);
  EXPECT_NE(parse_error(b).find("size 0 not a multiple of 8"), std::string::npos);

  b = good;
  put<std::uint16_t>(b, size_at, sizeof(zt_cupti_api_record) + 4);
  EXPECT_NE(parse_error(b).find("not a multiple of 8"), std::string::npos);

  b = good;
  put<std::uint16_t>(b, size_at, 0xfff8);
  EXPECT_NE(parse_error(b).find("past the end"), std::string::npos);

  b = good;
  put<std::uint16_t>(b, size_at, 16);  // an API record too short to hold one
  EXPECT_NE(parse_error(b).find("needs"), std::string::npos);

  b = good;
  put<std::uint16_t>(b, kernel_at + offsetof(zt_cupti_kernel_record, name_len), ZT_CUPTI_NAME_MAX + 1);
  EXPECT_NE(parse_error(b).find("kernel name"), std::string::npos);

  b = good;
  put<std::uint16_t>(b, kernel_at + offsetof(zt_cupti_kernel_record, name_len), 9);  // 8 name bytes in the record
  EXPECT_NE(parse_error(b).find("kernel name"), std::string::npos);

  b = good;
  put<std::uint32_t>(b, offsetof(zt_cupti_batch_header, records), 7);
  EXPECT_NE(parse_error(b).find("past the end"), std::string::npos);

  b = good;
  put<std::uint32_t>(b, offsetof(zt_cupti_batch_header, records), 5);
  EXPECT_NE(parse_error(b).find("after the last record"), std::string::npos);

  b = good;
  b.resize(ZT_CUPTI_BATCH_MAX + 8);
  put<std::uint32_t>(b, offsetof(zt_cupti_batch_header, bytes), ZT_CUPTI_BATCH_MAX + 8);
  EXPECT_NE(parse_error(b).find("batch size"), std::string::npos);

  EXPECT_FALSE(parse_batch(nullptr, 0).ok());
}

// Writes the fuzz seeds (tests/fuzz/corpus/cupti_batch) when ZT_WRITE_CUPTI_SEEDS names a folder.
std::vector<std::byte> to_vector(std::span<const std::byte> b) { return {b.begin(), b.end()}; }

// The fuzz seeds (tests/fuzz/corpus/cupti_batch) are batches this writer makes and this parser
// accepts: a format change that breaks them fails here. ZT_WRITE_CUPTI_SEEDS=1 rewrites them first.
TEST(CuptiWire, FuzzSeedsAreCurrentBatches) {
  const std::string dir = std::string(ZT_FIXTURES_DIR) + "/../fuzz/corpus/cupti_batch";
  std::map<std::string, std::vector<std::byte>> seeds;
  seeds["every_type"] = to_vector(every_type_batch("_Z6vecAddPfS_S_i"));
  seeds["long_name"] = to_vector(every_type_batch(std::string(600, 'n')));
  BatchWriter w;
  zt_cupti_status_record st{};
  st.status = ZT_CUPTI_STATUS_ERROR;
  st.detail = 15;
  ASSERT_TRUE(w.add_status(st));
  seeds["status_only"] = to_vector(w.finish(0, 0));
  w.reset();
  for (std::uint32_t i = 0; i < 20; ++i) ASSERT_TRUE(w.add_api(api_record(i)));
  struct {
    zt_cupti_record_header h;
    std::uint64_t v;
  } future{{200, 0, 1}, 7};
  ASSERT_TRUE(w.append(&future, sizeof future));
  seeds["apis_and_unknown"] = to_vector(w.finish(3, 1));

  for (const auto& [name, bytes] : seeds) {
    const std::string path = dir + "/" + name;
    if (std::getenv("ZT_WRITE_CUPTI_SEEDS") != nullptr) {
      std::ofstream(path, std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    std::ifstream in(path, std::ios::binary);
    const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(file.size(), bytes.size()) << path << " is stale: rerun with ZT_WRITE_CUPTI_SEEDS=1";
    auto parsed = parse_batch(file.data(), file.size());
    EXPECT_TRUE(parsed) << path << ": " << (parsed ? "" : parsed.error().message);
  }
}

// ---- ClockAligner ------------------------------------------------------------------------------

// A CUPTI clock running at (1 + drift) times CLOCK_MONOTONIC from `base`, read by a sampler that is
// preempted at random: the window around each read varies from 40 ns to tens of microseconds.
struct SyntheticClocks {
  std::uint64_t base;
  double drift;
  std::mt19937_64 rng{1234};

  std::uint64_t gpu_at(std::uint64_t mono) const {
    return base + mono + static_cast<std::uint64_t>(static_cast<double>(mono) * drift);
  }
  ClockSample sample(std::uint64_t& now) {
    std::uniform_int_distribution<std::uint64_t> small(20, 200);
    std::uniform_int_distribution<int> preempt(0, 9);
    ClockSample s{};
    s.cpu_before = now;
    now += small(rng) + (preempt(rng) == 0 ? 30'000 : 0);  // before the read
    s.gpu = gpu_at(now);
    now += small(rng) + (preempt(rng) == 0 ? 30'000 : 0);  // after
    s.cpu_after = now;
    now += 1000;
    return s;
  }
};

std::int64_t error_at(const ClockAligner& a, const SyntheticClocks& c, std::uint64_t mono) {
  return static_cast<std::int64_t>(a.to_monotonic(c.gpu_at(mono)) - mono);
}

TEST(ClockAligner, OffsetFromTheTightestSample) {
  SyntheticClocks clocks{.base = 1'700'000'000'000'000'000ull, .drift = 0};  // a realtime-like CUPTI clock
  ClockAligner a;
  std::uint64_t now = 5'000'000'000;
  ASSERT_TRUE(a.calibrate_with([&] { return clocks.sample(now); }, 16));
  // The best sample's window is at most 400 ns: its midpoint is within 200 ns of the read.
  EXPECT_LE(std::abs(error_at(a, clocks, now)), 200);
  EXPECT_LE(std::abs(error_at(a, clocks, now + 60'000'000'000)), 200);  // no drift: stays good
  EXPECT_EQ(a.drift(), 0);
}

TEST(ClockAligner, DriftIsEstimatedAndApplied) {
  SyntheticClocks clocks{.base = 123'456'789, .drift = 50e-6};  // 50 ppm, a plausible crystal
  ClockAligner a;
  std::uint64_t now = 1'000'000'000;
  ASSERT_TRUE(a.calibrate_with([&] { return clocks.sample(now); }, 16));
  const std::uint64_t later = now + 60'000'000'000;
  // Without a second calibration the error grows with the drift: 50 ppm of 60 s = 3 ms.
  EXPECT_GT(std::abs(error_at(a, clocks, later)), 2'900'000);

  now += 20'000'000'000;
  ASSERT_TRUE(a.calibrate_with([&] { return clocks.sample(now); }, 16));
  EXPECT_NEAR(a.drift(), -50e-6 / (1 + 50e-6), 0.05e-6);  // offset = mono - gpu shrinks as the GPU clock runs fast
  EXPECT_LE(std::abs(error_at(a, clocks, now)), 200);
  EXPECT_LE(std::abs(error_at(a, clocks, later)), 1'000);               // 40 s past the last calibration
  EXPECT_LE(std::abs(error_at(a, clocks, now - 10'000'000'000)), 500);  // records from before it
}

TEST(ClockAligner, ShortBaselinesAndBrokenSamplesGiveNoDrift) {
  SyntheticClocks clocks{.base = 0, .drift = 0};
  ClockAligner a;
  std::uint64_t now = 1'000'000'000;
  ASSERT_TRUE(a.calibrate_with([&] { return clocks.sample(now); }, 8));
  now += 10'000'000;  // 10 ms: jitter would pose as 10 ppm of drift
  ASSERT_TRUE(a.calibrate_with([&] { return clocks.sample(now); }, 8));
  EXPECT_EQ(a.drift(), 0);

  EXPECT_FALSE(ClockAligner::calibrate({}).has_value());
  const ClockSample broken[] = {{10, 5, 9}};
  EXPECT_FALSE(ClockAligner::calibrate(broken).has_value());
  EXPECT_EQ(ClockAligner{}.to_monotonic(0), 0u);
  EXPECT_EQ(ClockAligner{}.to_monotonic(77), 77u);
}

}  // namespace
}  // namespace zt::cuda
