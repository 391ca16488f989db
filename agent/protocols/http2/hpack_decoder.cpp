#include "protocols/http2/hpack_decoder.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <limits>

namespace zt::protocols::http2 {
namespace {

constexpr std::uint64_t kEntryOverhead = 32;  // RFC 7541 4.1
constexpr std::uint64_t kStaticTableEntries = 61;
constexpr std::uint64_t kMaxInteger = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kMaxStringBytes = 64 * 1024;  // nghttp2's own limit (NGHTTP2_HD_MAX_NV)

using Step = HpackStep;
constexpr Step kOk = Step::Ok;
constexpr Step kIncomplete = Step::Incomplete;
constexpr Step kInvalid = Step::Invalid;

std::uint8_t byte_at(std::string_view s, std::size_t i) { return static_cast<std::uint8_t>(s[i]); }

// RFC 7541 5.1; `pos` moves only when the integer is complete.
Step decode_integer(std::string_view in, std::size_t& pos, int prefix_bits, std::uint64_t& value) {
  if (pos >= in.size()) return kIncomplete;
  const std::uint64_t mask = (1u << prefix_bits) - 1;
  std::size_t p = pos;
  value = byte_at(in, p++) & mask;
  if (value < mask) {
    pos = p;
    return kOk;
  }
  for (int shift = 0;; shift += 7) {
    if (p >= in.size()) return kIncomplete;
    const std::uint8_t b = byte_at(in, p++);
    value += static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (value > kMaxInteger) return kInvalid;
    if ((b & 0x80) == 0) break;
    if (shift >= 28) return kInvalid;
  }
  pos = p;
  return kOk;
}

void encode_integer(std::string& out, std::uint8_t first_bits, int prefix_bits, std::uint64_t value) {
  const std::uint64_t mask = (1u << prefix_bits) - 1;
  if (value < mask) {
    out.push_back(static_cast<char>(first_bits | value));
    return;
  }
  out.push_back(static_cast<char>(first_bits | mask));
  value -= mask;
  while (value >= 0x80) {
    out.push_back(static_cast<char>(0x80 | (value & 0x7f)));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

struct InflaterFree {
  void operator()(nghttp2_hd_inflater* inflater) const { nghttp2_hd_inflate_del(inflater); }
};
using ScratchInflater = std::unique_ptr<nghttp2_hd_inflater, InflaterFree>;

ScratchInflater new_inflater() {
  nghttp2_hd_inflater* inflater = nullptr;
  if (nghttp2_hd_inflate_new(&inflater) != 0) return nullptr;
  return ScratchInflater(inflater);
}

// Decodes the Huffman-coded bytes of one string literal with nghttp2: the literal becomes the
// value of a literal-without-indexing representation with a one-byte name, which leaves the
// scratch inflater's dynamic table untouched. A failed inflater is replaced (nghttp2 keeps an
// inflater failed for good).
std::optional<std::string> huffman_decode(std::string_view coded) {
  thread_local ScratchInflater scratch;
  thread_local std::string wrapped;
  if (!scratch && !(scratch = new_inflater())) return std::nullopt;
  wrapped.assign("\x00\x01x", 3);
  encode_integer(wrapped, 0x80, 7, coded.size());
  wrapped.append(coded);
  const auto* in = reinterpret_cast<const std::uint8_t*>(wrapped.data());
  std::size_t left = wrapped.size();
  std::optional<std::string> value;
  for (;;) {
    nghttp2_nv nv;
    int inflate_flags = 0;
    const auto rv = nghttp2_hd_inflate_hd2(scratch.get(), &nv, &inflate_flags, in, left, 1);
    if (rv < 0) {
      scratch.reset();
      return std::nullopt;
    }
    in += rv;
    left -= static_cast<std::size_t>(rv);
    if ((inflate_flags & NGHTTP2_HD_INFLATE_EMIT) != 0) value.emplace(reinterpret_cast<const char*>(nv.value), nv.valuelen);
    if ((inflate_flags & NGHTTP2_HD_INFLATE_FINAL) != 0) {
      nghttp2_hd_inflate_end_headers(scratch.get());
      break;
    }
    if ((inflate_flags & NGHTTP2_HD_INFLATE_EMIT) == 0 && left == 0) break;
  }
  return value;
}

// RFC 7541 Appendix A, as nghttp2 has it.
const std::array<HeaderField, kStaticTableEntries>& static_table() {
  static const std::array<HeaderField, kStaticTableEntries> table = [] {
    std::array<HeaderField, kStaticTableEntries> entries;
    const ScratchInflater inflater = new_inflater();
    for (std::size_t i = 0; inflater && i < entries.size(); ++i) {
      if (const nghttp2_nv* nv = nghttp2_hd_inflate_get_table_entry(inflater.get(), i + 1)) {
        entries[i] = {std::string(reinterpret_cast<const char*>(nv->name), nv->namelen),
                      std::string(reinterpret_cast<const char*>(nv->value), nv->valuelen)};
      }
    }
    return entries;
  }();
  return table;
}

Step decode_string(std::string_view in, std::size_t& pos, std::string& out) {
  if (pos >= in.size()) return kIncomplete;
  const bool huffman = (byte_at(in, pos) & 0x80) != 0;
  std::size_t p = pos;
  std::uint64_t length = 0;
  if (const Step step = decode_integer(in, p, 7, length); step != kOk) return step;
  if (length > kMaxStringBytes) return kInvalid;
  if (length > in.size() - p) return kIncomplete;
  const std::string_view bytes = in.substr(p, static_cast<std::size_t>(length));
  if (huffman) {
    std::optional<std::string> decoded = huffman_decode(bytes);
    if (!decoded) return kInvalid;
    out = std::move(*decoded);
  } else {
    out.assign(bytes);
  }
  pos = p + static_cast<std::size_t>(length);
  return kOk;
}

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool is_hex(char c) { return is_lower_hex(c) || (c >= 'A' && c <= 'F'); }
bool all_of(std::string_view s, bool (*pred)(char)) { return std::all_of(s.begin(), s.end(), pred); }

// Splits `s` at `sep` into at most N parts; the count of parts, or N + 1 when there are more.
template <std::size_t N>
std::size_t split(std::string_view s, char sep, std::array<std::string_view, N>& parts) {
  std::size_t count = 0;
  for (;;) {
    const std::size_t end = s.find(sep);
    if (count == N) return N + 1;
    parts[count++] = s.substr(0, end);
    if (end == std::string_view::npos) return count;
    s.remove_prefix(end + 1);
  }
}

bool traceparent_shape(std::string_view v) {
  if (v.size() != 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  return all_of(v.substr(0, 2), is_lower_hex) && all_of(v.substr(3, 32), is_lower_hex) &&
         all_of(v.substr(36, 16), is_lower_hex) && all_of(v.substr(53, 2), is_lower_hex);
}

bool b3_shape(std::string_view v) {
  std::array<std::string_view, 4> parts;
  const std::size_t n = split(v, '-', parts);
  if (n < 2 || n > 4) return false;
  if ((parts[0].size() != 16 && parts[0].size() != 32) || !all_of(parts[0], is_lower_hex)) return false;
  if (parts[1].size() != 16 || !all_of(parts[1], is_lower_hex)) return false;
  if (n >= 3 && parts[2] != "0" && parts[2] != "1" && parts[2] != "d") return false;
  return n < 4 || (parts[3].size() == 16 && all_of(parts[3], is_lower_hex));
}

bool jaeger_shape(std::string_view v) {
  std::array<std::string_view, 4> parts;
  if (split(v, ':', parts) != 4) return false;
  const std::array<std::size_t, 4> max_digits = {32, 16, 16, 2};
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty() || parts[i].size() > max_digits[i] || !all_of(parts[i], is_hex)) return false;
  }
  return true;
}

}  // namespace

std::string_view infer_header_name(std::string_view value) {
  if (traceparent_shape(value)) return "traceparent";
  if (b3_shape(value)) return "b3";
  if (jaeger_shape(value)) return "uber-trace-id";
  return {};
}

void HpackDecoder::InflaterDeleter::operator()(nghttp2_hd_inflater* inflater) const { nghttp2_hd_inflate_del(inflater); }

HpackDecoder::HpackDecoder(bool from_connection_start) {
  if (!from_connection_start) return;
  nghttp2_hd_inflater* inflater = nullptr;
  if (nghttp2_hd_inflate_new(&inflater) == 0) inflater_.reset(inflater);
}

HpackDecoder::~HpackDecoder() = default;
HpackDecoder::HpackDecoder(HpackDecoder&& other) noexcept = default;
HpackDecoder& HpackDecoder::operator=(HpackDecoder&& other) noexcept = default;

HpackDecoder HpackDecoder::shadow_from_connection_start() {
  HpackDecoder decoder(false);
  decoder.max_size_ = kDefaultTableSize;
  decoder.older_unknown_ = false;
  return decoder;
}

DecodedHeaderBlock HpackDecoder::decode(std::string_view block, bool complete, const HpackLimits& limits) {
  ++stats_.blocks;
  return synced() ? decode_synced(block, complete, limits) : decode_shadow(block, complete, limits);
}

void HpackDecoder::lose_sync() {
  inflater_.reset();
  entries_.clear();
  entry_bytes_lower_ = 0;
  max_size_.reset();
  older_unknown_ = true;
  ++stats_.sync_losses;
}

void HpackDecoder::set_settings_table_size(std::uint32_t size) {
  size = std::min(size, kMaxTableSize);
  if (size <= settings_table_size_) return;
  settings_table_size_ = size;
  if (inflater_) nghttp2_hd_inflate_change_table_size(inflater_.get(), size);
}

DecodedHeaderBlock HpackDecoder::decode_synced(std::string_view block, bool complete, const HpackLimits& limits) {
  DecodedHeaderBlock out;
  const auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
  std::size_t left = block.size();
  for (;;) {
    nghttp2_nv nv;
    int inflate_flags = 0;
    const auto rv = nghttp2_hd_inflate_hd2(inflater_.get(), &nv, &inflate_flags, in, left, complete ? 1 : 0);
    if (rv < 0) {
      ++stats_.errors;
      out.error = true;
      out.cut = true;
      lose_sync();
      return out;
    }
    in += rv;
    left -= static_cast<std::size_t>(rv);
    if ((inflate_flags & NGHTTP2_HD_INFLATE_EMIT) != 0) {
      emit(out, std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
           std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen), limits);
    }
    if ((inflate_flags & NGHTTP2_HD_INFLATE_FINAL) != 0) {
      nghttp2_hd_inflate_end_headers(inflater_.get());
      break;
    }
    if ((inflate_flags & NGHTTP2_HD_INFLATE_EMIT) == 0 && left == 0) break;
  }
  if (!complete) {
    out.cut = true;
    lose_sync();
  }
  return out;
}

DecodedHeaderBlock HpackDecoder::decode_shadow(std::string_view block, bool complete, const HpackLimits& limits) {
  DecodedHeaderBlock out;
  out.table_complete = !older_unknown_;
  std::size_t pos = 0;
  bool field_seen = false;
  while (pos < block.size()) {
    const Step step = shadow_representation(block, pos, field_seen, out, limits);
    if (step == kOk) continue;
    if (step == kInvalid || complete) out.error = true;
    break;
  }
  if (out.error) {
    ++stats_.errors;
    out.cut = true;
    lose_sync();
  } else if (!complete) {
    out.cut = true;
    lose_sync();
  }
  return out;
}

HpackStep HpackDecoder::shadow_representation(std::string_view block, std::size_t& pos, bool& field_seen,
                                                       DecodedHeaderBlock& out, const HpackLimits& limits) {
  const std::uint8_t first = byte_at(block, pos);
  std::size_t p = pos;
  if ((first & 0x80) != 0) {  // indexed header field (6.1)
    std::uint64_t index = 0;
    if (const auto s = decode_integer(block, p, 7, index); s != kOk) return s;
    std::optional<std::string> name;
    std::optional<std::string> value;
    if (index == 0 || !lookup(index, name, value)) return Step::Invalid;
    emit(out, name, value, limits);
    field_seen = true;
    pos = p;
    return Step::Ok;
  }
  if ((first & 0xe0) == 0x20) {  // dynamic table size update (6.3): only before the first field
    std::uint64_t size = 0;
    if (const auto s = decode_integer(block, p, 5, size); s != kOk) return s;
    if (field_seen) return Step::Invalid;
    apply_size_update(size);
    pos = p;
    return Step::Ok;
  }
  // Literal with incremental indexing (6.2.1), without indexing (6.2.2), never indexed (6.2.3).
  const bool incremental = (first & 0xc0) == 0x40;
  std::uint64_t name_index = 0;
  if (const auto s = decode_integer(block, p, incremental ? 6 : 4, name_index); s != kOk) return s;
  std::optional<std::string> name;
  if (name_index == 0) {
    std::string literal;
    if (const auto s = decode_string(block, p, literal); s != kOk) return s;
    name = std::move(literal);
  } else {
    std::optional<std::string> unused_value;
    if (!lookup(name_index, name, unused_value)) return Step::Invalid;
  }
  std::string value;
  if (const auto s = decode_string(block, p, value); s != kOk) return s;
  emit(out, name, value, limits);
  if (incremental) insert(std::move(name), std::move(value));
  field_seen = true;
  pos = p;
  return Step::Ok;
}

bool HpackDecoder::lookup(std::uint64_t index, std::optional<std::string>& name, std::optional<std::string>& value) {
  if (index <= kStaticTableEntries) {
    const HeaderField& entry = static_table()[static_cast<std::size_t>(index - 1)];
    name = entry.first;
    value = entry.second;
    return true;
  }
  const std::uint64_t position = index - kStaticTableEntries - 1;
  if (position < entries_.size()) {
    const Entry& entry = entries_[static_cast<std::size_t>(position)];
    name = entry.name;
    value = entry.value;
    return true;
  }
  if (!older_unknown_) return false;
  name.reset();
  value.reset();
  return true;
}

void HpackDecoder::insert(std::optional<std::string> name, std::string value) {
  const std::uint64_t size = (name ? name->size() : 0) + value.size() + kEntryOverhead;
  const std::uint64_t limit = max_size_.value_or(kMaxTableSize);
  if (size > limit) {
    // An entry larger than the table empties it (RFC 7541 4.4): when the maximum is known,
    // nothing of unknown content is left.
    entries_.clear();
    entry_bytes_lower_ = 0;
    if (max_size_) older_unknown_ = false;
    return;
  }
  evict_to(limit, size);
  entries_.push_front(Entry{std::move(name), std::move(value)});
  entry_bytes_lower_ += size;
  update_completeness();
}

void HpackDecoder::apply_size_update(std::uint64_t size) {
  if (size > kMaxTableSize) {
    max_size_.reset();  // beyond what the shadow keeps: evictions at kMaxTableSize lose entries
    evict_to(kMaxTableSize, 0);
    return;
  }
  max_size_ = size;
  evict_to(size, 0);
  update_completeness();
}

void HpackDecoder::evict_to(std::uint64_t max_bytes, std::uint64_t incoming_bytes) {
  while (!entries_.empty() && entry_bytes_lower_ + incoming_bytes > max_bytes) {
    const Entry& oldest = entries_.back();
    entry_bytes_lower_ -= (oldest.name ? oldest.name->size() : 0) + oldest.value.size() + kEntryOverhead;
    entries_.pop_back();
    // With the maximum known, the peer evicted this entry too, and everything older before it.
    // Without, the shadow's own bound may drop entries the peer still has.
    older_unknown_ = !max_size_;
  }
}

void HpackDecoder::update_completeness() {
  if (max_size_ && entry_bytes_lower_ + kEntryOverhead > *max_size_) older_unknown_ = false;
}

void HpackDecoder::emit(DecodedHeaderBlock& out, const std::optional<std::string>& name,
                        const std::optional<std::string>& value, const HpackLimits& limits) {
  std::string_view field_name = name ? std::string_view(*name) : kUnresolved;
  if (!name || !value) {
    ++stats_.unresolved_references;
    const std::string_view inferred = !name && value ? infer_header_name(*value) : std::string_view{};
    if (!inferred.empty()) {
      field_name = inferred;
      ++out.inferred_names;
    } else {
      ++out.unresolved;
    }
  }
  const std::string_view field_value = value ? std::string_view(*value) : kUnresolved;
  const std::size_t bytes = field_name.size() + field_value.size();
  if (out.fields.size() >= limits.max_fields || out.kept_bytes + bytes > limits.max_list_bytes) {
    ++out.dropped;
    return;
  }
  out.kept_bytes += bytes;
  out.fields.emplace_back(std::string(field_name), std::string(field_value));
}

}  // namespace zt::protocols::http2
