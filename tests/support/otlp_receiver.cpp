#include "support/otlp_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace zt::testing {
namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
using opentelemetry::proto::collector::trace::v1::TraceService;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool gunzip(const std::string& in, std::string& out) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return false;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char buf[65536];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) break;
  }
  inflateEnd(&zs);
  return rc == Z_STREAM_END;
}

std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], kAlphabet[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

// OTLP JSON carries ids as hex where proto3 JSON expects base64: rewrite them, strictly (an id
// that is not even-length lowercase-or-uppercase hex is a test failure, reported as a parse error).
bool rewrite_ids(nlohmann::json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const auto& key = it.key();
      if ((key == "traceId" || key == "spanId" || key == "parentSpanId") && it.value().is_string()) {
        const std::string hex = it.value().get<std::string>();
        if (hex.size() % 2 != 0) return false;
        std::string bytes;
        for (std::size_t i = 0; i < hex.size(); i += 2) {
          if (!std::isxdigit(static_cast<unsigned char>(hex[i])) || !std::isxdigit(static_cast<unsigned char>(hex[i + 1]))) {
            return false;
          }
          bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
        }
        it.value() = base64(bytes);
      } else if (!rewrite_ids(it.value())) {
        return false;
      }
    }
  } else if (j.is_array()) {
    for (auto& e : j) {
      if (!rewrite_ids(e)) return false;
    }
  }
  return true;
}

bool parse_otlp_json(const std::string& body, ExportTraceServiceRequest& out) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !rewrite_ids(j)) return false;
  return google::protobuf::util::JsonStringToMessage(j.dump(), &out).ok();
}

std::string grpc_retry_details(int seconds) {
  google::rpc::RetryInfo info;
  info.mutable_retry_delay()->set_seconds(seconds);
  google::rpc::Status status;
  status.add_details()->PackFrom(info);
  return status.SerializeAsString();
}

bool send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

std::size_t span_count(const ExportTraceServiceRequest& request) {
  std::size_t n = 0;
  for (const auto& rs : request.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) n += static_cast<std::size_t>(ss.spans_size());
  }
  return n;
}

struct OtlpReceiver::GrpcServer final : TraceService::Service {
  explicit GrpcServer(OtlpReceiver& owner) : owner_(owner) {}
  grpc::Status Export(grpc::ServerContext* context, const ExportTraceServiceRequest* request,
                      ExportTraceServiceResponse* response) override {
    ReceivedRequest r;
    r.transport = "grpc";
    r.content_type = "application/grpc";
    for (const auto& [key, value] : context->client_metadata()) {
      r.headers[lower(std::string(key.data(), key.size()))] = std::string(value.data(), value.size());
    }
    r.request = *request;
    const Reply reply = owner_.on_request(std::move(r));
    if (reply.delay.count() > 0) std::this_thread::sleep_for(reply.delay);
    if (reply.grpc_code != 0) {
      return grpc::Status(static_cast<grpc::StatusCode>(reply.grpc_code), reply.message,
                          reply.retry_after_seconds ? grpc_retry_details(*reply.retry_after_seconds) : "");
    }
    if (reply.rejected_spans > 0 || !reply.message.empty()) {
      response->mutable_partial_success()->set_rejected_spans(reply.rejected_spans);
      response->mutable_partial_success()->set_error_message(reply.message);
    }
    return grpc::Status::OK;
  }

  OtlpReceiver& owner_;
  std::unique_ptr<grpc::Server> server;
};

OtlpReceiver::OtlpReceiver(std::uint16_t http_port, std::uint16_t grpc_port, std::optional<ReceiverTls> grpc_tls)
    : http_port_(http_port), grpc_port_(grpc_port), grpc_tls_(std::move(grpc_tls)) {
  start();
}

OtlpReceiver::~OtlpReceiver() { stop(); }

void OtlpReceiver::start() {
  if (running_) return;
  // HTTP
  http_listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(http_listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(http_port_);
  if (::bind(http_listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(http_listen_fd_, 64) != 0) {
    throw std::runtime_error(std::string("OtlpReceiver: cannot listen for HTTP: ") + std::strerror(errno));
  }
  socklen_t len = sizeof addr;
  ::getsockname(http_listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  http_port_ = ntohs(addr.sin_port);
  running_ = true;
  http_thread_ = std::thread([this] { http_accept_loop(); });

  // gRPC
  grpc_ = std::make_unique<GrpcServer>(*this);
  grpc::ServerBuilder builder;
  int selected = 0;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (grpc_tls_) {
    grpc::SslServerCredentialsOptions ssl(grpc_tls_->client_ca_pem.empty()
                                              ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                              : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = grpc_tls_->client_ca_pem;
    ssl.pem_key_cert_pairs.push_back({grpc_tls_->key_pem, grpc_tls_->cert_pem});
    credentials = grpc::SslServerCredentials(ssl);
  }
  builder.AddListeningPort("127.0.0.1:" + std::to_string(grpc_port_), credentials, &selected);
  builder.RegisterService(grpc_.get());
  grpc_->server = builder.BuildAndStart();
  if (!grpc_->server || selected == 0) throw std::runtime_error("OtlpReceiver: cannot listen for gRPC");
  grpc_port_ = static_cast<std::uint16_t>(selected);
}

void OtlpReceiver::stop() {
  if (!running_) return;
  running_ = false;
  if (grpc_ && grpc_->server) {
    grpc_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    grpc_->server->Wait();
  }
  grpc_.reset();
  ::shutdown(http_listen_fd_, SHUT_RDWR);
  if (http_thread_.joinable()) http_thread_.join();
  ::close(http_listen_fd_);
  http_listen_fd_ = -1;
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(conn_mutex_);
    for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(conn_threads_);
  }
  for (auto& t : threads) t.join();
  std::lock_guard lock(conn_mutex_);
  conn_fds_.clear();
}

void OtlpReceiver::http_accept_loop() {
  while (running_) {
    pollfd p{http_listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const int fd = ::accept4(http_listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(conn_mutex_);
    conn_fds_.push_back(fd);
    conn_threads_.emplace_back([this, fd] { serve_http_connection(fd); });
  }
}

void OtlpReceiver::serve_http_connection(int fd) {
  std::string buffer;
  char chunk[65536];
  const auto fill = [&](std::size_t want) {
    while (buffer.size() < want) {
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    return true;
  };
  for (;;) {
    std::size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    const std::string head = buffer.substr(0, head_end);
    buffer.erase(0, head_end + 4);
    ReceivedRequest r;
    r.transport = "http";
    r.content_encoding = "identity";
    std::size_t content_length = 0;
    std::string request_line = head.substr(0, head.find("\r\n"));
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos < head.size()) {
      const std::size_t next = head.find("\r\n", pos + 2);
      const std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      pos = next;
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[lower(line.substr(0, colon))] = value;
    }
    if (auto it = r.headers.find("content-length"); it != r.headers.end()) content_length = std::stoul(it->second);
    if (auto it = r.headers.find("content-type"); it != r.headers.end()) r.content_type = it->second;
    if (auto it = r.headers.find("content-encoding"); it != r.headers.end()) r.content_encoding = it->second;
    if (!fill(content_length)) break;
    std::string body = buffer.substr(0, content_length);
    buffer.erase(0, content_length);

    const bool json = r.content_type.starts_with("application/json");
    int status = 200;
    std::string error;
    if (request_line.rfind("POST /v1/traces ", 0) != 0) {
      status = 404;
      error = "unexpected request line: " + request_line;
    } else {
      std::string decoded;
      if (r.content_encoding == "gzip") {
        if (!gunzip(body, decoded)) {
          status = 400;
          error = "bad gzip body";
        }
      } else {
        decoded = std::move(body);
      }
      if (status == 200) {
        const bool ok = json ? parse_otlp_json(decoded, r.request) : r.request.ParseFromString(decoded);
        if (!ok) {
          status = 400;
          error = json ? "bad OTLP JSON body" : "bad OTLP protobuf body";
        }
      }
    }
    std::string response_body;
    std::string extra_headers;
    if (status == 200) {
      const Reply reply = on_request(std::move(r));
      if (reply.delay.count() > 0) std::this_thread::sleep_for(reply.delay);
      status = reply.http_status;
      if (reply.retry_after_seconds) extra_headers += "Retry-After: " + std::to_string(*reply.retry_after_seconds) + "\r\n";
      if (reply.success()) {
        ExportTraceServiceResponse response;
        if (reply.rejected_spans > 0 || !reply.message.empty()) {
          response.mutable_partial_success()->set_rejected_spans(reply.rejected_spans);
          response.mutable_partial_success()->set_error_message(reply.message);
        }
        if (json) {
          google::protobuf::util::MessageToJsonString(response, &response_body);
        } else {
          response_body = response.SerializeAsString();
        }
      } else {
        google::rpc::Status s;
        s.set_code(14);
        s.set_message(reply.message.empty() ? "scripted failure" : reply.message);
        response_body = json ? "{\"code\":14,\"message\":\"" + s.message() + "\"}" : s.SerializeAsString();
      }
    } else {
      response_body = error;
    }
    const std::string reason = status == 200 ? "OK" : "Status";
    const std::string response = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " +
                                 (json ? "application/json" : "application/x-protobuf") +
                                 "\r\nContent-Length: " + std::to_string(response_body.size()) + "\r\n" + extra_headers +
                                 "\r\n" + response_body;
    if (!send_all(fd, response)) break;
  }
  ::close(fd);
}

Reply OtlpReceiver::on_request(ReceivedRequest request) {
  std::lock_guard lock(mutex_);
  Reply reply;
  if (!script_.empty()) {
    reply = script_.front();
    script_.pop_front();
  } else if (always_) {
    reply = *always_;
  }
  request.accepted = reply.success();
  if (request.accepted) accepted_spans_ += span_count(request.request) - static_cast<std::size_t>(reply.rejected_spans);
  requests_.push_back(std::move(request));
  changed_.notify_all();
  return reply;
}

void OtlpReceiver::script(std::vector<Reply> replies) {
  std::lock_guard lock(mutex_);
  script_.assign(replies.begin(), replies.end());
}

void OtlpReceiver::always(Reply reply) {
  std::lock_guard lock(mutex_);
  always_ = reply;
}

void OtlpReceiver::clear_script() {
  std::lock_guard lock(mutex_);
  script_.clear();
  always_.reset();
}

std::vector<ReceivedRequest> OtlpReceiver::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t OtlpReceiver::request_count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

std::size_t OtlpReceiver::accepted_span_count() const {
  std::lock_guard lock(mutex_);
  return accepted_spans_;
}

bool OtlpReceiver::wait_for_accepted_spans(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return accepted_spans_ >= count; });
}

bool OtlpReceiver::wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
}

}  // namespace zt::testing
