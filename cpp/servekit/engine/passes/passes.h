// The individual optimisation passes run by OptimizeGraph (see optimizer.h),
// exposed one by one for their tests. Each keeps the graph valid and typed.
#pragma once

#include "servekit/engine/graph.h"
#include "servekit/util/status.h"

namespace servekit {

Status RemoveIdentityNodes(Graph& graph);
Status SinkTransposes(Graph& graph);
Status FoldBatchNormalization(Graph& graph);
Status FuseMatMulAdd(Graph& graph);
Status FuseActivations(Graph& graph);
Status UseChannelsLast(Graph& graph);
Status RemoveDeadNodes(Graph& graph);

// Helpers shared by the passes.
namespace passes {

// Removes node `x` (one input value v, one output value y) by making v's
// producer write y directly. Valid when v has a producer, v is read only by x,
// and v is not a graph output. Returns false when not applicable.
bool MergeIntoProducer(Graph& graph, int x);
// Drops nodes whose op_type was cleared by a pass.
void CompactNodes(Graph& graph);

}  // namespace passes
}  // namespace servekit
