#include "protocols/kafka/kafka_catalog.h"

namespace zt::protocols::kafka {

Catalog& Catalog::instance() {
  static Catalog catalog;
  return catalog;
}

std::string Catalog::client_key(std::uint32_t pid, std::string_view client_id) {
  std::string key = std::to_string(pid);
  key += '/';
  key += client_id;
  return key;
}

std::string Catalog::partition_key(std::string_view broker, std::string_view topic, std::int32_t partition) {
  std::string key(broker);
  key += '|';
  key += topic;
  key += '|';
  key += std::to_string(partition);
  return key;
}

template <typename Map>
void Catalog::bound(Map& map, std::deque<typename Map::key_type>& order, std::size_t limit) {
  while (map.size() > limit && !order.empty()) {
    stats_.evicted += map.erase(order.front());
    order.pop_front();
  }
}

void Catalog::learn_topic(const TopicId& id, std::string_view name) {
  if (is_zero(id) || name.empty()) return;
  std::lock_guard lock(mu_);
  std::string key(reinterpret_cast<const char*>(id.data()), id.size());
  auto [it, inserted] = topics_.try_emplace(key, name);
  if (!inserted) {
    it->second = name;  // a recreated topic gets a new id, never an id a new name
    return;
  }
  ++stats_.topic_ids_learned;
  topic_order_.push_back(std::move(key));
  bound(topics_, topic_order_, limits_.topics);
}

std::optional<std::string> Catalog::topic_name(const TopicId& id) {
  std::lock_guard lock(mu_);
  auto it = topics_.find(std::string(reinterpret_cast<const char*>(id.data()), id.size()));
  if (it == topics_.end()) {
    ++stats_.topic_ids_unresolved;
    return std::nullopt;
  }
  return it->second;
}

void Catalog::learn_group(std::uint32_t pid, std::string_view client_id, std::string_view group) {
  if (group.empty()) return;
  std::lock_guard lock(mu_);
  std::string key = client_key(pid, client_id);
  auto [it, inserted] = clients_.try_emplace(key);
  it->second.group = group;
  if (inserted) {
    client_order_.push_back(std::move(key));
    bound(clients_, client_order_, limits_.clients);
  }
}

void Catalog::learn_software(std::uint32_t pid, std::string_view client_id, std::string_view software) {
  if (software.empty()) return;
  std::lock_guard lock(mu_);
  std::string key = client_key(pid, client_id);
  auto [it, inserted] = clients_.try_emplace(key);
  it->second.software = software;
  if (inserted) {
    client_order_.push_back(std::move(key));
    bound(clients_, client_order_, limits_.clients);
  }
}

std::string Catalog::group(std::uint32_t pid, std::string_view client_id) const {
  std::lock_guard lock(mu_);
  auto it = clients_.find(client_key(pid, client_id));
  return it == clients_.end() ? std::string() : it->second.group;
}

std::string Catalog::software(std::uint32_t pid, std::string_view client_id) const {
  std::lock_guard lock(mu_);
  auto it = clients_.find(client_key(pid, client_id));
  return it == clients_.end() ? std::string() : it->second.software;
}

void Catalog::learn_cluster(std::string_view broker, std::string_view cluster_id) {
  if (broker.empty() || cluster_id.empty()) return;
  std::lock_guard lock(mu_);
  auto [it, inserted] = brokers_.try_emplace(std::string(broker), cluster_id);
  if (!inserted) {
    it->second = cluster_id;
    return;
  }
  broker_order_.emplace_back(broker);
  bound(brokers_, broker_order_, limits_.brokers);
}

std::string Catalog::cluster(std::string_view broker) const {
  std::lock_guard lock(mu_);
  auto it = brokers_.find(std::string(broker));
  return it == brokers_.end() ? std::string() : it->second;
}

void Catalog::remember_send(std::string_view broker, std::string_view topic, std::int32_t partition, std::int64_t base,
                            std::uint64_t count, const trace::SpanContext& send) {
  if (topic.empty() || base < 0 || count == 0) return;
  std::lock_guard lock(mu_);
  std::string key = partition_key(broker, topic, partition);
  sends_[key][base] = Send{count, send};
  ++stats_.sends_remembered;
  send_order_.emplace_back(std::move(key), base);
  std::size_t live = send_order_.size();
  while (live > limits_.sends) {
    auto& [k, b] = send_order_.front();
    if (auto it = sends_.find(k); it != sends_.end()) {
      stats_.evicted += it->second.erase(b);
      if (it->second.empty()) sends_.erase(it);
    }
    send_order_.pop_front();
    --live;
  }
}

void Catalog::remember_pending_send(std::string_view broker, std::string_view topic, std::int32_t partition,
                                    std::vector<RecordSignature> records, const trace::SpanContext& send) {
  if (topic.empty() || records.empty()) return;
  std::lock_guard lock(mu_);
  if (pending_count_ >= limits_.pending_sends) {
    // Full: sends whose responses never came (lost to the capture). Drop every partition's oldest.
    for (auto it = pending_sends_.begin(); it != pending_sends_.end();) {
      it->second.pop_front();
      --pending_count_;
      ++stats_.evicted;
      it = it->second.empty() ? pending_sends_.erase(it) : std::next(it);
    }
  }
  pending_sends_[partition_key(broker, topic, partition)].push_back(PendingSend{std::move(records), send});
  ++pending_count_;
}

void Catalog::settle_pending_send(std::string_view broker, std::string_view topic, std::int32_t partition,
                                  const trace::SpanId& send) {
  std::lock_guard lock(mu_);
  auto it = pending_sends_.find(partition_key(broker, topic, partition));
  if (it == pending_sends_.end()) return;
  pending_count_ -= std::erase_if(it->second, [&](const PendingSend& p) { return p.context.span_id == send; });
  if (it->second.empty()) pending_sends_.erase(it);
}

std::optional<trace::SpanContext> Catalog::find_send(std::string_view broker, std::string_view topic,
                                                     std::int32_t partition, std::int64_t offset,
                                                     const RecordSignature* record) {
  std::lock_guard lock(mu_);
  const std::string key = partition_key(broker, topic, partition);
  if (auto it = sends_.find(key); it != sends_.end() && !it->second.empty()) {
    auto next = it->second.upper_bound(offset);
    if (next != it->second.begin()) {
      const auto& [base, send] = *std::prev(next);
      if (offset < base + static_cast<std::int64_t>(send.count)) {
        ++stats_.sends_matched;
        return send.context;
      }
    }
  }
  // Not settled yet: the broker had the record before it answered the producer, and the consumer
  // may read it first. Match by the record itself, oldest send first; several sends of identical
  // records to one partition in flight at once are told apart by their order only.
  if (!record) return std::nullopt;
  auto it = pending_sends_.find(key);
  if (it == pending_sends_.end()) return std::nullopt;
  for (const auto& pending : it->second) {
    for (const auto& r : pending.records) {
      if (r == *record) {
        ++stats_.sends_matched;
        ++stats_.sends_matched_pending;
        return pending.context;
      }
    }
  }
  return std::nullopt;
}

CatalogStats Catalog::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Catalog::clear() {
  std::lock_guard lock(mu_);
  topics_.clear();
  topic_order_.clear();
  clients_.clear();
  client_order_.clear();
  brokers_.clear();
  broker_order_.clear();
  sends_.clear();
  send_order_.clear();
  pending_sends_.clear();
  pending_count_ = 0;
  stats_ = {};
}

}  // namespace zt::protocols::kafka
