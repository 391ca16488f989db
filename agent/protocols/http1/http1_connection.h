// HTTP/1.x for one connection: a request parser and a response parser, one per direction, and
// the stitcher that pairs each response with the oldest unanswered request (HTTP/1 answers in
// order, pipelined or not).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>
#include <vector>

#include "protocols/http1/http1_parser.h"
#include "protocols/protocol.h"

namespace zt::protocols::http1 {

class Http1ConnectionParser final : public ConnectionParser, private Http1MessageSink {
 public:
  static constexpr std::size_t kMaxPendingRequests = 256;

  // `role` Unknown: taken from the first chunk that begins with a request or status line.
  // `midstream`: the connection predates the agent; both directions start by resynchronising.
  Http1ConnectionParser(Role role, bool midstream);

  void on_chunk(Direction dir, const Chunk& chunk) override;
  void on_close(std::uint64_t ts_ns) override;
  std::vector<Record> take_records() override;
  Role role() const override { return role_; }
  const ParserStats& stats() const override { return stats_; }
  std::string_view protocol_name() const override { return "http1"; }
  std::uint64_t skip_until(Direction dir) const override;

  // Unanswered requests dropped because kMaxPendingRequests were already waiting.
  std::uint64_t requests_evicted() const { return requests_evicted_; }
  // After 101 Switching Protocols or a CONNECT 2xx the connection carries another protocol.
  bool tunnelled() const { return tunnelled_; }
  // Once tunnelled: bytes of the response chunk that switched protocols that were still HTTP/1
  // (Http1Parser::stop_offset); the rest of it is the new protocol's first bytes.
  std::size_t tunnel_offset() const { return response_parser_ ? response_parser_->stop_offset() : 0; }

 private:
  // Responses that came while their request's body was still arriving (100-continue, early errors).
  struct EarlyResponses {
    std::vector<HttpMessage> interim;
    std::optional<HttpMessage> final_response;
  };

  void on_message(HttpMessage&& message) override;
  std::string_view method_of_answered_request() const override;

  // The request whose body is still arriving, when the next response answers it.
  const HttpMessage* request_still_arriving() const;
  bool infer_role(Direction dir, std::string_view data);
  Direction request_direction() const;
  void create_parsers();
  Http1Parser& parser_for(Direction dir);
  void on_request(HttpMessage&& request);
  void on_response(HttpMessage&& response);
  void complete_exchange(HttpExchange&& exchange);

  Role role_;
  const bool midstream_;
  bool tunnelled_ = false;
  bool closed_ = false;
  std::array<bool, 2> skipped_before_role_{};  // per Direction: bytes dropped while role unknown
  ParserStats stats_;
  std::optional<Http1Parser> request_parser_;
  std::optional<Http1Parser> response_parser_;
  std::deque<HttpExchange> pending_;
  EarlyResponses early_;
  std::vector<Record> records_;
  std::uint64_t requests_evicted_ = 0;
};

}  // namespace zt::protocols::http1
