#include "protocols/kafka/kafka_connection.h"

#include <algorithm>

#include "context/trace_context.h"
#include "trace/span.h"

namespace zt::protocols::kafka {
namespace {

constexpr std::size_t kRequestHeaderBytes = 12;  // size, api_key, api_version, correlation_id
constexpr std::size_t kResponseHeaderBytes = 8;  // size, correlation_id

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::int16_t be16(const std::uint8_t* p) { return static_cast<std::int16_t>((p[0] << 8) | p[1]); }

std::span<const std::uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// A frame's captured bytes after its 4-byte size, and whether all of the frame is there.
struct FrameBody {
  std::span<const std::uint8_t> bytes;
  bool whole = false;
};
FrameBody after_size(const Frame& frame) {
  auto all = as_bytes(frame.bytes);
  return {all.size() >= 4 ? all.subspan(4) : std::span<const std::uint8_t>{},
          frame.complete && frame.bytes.size() >= frame.size};
}

std::string traceparent_of(const trace::SpanContext& ctx) {
  return "00-" + trace::to_hex(ctx.trace_id) + "-" + trace::to_hex(ctx.span_id) + "-" +
         (ctx.trace_flags & trace::kTraceFlagSampled ? "01" : "00");
}

// Adds a link unless one to the same span is there; false when the bound was reached.
void add_link(KafkaRecord& record, trace::Link link) {
  for (const auto& l : record.links) {
    if (l.span_id == link.span_id && l.trace_id == link.trace_id) return;
  }
  if (record.links.size() >= trace::kMaxLinksPerSpan) {
    ++record.dropped_links;
    return;
  }
  record.links.push_back(std::move(link));
}

std::optional<trace::Link> link_from_headers(const RecordInfo& info) {
  if (!info.traceparent) return std::nullopt;
  auto ctx = context::parse_traceparent(*info.traceparent);
  if (!ctx) return std::nullopt;
  trace::Link link;
  link.trace_id = ctx->trace_id;
  link.span_id = ctx->span_id;
  link.trace_flags = ctx->sampled ? trace::kTraceFlagSampled : 0;
  if (info.tracestate && context::valid_tracestate(*info.tracestate)) link.trace_state = *info.tracestate;
  link.attributes.push_back({"zerotrace.link.source", std::string("record_header")});
  return link;
}

// The one record a set delivered, when there is exactly one and it was decoded.
const RecordInfo* single_record(const std::vector<const RecordSet*>& sets) {
  std::uint64_t total = 0;
  const RecordInfo* only = nullptr;
  for (const auto* s : sets) {
    total += s->record_count;
    if (!s->records.empty()) only = &s->records.front();
  }
  return total == 1 ? only : nullptr;
}

}  // namespace

bool plausible_request_size(std::uint32_t size, const ParserOptions& options) {
  return size >= kRequestHeaderBytes - 4 + 2 && size <= options.max_frame_bytes;
}

KafkaConnectionParser::KafkaConnectionParser(Role role, bool midstream, ParserOptions options, Catalog* catalog)
    : role_(role == Role::Unknown ? Role::Client : role),
      options_(options),
      catalog_(catalog),
      requests_(
          LengthPrefixedFormat{kRequestHeaderBytes,
                               [this](std::span<const std::uint8_t> h) -> std::optional<std::uint64_t> {
                                 const std::uint32_t size = be32(h.data());
                                 if (!plausible_request_size(size, options_)) return std::nullopt;
                                 const ApiInfo* api = api_info(be16(h.data() + 4));
                                 const std::int16_t version = be16(h.data() + 6);
                                 if (!api || version < api->min_version || version > api->max_version ||
                                     static_cast<std::int32_t>(be32(h.data() + 8)) < 0) {
                                   return std::nullopt;
                                 }
                                 return size - (kRequestHeaderBytes - 4);
                               },
                               options.keep_bytes},
          [this](Frame&& f) { on_request(std::move(f)); }, true),
      responses_(LengthPrefixedFormat{kResponseHeaderBytes,
                                      [this](std::span<const std::uint8_t> h) -> std::optional<std::uint64_t> {
                                        if (!plausible_response(h)) return std::nullopt;
                                        return be32(h.data()) - (kResponseHeaderBytes - 4);
                                      },
                                      options.keep_bytes},
                 [this](Frame&& f) { on_response(std::move(f)); }, !midstream) {}

bool KafkaConnectionParser::plausible_response(std::span<const std::uint8_t> h) const {
  const std::uint32_t size = be32(h.data());
  const auto correlation = static_cast<std::int32_t>(be32(h.data() + 4));
  if (size < kResponseHeaderBytes - 4 || size > options_.max_frame_bytes || correlation < 0) return false;
  if (responses_.in_sync()) return true;
  // Out of framing: only a response to a request seen is a frame boundary worth trusting.
  return std::any_of(pending_.begin(), pending_.end(),
                     [&](const Pending& p) { return p.header.correlation_id == correlation; });
}

void KafkaConnectionParser::on_chunk(Direction dir, const Chunk& chunk) {
  (dir == request_dir() ? requests_ : responses_).on_chunk(chunk);
}

std::uint64_t KafkaConnectionParser::skip_until(Direction dir) const {
  return (dir == request_dir() ? requests_ : responses_).skip_until();
}

std::string KafkaConnectionParser::broker() const {
  const ConnectionInfo* c = connection();
  if (!c) return {};
  const Endpoint& peer = role_ == Role::Server ? c->local : c->remote;
  return peer.address + ":" + std::to_string(peer.port);
}

void KafkaConnectionParser::fill_client_facts(KafkaRecord& record) const {
  const ConnectionInfo* c = connection();
  const std::uint32_t pid = c ? c->pid : 0;
  record.consumer_group = catalog_->group(pid, record.client_id);
  record.client_software = catalog_->software(pid, record.client_id);
  record.cluster_id = catalog_->cluster(broker());
}

void KafkaConnectionParser::settle(Pending& p) {
  const std::string peer = broker();
  for (std::size_t i = 0; i < p.sends.size(); ++i) {
    for (const auto& [partition, count] : p.sent[i]) {
      catalog_->settle_pending_send(peer, p.sends[i].topic, partition, p.sends[i].identity.span_id);
    }
  }
}

void KafkaConnectionParser::close_unanswered(Pending& p, bool lost) {
  settle(p);
  for (auto& r : p.sends) {
    r.response_lost = lost;
    emit(std::move(r));
  }
}

void KafkaConnectionParser::emit(KafkaRecord&& record) {
  ++stats_.messages;
  out_.emplace_back(std::move(record));
}

void KafkaConnectionParser::on_request(Frame&& frame) {
  const FrameBody fb = after_size(frame);
  auto header = parse_request_header(fb.bytes);
  if (!header) {
    ++stats_.parse_errors;
    return;
  }
  catalog_->add(&CatalogStats::requests);
  Pending p;
  p.header = *header;
  p.client_id = header->client_id.value_or("");
  p.start_ns = frame.start_ns;
  p.end_ns = frame.end_ns;
  p.tid = frame.tid;
  p.bytes = frame.size;
  p.truncated = !fb.whole;
  const auto body = fb.bytes.subspan(std::min(header->length, fb.bytes.size()));
  const ConnectionInfo* c = connection();
  const std::uint32_t pid = c ? c->pid : 0;

  switch (header->api_key) {
    case kProduce:
      request_produce(p, body);
      break;
    case kApiVersions: {
      const auto req = decode_api_versions_request(body, header->api_version);
      if (!req.client_software_name.empty()) {
        std::string software = req.client_software_name;
        if (!req.client_software_version.empty()) software += "/" + req.client_software_version;
        catalog_->learn_software(pid, p.client_id, software);
      }
      catalog_->add(&CatalogStats::other_requests);
      break;
    }
    case kFetch:
    case kMetadata:
      break;
    default:
      if (auto group = decode_group_request(header->api_key, body, header->api_version); group && !group->malformed) {
        catalog_->learn_group(pid, p.client_id, group->group_id);
      }
      catalog_->add(&CatalogStats::other_requests);
      break;
  }
  if (p.header.api_key == kProduce && !p.sends.empty() && !p.sends.front().response_expected) {
    // acks=0: the broker will not answer; the send ends when it is written.
    for (auto& r : p.sends) emit(std::move(r));
    catalog_->add(&CatalogStats::produces_without_ack);
    return;
  }
  if (pending_.size() >= options_.max_pending) {
    close_unanswered(pending_.front(), true);
    pending_.pop_front();
    ++stats_.requests_evicted;
  }
  pending_.push_back(std::move(p));
}

void KafkaConnectionParser::request_produce(Pending& p, std::span<const std::uint8_t> body) {
  const auto req = decode_produce_request(body, p.header.api_version, options_.limits);
  if (req.malformed) catalog_->add(&CatalogStats::malformed_bodies);
  if (req.truncated) catalog_->add(&CatalogStats::truncated_bodies);
  const Role role = role_;
  for (const auto& topic : req.topics) {
    if (p.sends.size() >= options_.max_records_per_frame) break;
    KafkaRecord r;
    r.operation = KafkaOperation::Send;
    r.api_version = p.header.api_version;
    r.correlation_id = p.header.correlation_id;
    r.client_id = p.client_id;
    r.topic = topic.name;
    r.topic_id = topic.topic_id;
    if (r.topic.empty() && !is_zero(r.topic_id)) r.topic = catalog_->topic_name(r.topic_id).value_or("");
    r.acks = req.acks;
    r.response_expected = req.acks != 0;
    r.truncated = p.truncated || req.truncated || req.malformed;
    r.request_bytes = p.bytes;
    r.start_ns = p.start_ns;
    r.end_ns = p.end_ns;
    r.tid = p.tid;
    std::vector<std::pair<std::int32_t, std::uint64_t>> sent;
    std::vector<const RecordSet*> sets;
    for (const auto& part : topic.partitions) {
      r.partitions.push_back(part.index);
      r.message_count += part.records.record_count;
      sent.emplace_back(part.index, part.records.record_count);
      sets.push_back(&part.records);
      if (part.records.decompress_failures) {
        catalog_->add(&CatalogStats::decompress_failures, part.records.decompress_failures);
      }
      for (const auto& info : part.records.records) {
        if (auto link = link_from_headers(info)) {
          add_link(r, std::move(*link));
          catalog_->add(&CatalogStats::links_from_headers);
        }
      }
    }
    if (const RecordInfo* one = single_record(sets)) {
      r.key = one->key;
      r.tombstone = one->value_size < 0;
    }
    fill_client_facts(r);
    // A send's parent is the work its thread was doing (the propagation model), never the
    // creation context in its records: that is the instrumented producer's own span, linked.
    RequestView view = request_view(r);
    view.headers = {};
    identify(view, role, r.identity);
    if (r.identity.assigned && r.response_expected) {
      const trace::SpanContext ctx{r.identity.trace_id, r.identity.span_id, r.identity.trace_flags, r.identity.trace_state};
      for (const auto& part : topic.partitions) {
        std::vector<Catalog::RecordSignature> signatures;
        for (const auto& info : part.records.records) signatures.push_back({info.key, info.value_size});
        catalog_->remember_pending_send(broker(), r.topic, part.index, std::move(signatures), ctx);
      }
    }
    p.sends.push_back(std::move(r));
    p.sent.push_back(std::move(sent));
  }
}

void KafkaConnectionParser::on_response(Frame&& frame) {
  const FrameBody fb = after_size(frame);
  if (fb.bytes.size() < 4) {
    ++stats_.parse_errors;
    return;
  }
  const auto correlation = static_cast<std::int32_t>(be32(fb.bytes.data()));
  auto it = std::find_if(pending_.begin(), pending_.end(),
                         [&](const Pending& p) { return p.header.correlation_id == correlation; });
  if (it == pending_.end()) {
    ++stats_.unmatched_responses;
    return;
  }
  catalog_->add(&CatalogStats::responses);
  // Responses come in request order: requests before this one will get none (lost to the capture).
  for (auto older = pending_.begin(); older != it; ++older) close_unanswered(*older, true);
  Pending p = std::move(*it);
  pending_.erase(pending_.begin(), std::next(it));

  const auto rh = parse_response_header(fb.bytes, response_header_version(p.header.api_key, p.header.api_version));
  if (!rh) {
    ++stats_.parse_errors;
    close_unanswered(p, true);
    return;
  }
  const auto body = fb.bytes.subspan(std::min(rh->length, fb.bytes.size()));
  switch (p.header.api_key) {
    case kProduce:
      answer_produce(p, body, frame);
      break;
    case kFetch:
      answer_fetch(p, body, frame);
      break;
    case kMetadata:
      answer_metadata(p, body);
      break;
    default:
      break;
  }
}

void KafkaConnectionParser::answer_produce(Pending& p, std::span<const std::uint8_t> body, const Frame& frame) {
  const auto resp = decode_produce_response(body, p.header.api_version, options_.limits);
  if (resp.malformed) catalog_->add(&CatalogStats::malformed_bodies);
  settle(p);
  const std::string peer = broker();
  for (std::size_t i = 0; i < p.sends.size(); ++i) {
    KafkaRecord& r = p.sends[i];
    r.response_seen = true;
    r.end_ns = frame.end_ns;
    r.response_bytes = frame.size;
    const TopicData* topic = nullptr;
    for (const auto& t : resp.topics) {
      if ((!t.name.empty() && t.name == r.topic) || (!is_zero(t.topic_id) && t.topic_id == r.topic_id)) {
        topic = &t;
        break;
      }
    }
    if (!topic) continue;
    trace::SpanContext ctx{r.identity.trace_id, r.identity.span_id, r.identity.trace_flags, r.identity.trace_state};
    for (const auto& part : topic->partitions) {
      if (part.error_code != 0 && r.error_code == 0) r.error_code = part.error_code;
      if (part.error_code != 0 || part.offset < 0) continue;
      std::uint64_t count = 0;
      for (const auto& [index, n] : p.sent[i]) {
        if (index == part.index) count = n;
      }
      if (r.message_count == 1 && r.partitions.size() == 1) r.offset = part.offset;
      if (r.identity.assigned) catalog_->remember_send(peer, r.topic, part.index, part.offset, count, ctx);
    }
  }
  for (auto& r : p.sends) emit(std::move(r));
}

void KafkaConnectionParser::answer_fetch(const Pending& p, std::span<const std::uint8_t> body, const Frame& frame) {
  const auto resp = decode_fetch_response(body, p.header.api_version, options_.limits);
  if (resp.malformed) catalog_->add(&CatalogStats::malformed_bodies);
  if (resp.truncated) catalog_->add(&CatalogStats::truncated_bodies);
  const std::string peer = broker();
  std::size_t made = 0;
  for (const auto& topic : resp.topics) {
    if (made >= options_.max_records_per_frame) break;
    KafkaRecord r;
    r.operation = KafkaOperation::Fetch;
    r.api_version = p.header.api_version;
    r.correlation_id = p.header.correlation_id;
    r.client_id = p.client_id;
    r.topic = topic.name;
    r.topic_id = topic.topic_id;
    if (r.topic.empty() && !is_zero(r.topic_id)) r.topic = catalog_->topic_name(r.topic_id).value_or("");
    r.error_code = resp.error_code;
    std::vector<const RecordSet*> sets;
    for (const auto& part : topic.partitions) {
      if (part.error_code != 0 && r.error_code == 0) r.error_code = part.error_code;
      if (part.records.record_count == 0) continue;
      r.partitions.push_back(part.index);
      r.message_count += part.records.record_count;
      sets.push_back(&part.records);
      if (part.records.decompress_failures) {
        catalog_->add(&CatalogStats::decompress_failures, part.records.decompress_failures);
      }
      for (const auto& info : part.records.records) {
        if (auto link = link_from_headers(info)) {
          add_link(r, std::move(*link));
          catalog_->add(&CatalogStats::links_from_headers);
        }
        const Catalog::RecordSignature signature{info.key, info.value_size};
        if (auto send = catalog_->find_send(peer, r.topic, part.index, info.offset, &signature)) {
          trace::Link link{send->trace_id, send->span_id, send->trace_flags, send->trace_state, true, {}};
          link.attributes.push_back({"zerotrace.link.source", std::string("same_node_send")});
          add_link(r, std::move(link));
          catalog_->add(&CatalogStats::links_from_sends);
        }
      }
      if (part.records.records.empty() && part.records.first_offset >= 0) {
        // The batch header was seen but none of its records: match the batch by its first offset.
        if (auto send = catalog_->find_send(peer, r.topic, part.index, part.records.first_offset)) {
          trace::Link link{send->trace_id, send->span_id, send->trace_flags, send->trace_state, true, {}};
          link.attributes.push_back({"zerotrace.link.source", std::string("same_node_send")});
          add_link(r, std::move(link));
          catalog_->add(&CatalogStats::links_from_sends);
        }
      }
    }
    if (r.message_count == 0 && r.error_code == 0) continue;  // nothing delivered: no span
    if (const RecordInfo* one = single_record(sets)) {
      r.offset = one->offset;
      r.key = one->key;
      r.tombstone = one->value_size < 0;
      // One message: its creation context may parent the fetch (the conventions allow it for a
      // single message); the link stays, so batch and single fetches read the same way.
      if (one->traceparent && context::parse_traceparent(*one->traceparent)) {
        r.context_headers.emplace_back("traceparent", *one->traceparent);
        if (one->tracestate) r.context_headers.emplace_back("tracestate", *one->tracestate);
      } else if (r.links.size() == 1) {
        const auto& l = r.links.front();
        r.context_headers.emplace_back(
            "traceparent", traceparent_of(trace::SpanContext{l.trace_id, l.span_id, l.trace_flags, {}}));
      }
    }
    r.truncated = p.truncated || resp.truncated || !frame.complete;
    r.request_bytes = p.bytes;
    r.response_bytes = frame.size;
    r.response_seen = true;
    r.start_ns = p.start_ns;
    r.end_ns = frame.end_ns;
    r.tid = frame.tid;
    fill_client_facts(r);
    identify(request_view(r), role_, r.identity);
    emit(std::move(r));
    ++made;
  }
  if (made == 0) {
    catalog_->add(&CatalogStats::fetches_empty);
    // The thread fetched again: what it does next is not work on the previous fetch's messages.
    RequestView end{"kafka", "fetch", {}, {}, p.start_ns, frame.tid};
    end.scope = RequestView::Scope::Closes;
    RequestIdentity unused;
    identify(end, role_, unused);
  }
}

void KafkaConnectionParser::answer_metadata(const Pending& p, std::span<const std::uint8_t> body) {
  catalog_->add(&CatalogStats::metadata_responses);
  const auto resp = decode_metadata_response(body, p.header.api_version, options_.limits);
  if (resp.malformed) catalog_->add(&CatalogStats::malformed_bodies);
  for (const auto& t : resp.topics) {
    if (t.error_code == 0) catalog_->learn_topic(t.topic_id, t.name);
  }
  if (resp.cluster_id && !resp.cluster_id->empty()) {
    catalog_->learn_cluster(broker(), *resp.cluster_id);
    for (const auto& b : resp.brokers) catalog_->learn_cluster(b.host + ":" + std::to_string(b.port), *resp.cluster_id);
  }
}

void KafkaConnectionParser::on_close(std::uint64_t /*ts_ns*/) {
  // Produces still waiting: the response never came (connection closed, process gone).
  for (auto& p : pending_) close_unanswered(p, false);
  pending_.clear();
}

std::vector<Record> KafkaConnectionParser::take_records() { return std::exchange(out_, {}); }

const ParserStats& KafkaConnectionParser::stats() const {
  const auto& rq = requests_.stats();
  const auto& rs = responses_.stats();
  stats_.resyncs = rq.resyncs + rs.resyncs;
  stats_.bytes_skipped = rq.bytes_skipped + rs.bytes_skipped;
  return stats_;
}

}  // namespace zt::protocols::kafka
