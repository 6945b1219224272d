// TF Serving's ModelSpec to and from servekit's, for the gRPC services.
#pragma once

#include "servekit/proto/tfs/model.pb.h"
#include "servekit/serving/server_core.h"
#include "servekit/serving/signature.h"

namespace servekit {

// The request's model, version or label. InvalidArgument without a name.
StatusOr<ModelSpec> ModelSpecFromProto(const tensorflow::serving::ModelSpec& proto);

// name, version and the signature that answered, for responses.
void FillModelSpec(const std::string& name, int64_t version, absl::string_view signature_name,
                   tensorflow::serving::ModelSpec* proto);

}  // namespace servekit
