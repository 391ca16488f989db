// The TLS record and handshake parser on real handshakes between OpenSSL clients and servers
// (tests/fixtures/tls, see its README): SNI, ALPN, version, cipher suite, resumption,
// HelloRetryRequest, record sizes against plaintext sizes; the same bytes re-cut into 1-byte
// chunks, across gaps and truncated captures, midstream; and hand-made hostile hellos.
#include "protocols/tls/tls_handshake.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/text.h"
#include "protocols/detector.h"

namespace zt::protocols::tls {
namespace {

// ---- fixtures ----------------------------------------------------------------------------------

struct RecordedChunk {
  Direction dir;
  std::string data;
  std::optional<std::size_t> plaintext;  // the one SSL_write of this many bytes it carries
};

std::vector<RecordedChunk> load_fixture(std::string_view name) {
  std::ifstream in(std::string(ZT_FIXTURES_DIR) + "/tls/" + std::string(name) + ".json");
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  if (!in.good()) return {};
  const nlohmann::json fixture = nlohmann::json::parse(in);
  std::vector<RecordedChunk> chunks;
  for (const auto& chunk : fixture.at("chunks")) {
    RecordedChunk c;
    c.dir = chunk.at("dir") == "ingress" ? Direction::Ingress : Direction::Egress;
    c.data = text::base64_decode(chunk.at("data_b64").get<std::string>()).value();
    if (chunk.contains("plaintext")) c.plaintext = chunk.at("plaintext").get<std::size_t>();
    chunks.push_back(std::move(c));
  }
  return chunks;
}

Direction other(Direction dir) { return dir == Direction::Egress ? Direction::Ingress : Direction::Egress; }

// A parser and the stream positions of both directions.
struct Feed {
  explicit Feed(bool midstream = false) : parser(midstream) {}

  // One call moving `size` bytes (default: all of `data`) of which `data` was captured.
  void call(Direction dir, std::string_view data, std::uint64_t size = 0) {
    Chunk c;
    c.position = position[static_cast<int>(dir)];
    c.size = size != 0 ? size : data.size();
    c.data = data;
    c.start_ns = clock;
    c.end_ns = clock + 10;
    clock += 100;
    parser.on_chunk(dir, c);
    position[static_cast<int>(dir)] += c.size;
  }
  void gap(Direction dir, std::uint64_t size) {
    Chunk c;
    c.position = position[static_cast<int>(dir)];
    c.size = size;
    c.gap = true;
    parser.on_chunk(dir, c);
    position[static_cast<int>(dir)] += size;
  }
  // Every chunk whole, or cut into pieces of at most `piece` bytes (one call each).
  void replay(const std::vector<RecordedChunk>& chunks, std::size_t piece = 0, bool swap = false) {
    for (const auto& c : chunks) {
      const Direction dir = swap ? other(c.dir) : c.dir;
      if (piece == 0) {
        call(dir, c.data);
        continue;
      }
      for (std::size_t at = 0; at < c.data.size(); at += piece) call(dir, std::string_view(c.data).substr(at, piece));
    }
  }

  TlsStreamParser parser;
  std::uint64_t position[2] = {0, 0};
  std::uint64_t clock = 1000;
};

// The record the direction's ring holds at `position`, if any.
std::optional<RecordInfo> recent_at(const TlsStreamParser& p, Direction dir, std::uint64_t position) {
  const RecentRecords& recent = p.recent_records(dir);
  for (std::size_t i = 0; i < recent.size(); ++i) {
    if (recent[i].position == position) return recent[i];
  }
  return std::nullopt;
}

const std::vector<std::string> kOfferedAlpn = {"h2", "http/1.1"};

void expect_clean(const TlsStreamParser& p) {
  const TlsStats s = p.stats();
  EXPECT_EQ(s.malformed, 0u);
  EXPECT_EQ(s.handshake_too_large, 0u);
  EXPECT_EQ(s.handshake_lost, 0u);
  EXPECT_EQ(s.resyncs, 0u);
  EXPECT_EQ(s.bytes_skipped, 0u);
}

// ---- what the handshakes show ------------------------------------------------------------------

TEST(TlsFixtures, Tls13ShowsSniOfferedAlpnVersionAndCipher) {
  Feed f;
  f.replay(load_fixture("tls13"));
  const TlsFacts& facts = f.parser.facts();
  EXPECT_TRUE(facts.client_hello_seen);
  EXPECT_TRUE(facts.server_hello_seen);
  EXPECT_EQ(facts.sni, "example.test");
  EXPECT_EQ(facts.alpn_offered, kOfferedAlpn);
  EXPECT_EQ(facts.alpn, "") << "selected in the encrypted EncryptedExtensions";
  EXPECT_EQ(facts.version, 0x0304) << "from supported_versions: legacy_version says 1.2";
  EXPECT_EQ(version_name(facts.version), "1.3");
  EXPECT_EQ(facts.cipher_suite, 0x1302);
  EXPECT_EQ(cipher_name(facts.cipher_suite), "TLS_AES_256_GCM_SHA384");
  EXPECT_FALSE(facts.resumed);
  EXPECT_FALSE(facts.hello_retry);
  EXPECT_EQ(record_overhead(facts), 22u);
  EXPECT_TRUE(f.parser.done());
  EXPECT_EQ(f.parser.client_direction(), Direction::Egress);
  expect_clean(f.parser);
}

TEST(TlsFixtures, Tls12ShowsTheSelectedAlpn) {
  Feed f;
  f.replay(load_fixture("tls12_aes128gcm"));
  const TlsFacts& facts = f.parser.facts();
  EXPECT_EQ(facts.sni, "example.test");
  EXPECT_EQ(facts.alpn_offered, kOfferedAlpn);
  EXPECT_EQ(facts.alpn, "http/1.1") << "the server's choice, not the client's first";
  EXPECT_EQ(version_name(facts.version), "1.2");
  EXPECT_EQ(cipher_name(facts.cipher_suite), "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
  EXPECT_FALSE(facts.resumed) << "a new session: the server's id is not the client's (empty) one";
  EXPECT_EQ(record_overhead(facts), 29u);
  EXPECT_TRUE(f.parser.done());
  expect_clean(f.parser);
}

TEST(TlsFixtures, Tls12ChaCha20WithoutAlpnOnTheServer) {
  Feed f;
  f.replay(load_fixture("tls12_chacha20"));
  const TlsFacts& facts = f.parser.facts();
  EXPECT_EQ(facts.alpn_offered, kOfferedAlpn);
  EXPECT_EQ(facts.alpn, "");
  EXPECT_EQ(cipher_name(facts.cipher_suite), "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");
  EXPECT_EQ(record_overhead(facts), 21u);
  expect_clean(f.parser);
}

TEST(TlsFixtures, ResumedSessionsAreRecognised) {
  for (const char* name : {"tls12_resumed", "tls13_resumed"}) {
    SCOPED_TRACE(name);
    Feed f;
    f.replay(load_fixture(name));
    EXPECT_TRUE(f.parser.facts().server_hello_seen);
    EXPECT_TRUE(f.parser.facts().resumed);
    EXPECT_EQ(f.parser.facts().sni, "example.test");
    expect_clean(f.parser);
  }
}

TEST(TlsFixtures, HelloRetryRequestWaitsForTheRealServerHello) {
  const auto chunks = load_fixture("tls13_hrr");
  ASSERT_GE(chunks.size(), 4u);
  Feed f;
  f.replay({chunks[0], chunks[1]});  // ClientHello; HelloRetryRequest and a compatibility CCS
  EXPECT_TRUE(f.parser.facts().hello_retry);
  EXPECT_FALSE(f.parser.facts().server_hello_seen);
  EXPECT_EQ(f.parser.facts().version, 0) << "a HelloRetryRequest negotiates nothing yet";
  EXPECT_FALSE(f.parser.done());
  f.replay({chunks[2]});  // the client's compatibility CCS, then its second ClientHello
  EXPECT_FALSE(f.parser.done()) << "the CCS around a HelloRetryRequest does not start encryption";
  f.replay({chunks.begin() + 3, chunks.end()});
  const TlsFacts& facts = f.parser.facts();
  EXPECT_TRUE(facts.server_hello_seen);
  EXPECT_TRUE(facts.hello_retry);
  EXPECT_EQ(facts.version, 0x0304);
  EXPECT_EQ(facts.sni, "example.test");
  EXPECT_EQ(f.parser.direction_stats(Direction::Egress).change_cipher_spec_records, 1u);
  EXPECT_EQ(f.parser.direction_stats(Direction::Ingress).change_cipher_spec_records, 1u);
  expect_clean(f.parser);
}

TEST(TlsFixtures, TheClientIsTheSideThatSentTheClientHello) {
  Feed f;
  f.replay(load_fixture("tls12_aes128gcm"), 0, /*swap=*/true);  // seen from the server
  EXPECT_EQ(f.parser.client_direction(), Direction::Ingress);
  EXPECT_EQ(f.parser.facts().sni, "example.test");
  EXPECT_EQ(f.parser.facts().alpn, "http/1.1");
  expect_clean(f.parser);
}

// ---- records and plaintext sizes -----------------------------------------------------------------

class TlsRecordSizes : public testing::TestWithParam<const char*> {};

// Each SSL_write of n bytes after the handshake became one record of n + record_overhead() bytes.
TEST_P(TlsRecordSizes, ApplicationDataRecordsArePlaintextPlusOverhead) {
  const auto chunks = load_fixture(GetParam());
  Feed f;
  int checked = 0;
  for (const auto& c : chunks) {
    const std::uint64_t position = f.position[static_cast<int>(c.dir)];
    f.call(c.dir, c.data);
    if (!c.plaintext) continue;
    const auto record = recent_at(f.parser, c.dir, position);
    ASSERT_TRUE(record) << "no record at " << position;
    EXPECT_EQ(record->size, *c.plaintext + record_overhead(f.parser.facts())) << *c.plaintext << " bytes of plaintext";
    EXPECT_EQ(record->size, c.data.size()) << "one record per write";
    EXPECT_LE(record->start_ns, record->end_ns);
    ++checked;
  }
  EXPECT_EQ(checked, 6);
  EXPECT_GT(record_overhead(f.parser.facts()), 0u);
  // Counters add up: every record has one of the four types.
  for (Direction dir : {Direction::Egress, Direction::Ingress}) {
    const TlsDirectionStats& s = f.parser.direction_stats(dir);
    EXPECT_EQ(s.records,
              s.handshake_records + s.change_cipher_spec_records + s.alert_records + s.application_data_records);
    EXPECT_EQ(f.parser.recent_records(dir).size(), s.application_data_records) << "fewer than the ring holds";
  }
  EXPECT_EQ(f.parser.stats().records,
            f.parser.direction_stats(Direction::Egress).records + f.parser.direction_stats(Direction::Ingress).records);
  expect_clean(f.parser);
}

// Cut into 1-byte and 7-byte calls, every record header and hello split everywhere: the same
// facts and records.
TEST_P(TlsRecordSizes, OneByteChunksGiveTheSameFactsAndRecords) {
  const auto chunks = load_fixture(GetParam());
  Feed whole;
  whole.replay(chunks);
  for (std::size_t piece : {1, 7}) {
    SCOPED_TRACE(piece);
    Feed cut;
    cut.replay(chunks, piece);
    const TlsFacts &a = whole.parser.facts(), &b = cut.parser.facts();
    EXPECT_EQ(a.sni, b.sni);
    EXPECT_EQ(a.alpn_offered, b.alpn_offered);
    EXPECT_EQ(a.alpn, b.alpn);
    EXPECT_EQ(a.version, b.version);
    EXPECT_EQ(a.cipher_suite, b.cipher_suite);
    EXPECT_EQ(a.resumed, b.resumed);
    EXPECT_EQ(a.hello_retry, b.hello_retry);
    EXPECT_EQ(whole.parser.stats().records, cut.parser.stats().records);
    for (Direction dir : {Direction::Egress, Direction::Ingress}) {
      const RecentRecords &x = whole.parser.recent_records(dir), &y = cut.parser.recent_records(dir);
      ASSERT_EQ(x.size(), y.size());
      for (std::size_t i = 0; i < x.size(); ++i) {
        EXPECT_EQ(x[i].position, y[i].position);
        EXPECT_EQ(x[i].size, y[i].size);
      }
    }
    expect_clean(cut.parser);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TlsRecordSizes,
                         testing::Values("tls13", "tls13_resumed", "tls13_hrr", "tls12_aes128gcm", "tls12_resumed",
                                         "tls12_chacha20"));

// ---- losses ----------------------------------------------------------------------------------------

TEST(TlsLosses, AGapInTheClientHelloLosesItButNotTheRecords) {
  const auto chunks = load_fixture("tls13");
  Feed whole;
  whole.replay(chunks);
  Feed f;
  const std::string& hello = chunks[0].data;
  f.call(Direction::Egress, std::string_view(hello).substr(0, 100));
  f.gap(Direction::Egress, 50);
  f.call(Direction::Egress, std::string_view(hello).substr(150));
  f.replay({chunks.begin() + 1, chunks.end()});
  const TlsFacts& facts = f.parser.facts();
  EXPECT_FALSE(facts.client_hello_seen);
  EXPECT_EQ(facts.sni, "");
  EXPECT_TRUE(facts.server_hello_seen) << "the other direction is whole";
  EXPECT_EQ(facts.version, 0x0304);
  EXPECT_EQ(f.parser.client_direction(), Direction::Egress) << "the other side of the ServerHello";
  EXPECT_EQ(f.parser.stats().handshake_lost, 1u);
  EXPECT_EQ(f.parser.stats().records, whole.parser.stats().records) << "the framing held across the gap";
  EXPECT_EQ(f.parser.stats().malformed, 0u);
}

TEST(TlsLosses, ATruncatedCaptureSkipsBodiesByCount) {
  const auto chunks = load_fixture("tls12_aes128gcm");
  Feed whole;
  whole.replay(chunks);
  Feed f;
  for (const auto& c : chunks) {
    // The ClientHello and the largest write: only their first 64 bytes captured.
    const bool cut = (&c == &chunks.front()) || c.data.size() > 16000;
    f.call(c.dir, cut ? std::string_view(c.data).substr(0, 64) : std::string_view(c.data), c.data.size());
  }
  EXPECT_FALSE(f.parser.facts().client_hello_seen);
  EXPECT_EQ(f.parser.stats().handshake_lost, 1u);
  EXPECT_EQ(f.parser.facts().alpn, "http/1.1");
  EXPECT_EQ(f.parser.stats().records, whole.parser.stats().records);
  EXPECT_EQ(f.parser.stats().resyncs, 0u);
  const RecentRecords& got = f.parser.recent_records(Direction::Ingress);
  const RecentRecords& want = whole.parser.recent_records(Direction::Ingress);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].size, want[i].size);
}

TEST(TlsLosses, AnUncapturedRecordHeaderResynchronisesAtTheNextChunk) {
  const auto chunks = load_fixture("tls13");
  Feed f;
  f.replay({chunks.begin(), chunks.begin() + 4});  // the handshake
  const std::uint64_t before = f.parser.stats().records;
  // Two writes' records in one call, only the first record's header captured.
  const std::string two = chunks[4].data + chunks[5].data;
  ASSERT_EQ(chunks[4].dir, Direction::Egress);
  ASSERT_EQ(chunks[5].dir, Direction::Egress);
  f.call(Direction::Egress, std::string_view(two).substr(0, 5), two.size());
  EXPECT_FALSE(f.parser.in_sync(Direction::Egress));
  f.call(Direction::Egress, chunks[6].data);  // starts with a record header
  EXPECT_TRUE(f.parser.in_sync(Direction::Egress));
  EXPECT_EQ(f.parser.stats().records, before + 2);
  EXPECT_EQ(f.parser.stats().resyncs, 1u);
  EXPECT_EQ(f.parser.stats().bytes_skipped, chunks[5].data.size());
}

TEST(TlsLosses, MidstreamFindsRecordsAtChunkStartsAndLearnsNothingMore) {
  const auto chunks = load_fixture("tls13");
  Feed f(/*midstream=*/true);
  EXPECT_TRUE(f.parser.done());
  f.call(Direction::Ingress, std::string_view(chunks[7].data).substr(100));  // inside a record
  EXPECT_EQ(f.parser.stats().records, 0u);
  for (std::size_t i = 8; i < chunks.size(); ++i) f.call(chunks[i].dir, chunks[i].data);
  EXPECT_EQ(f.parser.recent_records(Direction::Ingress).size(), chunks.size() - 8);
  EXPECT_FALSE(f.parser.facts().client_hello_seen);
  EXPECT_EQ(f.parser.stats().bytes_skipped, chunks[7].data.size() - 100);
}

TEST(TlsRecords, TheRingKeepsTheLastSixtyFour) {
  Feed f(/*midstream=*/true);
  std::string record("\x17\x03\x03\x00\x00", 5);
  for (int i = 1; i <= 100; ++i) {
    record[4] = static_cast<char>(i);
    f.call(Direction::Egress, record + std::string(static_cast<std::size_t>(i), 'x'));
  }
  const RecentRecords& recent = f.parser.recent_records(Direction::Egress);
  ASSERT_EQ(recent.size(), RecentRecords::kCapacity);
  EXPECT_EQ(recent[0].size, 5u + 37);
  EXPECT_EQ(recent.newest().size, 5u + 100);
  EXPECT_EQ(f.parser.direction_stats(Direction::Egress).application_data_records, 100u);
}

// ---- hand-made hellos ------------------------------------------------------------------------------

std::string u8(std::size_t v) { return std::string(1, static_cast<char>(v)); }
std::string u16(std::size_t v) { return u8(v >> 8) + u8(v & 0xff); }
std::string u24(std::size_t v) { return u8(v >> 16) + u16(v & 0xffff); }
std::string extension(std::uint16_t type, const std::string& data) { return u16(type) + u16(data.size()) + data; }
std::string sni_extension(const std::string& name) {
  const std::string entry = u8(0) + u16(name.size()) + name;
  return extension(0, u16(entry.size()) + entry);
}
std::string client_hello(const std::string& extensions) {
  std::string body = u16(0x0303) + std::string(32, 'r') + u8(0) + u16(2) + u16(0x1301) + u8(1) + u8(0);
  return u8(1) + u24(body.size() + 2 + extensions.size()) + body + u16(extensions.size()) + extensions;
}
std::string record(std::uint8_t type, const std::string& body) {
  return u8(type) + u16(0x0301) + u16(body.size()) + body;
}

TEST(TlsHostile, AHandMadeClientHelloParses) {
  Feed f;
  f.call(Direction::Egress, record(22, client_hello(sni_extension("a.example"))));
  EXPECT_TRUE(f.parser.facts().client_hello_seen);
  EXPECT_EQ(f.parser.facts().sni, "a.example");
  EXPECT_EQ(f.parser.stats().malformed, 0u);
  EXPECT_TRUE(looks_like_tls(record(22, client_hello(""))));
}

TEST(TlsHostile, LengthsPastWhatContainsThemAreMalformed) {
  const std::string sni = sni_extension("a.example");
  std::string list_too_long = sni;
  list_too_long[5] = static_cast<char>(list_too_long[5] + 1);  // ServerNameList length: one more than the extension
  std::string name_too_long = sni;
  name_too_long[8] = static_cast<char>(name_too_long[8] + 1);  // host_name length past the list
  const std::string alpn_empty_name = extension(16, u16(4) + u8(2) + "h2" + u8(0));
  const std::string bad_name = sni_extension(std::string("a\nb", 3));
  std::string extension_too_long = client_hello(sni);
  extension_too_long[extension_too_long.size() - sni.size() + 3] += 1;  // the extension's length past the block
  std::string block_too_long = client_hello(sni);
  block_too_long[4 + 2 + 32 + 1 + 4 + 2 + 1] += 1;  // the extensions block's length past the message
  std::string session_id_too_long = client_hello("");
  session_id_too_long[4 + 2 + 32] = 33;

  const std::vector<std::pair<const char*, std::string>> cases = {
      {"SNI list longer than the extension", client_hello(list_too_long)},
      {"host name past the list", client_hello(name_too_long)},
      {"ALPN name of length 0", client_hello(alpn_empty_name)},
      {"host name with a control byte", client_hello(bad_name)},
      {"extension length past the block", extension_too_long},
      {"extensions block past the message", block_too_long},
      {"session id over 32 bytes", session_id_too_long},
      {"a message too short for its fields", u8(1) + u24(10) + std::string(10, '\0')},
  };
  for (const auto& [what, hello] : cases) {
    SCOPED_TRACE(what);
    Feed f;
    f.call(Direction::Egress, record(22, hello));
    EXPECT_FALSE(f.parser.facts().client_hello_seen);
    EXPECT_EQ(f.parser.facts().sni, "");
    EXPECT_EQ(f.parser.stats().malformed, 1u);
    EXPECT_EQ(f.parser.stats().records, 1u);
    // The framing holds: a good hello in the next record is read.
    f.call(Direction::Egress, record(22, client_hello(sni)));
    EXPECT_EQ(f.parser.facts().sni, "a.example");
  }
}

TEST(TlsHostile, AHelloOverTheBoundIsSkippedAcrossItsRecords) {
  Feed f;
  const std::string big = u8(1) + u24(20000) + std::string(20000, 'x');
  f.call(Direction::Egress, record(22, big.substr(0, 16384)));
  f.call(Direction::Egress, record(22, big.substr(16384)));
  EXPECT_EQ(f.parser.stats().handshake_too_large, 1u);
  f.call(Direction::Egress, record(22, client_hello(sni_extension("after.example"))));
  EXPECT_EQ(f.parser.facts().sni, "after.example") << "the big message's end was found by count";
  EXPECT_EQ(f.parser.stats().malformed, 0u);
}

TEST(TlsHostile, BadRecordHeadersAreCountedAndResynchronised) {
  Feed f;
  f.call(Direction::Egress, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(f.parser.stats().malformed, 1u);
  EXPECT_FALSE(f.parser.in_sync(Direction::Egress));
  f.call(Direction::Egress, std::string("\x17\x03\x03\x48\x01", 5) + "x");  // 18433 bytes: over the bound
  EXPECT_EQ(f.parser.stats().records, 0u);
  f.call(Direction::Egress, record(22, client_hello(sni_extension("a.example"))));
  EXPECT_EQ(f.parser.stats().records, 1u);
  EXPECT_EQ(f.parser.facts().sni, "a.example") << "a hello that starts a chunk is read after a resync";
}

TEST(TlsHostile, AResyncInsideAHelloDoesNotSpliceRecords) {
  Feed f;
  const std::string hello = client_hello(sni_extension("a.example"));
  f.call(Direction::Egress, record(22, hello.substr(0, 20)));  // the hello's start
  f.call(Direction::Egress, "garbage");                        // the record framing is lost
  f.call(Direction::Egress, record(22, hello.substr(20)));     // its rest: not a message's start
  EXPECT_FALSE(f.parser.facts().client_hello_seen);
  EXPECT_EQ(f.parser.stats().handshake_lost, 1u);
  f.call(Direction::Egress, record(22, client_hello(sni_extension("b.example"))));
  EXPECT_EQ(f.parser.facts().sni, "b.example");
  EXPECT_EQ(f.parser.stats().malformed, 1u) << "the garbage only";
}

TEST(TlsHostile, AServerHelloFromTheClientSideIsMalformed) {
  const auto chunks = load_fixture("tls13");
  Feed f;
  f.call(Direction::Egress, chunks[0].data);
  f.call(Direction::Egress, chunks[1].data);  // the ServerHello, but from the client's side
  EXPECT_FALSE(f.parser.facts().server_hello_seen);
  EXPECT_EQ(f.parser.stats().malformed, 1u);
}

// ---- detection and names -----------------------------------------------------------------------------

TEST(TlsDetection, FirstBytesOfTlsAndOfOtherProtocols) {
  const auto chunks = load_fixture("tls12_aes128gcm");
  EXPECT_TRUE(looks_like_tls(chunks[0].data));
  EXPECT_TRUE(looks_like_tls(chunks[1].data)) << "a ServerHello: seen from the server's side of the read";
  EXPECT_TRUE(looks_like_tls(std::string("\x16\x03\x01", 3)));
  EXPECT_FALSE(looks_like_tls(std::string("\x16\x03", 2)));
  EXPECT_FALSE(looks_like_tls(std::string("\x16\x03\x05\x00\x10", 5)));
  EXPECT_FALSE(looks_like_tls(std::string("\x16\x03\x01\x00\x00", 5))) << "an empty record";
  EXPECT_FALSE(looks_like_tls(std::string("\x16\x03\x01\x48\x01\x01", 6))) << "over 16384 + 2048";
  EXPECT_FALSE(looks_like_tls(std::string("\x16\x03\x03\x00\x20\x0b", 6))) << "a Certificate is not a first message";
  EXPECT_FALSE(looks_like_tls(std::string("\x17\x03\x03\x00\x20", 5)));
  EXPECT_TRUE(looks_like_tls_record(chunks.back().data));
  EXPECT_TRUE(looks_like_tls_record(std::string("\x14\x03\x03\x00\x01", 5)));
  EXPECT_FALSE(looks_like_tls_record(std::string("\x17\x03\x03\x00", 4)));
  EXPECT_FALSE(looks_like_tls_record(std::string("\x18\x03\x03\x00\x01", 5)));
  EXPECT_FALSE(looks_like_tls_record(std::string("\x17\x03\x00\x00\x01", 5))) << "SSL 3.0 midstream";

  const std::vector<std::string> others = {
      "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n",
      "HTTP/1.1 200 OK\r\n",
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
      std::string("\x00\x00\x00\x0a\x00\x12\x00\x03\x00\x00\x00\x01\x00\x00", 14),  // Kafka ApiVersions
      std::string("\x00\x00\x04\x00", 4),
  };
  for (const auto& bytes : others) {
    EXPECT_FALSE(looks_like_tls(bytes)) << bytes;
    EXPECT_FALSE(looks_like_tls_record(bytes)) << bytes;
  }
  // Recorded Kafka and HTTP/2 connections, from both sides.
  for (const char* fixture : {"kafka/kcat_produce_gzip_produce.json", "http2/nghttp_concurrent.json"}) {
    std::ifstream in(std::string(ZT_FIXTURES_DIR) + "/" + fixture);
    ASSERT_TRUE(in.good()) << fixture;
    const nlohmann::json json = nlohmann::json::parse(in);
    for (const auto& chunk : json.at("chunks")) {
      const std::string data = text::base64_decode(chunk.at("data_b64").get<std::string>()).value();
      EXPECT_FALSE(looks_like_tls(data)) << fixture;
      EXPECT_FALSE(looks_like_tls_record(data)) << fixture;
    }
  }
}

// The other way round: no span-producing protocol claims a TLS connection's first bytes.
TEST(TlsDetection, NoProtocolDetectorClaimsTheHellos) {
  for (const char* name : {"tls13", "tls13_hrr", "tls12_aes128gcm"}) {
    SCOPED_TRACE(name);
    const auto chunks = load_fixture(name);
    ASSERT_GE(chunks.size(), 2u);
    for (const auto& recorded : {chunks[0], chunks[1]}) {
      Chunk chunk;
      chunk.size = recorded.data.size();
      chunk.data = recorded.data;
      for (bool midstream : {false, true}) {
        EXPECT_EQ(detect_protocol(recorded.dir, chunk, Role::Unknown, midstream), nullptr);
        EXPECT_EQ(detect_protocol(other(recorded.dir), chunk, Role::Unknown, midstream), nullptr);
      }
    }
  }
}

TEST(TlsNames, VersionsCiphersAndOverheads) {
  EXPECT_EQ(version_name(0x0301), "1.0");
  EXPECT_EQ(version_name(0x0302), "1.1");
  EXPECT_EQ(version_name(0x0303), "1.2");
  EXPECT_EQ(version_name(0x0304), "1.3");
  EXPECT_EQ(version_name(0x7f1c), "");
  EXPECT_EQ(cipher_name(0x1301), "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(cipher_name(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
  EXPECT_EQ(cipher_name(0xcca8), "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
  EXPECT_EQ(cipher_name(0x000a), "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
  EXPECT_EQ(cipher_name(0xccaa), "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
  EXPECT_EQ(cipher_name(0x0a0a), "") << "GREASE";

  TlsFacts facts;
  facts.server_hello_seen = true;
  const auto overhead = [&](std::uint16_t version, std::uint16_t suite) {
    facts.version = version;
    facts.cipher_suite = suite;
    return record_overhead(facts);
  };
  EXPECT_EQ(overhead(0x0304, 0x1301), 22u);
  EXPECT_EQ(overhead(0x0304, 0x1303), 22u);
  EXPECT_EQ(overhead(0x0304, 0x1305), 14u) << "CCM_8: an 8-byte tag";
  EXPECT_EQ(overhead(0x0303, 0xc02f), 29u);
  EXPECT_EQ(overhead(0x0303, 0xc0ae), 21u);
  EXPECT_EQ(overhead(0x0303, 0xcca8), 21u);
  EXPECT_EQ(overhead(0x0303, 0xc013), 0u) << "CBC: padding";
  EXPECT_EQ(overhead(0x0303, 0x1301), 0u) << "a TLS 1.3 suite in TLS 1.2";
  EXPECT_EQ(overhead(0x0304, 0xc02f), 0u);
  EXPECT_EQ(overhead(0x0302, 0xc02f), 0u) << "no AEAD before TLS 1.2";
  EXPECT_EQ(overhead(0x0303, 0x1234), 0u);
  facts.server_hello_seen = false;
  EXPECT_EQ(overhead(0x0304, 0x1301), 0u);
}

}  // namespace
}  // namespace zt::protocols::tls
