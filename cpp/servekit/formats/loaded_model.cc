#include "servekit/formats/loaded_model.h"

namespace servekit {

LoadedModel::LoadedModel(std::vector<LoadedSignature> signatures)
    : signatures_(std::move(signatures)) {}

std::shared_ptr<const LoadedModel> LoadedModel::WithOneSignature(
    std::shared_ptr<const Session> session) {
  std::vector<LoadedSignature> signatures;
  signatures.push_back({kDefaultSignatureName, kPredictMethodName, std::move(session)});
  return std::make_shared<const LoadedModel>(std::move(signatures));
}

const LoadedSignature* LoadedModel::Find(absl::string_view name) const {
  for (const LoadedSignature& signature : signatures_) {
    if (signature.name == name) return &signature;
  }
  return nullptr;
}

}  // namespace servekit
