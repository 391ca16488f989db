#include "protocols/http1/route.h"

#include <algorithm>

#include "core/text.h"

namespace zt::protocols::http1 {
namespace {

constexpr std::string_view kIdPlaceholder = "{id}";
constexpr std::size_t kMinHexIdLength = 16;
constexpr std::size_t kMinHexIdWithDigitLength = 8;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool is_identifier_segment(std::string_view segment) {
  if (segment.empty()) return false;
  if (std::all_of(segment.begin(), segment.end(), is_digit)) return true;
  if (text::is_uuid(segment)) return true;
  if (!std::all_of(segment.begin(), segment.end(), text::is_hex_digit)) return false;
  if (segment.size() >= kMinHexIdLength) return true;
  return segment.size() >= kMinHexIdWithDigitLength && std::any_of(segment.begin(), segment.end(), is_digit);
}

// RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool is_scheme(std::string_view s) {
  if (s.empty() || !is_alpha(s.front())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.'; });
}

}  // namespace

std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  std::string_view rest = target;
  bool had_authority = false;
  if (const std::size_t scheme_end = rest.find("://");
      scheme_end != std::string_view::npos && is_scheme(rest.substr(0, scheme_end))) {
    rest.remove_prefix(scheme_end + 3);
    rest.remove_prefix(std::min(rest.find_first_of("/?#"), rest.size()));
    had_authority = true;
  }
  rest = rest.substr(0, rest.find('#'));
  const std::size_t question = rest.find('?');
  std::string_view path = rest.substr(0, question);
  const std::string_view query = question == std::string_view::npos ? std::string_view{} : rest.substr(question + 1);
  if (had_authority && path.empty()) path = "/";
  return {path, query};
}

std::string http_route_from_target(std::string_view target) {
  const std::string_view path = split_target(target).first;
  if (path.empty()) return "/";
  std::string route;
  route.reserve(path.size());
  std::size_t segment_begin = 0;
  for (;;) {
    const std::size_t slash = path.find('/', segment_begin);
    const std::string_view segment = path.substr(segment_begin, slash - segment_begin);
    route.append(is_identifier_segment(segment) ? kIdPlaceholder : segment);
    if (slash == std::string_view::npos) break;
    route.push_back('/');
    segment_begin = slash + 1;
  }
  return route;
}

}  // namespace zt::protocols::http1
