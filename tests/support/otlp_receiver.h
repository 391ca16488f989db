// A test OTLP receiver built from the generated code of our schema: gRPC TraceService/Export and
// HTTP POST /v1/traces (protobuf or JSON, gzip or not). Records every request, answers as
// scripted (errors, Retry-After, partial success, delays) and can be stopped and restarted on the
// same ports to play a collector that goes away. For tests only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace zt::testing {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

struct ReceivedRequest {
  std::string transport;         // "grpc" or "http"
  std::string content_type;      // http: the Content-Type; grpc: "application/grpc"
  // "gzip" or "identity". gRPC: "" - gRPC C++ decompresses before the handler and does not reliably
  // show grpc-encoding in the metadata; tests/js/otlp_receiver.js records it for gRPC.
  std::string content_encoding;
  std::map<std::string, std::string> headers;  // lowercased names (grpc: metadata)
  bool accepted = false;         // answered with success
  ExportTraceServiceRequest request;
};

// How to answer one request. Defaults: success.
struct Reply {
  int http_status = 200;
  int grpc_code = 0;                         // grpc::StatusCode
  std::optional<int> retry_after_seconds;    // http Retry-After / grpc RetryInfo
  std::int64_t rejected_spans = 0;           // partial success
  std::string message;
  std::chrono::milliseconds delay{0};        // before answering (a slow collector)
  bool success() const { return http_status / 100 == 2 && grpc_code == 0; }
};

// gRPC over TLS (PEM text). With client_ca_pem, clients must present a certificate it signed.
struct ReceiverTls {
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;
};

class OtlpReceiver {
 public:
  // Ports 0: ephemeral ones, kept across restarts. `grpc_tls`: serve gRPC over TLS (HTTP stays plain).
  explicit OtlpReceiver(std::uint16_t http_port = 0, std::uint16_t grpc_port = 0,
                        std::optional<ReceiverTls> grpc_tls = std::nullopt);
  ~OtlpReceiver();
  OtlpReceiver(const OtlpReceiver&) = delete;
  OtlpReceiver& operator=(const OtlpReceiver&) = delete;

  void start();
  // Closes the listeners and every open connection (the collector process went away).
  void stop();
  bool running() const { return running_; }

  std::uint16_t http_port() const { return http_port_; }
  std::uint16_t grpc_port() const { return grpc_port_; }
  std::string http_url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  std::string grpc_url() const { return "http://127.0.0.1:" + std::to_string(grpc_port_); }

  // Replies for the next requests, in order; once used up, requests succeed.
  void script(std::vector<Reply> replies);
  // Every request from now on gets `reply` (until script/clear).
  void always(Reply reply);
  void clear_script();

  std::vector<ReceivedRequest> requests() const;
  std::size_t request_count() const;
  // Spans in requests that were answered with success.
  std::size_t accepted_span_count() const;
  bool wait_for_accepted_spans(std::size_t count, std::chrono::milliseconds timeout) const;
  bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const;

  // Called by the servers: records the request and returns how to answer it.
  Reply on_request(ReceivedRequest request);

 private:
  void serve_http_connection(int fd);
  void http_accept_loop();

  std::uint16_t http_port_;
  std::uint16_t grpc_port_;
  std::optional<ReceiverTls> grpc_tls_;
  std::atomic<bool> running_{false};

  struct GrpcServer;
  std::unique_ptr<GrpcServer> grpc_;
  int http_listen_fd_ = -1;
  std::thread http_thread_;
  std::mutex conn_mutex_;
  std::vector<int> conn_fds_;
  std::vector<std::thread> conn_threads_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::deque<Reply> script_;
  std::optional<Reply> always_;
  std::vector<ReceivedRequest> requests_;
  std::size_t accepted_spans_ = 0;
};

// Spans of a request, flattened: (resource attributes, span).
std::size_t span_count(const ExportTraceServiceRequest& request);

}  // namespace zt::testing
