// WriteOnnxModel: serializes a Graph as an ONNX ModelProto (ir_version 8).
//
// Used by the Python builder's save(). Inputs and outputs are declared with their
// shapes (a batch dim as dim_param "N"), constants become initializers with
// raw_data, nodes keep their attributes. The graph need not be inferred; outputs
// without a known type are declared with their dtype only when it is known.
#pragma once

#include <string>

#include "servekit/engine/graph.h"
#include "servekit/util/status.h"

namespace servekit {

StatusOr<std::string> WriteOnnxModel(const Graph& graph, const std::string& producer_name,
                                     const std::string& graph_name);

}  // namespace servekit
