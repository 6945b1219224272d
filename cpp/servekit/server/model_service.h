// TF Serving's tensorflow.serving.ModelService over a ServerCore:
// GetModelStatus (every version, or the one a version or label names) and
// HandleReloadConfigRequest (applies a ModelServerConfig exactly as a config
// file reload does; the outcome is both the RPC status and response.status).
//
// Plain handlers: grpc_server.cc serves them.
#pragma once

#include "servekit/proto/tfs/get_model_status.pb.h"
#include "servekit/proto/tfs/model_management.pb.h"
#include "servekit/serving/server_core.h"

namespace servekit {

class ModelServiceImpl {
 public:
  explicit ModelServiceImpl(ServerCore* core) : core_(core) {}

  Status GetModelStatus(const tensorflow::serving::GetModelStatusRequest& request, tensorflow::serving::GetModelStatusResponse* response) const;
  Status HandleReloadConfigRequest(const tensorflow::serving::ReloadConfigRequest& request, tensorflow::serving::ReloadConfigResponse* response) const;

 private:
  ServerCore* const core_;
};

}  // namespace servekit
