// EvaluateNode: runs one node at load time on constant inputs (constant folding).
#pragma once

#include <vector>

#include "servekit/engine/graph.h"
#include "servekit/util/status.h"

namespace servekit {

// Creates the node's kernel and runs it once. Every runtime input of `node` must
// have a constant and every output a fixed inferred shape.
StatusOr<std::vector<Tensor>> EvaluateNode(const Node& node, const Graph& graph);

}  // namespace servekit
