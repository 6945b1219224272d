// TF Serving's tensorflow.serving.ModelService over a ServerCore:
// GetModelStatus (every version, or the one a version or label names) and
// HandleReloadConfigRequest (applies a ModelServerConfig exactly as a config
// file reload does; the outcome is both the RPC status and response.status).
//
// Unlike TF Serving, HandleReloadConfigRequest is PERMISSION_DENIED unless
// model management is enabled (servekit-server --enable_model_management),
// exactly like the REST management routes: the call can unload every model
// or point a model at any directory the server can read, and the gRPC port
// has no authentication.
//
// Plain handlers: grpc_server.cc serves them.
#pragma once

#include "servekit/proto/tfs/get_model_status.pb.h"
#include "servekit/proto/tfs/model_management.pb.h"
#include "servekit/serving/server_core.h"

namespace servekit {

class ModelServiceImpl {
 public:
  ModelServiceImpl(ServerCore* core, bool enable_model_management)
      : core_(core), enable_model_management_(enable_model_management) {}

  Status GetModelStatus(const tensorflow::serving::GetModelStatusRequest& request,
                        tensorflow::serving::GetModelStatusResponse* response) const;
  Status HandleReloadConfigRequest(const tensorflow::serving::ReloadConfigRequest& request,
                                   tensorflow::serving::ReloadConfigResponse* response) const;

 private:
  ServerCore* const core_;
  const bool enable_model_management_;
};

}  // namespace servekit
