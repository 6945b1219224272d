#include "servekit/server/model_service.h"

#include "servekit/server/grpc_util.h"

namespace servekit {
namespace {

namespace tfs = tensorflow::serving;

tfs::ModelVersionStatus::State StateOf(VersionState state) {
  switch (state) {
    case VersionState::kStart: return tfs::ModelVersionStatus::START;
    case VersionState::kLoading: return tfs::ModelVersionStatus::LOADING;
    case VersionState::kAvailable: return tfs::ModelVersionStatus::AVAILABLE;
    case VersionState::kUnloading: return tfs::ModelVersionStatus::UNLOADING;
    case VersionState::kEnd:
    case VersionState::kError: return tfs::ModelVersionStatus::END;  // with the error in status, as TF Serving
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
  ASSIGN_OR_RETURN(std::vector<VersionStatus> versions, core_->manager().GetStatus(spec.name));
  std::optional<int64_t> only = spec.version;
  if (spec.label) {
    ASSIGN_OR_RETURN(only, core_->LabelVersion(spec.name, *spec.label));
  }
  for (const VersionStatus& v : versions) {
    if (only && v.version != *only) continue;
    tfs::ModelVersionStatus* out = response->add_model_version_status();
    out->set_version(v.version);
    out->set_state(StateOf(v.state));
    FillStatus(v.status, out->mutable_status());
  }
  if (only && response->model_version_status_size() == 0) {
    return absl::NotFoundError(absl::StrCat("Could not find version ", *only, " of model ", spec.name));
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
