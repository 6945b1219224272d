#include "servekit/server/model_server.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "servekit/server/io_context_pool.h"
#include "servekit/server/open_file_limit.h"

namespace servekit {

ModelServer::ModelServer(ModelServerOptions options)
    : options_(std::move(options)), core_(std::make_unique<ServerCore>(options_.core)) {}

StatusOr<std::unique_ptr<ModelServer>> ModelServer::Start(ModelServerOptions options) {
  if (!options.enable_rest && !options.enable_grpc) {
    return absl::InvalidArgumentError("nothing to serve on: give rest_api_port and/or grpc_port");
  }
  options.rest.enable_model_management = options.grpc.enable_model_management =
      options.enable_model_management;
  const int open_file_limit = RaiseOpenFileLimit();
  if (options.max_connections < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_connections must be positive (0: derived from the open-file "
                     "limit); got ",
                     options.max_connections));
  }
  if (options.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the idle timeout must be positive");
  }
  const int max_connections =
      options.max_connections > 0
          ? options.max_connections
          : DefaultMaxConnections(open_file_limit, options.enable_rest + options.enable_grpc);
  options.http.max_connections = options.grpc.max_connections = max_connections;
  options.http.idle_timeout = options.grpc.idle_timeout = options.idle_timeout;
  options.rest.max_request_elements = options.grpc.max_request_elements =
      options.max_request_values;
  options.rest.max_response_bytes = options.max_response_bytes;
  RETURN_IF_ERROR(ValidateRestApiOptions(options.rest));
  if (options.http.num_threads <= 0) options.http.num_threads = DefaultServerThreads();
  if (options.grpc.num_threads <= 0) options.grpc.num_threads = DefaultServerThreads();
  std::unique_ptr<ModelServer> server(new ModelServer(std::move(options)));
  const ModelServerOptions& o = server->options_;
  if (!o.model_config_file.empty()) {
    ASSIGN_OR_RETURN(server->watcher_,
                     ConfigFileWatcher::Start(server->core_.get(), o.model_config_file,
                                              o.model_config_file_poll_wait));
  } else {
    RETURN_IF_ERROR(server->core_->ReloadConfig(o.models));
  }
  if (o.enable_rest) {
    ModelServer* self = server.get();
    server->rest_ = std::make_unique<RestApi>(server->core_.get(), o.rest, [self] {
      const HttpServer* http = self->serving_http_.load();
      return http ? http->requests_in_flight() : int64_t{0};
    });
    const RestApi* rest = server->rest_.get();
    ASSIGN_OR_RETURN(server->http_, HttpServer::Start(o.http, [rest](const HttpRequest& request,
                                                                     HttpResponse* response) {
                       rest->Handle(request, response);
                     }));
    server->serving_http_ = server->http_.get();
  }
  if (o.enable_grpc) {
    ASSIGN_OR_RETURN(server->grpc_, GrpcServer::Start(server->core_.get(), o.grpc));
  }
  return server;
}

ModelServer::~ModelServer() { Stop(); }

Status ModelServer::ConfigFileStatus() const {
  return watcher_ ? watcher_->LastStatus() : absl::OkStatus();
}

bool ModelServer::Stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return drained_;
  stopped_ = true;
  // One deadline for the whole stop: the drain and the unloads share it.
  const absl::Time deadline = absl::Now() + options_.drain_timeout;
  core_->StopWaiting();  // a reload in flight (file poll, gRPC, HTTP) must not hold up the drain
  if (rest_) rest_->SetDraining();
  // Both APIs drain at once, so the whole drain stays within drain_timeout.
  std::thread grpc_drain([this] {
    if (grpc_) grpc_->Stop(options_.drain_timeout);
  });
  if (http_) drained_ = http_->Stop(options_.drain_timeout);
  grpc_drain.join();
  watcher_.reset();  // no config change may start now
  // Unload every model (the core itself lives on, empty, for those who hold it).
  core_->ReloadConfig({}).IgnoreError();  // an empty config is always valid
  while (!core_->manager().ModelNames().empty() && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(2));
  return drained_;
}

}  // namespace servekit
