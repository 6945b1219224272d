// GrpcServer: TF Serving's gRPC API (PredictionService, ModelService), the
// standard health service (grpc.health.v1) and server reflection, on one port.
// Our own transport (grpc_connection: nghttp2 over Asio), not grpc++.
//
// Stop drains: health turns NOT_SERVING, new calls are refused, calls in
// flight get up to `drain_timeout` to finish, then the rest are cancelled.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "servekit/serving/server_core.h"

namespace servekit {

struct GrpcServerOptions {
  std::string address = "127.0.0.1";
  int port = 0;                      // 0 picks a free port
  int max_message_bytes = 64 << 20;  // each request and response message; RESOURCE_EXHAUSTED beyond
  int64_t max_request_elements = int64_t{1}
                                 << 24;  // values in one request (see ModelServerOptions)
  absl::Duration handshake_timeout = absl::Seconds(20);  // see GrpcConnectionOptions
  absl::Duration idle_timeout = absl::Seconds(120);      // likewise
  absl::Duration request_timeout = absl::Seconds(30);    // likewise
  absl::Duration write_timeout = absl::Seconds(30);      // likewise
  // Each connection may hold twice max_message_bytes of unfinished requests,
  // and as much of responses its peer has not taken (see GrpcConnectionOptions).
  // At the cap the connection idle the longest is closed (see AcceptLoop).
  int max_connections = 4096;
  int num_threads = 0;  // server threads (I/O and handlers); 0: DefaultServerThreads()
  // ModelService.HandleReloadConfigRequest is PERMISSION_DENIED without it.
  bool enable_model_management = false;
};

class GrpcServer {
 public:
  // Unavailable if the port cannot be bound.
  static StatusOr<std::unique_ptr<GrpcServer>> Start(ServerCore* core, GrpcServerOptions options);
  ~GrpcServer();  // Stop(0) if still running
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  int port() const { return port_; }
  int open_connections() const;
  // Idempotent.
  void Stop(absl::Duration drain_timeout);

 private:
  struct Impl;
  GrpcServer(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  const int port_;
};

}  // namespace servekit
