#include "exporters/http_client.h"

#include "core/text.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <mutex>

#include <curl/curl.h>
#include <zlib.h>

namespace zt::exporters {
namespace {

std::once_flag g_curl_init;

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  constexpr std::size_t kMaxBody = 1 << 20;  // an error page is enough; never grow without bound
  const std::size_t bytes = size * n;
  if (response->body.size() < kMaxBody) response->body.append(data, std::min(bytes, kMaxBody - response->body.size()));
  return bytes;
}


std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(zt::text::trim(line.substr(0, colon)));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    const auto value = zt::text::trim(line.substr(colon + 1));
    if (name == "retry-after") response->retry_after = parse_retry_after(value);
    if (name == "content-type") response->content_type = std::string(value);
  }
  return size * n;
}

}  // namespace

HttpClient::HttpClient(TlsOptions tls) : tls_(std::move(tls)) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

HttpResponse HttpClient::post(const std::string& url, const std::string& body, const std::string& content_type,
                              const Headers& headers, bool gzip, std::chrono::milliseconds timeout) {
  HttpResponse response;
  auto* curl = static_cast<CURL*>(curl_);
  if (!curl) {
    response.transport_error = "libcurl could not be initialised";
    return response;
  }
  std::string compressed;
  if (gzip) {
    auto z = gzip_compress(body);
    if (!z) {
      response.transport_error = z.error().message;
      return response;
    }
    compressed = std::move(z).value();
  }
  const std::string& payload = gzip ? compressed : body;

  curl_slist* list = nullptr;
  list = curl_slist_append(list, ("Content-Type: " + content_type).c_str());
  if (gzip) list = curl_slist_append(list, "Content-Encoding: gzip");
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip for large batches
  for (const auto& [name, value] : headers) list = curl_slist_append(list, (name + ": " + value).c_str());

  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<std::int64_t>(1, timeout.count())));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "zerotrace");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!tls_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, tls_.ca_file.c_str());
  if (!tls_.client_certificate.empty()) curl_easy_setopt(curl, CURLOPT_SSLCERT, tls_.client_certificate.c_str());
  if (!tls_.client_key.empty()) curl_easy_setopt(curl, CURLOPT_SSLKEY, tls_.client_key.c_str());
  if (tls_.insecure) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  const CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    response.transport_error = curl_easy_strerror(rc);
    response.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    response.status = 0;
    return response;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Result<std::string> gzip_compress(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return make_error("gzip: deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const auto written = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return make_error("gzip: deflate failed");
  out.resize(written);
  return out;
}

Result<std::string> gzip_decompress(std::string_view data, std::size_t max_size) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return make_error("gzip: inflateInit2 failed");
  std::string out;
  char buf[16384];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return make_error("gzip: corrupt or truncated data");
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > max_size) {
      inflateEnd(&zs);
      return make_error("gzip: decompressed data exceeds " + std::to_string(max_size) + " bytes");
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return make_error("gzip: truncated data");
    }
  }
  inflateEnd(&zs);
  return out;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value) {
  value = zt::text::trim(value);
  if (value.empty()) return std::nullopt;
  std::int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end == value.data() + value.size()) {
    if (seconds < 0) return std::nullopt;
    return std::chrono::milliseconds(std::min<std::int64_t>(seconds, 86400) * 1000);
  }
  const std::string date(value);
  const time_t when = curl_getdate(date.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  const time_t now = std::time(nullptr);
  return std::chrono::milliseconds(when > now ? std::min<std::int64_t>(when - now, 86400) * 1000 : 0);
}

}  // namespace zt::exporters
