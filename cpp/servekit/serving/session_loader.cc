#include "servekit/serving/session_loader.h"

#include "servekit/formats/model_loader.h"
#include "servekit/serving/version_directory.h"

namespace servekit {

LoadFunction SessionLoader(SessionOptions options) {
  return [options](const std::string& path,
                   const std::string& platform) -> StatusOr<std::shared_ptr<const LoadedModel>> {
    std::string kind = platform;
    if (kind.empty()) {
      ASSIGN_OR_RETURN(kind, DetectPlatform(path));
    }
    if (kind == "tensorflow") {
      return absl::UnimplementedError(absl::StrCat(
          "'", path,
          "' is a TensorFlow SavedModel; servekit loads ONNX (model.onnx) versions for now"));
    }
    if (kind != "onnx")
      return absl::InvalidArgumentError(absl::StrCat("unknown model platform '", kind, "'"));
    LoadOptions load;
    load.session = options;
    ASSIGN_OR_RETURN(std::unique_ptr<Session> session, LoadModel(path, load));
    return LoadedModel::WithOneSignature(std::move(session));
  };
}

}  // namespace servekit
