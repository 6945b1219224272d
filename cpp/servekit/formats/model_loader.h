// Loading a model file into a runnable Session: read the format, infer and
// validate the graph, optimise it, create the kernels.
#pragma once

#include <memory>
#include <string>

#include "servekit/engine/session.h"
#include "servekit/formats/loaded_model.h"
#include "servekit/util/status.h"

namespace servekit {

struct LoadOptions {
  SessionOptions session;
  bool optimize = true;  // off only to compare against the unoptimised graph in tests
};

// A version directory of either format, as its signatures: a TensorFlow
// SavedModel (saved_model.pb) through savedmodel/saved_model_loader.h, else
// model.onnx (one signature, serving_default). `path` may also be an .onnx file.
StatusOr<std::shared_ptr<const LoadedModel>> LoadModelVersion(const std::string& path,
                                                              const LoadOptions& options);

// `path` is a model.onnx file or a version directory holding one.
StatusOr<std::unique_ptr<Session>> LoadModel(const std::string& path, const LoadOptions& options);
// `bytes` is a serialized ONNX ModelProto (no external data).
StatusOr<std::unique_ptr<Session>> LoadModelFromBytes(const std::string& bytes,
                                                      const LoadOptions& options);
// The shared tail of both: InferGraph, OptimizeGraph, Session::Create.
StatusOr<std::unique_ptr<Session>> BuildSession(Graph graph, const LoadOptions& options);

}  // namespace servekit
