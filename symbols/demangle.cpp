#include "symbols/demangle.h"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace zt::symbols {

std::string demangle(std::string_view name) {
  // Itanium mangled names start with _Z (or ___Z for block invocations, not seen in CUDA code).
  if (name.size() < 3 || name.substr(0, 2) != "_Z") return std::string(name);
  try {
    const std::string copy(name);  // __cxa_demangle needs a NUL-terminated string
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(copy.c_str(), nullptr, nullptr, &status), std::free);
    if (status != 0 || !out) return copy;
    return std::string(out.get());
  } catch (...) {
    return std::string(name);
  }
}

std::string short_function_name(std::string_view d) {
  // The parameter list is the last top-level '(' ... ')' group; templates may contain parentheses
  // inside <...>, so track nesting of both.
  int angle = 0;
  int paren = 0;
  std::size_t params = std::string_view::npos;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const char c = d[i];
    if (c == '<') {
      ++angle;
    } else if (c == '>' && angle > 0) {
      --angle;
    } else if (c == '(') {
      if (angle == 0 && paren == 0) params = i;
      ++paren;
    } else if (c == ')' && paren > 0) {
      --paren;
    }
  }
  if (params == std::string_view::npos || params == 0) return std::string(d);
  std::string_view head = d.substr(0, params);
  // Drop a return type: the last top-level space before the name separates it.
  angle = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < head.size(); ++i) {
    const char c = head[i];
    if (c == '<') {
      ++angle;
    } else if (c == '>' && angle > 0) {
      --angle;
    } else if (c == ' ' && angle == 0) {
      start = i + 1;
    }
  }
  head = head.substr(start);
  return head.empty() ? std::string(d) : std::string(head);
}

}  // namespace zt::symbols
