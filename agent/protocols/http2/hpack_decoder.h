// HPACK (RFC 7541) for one direction of an HTTP/2 connection, including connections the agent
// did not see from their first header block.
//
// DESIGN
// An HPACK block can only be decoded with the dynamic table that every earlier block of its
// direction built. The decoder runs one of two paths, and says which (`synced()`):
// - Synced: libnghttp2's inflater (nghttp2_hd_inflate_hd2), one per direction, while the decoder
//   has seen every header block of its direction from the first (connection preface or h2c
//   upgrade seen, nothing lost since). This is the normal path.
// - Shadow: our own decoder of the HPACK representations (section 6: indexed field, literal with
//   incremental / without / never indexing, dynamic table size update) over a shadow dynamic
//   table whose oldest part may be unknown. It takes over when the decoder starts inside a
//   connection (the agent attached to a connection that was already open), when bytes of a
//   header block were lost or cut short by the capture, and when nghttp2 rejects a block.
//   libnghttp2 still does what does not depend on the dynamic table: string literals are
//   decoded (Huffman included) by a scratch nghttp2 inflater fed each literal wrapped in a
//   literal-without-indexing representation, which leaves that inflater's table untouched, and
//   the static table is read from nghttp2 (nghttp2_hd_inflate_get_table_entry).
// nghttp2 alone cannot do the second job: its inflater has no notion of an entry it never saw,
// fails the whole block on the first index past its table, and cannot be resumed afterwards.
//
// SHADOW TABLE
// Dynamic-table indices are positions counted from the newest entry, and eviction only ever
// removes the oldest entries, so the n-th newest entry is the n-th newest insertion whatever
// the table's maximum size. The shadow keeps the entries inserted since the decoder started (or
// last lost sync), newest first: index 62 + i resolves to the i-th of them while i is below
// their count; above it, the index names an entry inserted before, whose name and value are
// unknown ("*"). An entry inserted by a literal whose name was such an unknown entry has a known
// value and an unknown name. Evictions are applied with a lower bound of the sizes (an unknown
// name counts as empty), so the shadow never drops an entry the peer may still reference.
// Once the maximum size is known (a size update was seen), nothing older than the known entries
// can remain when one of them is evicted (the peer evicted everything older first) or when they
// leave no room for even one more 32-byte entry: the table is complete again and an index past
// it is an error, as it is for nghttp2. The shadow keeps at most kMaxTableSize bytes.
//
// LOSS (capture truncation, gaps, lost frames)
// The captured prefix of a cut block is decoded (its fields are valid: they only depend on the
// table before the block and on the prefix), then the table is declared unknown: the lost bytes
// may have inserted any number of entries, which shifts every index. The decoder continues on
// the shadow path exactly as after a mid-connection attach; entries inserted by later blocks
// resolve again. The same happens when a block is skipped unseen (lost frames, oversized block).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct nghttp2_hd_inflater;

namespace zt::protocols::http2 {

using HeaderField = std::pair<std::string, std::string>;
using HeaderList = std::vector<HeaderField>;

// The name or value of a field that refers to a dynamic-table entry of unknown content.
inline constexpr std::string_view kUnresolved = "*";

// Outcome of decoding one piece (integer, string, representation) of a block.
enum class HpackStep : std::uint8_t { Ok, Incomplete, Invalid };

struct HpackLimits {
  std::size_t max_fields = 256;            // fields kept per block; the rest are decoded, then dropped
  std::size_t max_list_bytes = 64 * 1024;  // name and value bytes kept per block
};

struct DecodedHeaderBlock {
  HeaderList fields;                 // in block order; unresolved names and values are "*"
  std::uint32_t unresolved = 0;      // fields with a "*" name or value (see infer_header_name)
  std::uint32_t inferred_names = 0;  // unresolved names given by infer_header_name
  std::uint32_t dropped = 0;         // fields past the limits
  std::size_t kept_bytes = 0;        // name and value bytes in `fields`
  bool table_complete = true;        // decoded with a fully known dynamic table
  bool cut = false;                  // not decoded to its end (input cut short, or invalid)
  bool error = false;                // not valid HPACK for the table the decoder has: sync lost
};

struct HpackStats {
  std::uint64_t blocks = 0;
  std::uint64_t unresolved_references = 0;  // references to entries the decoder never saw
  std::uint64_t errors = 0;                 // invalid blocks (nghttp2 or shadow)
  std::uint64_t sync_losses = 0;            // times the table became partly unknown
};

// The name of a trace-context header whose value has that header's exact shape (W3C
// traceparent, B3 single, Jaeger uber-trace-id), else empty: lets a literal whose name was an
// unknown table entry still feed context propagation. Shape only; the propagation model validates.
std::string_view infer_header_name(std::string_view value);

class HpackDecoder {
 public:
  static constexpr std::uint32_t kDefaultTableSize = 4096;
  static constexpr std::uint32_t kMaxTableSize = 64 * 1024;

  // `from_connection_start`: the decoder will see every block of its direction from the first
  // (synced path); otherwise the table starts unknown (shadow path).
  explicit HpackDecoder(bool from_connection_start);
  ~HpackDecoder();
  HpackDecoder(HpackDecoder&& other) noexcept;
  HpackDecoder& operator=(HpackDecoder&& other) noexcept;
  HpackDecoder(const HpackDecoder&) = delete;
  HpackDecoder& operator=(const HpackDecoder&) = delete;

  // Decodes a whole header block, or (`complete` false) the captured prefix of one whose rest
  // was lost, after which the table is unknown (see LOSS).
  DecodedHeaderBlock decode(std::string_view block, bool complete, const HpackLimits& limits = {});
  // A header block went by without being decoded: the table is unknown from here.
  void lose_sync();
  // The endpoint that decodes this direction acknowledged SETTINGS_HEADER_TABLE_SIZE `size`.
  // Only raises the bound: an encoder must follow a lower one with a size update, which the
  // decoder applies when it comes, so a peer that forgets it does not cost the table.
  void set_settings_table_size(std::uint32_t size);

  // nghttp2 is decoding (every block of the direction was seen).
  bool synced() const { return inflater_ != nullptr; }
  // References into the table resolve: nothing of unknown content may be in it.
  bool table_complete() const { return synced() || !older_unknown_; }
  const HpackStats& stats() const { return stats_; }

  // Decodes with the shadow path even when every block was seen: the tests and the fuzz target
  // compare both paths on the same blocks.
  static HpackDecoder shadow_from_connection_start();

 private:
  struct Entry {
    std::optional<std::string> name;  // unknown when inserted by a literal naming an unknown entry
    std::string value;
  };
  struct InflaterDeleter {
    void operator()(nghttp2_hd_inflater* inflater) const;
  };
  DecodedHeaderBlock decode_synced(std::string_view block, bool complete, const HpackLimits& limits);
  DecodedHeaderBlock decode_shadow(std::string_view block, bool complete, const HpackLimits& limits);
  HpackStep shadow_representation(std::string_view block, std::size_t& pos, bool& field_seen, DecodedHeaderBlock& out,
                             const HpackLimits& limits);
  // Name (nullopt: unknown) and value (nullopt: unknown) of table index `index`; false: invalid.
  bool lookup(std::uint64_t index, std::optional<std::string>& name, std::optional<std::string>& value);
  void insert(std::optional<std::string> name, std::string value);
  void apply_size_update(std::uint64_t size);
  void evict_to(std::uint64_t max_bytes, std::uint64_t incoming_bytes);
  void update_completeness();
  void emit(DecodedHeaderBlock& out, const std::optional<std::string>& name, const std::optional<std::string>& value,
            const HpackLimits& limits);

  std::unique_ptr<nghttp2_hd_inflater, InflaterDeleter> inflater_;
  std::uint32_t settings_table_size_ = kDefaultTableSize;
  // Shadow state.
  std::deque<Entry> entries_;            // newest first
  std::uint64_t entry_bytes_lower_ = 0;  // RFC 7541 sizes, unknown names counted as empty
  std::optional<std::uint64_t> max_size_;  // current maximum once known
  bool older_unknown_ = true;            // entries older than entries_ may exist
  HpackStats stats_;
};

}  // namespace zt::protocols::http2
