#include "protocols/http1/http1_parser.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "core/text.h"

namespace zt::protocols::http1 {
namespace {

constexpr std::size_t kMaxMethodLength = 20;
constexpr std::string_view kVersionPrefix = "HTTP/1.";
constexpr std::size_t kVersionNumberOffset = 5;  // "1.1" in "HTTP/1.1"
constexpr std::size_t kStatusSpace = 8;          // "HTTP/1.1 200": the space after the version
constexpr std::size_t kStatusCodeBegin = 9;
constexpr std::size_t kStatusCodeEnd = 12;
// Enough of an unfinished start line to reject garbage early without rescanning long targets.
constexpr std::size_t kStartLinePrefixCheckBytes = 64;
// A buffer grown by a large header block is released rather than kept per idle connection.
constexpr std::size_t kRetainedHeaderBufferBytes = 4 * 1024;

enum class LineCheck : std::uint8_t { Valid, Incomplete, Invalid };

bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_target_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f;
}
bool is_token_char(char c) {
  if (is_digit(c) || is_upper(c) || (c >= 'a' && c <= 'z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
using text::hex_value;
using text::iequals;
using text::to_lower;
using text::trim;

// Valid when `s` starts with all of `expected`, Incomplete when `s` is a shorter prefix of it.
LineCheck match_literal(std::string_view s, std::string_view expected) {
  const std::size_t n = std::min(s.size(), expected.size());
  if (s.substr(0, n) != expected.substr(0, n)) return LineCheck::Invalid;
  return n == expected.size() ? LineCheck::Valid : LineCheck::Incomplete;
}

// `s` follows the last field of a start line: optional CR, then LF.
LineCheck check_line_end(std::string_view s) {
  if (s.empty()) return LineCheck::Incomplete;
  if (s.front() == '\r') s.remove_prefix(1);
  if (s.empty()) return LineCheck::Incomplete;
  return s.front() == '\n' ? LineCheck::Valid : LineCheck::Invalid;
}

// `s` starts at "HTTP/1.x".
LineCheck check_version(std::string_view s) {
  const LineCheck prefix = match_literal(s, kVersionPrefix);
  if (prefix != LineCheck::Valid) return prefix;
  if (s.size() == kVersionPrefix.size()) return LineCheck::Incomplete;
  const char minor = s[kVersionPrefix.size()];
  return minor == '0' || minor == '1' ? LineCheck::Valid : LineCheck::Invalid;
}

// METHOD SP request-target SP HTTP/1.x CRLF; Incomplete when `s` ends inside a plausible line.
LineCheck check_request_line(std::string_view s) {
  std::size_t i = 0;
  for (; i < s.size() && is_upper(s[i]); ++i) {
    if (i == kMaxMethodLength) return LineCheck::Invalid;
  }
  if (i == s.size()) return LineCheck::Incomplete;
  if (i == 0 || s[i] != ' ') return LineCheck::Invalid;
  const std::size_t target_begin = ++i;
  while (i < s.size() && is_target_char(s[i])) ++i;
  if (i == s.size()) return LineCheck::Incomplete;
  if (i == target_begin || s[i] != ' ') return LineCheck::Invalid;
  const std::string_view version = s.substr(i + 1);
  const LineCheck version_check = check_version(version);
  if (version_check != LineCheck::Valid) return version_check;
  return check_line_end(version.substr(kVersionPrefix.size() + 1));
}

// HTTP/1.x SP 3DIGIT [SP reason-phrase] CRLF.
LineCheck check_status_line(std::string_view s) {
  const LineCheck version_check = check_version(s);
  if (version_check != LineCheck::Valid) return version_check;
  if (s.size() == kStatusSpace) return LineCheck::Incomplete;
  if (s[kStatusSpace] != ' ') return LineCheck::Invalid;
  for (std::size_t i = kStatusCodeBegin; i < kStatusCodeEnd; ++i) {
    if (i == s.size()) return LineCheck::Incomplete;
    if (!is_digit(s[i]) || (i == kStatusCodeBegin && s[i] == '0')) return LineCheck::Invalid;
  }
  std::string_view rest = s.substr(kStatusCodeEnd);
  if (rest.empty()) return LineCheck::Incomplete;
  if (rest.front() == ' ') {
    const std::size_t reason_end = rest.find_first_of("\r\n");
    if (reason_end == std::string_view::npos) return LineCheck::Incomplete;
    rest.remove_prefix(reason_end);
  }
  return check_line_end(rest);
}

LineCheck check_start_line(MessageKind kind, std::string_view s) {
  return kind == MessageKind::Request ? check_request_line(s) : check_status_line(s);
}

bool begins_with_start_line(MessageKind kind, std::string_view data) {
  return kind == MessageKind::Request ? begins_with_request_line(data) : begins_with_status_line(data);
}

// Splits off the next LF-terminated line without its CR; false when no complete line is left.
bool take_line(std::string_view& s, std::string_view& line) {
  const std::size_t lf = s.find('\n');
  if (lf == std::string_view::npos) return false;
  line = s.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  s.remove_prefix(lf + 1);
  return true;
}

struct HeaderBlockScan {
  std::size_t end = std::string_view::npos;  // one past the LF of the blank line, if seen
  std::size_t line_start = 0;                // start of the last, unfinished line
};

// Looks for the blank line ending a header block; `search_from` skips bytes already searched.
HeaderBlockScan scan_header_block(std::string_view s, std::size_t line_start, std::size_t search_from) {
  for (;;) {
    const std::size_t lf = s.find('\n', search_from);
    if (lf == std::string_view::npos) return {std::string_view::npos, line_start};
    const std::size_t length = lf - line_start;
    if (length == 0 || (length == 1 && s[line_start] == '\r')) return {lf + 1, line_start};
    line_start = lf + 1;
    search_from = line_start;
  }
}

// A line validated by check_request_line.
void parse_request_line(std::string_view line, HttpMessage& message) {
  const std::size_t method_end = line.find(' ');
  const std::size_t target_end = line.find(' ', method_end + 1);
  message.method.assign(line.substr(0, method_end));
  message.target.assign(line.substr(method_end + 1, target_end - method_end - 1));
  message.version.assign(line.substr(target_end + 1 + kVersionNumberOffset, 3));
}

// A line validated by check_status_line.
void parse_status_line(std::string_view line, HttpMessage& message) {
  message.version.assign(line.substr(kVersionNumberOffset, 3));
  message.status_code = 0;
  for (std::size_t i = kStatusCodeBegin; i < kStatusCodeEnd; ++i) {
    message.status_code = message.status_code * 10 + (line[i] - '0');
  }
  if (line.size() > kStatusCodeEnd) message.reason.assign(line.substr(kStatusCodeEnd + 1));
}

// What can be read of a start line cut short by a hole; false when too little to be useful.
bool parse_partial_start_line(MessageKind kind, std::string_view partial, HttpMessage& message) {
  if (kind == MessageKind::Request) {
    const std::size_t method_end = partial.find(' ');
    if (method_end == std::string_view::npos) return false;
    message.method.assign(partial.substr(0, method_end));
    const std::string_view rest = partial.substr(method_end + 1);
    message.target.assign(rest.substr(0, rest.find(' ')));
    return true;
  }
  if (partial.size() < kStatusCodeEnd) return false;
  parse_status_line(partial, message);
  return true;
}

bool parse_header_line(std::string_view line, std::vector<std::pair<std::string, std::string>>& headers) {
  if (line.front() == ' ' || line.front() == '\t') {  // obs-fold: continues the previous value
    if (headers.empty()) return false;
    const std::string_view continuation = trim(line);
    if (!continuation.empty()) {
      headers.back().second.push_back(' ');
      headers.back().second.append(continuation);
    }
    return true;
  }
  const std::size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  const std::string_view name = line.substr(0, colon);
  if (!std::all_of(name.begin(), name.end(), is_token_char)) return false;
  headers.emplace_back(to_lower(name), std::string(trim(line.substr(colon + 1))));
  return true;
}

// Parses the start line and header lines of `block`. A truncated block keeps what precedes the
// hole: its unfinished last line is dropped and an invalid line ends the headers kept.
bool parse_header_block(MessageKind kind, std::string_view block, bool truncated, HttpMessage& message) {
  std::string_view line;
  if (!take_line(block, line)) return truncated && parse_partial_start_line(kind, block, message);
  if (kind == MessageKind::Request) {
    parse_request_line(line, message);
  } else {
    parse_status_line(line, message);
  }
  while (take_line(block, line) && !line.empty()) {
    if (!parse_header_line(line, message.headers)) return truncated;
  }
  return true;
}

// One or more Content-Length values; a list must repeat a single value (RFC 9110 8.6).
bool parse_content_length(std::string_view value, std::uint64_t& length, bool& seen) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view item = trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    if (item.empty() || item.size() > 19 || !std::all_of(item.begin(), item.end(), is_digit)) return false;
    std::uint64_t parsed = 0;
    for (const char c : item) parsed = parsed * 10 + static_cast<std::uint64_t>(c - '0');
    if (seen && parsed != length) return false;
    length = parsed;
    seen = true;
  }
  return true;
}

bool last_coding_is_chunked(std::string_view transfer_encoding) {
  const std::size_t comma = transfer_encoding.rfind(',');
  const std::string_view last =
      comma == std::string_view::npos ? transfer_encoding : transfer_encoding.substr(comma + 1);
  return iequals(trim(last), "chunked");
}

}  // namespace

bool begins_with_request_line(std::string_view data) { return check_request_line(data) == LineCheck::Valid; }

bool begins_with_status_line(std::string_view data) {
  return data.size() >= kStatusCodeEnd && check_status_line(data.substr(0, kStatusCodeEnd + 1)) != LineCheck::Invalid;
}

Http1Parser::Http1Parser(MessageKind kind, Direction direction, bool start_in_resync, ParserStats& stats)
    : kind_(kind), direction_(direction), stats_(stats), state_(start_in_resync ? State::Resync : State::Idle) {
  reset_message();
}

const HttpMessage* Http1Parser::message_in_progress() const { return state_ == State::Body ? &current_ : nullptr; }

std::uint64_t Http1Parser::skip_until() const {
  if (state_ != State::Body) return 0;
  if (framing_ == BodyFraming::ContentLength) return fed_until_ + body_remaining_;
  if (framing_ == BodyFraming::Chunked && chunked_state_ == ChunkedState::Data) return fed_until_ + chunk_remaining_;
  return 0;
}

void Http1Parser::feed(const Chunk& chunk, Http1MessageSink& sink) {
  if (state_ == State::Stopped) return;
  fed_until_ = chunk.position + chunk.size;
  const std::string_view captured =
      chunk.gap ? std::string_view{} : chunk.data.substr(0, std::min<std::uint64_t>(chunk.data.size(), chunk.size));
  const std::uint64_t uncaptured = chunk.size - captured.size();
  if (state_ == State::Resync) {
    if (!begins_with_start_line(kind_, captured)) {
      stats_.bytes_skipped += chunk.size;
      return;
    }
    state_ = State::Idle;
  }
  std::string_view data = captured;
  while (!data.empty() && state_ != State::Stopped) {
    switch (state_) {
      case State::Idle:
        consume_idle(data, chunk);
        break;
      case State::Headers:
        consume_headers(data, chunk, sink);
        break;
      case State::Body:
        consume_body(data, chunk, sink);
        break;
      case State::Resync:
        stats_.bytes_skipped += data.size();
        data = {};
        break;
      case State::Stopped:
        break;
    }
  }
  if (state_ == State::Stopped) {
    stop_offset_ = captured.size() - data.size();
    return;
  }
  if (uncaptured > 0) skip_uncaptured(uncaptured, chunk, sink);
}

void Http1Parser::finish(Http1MessageSink& sink) {
  switch (state_) {
    case State::Headers:
      emit_truncated_headers(sink);
      break;
    case State::Body:
      current_.body_complete = framing_ == BodyFraming::UntilClose;
      emit(sink);
      break;
    case State::Resync:
    case State::Idle:
    case State::Stopped:
      break;
  }
  state_ = State::Stopped;
}

void Http1Parser::consume_idle(std::string_view& data, const Chunk& chunk) {
  // Stray CRLFs between messages are allowed (RFC 9112 2.2).
  const std::size_t first = data.find_first_not_of("\r\n");
  if (first == std::string_view::npos) {
    data = {};
    return;
  }
  data.remove_prefix(first);
  current_.start_ns = first_byte_ns(chunk);
  current_.tid = chunk.tid;
  state_ = State::Headers;
}

void Http1Parser::consume_headers(std::string_view& data, const Chunk& chunk, Http1MessageSink& sink) {
  note_bytes_from(chunk);
  const std::size_t buffered = header_buf_.size();
  std::string_view block = data;
  if (buffered > 0) {
    header_buf_.append(data.substr(0, kMaxHeaderBlockBytes + 1 - buffered));
    block = header_buf_;
  }
  const HeaderBlockScan scan = scan_header_block(block, line_start_, buffered);
  const bool block_complete = scan.end != std::string_view::npos;
  const bool first_line_complete = block_complete || scan.line_start > 0;
  const std::size_t block_size = block_complete ? scan.end : block.size();
  if (block_size > kMaxHeaderBlockBytes || !start_line_plausible(block, first_line_complete)) {
    fail(data, buffered, sink);
    return;
  }
  if (!block_complete) {
    if (buffered == 0) header_buf_.assign(data);
    line_start_ = scan.line_start;
    data = {};
    return;
  }
  if (!parse_header_block(kind_, block.substr(0, scan.end), false, current_)) {
    fail(data, buffered, sink);
    return;
  }
  const Framing framing =
      kind_ == MessageKind::Request ? request_framing() : response_framing(sink.method_of_answered_request());
  if (!framing.valid) {
    fail(data, buffered, sink);
    return;
  }
  current_.header_bytes = scan.end;
  data.remove_prefix(scan.end - buffered);
  begin_body(framing, sink);
}

bool Http1Parser::start_line_plausible(std::string_view block, bool first_line_complete) {
  if (start_line_checked_) return true;
  if (!first_line_complete) {
    return check_start_line(kind_, block.substr(0, kStartLinePrefixCheckBytes)) != LineCheck::Invalid;
  }
  start_line_checked_ = check_start_line(kind_, block) == LineCheck::Valid;
  return start_line_checked_;
}

Http1Parser::Framing Http1Parser::request_framing() const {
  Framing framing;
  const std::string* transfer_encoding = nullptr;
  bool has_length = false;
  for (const auto& [name, value] : current_.headers) {
    if (name == "transfer-encoding") {
      transfer_encoding = &value;
    } else if (name == "content-length" && !parse_content_length(value, framing.content_length, has_length)) {
      framing.valid = false;
    }
  }
  if (transfer_encoding != nullptr) {
    // Transfer-Encoding overrides Content-Length; a request whose last coding is not chunked
    // cannot be framed (RFC 9112 6.3).
    framing.valid = last_coding_is_chunked(*transfer_encoding);
    framing.body = BodyFraming::Chunked;
  } else if (has_length) {
    framing.body = BodyFraming::ContentLength;
  }
  return framing;
}

Http1Parser::Framing Http1Parser::response_framing(std::string_view request_method) const {
  const int status = current_.status_code;
  Framing no_body;
  Framing protocol_change;
  protocol_change.stop_after = true;
  if (status == 101) return protocol_change;
  if (request_method == "CONNECT" && status >= 200 && status < 300) return protocol_change;
  if (status < 200 || status == 204 || status == 304 || request_method == "HEAD") return no_body;
  Framing framing = request_framing();
  if (framing.body == BodyFraming::Chunked && !framing.valid) {
    framing.body = BodyFraming::UntilClose;  // unlike a request, a response may end its body by closing
    framing.valid = true;
  } else if (framing.body == BodyFraming::None && framing.valid) {
    framing.body = BodyFraming::UntilClose;
  }
  return framing;
}

void Http1Parser::begin_body(Framing framing, Http1MessageSink& sink) {
  release_header_buffer();
  stop_after_ = framing.stop_after;
  if (framing.body == BodyFraming::None ||
      (framing.body == BodyFraming::ContentLength && framing.content_length == 0)) {
    complete_message(sink);
    return;
  }
  framing_ = framing.body;
  body_remaining_ = framing.content_length;
  state_ = State::Body;
}

void Http1Parser::consume_body(std::string_view& data, const Chunk& chunk, Http1MessageSink& sink) {
  note_bytes_from(chunk);
  switch (framing_) {
    case BodyFraming::ContentLength: {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(body_remaining_, data.size()));
      current_.body_bytes += n;
      body_remaining_ -= n;
      data.remove_prefix(n);
      if (body_remaining_ == 0) complete_message(sink);
      return;
    }
    case BodyFraming::UntilClose:
      current_.body_bytes += data.size();
      data = {};
      return;
    case BodyFraming::Chunked:
      consume_chunked(data, sink);
      return;
    case BodyFraming::None:
      complete_message(sink);
      return;
  }
}

void Http1Parser::consume_chunked(std::string_view& data, Http1MessageSink& sink) {
  while (!data.empty() && state_ == State::Body) {
    const char c = data.front();
    switch (chunked_state_) {
      case ChunkedState::SizeDigits: {
        const int digit = hex_value(c);
        if (digit >= 0) {
          if (chunk_remaining_ > (std::numeric_limits<std::uint64_t>::max() >> 4)) return fail(data, 0, sink);
          chunk_remaining_ = chunk_remaining_ * 16 + static_cast<std::uint64_t>(digit);
          chunk_size_has_digits_ = true;
          data.remove_prefix(1);
        } else if (!chunk_size_has_digits_) {
          return fail(data, 0, sink);
        } else if (c == ';' || c == ' ' || c == '\t') {
          chunked_state_ = ChunkedState::SizeExtension;
          framing_bytes_ = 0;
        } else if (c == '\r') {
          chunked_state_ = ChunkedState::SizeLf;
          data.remove_prefix(1);
        } else if (c == '\n') {
          data.remove_prefix(1);
          end_of_chunk_size_line();
        } else {
          return fail(data, 0, sink);
        }
        break;
      }
      case ChunkedState::SizeExtension: {
        const std::size_t lf = data.find('\n');
        const std::size_t n = lf == std::string_view::npos ? data.size() : lf + 1;
        framing_bytes_ += n;
        if (framing_bytes_ > kMaxChunkExtensionBytes) return fail(data, 0, sink);
        data.remove_prefix(n);
        if (lf != std::string_view::npos) end_of_chunk_size_line();
        break;
      }
      case ChunkedState::SizeLf:
        if (c != '\n') return fail(data, 0, sink);
        data.remove_prefix(1);
        end_of_chunk_size_line();
        break;
      case ChunkedState::Data: {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_remaining_, data.size()));
        current_.body_bytes += n;
        chunk_remaining_ -= n;
        data.remove_prefix(n);
        if (chunk_remaining_ == 0) chunked_state_ = ChunkedState::DataCr;
        break;
      }
      case ChunkedState::DataCr:
      case ChunkedState::DataLf:
        if (c == '\r' && chunked_state_ == ChunkedState::DataCr) {
          chunked_state_ = ChunkedState::DataLf;
        } else if (c == '\n') {
          chunked_state_ = ChunkedState::SizeDigits;
          chunk_size_has_digits_ = false;
        } else {
          return fail(data, 0, sink);
        }
        data.remove_prefix(1);
        break;
      case ChunkedState::TrailerLineStart:
        if (c == '\r') {
          chunked_state_ = ChunkedState::TrailersEndLf;
          data.remove_prefix(1);
        } else if (c == '\n') {
          data.remove_prefix(1);
          complete_message(sink);
        } else {
          chunked_state_ = ChunkedState::TrailerLine;
        }
        break;
      case ChunkedState::TrailerLine: {
        const std::size_t lf = data.find('\n');
        const std::size_t n = lf == std::string_view::npos ? data.size() : lf + 1;
        framing_bytes_ += n;
        if (framing_bytes_ > kMaxTrailerBytes) return fail(data, 0, sink);
        data.remove_prefix(n);
        if (lf != std::string_view::npos) chunked_state_ = ChunkedState::TrailerLineStart;
        break;
      }
      case ChunkedState::TrailersEndLf:
        if (c != '\n') return fail(data, 0, sink);
        data.remove_prefix(1);
        complete_message(sink);
        break;
    }
  }
}

void Http1Parser::end_of_chunk_size_line() {
  framing_bytes_ = 0;
  chunked_state_ = chunk_remaining_ == 0 ? ChunkedState::TrailerLineStart : ChunkedState::Data;
}

void Http1Parser::skip_uncaptured(std::uint64_t bytes, const Chunk& chunk, Http1MessageSink& sink) {
  switch (state_) {
    case State::Stopped:
      return;
    case State::Resync:
      stats_.bytes_skipped += bytes;
      return;
    case State::Idle:
      // The next message starts inside the hole: its start line is lost.
      enter_resync();
      stats_.bytes_skipped += bytes;
      return;
    case State::Headers:
      note_bytes_from(chunk);
      emit_truncated_headers(sink);
      enter_resync();
      stats_.bytes_skipped += bytes;
      return;
    case State::Body:
      note_bytes_from(chunk);
      skip_uncaptured_body(bytes, sink);
      return;
  }
}

void Http1Parser::skip_uncaptured_body(std::uint64_t bytes, Http1MessageSink& sink) {
  switch (framing_) {
    case BodyFraming::UntilClose:
      current_.body_bytes += bytes;
      return;
    case BodyFraming::ContentLength: {
      const std::uint64_t n = std::min(bytes, body_remaining_);
      current_.body_bytes += n;
      body_remaining_ -= n;
      bytes -= n;
      if (body_remaining_ == 0) complete_message(sink);
      break;
    }
    case BodyFraming::Chunked: {
      if (chunked_state_ == ChunkedState::Data) {
        const std::uint64_t n = std::min(bytes, chunk_remaining_);
        current_.body_bytes += n;
        chunk_remaining_ -= n;
        bytes -= n;
        if (chunk_remaining_ == 0) chunked_state_ = ChunkedState::DataCr;
      }
      if (bytes > 0) {
        // The hole swallowed chunk framing: the body's end can no longer be found.
        current_.body_complete = chunked_state_ == ChunkedState::TrailerLineStart ||
                                 chunked_state_ == ChunkedState::TrailerLine ||
                                 chunked_state_ == ChunkedState::TrailersEndLf;
        emit(sink);
      }
      break;
    }
    case BodyFraming::None:
      break;
  }
  if (bytes > 0 && state_ != State::Stopped) {
    enter_resync();
    stats_.bytes_skipped += bytes;
  }
}

void Http1Parser::emit(Http1MessageSink& sink) {
  current_.end_ns = last_byte_end_ns_;
  ++stats_.messages;
  HttpMessage message = std::move(current_);
  reset_message();
  sink.on_message(std::move(message));
}

void Http1Parser::complete_message(Http1MessageSink& sink) {
  const bool stop = stop_after_;
  emit(sink);
  state_ = stop ? State::Stopped : State::Idle;
}

void Http1Parser::emit_truncated_headers(Http1MessageSink& sink) {
  if (!parse_header_block(kind_, header_buf_, true, current_)) {
    reset_message();
    return;
  }
  current_.headers_truncated = true;
  current_.header_bytes = header_buf_.size();
  emit(sink);
}

void Http1Parser::fail(std::string_view& data, std::uint64_t dropped_before, Http1MessageSink& sink) {
  ++stats_.parse_errors;
  if (state_ == State::Body) {
    current_.body_complete = false;
    emit(sink);
  }
  enter_resync();
  stats_.bytes_skipped += dropped_before + data.size();
  data = {};
}

void Http1Parser::enter_resync() {
  ++stats_.resyncs;
  reset_message();
  state_ = State::Resync;
}

void Http1Parser::reset_message() {
  current_ = HttpMessage{};
  current_.is_request = kind_ == MessageKind::Request;
  last_byte_end_ns_ = 0;
  stop_after_ = false;
  release_header_buffer();
  line_start_ = 0;
  start_line_checked_ = false;
  framing_ = BodyFraming::None;
  body_remaining_ = 0;
  chunked_state_ = ChunkedState::SizeDigits;
  chunk_remaining_ = 0;
  chunk_size_has_digits_ = false;
  framing_bytes_ = 0;
}

void Http1Parser::release_header_buffer() {
  if (header_buf_.capacity() > kRetainedHeaderBufferBytes) {
    std::string().swap(header_buf_);
  } else {
    header_buf_.clear();
  }
}

void Http1Parser::note_bytes_from(const Chunk& chunk) { last_byte_end_ns_ = std::max(last_byte_end_ns_, chunk.end_ns); }

std::uint64_t Http1Parser::first_byte_ns(const Chunk& chunk) const {
  return direction_ == Direction::Ingress ? chunk.end_ns : chunk.start_ns;
}

}  // namespace zt::protocols::http1
