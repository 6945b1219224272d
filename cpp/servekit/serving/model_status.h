// Model status, the one implementation behind REST's GET /v1/models/{m}[...]
// and gRPC's ModelService.GetModelStatus: the versions the manager knows of a
// model, or only the one a version number or label selects.
#pragma once

#include <vector>

#include "servekit/serving/server_core.h"

namespace servekit {

// NotFound if the model is unknown, if the label points nowhere, or if the
// selected version is not among the model's ("Could not find version ...").
StatusOr<std::vector<VersionStatus>> GetModelStatus(const ServerCore& core, const ModelSpec& spec);

}  // namespace servekit
