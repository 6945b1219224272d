#include "servekit/formats/model_loader.h"

#include "servekit/engine/optimizer.h"
#include "servekit/engine/shape_inference.h"
#include "servekit/formats/onnx/onnx_reader.h"
#include "servekit/formats/savedmodel/saved_model_file.h"
#include "servekit/formats/savedmodel/saved_model_loader.h"

namespace servekit {

StatusOr<std::unique_ptr<Session>> BuildSession(Graph graph, const LoadOptions& options) {
  RETURN_IF_ERROR(InferGraph(graph));
  if (options.optimize) RETURN_IF_ERROR(OptimizeGraph(graph));
  return Session::Create(std::move(graph), options.session);
}

StatusOr<std::unique_ptr<Session>> LoadModel(const std::string& path, const LoadOptions& options) {
  ASSIGN_OR_RETURN(Graph graph, ReadOnnxFile(path));
  auto session = BuildSession(std::move(graph), options);
  if (!session.ok()) {
    return absl::Status(session.status().code(),
                        absl::StrCat(path, ": ", session.status().message()));
  }
  return session;
}

StatusOr<std::shared_ptr<const LoadedModel>> LoadModelVersion(const std::string& path,
                                                              const LoadOptions& options) {
  if (IsSavedModelDirectory(path)) {
    auto loaded = LoadSavedModel(path, options);
    if (!loaded.ok()) {
      return absl::Status(loaded.status().code(),
                          absl::StrCat(path, ": ", loaded.status().message()));
    }
    return loaded;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Session> session, LoadModel(path, options));
  return LoadedModel::WithOneSignature(std::move(session));
}

StatusOr<std::unique_ptr<Session>> LoadModelFromBytes(const std::string& bytes,
                                                      const LoadOptions& options) {
  ASSIGN_OR_RETURN(Graph graph, ReadOnnxModel(bytes, ""));
  return BuildSession(std::move(graph), options);
}

}  // namespace servekit
