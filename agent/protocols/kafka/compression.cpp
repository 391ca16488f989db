#include "protocols/kafka/compression.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

namespace zt::protocols::kafka {
namespace {

// Output grows in steps of this much, so a small batch never allocates the whole bound.
constexpr std::size_t kStep = 16 * 1024;
// zstd keeps a window as large as the frame header asks for: refuse frames wanting more than 8 MiB
// (producers use 2 MiB or less at their default levels) instead of allocating it.
constexpr int kZstdWindowLogMax = 23;

std::size_t grow(std::string& out, std::size_t max_out) {
  const std::size_t old = out.size();
  out.resize(old + std::min(kStep, max_out - old));
  return old;
}

std::string gunzip(std::span<const std::uint8_t> in, std::size_t max_out, bool& corrupt) {
  std::string out;
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {  // 16: gzip wrapper (Kafka's gzip is a gzip file)
    corrupt = true;
    return out;
  }
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  std::size_t used = 0;
  while (used < max_out) {
    const std::size_t at = grow(out, max_out);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + at);
    zs.avail_out = static_cast<uInt>(out.size() - at);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    used = out.size() - zs.avail_out;
    out.resize(used);
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR || (rc == Z_OK && zs.avail_in == 0 && zs.avail_out > 0)) break;  // input ran out
    if (rc != Z_OK) {
      corrupt = true;
      break;
    }
  }
  inflateEnd(&zs);
  return out;
}

struct ZstdFree {
  void operator()(ZSTD_DCtx* ctx) const { ZSTD_freeDCtx(ctx); }
};

std::string unzstd(std::span<const std::uint8_t> in, std::size_t max_out, bool& corrupt) {
  // One context per thread, reset per call: its window buffer is reused across batches.
  thread_local std::unique_ptr<ZSTD_DCtx, ZstdFree> ctx(ZSTD_createDCtx());
  std::string out;
  if (!ctx) {
    corrupt = true;
    return out;
  }
  ZSTD_DCtx_reset(ctx.get(), ZSTD_reset_session_and_parameters);
  ZSTD_DCtx_setParameter(ctx.get(), ZSTD_d_windowLogMax, kZstdWindowLogMax);
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  std::size_t used = 0;
  while (used < max_out) {
    const std::size_t at = grow(out, max_out);
    ZSTD_outBuffer dst{out.data() + at, out.size() - at, 0};
    const std::size_t rc = ZSTD_decompressStream(ctx.get(), &dst, &src);
    used = at + dst.pos;
    out.resize(used);
    if (ZSTD_isError(rc)) {
      corrupt = true;
      break;
    }
    // Input consumed and everything decodable flushed: the rest of the stream was not captured.
    if (src.pos == src.size && dst.pos < dst.size) break;
  }
  out.resize(used);
  return out;
}

struct Lz4Free {
  void operator()(LZ4F_dctx* ctx) const { LZ4F_freeDecompressionContext(ctx); }
};

std::string unlz4(std::span<const std::uint8_t> in, std::size_t max_out, bool& corrupt) {
  std::string out;
  LZ4F_dctx* raw = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) {
    corrupt = true;
    return out;
  }
  std::unique_ptr<LZ4F_dctx, Lz4Free> ctx(raw);
  std::size_t pos = 0;
  std::size_t used = 0;
  while (used < max_out) {
    const std::size_t at = grow(out, max_out);
    std::size_t dst_size = out.size() - at;
    std::size_t src_size = in.size() - pos;
    const std::size_t rc = LZ4F_decompress(ctx.get(), out.data() + at, &dst_size, in.data() + pos, &src_size, nullptr);
    used = at + dst_size;
    out.resize(used);
    if (LZ4F_isError(rc)) {
      corrupt = true;
      break;
    }
    pos += src_size;
    if (rc == 0 && pos == in.size()) break;     // frame complete
    if (dst_size == 0 && src_size == 0) break;  // input ran out
  }
  out.resize(used);
  return out;
}

// A whole snappy block through libsnappy when its output fits the bound; otherwise (or when
// libsnappy refuses it, as it does a block cut short) the prefix decoder.
bool snappy_block(std::span<const std::uint8_t> block, std::size_t max_out, std::string& out) {
  const auto* src = reinterpret_cast<const char*>(block.data());
  std::size_t length = 0;
  if (snappy_uncompressed_length(src, block.size(), &length) == SNAPPY_OK && length <= max_out - out.size() &&
      snappy_validate_compressed_buffer(src, block.size()) == SNAPPY_OK) {
    const std::size_t at = out.size();
    out.resize(at + length);
    std::size_t produced = length;
    if (snappy_uncompress(src, block.size(), out.data() + at, &produced) == SNAPPY_OK) {
      out.resize(at + produced);
      return true;
    }
    out.resize(at);
  }
  return snappy_raw_prefix(block, max_out, out);
}

constexpr std::array<std::uint8_t, 8> kXerialMagic = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr std::size_t kXerialHeader = 16;  // magic, INT32 version, INT32 compatible version

std::string unsnappy(std::span<const std::uint8_t> in, std::size_t max_out, bool& corrupt) {
  std::string out;
  const std::size_t magic = std::min(in.size(), kXerialMagic.size());
  const bool xerial = magic > 0 && std::equal(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(magic),
                                              kXerialMagic.begin());
  if (!xerial) {
    if (!snappy_block(in, max_out, out)) corrupt = true;
    return out;
  }
  // Xerial framing (the Java client): a header, then [INT32 length][raw block] repeated.
  std::size_t pos = kXerialHeader;
  while (pos + 4 <= in.size() && out.size() < max_out) {
    const std::uint32_t length = (std::uint32_t{in[pos]} << 24) | (std::uint32_t{in[pos + 1]} << 16) |
                                 (std::uint32_t{in[pos + 2]} << 8) | in[pos + 3];
    pos += 4;
    if (length > 0x7fffffffu) {
      corrupt = true;
      break;
    }
    const std::size_t take = std::min<std::size_t>(length, in.size() - pos);
    if (!snappy_block(in.subspan(pos, take), max_out, out)) {
      corrupt = true;
      break;
    }
    pos += take;
  }
  return out;
}

}  // namespace

bool snappy_raw_prefix(std::span<const std::uint8_t> in, std::size_t max_out, std::string& out) {
  std::size_t pos = 0;
  std::uint64_t length = 0;
  for (int shift = 0;; shift += 7) {
    if (pos == in.size()) return true;  // cut inside the length: nothing to decode yet
    if (shift > 28) return false;       // over 5 bytes: not a 32-bit length
    const std::uint8_t b = in[pos++];
    length |= static_cast<std::uint64_t>(b & 0x7fu) << shift;
    if ((b & 0x80) == 0) break;
  }
  if (length > 0xffffffffu) return false;
  std::uint64_t produced = 0;
  // Little-endian value of `n` bytes at `at`.
  auto le = [&](std::size_t at, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{in[at + i]} << (8 * i);
    return v;
  };
  while (pos < in.size() && produced < length && out.size() < max_out) {
    const std::uint8_t tag = in[pos];
    std::uint64_t n = 0;
    if ((tag & 3) == 0) {  // literal
      std::size_t extra = 0;
      n = tag >> 2;
      if (n >= 60) {
        extra = n - 59;
        if (pos + 1 + extra > in.size()) return true;
        n = le(pos + 1, extra);
      }
      n += 1;
      pos += 1 + extra;
      if (produced + n > length) return false;
      const std::size_t avail = static_cast<std::size_t>(std::min<std::uint64_t>(n, in.size() - pos));
      out.append(reinterpret_cast<const char*>(in.data() + pos), std::min(avail, max_out - out.size()));
      pos += avail;
      produced += avail;
      if (avail < n) return true;  // the literal was cut short: what was captured is out
      continue;
    }
    std::uint64_t offset = 0;
    if ((tag & 3) == 1) {
      if (pos + 2 > in.size()) return true;
      n = 4 + ((tag >> 2) & 7);
      offset = (static_cast<std::uint64_t>(tag >> 5) << 8) | in[pos + 1];
      pos += 2;
    } else if ((tag & 3) == 2) {
      if (pos + 3 > in.size()) return true;
      n = (tag >> 2) + 1;
      offset = le(pos + 1, 2);
      pos += 3;
    } else {
      if (pos + 5 > in.size()) return true;
      n = (tag >> 2) + 1;
      offset = le(pos + 1, 4);
      pos += 5;
    }
    if (offset == 0 || offset > produced || produced + n > length) return false;
    // Byte by byte: a copy may overlap what it produces (offset < length repeats a run).
    for (std::uint64_t i = 0; i < n && out.size() < max_out; ++i) out.push_back(out[out.size() - offset]);
    produced += n;
  }
  return true;
}

std::string decompress_prefix(Codec codec, std::span<const std::uint8_t> input, std::size_t max_out, bool& corrupt) {
  switch (codec) {
    case Codec::None:
      return {reinterpret_cast<const char*>(input.data()), std::min(input.size(), max_out)};
    case Codec::Gzip:
      return gunzip(input, max_out, corrupt);
    case Codec::Snappy:
      return unsnappy(input, max_out, corrupt);
    case Codec::Lz4:
      return unlz4(input, max_out, corrupt);
    case Codec::Zstd:
      return unzstd(input, max_out, corrupt);
  }
  corrupt = true;
  return {};
}

}  // namespace zt::protocols::kafka
