#include "protocols/tls/tls_handshake.h"

#include <algorithm>
#include <span>

#include "protocols/framing/binary_reader.h"

namespace zt::protocols::tls {
namespace {

// Record content types (RFC 8446 5.1) and handshake message types (4).
constexpr std::uint8_t kChangeCipherSpec = 20;
constexpr std::uint8_t kAlert = 21;
constexpr std::uint8_t kHandshake = 22;
constexpr std::uint8_t kApplicationData = 23;
constexpr std::uint8_t kClientHello = 1;
constexpr std::uint8_t kServerHello = 2;

// Extensions read (RFC 6066 3, RFC 7301 3.1, RFC 8446 4.2).
constexpr std::uint16_t kServerName = 0;
constexpr std::uint16_t kAlpn = 16;
constexpr std::uint16_t kPreSharedKey = 41;
constexpr std::uint16_t kSupportedVersions = 43;

constexpr std::size_t kHandshakeHeaderBytes = 4;  // type, 24-bit length
constexpr std::size_t kRandomBytes = 32;
constexpr std::size_t kMaxSessionIdBytes = 32;

// A ServerHello with this random is a HelloRetryRequest: SHA-256("HelloRetryRequest"), RFC 8446 4.1.3.
constexpr std::array<std::uint8_t, kRandomBytes> kHelloRetryRandom = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

std::uint8_t byte_at(std::string_view bytes, std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); }

// The body length of a record header, or nullopt when it is not one: any content type the
// parser knows, version 3.0 to 3.4, at most kMaxRecordBody.
std::optional<std::uint64_t> record_body_length(std::span<const std::uint8_t> h) {
  if (h.size() < kRecordHeaderBytes) return std::nullopt;
  if (h[0] < kChangeCipherSpec || h[0] > kApplicationData || h[1] != 3 || h[2] > 4) return std::nullopt;
  const std::uint64_t length = (std::uint64_t{h[3]} << 8) | h[4];
  if (length > kMaxRecordBody) return std::nullopt;
  return length;
}

// The AEAD of a suite, for record_overhead(): what is added besides the header.
enum class Aead : std::uint8_t { None, AesGcm, AesCcm, AesCcm8, ChaCha20Poly1305 };

struct Suite {
  std::uint16_t id;
  std::string_view name;
  Aead aead;
};

// Names as IANA's TLS Cipher Suites registry has them (checked against `openssl ciphers -V
// -stdname` of OpenSSL 3.0): the TLS 1.3 suites and the TLS 1.2 ones OpenSSL, Go and browsers
// offer by default or commonly, sorted by id.
constexpr std::array<Suite, 37> kSuites = {{
    {0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", Aead::None},
    {0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA", Aead::None},
    {0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", Aead::None},
    {0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256", Aead::None},
    {0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256", Aead::None},
    {0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256", Aead::AesGcm},
    {0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384", Aead::AesGcm},
    {0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", Aead::AesGcm},
    {0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", Aead::AesGcm},
    {0x1301, "TLS_AES_128_GCM_SHA256", Aead::AesGcm},
    {0x1302, "TLS_AES_256_GCM_SHA384", Aead::AesGcm},
    {0x1303, "TLS_CHACHA20_POLY1305_SHA256", Aead::ChaCha20Poly1305},
    {0x1304, "TLS_AES_128_CCM_SHA256", Aead::AesCcm},
    {0x1305, "TLS_AES_128_CCM_8_SHA256", Aead::AesCcm8},
    {0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", Aead::None},
    {0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", Aead::None},
    {0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", Aead::None},
    {0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", Aead::None},
    {0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", Aead::None},
    {0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", Aead::None},
    {0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", Aead::None},
    {0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", Aead::None},
    {0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", Aead::AesGcm},
    {0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", Aead::AesGcm},
    {0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", Aead::AesGcm},
    {0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", Aead::AesGcm},
    {0xc09c, "TLS_RSA_WITH_AES_128_CCM", Aead::AesCcm},
    {0xc09d, "TLS_RSA_WITH_AES_256_CCM", Aead::AesCcm},
    {0xc0a0, "TLS_RSA_WITH_AES_128_CCM_8", Aead::AesCcm8},
    {0xc0a1, "TLS_RSA_WITH_AES_256_CCM_8", Aead::AesCcm8},
    {0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", Aead::AesCcm},
    {0xc0ad, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", Aead::AesCcm},
    {0xc0ae, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", Aead::AesCcm8},
    {0xc0af, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", Aead::AesCcm8},
    {0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", Aead::ChaCha20Poly1305},
    {0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", Aead::ChaCha20Poly1305},
    {0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", Aead::ChaCha20Poly1305},
}};

const Suite* find_suite(std::uint16_t id) {
  const auto* it =
      std::lower_bound(kSuites.begin(), kSuites.end(), id, [](const Suite& s, std::uint16_t v) { return s.id < v; });
  return it != kSuites.end() && it->id == id ? it : nullptr;
}

// A host_name as RFC 6066 3 allows it: 1 to 255 bytes of printable ASCII (no spaces, no controls).
bool plausible_host_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxSniBytes) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// The extensions block that ends a hello: a u16 length covering exactly what is left (a hello
// without extensions ends after its compression method(s): allowed before TLS 1.3). Calls
// `on_extension(type, data)` for each; false when the block is malformed or a callback says so.
template <typename OnExtension>
bool read_extensions(BinaryReader& r, OnExtension&& on_extension) {
  if (r.ok() && r.remaining() == 0) return true;
  const std::size_t total = r.u16();
  if (!r.ok() || total != r.remaining()) return false;
  BinaryReader block(r.bytes(total));
  while (block.ok() && block.remaining() > 0) {
    const std::uint16_t type = block.u16();
    const std::size_t length = block.u16();
    const auto data = block.bytes(length);
    if (!block.ok() || !on_extension(type, BinaryReader(data))) return false;
  }
  return block.ok();
}

// A ProtocolNameList (RFC 7301 3.1): a u16 length covering the rest, then u8-prefixed
// non-empty names. At most `max` names are taken.
bool read_alpn_list(BinaryReader r, std::vector<std::string>& out, std::size_t max) {
  const std::size_t total = r.u16();
  if (!r.ok() || total != r.remaining() || total == 0) return false;
  while (r.ok() && r.remaining() > 0) {
    const std::size_t length = r.u8();
    const std::string_view name = r.text(length);
    if (!r.ok() || length == 0) return false;
    if (out.size() < max) out.emplace_back(name);
  }
  return r.ok();
}

// A ServerNameList (RFC 6066 3): a u16 length covering the rest, then entries of a u8 type and
// a u16-prefixed name. The first host_name (type 0) is taken.
bool read_server_name(BinaryReader r, std::string& out) {
  const std::size_t total = r.u16();
  if (!r.ok() || total != r.remaining() || total == 0) return false;
  while (r.ok() && r.remaining() > 0) {
    const std::uint8_t type = r.u8();
    const std::size_t length = r.u16();
    const std::string_view name = r.text(length);
    if (!r.ok()) return false;
    if (type == 0 && out.empty()) {
      if (!plausible_host_name(name)) return false;
      out.assign(name);
    }
  }
  return r.ok();
}

}  // namespace

bool looks_like_tls(std::string_view bytes) {
  if (bytes.size() < 3) return false;
  if (byte_at(bytes, 0) != kHandshake || byte_at(bytes, 1) != 3 || byte_at(bytes, 2) > 4) return false;
  if (bytes.size() >= kRecordHeaderBytes) {
    const std::size_t length = (std::size_t{byte_at(bytes, 3)} << 8) | byte_at(bytes, 4);
    if (length == 0 || length > kMaxRecordBody) return false;
  }
  return bytes.size() < 6 || byte_at(bytes, 5) == kClientHello || byte_at(bytes, 5) == kServerHello;
}

bool looks_like_tls_record(std::string_view bytes) {
  if (bytes.size() < kRecordHeaderBytes) return false;
  const auto* h = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const auto length = record_body_length(std::span<const std::uint8_t>(h, kRecordHeaderBytes));
  return length && *length > 0 && h[2] >= 1;
}

std::string_view version_name(std::uint16_t version) {
  switch (version) {
    case 0x0300:
      return "3";
    case 0x0301:
      return "1.0";
    case 0x0302:
      return "1.1";
    case 0x0303:
      return "1.2";
    case 0x0304:
      return "1.3";
    default:
      return {};
  }
}

std::string_view cipher_name(std::uint16_t suite) {
  const Suite* s = find_suite(suite);
  return s != nullptr ? s->name : std::string_view{};
}

// Header (5, RFC 8446 5.1 / RFC 5246 6.2) plus what each AEAD adds to the plaintext:
// - TLS 1.3 (RFC 8446 5.2): the inner content type byte (1) and the tag; the nonce is implicit
//   (5.3). Tags: 16 for AES-GCM and ChaCha20-Poly1305 (RFC 5116 5.1, RFC 8439 2.8) and AES-CCM,
//   8 for AES-CCM-8 (RFC 6655 3): 22, or 14 for CCM-8.
// - TLS 1.2 AES-GCM (RFC 5288 3): an 8-byte explicit nonce and a 16-byte tag: 29. AES-CCM the
//   same (RFC 6655 3), 21 for CCM-8 (8-byte tag).
// - TLS 1.2 ChaCha20-Poly1305 (RFC 7905 2): the nonce is derived, no explicit part; 16-byte tag: 21.
// CBC suites add a MAC, padding to the block and (TLS 1.1+) an IV: not fixed.
std::size_t record_overhead(const TlsFacts& facts) {
  if (!facts.server_hello_seen) return 0;
  const Suite* s = find_suite(facts.cipher_suite);
  if (s == nullptr) return 0;
  const bool tls13_suite = (facts.cipher_suite >> 8) == 0x13;
  if (facts.version == 0x0304 && tls13_suite) {
    return kRecordHeaderBytes + 1 + (s->aead == Aead::AesCcm8 ? 8 : 16);
  }
  if (facts.version != 0x0303 || tls13_suite) return 0;  // AEAD suites need TLS 1.2
  switch (s->aead) {
    case Aead::AesGcm:
    case Aead::AesCcm:
      return kRecordHeaderBytes + 8 + 16;
    case Aead::AesCcm8:
      return kRecordHeaderBytes + 8 + 8;
    case Aead::ChaCha20Poly1305:
      return kRecordHeaderBytes + 16;
    case Aead::None:
      return 0;
  }
  return 0;
}

void RecentRecords::push(const RecordInfo& record) {
  ring_[next_] = record;
  next_ = (next_ + 1) % kCapacity;
  size_ = std::min(size_ + 1, kCapacity);
}

LengthPrefixedFormat TlsStreamParser::record_format(Direction dir) {
  LengthPrefixedFormat format;
  format.header_bytes = kRecordHeaderBytes;
  format.body_length = record_body_length;
  format.keep_bytes = kRecordHeaderBytes;
  // Handshake records are kept whole while this direction's handshake is read; of every other
  // record only the header (its type).
  format.keep_bytes_for = [this, dir](std::span<const std::uint8_t> h) -> std::size_t {
    if (h[0] != kHandshake || !handshakes_[index(dir)].active) return kRecordHeaderBytes;
    return kRecordHeaderBytes + ((std::size_t{h[3]} << 8) | h[4]);
  };
  return format;
}

TlsStreamParser::TlsStreamParser(bool midstream)
    : directions_{DirectionState(LengthPrefixedFramer(
                      record_format(Direction::Egress),
                      [this](Frame&& f) { on_record(Direction::Egress, std::move(f)); }, !midstream)),
                  DirectionState(LengthPrefixedFramer(
                      record_format(Direction::Ingress),
                      [this](Frame&& f) { on_record(Direction::Ingress, std::move(f)); }, !midstream))} {
  if (midstream) {
    for (auto& h : handshakes_) h.active = false;
  }
}

void TlsStreamParser::on_chunk(Direction dir, const Chunk& chunk) { directions_[index(dir)].framer.on_chunk(chunk); }

TlsStats TlsStreamParser::stats() const {
  TlsStats out;
  for (const auto& d : directions_) {
    const FramerStats& f = d.framer.stats();
    out.records += d.stats.records;
    out.malformed += f.invalid_headers;
    out.resyncs += f.resyncs;
    out.bytes_skipped += f.bytes_skipped;
  }
  out.malformed += malformed_;
  out.handshake_too_large = handshake_too_large_;
  out.handshake_lost = handshake_lost_;
  return out;
}

void TlsStreamParser::on_record(Direction dir, Frame&& record) {
  DirectionState& d = directions_[index(dir)];
  Handshake& hs = handshakes_[index(dir)];
  ++d.stats.records;
  // Records were lost before this one (the framer resynchronised): so were handshake bytes.
  if (d.next_record && *d.next_record != record.position && hs.active) lose_handshake_sync(dir);
  d.next_record = record.position + record.size;
  const auto type = static_cast<std::uint8_t>(record.bytes[0]);
  switch (type) {
    case kHandshake: {
      ++d.stats.handshake_records;
      if (!hs.active) break;
      // Kept whole while active (keep_bytes_for): what is missing was lost at the body's end.
      const std::uint64_t body = record.size - kRecordHeaderBytes;
      const std::string_view captured = std::string_view(record.bytes).substr(kRecordHeaderBytes);
      feed_handshake(dir, captured, body - captured.size());
      break;
    }
    case kChangeCipherSpec:
      ++d.stats.change_cipher_spec_records;
      // What follows is encrypted, unless this is TLS 1.3's compatibility record around a
      // HelloRetryRequest (RFC 8446 D.4): the real ServerHello and the second ClientHello follow.
      if (!hello_retry_pending()) hs.active = false;
      break;
    case kAlert:
      ++d.stats.alert_records;
      break;
    default: {
      ++d.stats.application_data_records;
      d.stats.application_data_bytes += record.size;
      hs.active = false;  // encrypted from here on
      RecordInfo info;
      info.position = record.position;
      info.size = static_cast<std::uint32_t>(record.size);
      info.start_ns = record.start_ns;
      info.end_ns = record.end_ns;
      d.recent.push(info);
      break;
    }
  }
}

// Handshake messages (a 4-byte header: type, u24 length) run across records. `captured` is the
// start of one record's body; `missing` bytes of it at its end were not captured.
void TlsStreamParser::feed_handshake(Direction dir, std::string_view captured, std::uint64_t missing) {
  Handshake& hs = handshakes_[index(dir)];
  if (!hs.in_sync) {
    // Lost within a message earlier: take this record as the start of one if it reads as a
    // hello's header (senders start a flight's first message at a record's start).
    if (captured.size() < kHandshakeHeaderBytes ||
        (byte_at(captured, 0) != kClientHello && byte_at(captured, 0) != kServerHello)) {
      return;
    }
    hs.in_sync = true;
    hs.header.clear();
  }
  while (!captured.empty() && hs.active) {
    if (hs.header.size() < kHandshakeHeaderBytes) {
      const std::size_t n = std::min(kHandshakeHeaderBytes - hs.header.size(), captured.size());
      hs.header.append(captured.substr(0, n));
      captured.remove_prefix(n);
      if (hs.header.size() < kHandshakeHeaderBytes) break;
      hs.type = byte_at(hs.header, 0);
      hs.body_left = (std::uint32_t{byte_at(hs.header, 1)} << 16) | (std::uint32_t{byte_at(hs.header, 2)} << 8) |
                     byte_at(hs.header, 3);
      const bool hello = hs.type == kClientHello || hs.type == kServerHello;
      hs.keep = hello && hs.body_left <= kMaxHelloBytes;
      if (hello && !hs.keep) ++handshake_too_large_;
      hs.intact = true;
      hs.body.clear();
      if (hs.body_left == 0) finish_message(dir);
      continue;
    }
    const std::size_t n = std::min<std::size_t>(hs.body_left, captured.size());
    if (hs.keep) hs.body.append(captured.substr(0, n));
    captured.remove_prefix(n);
    hs.body_left -= static_cast<std::uint32_t>(n);
    if (hs.body_left == 0) finish_message(dir);
  }
  if (missing == 0 || !hs.active) return;
  if (hs.header.size() == kHandshakeHeaderBytes && missing <= hs.body_left) {
    // Lost inside one message's body: its end is still known.
    if (hs.keep && hs.intact) ++handshake_lost_;
    hs.intact = false;
    hs.body_left -= static_cast<std::uint32_t>(missing);
    if (hs.body_left == 0) finish_message(dir);
    return;
  }
  lose_handshake_sync(dir);  // a message header was lost
}

// The message boundaries are no longer known.
void TlsStreamParser::lose_handshake_sync(Direction dir) {
  Handshake& hs = handshakes_[index(dir)];
  if (!hs.in_sync) return;
  ++handshake_lost_;
  hs.in_sync = false;
  hs.header.clear();
  hs.body.clear();
  hs.keep = false;
}

void TlsStreamParser::finish_message(Direction dir) {
  Handshake& hs = handshakes_[index(dir)];
  if (hs.keep && hs.intact) {
    if (hs.type == kClientHello) on_client_hello(dir, hs.body);
    if (hs.type == kServerHello) on_server_hello(dir, hs.body);
  }
  hs.header.clear();
  hs.body.clear();
  hs.keep = false;
}

// ClientHello (RFC 8446 4.1.2, RFC 5246 7.4.1.2): legacy_version, random, session id, cipher
// suites, compression methods, extensions. Facts are taken only from a hello that parses whole.
void TlsStreamParser::on_client_hello(Direction dir, std::string_view body) {
  if (client_ && *client_ != dir) {
    ++malformed_;  // a ClientHello from the server
    return;
  }
  BinaryReader r(body);
  r.u16();  // legacy_version: the real offer is in supported_versions
  r.skip(kRandomBytes);
  const std::size_t session_id_length = r.u8();
  const std::string_view session_id = r.text(session_id_length);
  const std::size_t suites_length = r.u16();
  r.skip(suites_length);
  const std::size_t compression_length = r.u8();
  r.skip(compression_length);
  std::string sni;
  std::vector<std::string> alpn;
  const bool ok = r.ok() && session_id_length <= kMaxSessionIdBytes && suites_length >= 2 && suites_length % 2 == 0 &&
                  compression_length >= 1 && read_extensions(r, [&](std::uint16_t type, BinaryReader data) {
                    if (type == kServerName) return sni.empty() && read_server_name(data, sni);
                    if (type == kAlpn) return alpn.empty() && read_alpn_list(data, alpn, kMaxAlpnOffered);
                    return true;
                  });
  if (!ok) {
    ++malformed_;
    return;
  }
  client_ = dir;
  facts_.client_hello_seen = true;
  facts_.sni = std::move(sni);  // a second ClientHello (after a HelloRetryRequest) replaces the first
  facts_.alpn_offered = std::move(alpn);
  client_session_id_.assign(session_id);
}

// ServerHello (RFC 8446 4.1.3, RFC 5246 7.4.1.3): legacy_version, random, session id echo,
// cipher suite, compression method, extensions. A HelloRetryRequest has the same layout.
void TlsStreamParser::on_server_hello(Direction dir, std::string_view body) {
  if (client_ && *client_ == dir) {
    ++malformed_;  // a ServerHello from the client
    return;
  }
  BinaryReader r(body);
  const std::uint16_t legacy_version = r.u16();
  const auto random = r.bytes(kRandomBytes);
  const std::size_t session_id_length = r.u8();
  const std::string_view session_id = r.text(session_id_length);
  const std::uint16_t suite = r.u16();
  r.u8();  // compression method
  std::uint16_t selected_version = 0;
  std::vector<std::string> alpn;
  bool psk = false;
  const bool ok = r.ok() && session_id_length <= kMaxSessionIdBytes &&
                  read_extensions(r, [&](std::uint16_t type, BinaryReader data) {
                    if (type == kSupportedVersions) {
                      selected_version = data.u16();
                      return data.ok() && data.remaining() == 0;
                    }
                    if (type == kAlpn) return alpn.empty() && read_alpn_list(data, alpn, 2) && alpn.size() == 1;
                    if (type == kPreSharedKey) psk = true;
                    return true;
                  });
  if (!ok) {
    ++malformed_;
    return;
  }
  client_ = dir == Direction::Egress ? Direction::Ingress : Direction::Egress;
  if (std::equal(random.begin(), random.end(), kHelloRetryRandom.begin(), kHelloRetryRandom.end())) {
    facts_.hello_retry = true;  // the real ServerHello follows the client's second ClientHello
    return;
  }
  facts_.server_hello_seen = true;
  facts_.version = selected_version != 0 ? selected_version : legacy_version;
  facts_.cipher_suite = suite;
  if (!alpn.empty()) facts_.alpn = std::move(alpn.front());
  // TLS 1.3 clients send a random session id for middlebox compatibility, which the server
  // echoes (RFC 8446 D.4): only an accepted PSK says resumed there.
  facts_.resumed =
      selected_version != 0 ? psk : !session_id.empty() && session_id == std::string_view(client_session_id_);
  // Everything after the ServerHello is encrypted (1.3) or holds nothing this parser reads (1.2).
  for (auto& h : handshakes_) h.active = false;
}

}  // namespace zt::protocols::tls
