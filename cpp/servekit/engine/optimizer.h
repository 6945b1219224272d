// OptimizeGraph: the load-time rewrites that make a model fast to run.
//
// Runs on a graph InferGraph has typed; keeps every graph input and output
// (names, types) and the nodes' topological order. In order: drop Identity and
// inference-time Dropout; fold BatchNormalization into the Conv or Gemm before
// it; turn MatMul + bias Add into Gemm; fuse activations into Conv/Gemm/MatMul;
// run chains of convolutions and pools in NHWC where their kernels prefer it
// (passes/channels_last.cc); remove nodes and constants nothing needs at run time.
#pragma once

#include "servekit/engine/graph.h"
#include "servekit/util/status.h"

namespace servekit {

Status OptimizeGraph(Graph& graph);

}  // namespace servekit
