#include "servekit/server/grpc/grpc_health.h"

#include "servekit/proto/grpc/health.pb.h"

namespace servekit {
namespace {

namespace health = grpc::health::v1;
constexpr char kHealthService[] = "grpc.health.v1.Health";

std::string Serialized(health::HealthCheckResponse::ServingStatus status) {
  health::HealthCheckResponse response;
  response.set_status(status);
  return response.SerializeAsString();
}

}  // namespace

// One Watch call: the current status at once, then every change.
class GrpcHealth::Watch final : public GrpcStreamHandler {
 public:
  Watch(GrpcHealth* health, std::shared_ptr<GrpcCallWriter> writer)
      : health_(health), writer_(std::move(writer)) {}
  ~Watch() override { Forget(); }

  void OnMessage(absl::string_view bytes) override {
    health::HealthCheckRequest request;
    if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      writer_->Finish(absl::InvalidArgumentError(
          "the request is not a valid grpc.health.v1.HealthCheckRequest"));
      return;
    }
    if (!health_->Knows(request.service())) {
      writer_->Write(Serialized(health::HealthCheckResponse::SERVICE_UNKNOWN));
      return;
    }
    // Under the lock: a SetServing cannot slip between the answer and the registration.
    absl::MutexLock lock(&health_->mu_);
    writer_->Write(health_->serving_ ? Serialized(health::HealthCheckResponse::SERVING)
                                     : Serialized(health::HealthCheckResponse::NOT_SERVING));
    health_->watchers_.insert(writer_);
  }
  void OnHalfClose() override {}
  void OnCancel() override { Forget(); }

 private:
  void Forget() {
    absl::MutexLock lock(&health_->mu_);
    health_->watchers_.erase(writer_);
  }

  GrpcHealth* const health_;
  const std::shared_ptr<GrpcCallWriter> writer_;
};

GrpcHealth::GrpcHealth(std::vector<std::string> services)
    : services_(services.begin(), services.end()) {}

bool GrpcHealth::Knows(const std::string& service) const {
  return service.empty() || service == kHealthService || services_.count(service) > 0;
}

std::string GrpcHealth::Answer() const {
  absl::MutexLock lock(&mu_);
  return Serialized(serving_ ? health::HealthCheckResponse::SERVING
                             : health::HealthCheckResponse::NOT_SERVING);
}

void GrpcHealth::SetServing(bool serving) {
  absl::MutexLock lock(&mu_);
  if (serving_ == serving) return;
  serving_ = serving;
  const std::string answer = Serialized(serving ? health::HealthCheckResponse::SERVING
                                                : health::HealthCheckResponse::NOT_SERVING);
  for (const auto& writer : watchers_) writer->Write(answer);
}

void GrpcHealth::AddTo(GrpcMethodTable* methods) {
  (*methods)[GrpcPath(kHealthService, "Check")] =
      TypedUnary<health::HealthCheckRequest, health::HealthCheckResponse>(
          [this](const health::HealthCheckRequest& request,
                 health::HealthCheckResponse* response) -> Status {
            if (!Knows(request.service())) return absl::NotFoundError("unknown service");
            response->ParseFromString(Answer());
            return absl::OkStatus();
          });
  (*methods)[GrpcPath(kHealthService, "List")] =
      TypedUnary<health::HealthListRequest, health::HealthListResponse>(
          [this](const health::HealthListRequest&, health::HealthListResponse* response) -> Status {
            health::HealthCheckResponse status;
            status.ParseFromString(Answer());
            (*response->mutable_statuses())[""] = status;
            (*response->mutable_statuses())[kHealthService] = status;
            for (const std::string& service : services_)
              (*response->mutable_statuses())[service] = status;
            return absl::OkStatus();
          });
  GrpcMethod watch;
  watch.streaming =
      [this](std::shared_ptr<GrpcCallWriter> writer) -> std::unique_ptr<GrpcStreamHandler> {
    return std::make_unique<Watch>(this, std::move(writer));
  };
  (*methods)[GrpcPath(kHealthService, "Watch")] = std::move(watch);
}

}  // namespace servekit
