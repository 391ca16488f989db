#include "protocols/http2/http2_connection.h"

#include <algorithm>
#include <utility>

#include "core/text.h"
#include "protocols/http1/http1_parser.h"

namespace zt::protocols::http2 {
namespace {

// A payload buffer grown by a large header block is released rather than kept per connection.
constexpr std::size_t kRetainedBlockBytes = 4 * 1024;

std::size_t index_of(Direction dir) { return static_cast<std::size_t>(dir); }
Direction opposite(Direction dir) { return dir == Direction::Egress ? Direction::Ingress : Direction::Egress; }
Role opposite(Role role) {
  switch (role) {
    case Role::Client:
      return Role::Server;
    case Role::Server:
      return Role::Client;
    case Role::Unknown:
      break;
  }
  return Role::Unknown;
}

const std::string* find_field(const HeaderList& fields, std::string_view name) {
  for (const auto& [k, v] : fields) {
    if (k == name) return &v;
  }
  return nullptr;
}

// A pseudo-header's value; "*" when absent from a block that had unresolved fields.
std::string pseudo_header(const HeaderList& fields, std::string_view name, bool block_unresolved) {
  if (const std::string* value = find_field(fields, name)) return *value;
  return block_unresolved ? std::string(kUnresolved) : std::string();
}

bool has_pseudo_header(const HeaderList& fields) {
  return std::any_of(fields.begin(), fields.end(), [](const HeaderField& f) { return !f.first.empty() && f.first[0] == ':'; });
}

std::optional<int> parse_decimal(std::string_view s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  int value = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

int parse_status(const std::string* value) {
  if (value == nullptr) return 0;
  const std::optional<int> status = parse_decimal(*value, 3);
  return status && *status >= 100 ? *status : 0;
}

// /package.Service/Method, or unresolved.
bool is_grpc_path(std::string_view path) {
  if (path == kUnresolved) return true;
  const std::size_t slash = path.find('/', 1);
  return path.size() > 1 && path.front() == '/' && slash != std::string_view::npos && slash > 1 &&
         slash + 1 < path.size() && path.find('/', slash + 1) == std::string_view::npos;
}

}  // namespace

bool requests_h2c_upgrade(std::string_view data) {
  if (!http1::begins_with_request_line(data)) return false;
  std::size_t line_end = data.find('\n');
  while (line_end != std::string_view::npos) {
    const std::size_t start = line_end + 1;
    line_end = data.find('\n', start);
    std::string_view line = data.substr(start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return false;  // end of the header block
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !text::iequals(line.substr(0, colon), "upgrade")) continue;
    std::string_view tokens = line.substr(colon + 1);
    while (!tokens.empty()) {
      const std::size_t comma = tokens.find(',');
      if (text::iequals(text::trim(tokens.substr(0, comma)), "h2c")) return true;
      tokens = comma == std::string_view::npos ? std::string_view{} : tokens.substr(comma + 1);
    }
  }
  return false;
}

Http2ConnectionParser::Http2ConnectionParser(Role role, Mode mode) : role_(role), mode_(mode) {
  switch (mode_) {
    case Mode::PriorKnowledge:
      for (const Direction dir : {Direction::Egress, Direction::Ingress}) {
        Http2Framer::Start start = Http2Framer::Start::PrefaceOrFrames;
        if (role_ != Role::Unknown) {
          start = dir == request_direction() ? Http2Framer::Start::Preface : Http2Framer::Start::Frames;
        }
        framers_[index_of(dir)].emplace(dir, start, stats_);
        decoders_[index_of(dir)].emplace(true);
      }
      break;
    case Mode::Upgrade:
      http1_ = std::make_unique<http1::Http1ConnectionParser>(role_, false);
      http1_->set_request_hook(
          [this](const RequestView& request, Role request_role, RequestIdentity& identity) {
            identify(request, request_role, identity);
          });
      break;
    case Mode::Midstream:
      for (const Direction dir : {Direction::Egress, Direction::Ingress}) {
        framers_[index_of(dir)].emplace(dir, Http2Framer::Start::Resync, stats_);
        decoders_[index_of(dir)].emplace(false);
      }
      break;
  }
}

Http2ConnectionParser::~Http2ConnectionParser() = default;

std::string_view Http2ConnectionParser::protocol_name() const { return "http2"; }

bool Http2ConnectionParser::hpack_synced(Direction dir) const {
  const auto& decoder = decoders_[index_of(dir)];
  return decoder && decoder->synced();
}

Http2Stats Http2ConnectionParser::http2_stats() const {
  Http2Stats out = counts_;
  for (const auto& decoder : decoders_) {
    if (!decoder) continue;
    out.hpack_unresolved_references += decoder->stats().unresolved_references;
    out.hpack_errors += decoder->stats().errors;
    out.hpack_sync_losses += decoder->stats().sync_losses;
  }
  return out;
}

void Http2ConnectionParser::on_chunk(Direction dir, const Chunk& chunk) {
  if (closed_) return;
  if (mode_ == Mode::Upgrade && !upgraded_) {
    feed_upgrade(dir, chunk);
    return;
  }
  if (mode_ == Mode::Midstream && !fed_[index_of(dir)]) check_fresh_start(dir, chunk);
  fed_[index_of(dir)] = true;
  framers_[index_of(dir)]->feed(chunk, *this);
}

void Http2ConnectionParser::check_fresh_start(Direction dir, const Chunk& chunk) {
  // The client's first chunk is the preface: the connection is new, and the server cannot have
  // sent a header block yet (it answers requests, which follow the preface).
  if (chunk.gap || !begins_with_client_preface(chunk.data)) return;
  for (auto& decoder : decoders_) {
    if (!decoder->synced() && decoder->stats().blocks == 0) decoder.emplace(true);
  }
  if (role_ == Role::Unknown) role_ = dir == Direction::Egress ? Role::Client : Role::Server;
}

void Http2ConnectionParser::on_close(std::uint64_t ts_ns) {
  if (closed_) return;
  if (http1_ && !upgraded_) {
    http1_->on_close(ts_ns);
    take_http1_records();
  }
  closed_ = true;
  for (const Direction dir : {Direction::Egress, Direction::Ingress}) {
    if (blocks_[index_of(dir)].active) {
      blocks_[index_of(dir)].lost = true;
      finish_block(dir);
    }
  }
  while (!streams_.empty()) {
    Http2Exchange& exchange = streams_.begin()->second.exchange;
    exchange.closed_ns = std::max(exchange.closed_ns, ts_ns);
    complete(streams_.begin()->first, Http2Closure::ConnectionClosed);
  }
}

std::vector<Record> Http2ConnectionParser::take_records() {
  if (http1_ && !upgraded_) take_http1_records();
  return std::exchange(records_, {});
}

// --- h2c upgrade ---------------------------------------------------------------------------

void Http2ConnectionParser::feed_upgrade(Direction dir, const Chunk& chunk) {
  http1_->on_chunk(dir, chunk);
  if (role_ == Role::Unknown) role_ = http1_->role();
  const bool switched = http1_->tunnelled();
  take_http1_records();
  if (switched) start_http2(dir, chunk, http1_->tunnel_offset());
}

void Http2ConnectionParser::take_http1_records() {
  for (Record& record : http1_->take_records()) {
    auto* exchange = std::get_if<HttpExchange>(&record);
    if (exchange != nullptr && exchange->response && exchange->response->status_code == 101 && http1_->tunnelled() &&
        !upgraded_) {
      adopt_upgrade_request(std::move(*exchange));
    } else {
      records_.push_back(std::move(record));
    }
  }
}

void Http2ConnectionParser::adopt_upgrade_request(HttpExchange&& http1_exchange) {
  const HttpMessage& request = http1_exchange.request;
  Stream& stream = streams_[1];
  Http2Exchange& exchange = stream.exchange;
  exchange.stream_id = 1;
  exchange.upgraded = true;
  exchange.method = request.method;
  exchange.path = request.target;
  exchange.scheme = "http";
  if (const std::string* host = request.header("host")) exchange.authority = *host;
  exchange.interim_responses = static_cast<std::uint32_t>(http1_exchange.interim.size());
  exchange.identity = std::move(http1_exchange.identity);
  Http2Message& side = exchange.request;
  side.headers = {{":method", exchange.method}, {":path", exchange.path}, {":scheme", exchange.scheme}};
  if (!exchange.authority.empty()) side.headers.emplace_back(":authority", exchange.authority);
  side.headers.insert(side.headers.end(), request.headers.begin(), request.headers.end());
  side.header_block_bytes = request.header_bytes;
  side.data_bytes = request.body_bytes;
  side.headers_truncated = request.headers_truncated;
  side.end_stream = true;
  side.start_ns = request.start_ns;
  side.end_ns = request.end_ns;
  side.tid = request.tid;
  ++counts_.streams;
}

void Http2ConnectionParser::start_http2(Direction dir, const Chunk& chunk, std::size_t offset) {
  upgraded_ = true;
  const Direction client = request_direction();
  const Direction server = opposite(client);
  framers_[index_of(client)].emplace(client, Http2Framer::Start::Preface, stats_);
  framers_[index_of(server)].emplace(server, Http2Framer::Start::Frames, stats_);
  decoders_[index_of(client)].emplace(true);
  decoders_[index_of(server)].emplace(true);
  // The client's HTTP2-Settings, acknowledged by the 101.
  if (const auto it = streams_.find(1); it != streams_.end()) {
    if (const std::string* settings = it->second.exchange.request.header("http2-settings")) {
      // HTTP2-Settings is base64url (RFC 7540 3.2.1); one that does not decode is not applied.
      if (const std::optional<std::string> payload = text::base64_decode(*settings)) apply_settings(client, *payload, true);
    }
  }
  if (dir != server || chunk.gap) return;
  const std::string_view captured = chunk.data.substr(0, std::min<std::uint64_t>(chunk.data.size(), chunk.size));
  if (offset > captured.size()) return;
  Chunk rest = chunk;
  rest.position += offset;
  rest.data = captured.substr(offset);
  rest.size = chunk.size - offset;
  fed_[index_of(dir)] = true;
  if (rest.size > 0) framers_[index_of(dir)]->feed(rest, *this);
}

// --- frames ----------------------------------------------------------------------------------

void Http2ConnectionParser::on_preface(Direction dir) {
  if (role_ == Role::Unknown) role_ = dir == Direction::Egress ? Role::Client : Role::Server;
}

void Http2ConnectionParser::on_data(Direction dir, const Frame& frame, std::string_view captured,
                                    std::uint64_t uncaptured) {
  Stream* stream = find_stream(frame.header.stream_id);
  if (stream == nullptr) return;
  const bool request_side = dir == request_direction();
  Http2Message* side = request_side ? &stream->exchange.request
                                    : (stream->exchange.response ? &*stream->exchange.response : nullptr);
  if (side == nullptr) return;
  side->data_bytes += captured.size() + uncaptured;
  GrpcMessageCounter& counter = request_side ? stream->request_messages : stream->response_messages;
  if (!captured.empty()) counter.on_bytes(captured);
  if (uncaptured > 0) counter.on_uncaptured(uncaptured);
}

void Http2ConnectionParser::on_frame(Direction dir, const Frame& frame) {
  ++counts_.frames;
  PendingBlock& block = blocks_[index_of(dir)];
  if (block.active && !frame.header.is(FrameType::Continuation)) {
    // Only CONTINUATION may follow an unfinished header block (a connection error otherwise).
    block.lost = true;
    finish_block(dir);
  }
  switch (frame.header.frame_type()) {
    case FrameType::Data:
      on_data_frame(dir, frame);
      break;
    case FrameType::Headers:
    case FrameType::PushPromise:
      start_block(dir, frame);
      break;
    case FrameType::Continuation:
      continue_block(dir, frame);
      break;
    case FrameType::Settings:
      on_settings(dir, frame);
      break;
    case FrameType::RstStream:
      on_rst_stream(dir, frame);
      break;
    case FrameType::GoAway:
      on_goaway(dir, frame);
      break;
    case FrameType::Priority:
    case FrameType::Ping:
    case FrameType::WindowUpdate:
      break;
  }
}

void Http2ConnectionParser::on_framing_lost(Direction dir) {
  if (blocks_[index_of(dir)].active) {
    blocks_[index_of(dir)].lost = true;
    finish_block(dir);
  }
  // Header blocks may have been among the lost bytes.
  decoders_[index_of(dir)]->lose_sync();
  const bool request_side = dir == request_direction();
  for (auto& [id, stream] : streams_) {
    Http2Exchange& exchange = stream.exchange;
    exchange.degraded = true;
    if (request_side) {
      exchange.request.data_lost = true;
    } else if (exchange.response) {
      exchange.response->data_lost = true;
    }
  }
}

void Http2ConnectionParser::on_data_frame(Direction dir, const Frame& frame) {
  Stream* stream = find_stream(frame.header.stream_id);
  Http2Message* side = nullptr;
  if (stream != nullptr) {
    side = dir == request_direction() ? &stream->exchange.request
                                      : (stream->exchange.response ? &*stream->exchange.response : nullptr);
  }
  if (side == nullptr) {
    ++counts_.frames_for_unknown_streams;
    return;
  }
  side->end_ns = std::max(side->end_ns, frame.last_byte_ns);
  if (frame.header.has(flags::kEndStream)) {
    side->end_stream = true;
    maybe_complete(frame.header.stream_id);
  }
}

// --- header blocks ---------------------------------------------------------------------------

void Http2ConnectionParser::start_block(Direction dir, const Frame& frame) {
  const FrameHeader& header = frame.header;
  const std::string_view payload = frame.payload;
  PendingBlock& block = blocks_[index_of(dir)];
  block.active = true;
  block.push_promise = header.is(FrameType::PushPromise);
  block.end_stream = header.is(FrameType::Headers) && header.has(flags::kEndStream);
  block.stream_id = header.stream_id;
  block.wire_bytes = header.length;
  block.first_byte_ns = frame.first_byte_ns;
  block.last_byte_ns = frame.last_byte_ns;
  block.tid = frame.tid;
  block.bytes.clear();
  block.lost = false;

  // Pad Length, then the priority fields (HEADERS) or the promised stream id (PUSH_PROMISE).
  std::uint64_t offset = 0;
  std::uint64_t padding = 0;
  if (header.has(flags::kPadded)) {
    if (payload.empty()) {
      block.lost = true;  // the padding, hence where the fragment ends, is unknown
    } else {
      padding = static_cast<unsigned char>(payload.front());
      offset = 1;
    }
  }
  if (header.is(FrameType::Headers) && header.has(flags::kPriority)) offset += 5;
  if (block.push_promise) offset += 4;
  if (offset + padding > header.length) block.lost = true;  // padding longer than the frame
  if (!block.lost) {
    const std::uint64_t fragment_end = header.length - padding;
    const std::uint64_t captured_end = std::min<std::uint64_t>(payload.size(), fragment_end);
    if (captured_end > offset) {
      block.bytes.assign(payload.substr(static_cast<std::size_t>(offset), static_cast<std::size_t>(captured_end - offset)));
    }
    block.lost = captured_end < fragment_end;  // uncaptured padding alone loses nothing
  }
  if (header.has(flags::kEndHeaders)) finish_block(dir);
}

void Http2ConnectionParser::continue_block(Direction dir, const Frame& frame) {
  PendingBlock& block = blocks_[index_of(dir)];
  if (!block.active || block.stream_id != frame.header.stream_id) {
    // A fragment of a block whose start was not seen: it changed the table in unknown ways.
    ++counts_.header_blocks_lost;
    decoders_[index_of(dir)]->lose_sync();
    if (block.active) {
      block.lost = true;
      finish_block(dir);
    }
    return;
  }
  block.wire_bytes += frame.header.length;
  block.last_byte_ns = std::max(block.last_byte_ns, frame.last_byte_ns);
  if (!block.lost) {
    const std::size_t room = kMaxHeaderBlockBytes - std::min(kMaxHeaderBlockBytes, block.bytes.size());
    const std::size_t take = std::min(room, frame.payload.size());
    block.bytes.append(frame.payload.substr(0, take));
    if (take < frame.header.length) block.lost = true;  // not captured, or over the limit
  }
  if (frame.header.has(flags::kEndHeaders)) finish_block(dir);
}

void Http2ConnectionParser::finish_block(Direction dir) {
  PendingBlock& block = blocks_[index_of(dir)];
  block.active = false;
  ++counts_.header_blocks;
  if (block.lost) ++counts_.header_blocks_lost;
  DecodedHeaderBlock decoded = decoders_[index_of(dir)]->decode(block.bytes, !block.lost);
  if (decoded.error) {
    // Invalid HPACK (or a table the decoder got wrong): the decoder resynchronised its table.
    ++stats_.parse_errors;
    ++stats_.resyncs;
  }
  counts_.unresolved_headers += decoded.unresolved;
  counts_.inferred_header_names += decoded.inferred_names;
  on_header_block(dir, block, std::move(decoded));
  if (block.bytes.capacity() > kRetainedBlockBytes) {
    std::string().swap(block.bytes);
  } else {
    block.bytes.clear();
  }
}

void Http2ConnectionParser::on_header_block(Direction dir, const PendingBlock& block, DecodedHeaderBlock&& decoded) {
  if (block.push_promise) {
    ++counts_.pushed_streams;
    return;
  }
  if (role_ == Role::Unknown && !set_role_from_block(dir, decoded)) {
    ++counts_.frames_for_unknown_streams;  // neither a request nor a response, as far as it reads
    return;
  }
  if (dir == request_direction()) {
    on_request_block(block, std::move(decoded));
  } else {
    on_response_block(block, std::move(decoded));
  }
}

bool Http2ConnectionParser::set_role_from_block(Direction dir, const DecodedHeaderBlock& decoded) {
  // Requests flow from client to server.
  if (find_field(decoded.fields, ":method") != nullptr) {
    role_ = dir == Direction::Egress ? Role::Client : Role::Server;
  } else if (find_field(decoded.fields, ":status") != nullptr) {
    role_ = dir == Direction::Ingress ? Role::Client : Role::Server;
  }
  return role_ != Role::Unknown;
}

void Http2ConnectionParser::on_request_block(const PendingBlock& block, DecodedHeaderBlock&& decoded) {
  const std::uint32_t id = block.stream_id;
  if (Stream* stream = find_stream(id)) {
    // A later block of the request: its trailers.
    Http2Message& request = stream->exchange.request;
    if (request.end_stream) {
      ++counts_.frames_for_unknown_streams;
      return;
    }
    request.trailers = std::move(decoded.fields);
    request.unresolved_headers += decoded.unresolved;
    request.headers_truncated = request.headers_truncated || block.lost || decoded.cut;
    request.header_block_bytes += block.wire_bytes;
    request.end_ns = std::max(request.end_ns, block.last_byte_ns);
    request.end_stream = block.end_stream;
    maybe_complete(id);
    return;
  }
  if (!has_pseudo_header(decoded.fields) && decoded.unresolved == 0 && !decoded.cut) {
    // Trailers of a request sent before the agent attached.
    ++counts_.frames_for_unknown_streams;
    return;
  }
  if (streams_.size() >= kMaxOpenStreams) {
    streams_.erase(streams_.begin());
    ++stats_.requests_evicted;
  }
  Stream& stream = streams_[id];
  Http2Exchange& exchange = stream.exchange;
  exchange.stream_id = id;
  const bool unresolved = decoded.unresolved > 0;
  Http2Message& request = exchange.request;
  request.headers = std::move(decoded.fields);
  request.unresolved_headers = decoded.unresolved;
  request.headers_truncated = block.lost || decoded.cut;
  request.header_block_bytes = block.wire_bytes;
  request.end_stream = block.end_stream;
  request.start_ns = block.first_byte_ns;
  request.end_ns = block.last_byte_ns;
  request.tid = block.tid;
  exchange.method = pseudo_header(request.headers, ":method", unresolved);
  exchange.path = pseudo_header(request.headers, ":path", unresolved);
  exchange.scheme = pseudo_header(request.headers, ":scheme", unresolved);
  exchange.authority = pseudo_header(request.headers, ":authority", unresolved);
  ++counts_.streams;
  ++stats_.messages;
  identify(request_view(exchange), role_, exchange.identity);
  maybe_complete(id);
}

void Http2ConnectionParser::on_response_block(const PendingBlock& block, DecodedHeaderBlock&& decoded) {
  const std::uint32_t id = block.stream_id;
  Stream* stream = find_stream(id);
  if (stream == nullptr) {
    ++stats_.unmatched_responses;
    ++counts_.frames_for_unknown_streams;
    return;
  }
  Http2Exchange& exchange = stream->exchange;
  ++stats_.messages;
  if (!exchange.response) {
    const int status = parse_status(find_field(decoded.fields, ":status"));
    if (status >= 100 && status < 200 && !block.end_stream) {
      ++exchange.interim_responses;
      return;
    }
    Http2Message& response = exchange.response.emplace();
    response.headers = std::move(decoded.fields);
    response.unresolved_headers = decoded.unresolved;
    response.headers_truncated = block.lost || decoded.cut;
    response.header_block_bytes = block.wire_bytes;
    response.end_stream = block.end_stream;
    response.start_ns = block.first_byte_ns;
    response.end_ns = block.last_byte_ns;
    response.tid = block.tid;
    exchange.status_code = status;
    stream->response_headers_ended_stream = block.end_stream;
  } else {
    Http2Message& response = *exchange.response;
    response.trailers = std::move(decoded.fields);
    response.unresolved_headers += decoded.unresolved;
    response.headers_truncated = response.headers_truncated || block.lost || decoded.cut;
    response.header_block_bytes += block.wire_bytes;
    response.end_ns = std::max(response.end_ns, block.last_byte_ns);
    response.end_stream = response.end_stream || block.end_stream;
  }
  maybe_complete(id);
}

// --- control frames --------------------------------------------------------------------------

void Http2ConnectionParser::on_settings(Direction dir, const Frame& frame) {
  if (frame.header.has(flags::kAck)) {
    // Acknowledges the oldest SETTINGS sent the other way; its table size now bounds the
    // decoder of the bytes flowing this way (those its sender receives).
    auto& pending = pending_settings_[index_of(opposite(dir))];
    if (pending.empty()) return;  // sent before the agent attached
    const std::optional<std::uint32_t> table_size = pending.front();
    pending.pop_front();
    if (table_size) decoders_[index_of(dir)]->set_settings_table_size(*table_size);
    return;
  }
  apply_settings(dir, frame.payload, false);
}

void Http2ConnectionParser::apply_settings(Direction dir, std::string_view payload, bool acknowledged) {
  std::optional<std::uint32_t> table_size;
  const Direction received = opposite(dir);  // what the sender receives
  for_each_setting(payload, [&](const Setting& setting) {
    if (setting.id == settings::kHeaderTableSize) table_size = setting.value;
    if (setting.id == settings::kMaxFrameSize) framers_[index_of(received)]->allow_frame_length(setting.value);
  });
  if (acknowledged) {
    if (table_size) decoders_[index_of(received)]->set_settings_table_size(*table_size);
    return;
  }
  auto& pending = pending_settings_[index_of(dir)];
  if (pending.size() == kMaxPendingSettings) pending.pop_front();
  pending.push_back(table_size);
}

void Http2ConnectionParser::on_rst_stream(Direction dir, const Frame& frame) {
  const std::uint32_t id = frame.header.stream_id;
  Stream* stream = find_stream(id);
  if (stream == nullptr) {
    ++counts_.frames_for_unknown_streams;
    return;
  }
  Http2Exchange& exchange = stream->exchange;
  if (frame.payload.size() >= 4) exchange.error_code = read_u32(frame.payload);
  exchange.reset_by = sender_of(dir);
  exchange.closed_ns = frame.last_byte_ns;
  ++counts_.streams_reset;
  complete(id, Http2Closure::Reset);
}

void Http2ConnectionParser::on_goaway(Direction dir, const Frame& frame) {
  // Only the server's GOAWAY concerns the streams reported here (the client's names pushes).
  if (frame.payload.size() < 8 || sender_of(dir) != Role::Server) return;
  const std::uint32_t last_stream_id = read_u32(frame.payload) & 0x7fffffffu;
  const std::uint32_t error_code = read_u32(frame.payload.substr(4));
  std::vector<std::uint32_t> refused;
  for (auto it = streams_.upper_bound(last_stream_id); it != streams_.end(); ++it) {
    if (it->first % 2 == 1) refused.push_back(it->first);
  }
  for (const std::uint32_t id : refused) {
    Http2Exchange& exchange = streams_.at(id).exchange;
    exchange.error_code = error_code;
    exchange.closed_ns = frame.last_byte_ns;
    ++counts_.streams_refused;
    complete(id, Http2Closure::GoAway);
  }
}

// --- streams ---------------------------------------------------------------------------------

Direction Http2ConnectionParser::request_direction() const {
  return role_ == Role::Server ? Direction::Ingress : Direction::Egress;
}

Role Http2ConnectionParser::sender_of(Direction dir) const {
  return dir == Direction::Egress ? role_ : opposite(role_);
}

Http2ConnectionParser::Stream* Http2ConnectionParser::find_stream(std::uint32_t stream_id) {
  const auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : &it->second;
}

void Http2ConnectionParser::maybe_complete(std::uint32_t stream_id) {
  const Stream* stream = find_stream(stream_id);
  if (stream == nullptr) return;
  const Http2Exchange& exchange = stream->exchange;
  if (exchange.request.end_stream && exchange.response && exchange.response->end_stream) {
    complete(stream_id, Http2Closure::EndStream);
  }
}

void Http2ConnectionParser::complete(std::uint32_t stream_id, Http2Closure closure) {
  const auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  Stream& stream = it->second;
  stream.exchange.closure = closure;
  finalize(stream);
  records_.emplace_back(std::move(stream.exchange));
  streams_.erase(it);
}

void Http2ConnectionParser::finalize(Stream& stream) {
  Http2Exchange& exchange = stream.exchange;
  Http2Message& request = exchange.request;
  Http2Message* response = exchange.response ? &*exchange.response : nullptr;
  request.grpc_messages = stream.request_messages.messages();
  if (response != nullptr) response->grpc_messages = stream.response_messages.messages();
  exchange.closed_ns = std::max({exchange.closed_ns, request.end_ns, response ? response->end_ns : 0});

  const std::string* content_type = request.header("content-type");
  if (content_type == nullptr && response != nullptr) content_type = response->header("content-type");
  exchange.grpc = content_type != nullptr && content_type->starts_with("application/grpc");
  const std::string* grpc_status = nullptr;
  const std::string* grpc_message = nullptr;
  if (response != nullptr) {
    const bool in_trailers = !response->trailers.empty();
    const HeaderList& block = in_trailers ? response->trailers : response->headers;
    grpc_status = find_field(block, "grpc-status");
    grpc_message = find_field(block, "grpc-message");
    if (grpc_status != nullptr) exchange.grpc = true;
  }
  if (!exchange.grpc && response != nullptr && (content_type == nullptr || *content_type == kUnresolved) &&
      request.unresolved_headers > 0 && (exchange.method == "POST" || exchange.method == kUnresolved) &&
      !response->trailers.empty()) {
    // gRPC whose content-type was never resolved: POST, answered with trailers, and DATA on
    // both sides made of whole length-prefixed messages.
    const auto whole_messages = [](const GrpcMessageCounter& counter) {
      return !counter.invalid() && counter.at_message_boundary() && counter.messages() > 0;
    };
    exchange.grpc = exchange.grpc_inferred =
        whole_messages(stream.request_messages) && whole_messages(stream.response_messages);
  }
  if (exchange.grpc) {
    carries_grpc_ = true;
  } else if (carries_grpc_ && (content_type == nullptr ? request.unresolved_headers > 0 : *content_type == kUnresolved) &&
             (exchange.method == "POST" || exchange.method == kUnresolved) && is_grpc_path(exchange.path)) {
    // Its content-type is hidden in a table entry made before the agent attached, and other
    // streams of this connection showed gRPC: a connection carries one protocol, so this is gRPC
    // too, even when it cannot show it itself (Trailers-Only, cut short, no messages).
    exchange.grpc = exchange.grpc_inferred = true;
  }
  if (response != nullptr) exchange.trailers_only = exchange.grpc && stream.response_headers_ended_stream;
  if (grpc_status != nullptr) {
    if (const std::optional<int> code = parse_decimal(*grpc_status, 9)) exchange.grpc_status = *code;
  }
  // grpc-message is percent-encoded (gRPC over HTTP/2, "Responses").
  if (grpc_message != nullptr && *grpc_message != kUnresolved) exchange.grpc_message = text::percent_decode_lenient(*grpc_message);

  exchange.unresolved_headers = request.unresolved_headers + (response ? response->unresolved_headers : 0);
  const bool messages_lost =
      exchange.grpc && (stream.request_messages.lost() || stream.response_messages.lost());
  exchange.degraded = exchange.degraded || exchange.unresolved_headers > 0 || request.headers_truncated ||
                      request.data_lost || messages_lost ||
                      (response != nullptr && (response->headers_truncated || response->data_lost));
}

}  // namespace zt::protocols::http2
