// Every protocol the agent parses, registered once. A protocol is a folder under protocols/ whose
// `<name>_protocol.h` declares a traits struct (its record type and detector) and a `to_span`
// overload for its record; it is registered by one entry in `Protocols` below. From that list come
// the record variant the pipeline carries and the detectors, in order; the span builder visits the
// variant, so a registered protocol without a `to_span` does not compile. How-to:
// docs/adding-a-protocol.md.
#pragma once

#include <array>
#include <memory>
#include <variant>

#include "protocols/http1/http1_protocol.h"
#include "protocols/http2/http2_protocol.h"
#include "protocols/kafka/kafka_protocol.h"
#include "protocols/tls/tls_protocol.h"

namespace zt::protocols {

using Detector = std::unique_ptr<ConnectionParser> (*)(Direction, const Chunk&, Role, bool midstream);

template <typename... Protocol>
struct ProtocolList {
  using Record = std::variant<typename Protocol::Record...>;
  static constexpr std::array<Detector, sizeof...(Protocol)> kDetectors{&Protocol::detect...};
};

// In detection order: HTTP/2 first, since a request asking for `Upgrade: h2c` is valid HTTP/1 too;
// Kafka last, since a binary header is the weakest signature (an HTTP/2 frame can look like one).
// TLS detects nothing: it only carries the record of a TLS connection without plaintext.
using Protocols = ProtocolList<Http2Protocol, Http1Protocol, KafkaProtocol, TlsProtocol>;

// One record of any registered protocol: what parsers hand to the span builder.
using Record = Protocols::Record;

}  // namespace zt::protocols
