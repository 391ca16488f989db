#include "protocols/http1/http1_connection.h"

#include <utility>

namespace zt::protocols::http1 {
namespace {

// Enough for 100 Continue plus 103 Early Hints; more is a misbehaving peer, not real interims.
constexpr std::size_t kMaxInterimResponses = 16;

std::size_t index_of(Direction dir) { return static_cast<std::size_t>(dir); }

Direction opposite(Direction dir) { return dir == Direction::Egress ? Direction::Ingress : Direction::Egress; }

bool is_interim(const HttpMessage& response) { return response.status_code < 200 && response.status_code != 101; }

}  // namespace

Http1ConnectionParser::Http1ConnectionParser(Role role, bool midstream) : role_(role), midstream_(midstream) {
  if (role_ != Role::Unknown) create_parsers();
}

void Http1ConnectionParser::on_chunk(Direction dir, const Chunk& chunk) {
  if (closed_ || tunnelled_) return;
  if (role_ == Role::Unknown && !infer_role(dir, chunk.gap ? std::string_view{} : chunk.data)) {
    stats_.bytes_skipped += chunk.size;
    skipped_before_role_[index_of(dir)] = true;
    return;
  }
  parser_for(dir).feed(chunk, *this);
}

void Http1ConnectionParser::on_close(std::uint64_t /*ts_ns*/) {
  // Messages end at the chunk holding their last byte, so the close time itself is not needed.
  if (closed_) return;
  closed_ = true;
  if (request_parser_) request_parser_->finish(*this);
  if (response_parser_) response_parser_->finish(*this);
  while (!pending_.empty()) {
    complete_exchange(std::move(pending_.front()));
    pending_.pop_front();
  }
}

std::uint64_t Http1ConnectionParser::skip_until(Direction dir) const {
  if (closed_ || tunnelled_ || role_ == Role::Unknown) return 0;
  return dir == request_direction() ? request_parser_->skip_until() : response_parser_->skip_until();
}

std::vector<Record> Http1ConnectionParser::take_records() { return std::exchange(records_, {}); }

bool Http1ConnectionParser::infer_role(Direction dir, std::string_view data) {
  // Requests flow from client to server, responses back.
  if (begins_with_request_line(data)) {
    role_ = dir == Direction::Egress ? Role::Client : Role::Server;
  } else if (begins_with_status_line(data)) {
    role_ = dir == Direction::Ingress ? Role::Client : Role::Server;
  } else {
    return false;
  }
  create_parsers();
  return true;
}

Direction Http1ConnectionParser::request_direction() const {
  return role_ == Role::Server ? Direction::Ingress : Direction::Egress;
}

void Http1ConnectionParser::create_parsers() {
  const Direction requests = request_direction();
  const Direction responses = opposite(requests);
  request_parser_.emplace(MessageKind::Request, requests, midstream_ || skipped_before_role_[index_of(requests)],
                          stats_);
  response_parser_.emplace(MessageKind::Response, responses, midstream_ || skipped_before_role_[index_of(responses)],
                           stats_);
}

Http1Parser& Http1ConnectionParser::parser_for(Direction dir) {
  return dir == request_direction() ? *request_parser_ : *response_parser_;
}

void Http1ConnectionParser::on_message(HttpMessage&& message) {
  if (message.is_request) {
    on_request(std::move(message));
  } else {
    on_response(std::move(message));
  }
}

std::string_view Http1ConnectionParser::method_of_answered_request() const {
  if (!pending_.empty()) return pending_.front().request.method;
  if (const HttpMessage* request = request_still_arriving()) return request->method;
  return {};
}

const HttpMessage* Http1ConnectionParser::request_still_arriving() const {
  if (!pending_.empty() || early_.final_response || !request_parser_) return nullptr;
  return request_parser_->message_in_progress();
}

void Http1ConnectionParser::on_request(HttpMessage&& request) {
  HttpExchange exchange;
  exchange.request = std::move(request);
  exchange.interim = std::exchange(early_.interim, {});
  identify(request_view(exchange.request), role_, exchange.identity);
  if (early_.final_response) {
    exchange.response = std::move(*early_.final_response);
    early_.final_response.reset();
    complete_exchange(std::move(exchange));
    return;
  }
  if (pending_.size() == kMaxPendingRequests) {
    pending_.pop_front();
    ++requests_evicted_;
    ++stats_.requests_evicted;
  }
  pending_.push_back(std::move(exchange));
}

void Http1ConnectionParser::on_response(HttpMessage&& response) {
  const std::string_view method = method_of_answered_request();
  const bool success = response.status_code >= 200 && response.status_code < 300;
  if (response.status_code == 101 || (method == "CONNECT" && success)) tunnelled_ = true;

  std::vector<HttpMessage>* interim = nullptr;
  if (!pending_.empty()) {
    interim = &pending_.front().interim;
  } else if (request_still_arriving() != nullptr) {
    interim = &early_.interim;
  } else {
    ++stats_.unmatched_responses;
    return;
  }
  if (is_interim(response)) {
    if (interim->size() == kMaxInterimResponses) {
      ++stats_.unmatched_responses;
      return;
    }
    interim->push_back(std::move(response));
  } else if (!pending_.empty()) {
    HttpExchange exchange = std::move(pending_.front());
    pending_.pop_front();
    exchange.response = std::move(response);
    complete_exchange(std::move(exchange));
  } else {
    early_.final_response = std::move(response);
  }
}

void Http1ConnectionParser::complete_exchange(HttpExchange&& exchange) { records_.emplace_back(std::move(exchange)); }

}  // namespace zt::protocols::http1
