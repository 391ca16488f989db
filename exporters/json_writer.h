// Appends JSON text to a string without building a document: the JSONL line has a fixed shape
// and is written once per span, so a DOM (allocation per node) would cost more than the rest of
// the pipeline together (docs/performance.md).
#pragma once

#include <string>
#include <string_view>

#include "trace/span.h"

namespace zt::exporters {

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool is_valid_utf8(std::string_view text);
// `text` with every byte that is not part of a valid UTF-8 sequence replaced by U+FFFD. Protobuf
// string fields must hold valid UTF-8 (receivers reject the whole request otherwise).
std::string to_valid_utf8(std::string_view text);

// A JSON string literal. Control characters are escaped; bytes that are not valid UTF-8
// (captured traffic is untrusted) become U+FFFD, one per invalid byte.
void append_json_string(std::string& out, std::string_view text);
// A JSON value: string, integer, shortest round-trip double (NaN and infinities as null), bool.
void append_json_value(std::string& out, const trace::AttributeValue& value);
// {"key":value,...} in the given order.
void append_json_attributes(std::string& out, const std::vector<trace::Attribute>& attributes);

}  // namespace zt::exporters
