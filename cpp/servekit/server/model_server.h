// ModelServer: the whole server in one object — a ServerCore configured from
// a model list or a config file (optionally polled), the REST API on an
// HttpServer, TF Serving's gRPC API on a GrpcServer, and a graceful lifecycle.
//
// Start loads the initial models (waiting for their loads to settle, as TF
// Serving does before it opens its ports), then opens the REST and gRPC ports
// and returns; native threads serve from then on. Stop drains: readiness turns
// 503 (gRPC health NOT_SERVING), the listeners close, requests in flight
// finish (up to drain_timeout, both APIs at once),
// then config polling stops and every model unloads (the core stays, empty,
// until the server is destroyed).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "servekit/server/grpc/grpc_server.h"
#include "servekit/server/http/http_server.h"
#include "servekit/server/rest/rest_api.h"
#include "servekit/serving/config_file_watcher.h"
#include "servekit/serving/server_core.h"

namespace servekit {

// Users set these through server_options.h (the CLI's flags, Python's keyword
// arguments), which checks them; the defaults here are theirs.
struct ModelServerOptions {
  ServerCoreOptions core;
  // The models: a config file (re-read every model_config_file_poll_wait when
  // positive), or else this list.
  std::string model_config_file;
  absl::Duration model_config_file_poll_wait = absl::ZeroDuration();
  std::vector<ModelConfig> models;

  // Model changes through either API (REST's :add/:remove/... routes, gRPC's
  // HandleReloadConfigRequest); Start hands it to both.
  bool enable_model_management = false;
  // Per port (REST and gRPC each; see AcceptLoop). 0: derived from the
  // open-file limit, which Start raises to its hard limit first.
  int max_connections = 0;
  // Connections with no request under way are closed after this (both APIs).
  absl::Duration idle_timeout = absl::Seconds(120);
  // Values in one request's inputs, both APIs (RESOURCE_EXHAUSTED / 429
  // beyond, before allocating): bounds what a tiny request can expand into
  // (one gRPC float_val filling a large shape, a classify context reused by
  // many empty examples) to 8 bytes per value. 2^24: 64 MiB of float32, what
  // one default-size gRPC message can carry.
  int64_t max_request_values = int64_t{1} << 24;
  // REST answers (JSON) larger than this are RESOURCE_EXHAUSTED (429) before
  // they are written; gRPC answers are bounded by grpc.max_message_bytes.
  size_t max_response_bytes = size_t{256} << 20;
  bool enable_rest = true;
  // TF Serving's REST port; num_threads 0: DefaultServerThreads() (both APIs).
  HttpServerOptions http = [] {
    HttpServerOptions http;
    http.port = 8501;
    http.num_threads = 0;
    return http;
  }();
  RestApiOptions rest;
  bool enable_grpc = false;
  GrpcServerOptions grpc;
  absl::Duration drain_timeout = absl::Seconds(30);
};

class ModelServer {
 public:
  // Errors: a config that does not parse or validate, a port that cannot be bound.
  static StatusOr<std::unique_ptr<ModelServer>> Start(ModelServerOptions options);
  ~ModelServer();  // Stop()
  ModelServer(const ModelServer&) = delete;
  ModelServer& operator=(const ModelServer&) = delete;

  // The bound ports, or 0 when that API is off.
  int rest_port() const { return http_ ? http_->port() : 0; }
  int grpc_port() const { return grpc_ ? grpc_->port() : 0; }
  ServerCore& core() { return *core_; }
  // The config file's last read (OK when there is no file).
  Status ConfigFileStatus() const;

  // Drains and stops (see above); idempotent. True if every request in flight
  // was answered within drain_timeout. The drain and the unloads share one
  // deadline; a model that is still running when it passes is not
  // interrupted (kernels cannot be), so Stop returns when it finishes.
  // servekit-server exits at the deadline regardless.
  bool Stop();

 private:
  explicit ModelServer(ModelServerOptions options);

  const ModelServerOptions options_;
  std::unique_ptr<ServerCore> core_;
  std::unique_ptr<ConfigFileWatcher> watcher_;
  std::unique_ptr<RestApi> rest_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<GrpcServer> grpc_;
  // http_ for the metrics handler, which may run before Start has assigned http_.
  std::atomic<const HttpServer*> serving_http_{nullptr};
  std::mutex stop_mu_;
  bool stopped_ = false;
  bool drained_ = true;
};

}  // namespace servekit
