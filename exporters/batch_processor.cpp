#include "exporters/batch_processor.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include <spdlog/spdlog.h>

namespace zt::exporters {

Result<void> validate(const BatchOptions& o) {
  if (o.max_queue_size == 0) return make_error("max queue size must be at least 1");
  if (o.max_export_batch_size == 0) return make_error("max export batch size must be at least 1");
  if (o.max_export_batch_size > o.max_queue_size) {
    return make_error("max export batch size (" + std::to_string(o.max_export_batch_size) +
                      ") must not exceed max queue size (" + std::to_string(o.max_queue_size) + ")");
  }
  if (o.export_timeout.count() <= 0) return make_error("export timeout must be positive");
  if (o.request_timeout.count() <= 0) return make_error("request timeout must be positive");
  if (o.schedule_delay.count() < 0) return make_error("schedule delay must not be negative");
  return {};
}

BatchSpanProcessor::BatchSpanProcessor(std::unique_ptr<BatchTransport> transport, BatchOptions options)
    : transport_(std::move(transport)),
      options_(options),
      name_(std::string(transport_->name())),
      rng_(std::random_device{}()) {
  stats_.queue_capacity = options_.max_queue_size;
  worker_ = std::thread([this] { run(); });
}

BatchSpanProcessor::~BatchSpanProcessor() { shutdown(); }

void BatchSpanProcessor::export_spans(const std::vector<trace::Span>& spans) {
  if (spans.empty()) return;
  std::lock_guard lock(mutex_);
  if (stopping_) {
    stats_.spans_dropped += spans.size();
    return;
  }
  const std::size_t held = queue_.size() + in_flight_;
  const std::size_t room = held < options_.max_queue_size ? options_.max_queue_size - held : 0;
  const std::size_t taken = std::min(room, spans.size());
  queue_.insert(queue_.end(), spans.begin(), spans.begin() + static_cast<std::ptrdiff_t>(taken));
  if (taken < spans.size()) {
    const auto dropped = spans.size() - taken;
    if (stats_.spans_dropped == 0) {
      spdlog::warn("{}: export queue full ({} spans); dropping spans until the backend catches up", name_,
                   options_.max_queue_size);
    }
    stats_.spans_dropped += dropped;
  }
  stats_.queue_length = queue_.size() + in_flight_;
  stats_.queue_length_max = std::max(stats_.queue_length_max, stats_.queue_length);
  if (queue_.size() >= options_.max_export_batch_size) wake_worker_.notify_one();
}

void BatchSpanProcessor::flush() {
  std::unique_lock lock(mutex_);
  if (stopping_) return;
  ++flush_requests_;
  wake_worker_.notify_one();
  flushed_.wait_for(lock, options_.export_timeout, [this] { return (queue_.empty() && in_flight_ == 0) || stopping_; });
  if (flush_requests_ > 0) --flush_requests_;
}

void BatchSpanProcessor::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      if (!worker_.joinable()) return;
    } else {
      stopping_ = true;
      stop_deadline_ = Clock::now() + options_.export_timeout;
    }
  }
  wake_worker_.notify_all();
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

std::optional<ExportStats> BatchSpanProcessor::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void BatchSpanProcessor::run() {
  auto next_scheduled = Clock::now() + options_.schedule_delay;
  std::vector<trace::Span> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_worker_.wait_until(lock, next_scheduled, [this] {
        return stopping_ || flush_requests_ > 0 || queue_.size() >= options_.max_export_batch_size;
      });
      if (queue_.empty()) {
        flushed_.notify_all();
        if (stopping_) break;
        next_scheduled = Clock::now() + options_.schedule_delay;
        continue;
      }
      if (stopping_ && Clock::now() >= stop_deadline_) {
        stats_.spans_failed += queue_.size();
        spdlog::warn("{}: shutdown deadline reached with {} spans unsent; counted as failed", name_, queue_.size());
        queue_.clear();
        stats_.queue_length = 0;
        break;
      }
      const std::size_t n = std::min(queue_.size(), options_.max_export_batch_size);
      batch.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      in_flight_ = n;
    }
    send_with_retries(batch);
    batch.clear();
    {
      std::lock_guard lock(mutex_);
      in_flight_ = 0;
      stats_.queue_length = queue_.size();
      // A partial batch waits for the schedule; a full one (or a flush) goes at once.
      next_scheduled = Clock::now() + options_.schedule_delay;
      if (queue_.size() >= options_.max_export_batch_size || flush_requests_ > 0 || stopping_) {
        next_scheduled = Clock::now();
      }
      if (queue_.empty()) flushed_.notify_all();
    }
  }
  std::lock_guard lock(mutex_);
  stats_.queue_length = 0;
  flushed_.notify_all();
}

void BatchSpanProcessor::send_with_retries(std::vector<trace::Span>& batch) {
  const auto request_timeout = std::min(options_.request_timeout, options_.export_timeout);
  for (int attempt = 1;; ++attempt) {
    auto timeout = request_timeout;
    {
      std::lock_guard lock(mutex_);
      ++stats_.export_attempts;
      if (stopping_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(stop_deadline_ - Clock::now());
        timeout = std::max(std::chrono::milliseconds(1), std::min(timeout, left));
      }
    }
    const auto started = Clock::now();
    ExportResult result = transport_->send(batch, timeout);
    const auto elapsed_us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count());

    std::unique_lock lock(mutex_);
    switch (result.outcome) {
      case ExportResult::Outcome::Success: {
        const auto rejected = static_cast<std::uint64_t>(
            std::clamp<std::int64_t>(result.rejected_spans, 0, static_cast<std::int64_t>(batch.size())));
        stats_.spans_exported += batch.size() - rejected;
        stats_.spans_rejected += rejected;
        ++stats_.batches_exported;
        stats_.export_latency_us_total += elapsed_us;
        stats_.export_latency_us_max = std::max(stats_.export_latency_us_max, elapsed_us);
        if (rejected > 0 || !result.message.empty()) {
          spdlog::warn("{}: backend accepted the batch but rejected {} of {} spans: {}", name_, rejected,
                       batch.size(), result.message.empty() ? "(no message)" : result.message);
        }
        failures_logged_ = 0;
        return;
      }
      case ExportResult::Outcome::Failed:
        stats_.spans_failed += batch.size();
        log_failure(result, batch.size(), true);
        return;
      case ExportResult::Outcome::Retryable:
        break;
    }
    // Retryable: wait, then send the same batch again.
    auto wait = result.retry_after ? std::min(*result.retry_after, std::chrono::milliseconds(300000))
                                   : next_backoff(attempt);
    if (stopping_) {
      const auto now = Clock::now();
      if (now + wait >= stop_deadline_) {
        stats_.spans_failed += batch.size();
        log_failure(result, batch.size(), true);
        return;
      }
    }
    log_failure(result, batch.size(), false);
    ++stats_.retries;
    const auto until = Clock::now() + wait;
    // Shutdown does not cut the wait short (the backend asked for it), but the deadline above
    // bounds it; a flush request does not either.
    wake_worker_.wait_until(lock, until, [&] { return Clock::now() >= until; });
  }
}

std::chrono::milliseconds BatchSpanProcessor::next_backoff(int attempt) {
  const double base = static_cast<double>(options_.initial_backoff.count()) *
                      std::pow(options_.backoff_multiplier, std::max(0, attempt - 1));
  const double capped = std::min(base, static_cast<double>(options_.max_backoff.count()));
  // Jitter over [capped/2, capped] so that many agents restarted together do not retry in step.
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(1.0, capped * jitter(rng_))));
}

void BatchSpanProcessor::log_failure(const ExportResult& result, std::size_t spans, bool final) {
  // First failure of an outage at warn, the rest at debug: a collector down for an hour must not
  // write a line per retry.
  const bool loud = failures_logged_++ == 0 || final;
  const auto level = loud ? spdlog::level::warn : spdlog::level::debug;
  if (final) {
    spdlog::log(level, "{}: dropping {} spans sent to {}: {}", name_, spans, transport_->describe(), result.message);
  } else {
    spdlog::log(level, "{}: export of {} spans to {} failed, will retry: {}", name_, spans, transport_->describe(),
                result.message);
  }
}

std::string format_stats(const ExportStats& s) {
  char latency[96];
  std::snprintf(latency, sizeof latency, "avg %.1f ms, max %.1f ms", static_cast<double>(s.average_latency_us()) / 1000.0,
                static_cast<double>(s.export_latency_us_max) / 1000.0);
  return "exported " + std::to_string(s.spans_exported) + " spans in " + std::to_string(s.batches_exported) +
         " batches (" + latency + "), dropped " + std::to_string(s.spans_dropped) + " (queue full), failed " +
         std::to_string(s.spans_failed) + ", rejected " + std::to_string(s.spans_rejected) + ", retries " +
         std::to_string(s.retries) + ", queue " + std::to_string(s.queue_length) + "/" +
         std::to_string(s.queue_capacity) + " (max " + std::to_string(s.queue_length_max) + ")";
}

}  // namespace zt::exporters
