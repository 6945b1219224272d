// ReadOnnxModel: parses an ONNX ModelProto into a servekit Graph.
//
// Checks what the file format promises before anything runs: supported opset
// (13 or newer), dtypes, initializer data that matches its declared shape,
// external data inside the model's directory, every name a node reads defined
// exactly once, input shapes whose only dynamic dimension is the batch. Every
// failure is an InvalidArgument (NotFound for a missing file) naming the tensor
// or node. Operator checks and shape inference follow in InferGraph.
#pragma once

#include <string>

#include "servekit/engine/graph.h"
#include "servekit/util/status.h"

namespace servekit {

// `bytes` is a serialized ModelProto. `base_dir` resolves external data files;
// empty means external data is not allowed.
StatusOr<Graph> ReadOnnxModel(const std::string& bytes, const std::string& base_dir);

// Reads `path`: a model.onnx file, or a version directory containing model.onnx.
StatusOr<Graph> ReadOnnxFile(const std::string& path);

}  // namespace servekit
