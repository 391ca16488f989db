#include "symbols/demangle.h"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace zt::symbols {

namespace {

// The demangler keeps two arrays proportional to the name's length on the stack; a hostile name of
// megabytes would overflow it. Real names, templated CUDA kernels included, stay well below.
constexpr std::size_t kMaxMangledLength = 8192;

bool identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Length of an "operator<sym>" token at d[i] (0 if none), so the characters of "operator<",
// "operator()" or "operator->" are not taken for template brackets or a parameter list.
std::size_t operator_token(std::string_view d, std::size_t i) {
  constexpr std::string_view kOperator = "operator";
  if (d.substr(i, kOperator.size()) != kOperator || (i > 0 && identifier_char(d[i - 1]))) return 0;
  std::size_t j = i + kOperator.size();
  if (d.substr(j, 2) == "()" || d.substr(j, 2) == "[]") return j + 2 - i;
  while (j < d.size() && std::string_view("<>=!+-*/%&|^~,").find(d[j]) != std::string_view::npos) ++j;
  return j - i;
}

}  // namespace

std::string demangle(std::string_view name) {
  // Itanium mangled names start with _Z (or ___Z for block invocations, not seen in CUDA code).
  if (name.size() < 3 || name.size() > kMaxMangledLength || name.substr(0, 2) != "_Z") return std::string(name);
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
  // inside <...>, so track nesting of both. Operator names are stepped over whole.
  int angle = 0;
  int paren = 0;
  std::size_t params = std::string_view::npos;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (const std::size_t op = operator_token(d, i)) {
      i += op - 1;
      continue;
    }
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
  // Drop a return type: the last top-level space before the name separates it. Spaces inside
  // "(anonymous namespace)", "{lambda(int, int)#1}" or template arguments do not count.
  angle = 0;
  int nest = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (const std::size_t op = operator_token(head, i)) {
      i += op - 1;
      continue;
    }
    const char c = head[i];
    if (c == '<') {
      ++angle;
    } else if (c == '>' && angle > 0) {
      --angle;
    } else if (c == '(' || c == '{' || c == '[') {
      ++nest;
    } else if ((c == ')' || c == '}' || c == ']') && nest > 0) {
      --nest;
    } else if (c == ' ' && angle == 0 && nest == 0) {
      // "operator new", "operator delete[]" and conversion operators keep their space.
      if (i >= 8 && head.substr(i - 8, 8) == "operator" && (i == 8 || !identifier_char(head[i - 9]))) continue;
      start = i + 1;
    }
  }
  head = head.substr(start);
  return head.empty() ? std::string(d) : std::string(head);
}

}  // namespace zt::symbols
