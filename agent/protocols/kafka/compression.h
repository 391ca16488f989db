// Decompression of Kafka record batches from a captured prefix: the agent rarely holds a whole
// compressed batch, so every codec here produces what the bytes it has decode to, up to a bound on
// the output, and tells a stream that is corrupt from one that is merely cut short.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "protocols/kafka/kafka_wire.h"

namespace zt::protocols::kafka {

// Decompresses `input` (the compressed part of a batch, possibly cut short) with `codec`, keeping
// at most `max_out` bytes of output. `corrupt` is set when the stream contradicts its format before
// the input ends (not when the input ends early: the output is then the prefix that was decodable).
// Codec::None returns a bounded copy. Snappy accepts a raw block (librdkafka) or xerial framing
// (the Java client).
std::string decompress_prefix(Codec codec, std::span<const std::uint8_t> input, std::size_t max_out, bool& corrupt);

// The snappy raw format decoded from a prefix (the uncompressed-length varint, then literal and copy
// elements), for blocks libsnappy cannot take because they were cut short. Appends to `out`, at most
// `max_out` bytes in all; returns false when the block is corrupt.
bool snappy_raw_prefix(std::span<const std::uint8_t> block, std::size_t max_out, std::string& out);

}  // namespace zt::protocols::kafka
