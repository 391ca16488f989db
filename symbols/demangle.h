// C++ (Itanium ABI) demangling for symbol and kernel names.
#pragma once

#include <string>
#include <string_view>

namespace zt::symbols {

// The demangled form of `name`, or `name` unchanged when it is not a mangled C++ name or cannot be
// demangled (hostile input included). Never throws.
std::string demangle(std::string_view name);

// The short form of a demangled function name, for span names: without return type, parameter list
// and qualifiers after it ("void ns::k<float>(float*, int)" -> "ns::k<float>"). Names that are not
// functions come back unchanged.
std::string short_function_name(std::string_view demangled);

}  // namespace zt::symbols
