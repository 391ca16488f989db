#include "exporters/otlp/otlp_exporter.h"

#include <fstream>
#include <sstream>

#include <google/protobuf/arena.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "exporters/batch_processor.h"
#include "exporters/otlp/otlp_encoder.h"
#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace zt::exporters::otlp {
namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
using opentelemetry::proto::collector::trace::v1::TraceService;

Result<std::string> read_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(std::string(what) + ": cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string short_body(const std::string& body) {
  std::string out;
  for (char c : body.substr(0, 200)) out.push_back(std::isprint(static_cast<unsigned char>(c)) ? c : '.');
  return out;
}

// The delay in a google.rpc.Status's RetryInfo detail, if any.
std::optional<std::chrono::milliseconds> retry_info_delay(const google::rpc::Status& status) {
  for (const auto& any : status.details()) {
    google::rpc::RetryInfo info;
    if (any.type_url().ends_with("/google.rpc.RetryInfo") && any.UnpackTo(&info)) {
      const auto& d = info.retry_delay();
      return std::chrono::milliseconds(std::max<std::int64_t>(0, d.seconds() * 1000 + d.nanos() / 1000000));
    }
  }
  return std::nullopt;
}

class HttpTransport final : public BatchTransport {
 public:
  explicit HttpTransport(OtlpOptions options) : options_(std::move(options)), client_(options_.tls) {
    options_.headers.emplace_back("user-agent", "zerotrace/" + std::string(agent_version()));
  }

  ExportResult send(std::span<const trace::Span> spans, std::chrono::milliseconds timeout) override {
    const bool json = options_.protocol == Protocol::HttpJson;
    std::string body;
    if (json) {
      body = encode_json(spans);
    } else {
      // On an arena: a request is thousands of small messages, freed in one go (half the cost,
      // bench/export_bench.cpp).
      google::protobuf::Arena arena;
      auto* request = google::protobuf::Arena::CreateMessage<ExportTraceServiceRequest>(&arena);
      encode_request(spans, *request);
      if (!request->SerializeToString(&body)) return ExportResult::failed("protobuf serialization failed");
    }
    const auto response = client_.post(options_.endpoint, body, json ? "application/json" : "application/x-protobuf",
                                       options_.headers, options_.gzip, timeout);
    return classify_http_response(response, json);
  }
  std::string describe() const override {
    return std::string(to_string(options_.protocol)) + " " + options_.endpoint + (options_.gzip ? " (gzip)" : "");
  }
  std::string_view name() const override { return "otlp"; }

 private:
  OtlpOptions options_;
  HttpClient client_;
};

class GrpcTransport final : public BatchTransport {
 public:
  static Result<std::unique_ptr<BatchTransport>> create(const OtlpOptions& options) {
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    if (options.use_tls) {
      grpc::SslCredentialsOptions ssl;
      if (!options.tls.ca_file.empty()) {
        auto pem = read_file(options.tls.ca_file, "certificate");
        if (!pem) return pem.error();
        ssl.pem_root_certs = std::move(pem).value();
      }
      if (!options.tls.client_certificate.empty()) {
        auto cert = read_file(options.tls.client_certificate, "client_certificate");
        if (!cert) return cert.error();
        auto key = read_file(options.tls.client_key, "client_key");
        if (!key) return key.error();
        ssl.pem_cert_chain = std::move(cert).value();
        ssl.pem_private_key = std::move(key).value();
      }
      credentials = grpc::SslCredentials(ssl);
    } else {
      credentials = grpc::InsecureChannelCredentials();
    }
    grpc::ChannelArguments args;
    args.SetUserAgentPrefix("zerotrace/" + std::string(agent_version()));
    // Reconnect quickly after a collector restart: the default backoff grows to two minutes.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
    args.SetMaxSendMessageSize(-1);
    auto channel = grpc::CreateCustomChannel(options.endpoint, credentials, args);
    return std::unique_ptr<BatchTransport>(new GrpcTransport(options, std::move(channel)));
  }

  ExportResult send(std::span<const trace::Span> spans, std::chrono::milliseconds timeout) override {
    google::protobuf::Arena arena;
    auto* request = google::protobuf::Arena::CreateMessage<ExportTraceServiceRequest>(&arena);
    encode_request(spans, *request);
    ExportTraceServiceResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout);
    if (options_.gzip) context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
    for (const auto& [key, value] : options_.headers) context.AddMetadata(key, value);
    const grpc::Status status = stub_->Export(&context, *request, &response);
    if (status.ok()) {
      ExportResult result = ExportResult::success();
      if (response.has_partial_success()) {
        result.rejected_spans = response.partial_success().rejected_spans();
        result.message = response.partial_success().error_message();
      }
      return result;
    }
    std::optional<std::chrono::milliseconds> retry_after;
    if (!status.error_details().empty()) {
      google::rpc::Status details;
      if (details.ParseFromString(status.error_details())) retry_after = retry_info_delay(details);
    }
    const int code = static_cast<int>(status.error_code());
    std::string why = "gRPC status " + std::to_string(code) + " (" + grpc_code_name(code) + ")" +
                      (status.error_message().empty() ? "" : ": " + status.error_message());
    if (grpc_code_is_retryable(code, retry_after.has_value())) return ExportResult::retryable(std::move(why), retry_after);
    return ExportResult::failed(std::move(why));
  }
  std::string describe() const override {
    return std::string("grpc ") + (options_.use_tls ? "https://" : "http://") + options_.endpoint +
           (options_.gzip ? " (gzip)" : "");
  }
  std::string_view name() const override { return "otlp"; }

 private:
  GrpcTransport(OtlpOptions options, std::shared_ptr<grpc::Channel> channel)
      : options_(std::move(options)), channel_(std::move(channel)), stub_(TraceService::NewStub(channel_)) {}

  static std::string grpc_code_name(int code) {
    static constexpr const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                             "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                             "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                                             "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
    return code >= 0 && code <= 16 ? kNames[code] : "?";
  }

  OtlpOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<TraceService::Stub> stub_;
};

}  // namespace

bool grpc_code_is_retryable(int code, bool has_retry_info) {
  switch (code) {
    case 1:   // CANCELLED
    case 4:   // DEADLINE_EXCEEDED
    case 10:  // ABORTED
    case 11:  // OUT_OF_RANGE
    case 14:  // UNAVAILABLE
    case 15:  // DATA_LOSS
      return true;
    case 8:  // RESOURCE_EXHAUSTED: only when the server says when to come back
      return has_retry_info;
    default:
      return false;
  }
}

ExportResult classify_http_response(const HttpResponse& response, bool json) {
  if (response.status == 0) {
    return ExportResult::retryable(response.timed_out ? "request timed out" : response.transport_error);
  }
  if (response.status >= 200 && response.status < 300) {
    ExportResult result = ExportResult::success();
    if (!response.body.empty()) {
      ExportTraceServiceResponse decoded;
      bool ok;
      if (json) {
        google::protobuf::util::JsonParseOptions options;
        options.ignore_unknown_fields = true;
        ok = google::protobuf::util::JsonStringToMessage(response.body, &decoded, options).ok();
      } else {
        ok = decoded.ParseFromString(response.body);
      }
      if (ok && decoded.has_partial_success()) {
        result.rejected_spans = decoded.partial_success().rejected_spans();
        result.message = decoded.partial_success().error_message();
      }
    }
    return result;
  }
  std::string why = "HTTP " + std::to_string(response.status);
  google::rpc::Status status;
  if (!json && status.ParseFromString(response.body) && !status.message().empty()) {
    why += ": " + status.message();
  } else if (!response.body.empty()) {
    why += ": " + short_body(response.body);
  }
  switch (response.status) {
    case 429:
    case 502:
    case 503:
    case 504:
      return ExportResult::retryable(std::move(why), response.retry_after);
    default:
      return ExportResult::failed(std::move(why));
  }
}

Result<std::unique_ptr<BatchTransport>> make_otlp_transport(const OtlpOptions& options) {
  if (options.protocol == Protocol::Grpc) return GrpcTransport::create(options);
  for (const auto* path : {&options.tls.ca_file, &options.tls.client_certificate, &options.tls.client_key}) {
    if (!path->empty()) {
      if (auto r = read_file(*path, "TLS file"); !r) return r.error();
    }
  }
  return std::unique_ptr<BatchTransport>(std::make_unique<HttpTransport>(options));
}

Result<std::unique_ptr<SpanExporter>> make_otlp_exporter(const OtlpOptions& options) {
  auto transport = make_otlp_transport(options);
  if (!transport) return transport.error();
  spdlog::info("exporting spans with OTLP {}", (*transport)->describe());
  return std::unique_ptr<SpanExporter>(std::make_unique<BatchSpanProcessor>(std::move(transport).value(), options.batch));
}

}  // namespace zt::exporters::otlp
