// The standard gRPC health service (grpc.health.v1.Health) for our server:
// Check, List and Watch. The server's status ("" and every service it serves)
// is SERVING until SetServing(false) at the start of a drain; Watch calls get
// the change as it happens. Other service names are NOT_FOUND (Check) or
// SERVICE_UNKNOWN (Watch), as in grpc++.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "servekit/server/grpc/grpc_method.h"

namespace servekit {

class GrpcHealth {
 public:
  // `services`: the full names the server serves, e.g. "tensorflow.serving.PredictionService".
  explicit GrpcHealth(std::vector<std::string> services);

  // Adds the three methods; `this` must outlive every call.
  void AddTo(GrpcMethodTable* methods);
  void SetServing(bool serving);

 private:
  class Watch;
  bool Knows(const std::string& service) const;
  // The serialized HealthCheckResponse for the current status.
  std::string Answer() const;

  const std::set<std::string> services_;
  mutable absl::Mutex mu_;
  bool serving_ ABSL_GUARDED_BY(mu_) = true;
  std::set<std::shared_ptr<GrpcCallWriter>> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace servekit
