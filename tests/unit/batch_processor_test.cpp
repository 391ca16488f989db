// The batch span processor against a scripted in-memory transport: batching on size and schedule,
// bounded queue with exact drop counts, retries and their backoff, permanent failures, shutdown.
#include "exporters/batch_processor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <deque>
#include <mutex>
#include <thread>

namespace zt::exporters {
namespace {

using namespace std::chrono_literals;

trace::Span span_named(int i) {
  trace::Span s;
  s.name = "span-" + std::to_string(i);
  s.span_id[7] = static_cast<std::uint8_t>(i);
  return s;
}

std::vector<trace::Span> spans(int from, int count) {
  std::vector<trace::Span> v;
  for (int i = from; i < from + count; ++i) v.push_back(span_named(i));
  return v;
}

// Records what it is sent; answers from a script, then with `fallback`.
class FakeTransport final : public BatchTransport {
 public:
  struct State {
    std::mutex mutex;
    std::vector<std::vector<std::string>> batches;  // names, per send (retries included)
    std::deque<ExportResult> script;
    ExportResult fallback = ExportResult::success();
    std::vector<std::chrono::steady_clock::time_point> send_times;
    std::chrono::milliseconds last_timeout{0};
  };
  explicit FakeTransport(std::shared_ptr<State> state) : state_(std::move(state)) {}
  ExportResult send(std::span<const trace::Span> batch, std::chrono::milliseconds timeout) override {
    std::lock_guard lock(state_->mutex);
    std::vector<std::string> names;
    for (const auto& s : batch) names.push_back(s.name);
    state_->batches.push_back(std::move(names));
    state_->send_times.push_back(std::chrono::steady_clock::now());
    state_->last_timeout = timeout;
    if (state_->script.empty()) return state_->fallback;
    auto r = state_->script.front();
    state_->script.pop_front();
    return r;
  }
  std::string describe() const override { return "fake"; }
  std::string_view name() const override { return "fake"; }

 private:
  std::shared_ptr<State> state_;
};

BatchOptions fast_options() {
  BatchOptions o;
  o.max_queue_size = 100;
  o.max_export_batch_size = 10;
  o.schedule_delay = 50ms;
  o.export_timeout = 2000ms;
  o.request_timeout = 500ms;
  o.initial_backoff = 10ms;
  o.max_backoff = 40ms;
  return o;
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5000ms) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return done();
}

TEST(BatchProcessor, DefaultsAreTheOpenTelemetrySdkOnes) {
  const BatchOptions o;
  EXPECT_EQ(o.max_queue_size, 2048u);
  EXPECT_EQ(o.max_export_batch_size, 512u);
  EXPECT_EQ(o.schedule_delay, 5000ms);
  EXPECT_EQ(o.export_timeout, 30000ms);
}

TEST(BatchProcessor, ValidateRejectsBatchLargerThanQueue) {
  BatchOptions o;
  o.max_export_batch_size = 4096;
  const auto r = validate(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("must not exceed max queue size"), std::string::npos);
  o = BatchOptions{};
  o.max_queue_size = 0;
  EXPECT_FALSE(validate(o).ok());
  EXPECT_TRUE(validate(BatchOptions{}).ok());
}

TEST(BatchProcessor, FullBatchGoesAtOnceAndSplitsAtMaxBatchSize) {
  auto state = std::make_shared<FakeTransport::State>();
  auto o = fast_options();
  o.schedule_delay = 60000ms;  // only size can trigger
  BatchSpanProcessor p(std::make_unique<FakeTransport>(state), o);
  p.export_spans(spans(0, 25));
  ASSERT_TRUE(wait_for([&] { return p.stats()->spans_exported >= 20; }));
  {
    std::lock_guard lock(state->mutex);
    ASSERT_GE(state->batches.size(), 2u);
    EXPECT_EQ(state->batches[0].size(), 10u);
    EXPECT_EQ(state->batches[0].front(), "span-0");
    EXPECT_EQ(state->batches[1].front(), "span-10");
  }
  p.shutdown();  // the last 5 go at shutdown
  const auto s = *p.stats();
  EXPECT_EQ(s.spans_exported, 25u);
  EXPECT_EQ(s.batches_exported, 3u);
  EXPECT_EQ(s.spans_dropped, 0u);
  EXPECT_EQ(s.queue_length, 0u);
}

TEST(BatchProcessor, PartialBatchWaitsForTheScheduleDelay) {
  auto state = std::make_shared<FakeTransport::State>();
  auto o = fast_options();
  o.schedule_delay = 300ms;
  // Only lower bounds on time: a loaded machine makes the worker late, never early.
  const auto started = std::chrono::steady_clock::now();
  BatchSpanProcessor p(std::make_unique<FakeTransport>(state), o);
  p.export_spans(spans(0, 3));
  ASSERT_TRUE(wait_for([&] { return p.stats()->spans_exported == 3; }));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms) << "a partial batch went before the schedule delay";
  std::lock_guard lock(state->mutex);
  ASSERT_EQ(state->batches.size(), 1u);
  EXPECT_EQ(state->batches[0].size(), 3u);
}

TEST(BatchProcessor, FlushSendsAPartialBatchNow) {
  auto state = std::make_shared<FakeTransport::State>();
  auto o = fast_options();
  o.schedule_delay = 60000ms;
  BatchSpanProcessor p(std::make_unique<FakeTransport>(state), o);
  p.export_spans(spans(0, 3));
  p.flush();
  EXPECT_EQ(p.stats()->spans_exported, 3u);
}

TEST(BatchProcessor, QueueFullDropsExactlyTheOverflowAndNothingElse) {
  auto state = std::make_shared<FakeTransport::State>();
  state->fallback = ExportResult::retryable("collector down");
  auto o = fast_options();
  BatchSpanProcessor p(std::make_unique<FakeTransport>(state), o);
  // 250 spans offered while the backend is down: the queue holds 100 (in-flight batch included).
  for (int i = 0; i < 25; ++i) p.export_spans(spans(i * 10, 10));
  const auto during = *p.stats();
  EXPECT_EQ(during.spans_dropped, 150u);
  EXPECT_EQ(during.queue_length, 100u);
  EXPECT_EQ(during.queue_length_max, 100u);
  ASSERT_TRUE(wait_for([&] { return p.stats()->retries >= 2; }));  // the head batch is being retried
  // The backend comes back: all 100 queued spans arrive, in order, none twice.
  {
    std::lock_guard lock(state->mutex);
    state->fallback = ExportResult::success();
  }
  ASSERT_TRUE(wait_for([&] { return p.stats()->spans_exported == 100; }));
  p.shutdown();
  const auto s = *p.stats();
  EXPECT_EQ(s.spans_exported, 100u);
  EXPECT_EQ(s.spans_dropped, 150u);
  EXPECT_EQ(s.spans_failed, 0u);
  EXPECT_GT(s.retries, 0u);
  std::lock_guard lock(state->mutex);
  // The first batch attempted is the first offered, and it is retried unchanged.
  EXPECT_EQ(state->batches.front().front(), "span-0");
  EXPECT_EQ(state->batches.front(), state->batches[1]);
}

TEST(BatchProcessor, RetriesBackOffExponentiallyAndHonourTheServerHint) {
  auto state = std::make_shared<FakeTransport::State>();
  state->script = {ExportResult::retryable("503"), ExportResult::retryable("503"), ExportResult::retryable("503"),
                   ExportResult::retryable("429", 150ms)};
  auto o = fast_options();
  o.initial_backoff = 20ms;
  o.max_backoff = 60ms;
  o.backoff_multiplier = 2.0;
  BatchSpanProcessor p(std::make_unique<FakeTransport>(state), o);
  p.export_spans(spans(0, 10));
  ASSERT_TRUE(wait_for([&] { return p.stats()->spans_exported == 10; }));
  std::lock_guard lock(state->mutex);
  ASSERT_EQ(state->send_times.size(), 5u);
  const auto gap = [&](int i) { return state->send_times[i + 1] - state->send_times[i]; };
  // Jitter keeps each wait within [d/2, d] of d = 20, 40, 60 (capped), then the server's 150 ms.
  EXPECT_GE(gap(0), 10ms);
  EXPECT_GE(gap(1), 20ms);
  EXPECT_GE(gap(2), 30ms);
  EXPECT_LT(gap(2), 200ms);
  EXPECT_GE(gap(3), 150ms);
  EXPECT_EQ(p.stats()->retries, 4u);
  EXPECT_EQ(p.stats()->export_attempts, 5u);
}

TEST(BatchProcessor, PermanentFailureDropsTheBatchAndCountsIt) {
  auto state = std::make_shared<FakeTransport::State>();
  state->script = {ExportResult::failed("HTTP 400: bad request")};
  BatchSpanProcessor p(std::make_unique<FakeTransport>(state), fast_options());
  p.export_spans(spans(0, 10));
  p.export_spans(spans(10, 10));
  ASSERT_TRUE(wait_for([&] { return p.stats()->spans_exported == 10; }));
  const auto s = *p.stats();
  EXPECT_EQ(s.spans_failed, 10u);
  EXPECT_EQ(s.retries, 0u);
}

TEST(BatchProcessor, PartialSuccessCountsRejectedSpans) {
  auto state = std::make_shared<FakeTransport::State>();
  ExportResult partial = ExportResult::success();
  partial.rejected_spans = 3;
  partial.message = "3 spans too old";
  state->script = {partial};
  BatchSpanProcessor p(std::make_unique<FakeTransport>(state), fast_options());
  p.export_spans(spans(0, 10));
  p.shutdown();
  const auto s = *p.stats();
  EXPECT_EQ(s.spans_exported, 7u);
  EXPECT_EQ(s.spans_rejected, 3u);
}

TEST(BatchProcessor, ShutdownGivesUpAtTheExportTimeoutAndCountsTheRestAsFailed) {
  auto state = std::make_shared<FakeTransport::State>();
  state->fallback = ExportResult::retryable("collector down");
  auto o = fast_options();
  o.export_timeout = 300ms;
  auto p = std::make_unique<BatchSpanProcessor>(std::make_unique<FakeTransport>(state), o);
  p->export_spans(spans(0, 35));
  const auto t0 = std::chrono::steady_clock::now();
  p->shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2000ms);
  const auto s = *p->stats();
  EXPECT_EQ(s.spans_exported, 0u);
  EXPECT_EQ(s.spans_failed, 35u);  // every span accounted for: nothing silently lost
  EXPECT_EQ(s.spans_dropped, 0u);
  p->export_spans(spans(100, 5));  // after shutdown: dropped and counted
  EXPECT_EQ(p->stats()->spans_dropped, 5u);
}

TEST(BatchProcessor, RequestTimeoutIsCappedByTheExportTimeout) {
  auto state = std::make_shared<FakeTransport::State>();
  auto o = fast_options();
  o.request_timeout = 10000ms;
  o.export_timeout = 700ms;
  BatchSpanProcessor p(std::make_unique<FakeTransport>(state), o);
  p.export_spans(spans(0, 10));
  ASSERT_TRUE(wait_for([&] { return p.stats()->spans_exported == 10; }));
  std::lock_guard lock(state->mutex);
  EXPECT_EQ(state->last_timeout, 700ms);
}

TEST(BatchProcessor, ConcurrentProducersLoseNothingBelowCapacity) {
  auto state = std::make_shared<FakeTransport::State>();
  auto o = fast_options();
  o.max_queue_size = 100000;
  o.max_export_batch_size = 512;
  BatchSpanProcessor p(std::make_unique<FakeTransport>(state), o);
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) p.export_spans(spans(t * 1000 + i * 10, 10));
    });
  }
  for (auto& t : producers) t.join();
  p.shutdown();
  EXPECT_EQ(p.stats()->spans_exported, 4000u);
  EXPECT_EQ(p.stats()->spans_dropped, 0u);
}

TEST(BatchProcessor, StatsLineSaysWhatHappened) {
  ExportStats s;
  s.spans_exported = 1200;
  s.batches_exported = 3;
  s.export_latency_us_total = 6300;
  s.export_latency_us_max = 4000;
  s.spans_dropped = 7;
  s.queue_capacity = 2048;
  EXPECT_EQ(format_stats(s),
            "exported 1200 spans in 3 batches (avg 2.1 ms, max 4.0 ms), dropped 7 (queue full), failed 0, "
            "rejected 0, retries 0, queue 0/2048 (max 0)");
}

}  // namespace
}  // namespace zt::exporters
