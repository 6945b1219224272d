// InferGraph: validates a freshly loaded Graph and infers every value's type.
//
// It checks each node against its OpSchema (known op, input/output counts,
// attributes), orders the nodes topologically (a cycle is an error naming a node
// on it), runs each op's type inference with a symbolic batch dimension, and
// folds nodes whose inputs are all known at load time into constants. Every
// failure is an InvalidArgument status naming the node and the problem.
#pragma once

#include "servekit/engine/graph.h"
#include "servekit/util/status.h"

namespace servekit {

Status InferGraph(Graph& graph);

}  // namespace servekit
