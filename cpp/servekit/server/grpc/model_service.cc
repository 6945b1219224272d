#include "servekit/server/grpc/model_service.h"

#include "servekit/server/grpc/grpc_util.h"
#include "servekit/serving/model_status.h"

namespace servekit {
namespace {

namespace tfs = tensorflow::serving;

tfs::ModelVersionStatus::State StateOf(VersionState state) {
  switch (state) {
    case VersionState::kStart:
      return tfs::ModelVersionStatus::START;
    case VersionState::kLoading:
      return tfs::ModelVersionStatus::LOADING;
    case VersionState::kAvailable:
      return tfs::ModelVersionStatus::AVAILABLE;
    case VersionState::kUnloading:
      return tfs::ModelVersionStatus::UNLOADING;
    case VersionState::kEnd:
    case VersionState::kError:
      return tfs::ModelVersionStatus::END;  // with the error in status, as TF Serving
  }
  return tfs::ModelVersionStatus::UNKNOWN;
}

void FillStatus(const Status& status, tfs::StatusProto* proto) {
  proto->set_error_code(static_cast<tensorflow::error::Code>(status.code()));
  proto->set_error_message(std::string(status.message()));
}

}  // namespace

Status ModelServiceImpl::GetModelStatus(const tfs::GetModelStatusRequest& request,
                                        tfs::GetModelStatusResponse* response) const {
  ASSIGN_OR_RETURN(ModelSpec spec, ModelSpecFromProto(request.model_spec()));
  ASSIGN_OR_RETURN(std::vector<VersionStatus> versions, servekit::GetModelStatus(*core_, spec));
  for (const VersionStatus& v : versions) {
    tfs::ModelVersionStatus* out = response->add_model_version_status();
    out->set_version(v.version);
    out->set_state(StateOf(v.state));
    FillStatus(v.status, out->mutable_status());
  }
  return absl::OkStatus();
}

Status ModelServiceImpl::HandleReloadConfigRequest(const tfs::ReloadConfigRequest& request,
                                                   tfs::ReloadConfigResponse* response) const {
  const Status status = [&]() -> Status {
    if (!enable_model_management_) {
      return absl::PermissionDeniedError(
          "model management over gRPC is disabled (servekit-server --enable_model_management)");
    }
    ASSIGN_OR_RETURN(std::vector<ModelConfig> models, ModelConfigsFromProto(request.config()));
    return core_->ReloadConfig(std::move(models));
  }();
  FillStatus(status, response->mutable_status());
  return status;
}

}  // namespace servekit
