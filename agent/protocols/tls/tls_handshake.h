// The TLS record layer and handshake as the socket shows them (the ciphertext side; plaintext
// comes from the TLS library probes): that a connection is TLS, what its ClientHello and
// ServerHello say (SNI, ALPN, version, cipher suite, resumption), and the sizes of its encrypted
// records, kept so that plaintext seen by the probes can be bound to the connection by length
// (research/tls.md 5.3). Not a span-producing protocol: nothing here is in the protocol registry.
//
// Bounds: a record body is at most 16384 + 2048 bytes (RFC 5246 6.2.3) or the framing is lost;
// a hello is reassembled across records up to 16 KiB, larger ones are counted and skipped; SNI up
// to 255 bytes, at most 16 offered ALPN protocols; the last 64 application data records per
// direction. Malformed input is counted, never trusted: every length the wire declares is checked
// against what contains it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common.h"
#include "protocols/framing/length_prefixed.h"

namespace zt::protocols::tls {

inline constexpr std::size_t kRecordHeaderBytes = 5;
inline constexpr std::size_t kMaxRecordBody = 16384 + 2048;  // TLSCiphertext.length, RFC 5246 6.2.3
inline constexpr std::size_t kMaxHelloBytes = 16 * 1024;     // a hello larger than this is skipped
inline constexpr std::size_t kMaxSniBytes = 255;             // a DNS name (RFC 6066 3)
inline constexpr std::size_t kMaxAlpnOffered = 16;

// A TLS handshake record at a connection's first byte: content type 22, version 3.0-3.4, a
// plausible length and, when the sixth byte is there, a ClientHello or ServerHello. Needs three
// bytes. Never true for HTTP/1 (a token), the HTTP/2 preface ("PRI") or a Kafka frame (a 4-byte
// size: 0x1603.... would be 369 MB).
bool looks_like_tls(std::string_view bytes);
// Any TLS record header, for a chunk in the middle of a connection: content type 20-23 (change
// cipher spec, alert, handshake, application data), version 3.1-3.4, length 1..kMaxRecordBody.
// Needs the five header bytes.
bool looks_like_tls_record(std::string_view bytes);

// What the hellos showed. Strings are as the wire had them (ALPN ids are opaque bytes).
struct TlsFacts {
  // Negotiated: 0x0304 from the ServerHello's supported_versions (TLS 1.3), else its
  // legacy_version. 0 until the ServerHello.
  std::uint16_t version = 0;
  std::uint16_t cipher_suite = 0;         // the ServerHello's
  std::string sni;                        // the ClientHello's host_name, at most kMaxSniBytes
  std::vector<std::string> alpn_offered;  // the ClientHello's, at most kMaxAlpnOffered
  // Selected, when the ServerHello shows it (TLS 1.2): in 1.3 it is in the encrypted
  // EncryptedExtensions.
  std::string alpn;
  bool client_hello_seen = false;
  bool server_hello_seen = false;  // the real one, not a HelloRetryRequest
  bool hello_retry = false;        // the server sent a HelloRetryRequest first
  // An abbreviated handshake: the server accepted a PSK (1.3), or echoed the client's non-empty
  // session id (1.2 and earlier, ids and tickets alike).
  bool resumed = false;
};

// The OpenTelemetry tls.protocol.version value: "1.0" to "1.3", "3" for SSL 3.0 (whose
// tls.protocol.name is "ssl"); empty when unknown.
std::string_view version_name(std::uint16_t version);
// The IANA name of a common cipher suite ("TLS_AES_128_GCM_SHA256"); empty when not in the table.
std::string_view cipher_name(std::uint16_t suite);
// Bytes a record adds to its plaintext on the wire, header included, for the negotiated version
// and an AEAD cipher suite: wire size = plaintext + record_overhead. 0 when it is unknown or not
// fixed (CBC suites: padding; no ServerHello yet). A TLS 1.3 sender may pad records (RFC 8446
// 5.4); OpenSSL does not unless told to.
std::size_t record_overhead(const TlsFacts& facts);

// An application data record (in TLS 1.3 also the encrypted handshake and tickets: they look
// the same on the wire).
struct RecordInfo {
  std::uint64_t position = 0;  // stream offset of its header
  std::uint32_t size = 0;      // header and body: plaintext + record_overhead()
  std::uint64_t start_ns = 0;  // entry of the call that moved its first byte
  std::uint64_t end_ns = 0;    // exit of the call that moved its last byte
};

// The last kCapacity application data records of one direction, oldest first.
class RecentRecords {
 public:
  static constexpr std::size_t kCapacity = 64;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const RecordInfo& operator[](std::size_t i) const { return ring_[(next_ + kCapacity - size_ + i) % kCapacity]; }
  const RecordInfo& newest() const { return (*this)[size_ - 1]; }
  void push(const RecordInfo& record);

 private:
  std::array<RecordInfo, kCapacity> ring_{};
  std::size_t next_ = 0;
  std::size_t size_ = 0;
};

// Records of one direction, by content type.
struct TlsDirectionStats {
  std::uint64_t records = 0;  // = the four below
  std::uint64_t handshake_records = 0;
  std::uint64_t change_cipher_spec_records = 0;
  std::uint64_t alert_records = 0;
  std::uint64_t application_data_records = 0;
  std::uint64_t application_data_bytes = 0;  // on the wire, headers included
};

struct TlsStats {
  std::uint64_t records = 0;              // both directions
  std::uint64_t malformed = 0;            // invalid record headers, hellos that do not parse,
                                          // a hello from the wrong side
  std::uint64_t handshake_too_large = 0;  // hellos over kMaxHelloBytes, skipped
  std::uint64_t handshake_lost = 0;       // hellos, or the handshake's message framing, lost to
                                          // gaps and truncated captures
  std::uint64_t resyncs = 0;              // record framing lost and searched for again
  std::uint64_t bytes_skipped = 0;        // bytes dropped while out of record framing
};

// One TLS connection's socket bytes, both directions, each fed in stream order (gaps and
// truncated chunks allowed, see Chunk). Walks the records of each direction, skipping bodies by
// count; reads the handshake messages until encryption begins (a ChangeCipherSpec, except
// TLS 1.3's compatibility one after a HelloRetryRequest, or an application data record) or the
// real ServerHello ends what there is to learn; then only counts records and keeps the sizes of
// recent application data ones. The client is the side whose first hello is a ClientHello.
// Holds pointers to itself: not copyable or movable.
class TlsStreamParser {
 public:
  // `midstream`: the connection was first seen after its start: records are found by
  // resynchronising at a chunk that starts with a record header, and the handshake is over.
  explicit TlsStreamParser(bool midstream = false);
  TlsStreamParser(const TlsStreamParser&) = delete;
  TlsStreamParser& operator=(const TlsStreamParser&) = delete;

  void on_chunk(Direction dir, const Chunk& chunk);

  const TlsFacts& facts() const { return facts_; }
  // Nothing more to learn from the handshake: the ServerHello was read, or neither direction
  // can show a hello any more (encrypted, out of framing, midstream).
  bool done() const { return facts_.server_hello_seen || (!handshakes_[0].active && !handshakes_[1].active); }
  // The side that sent the ClientHello (or the other side of the ServerHello's), once known.
  std::optional<Direction> client_direction() const { return client_; }

  const TlsDirectionStats& direction_stats(Direction dir) const { return directions_[index(dir)].stats; }
  const RecentRecords& recent_records(Direction dir) const { return directions_[index(dir)].recent; }
  bool in_sync(Direction dir) const { return directions_[index(dir)].framer.in_sync(); }
  // Stream position up to which this direction needs no more bytes (see LengthPrefixedFramer).
  std::uint64_t skip_until(Direction dir) const { return directions_[index(dir)].framer.skip_until(); }
  TlsStats stats() const;

 private:
  // The handshake message stream of one direction, reassembled from its handshake records.
  struct Handshake {
    bool active = true;   // still reading messages
    bool in_sync = true;  // at or inside a message whose extent is known
    std::string header;   // the current message's 4-byte header, as far as it came
    std::uint8_t type = 0;
    std::uint32_t body_left = 0;  // body bytes still to come, once the header is complete
    bool keep = false;            // a hello within the bound: its body is kept
    bool intact = true;           // no byte of the body was lost
    std::string body;
  };
  struct DirectionState {
    explicit DirectionState(LengthPrefixedFramer&& f) : framer(std::move(f)) {}
    LengthPrefixedFramer framer;
    TlsDirectionStats stats;
    RecentRecords recent;
    std::optional<std::uint64_t> next_record;  // where the next record starts, while framed
  };

  static std::size_t index(Direction dir) { return static_cast<std::size_t>(dir); }
  LengthPrefixedFormat record_format(Direction dir);
  void on_record(Direction dir, Frame&& record);
  void feed_handshake(Direction dir, std::string_view captured, std::uint64_t missing);
  void lose_handshake_sync(Direction dir);
  void finish_message(Direction dir);
  void on_client_hello(Direction dir, std::string_view body);
  void on_server_hello(Direction dir, std::string_view body);
  bool hello_retry_pending() const { return facts_.hello_retry && !facts_.server_hello_seen; }

  TlsFacts facts_;
  std::string client_session_id_;  // for resumption in TLS 1.2
  std::optional<Direction> client_;
  std::array<Handshake, 2> handshakes_;
  std::array<DirectionState, 2> directions_;
  std::uint64_t malformed_ = 0;
  std::uint64_t handshake_too_large_ = 0;
  std::uint64_t handshake_lost_ = 0;
};

}  // namespace zt::protocols::tls
