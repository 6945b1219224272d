#include "servekit/server/grpc/grpc_server.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "servekit/server/accept_loop.h"
#include "servekit/server/grpc/grpc_connection.h"
#include "servekit/server/grpc/grpc_health.h"
#include "servekit/server/grpc/grpc_method.h"
#include "servekit/server/grpc/grpc_reflection.h"
#include "servekit/server/grpc/model_service.h"
#include "servekit/server/grpc/prediction_service.h"
#include "servekit/server/io_context_pool.h"

namespace servekit {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

namespace tfs = tensorflow::serving;

constexpr char kPredictionService[] = "tensorflow.serving.PredictionService";
constexpr char kModelService[] = "tensorflow.serving.ModelService";

GrpcMethodTable TfServingMethods(const PredictionServiceImpl* prediction,
                                 const ModelServiceImpl* models) {
  GrpcMethodTable methods;
  methods[GrpcPath(kPredictionService, "Predict")] =
      TypedUnary<tfs::PredictRequest, tfs::PredictResponse>(
          [prediction](const auto& request, auto* response) {
            return prediction->Predict(request, response);
          });
  methods[GrpcPath(kPredictionService, "GetModelMetadata")] =
      TypedUnary<tfs::GetModelMetadataRequest, tfs::GetModelMetadataResponse>(
          [prediction](const auto& request, auto* response) {
            return prediction->GetModelMetadata(request, response);
          });
  methods[GrpcPath(kPredictionService, "Classify")] =
      TypedUnary<tfs::ClassificationRequest, tfs::ClassificationResponse>(
          [prediction](const auto& request, auto* response) {
            return prediction->Classify(request, response);
          });
  methods[GrpcPath(kPredictionService, "Regress")] =
      TypedUnary<tfs::RegressionRequest, tfs::RegressionResponse>(
          [prediction](const auto& request, auto* response) {
            return prediction->Regress(request, response);
          });
  methods[GrpcPath(kPredictionService, "MultiInference")] =
      TypedUnary<tfs::MultiInferenceRequest, tfs::MultiInferenceResponse>(
          [prediction](const auto& request, auto* response) {
            return prediction->MultiInference(request, response);
          });
  methods[GrpcPath(kModelService, "GetModelStatus")] =
      TypedUnary<tfs::GetModelStatusRequest, tfs::GetModelStatusResponse>(
          [models](const auto& request, auto* response) {
            return models->GetModelStatus(request, response);
          });
  methods[GrpcPath(kModelService, "HandleReloadConfigRequest")] =
      TypedUnary<tfs::ReloadConfigRequest, tfs::ReloadConfigResponse>(
          [models](const auto& request, auto* response) {
            return models->HandleReloadConfigRequest(request, response);
          });
  return methods;
}

}  // namespace

struct GrpcServer::Impl {
  Impl(ServerCore* core, const GrpcServerOptions& options)
      : options(options),
        prediction(core, options.max_request_elements,
                   static_cast<size_t>(options.max_message_bytes)),
        models(core, options.enable_model_management),
        health({kPredictionService, kModelService}),
        pool(options.num_threads > 0 ? options.num_threads : DefaultServerThreads()),
        accept_loop(options.max_connections,
                    {[this](tcp::socket socket) { StartConnection(std::move(socket)); },
                     [this] { EvictOldestIdle(); }, [this] { return OpenConnections(); },
                     [this] { return asio::any_io_executor(pool.Next().get_executor()); }}) {
    methods = TfServingMethods(&prediction, &models);
    health.AddTo(&methods);
    AddReflection(&methods);
  }

  void StartConnection(tcp::socket socket);
  void EvictOldestIdle();
  int OpenConnections() {
    absl::MutexLock lock(&mu);
    return static_cast<int>(connections.size());
  }
  void Forget(GrpcConnection* connection);
  static bool NoConnections(Impl* impl) ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl->mu) {
    return impl->connections.empty();
  }

  const GrpcServerOptions options;
  PredictionServiceImpl prediction;
  ModelServiceImpl models;
  GrpcHealth health;
  GrpcMethodTable methods;  // read-only once serving

  // One io_context per thread; each connection stays on one (see IoContextPool).
  IoContextPool pool;
  AcceptLoop accept_loop;  // on a thread of its own

  absl::Mutex mu;
  absl::flat_hash_map<GrpcConnection*, std::shared_ptr<GrpcConnection>> connections
      ABSL_GUARDED_BY(mu);
  bool accepting ABSL_GUARDED_BY(mu) = true;
  bool stopped ABSL_GUARDED_BY(mu) = false;
};

void GrpcServer::Impl::StartConnection(tcp::socket socket) {
  GrpcConnectionOptions connection_options;
  connection_options.max_message_bytes = static_cast<size_t>(options.max_message_bytes);
  connection_options.handshake_timeout = absl::ToChronoMilliseconds(options.handshake_timeout);
  connection_options.idle_timeout = absl::ToChronoMilliseconds(options.idle_timeout);
  connection_options.request_timeout = absl::ToChronoMilliseconds(options.request_timeout);
  connection_options.write_timeout = absl::ToChronoMilliseconds(options.write_timeout);
  connection_options.max_buffered_request_bytes = connection_options.max_pending_response_bytes =
      2 * static_cast<size_t>(options.max_message_bytes);
  // The socket's context: the connection's strand goes on the same thread.
  asio::io_context& home =
      static_cast<asio::io_context&>(asio::query(socket.get_executor(), asio::execution::context));
  auto connection = std::make_shared<GrpcConnection>(
      home, std::move(socket), &methods, connection_options,
      [this](GrpcConnection* c) { Forget(c); },
      [this] { return asio::any_io_executor(pool.Next().get_executor()); });
  {
    absl::MutexLock lock(&mu);
    if (!accepting) return;  // `socket` closes with `connection`
    connections[connection.get()] = connection;
  }
  connection->Start();
}

void GrpcServer::Impl::EvictOldestIdle() {
  std::shared_ptr<GrpcConnection> oldest;
  int64_t oldest_since = 0;
  absl::MutexLock lock(&mu);
  for (const auto& [raw, connection] : connections) {
    const int64_t since = raw->idle_since_ns();
    if (since != 0 && (oldest == nullptr || since < oldest_since)) {
      oldest = connection;
      oldest_since = since;
    }
  }
  if (oldest != nullptr) oldest->CloseIfIdle();
}

void GrpcServer::Impl::Forget(GrpcConnection* connection) {
  absl::MutexLock lock(&mu);
  connections.erase(connection);
}

StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(ServerCore* core,
                                                        GrpcServerOptions options) {
  auto impl = std::make_unique<Impl>(core, options);
  RETURN_IF_ERROR(impl->accept_loop.Listen(options.address, options.port, "gRPC"));
  const int port = impl->accept_loop.port();
  impl->accept_loop.Start();
  impl->pool.Start();
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl), port));
}

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

GrpcServer::~GrpcServer() { Stop(absl::ZeroDuration()); }

int GrpcServer::open_connections() const { return impl_->OpenConnections(); }

void GrpcServer::Stop(absl::Duration drain_timeout) {
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    impl_->accepting = false;
  }
  impl_->health.SetServing(false);
  impl_->accept_loop.Stop();
  {
    absl::MutexLock lock(&impl_->mu);
    for (const auto& [raw, connection] : impl_->connections) connection->Drain();
    const absl::Condition all_closed(&Impl::NoConnections, impl_.get());
    impl_->mu.AwaitWithTimeout(all_closed, drain_timeout);
    for (const auto& [raw, connection] : impl_->connections) connection->Close();
    impl_->mu.Await(all_closed);
  }
  impl_->pool.Stop();
}

}  // namespace servekit
