#include "servekit/serving/session_loader.h"

#include "servekit/formats/model_loader.h"
#include "servekit/formats/savedmodel/saved_model_file.h"
#include "servekit/serving/version_directory.h"

namespace servekit {

LoadFunction SessionLoader(SessionOptions options) {
  return [options](const std::string& path,
                   const std::string& platform) -> StatusOr<std::shared_ptr<const LoadedModel>> {
    std::string kind = platform;
    if (kind.empty()) {
      ASSIGN_OR_RETURN(kind, DetectPlatform(path));
    }
    if (kind != "onnx" && kind != "tensorflow")
      return absl::InvalidArgumentError(absl::StrCat("unknown model platform '", kind, "'"));
    LoadOptions load;
    load.session = options;
    if (kind == "tensorflow") {
      if (!IsSavedModelDirectory(path)) {
        return absl::NotFoundError(
            absl::StrCat("platform 'tensorflow': no saved_model.pb in '", path, "'"));
      }
      return LoadModelVersion(path, load);
    }
    ASSIGN_OR_RETURN(std::unique_ptr<Session> session, LoadModel(path, load));
    return LoadedModel::WithOneSignature(std::move(session));
  };
}

}  // namespace servekit
