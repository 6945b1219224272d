#include "servekit/server/grpc/grpc_util.h"

#include "absl/strings/str_cat.h"

namespace servekit {

StatusOr<ModelSpec> ModelSpecFromProto(const tensorflow::serving::ModelSpec& proto) {
  if (proto.name().empty())
    return absl::InvalidArgumentError("the request's model_spec has no model name");
  ModelSpec spec;
  spec.name = proto.name();
  if (proto.has_version()) spec.version = proto.version().value();
  if (!proto.version_label().empty()) spec.label = proto.version_label();
  return spec;
}

void FillModelSpec(const std::string& name, int64_t version, absl::string_view signature_name,
                   tensorflow::serving::ModelSpec* proto) {
  proto->set_name(name);
  proto->mutable_version()->set_value(version);
  proto->set_signature_name(std::string(signature_name));
}

}  // namespace servekit
