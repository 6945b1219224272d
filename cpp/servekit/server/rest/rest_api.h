// RestApi: TensorFlow Serving's REST API (and servekit's additions) over a
// ServerCore, independent of the HTTP transport.
//
// TF Serving's routes (model names: no '/' or ':'; versions: digits):
//   GET  /v1/models/{m}[/versions/{v}|/labels/{l}]            model status
//   GET  /v1/models/{m}[/versions/{v}|/labels/{l}]/metadata   signature_def
//   POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict    (also :classify, :regress)
// Additions:
//   GET  /v1/models                      every model with its versions' status
//   GET  /v2/health/live, /v2/health/ready   status code only (ready: every
//                                        configured model has an AVAILABLE version)
//   GET  <prometheus_path>               metrics in Prometheus' text format
// Model management (when enable_model_management; 403 otherwise):
//   POST /v1/models/{m}:add              {"base_path", "model_platform"?,
//                                        "model_version_policy"?, "version_labels"?}
//   POST /v1/models/{m}:remove
//   POST /v1/models/{m}/versions/{v}:load | :unload
//   POST /v1/models/{m}/labels/{l}:assign   {"version": v}
//   POST /v1/config:reload               a text-format ModelServerConfig
//
// Errors answer {"error": "..."} with TF Serving's status → HTTP mapping
// (InvalidArgument and FailedPrecondition 400, NotFound 404, AlreadyExists
// 409, ResourceExhausted 429, Unimplemented 501, Unavailable 503,
// DeadlineExceeded 504, others 500). A /v1 path that matches no route is
// "Malformed request" (400) as in TF Serving; other unknown paths are 404.
//
// Thread-safe; Handle runs concurrently on the HTTP worker threads and never
// takes the GIL.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "servekit/server/http/http_server.h"
#include "servekit/serving/server_core.h"

namespace servekit {

struct RestApiOptions {
  bool enable_model_management = false;
  std::string prometheus_path = "/monitoring/prometheus/metrics";  // "" disables the endpoint
  int64_t max_request_elements = int64_t{1}
                                 << 24;  // values in one request (see ModelServerOptions)
  // The JSON answer's size, bounded from the outputs before it is written.
  size_t max_response_bytes = size_t{256} << 20;
};

// InvalidArgument unless both limits are positive (named as the options that
// set them: max_request_values, max_response_bytes).
Status ValidateRestApiOptions(const RestApiOptions& options);

class RestApi {
 public:
  // `in_flight` reports the transport's requests in flight (for the metrics).
  RestApi(ServerCore* core, RestApiOptions options, std::function<int64_t()> in_flight);

  void Handle(const HttpRequest& request, HttpResponse* response) const;
  // From now on readiness answers 503 (the server is shutting down).
  void SetDraining() { draining_ = true; }

 private:
  ServerCore* const core_;
  const RestApiOptions options_;
  const std::function<int64_t()> in_flight_;
  std::atomic<bool> draining_{false};
};

// TF Serving's HTTP status for a status code.
int HttpStatusFor(absl::StatusCode code);

}  // namespace servekit
