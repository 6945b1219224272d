#include "servekit/engine/optimizer.h"

#include "servekit/engine/passes/passes.h"

namespace servekit {

Status OptimizeGraph(Graph& graph) {
  RETURN_IF_ERROR(RemoveIdentityNodes(graph));
  // Before the folds and fusions: cancelling layout Transposes makes ops adjacent.
  RETURN_IF_ERROR(SinkTransposes(graph));
  RETURN_IF_ERROR(RemoveIdentityNodes(graph));
  RETURN_IF_ERROR(FoldBatchNormalization(graph));
  RETURN_IF_ERROR(FuseLayerNormalization(graph));
  RETURN_IF_ERROR(UnflattenMatMul(graph));
  RETURN_IF_ERROR(FuseMatMulAdd(graph));
  // Before FuseActivations, which folds the Gelu it makes into the layer before.
  RETURN_IF_ERROR(FuseErfGelu(graph));
  RETURN_IF_ERROR(FuseActivations(graph));
  // Last: the folds and fusions above match NCHW nodes.
  RETURN_IF_ERROR(UseChannelsLast(graph));
  RETURN_IF_ERROR(RemoveDeadNodes(graph));
  return absl::OkStatus();
}

}  // namespace servekit
