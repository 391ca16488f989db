// A small blocking HTTP client over libcurl for the exporters: POST a body (gzip optional), TLS
// with a CA file, client certificate and an insecure switch, a per-request timeout, and the
// response's status, body and Retry-After. One connection kept alive between requests.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace zt::exporters {

struct TlsOptions {
  std::string ca_file;           // PEM bundle that verifies the server; empty: the system's
  std::string client_certificate;  // PEM, for mutual TLS
  std::string client_key;          // PEM
  bool insecure = false;         // skip server certificate and host name verification
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  long status = 0;  // 0 when no response arrived (see transport_error)
  std::string body;
  std::string content_type;
  // Retry-After in delay-seconds or HTTP-date form, converted to a delay; nullopt when absent or unparsable.
  std::optional<std::chrono::milliseconds> retry_after;
  std::string transport_error;  // connection refused, timeout, TLS failure...; empty when a response came
  bool timed_out = false;
};

class HttpClient {
 public:
  explicit HttpClient(TlsOptions tls);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` to `url`. With `gzip`, the body is compressed and sent with Content-Encoding: gzip.
  HttpResponse post(const std::string& url, const std::string& body, const std::string& content_type,
                    const Headers& headers, bool gzip, std::chrono::milliseconds timeout);

 private:
  TlsOptions tls_;
  void* curl_ = nullptr;  // CURL*, reused for keep-alive
};

// gzip (RFC 1952) of `data` at the default level.
Result<std::string> gzip_compress(std::string_view data);
// Inverse, for tests and receivers; fails on corrupt input or output above `max_size`.
Result<std::string> gzip_decompress(std::string_view data, std::size_t max_size = 64u << 20);

// "Retry-After" value -> delay. Accepts delay-seconds and HTTP-dates (relative to now).
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value);

}  // namespace zt::exporters
